/*
 * nexus-messages.js: the messages of nexus-client.js, in and out, across connections.
 *
 * An internal part of the client, not an API of its own: pages load it with a plain
 * <script> tag right before nexus-client.js (it defines the one global
 * `NexusMessages`); under CommonJS or AMD, nexus-client.js requires it itself. ES5
 * (var, function, no modules), like the client, so that it runs as is in IE 9-11-era
 * browsers.
 *
 * nexus-client.js keeps a connection up (tokens, transports, back-off); this file keeps
 * the books on what travels over it, with no connection or timer of its own (the client
 * hands it the StompJs client of the moment):
 *  - SeqStore: the highest `seq` seen per destination and the `epoch` (the server's
 *    numbering) it belongs to, in localStorage so that it survives a page reload;
 *  - Subscriptions: the client's subscription records. Every SUBSCRIBE, the first and
 *    each one after a reconnect, carries `last-seq` and `epoch` so the server replays
 *    what was missed; every MESSAGE at or below that seq is dropped (a duplicate)
 *    unless the server says `seq-reset`; `gap-from`/`gap-to` (messages the server no
 *    longer retains) are reported; the new seq is stored and the body handed over;
 *  - Sends: every SEND asks for a receipt; sends made while disconnected wait in an
 *    outbox; each waits for its RECEIPT, or for the rejection on /user/queue/errors that
 *    names its receipt, and fails when the connection drops before either.
 */
