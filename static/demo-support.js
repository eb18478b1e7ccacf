/*
 * Parts of the demo page that need none of its state (static/demo.js uses them as
 * window.NexusDemoSupport): DOM and XHR helpers, the login a tab keeps across reloads,
 * sending from a form with the server's answer shown next to it, and the header
 * (connection indicator, transport picker, connection events). Plain ES5, no build step.
 */
(function () {
  'use strict';

  function $(id) { return document.getElementById(id); }

  // ---- helpers ----------------------------------------------------------------------

  /** The page's query parameters. */
  function params() {
    var out = {};
    var query = window.location.search.replace(/^\?/, '').split('&');
    for (var i = 0; i < query.length; i++) {
      if (!query[i]) { continue; }
      var kv = query[i].split('=');
      out[decodeURIComponent(kv[0])] = decodeURIComponent((kv[1] || '').replace(/\+/g, ' '));
    }
    return out;
  }

  /** A new element: attrs (text, className, or attributes), children (nodes or text). */
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    var key;
    for (key in (attrs || {})) {
      if (!Object.prototype.hasOwnProperty.call(attrs, key)) { continue; }
      if (key === 'text') { node.textContent = attrs[key]; } else if (key === 'className') { node.className = attrs[key]; } else { node.setAttribute(key, attrs[key]); }
    }
    for (var i = 0; i < (children || []).length; i++) {
      var child = children[i];
      if (child === null || child === undefined) { continue; }
      node.appendChild(typeof child === 'string' ? document.createTextNode(child) : child);
    }
    return node;
  }

  function clear(node) { while (node.firstChild) { node.removeChild(node.firstChild); } }

  function timeText(iso) {
    var d = iso ? new Date(iso) : new Date();
    if (isNaN(d.getTime())) { return String(iso); }
    return d.toLocaleTimeString();
  }

  /** JSON over XMLHttpRequest (old browsers have no fetch): done(error, data). */
  function request(method, url, body, token, done) {
    var xhr = new XMLHttpRequest();
    xhr.open(method, url, true);
    xhr.setRequestHeader('Content-Type', 'application/json');
    if (token) { xhr.setRequestHeader('Authorization', 'Bearer ' + token); }
    xhr.onreadystatechange = function () {
      if (xhr.readyState !== 4) { return; }
      var data = null;
      try { data = JSON.parse(xhr.responseText); } catch (e) { data = null; }
      if (xhr.status >= 200 && xhr.status < 300) {
        done(null, data);
      } else {
        done(new Error((data && data.error) || ('HTTP ' + xhr.status)));
      }
    };
    xhr.send(body === null ? null : JSON.stringify(body));
  }

  // ---- the login a tab keeps across reloads -----------------------------------------

  /** sessionStorage key of the login this tab keeps: {user, token}. */
  var LOGIN_KEY = 'nexus-demo:login';

  function keepLogin(userId, token) {
    try {
      window.sessionStorage.setItem(LOGIN_KEY, JSON.stringify({ user: userId, token: token }));
    } catch (e) { /* no sessionStorage: a reload logs out */ }
  }

  function forgetLogin() {
    try { window.sessionStorage.removeItem(LOGIN_KEY); } catch (e) { /* ignore */ }
  }

  /** The login this tab kept, while its token has a few seconds left: {user, token}. */
  function keptLogin() {
    var kept = null;
    try { kept = JSON.parse(window.sessionStorage.getItem(LOGIN_KEY) || 'null'); } catch (e) { kept = null; }
    if (!kept || !kept.user || !kept.token) { return null; }
    var claims = window.NexusClient.decodeJwt(kept.token);
    if (!claims || !claims.exp || claims.exp * 1000 - new Date().getTime() < 5000) { return null; }
    return kept;
  }

  // ---- sending from a form ------------------------------------------------------------

  /**
   * Send a message typed into `form` through `client`: what was typed stays in `inputs`
   * until the server confirms it (RECEIPT), then is cleared unless the user already
   * typed something else; when the server refuses it (or the connection drops first),
   * it stays and the reason is shown next to the form, in #<form id>-error.
   */
  function sendFromForm(client, form, destination, body, inputs) {
    var typed = [];
    for (var i = 0; i < inputs.length; i++) { typed.push(inputs[i].value); }
    var box = $(form.id + '-error');
    box.hidden = true;
    clear(box);
    var fail = function (code, message, trackingId) {
      clear(box);
      box.appendChild(el('strong', { text: 'Not sent (' + code + '): ' }));
      box.appendChild(document.createTextNode(message || 'refused'));
      if (trackingId) { box.appendChild(el('span', { className: 'muted' }, [' · tracking id ', el('code', { text: trackingId })])); }
      box.setAttribute('data-code', code);
      box.hidden = false;
    };
    client.send(destination, body, {
      onReceipt: function () {
        for (var j = 0; j < inputs.length; j++) {
          if (inputs[j].value === typed[j]) { inputs[j].value = ''; }
        }
      },
      onRejected: function (r) { fail(r.error, r.message, r.trackingId); },
      onError: function (e) { fail(e.error, e.message + ' (it may or may not have been stored)', null); }
    });
  }

  // ---- the header: connection indicator, transport picker, connection events ---------

  function logEvent(text) {
    var list = $('event-log');
    list.insertBefore(el('li', {}, [el('time', { text: timeText() }), ' ' + text]), list.firstChild);
    while (list.childNodes.length > 50) { list.removeChild(list.lastChild); }
  }

  /** Show a `state` event of NexusClient in the header (and log the changes). */
  function showState(s) {
    var box = $('connection');
    box.setAttribute('data-state', s.state);
    var text;
    if (s.state === 'connected') {
      text = 'Connected';
    } else if (s.state === 'connecting') {
      text = 'Connecting…';
    } else if (s.state === 'reconnecting') {
      text = 'Reconnecting in ' + s.secondsLeft + ' s (attempt ' + s.attempt + ')';
    } else {
      text = 'Not connected';
    }
    $('connection-text').textContent = text;
    $('connection-transport').textContent = s.state === 'connected' && s.transport ? 'via ' + s.transport : '';
    box.setAttribute('data-transport', s.state === 'connected' && s.transport ? s.transport : '');
    $('reconnect-now').hidden = s.state !== 'reconnecting';
    if (s.state !== 'reconnecting' || s.secondsLeft === Math.ceil(s.delay / 1000)) {
      $('connection-announce').textContent = text + (s.state === 'connected' && s.transport ? ' via ' + s.transport : '');
      logEvent(s.state + (s.transport ? ' (' + s.transport + ')' : '') +
               (s.state === 'reconnecting' ? ' in ' + s.secondsLeft + ' s' : '') +
               (s.reason ? ': ' + s.reason : ''));
    }
  }

  function chosenTransport() {
    var fromUrl = params().transport;
    var stored = null;
    try { stored = window.sessionStorage.getItem('nexus-demo:transport'); } catch (e) { stored = null; }
    return fromUrl || stored || 'auto';
  }

  /** Transports this browser cannot use (an old one has no WebSocket or EventSource). */
  var NEEDS = { 'websocket': 'WebSocket', 'raw-websocket': 'WebSocket', 'eventsource': 'EventSource' };

  /** The transport picker and "Retry now"; getClient() gives the current client. */
  function setupTransportPicker(getClient) {
    var select = $('transport');
    for (var i = 0; i < select.options.length; i++) {
      var api = NEEDS[select.options[i].value];
      if (api && !window[api]) {
        select.options[i].disabled = true;
        select.options[i].text += ' (this browser has no ' + api + ')';
      }
    }
    select.value = chosenTransport();
    if (select.value === '') { select.value = 'auto'; }
    select.onchange = function () {
      try { window.sessionStorage.setItem('nexus-demo:transport', select.value); } catch (e) { /* ignore */ }
      if (getClient()) { getClient().setTransport(select.value); }
    };
    $('transport-form').onsubmit = function () { return false; };
    $('reconnect-now').onclick = function () { if (getClient()) { getClient().reconnectNow(); } };
  }

  window.NexusDemoSupport = {
    params: params,
    el: el,
    clear: clear,
    timeText: timeText,
    request: request,
    keepLogin: keepLogin,
    forgetLogin: forgetLogin,
    keptLogin: keptLogin,
    sendFromForm: sendFromForm,
    logEvent: logEvent,
    showState: showState,
    chosenTransport: chosenTransport,
    setupTransportPicker: setupTransportPicker
  };
}());
