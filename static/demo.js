/*
 * The demo page of nexus-tornado: every feature of the server, driven through
 * nexus-client.js, with the helpers of demo-support.js; the kanban board panel is in
 * demo-board.js, the shared notes in demo-notes.js. Plain ES5, no build step.
 *
 * URL parameters (handy for trying things and for the tests):
 *   ?as=<user>             log in as that demo user at once
 *   &transport=<name>      force a transport (also the picker in the header)
 *   &ttl=<seconds>         ask for short-lived tokens to watch them being refreshed
 *   &backoffMax=<ms>       cap the reconnect back-off (default 30000)
 *
 * The login (user and token) is kept in sessionStorage, so a reload of this tab logs
 * back in with the same token until it expires; "Log out" forgets it.
 */
(function () {
  'use strict';

  var state = {
    config: null,
    user: null,          // public info of the logged-in demo user
    token: null,
    client: null,
    connectedAt: 0,      // when the latest connection was made (browser clock)
    room: null,
    chatLogs: {},        // chatId -> [{seq, envelope}]
    unread: {},
    online: {},          // userId -> true
    offlineCount: 0,
    notificationsSeen: null,  // {seq, epoch}: the last notification an earlier page showed
    calendarEvents: {}   // destination + ':' + entityId -> list item
  };

  function $(id) { return document.getElementById(id); }

  var support = window.NexusDemoSupport;
  var params = support.params;
  var el = support.el;
  var clear = support.clear;
  var timeText = support.timeText;
  var request = support.request;

  function rememberLogin() { support.keepLogin(state.user.id, state.token); }

  function showTokenExpiry(exp) {
    $('token-exp').textContent = new Date(exp * 1000).toLocaleTimeString();
    $('token-exp').setAttribute('datetime', new Date(exp * 1000).toISOString());
  }

  function userName(id) {
    var users = (state.config && state.config.users) || [];
    for (var i = 0; i < users.length; i++) { if (users[i].id === id) { return users[i].name; } }
    return id;
  }

  var logEvent = support.logEvent;
  var chosenTransport = support.chosenTransport;

  // ---- login ------------------------------------------------------------------------

  function renderLogin() {
    var list = $('user-list');
    clear(list);
    var users = state.config.users;
    for (var i = 0; i < users.length; i++) {
      (function (user) {
        var button = el('button', { type: 'button', 'data-user': user.id, text: 'Log in as ' + user.name });
        button.onclick = function () { login(user.id); };
        var details = 'chats: ' + (user.chats.join(', ') || 'none') + ' · boards: ' +
          (user.boards.join(', ') || 'none') + ' · sees calendars of: ' + (user.calendars.join(', ') || 'nobody');
        list.appendChild(el('li', {}, [button, el('span', { className: 'muted', text: details })]));
      }(users[i]));
    }
  }

  /** The client's getToken: the plugin's token handler at /demo/token (what a host app
   * mounts on its own login; the demo's "session" is the user named in the body). It
   * reuses the current token for a plain (re)connect while it has over a minute left (so
   * a reconnect storm does not mint tokens) and fetches a new one for a refresh, or when
   * the server refused the last one (a restarted server may have a new secret). */
  function tokenSource() {
    var kept = state.token ? window.NexusClient.decodeJwt(state.token) : null;
    return window.NexusClient.hostToken('/demo/token', {
      initial: kept && kept.exp ? { token: state.token, expiresAt: kept.exp } : null,
      body: function () {
        var ttl = params().ttl ? parseInt(params().ttl, 10) : undefined;
        return { user: state.user.id, ttl: ttl };
      },
      onToken: function (data) {
        state.token = data.token;
        showTokenExpiry(data.expiresAt);
        rememberLogin();
        var waiting = state.tokenWaiters || [];
        state.tokenWaiters = [];
        for (var i = 0; i < waiting.length; i++) { waiting[i](data.token); }
      }
    });
  }

  /** Call fn(token) once a token is at hand (now, or when the first one arrives). */
  function withToken(fn) {
    if (state.token) { fn(state.token); return; }
    (state.tokenWaiters = state.tokenWaiters || []).push(fn);
  }

  /** Log in as `userId`; with `token` (a kept login), start with that token. */
  function login(userId, token) {
    var users = state.config.users;
    for (var i = 0; i < users.length; i++) { if (users[i].id === userId) { state.user = users[i]; } }
    if (!state.user) { showLoginError('No such demo user: ' + userId); return; }
    if (token) {
      state.token = token;
      var claims = window.NexusClient.decodeJwt(token);
      if (claims && claims.exp) { showTokenExpiry(claims.exp); }
      rememberLogin();
    }
    $('login').hidden = true;
    $('app').hidden = false;
    $('whoami').hidden = false;
    $('me-name').textContent = state.user.name;
    document.title = state.user.name + ' · nexus-tornado demo';
    startClient();
  }

  function showLoginError(text) {
    var p = $('login-error');
    p.textContent = text;
    p.hidden = false;
  }

  function logout() {
    support.forgetLogin();
    if (state.client) { state.client.disconnect(); }
    var url = window.location.pathname;
    window.location.href = url;
  }

  // ---- the client and its subscriptions -------------------------------------------

  function startClient() {
    state.getToken = tokenSource();
    var backoffMax = parseInt(params().backoffMax, 10);
    var client = new window.NexusClient({
      url: state.config.prefix,
      backoff: backoffMax > 0 ? { max: backoffMax, initial: Math.min(1000, backoffMax) } : undefined,
      transport: chosenTransport(),
      getToken: state.getToken,
      onRejected: showRejection
    });
    state.client = client;
    window.nexusDemoClient = client;  // for the console (and the tests)
    client.on('state', function (st) {
      if (st.state === 'connected') { state.connectedAt = new Date().getTime(); }
      support.showState(st);
    });
    client.on('gap', function (g) { logEvent('gap on ' + g.destination + ': seq ' + g.from + '–' + g.to + ' no longer retained'); });
    client.on('duplicate', function (d) { logEvent('dropped duplicate seq ' + d.seq + ' on ' + d.destination); });
    client.on('token', function (t) { if (t.refreshed) { logEvent('token refreshed without reconnecting'); } });
    client.on('error', function (e) { logEvent('error: ' + e.message); });
    client.on('reset', onHistoryReset);

    setupChat(client);
    window.NexusDemoBoard({ state: state, userName: userName, withToken: withToken }).setup(client);
    window.NexusDemoNotes({ state: state }).setup(client);
    setupNotifications(client);
    setupPresence(client);
    setupAnnouncements(client);
    setupCalendar(client);
    setupRejectionButtons(client);
    client.connect();
  }

  // ---- the server's history was reset ---------------------------------------------

  /** The server started numbering `r.destination` again: it forgot what it had. */
  function onHistoryReset(r) {
    logEvent('the server reset the history of ' + r.destination);
    var where = $('history-reset-where');
    var seen = where.getAttribute('data-destinations') ? where.getAttribute('data-destinations').split(' ') : [];
    if (seen.indexOf(r.destination) < 0) { seen.push(r.destination); }
    where.setAttribute('data-destinations', seen.join(' '));
    where.textContent = seen.join(', ');
    $('history-reset').hidden = false;
    var chat = /^\/topic\/chat\/(.+)$/.exec(r.destination);
    if (chat && state.chatLogs[chat[1]] && state.chatLogs[chat[1]].length) {
      var entry = { divider: true };
      state.chatLogs[chat[1]].push(entry);
      if (state.room === chat[1]) { $('chat-log').appendChild(chatItem(entry)); }
    }
  }

  // ---- chat -------------------------------------------------------------------------

  function setupChat(client) {
    var chats = state.user.chats;
    var tabs = $('chat-rooms');
    clear(tabs);
    for (var i = 0; i < chats.length; i++) {
      (function (chatId) {
        state.chatLogs[chatId] = [];
        state.unread[chatId] = 0;
        var button = el('button', { type: 'button', 'data-room': chatId, 'aria-pressed': 'false' }, ['#' + chatId]);
        button.onclick = function () { selectRoom(chatId); };
        tabs.appendChild(button);
        // since: 0 -> the whole retained history of the room on page load.
        client.subscribe('/topic/chat/' + chatId, function (env, meta) { onChat(chatId, env, meta); }, { since: 0 });
      }(chats[i]));
    }
    if (chats.length) { selectRoom(chats[0]); }
    $('chat-form').onsubmit = function () {
      var input = $('chat-input');
      var content = input.value;
      if (!content || !state.room) { return false; }
      support.sendFromForm(state.client, $('chat-form'), '/topic/chat/' + state.room,
        client.envelope('CHAT_MESSAGE', { chatId: state.room, content: content, contentType: 'TEXT' }), [input]);
      return false;
    };
  }

  function selectRoom(chatId) {
    state.room = chatId;
    state.unread[chatId] = 0;
    var buttons = $('chat-rooms').getElementsByTagName('button');
    for (var i = 0; i < buttons.length; i++) {
      var room = buttons[i].getAttribute('data-room');
      buttons[i].setAttribute('aria-pressed', room === chatId ? 'true' : 'false');
      buttons[i].textContent = '#' + room + (state.unread[room] ? ' (' + state.unread[room] + ')' : '');
    }
    var list = $('chat-log');
    clear(list);
    var entries = state.chatLogs[chatId] || [];
    for (var j = 0; j < entries.length; j++) { list.appendChild(chatItem(entries[j])); }
    list.scrollTop = list.scrollHeight;
  }

  function chatItem(entry) {
    if (entry.divider) {
      return el('li', { className: 'history-divider', text: 'The server’s history was reset here: it no longer has the messages above.' });
    }
    var env = entry.envelope || {};
    var payload = env.payload || {};
    var mine = state.user && env.senderId === state.user.id;
    var mentioned = state.user && (payload.mentions || []).indexOf(state.user.id) >= 0;
    return el('li', { className: 'chat-message' + (mine ? ' mine' : '') + (mentioned ? ' mentioned' : ''), 'data-seq': entry.seq },
      [el('span', { className: 'sender', text: userName(env.senderId) }),
       el('time', { text: timeText(env.timestamp) }),
       el('span', { className: 'content', text: payload.content })]);
  }

  function onChat(chatId, env, meta) {
    var entry = { seq: meta.seq, envelope: env };
    state.chatLogs[chatId].push(entry);
    if (state.room === chatId) {
      var list = $('chat-log');
      list.appendChild(chatItem(entry));
      list.scrollTop = list.scrollHeight;
    } else {
      state.unread[chatId] += 1;
      var button = $('chat-rooms').querySelector('[data-room="' + chatId + '"]');
      if (button) { button.textContent = '#' + chatId + ' (' + state.unread[chatId] + ')'; }
    }
  }

  // ---- notifications ----------------------------------------------------------------

  function setupNotifications(client) {
    // since: 0 -> every notification the server retains for this user, so a reload
    // shows them all again. Those up to the last seq this browser saw before (kept in
    // localStorage under the user of the connection: read once connected) were shown on
    // an earlier page; the others are new.
    var destination = '/topic/notifications/' + state.user.id;
    var subscribed = false;
    client.on('state', function (st) {
      if (st.state !== 'connected' || subscribed) { return; }
      subscribed = true;
      state.notificationsSeen = { seq: client.lastSeq(destination), epoch: client.lastEpoch(destination) };
      client.subscribe(destination, onNotification, { since: 0 });
    });
    var to = $('event-to');
    clear(to);
    var users = state.config.users;
    for (var i = 0; i < users.length; i++) {
      to.appendChild(el('option', { value: users[i].id, text: users[i].name }));
    }
    to.appendChild(el('option', { value: '*', text: 'Everyone' }));
    $('event-form').onsubmit = function () {
      var body = { kind: 'notify', to: to.value, title: $('event-title').value,
        message: $('event-message').value, notificationType: 'SYSTEM_EVENT' };
      request('POST', '/demo/events', body, state.token, function (err, data) {
        $('event-result').textContent = err ? 'Failed: ' + err.message
          : 'Sent to ' + data.sent.map(function (s) { return userName(s.to); }).join(', ') + '.';
      });
      return false;
    };
  }

  function onNotification(env, meta) {
    var p = (env && env.payload) || {};
    var sent = env && env.timestamp ? new Date(env.timestamp).getTime() : new Date().getTime();
    // Shown on an earlier page of this browser already (in the same numbering: a server
    // restarted without persistence numbers from 1 again): listed again, as seen.
    var seen = state.notificationsSeen;
    var epoch = meta.headers.epoch;
    var seenBefore = seen.seq !== null && meta.seq !== null && meta.seq <= seen.seq &&
      (!seen.epoch || !epoch || seen.epoch === epoch);
    // New, and sent before this connection was made: stored for us while we were away
    // (the server's clock against the browser's, which is close enough for a demo).
    var whileAway = !seenBefore && sent < state.connectedAt;
    if (whileAway) {
      state.offlineCount += 1;
      var badge = $('offline-count');
      badge.hidden = false;
      badge.textContent = state.offlineCount + ' while you were away';
    }
    var list = $('notification-list');
    list.insertBefore(el('li', { className: 'notification' + (whileAway ? ' offline' : '') + (seenBefore ? ' seen' : ''), 'data-seq': meta.seq },
      [el('strong', { className: 'title', text: p.title || p.notificationType || 'Notification' }),
       el('span', { className: 'message', text: p.message || '' }),
       el('span', { className: 'muted', text: (env.senderId ? 'from ' + userName(env.senderId) + ' · ' : '') + timeText(env.timestamp) +
         (whileAway ? ' · received while you were away' : '') + (seenBefore ? ' · seen before' : '') })]), list.firstChild);
  }

  // ---- presence ---------------------------------------------------------------------

  function setupPresence(client) {
    // A new subscription starts with a snapshot of who is online, then live changes.
    client.subscribe('/topic/presence', onPresence, { since: 'live', resume: false });
  }

  function onPresence(env) {
    if (!env || typeof env !== 'object') { return; }
    var p = env.payload || env;
    if (p.online && p.online.length !== undefined) {          // a snapshot
      state.online = {};
      for (var i = 0; i < p.online.length; i++) {
        var entry = p.online[i];
        state.online[typeof entry === 'string' ? entry : (entry.userId || entry.id)] = true;
      }
    } else {
      var who = p.entityId || p.userId || env.senderId;
      var status = String(p.status || '').toUpperCase();
      if (!who) { return; }
      if (status === 'OFFLINE') { delete state.online[who]; } else { state.online[who] = true; }
    }
    renderOnline();
  }

  function renderOnline() {
    var list = $('online-list');
    clear(list);
    var ids = [];
    for (var id in state.online) { if (Object.prototype.hasOwnProperty.call(state.online, id)) { ids.push(id); } }
    ids.sort();
    for (var i = 0; i < ids.length; i++) {
      list.appendChild(el('li', { 'data-user': ids[i] },
        [el('span', { className: 'dot online', 'aria-hidden': 'true' }), userName(ids[i]) + (ids[i] === state.user.id ? ' (you)' : '')]));
    }
    if (!ids.length) { list.appendChild(el('li', { className: 'muted', text: 'nobody' })); }
  }

  // ---- announcements ----------------------------------------------------------------

  function setupAnnouncements(client) {
    var admin = state.user.roles.indexOf('admin') >= 0;
    $('announcement-hint').textContent = admin ? 'You are an admin: everyone will see this.'
      : 'Only admins may post; try it to see the server refuse it (FORBIDDEN).';
    client.subscribe('/topic/announcements', onAnnouncement, { since: 0 });
    $('announcement-form').onsubmit = function () {
      support.sendFromForm(state.client, $('announcement-form'), '/topic/announcements', client.envelope('NOTIFICATION', {
        notificationType: 'ANNOUNCEMENT', title: $('announcement-title').value, message: $('announcement-message').value }),
        [$('announcement-title'), $('announcement-message')]);
      return false;
    };
  }

  function onAnnouncement(env, meta) {
    var p = (env && env.payload) || {};
    var list = $('announcement-list');
    list.insertBefore(el('li', { className: 'announcement', 'data-seq': meta.seq },
      [el('strong', { className: 'title', text: p.title || '' }),
       el('span', { className: 'message', text: p.message || '' }),
       el('span', { className: 'muted', text: (env.senderId ? userName(env.senderId) + ' · ' : '') + timeText(env.timestamp) })]),
      list.firstChild);
  }

  // ---- calendar ---------------------------------------------------------------------

  function setupCalendar(client) {
    var owners = [state.user.id].concat(state.user.calendars);
    $('calendar-shared').textContent = state.user.calendars.length
      ? 'Your calendar and the ones shared with you: ' + state.user.calendars.map(userName).join(', ') + '.'
      : 'Your calendar (nobody shares theirs with you).';
    for (var i = 0; i < owners.length; i++) {
      (function (owner) {
        client.subscribe('/topic/calendar/' + owner, function (env, meta) { onCalendar(owner, env, meta); }, { since: 0 });
      }(owners[i]));
    }
    $('calendar-form').onsubmit = function () {
      var when = $('calendar-when').value;
      support.sendFromForm(state.client, $('calendar-form'), '/topic/calendar/' + state.user.id, client.envelope('NOTIFICATION', {
        notificationType: 'CALENDAR_EVENT', title: $('calendar-title').value,
        message: when ? new Date(when).toLocaleString() : '' }), [$('calendar-title')]);
      return false;
    };
  }

  function onCalendar(owner, env, meta) {
    var p = (env && env.payload) || {};
    var key = owner + ':' + (p.entityId || ('event-' + meta.seq));
    if (env.type === 'STATUS_UPDATE') {
      var existing = state.calendarEvents[key];
      if (existing) {
        existing.setAttribute('data-status', p.status);
        existing.querySelector('.status').textContent = p.status.toLowerCase();
      }
      return;
    }
    var mine = owner === state.user.id;
    var actions = [];
    if (mine) {
      var cancel = el('button', { type: 'button', className: 'small', text: 'Cancel',
        'aria-label': 'Cancel ' + (p.title || 'event') });
      cancel.onclick = function () {
        state.client.send('/topic/calendar/' + owner, state.client.envelope('STATUS_UPDATE',
          { entityId: 'event-' + meta.seq, entityType: 'event', status: 'CANCELLED' }));
      };
      actions.push(cancel);
    }
    var item = el('li', { className: 'calendar-event', 'data-seq': meta.seq, 'data-status': 'SCHEDULED' },
      [el('strong', { className: 'title', text: p.title || '' }),
       el('span', { className: 'message', text: p.message || '' }),
       el('span', { className: 'muted', text: mine ? 'your calendar' : userName(owner) + '’s calendar' }),
       el('span', { className: 'status', text: 'scheduled' })].concat(actions));
    state.calendarEvents[key] = item;
    var list = $('calendar-list');
    list.insertBefore(item, list.firstChild);
  }

  // ---- rejections -------------------------------------------------------------------

  function showRejection(r) {
    var details = '';
    try { details = JSON.stringify(r.details); } catch (e) { details = ''; }
    var list = $('rejection-list');
    list.insertBefore(el('li', { className: 'rejection', 'data-code': r.error, 'data-tracking-id': r.trackingId || '' },
      [el('strong', { className: 'code', text: r.error }),
       el('span', { className: 'reason', text: r.message }),
       el('span', { className: 'tracking' }, ['tracking id ', el('code', { text: r.trackingId || '–' })]),
       details && details !== '{}' ? el('code', { className: 'details', text: details }) : null,
       el('time', { text: timeText() })]), list.firstChild);
  }

  function setupRejectionButtons(client) {
    $('try-too-long').onclick = function () {
      var room = state.room || 'general';
      client.send('/topic/chat/' + room, client.envelope('CHAT_MESSAGE',
        { chatId: room, content: new Array(2002).join('x'), contentType: 'TEXT' }));
    };
    $('try-forbidden').onclick = function () {
      var all = ['roadmap', 'support', 'secret'];
      var target = 'secret';
      for (var i = 0; i < all.length; i++) { if (state.user.boards.indexOf(all[i]) < 0) { target = all[i]; break; } }
      client.send('/topic/board/' + target, client.envelope('BOARD_UPDATE',
        { boardId: target, action: 'add', data: { cardId: 'nope', title: 'not allowed', column: 'todo' } }));
    };
    $('try-invalid').onclick = function () {
      var room = state.room || 'general';
      client.send('/topic/chat/' + room, { type: 'CHAT_MESSAGE', timestamp: new Date().toISOString(), senderId: state.user.id });
    };
  }

  // ---- start ------------------------------------------------------------------------

  function start() {
    support.setupTransportPicker(function () { return state.client; });
    $('logout').onclick = logout;
    $('history-reset-dismiss').onclick = function () { $('history-reset').hidden = true; };
    $('refresh-token').onclick = function () {
      if (!state.client) { return; }
      state.getToken(function (err, token) {
        if (err) { logEvent('token refresh failed: ' + err.message); return; }
        state.client.refreshToken(token, function (failure) {
          logEvent(failure ? 'token refresh failed: ' + failure.message : 'token refreshed on demand');
        });
      }, { reason: 'refresh' });
    };
    request('GET', '/demo/config', null, null, function (err, config) {
      if (err) { showLoginError('Cannot load the demo configuration: ' + err.message); return; }
      state.config = config;
      renderLogin();
      var as = params().as;
      var kept = support.keptLogin();
      if (kept && (!as || as === kept.user)) {
        login(kept.user, kept.token);
      } else if (as) {
        login(as);
      }
    });
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', start);
  } else {
    start();
  }
}());