(function (root, factory) {
  if (typeof define === 'function' && define.amd) {
    define([], factory);
  } else if (typeof module === 'object' && module.exports) {
    module.exports = factory();
  } else {
    root.NexusMessages = factory();
  }
}(typeof self !== 'undefined' ? self : this, function () {
  'use strict';

  /** At most this many sends wait for a connection. */
  var MAX_OUTBOX = 200;

  function noop() {}

  function has(object, key) { return Object.prototype.hasOwnProperty.call(object, key); }

  function extend(target) {
    for (var i = 1; i < arguments.length; i++) {
      var src = arguments[i];
      if (!src) { continue; }
      for (var k in src) {
        if (has(src, k)) { target[k] = src[k]; }
      }
    }
    return target;
  }

  // ---- subscriptions and where they resume ------------------------------------------

  /** localStorage wrapper that degrades to memory (private mode, quota, disabled). */
  function SeqStore(storage, prefix) {
    this._storage = storage;
    this._prefix = prefix;
    this._memory = {};
  }
  // A stored position is "<seq>" or "<seq>:<epoch>" (the epoch names the server's
  // numbering; seqs compare only within one epoch).
  SeqStore.prototype._raw = function (key) {
    var full = this._prefix + key;
    if (this._storage) {
      try {
        var v = this._storage.getItem(full);
        return (v !== null && v !== undefined && v !== '') ? String(v) : null;
      } catch (e) { /* fall through to memory */ }
    }
    return has(this._memory, full) ? this._memory[full] : null;
  };
  SeqStore.prototype.get = function (key) {
    var v = this._raw(key);
    if (v === null) { return null; }
    var n = parseInt(v, 10);
    return isNaN(n) ? null : n;
  };
  SeqStore.prototype.getEpoch = function (key) {
    var v = this._raw(key);
    var at = v === null ? -1 : v.indexOf(':');
    return at < 0 ? null : v.slice(at + 1);
  };
  SeqStore.prototype.set = function (key, value, epoch) {
    var full = this._prefix + key;
    var text = String(value) + (epoch ? ':' + epoch : '');
    this._memory[full] = text;
    if (this._storage) {
      try { this._storage.setItem(full, text); } catch (e) { /* memory only */ }
    }
  };
  SeqStore.prototype.remove = function (key) {
    var full = this._prefix + key;
    delete this._memory[full];
    if (this._storage) {
      try { this._storage.removeItem(full); } catch (e) { /* ignore */ }
    }
  };

  /**
   * The subscriptions of one client, kept across reconnects until unsubscribed.
   * `seqs` is a SeqStore; `hooks` are the client's: emit(event, data) for its 'reset',
   * 'duplicate' and 'gap' events, log(text), and userId() (stored positions are per
   * user: "<user>:<destination>").
   * @constructor
   */
  function Subscriptions(seqs, hooks) {
    this._seqs = seqs;
    this._hooks = hooks;
    this._records = {};       // id -> subscription record
    this._counter = 0;
  }

  Subscriptions.prototype._key = function (destination) {
    return (this._hooks.userId() || '?') + ':' + destination;
  };

  /** A new record (options as for NexusClient.prototype.subscribe). */
  Subscriptions.prototype.add = function (destination, onMessage, options) {
    var opts = options || {};
    var id = 'sub-' + (++this._counter);
    var record = {
      id: id,
      destination: destination,
      onMessage: onMessage || noop,
      ack: opts.ack || 'auto',
      since: opts.since === undefined ? 'stored' : opts.since,
      resume: opts.resume !== false,
      lastSeq: null,       // highest seq seen by this page
      epoch: null,         // the epoch of lastSeq (the server's numbering)
      resumed: false,      // true once subscribed at least once
      handle: null         // the StompJs subscription of the current connection
    };
    this._records[id] = record;
    return record;
  };

  /** Forget the record `id`; returns it (null when there was none). */
  Subscriptions.prototype.remove = function (id) {
    var record = has(this._records, id) ? this._records[id] : null;
    delete this._records[id];
    return record;
  };

  /** fn(record) for every record, in the order they were added. */
  Subscriptions.prototype.each = function (fn) {
    for (var id in this._records) {
      if (has(this._records, id)) { fn(this._records[id]); }
    }
  };

  /** Forget the stored last seq of `destination`. */
  Subscriptions.prototype.forget = function (destination) {
    this._seqs.remove(this._key(destination));
  };

  /** The highest seq seen on `destination` (by a record or stored), or null. */
  Subscriptions.prototype.lastSeq = function (destination) {
    for (var id in this._records) {
      if (has(this._records, id)) {
        var r = this._records[id];
        if (r.destination === destination && r.lastSeq !== null) { return r.lastSeq; }
      }
    }
    return this._seqs.get(this._key(destination));
  };

  /** The epoch of lastSeq(destination) (the server's numbering it belongs to), or null. */
  Subscriptions.prototype.lastEpoch = function (destination) {
    for (var id in this._records) {
      if (has(this._records, id)) {
        var r = this._records[id];
        if (r.destination === destination && r.lastSeq !== null) { return r.epoch; }
      }
    }
    return this._seqs.getEpoch(this._key(destination));
  };

  /** SUBSCRIBE `record` on `stomp` (a connected StompJs.Client), resuming where it was. */
  Subscriptions.prototype.open = function (stomp, record) {
    var self = this;
    var headers = { id: record.id, ack: record.ack };
    var after = null;
    var epoch = record.epoch;
    if (!record.resume) {
      after = null;
    } else if (record.resumed || record.lastSeq !== null) {
      after = record.lastSeq;
    } else if (record.since === 'stored') {
      after = this._seqs.get(this._key(record.destination));
      epoch = this._seqs.getEpoch(this._key(record.destination));
    } else if (typeof record.since === 'number') {
      after = record.since;
    }
    if (after !== null) {
      headers['last-seq'] = String(after);
      if (epoch) { headers.epoch = epoch; }
      record.epoch = epoch;
      // Everything at or below `after` counts as seen from now on.
      if (record.lastSeq === null || record.lastSeq < after) { record.lastSeq = after; }
    } else if (!record.resume) {
      record.lastSeq = null;  // a fresh start: the snapshot and live messages
    }
    record.resumed = true;
    record.handle = stomp.subscribe(record.destination, function (message) {
      self.receive(record, message);
    }, headers);
  };

  /** A MESSAGE for `record`: ack, de-duplicate, note resets and gaps, hand it over. */
  Subscriptions.prototype.receive = function (record, message) {
    if (this._records[record.id] !== record) { return; }  // unsubscribed meanwhile
    var hooks = this._hooks;
    var headers = message.headers || {};
    var seq = headers.seq !== undefined ? parseInt(headers.seq, 10) : NaN;
    if (record.ack !== 'auto') {
      try { message.ack(); } catch (e) { /* connection gone; it will come again */ }
    }
    if (headers['seq-reset'] !== undefined) {
      // The server's numbering started again (its in-memory store was restarted, or
      // a new database): numbers seen before say nothing about this message.
      record.lastSeq = null;
      record.epoch = null;
      hooks.emit('reset', { destination: record.destination, seq: seq });
    }
    if (!isNaN(seq) && record.lastSeq !== null && seq <= record.lastSeq) {
      hooks.emit('duplicate', { destination: record.destination, seq: seq });
      return;
    }
    var gap = null;
    if (headers['gap-from'] !== undefined) {
      gap = { destination: record.destination,
              from: parseInt(headers['gap-from'], 10),
              to: parseInt(headers['gap-to'], 10) };
      hooks.emit('gap', gap);
    }
    if (!isNaN(seq)) {
      record.lastSeq = seq;
      if (headers.epoch !== undefined) { record.epoch = headers.epoch; }
      this._seqs.set(this._key(record.destination), seq, record.epoch);
    }
    var body = message.body;
    try { body = JSON.parse(message.body); } catch (e) { /* not JSON: hand over the text */ }
    try {
      record.onMessage(body, {
        destination: record.destination,
        seq: isNaN(seq) ? null : seq,
        messageId: headers['message-id'] || null,
        headers: headers,
        gap: gap
      });
    } catch (e) {
      hooks.log('message handler for ' + record.destination + ' failed: ' + e);
    }
  };

  // ---- sends and the server's answers -----------------------------------------------

  /**
   * The client's sends, each with a receipt, from the SEND until the server's answer.
   * `random()` (the client's option) makes receipt ids unique across page loads.
   * @constructor
   */
  function Sends(random) {
    this._random = random;
    this._counter = 0;
    this._pending = {};       // receipt id -> {onReceipt, onRejected, onError}
    this._outbox = [];        // sends made while not connected
  }

  /**
   * SEND on `stomp` (a connected StompJs.Client), or, when it is null, keep it in the
   * outbox for the next connection (options as for NexusClient.prototype.send).
   * Returns the receipt id.
   */
  Sends.prototype.send = function (stomp, destination, body, callbacks, headers) {
    var item = {
      destination: destination,
      body: typeof body === 'string' ? body : JSON.stringify(body),
      headers: extend({}, headers || {}),
      callbacks: callbacks || {},
      receipt: 'r-' + (++this._counter) + '-' + Math.floor(this._random() * 1e9).toString(36)
    };
    if (stomp) {
      this._publish(stomp, item);
    } else if (this._outbox.length < MAX_OUTBOX) {
      this._outbox.push(item);
    } else {
      (item.callbacks.onError || noop)({ error: 'OUTBOX_FULL', message: 'too many messages waiting for a connection' });
    }
    return item.receipt;
  };

  /** SEND on `stomp`, just connected, what waited in the outbox. */
  Sends.prototype.flush = function (stomp) {
    var outbox = this._outbox;
    this._outbox = [];
    for (var i = 0; i < outbox.length; i++) { this._publish(stomp, outbox[i]); }
  };

  Sends.prototype._publish = function (stomp, item) {
    var self = this;
    var headers = extend({ 'content-type': 'application/json' }, item.headers, { receipt: item.receipt });
    this._pending[item.receipt] = item.callbacks;
    stomp.watchForReceipt(item.receipt, function () {
      var cb = self._pending[item.receipt];
      delete self._pending[item.receipt];
      if (cb && cb.onReceipt) { cb.onReceipt(); }
    });
    stomp.publish({ destination: item.destination, body: item.body, headers: headers });
  };

  /** The connection is gone: every send still waiting for an answer gets onError. */
  Sends.prototype.failPending = function (text) {
    var pending = this._pending;
    this._pending = {};
    for (var r in pending) {
      if (has(pending, r) && pending[r].onError) {
        pending[r].onError({ error: 'UNCONFIRMED', message: text, receiptId: r });
      }
    }
  };

  /**
   * A MESSAGE from /user/queue/errors as a rejection {error, message, details,
   * trackingId, receiptId}, given first to the onRejected of the send it names.
   */
  Sends.prototype.reject = function (message) {
    var data;
    try { data = JSON.parse(message.body); } catch (e) { data = { error: 'SERVER_ERROR', message: message.body }; }
    var rejection = {
      error: data.error || 'SERVER_ERROR',
      message: data.message || '',
      details: data.details || {},
      trackingId: data.trackingId || null,
      receiptId: message.headers['receipt-id'] || null
    };
    if (rejection.receiptId && this._pending[rejection.receiptId]) {
      var cb = this._pending[rejection.receiptId];
      delete this._pending[rejection.receiptId];
      if (cb.onRejected) { cb.onRejected(rejection); }
    }
    return rejection;
  };

  return { SeqStore: SeqStore, Subscriptions: Subscriptions, Sends: Sends };
}));
