/*
 * nexus-client.js: a small browser client for nexus-tornado.
 *
 * Built on the vendored builds of sockjs-client (global `SockJS`) and @stomp/stompjs
 * (global `StompJs`, transpiled to ES5); load those first with plain <script> tags,
 * after the Promise and TextEncoder polyfills in static/vendor/ (they install only
 * where missing), then nexus-messages.js (its bookkeeping of subscriptions and sends),
 * then this file. No build step. Both files are ES5 (var, function, no modules, no
 * arrow functions) so that they run as is in IE 9-11-era browsers (docs/demo.md).
 * Under CommonJS or AMD this file requires nexus-messages.js itself.
 *
 * What it adds to stompjs (see docs/demo.md for the full API):
 *  - connects with a JWT (STOMP CONNECT header `Authorization: Bearer <jwt>`), asking
 *    `getToken` for one before every attempt (saying why: a first connect, a
 *    reconnect after the server refused the token, or a refresh);
 *  - reconnects by itself with exponential back-off, jitter and a cap; the back-off
 *    starts over after a successful connection; a server shutting down (close 1001,
 *    "server shutting down (reconnect in N ms)") sets the delay instead;
 *  - re-subscribes after a reconnect with `last-seq` (the highest `seq` seen per
 *    destination, kept in localStorage so it survives a page reload) and `epoch` (the
 *    numbering that seq belongs to), so the server replays what was missed; drops
 *    anything at or below that `seq` (duplicates) unless the server says `seq-reset`;
 *    reports `gap-from`/`gap-to` (messages the server no longer retains);
 *  - refreshes the token on the live connection (a SEND to `/session/token`), shortly
 *    before it expires;
 *  - subscribes to `/user/queue/errors` right after CONNECTED and routes rejections to
 *    the `onRejected` callback (and to the callbacks of the send that caused them);
 *  - emits connection events: connecting, connected (with the transport in use),
 *    reconnecting (with a countdown in seconds) and disconnected.
 *
 * Usage:
 *   var client = new NexusClient({
 *     url: '/stomp',
 *     getToken: function (done) { fetchToken().then(function (t) { done(null, t); }, done); },
 *     onRejected: function (r) { console.log(r.error, r.message, r.trackingId); }
 *   });
 *   client.on('state', function (s) { console.log(s.state, s.transport, s.secondsLeft); });
 *   client.subscribe('/topic/chat/general', function (body, meta) { ... });
 *   client.connect();
 *   client.send('/topic/chat/general',
 *               client.envelope('CHAT_MESSAGE', {chatId: 'general', content: 'hi', contentType: 'TEXT'}));
 */
