/*
 * nexus-docs.js: shared plain-text documents over nexus-client.js, and a <textarea>
 * binding.
 *
 * Pages load it after nexus-text.js and nexus-client.js (it defines the one global
 * `NexusDocs`); under CommonJS it requires nexus-text.js itself. ES5, like the client.
 *
 *   var doc = NexusDocs.open(client, 'notes', {
 *     onChange: function (op, remote) {},   // after every change of doc.text
 *     onStatus: function (status) {},       // 'loading' | 'saved' | 'saving' | 'resyncing'
 *     onError: function (problem) {}        // {error, message}: a refusal or a resync
 *   });
 *   doc.text; doc.version;                  // the text as shown here, the server version it builds on
 *   doc.edit(op);                           // a local edit: an operation on doc.text
 *   doc.replace(newText);                   // the same, computed as one diff
 *   var binding = NexusDocs.bindTextarea(doc, textareaElement);
 *   binding.unbind(); doc.close();
 *
 * The protocol (docs/documents.md): the client subscribes to /topic/doc/{docId} and
 * gets a DOC_SNAPSHOT (the text at a version), then every operation after it, each a
 * MESSAGE whose seq is the version it makes. Local edits apply at once; one operation
 * at a time is in flight, sent with the version it was made on and an opId, and the
 * edits made meanwhile are composed into one buffer. An operation arriving from the
 * server is transformed against the one in flight and the buffer (the server's goes
 * first at a tie, as on the server) and applied. The operation in flight is
 * acknowledged when it comes back on the subscription carrying its opId (its seq is
 * then the document's version). When the connection drops before that, it is sent
 * again, with the same opId: the server stores it at most once. A refusal (an
 * operation the server cannot take) or a hole in the operations received (retention
 * dropped them while away) cannot be repaired locally: the document is read again
 * from a fresh snapshot, and the edits not yet stored are reported lost (onError).
 */
