/*
 * nexus-token.js: the host app's login becomes a nexus token, in the browser.
 *
 * The host app mounts the plugin's token handler (plugin.token_url, docs/handlers.md):
 * POST there answers {token, expiresAt, userId} for the user of the host's own cookie
 * session. NexusClient.hostToken(url) is a `getToken` for NexusClient that fetches the
 * token there, with the page's cookies and Tornado's XSRF header (from the `_xsrf`
 * cookie, when the app sets `xsrf_cookies`), and reuses it for plain reconnects while it
 * has more than `marginSeconds` left; a refresh, or a reconnect after the server refused
 * the token, always fetches a new one. ES5, no build step; load it after nexus-client.js:
 *
 *   var client = new NexusClient({ url: '/stomp', getToken: NexusClient.hostToken('/nexus/token') });
 *
 * Options: marginSeconds (60); body: an object, or a function returning one, sent as the
 * JSON request body; onToken(data): called with each answer {token, expiresAt, userId};
 * initial: a token already at hand {token, expiresAt} (a login kept across a reload).
 * A failed request calls done(error) with error.status (401: not logged in).
 */
(function (root, factory) {
  if (typeof define === 'function' && define.amd) {
    define([], function () { return factory(root); });
  } else if (typeof module === 'object' && module.exports) {
    module.exports = factory(root);
  } else {
    var hostToken = factory(root);
    root.NexusToken = { hostToken: hostToken };
    if (root.NexusClient) { root.NexusClient.hostToken = hostToken; }
  }
}(typeof self !== 'undefined' ? self : this, function (root) {
  'use strict';

  function cookie(name) {
    var parts = String((root.document && root.document.cookie) || '').split(';');
    for (var i = 0; i < parts.length; i++) {
      var kv = parts[i].replace(/^\s+/, '');
      if (kv.indexOf(name + '=') === 0) { return decodeURIComponent(kv.substring(name.length + 1)); }
    }
    return null;
  }

  function hostToken(url, options) {
    var opts = options || {};
    var margin = opts.marginSeconds === undefined ? 60 : opts.marginSeconds;
    var cached = opts.initial && opts.initial.token ? opts.initial : null;

    function getToken(done, info) {
      var reason = (info && info.reason) || 'connect';
      var now = new Date().getTime() / 1000;
      if (reason === 'connect' && cached && cached.expiresAt - now > margin) {
        done(null, cached.token);
        return;
      }
      var xhr = new root.XMLHttpRequest();
      xhr.open('POST', url, true);
      xhr.withCredentials = true;
      xhr.setRequestHeader('Content-Type', 'application/json');
      var xsrf = cookie('_xsrf');
      if (xsrf) { xhr.setRequestHeader('X-XSRFToken', xsrf); }
      xhr.onreadystatechange = function () {
        if (xhr.readyState !== 4) { return; }
        var data = null;
        try { data = JSON.parse(xhr.responseText); } catch (e) { data = null; }
        if (xhr.status === 200 && data && data.token) {
          cached = data;
          if (opts.onToken) { opts.onToken(data); }
          done(null, data.token);
          return;
        }
        var error = new Error((data && (data.message || data.error)) || ('HTTP ' + xhr.status));
        error.status = xhr.status;
        done(error);
      };
      var body = typeof opts.body === 'function' ? opts.body() : (opts.body || {});
      xhr.send(JSON.stringify(body));
    }

    /** The last answer {token, expiresAt, userId}, or null. */
    getToken.current = function () { return cached; };
    return getToken;
  }

  return hostToken;
}));