(function (root, factory) {
  if (typeof define === 'function' && define.amd) {
    define(['./nexus-messages'], function (messages) { return factory(root, messages); });
  } else if (typeof module === 'object' && module.exports) {
    module.exports = factory(root, require('./nexus-messages.js'));
  } else {
    if (!root.NexusMessages) { throw new Error('nexus-client.js: load nexus-messages.js before it'); }
    root.NexusClient = factory(root, root.NexusMessages);
  }
}(typeof self !== 'undefined' ? self : this, function (root, messages) {
  'use strict';

  /** Destination the server sends this session's rejections to (wire contract). */
  var ERRORS_DESTINATION = '/user/queue/errors';
  /** Destination of token refresh SENDs (wire contract). */
  var TOKEN_DESTINATION = '/session/token';
  /** The transport name that means "raw WebSocket at {prefix}/websocket, no SockJS". */
  var RAW_WEBSOCKET = 'raw-websocket';
  /** SockJS transport names a caller may force (sockjs-client 1.6). */
  var SOCKJS_TRANSPORTS = ['websocket', 'xhr-streaming', 'xdr-streaming', 'eventsource',
    'iframe-eventsource', 'htmlfile', 'iframe-htmlfile', 'xhr-polling', 'xdr-polling',
    'iframe-xhr-polling', 'jsonp-polling'];
  /** The longest reconnect delay a server may ask for (ms). */
  var MAX_SERVER_DELAY = 5 * 60 * 1000;

  function noop() {}

  function extend(target) {
    for (var i = 1; i < arguments.length; i++) {
      var src = arguments[i];
      if (!src) { continue; }
      for (var k in src) {
        if (Object.prototype.hasOwnProperty.call(src, k)) { target[k] = src[k]; }
      }
    }
    return target;
  }

  /** Absolute http(s) URL for `url`, resolved against the page's location. */
  function absoluteUrl(url) {
    if (/^https?:\/\//i.test(url)) { return url; }
    var a = root.document.createElement('a');
    a.href = url;
    return a.href;
  }

  /** The raw WebSocket URL that goes with a SockJS endpoint URL. */
  function rawWebSocketUrl(sockjsUrl) {
    var http = absoluteUrl(sockjsUrl).replace(/\/+$/, '');
    return http.replace(/^http/i, 'ws') + '/websocket';
  }

  /** The claims of a JWT, without checking it (the server does that), or null. */
  function decodeJwt(token) {
    try {
      var part = String(token).split('.')[1];
      part = part.replace(/-/g, '+').replace(/_/g, '/');
      while (part.length % 4) { part += '='; }
      var text = root.atob(part);
      // atob gives one char per byte; undo the UTF-8 encoding.
      var json = decodeURIComponent(text.replace(/[\s\S]/g, function (c) {
        return '%' + ('0' + c.charCodeAt(0).toString(16)).slice(-2);
      }));
      return JSON.parse(json);
    } catch (e) {
      return null;
    }
  }

  /**
   * The delay before reconnect attempt number `attempt` (0-based): exponential growth
   * from `initial`, capped at `max`, then "equal jitter" (a random share up to
   * `jitter` of the delay is taken off) so that clients cut off together do not all
   * come back at the same instant.
   */
  function backoffDelay(attempt, policy, random) {
    var raw = policy.initial * Math.pow(policy.factor, attempt);
    var capped = Math.min(policy.max, raw);
    return Math.round(capped * (1 - policy.jitter * random()));
  }

  /**
   * The reconnect delay (ms) a server shutting down asked for: close code 1001 with the
   * reason "server shutting down (reconnect in N ms)". null when it named none.
   */
  function serverReconnectDelay(evt) {
    if (!evt || evt.code !== 1001 || typeof evt.reason !== 'string') { return null; }
    var match = /\(reconnect in (\d+) ms\)/.exec(evt.reason);
    return match ? Math.min(parseInt(match[1], 10), MAX_SERVER_DELAY) : null;
  }

  var DEFAULTS = {
    url: '/stomp',                 // the SockJS endpoint (the server's prefix)
    transport: 'auto',             // 'auto', a SockJS transport name, or 'raw-websocket'
    token: null,                   // a fixed JWT, when there is no getToken
    getToken: null,                // function (done, info) { done(error, jwt) }; info.reason:
                                   // 'connect', 'refused' (the last attempt ended in a STOMP
                                   // ERROR, e.g. token expired) or 'refresh'
    storage: undefined,            // defaults to window.localStorage; null for memory only
    storagePrefix: 'nexus:',
    backoff: { initial: 1000, factor: 2, max: 30000, jitter: 0.5 },
    refreshMarginSeconds: 60,      // refresh the token this long before `exp`
    connectionTimeout: 10000,      // ms before an unanswered CONNECT counts as failed
    heartbeatIncoming: 10000,
    heartbeatOutgoing: 10000,
    onRejected: null,              // function ({error, message, details, trackingId, receiptId})
    debug: null,                   // function (text)
    random: Math.random            // injectable for tests
  };

  /**
   * A connection to nexus-tornado that keeps itself alive.
   * @constructor
   */
  function NexusClient(options) {
    if (!(this instanceof NexusClient)) { return new NexusClient(options); }
    this.options = extend({}, DEFAULTS, options || {});
    this.options.backoff = extend({}, DEFAULTS.backoff, (options || {}).backoff || {});
    var storage = this.options.storage;
    if (storage === undefined) {
      try { storage = root.localStorage; } catch (e) { storage = null; }
    }
    var self = this;
    this._listeners = {};
    this._subs = new messages.Subscriptions(new messages.SeqStore(storage, this.options.storagePrefix), {
      emit: function (event, data) { self._emit(event, data); },
      log: function (text) { self._log(text); },
      userId: function () { return self.userId; }
    });
    this._sends = new messages.Sends(function () { return self.options.random(); });
    this._token = this.options.token;
    this._stomp = null;       // the current StompJs.Client
    this._socket = null;      // its SockJS / WebSocket
    this._generation = 0;     // bumps on every attempt; stale callbacks are ignored
    this._attempt = 0;        // reconnect attempts since the last successful connection
    this._running = false;
    this._reconnectTimer = null;
    this._countdownTimer = null;
    this._refreshTimer = null;
    this._refusal = null;     // the ERROR message that ended the last connection, if any
    this.state = 'disconnected';
    this.transport = null;
    this.userId = null;
    this.sessionId = null;
  }

  NexusClient.backoffDelay = backoffDelay;
  NexusClient.serverReconnectDelay = serverReconnectDelay;
  NexusClient.decodeJwt = decodeJwt;
  NexusClient.SOCKJS_TRANSPORTS = SOCKJS_TRANSPORTS;
  NexusClient.RAW_WEBSOCKET = RAW_WEBSOCKET;

  // ---- events -------------------------------------------------------------------

  /**
   * Listen to an event:
   *  'state'     {state: 'connecting'|'connected'|'reconnecting'|'disconnected',
   *               transport, attempt, delay (ms), secondsLeft, reason}
   *  'rejected'  a rejection from /user/queue/errors (also given to options.onRejected)
   *  'gap'       {destination, from, to}: messages the server no longer has
   *  'duplicate' {destination, seq}: a message dropped because its seq was already seen
   *  'reset' {destination, seq}: the server's numbering of a destination started again
   *  'token'     {exp, refreshed: bool}: a token was sent (on connect or refresh)
   *  'error'     {message, frame?}: STOMP ERROR frames and client-side failures
   */
  NexusClient.prototype.on = function (event, fn) {
    (this._listeners[event] = this._listeners[event] || []).push(fn);
    return this;
  };

  NexusClient.prototype.off = function (event, fn) {
    var list = this._listeners[event] || [];
    for (var i = list.length - 1; i >= 0; i--) {
      if (list[i] === fn) { list.splice(i, 1); }
    }
    return this;
  };

  NexusClient.prototype._emit = function (event, data) {
    var list = (this._listeners[event] || []).slice();
    for (var i = 0; i < list.length; i++) {
      try { list[i].call(this, data); } catch (e) { this._log('listener for ' + event + ' failed: ' + e); }
    }
  };

  NexusClient.prototype._log = function (text) {
    if (this.options.debug) { this.options.debug(text); }
  };

  NexusClient.prototype._setState = function (state, extra) {
    this.state = state;
    this._emit('state', extend({ state: state, transport: this.transport }, extra || {}));
  };

  // ---- connection lifecycle -------------------------------------------------------

  /** Start connecting (and keep the connection up until disconnect()). */
  NexusClient.prototype.connect = function () {
    if (this._running) { return this; }
    this._running = true;
    this._attempt = 0;
    this._open();
    return this;
  };

  /** Close the connection and stop reconnecting. Subscriptions are kept for connect(). */
  NexusClient.prototype.disconnect = function () {
    this._running = false;
    this._clearTimers();
    this._dropConnection();
    this._sends.failPending('disconnected before the server confirmed this message');
    this.transport = null;
    this._setState('disconnected', { reason: 'closed by the page' });
    return this;
  };

  /** Force a transport ('auto', a SockJS transport name or 'raw-websocket'); reconnects. */
  NexusClient.prototype.setTransport = function (transport) {
    this.options.transport = transport || 'auto';
    if (this._running) {
      this._clearTimers();
      this._dropConnection();
      this._attempt = 0;
      this._open();
    }
    return this;
  };

  NexusClient.prototype._clearTimers = function () {
    if (this._reconnectTimer) { clearTimeout(this._reconnectTimer); this._reconnectTimer = null; }
    if (this._countdownTimer) { clearInterval(this._countdownTimer); this._countdownTimer = null; }
    if (this._refreshTimer) { clearTimeout(this._refreshTimer); this._refreshTimer = null; }
  };

  /** Forget the current StompJs client; its late callbacks are ignored. */
  NexusClient.prototype._dropConnection = function () {
    this._generation++;
    var old = this._stomp;
    this._stomp = null;
    this._socket = null;
    if (old) {
      try { old.deactivate(); } catch (e) { /* already gone */ }
    }
  };

  /** Obtain a token (getToken if given), then open one connection attempt. */
  NexusClient.prototype._open = function () {
    var self = this;
    var generation = ++this._generation;
    this.transport = null;
    this._setState('connecting', { attempt: this._attempt });
    var proceed = function (err, token) {
      if (generation !== self._generation || !self._running) { return; }
      if (err || !token) {
        self._emit('error', { message: 'could not obtain a token: ' + (err && err.message || err || 'none') });
        self._scheduleReconnect('no token');
        return;
      }
      self._token = token;
      self._openWith(generation, token);
    };
    var info = this._refusal ? { reason: 'refused', message: this._refusal } : { reason: 'connect' };
    this._refusal = null;
    if (typeof this.options.getToken === 'function') {
      try { this.options.getToken(proceed, info); } catch (e) { proceed(e); }
    } else {
      proceed(null, this._token);
    }
  };

  NexusClient.prototype._openWith = function (generation, token) {
    var self = this;
    var opts = this.options;
    var transport = opts.transport || 'auto';
    var config = {
      connectHeaders: { Authorization: 'Bearer ' + token },
      reconnectDelay: 0,                    // reconnection is ours (back-off with jitter)
      connectionTimeout: opts.connectionTimeout,
      heartbeatIncoming: opts.heartbeatIncoming,
      heartbeatOutgoing: opts.heartbeatOutgoing,
      debug: function (text) { if (generation === self._generation) { self._log(text); } },
      onConnect: function (frame) {
        if (generation !== self._generation) { return; }
        self._onConnected(frame);
      },
      onStompError: function (frame) {
        if (generation !== self._generation) { return; }
        // STOMP 1.2 "ERROR": the server closes the connection after sending it. The
        // next attempt tells getToken, which may need to fetch a new token.
        self._refusal = frame.headers.message || 'server error';
        self._emit('error', { message: self._refusal, frame: frame });
      },
      onWebSocketClose: function (evt) {
        if (generation !== self._generation) { return; }
        self._onClosed(evt);
      }
    };
    if (transport === RAW_WEBSOCKET && !root.WebSocket) {
      this._emit('error', { message: 'this browser has no WebSocket: use a SockJS transport' });
      this._scheduleReconnect('no WebSocket in this browser');
      return;
    }
    if (transport === RAW_WEBSOCKET) {
      config.webSocketFactory = function () {
        // No subprotocol list: STOMP negotiates its version in CONNECT (accept-version),
        // and browsers fail a handshake whose requested subprotocol is not echoed.
        self._socket = new root.WebSocket(rawWebSocketUrl(opts.url));
        return self._socket;
      };
    } else {
      config.webSocketFactory = function () {
        var sockOptions = {};
        if (transport !== 'auto') { sockOptions.transports = [transport]; }
        self._socket = new root.SockJS(absoluteUrl(opts.url), null, sockOptions);
        return self._socket;
      };
    }
    var stomp = new root.StompJs.Client(config);
    this._stomp = stomp;
    stomp.activate();
  };

  NexusClient.prototype._onConnected = function (frame) {
    var self = this;
    this._attempt = 0;  // a successful connection resets the back-off
    var claims = decodeJwt(this._token) || {};
    this.userId = frame.headers['user-name'] || claims.sub || null;
    this.sessionId = frame.headers.session || null;
    var socket = this._socket;
    this.transport = (this.options.transport === RAW_WEBSOCKET) ? RAW_WEBSOCKET
      : ((socket && socket.transport) || this.options.transport);
    // The rejection channel first, so nothing sent below can be rejected unseen.
    this._stomp.subscribe(ERRORS_DESTINATION, function (message) { self._onRejection(message); },
      { id: 'nexus-errors' });
    this._subs.each(function (record) { self._subs.open(self._stomp, record); });
    this._emit('token', { exp: claims.exp || null, refreshed: false });
    this._scheduleRefresh();
    this._setState('connected', { attempt: 0 });
    this._sends.flush(this._stomp);
  };

  NexusClient.prototype._onClosed = function (evt) {
    var reason = evt && (evt.reason || evt.code) ? String(evt.reason || evt.code) : 'connection closed';
    this._dropConnection();
    this._sends.failPending('connection lost before the server confirmed this message');
    if (this._refreshTimer) { clearTimeout(this._refreshTimer); this._refreshTimer = null; }
    this.transport = null;
    if (this._running) {
      this._scheduleReconnect(reason, serverReconnectDelay(evt));
    } else {
      this._setState('disconnected', { reason: reason });
    }
  };

  NexusClient.prototype._scheduleReconnect = function (reason, serverDelay) {
    var self = this;
    // A server shutting down says when to come back (a delay it drew at random, so the
    // crowd it closed does not return at once); otherwise the back-off decides.
    var delay = (serverDelay !== null && serverDelay !== undefined) ? serverDelay
      : backoffDelay(this._attempt, this.options.backoff, this.options.random);
    var attempt = ++this._attempt;
    var due = new Date().getTime() + delay;
    var tick = function () {
      var left = Math.max(0, Math.ceil((due - new Date().getTime()) / 1000));
      self._setState('reconnecting', { attempt: attempt, delay: delay, secondsLeft: left, reason: reason });
    };
    this._clearTimers();
    tick();
    this._countdownTimer = setInterval(tick, 1000);
    this._reconnectTimer = setTimeout(function () {
      self._clearTimers();
      if (self._running) { self._open(); }
    }, delay);
  };

  /** Reconnect now instead of waiting for the countdown. */
  NexusClient.prototype.reconnectNow = function () {
    if (!this._running || this.state === 'connected') { return this; }
    this._clearTimers();
    this._dropConnection();
    this._open();
    return this;
  };

  // ---- subscriptions and replay ---------------------------------------------------
  // The records, their SUBSCRIBE headers and what each MESSAGE means for them:
  // Subscriptions in nexus-messages.js.

  /**
   * Subscribe to `destination`; `onMessage(body, meta)` gets the parsed JSON body (or
   * the text when it is not JSON) and meta {destination, seq, messageId, headers,
   * replayed, gap}. The subscription lasts across reconnects until unsubscribe().
   *
   * options.since says where the first subscription starts:
   *   'stored' (default)  after the last seq seen on this destination (localStorage),
   *                       or live when none was stored
   *   a number N          after seq N (0: every message the server retains)
   *   'live'              live only
   * After a reconnect it resumes after the last seq seen, unless options.resume is
   * false (for destinations that start with a snapshot, like /topic/presence).
   * options.ack: 'auto' (default), 'client' or 'client-individual' (acked on delivery).
   */
  NexusClient.prototype.subscribe = function (destination, onMessage, options) {
    var record = this._subs.add(destination, onMessage, options);
    if (this.state === 'connected' && this._stomp) { this._subs.open(this._stomp, record); }
    var self = this;
    return {
      id: record.id,
      destination: destination,
      unsubscribe: function () { self._unsubscribe(record.id); }
    };
  };

  NexusClient.prototype._unsubscribe = function (id) {
    var record = this._subs.remove(id);
    if (record && record.handle && this.state === 'connected') {
      try { record.handle.unsubscribe(); } catch (e) { /* connection gone */ }
    }
  };

  /** Forget the stored last seq of `destination` (the next subscribe starts as told). */
  NexusClient.prototype.forgetSeq = function (destination) {
    this._subs.forget(destination);
  };

  /** The highest seq seen on `destination` (this page or stored), or null. */
  NexusClient.prototype.lastSeq = function (destination) {
    return this._subs.lastSeq(destination);
  };

  /** The epoch of lastSeq(destination) (the server's numbering it belongs to), or null. */
  NexusClient.prototype.lastEpoch = function (destination) {
    return this._subs.lastEpoch(destination);
  };

  // ---- sending ----------------------------------------------------------------------
  // The outbox, receipts and rejections of each send: Sends in nexus-messages.js.

  /**
   * A message envelope of the wire contract: {type, timestamp, senderId, payload}.
   */
  NexusClient.prototype.envelope = function (type, payload) {
    var claims = decodeJwt(this._token) || {};
    return {
      type: type,
      timestamp: new Date().toISOString(),
      senderId: this.userId || claims.sub || null,
      payload: payload
    };
  };

  /**
   * SEND `body` (an object is sent as JSON) to `destination`, with a receipt.
   * callbacks: onReceipt() once the server has persisted it; onRejected(rejection)
   * when /user/queue/errors reports it refused; onError({error, message}) when the
   * connection dropped before either. Sends made while disconnected wait in an outbox
   * (at most 200) and go out after the next CONNECTED. Returns the receipt id.
   */
  NexusClient.prototype.send = function (destination, body, callbacks, headers) {
    var stomp = this.state === 'connected' ? this._stomp : null;
    return this._sends.send(stomp, destination, body, callbacks, headers);
  };

  NexusClient.prototype._onRejection = function (message) {
    var rejection = this._sends.reject(message);
    if (this.options.onRejected) { this.options.onRejected(rejection); }
    this._emit('rejected', rejection);
  };

  // ---- token refresh ---------------------------------------------------------------

  NexusClient.prototype._scheduleRefresh = function () {
    var self = this;
    if (this._refreshTimer) { clearTimeout(this._refreshTimer); this._refreshTimer = null; }
    if (typeof this.options.getToken !== 'function') { return; }
    var claims = decodeJwt(this._token);
    if (!claims || !claims.exp) { return; }
    var ms = claims.exp * 1000 - new Date().getTime() - this.options.refreshMarginSeconds * 1000;
    // At least 5 s between refreshes, whatever the token's lifetime.
    this._refreshTimer = setTimeout(function () {
      self._refreshTimer = null;
      self.refreshToken();
    }, Math.max(5000, ms));
  };

  /**
   * Replace the session's token without reconnecting: a SEND to /session/token with
   * the new JWT in its Authorization header. Without `token`, asks getToken for one.
   * done(error) is called once the server confirmed (RECEIPT) or refused it.
   */
  NexusClient.prototype.refreshToken = function (token, done) {
    var self = this;
    if (typeof token === 'function') { done = token; token = null; }
    done = done || noop;
    var withToken = function (err, fresh) {
      if (err || !fresh) {
        self._emit('error', { message: 'token refresh failed: ' + (err && err.message || err || 'no token') });
        done(err || new Error('no token'));
        return;
      }
      if (self.state !== 'connected' || !self._stomp) {
        self._token = fresh;  // used by the next CONNECT
        done(null);
        return;
      }
      self.send(TOKEN_DESTINATION, '', {
        onReceipt: function () {
          self._token = fresh;
          var claims = decodeJwt(fresh) || {};
          self._emit('token', { exp: claims.exp || null, refreshed: true });
          self._scheduleRefresh();
          done(null);
        },
        onRejected: function (r) { done(new Error(r.message || r.error)); },
        onError: function (e) { done(new Error(e.message)); }
      }, { Authorization: 'Bearer ' + fresh });
    };
    if (token) {
      withToken(null, token);
    } else if (typeof this.options.getToken === 'function') {
      try { this.options.getToken(withToken, { reason: 'refresh' }); } catch (e) { withToken(e); }
    } else {
      withToken(new Error('no getToken option'));
    }
    return this;
  };

  return NexusClient;
}));