(function (root, factory) {
  if (typeof define === 'function' && define.amd) {
    define(['nexus-text'], factory);
  } else if (typeof module === 'object' && module.exports) {
    module.exports = factory(require('./nexus-text.js'));
  } else {
    root.NexusDocs = factory(root.NexusText);
  }
}(typeof self !== 'undefined' ? self : this, function (NexusText) {
  'use strict';

  if (!NexusText) { throw new Error('load nexus-text.js before nexus-docs.js'); }

  var PREFIX = '/topic/doc/';

  function noop() {}

  function randomId() {
    return Math.floor(Math.random() * 2176782336).toString(36) + new Date().getTime().toString(36);
  }

  /**
   * One shared document on a NexusClient. options: onChange(op, remote), onStatus,
   * onError, minInterval (ms between two sends; default 60).
   * @constructor
   */
  function SharedDoc(client, docId, options) {
    var opts = options || {};
    this.client = client;
    this.docId = docId;
    this.destination = PREFIX + docId;
    this.text = '';
    this.version = null;      // null until the snapshot arrives
    this.inflight = null;     // {op, opId}: sent, not yet seen back
    this.buffer = null;       // local edits since, composed
    this._onChange = opts.onChange || noop;
    this._onStatus = opts.onStatus || noop;
    this._onError = opts.onError || noop;
    this._minInterval = opts.minInterval === undefined ? 60 : opts.minInterval;
    this._lastSend = 0;
    this._timer = null;
    this._closed = false;
    this._session = randomId();
    this._counter = 0;
    this._subscription = null;
    this._subscribe();
  }

  SharedDoc.prototype._subscribe = function (status) {
    var self = this;
    this._setStatus(status || 'loading');
    // 'live': the first subscription gets the snapshot; after a reconnect the client
    // resumes after the last version seen, so only the missed operations come.
    this._subscription = this.client.subscribe(this.destination, function (body, meta) {
      self._receive(body, meta);
    }, { since: 'live' });
  };

  SharedDoc.prototype._setStatus = function (status) {
    if (this.status !== status) {
      this.status = status;
      this._onStatus(status);
    }
  };

  SharedDoc.prototype._receive = function (body, meta) {
    if (this._closed || !body || typeof body !== 'object') { return; }
    var headers = meta.headers || {};
    if (body.type === 'DOC_SNAPSHOT') {
      this._snapshot(body.payload);
      return;
    }
    if (body.type !== 'DOC_OP' || meta.seq === null) { return; }
    if (this.version === null) { return; }  // before the snapshot: cannot happen, but harmless
    if (meta.gap || headers['seq-reset'] !== undefined || meta.seq !== this.version + 1) {
      if (meta.seq <= this.version) { return; }  // seen already
      this._resync('operations ' + (this.version + 1) + ' to ' + (meta.seq - 1) + ' are no longer kept');
      return;
    }
    var payload = body.payload || {};
    var mine = this.inflight && payload.opId === this.inflight.opId &&
      body.senderId === this.client.userId;
    this.version = meta.seq;
    if (mine) {
      this.inflight = null;
      this._flush();
      return;
    }
    var op = payload.op;
    if (this.inflight) {
      var pair = NexusText.transform(op, this.inflight.op);
      op = pair[0];
      this.inflight.op = pair[1];
    }
    if (this.buffer) {
      var next = NexusText.transform(op, this.buffer);
      op = next[0];
      this.buffer = next[1];
    }
    this.text = NexusText.apply(this.text, op);
    this._onChange(op, true);
  };

  SharedDoc.prototype._snapshot = function (payload) {
    var lost = this.inflight || this.buffer;
    if (this.version !== null && payload.version === this.version && !lost) {
      this._setStatus('saved');
      return;
    }
    if (this.version !== null && lost) {
      this._onError({ error: 'RESYNC', message: 'edits not yet stored were lost: the document was read again' });
    }
    var op = NexusText.diff(this.text, payload.text);
    this.text = payload.text;
    this.version = payload.version;
    this.inflight = null;
    this.buffer = null;
    this._setStatus('saved');
    this._onChange(op, true);
  };

  /** Read the document again from a fresh snapshot (what cannot be repaired). */
  SharedDoc.prototype._resync = function (why) {
    if (this._closed) { return; }
    this._onError({ error: 'RESYNC', message: why });
    if (this._subscription) { this._subscription.unsubscribe(); }
    this.client.forgetSeq(this.destination);
    // Keep text, inflight and buffer until the snapshot: _snapshot reports the loss.
    this._subscribe('resyncing');
  };

  /** A local edit: `op` applies to doc.text; it is shown at once and sent. */
  SharedDoc.prototype.edit = function (op) {
    if (this._closed) { throw new Error('document closed'); }
    if (this.version === null) { throw new Error('document not loaded yet'); }
    op = NexusText.check(op);
    if (NexusText.isNoop(op)) { return; }
    this.text = NexusText.apply(this.text, op);
    this.buffer = this.buffer ? NexusText.compose(this.buffer, op) : op;
    this._onChange(op, false);
    this._flush();
  };

  /** A local edit given as the whole new text. */
  SharedDoc.prototype.replace = function (text) {
    this.edit(NexusText.diff(this.text, text));
  };

  SharedDoc.prototype._flush = function () {
    var self = this;
    if (this._closed || this.inflight || !this.buffer) {
      if (!this.inflight && !this.buffer) { this._setStatus('saved'); }
      return;
    }
    var wait = this._lastSend + this._minInterval - new Date().getTime();
    if (wait > 0) {
      if (!this._timer) {
        this._timer = setTimeout(function () { self._timer = null; self._flush(); }, wait);
      }
      return;
    }
    this.inflight = { op: this.buffer, opId: this._session + '-' + (++this._counter) };
    this.buffer = null;
    this._send();
  };

  /** SEND the operation in flight, made on the current version (also a re-send). */
  SharedDoc.prototype._send = function () {
    var self = this;
    var inflight = this.inflight;
    this._lastSend = new Date().getTime();
    this._setStatus('saving');
    var body = this.client.envelope('DOC_OP', {
      docId: this.docId, version: this.version, opId: inflight.opId, op: inflight.op
    });
    this.client.send(this.destination, body, {
      onReceipt: noop,  // the acknowledgement is the operation coming back (its seq)
      onRejected: function (rejection) {
        if (self.inflight !== inflight) { return; }
        if (rejection.error === 'RATE_LIMITED' || rejection.error === 'UNAVAILABLE') {
          var after = (rejection.details && rejection.details.retryAfter) || 1;
          setTimeout(function () { if (self.inflight === inflight) { self._send(); } }, after * 1000);
          return;
        }
        self._onError({ error: rejection.error, message: rejection.message });
        self._resync('the server refused an edit: ' + rejection.message);
      },
      onError: function () {
        // The connection dropped before the answer: send it again (it waits in the
        // client's outbox until the next connection). The server knows its opId.
        if (self.inflight === inflight && !self._closed) { self._send(); }
      }
    });
  };

  SharedDoc.prototype.close = function () {
    this._closed = true;
    if (this._timer) { clearTimeout(this._timer); this._timer = null; }
    if (this._subscription) { this._subscription.unsubscribe(); this._subscription = null; }
  };

  /** True while local edits wait to be stored. */
  SharedDoc.prototype.pending = function () {
    return !!(this.inflight || this.buffer);
  };

  // ---- the <textarea> binding -------------------------------------------------------

  /**
   * Keep `textarea` and `doc` in step: what the user types becomes operations, and
   * remote operations update the box with the caret and selection moved as the text
   * around them moved (text inserted at the caret goes after it).
   */
  function bindTextarea(doc, textarea) {
    var previousChange = doc._onChange;
    var events = ['input', 'keyup', 'cut', 'paste', 'change'];

    function fromBox() {
      if (doc.version === null || textarea.value === doc.text) { return; }
      doc.replace(textarea.value);
    }

    function onChange(op, remote) {
      if (remote) {
        var value = textarea.value;
        var focused = typeof document !== 'undefined' && document.activeElement === textarea;
        var start = NexusText.toCodePoints(value, textarea.selectionStart || 0);
        var end = NexusText.toCodePoints(value, textarea.selectionEnd || 0);
        if (value !== doc.text) {
          textarea.value = doc.text;
          start = NexusText.transformIndex(start, op);
          end = NexusText.transformIndex(end, op);
          if (focused || textarea.selectionStart !== undefined) {
            textarea.selectionStart = NexusText.toUnits(doc.text, start);
            textarea.selectionEnd = NexusText.toUnits(doc.text, end);
          }
        }
        textarea.readOnly = false;
      }
      previousChange(op, remote);
    }

    doc._onChange = onChange;
    if (doc.version === null) { textarea.readOnly = true; } else { textarea.value = doc.text; }
    for (var i = 0; i < events.length; i++) {
      addListener(textarea, events[i], fromBox);
    }
    return {
      unbind: function () {
        doc._onChange = previousChange;
        for (var j = 0; j < events.length; j++) { removeListener(textarea, events[j], fromBox); }
      }
    };
  }

  function addListener(element, name, fn) {
    if (element.addEventListener) { element.addEventListener(name, fn, false); } else { element.attachEvent('on' + name, fn); }
  }

  function removeListener(element, name, fn) {
    if (element.removeEventListener) { element.removeEventListener(name, fn, false); } else { element.detachEvent('on' + name, fn); }
  }

  return {
    open: function (client, docId, options) { return new SharedDoc(client, docId, options); },
    bindTextarea: bindTextarea,
    SharedDoc: SharedDoc
  };
}));
