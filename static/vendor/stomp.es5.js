/*! @stomp/stompjs 7.5.0 (Apache-2.0, see LICENSE.stompjs), transpiled to ES5 by scripts/refresh-vendor.sh */
function _callSuper(t, o, e) { return o = _getPrototypeOf(o), _possibleConstructorReturn(t, _isNativeReflectConstruct() ? Reflect.construct(o, e || [], _getPrototypeOf(t).constructor) : o.apply(t, e)); }
function _possibleConstructorReturn(t, e) { if (e && ("object" == _typeof(e) || "function" == typeof e)) return e; if (void 0 !== e) throw new TypeError("Derived constructors may only return object or undefined"); return _assertThisInitialized(t); }
function _assertThisInitialized(e) { if (void 0 === e) throw new ReferenceError("this hasn't been initialised - super() hasn't been called"); return e; }
function _isNativeReflectConstruct() { try { var t = !Boolean.prototype.valueOf.call(Reflect.construct(Boolean, [], function () {})); } catch (t) {} return (_isNativeReflectConstruct = function _isNativeReflectConstruct() { return !!t; })(); }
function _superPropGet(t, o, e, r) { var p = _get(_getPrototypeOf(1 & r ? t.prototype : t), o, e); return 2 & r && "function" == typeof p ? function (t) { return p.apply(e, t); } : p; }
function _get() { return _get = "undefined" != typeof Reflect && Reflect.get ? Reflect.get.bind() : function (e, t, r) { var p = _superPropBase(e, t); if (p) { var n = Object.getOwnPropertyDescriptor(p, t); return n.get ? n.get.call(arguments.length < 3 ? e : r) : n.value; } }, _get.apply(null, arguments); }
function _superPropBase(t, o) { for (; !{}.hasOwnProperty.call(t, o) && null !== (t = _getPrototypeOf(t));); return t; }
function _getPrototypeOf(t) { return _getPrototypeOf = Object.setPrototypeOf ? Object.getPrototypeOf.bind() : function (t) { return t.__proto__ || Object.getPrototypeOf(t); }, _getPrototypeOf(t); }
function _inherits(t, e) { if ("function" != typeof e && null !== e) throw new TypeError("Super expression must either be null or a function"); t.prototype = Object.create(e && e.prototype, { constructor: { value: t, writable: !0, configurable: !0 } }), Object.defineProperty(t, "prototype", { writable: !1 }), e && _setPrototypeOf(t, e); }
function _setPrototypeOf(t, e) { return _setPrototypeOf = Object.setPrototypeOf ? Object.setPrototypeOf.bind() : function (t, e) { return t.__proto__ = e, t; }, _setPrototypeOf(t, e); }
function _regenerator() { /*! regenerator-runtime -- Copyright (c) 2014-present, Facebook, Inc. -- license (MIT): https://github.com/babel/babel/blob/main/packages/babel-helpers/LICENSE */ var e, t, r = "function" == typeof Symbol ? Symbol : {}, n = r.iterator || "@@iterator", o = r.toStringTag || "@@toStringTag"; function i(r, n, o, i) { var c = n && n.prototype instanceof Generator ? n : Generator, u = Object.create(c.prototype); return _regeneratorDefine2(u, "_invoke", function (r, n, o) { var i, c, u, f = 0, p = o || [], y = !1, G = { p: 0, n: 0, v: e, a: d, f: d.bind(e, 4), d: function d(t, r) { return i = t, c = 0, u = e, G.n = r, a; } }; function d(r, n) { for (c = r, u = n, t = 0; !y && f && !o && t < p.length; t++) { var o, i = p[t], d = G.p, l = i[2]; r > 3 ? (o = l === n) && (u = i[(c = i[4]) ? 5 : (c = 3, 3)], i[4] = i[5] = e) : i[0] <= d && ((o = r < 2 && d < i[1]) ? (c = 0, G.v = n, G.n = i[1]) : d < l && (o = r < 3 || i[0] > n || n > l) && (i[4] = r, i[5] = n, G.n = l, c = 0)); } if (o || r > 1) return a; throw y = !0, n; } return function (o, p, l) { if (f > 1) throw TypeError("Generator is already running"); for (y && 1 === p && d(p, l), c = p, u = l; (t = c < 2 ? e : u) || !y;) { i || (c ? (c > 1 && (G.n = c < 3 ? -1 : u), d(c, u)) : G.v = u); try { if (f = 2, i) { if (c || (o = "next"), t = i[o]) { if (!(t = t.call(i, u))) throw TypeError("iterator result is not an object"); if (!t.done) return t; u = t.value, c < 2 && (c = 0); } else 1 === c && (t = i["return"]) && t.call(i), c < 2 && (u = TypeError("The iterator does not provide a '" + o + "' method"), c = 1); i = e; } else if ((t = (y = G.n < 0) ? u : r.call(n, G)) !== a) break; } catch (t) { i = e, c = 1, u = t; } finally { f = 1; } } return { value: t, done: y }; }; }(r, o, i), !0), u; } var a = {}; function Generator() {} function GeneratorFunction() {} function GeneratorFunctionPrototype() {} t = Object.getPrototypeOf; var c = [][n] ? t(t([][n]())) : (_regeneratorDefine2(t = {}, n, function () { return this; }), t), u = GeneratorFunctionPrototype.prototype = Generator.prototype = Object.create(c); function f(e) { return Object.setPrototypeOf ? Object.setPrototypeOf(e, GeneratorFunctionPrototype) : (e.__proto__ = GeneratorFunctionPrototype, _regeneratorDefine2(e, o, "GeneratorFunction")), e.prototype = Object.create(u), e; } return GeneratorFunction.prototype = GeneratorFunctionPrototype, _regeneratorDefine2(u, "constructor", GeneratorFunctionPrototype), _regeneratorDefine2(GeneratorFunctionPrototype, "constructor", GeneratorFunction), GeneratorFunction.displayName = "GeneratorFunction", _regeneratorDefine2(GeneratorFunctionPrototype, o, "GeneratorFunction"), _regeneratorDefine2(u), _regeneratorDefine2(u, o, "Generator"), _regeneratorDefine2(u, n, function () { return this; }), _regeneratorDefine2(u, "toString", function () { return "[object Generator]"; }), (_regenerator = function _regenerator() { return { w: i, m: f }; })(); }
function _regeneratorDefine2(e, r, n, t) { var i = Object.defineProperty; try { i({}, "", {}); } catch (e) { i = 0; } _regeneratorDefine2 = function _regeneratorDefine(e, r, n, t) { function o(r, n) { _regeneratorDefine2(e, r, function (e) { return this._invoke(r, n, e); }); } r ? i ? i(e, r, { value: n, enumerable: !t, configurable: !t, writable: !t }) : e[r] = n : (o("next", 0), o("throw", 1), o("return", 2)); }, _regeneratorDefine2(e, r, n, t); }
function asyncGeneratorStep(n, t, e, r, o, a, c) { try { var i = n[a](c), u = i.value; } catch (n) { return void e(n); } i.done ? t(u) : Promise.resolve(u).then(r, o); }
function _asyncToGenerator(n) { return function () { var t = this, e = arguments; return new Promise(function (r, o) { var a = n.apply(t, e); function _next(n) { asyncGeneratorStep(a, r, o, _next, _throw, "next", n); } function _throw(n) { asyncGeneratorStep(a, r, o, _next, _throw, "throw", n); } _next(void 0); }); }; }
function _createForOfIteratorHelper(r, e) { var t = "undefined" != typeof Symbol && r[Symbol.iterator] || r["@@iterator"]; if (!t) { if (Array.isArray(r) || (t = _unsupportedIterableToArray(r)) || e && r && "number" == typeof r.length) { t && (r = t); var _n = 0, F = function F() {}; return { s: F, n: function n() { return _n >= r.length ? { done: !0 } : { done: !1, value: r[_n++] }; }, e: function e(r) { throw r; }, f: F }; } throw new TypeError("Invalid attempt to iterate non-iterable instance.\nIn order to be iterable, non-array objects must have a [Symbol.iterator]() method."); } var o, a = !0, u = !1; return { s: function s() { t = t.call(r); }, n: function n() { var r = t.next(); return a = r.done, r; }, e: function e(r) { u = !0, o = r; }, f: function f() { try { a || null == t["return"] || t["return"](); } finally { if (u) throw o; } } }; }
function _unsupportedIterableToArray(r, a) { if (r) { if ("string" == typeof r) return _arrayLikeToArray(r, a); var t = {}.toString.call(r).slice(8, -1); return "Object" === t && r.constructor && (t = r.constructor.name), "Map" === t || "Set" === t ? Array.from(r) : "Arguments" === t || /^(?:Ui|I)nt(?:8|16|32)(?:Clamped)?Array$/.test(t) ? _arrayLikeToArray(r, a) : void 0; } }
function _arrayLikeToArray(r, a) { (null == a || a > r.length) && (a = r.length); for (var e = 0, n = Array(a); e < a; e++) n[e] = r[e]; return n; }
function _extends() { return _extends = Object.assign ? Object.assign.bind() : function (n) { for (var e = 1; e < arguments.length; e++) { var t = arguments[e]; for (var r in t) ({}).hasOwnProperty.call(t, r) && (n[r] = t[r]); } return n; }, _extends.apply(null, arguments); }
function _classCallCheck(a, n) { if (!(a instanceof n)) throw new TypeError("Cannot call a class as a function"); }
function _defineProperties(e, r) { for (var t = 0; t < r.length; t++) { var o = r[t]; o.enumerable = o.enumerable || !1, o.configurable = !0, "value" in o && (o.writable = !0), Object.defineProperty(e, _toPropertyKey(o.key), o); } }
function _createClass(e, r, t) { return r && _defineProperties(e.prototype, r), t && _defineProperties(e, t), Object.defineProperty(e, "prototype", { writable: !1 }), e; }
function _toPropertyKey(t) { var i = _toPrimitive(t, "string"); return "symbol" == _typeof(i) ? i : i + ""; }
function _toPrimitive(t, e) { if ("object" != _typeof(t) || !t) return t; var r; if ("undefined" != typeof Symbol && void 0 !== (r = t[Symbol.toPrimitive])) { var i = r.call(t, e || "default"); if ("object" != _typeof(i)) return i; throw new TypeError("@@toPrimitive must return a primitive value."); } return ("string" === e ? String : Number)(t); }
function _typeof(o) { "@babel/helpers - typeof"; return _typeof = "function" == typeof Symbol && "symbol" == typeof Symbol.iterator ? function (o) { return typeof o; } : function (o) { return o && "function" == typeof Symbol && o.constructor === Symbol && o !== Symbol.prototype ? "symbol" : typeof o; }, _typeof(o); }
(function (global, factory) {
  (typeof exports === "undefined" ? "undefined" : _typeof(exports)) === 'object' && typeof module !== 'undefined' ? factory(exports) : typeof define === 'function' && define.amd ? define(['exports'], factory) : (global = typeof globalThis !== 'undefined' ? globalThis : global || self, factory(global.StompJs = {}));
})(this, function (exports) {
  'use strict';

  /**
   * @internal
   */
  function augmentWebsocket(webSocket, debug) {
    webSocket.terminate = function () {
      var noOp = function noOp() {};
      // set all callbacks to no op
      this.onerror = noOp;
      this.onmessage = noOp;
      this.onopen = noOp;
      var ts = new Date();
      var id = Math.random().toString().substring(2, 8); // A simulated id
      var origOnClose = this.onclose;
      // Track delay in actual closure of the socket
      this.onclose = function (closeEvent) {
        var delay = new Date().getTime() - ts.getTime();
        debug("Discarded socket (#".concat(id, ")  closed after ").concat(delay, "ms, with code/reason: ").concat(closeEvent.code, "/").concat(closeEvent.reason));
      };
      this.close();
      origOnClose === null || origOnClose === void 0 || origOnClose.call(webSocket, {
        code: 4001,
        reason: "Quick discarding socket (#".concat(id, ") without waiting for the shutdown sequence."),
        wasClean: false
      });
    };
  }

  /**
   * Some byte values, used as per STOMP specifications.
   *
   * Part of `@stomp/stompjs`.
   *
   * @internal
   */
  var BYTE = {
    // LINEFEED byte (octet 10)
    LF: '\x0A',
    // NULL byte (octet 0)
    NULL: '\x00'
  };

  /**
   * Frame class represents a STOMP frame.
   *
   * @internal
   */
  var FrameImpl = /*#__PURE__*/function () {
    /**
     * Frame constructor. `command`, `headers` and `body` are available as properties.
     *
     * @internal
     */
    function FrameImpl(params) {
      _classCallCheck(this, FrameImpl);
      var command = params.command,
        headers = params.headers,
        body = params.body,
        binaryBody = params.binaryBody,
        escapeHeaderValues = params.escapeHeaderValues,
        skipContentLengthHeader = params.skipContentLengthHeader;
      this.command = command;
      this.headers = _extends({}, headers || {});
      if (binaryBody) {
        this._binaryBody = binaryBody;
        this.isBinaryBody = true;
      } else {
        this._body = body || '';
        this.isBinaryBody = false;
      }
      this.escapeHeaderValues = escapeHeaderValues || false;
      this.skipContentLengthHeader = skipContentLengthHeader || false;
    }
    /**
     * deserialize a STOMP Frame from raw data.
     *
     * @internal
     */
    return _createClass(FrameImpl, [{
      key: "body",
      get:
      /**
       * body of the frame
       */
      function get() {
        if (!this._body && this.isBinaryBody) {
          this._body = new TextDecoder().decode(this._binaryBody);
        }
        return this._body || '';
      }
      /**
       * body as Uint8Array
       */
    }, {
      key: "binaryBody",
      get: function get() {
        if (!this._binaryBody && !this.isBinaryBody) {
          this._binaryBody = new TextEncoder().encode(this._body);
        }
        // At this stage it will definitely have a valid value
        return this._binaryBody;
      }
    }, {
      key: "toString",
      value:
      /**
       * @internal
       */
      function toString() {
        return this.serializeCmdAndHeaders();
      }
      /**
       * serialize this Frame in a format suitable to be passed to WebSocket.
       * If the body is string the output will be string.
       * If the body is binary (i.e. of type Unit8Array) it will be serialized to ArrayBuffer.
       *
       * @internal
       */
    }, {
      key: "serialize",
      value: function serialize() {
        var cmdAndHeaders = this.serializeCmdAndHeaders();
        if (this.isBinaryBody) {
          return FrameImpl.toUnit8Array(cmdAndHeaders, this._binaryBody).buffer;
        } else {
          return cmdAndHeaders + this._body + BYTE.NULL;
        }
      }
    }, {
      key: "serializeCmdAndHeaders",
      value: function serializeCmdAndHeaders() {
        var lines = [this.command];
        if (this.skipContentLengthHeader) {
          delete this.headers['content-length'];
        }
        for (var _i = 0, _Object$keys = Object.keys(this.headers || {}); _i < _Object$keys.length; _i++) {
          var name = _Object$keys[_i];
          var value = this.headers[name];
          if (this.escapeHeaderValues && this.command !== 'CONNECT' && this.command !== 'CONNECTED') {
            lines.push("".concat(name, ":").concat(FrameImpl.hdrValueEscape("".concat(value))));
          } else {
            lines.push("".concat(name, ":").concat(value));
          }
        }
        if (this.isBinaryBody || !this.isBodyEmpty() && !this.skipContentLengthHeader) {
          lines.push("content-length:".concat(this.bodyLength()));
        }
        return lines.join(BYTE.LF) + BYTE.LF + BYTE.LF;
      }
    }, {
      key: "isBodyEmpty",
      value: function isBodyEmpty() {
        return this.bodyLength() === 0;
      }
    }, {
      key: "bodyLength",
      value: function bodyLength() {
        var binaryBody = this.binaryBody;
        return binaryBody ? binaryBody.length : 0;
      }
    }], [{
      key: "fromRawFrame",
      value: function fromRawFrame(rawFrame, escapeHeaderValues) {
        var headers = {};
        var trim = function trim(str) {
          return str.replace(/^\s+|\s+$/g, '');
        };
        // In case of repeated headers, as per standards, first value need to be used
        var _iterator = _createForOfIteratorHelper(rawFrame.headers.reverse()),
          _step;
        try {
          for (_iterator.s(); !(_step = _iterator.n()).done;) {
            var header = _step.value;
            var key = trim(header[0]);
            var value = trim(header[1]);
            if (escapeHeaderValues && rawFrame.command !== 'CONNECT' && rawFrame.command !== 'CONNECTED') {
              value = FrameImpl.hdrValueUnEscape(value);
            }
            headers[key] = value;
          }
        } catch (err) {
          _iterator.e(err);
        } finally {
          _iterator.f();
        }
        return new FrameImpl({
          command: rawFrame.command,
          headers: headers,
          binaryBody: rawFrame.binaryBody,
          escapeHeaderValues: escapeHeaderValues
        });
      }
    }, {
      key: "toUnit8Array",
      value: function toUnit8Array(cmdAndHeaders, binaryBody) {
        var uint8CmdAndHeaders = new TextEncoder().encode(cmdAndHeaders);
        var nullTerminator = new Uint8Array([0]);
        var uint8Frame = new Uint8Array(uint8CmdAndHeaders.length + binaryBody.length + nullTerminator.length);
        uint8Frame.set(uint8CmdAndHeaders);
        uint8Frame.set(binaryBody, uint8CmdAndHeaders.length);
        uint8Frame.set(nullTerminator, uint8CmdAndHeaders.length + binaryBody.length);
        return uint8Frame;
      }
      /**
       * Serialize a STOMP frame as per STOMP standards, suitable to be sent to the STOMP broker.
       *
       * @internal
       */
    }, {
      key: "marshall",
      value: function marshall(params) {
        var frame = new FrameImpl(params);
        return frame.serialize();
      }
      /**
       *  Escape header values
       */
    }, {
      key: "hdrValueEscape",
      value: function hdrValueEscape(str) {
        return str.replace(/\\/g, '\\\\').replace(/\r/g, '\\r').replace(/\n/g, '\\n').replace(/:/g, '\\c');
      }
      /**
       * UnEscape header values
       */
    }, {
      key: "hdrValueUnEscape",
      value: function hdrValueUnEscape(str) {
        return str.replace(/\\r/g, '\r').replace(/\\n/g, '\n').replace(/\\c/g, ':').replace(/\\\\/g, '\\');
      }
    }]);
  }();
  /**
   * @internal
   */
  var NULL = 0;
  /**
   * @internal
   */
  var LF = 10;
  /**
   * @internal
   */
  var CR = 13;
  /**
   * @internal
   */
  var COLON = 58;
  /**
   * This is an evented, rec descent parser.
   * A stream of Octets can be passed and whenever it recognizes
   * a complete Frame or an incoming ping it will invoke the registered callbacks.
   *
   * All incoming Octets are fed into _onByte function.
   * Depending on current state the _onByte function keeps changing.
   * Depending on the state it keeps accumulating into _token and _results.
   * State is indicated by current value of _onByte, all states are named as _collect.
   *
   * STOMP standards https://stomp.github.io/stomp-specification-1.2.html
   * imply that all lengths are considered in bytes (instead of string lengths).
   * So, before actual parsing, if the incoming data is String it is converted to Octets.
   * This allows faithful implementation of the protocol and allows NULL Octets to be present in the body.
   *
   * There is no peek function on the incoming data.
   * When a state change occurs based on an Octet without consuming the Octet,
   * the Octet, after state change, is fed again (_reinjectByte).
   * This became possible as the state change can be determined by inspecting just one Octet.
   *
   * There are two modes to collect the body, if content-length header is there then it by counting Octets
   * otherwise it is determined by NULL terminator.
   *
   * Following the standards, the command and headers are converted to Strings
   * and the body is returned as Octets.
   * Headers are returned as an array and not as Hash - to allow multiple occurrence of an header.
   *
   * This parser does not use Regular Expressions as that can only operate on Strings.
   *
   * It handles if multiple STOMP frames are given as one chunk, a frame is split into multiple chunks, or
   * any combination there of. The parser remembers its state (any partial frame) and continues when a new chunk
   * is pushed.
   *
   * Typically the higher level function will convert headers to Hash, handle unescaping of header values
   * (which is protocol version specific), and convert body to text.
   *
   * Check the parser.spec.js to understand cases that this parser is supposed to handle.
   *
   * Part of `@stomp/stompjs`.
   *
   * @internal
   */
  var Parser = /*#__PURE__*/function () {
    function Parser(onFrame, onIncomingPing) {
      _classCallCheck(this, Parser);
      this.onFrame = onFrame;
      this.onIncomingPing = onIncomingPing;
      this._encoder = new TextEncoder();
      this._decoder = new TextDecoder();
      this._token = [];
      this._initState();
    }
    return _createClass(Parser, [{
      key: "parseChunk",
      value: function parseChunk(segment) {
        var appendMissingNULLonIncoming = arguments.length > 1 && arguments[1] !== undefined ? arguments[1] : false;
        var chunk;
        if (typeof segment === 'string') {
          chunk = this._encoder.encode(segment);
        } else {
          chunk = new Uint8Array(segment);
        }
        // See https://github.com/stomp-js/stompjs/issues/89
        // Remove when underlying issue is fixed.
        //
        // Send a NULL byte, if the last byte of a Text frame was not NULL.F
        if (appendMissingNULLonIncoming && chunk[chunk.length - 1] !== 0) {
          var chunkWithNull = new Uint8Array(chunk.length + 1);
          chunkWithNull.set(chunk, 0);
          chunkWithNull[chunk.length] = 0;
          chunk = chunkWithNull;
        }
        var _iterator2 = _createForOfIteratorHelper(chunk),
          _step2;
        try {
          for (_iterator2.s(); !(_step2 = _iterator2.n()).done;) {
            var _byte = _step2.value;
            this._onByte(_byte);
          }
        } catch (err) {
          _iterator2.e(err);
        } finally {
          _iterator2.f();
        }
      }
      // The following implements a simple Rec Descent Parser.
      // The grammar is simple and just one byte tells what should be the next state
    }, {
      key: "_collectFrame",
      value: function _collectFrame(_byte2) {
        if (_byte2 === NULL) {
          // Ignore
          return;
        }
        if (_byte2 === CR) {
          // Ignore CR
          return;
        }
        if (_byte2 === LF) {
          // Incoming Ping
          this.onIncomingPing();
          return;
        }
        this._onByte = this._collectCommand;
        this._reinjectByte(_byte2);
      }
    }, {
      key: "_collectCommand",
      value: function _collectCommand(_byte3) {
        if (_byte3 === CR) {
          // Ignore CR
          return;
        }
        if (_byte3 === LF) {
          this._results.command = this._consumeTokenAsUTF8();
          this._onByte = this._collectHeaders;
          return;
        }
        this._consumeByte(_byte3);
      }
    }, {
      key: "_collectHeaders",
      value: function _collectHeaders(_byte4) {
        if (_byte4 === CR) {
          // Ignore CR
          return;
        }
        if (_byte4 === LF) {
          this._setupCollectBody();
          return;
        }
        this._onByte = this._collectHeaderKey;
        this._reinjectByte(_byte4);
      }
    }, {
      key: "_reinjectByte",
      value: function _reinjectByte(_byte5) {
        this._onByte(_byte5);
      }
    }, {
      key: "_collectHeaderKey",
      value: function _collectHeaderKey(_byte6) {
        if (_byte6 === COLON) {
          this._headerKey = this._consumeTokenAsUTF8();
          this._onByte = this._collectHeaderValue;
          return;
        }
        this._consumeByte(_byte6);
      }
    }, {
      key: "_collectHeaderValue",
      value: function _collectHeaderValue(_byte7) {
        if (_byte7 === CR) {
          // Ignore CR
          return;
        }
        if (_byte7 === LF) {
          this._results.headers.push([this._headerKey, this._consumeTokenAsUTF8()]);
          this._headerKey = undefined;
          this._onByte = this._collectHeaders;
          return;
        }
        this._consumeByte(_byte7);
      }
    }, {
      key: "_setupCollectBody",
      value: function _setupCollectBody() {
        var contentLengthHeader = this._results.headers.filter(function (header) {
          return header[0] === 'content-length';
        })[0];
        if (contentLengthHeader) {
          this._bodyBytesRemaining = parseInt(contentLengthHeader[1], 10);
          this._onByte = this._collectBodyFixedSize;
        } else {
          this._onByte = this._collectBodyNullTerminated;
        }
      }
    }, {
      key: "_collectBodyNullTerminated",
      value: function _collectBodyNullTerminated(_byte8) {
        if (_byte8 === NULL) {
          this._retrievedBody();
          return;
        }
        this._consumeByte(_byte8);
      }
    }, {
      key: "_collectBodyFixedSize",
      value: function _collectBodyFixedSize(_byte9) {
        // It is post decrement, so that we discard the trailing NULL octet
        if (this._bodyBytesRemaining-- === 0) {
          this._retrievedBody();
          return;
        }
        this._consumeByte(_byte9);
      }
    }, {
      key: "_retrievedBody",
      value: function _retrievedBody() {
        this._results.binaryBody = this._consumeTokenAsRaw();
        try {
          this.onFrame(this._results);
        } catch (e) {
          console.log("Ignoring an exception thrown by a frame handler. Original exception: ", e);
        }
        this._initState();
      }
      // Rec Descent Parser helpers
    }, {
      key: "_consumeByte",
      value: function _consumeByte(_byte0) {
        this._token.push(_byte0);
      }
    }, {
      key: "_consumeTokenAsUTF8",
      value: function _consumeTokenAsUTF8() {
        return this._decoder.decode(this._consumeTokenAsRaw());
      }
    }, {
      key: "_consumeTokenAsRaw",
      value: function _consumeTokenAsRaw() {
        var rawResult = new Uint8Array(this._token);
        this._token = [];
        return rawResult;
      }
    }, {
      key: "_initState",
      value: function _initState() {
        this._results = {
          command: undefined,
          headers: [],
          binaryBody: undefined
        };
        this._token = [];
        this._headerKey = undefined;
        this._onByte = this._collectFrame;
      }
    }]);
  }();
  /**
   * Possible states for the IStompSocket
   */
  exports.StompSocketState = void 0;
  (function (StompSocketState) {
    StompSocketState[StompSocketState["CONNECTING"] = 0] = "CONNECTING";
    StompSocketState[StompSocketState["OPEN"] = 1] = "OPEN";
    StompSocketState[StompSocketState["CLOSING"] = 2] = "CLOSING";
    StompSocketState[StompSocketState["CLOSED"] = 3] = "CLOSED";
  })(exports.StompSocketState || (exports.StompSocketState = {}));
  /**
   * Possible activation state
   */
  exports.ActivationState = void 0;
  (function (ActivationState) {
    ActivationState[ActivationState["ACTIVE"] = 0] = "ACTIVE";
    ActivationState[ActivationState["DEACTIVATING"] = 1] = "DEACTIVATING";
    ActivationState[ActivationState["INACTIVE"] = 2] = "INACTIVE";
  })(exports.ActivationState || (exports.ActivationState = {}));
  /**
   * Possible reconnection wait time modes
   */
  exports.ReconnectionTimeMode = void 0;
  (function (ReconnectionTimeMode) {
    ReconnectionTimeMode[ReconnectionTimeMode["LINEAR"] = 0] = "LINEAR";
    ReconnectionTimeMode[ReconnectionTimeMode["EXPONENTIAL"] = 1] = "EXPONENTIAL";
  })(exports.ReconnectionTimeMode || (exports.ReconnectionTimeMode = {}));
  /**
   * Possible ticker strategies for outgoing heartbeat ping
   */
  exports.TickerStrategy = void 0;
  (function (TickerStrategy) {
    TickerStrategy["Interval"] = "interval";
    TickerStrategy["Worker"] = "worker";
  })(exports.TickerStrategy || (exports.TickerStrategy = {}));
  var Ticker = /*#__PURE__*/function () {
    function Ticker(_interval) {
      var _strategy = arguments.length > 1 && arguments[1] !== undefined ? arguments[1] : exports.TickerStrategy.Interval;
      var _debug = arguments.length > 2 ? arguments[2] : undefined;
      _classCallCheck(this, Ticker);
      this._interval = _interval;
      this._strategy = _strategy;
      this._debug = _debug;
      this._workerScript = "\n    var startTime = Date.now();\n    setInterval(function() {\n        self.postMessage(Date.now() - startTime);\n    }, ".concat(this._interval, ");\n  ");
    }
    return _createClass(Ticker, [{
      key: "start",
      value: function start(tick) {
        this.stop();
        if (this.shouldUseWorker()) {
          this.runWorker(tick);
        } else {
          this.runInterval(tick);
        }
      }
    }, {
      key: "stop",
      value: function stop() {
        this.disposeWorker();
        this.disposeInterval();
      }
    }, {
      key: "shouldUseWorker",
      value: function shouldUseWorker() {
        return typeof Worker !== 'undefined' && this._strategy === exports.TickerStrategy.Worker;
      }
    }, {
      key: "runWorker",
      value: function runWorker(tick) {
        this._debug('Using runWorker for outgoing pings');
        if (!this._worker) {
          this._worker = new Worker(URL.createObjectURL(new Blob([this._workerScript], {
            type: 'text/javascript'
          })));
          this._worker.onmessage = function (message) {
            return tick(message.data);
          };
        }
      }
    }, {
      key: "runInterval",
      value: function runInterval(tick) {
        this._debug('Using runInterval for outgoing pings');
        if (!this._timer) {
          var startTime = Date.now();
          this._timer = setInterval(function () {
            tick(Date.now() - startTime);
          }, this._interval);
        }
      }
    }, {
      key: "disposeWorker",
      value: function disposeWorker() {
        if (this._worker) {
          this._worker.terminate();
          delete this._worker;
          this._debug('Outgoing ping disposeWorker');
        }
      }
    }, {
      key: "disposeInterval",
      value: function disposeInterval() {
        if (this._timer) {
          clearInterval(this._timer);
          delete this._timer;
          this._debug('Outgoing ping disposeInterval');
        }
      }
    }]);
  }();
  /**
   * Supported STOMP versions
   *
   * Part of `@stomp/stompjs`.
   */
  var Versions = /*#__PURE__*/function () {
    /**
     * Takes an array of versions, typical elements '1.2', '1.1', or '1.0'
     *
     * You will be creating an instance of this class if you want to override
     * supported versions to be declared during STOMP handshake.
     */
    function Versions(versions) {
      _classCallCheck(this, Versions);
      this.versions = versions;
    }
    /**
     * Used as part of CONNECT STOMP Frame
     */
    return _createClass(Versions, [{
      key: "supportedVersions",
      value: function supportedVersions() {
        return this.versions.join(',');
      }
      /**
       * Used while creating a WebSocket
       */
    }, {
      key: "protocolVersions",
      value: function protocolVersions() {
        return this.versions.map(function (x) {
          return "v".concat(x.replace('.', ''), ".stomp");
        });
      }
    }]);
  }();
  /**
   * Indicates protocol version 1.0
   */
  Versions.V1_0 = '1.0';
  /**
   * Indicates protocol version 1.1
   */
  Versions.V1_1 = '1.1';
  /**
   * Indicates protocol version 1.2
   */
  Versions.V1_2 = '1.2';
  /**
   * @internal
   */
  Versions["default"] = new Versions([Versions.V1_2, Versions.V1_1, Versions.V1_0]);

  /**
   * The STOMP protocol handler
   *
   * Part of `@stomp/stompjs`.
   *
   * @internal
   */
  var StompHandler = /*#__PURE__*/function () {
    function StompHandler(_webSocket, config) {
      var _this = this;
      _classCallCheck(this, StompHandler);
      this._webSocket = _webSocket;
      this._connected = false;
      this._serverFrameHandlers = {
        // [CONNECTED Frame](https://stomp.github.com/stomp-specification-1.2.html#CONNECTED_Frame)
        CONNECTED: function CONNECTED(frame) {
          _this.debug("connected to server ".concat(frame.headers.server));
          _this._connected = true;
          _this._connectedVersion = frame.headers.version;
          // STOMP version 1.2 needs header values to be escaped
          if (_this._connectedVersion === Versions.V1_2) {
            _this._escapeHeaderValues = true;
          }
          _this._setupHeartbeat(frame.headers);
          _this.onConnect(frame);
        },
        // [MESSAGE Frame](https://stomp.github.com/stomp-specification-1.2.html#MESSAGE)
        MESSAGE: function MESSAGE(frame) {
          // the callback is registered when the client calls
          // `subscribe()`.
          // If there is no registered subscription for the received message,
          // the default `onUnhandledMessage` callback is used that the client can set.
          // This is useful for subscriptions that are automatically created
          // on the browser side (e.g. [RabbitMQ's temporary
          // queues](https://www.rabbitmq.com/stomp.html)).
          var subscription = frame.headers.subscription;
          var onReceive;
          if (subscription !== undefined && _this._subscriptions[subscription]) {
            onReceive = _this._subscriptions[subscription];
          }
          if (onReceive === undefined) {
            onReceive = _this.onUnhandledMessage;
          }
          // bless the frame to be a Message
          var message = frame;
          var client = _this;
          var messageId = _this._connectedVersion === Versions.V1_2 ? message.headers.ack : message.headers['message-id'];
          // add `ack()` and `nack()` methods directly to the returned frame
          // so that a simple call to `message.ack()` can acknowledge the message.
          message.ack = function () {
            var headers = arguments.length > 0 && arguments[0] !== undefined ? arguments[0] : {};
            if (messageId !== undefined && subscription !== undefined) {
              client.ack(messageId, subscription, headers);
            }
          };
          message.nack = function () {
            var headers = arguments.length > 0 && arguments[0] !== undefined ? arguments[0] : {};
            if (messageId !== undefined && subscription !== undefined) {
              client.nack(messageId, subscription, headers);
            }
          };
          onReceive(message);
        },
        // [RECEIPT Frame](https://stomp.github.com/stomp-specification-1.2.html#RECEIPT)
        RECEIPT: function RECEIPT(frame) {
          var receiptId = frame.headers['receipt-id'];
          var callback = receiptId !== undefined ? _this._receiptWatchers[receiptId] : undefined;
          if (callback && receiptId !== undefined) {
            callback(frame);
            // Server will acknowledge only once, remove the callback
            delete _this._receiptWatchers[receiptId];
          } else {
            _this.onUnhandledReceipt(frame);
          }
        },
        // [ERROR Frame](https://stomp.github.com/stomp-specification-1.2.html#ERROR)
        ERROR: function ERROR(frame) {
          _this.onStompError(frame);
        }
      };
      // used to index subscribers
      this._counter = 0;
      // subscription callbacks indexed by subscriber's ID
      this._subscriptions = {};
      // receipt-watchers indexed by receipts-ids
      this._receiptWatchers = {};
      this._escapeHeaderValues = false;
      this._lastServerActivityTS = Date.now();
      this.debug = config.debug;
      this.stompVersions = config.stompVersions;
      this.connectHeaders = config.connectHeaders;
      this.disconnectHeaders = config.disconnectHeaders;
      this.heartbeatIncoming = config.heartbeatIncoming;
      this.heartbeatToleranceMultiplier = config.heartbeatGracePeriods;
      this.heartbeatOutgoing = config.heartbeatOutgoing;
      this.heartbeatStrategy = config.heartbeatStrategy;
      this.splitLargeFrames = config.splitLargeFrames;
      this.maxWebSocketChunkSize = config.maxWebSocketChunkSize;
      this.forceBinaryWSFrames = config.forceBinaryWSFrames;
      this.logRawCommunication = config.logRawCommunication;
      this.appendMissingNULLonIncoming = config.appendMissingNULLonIncoming;
      this.discardWebsocketOnCommFailure = config.discardWebsocketOnCommFailure;
      this.onConnect = config.onConnect;
      this.onDisconnect = config.onDisconnect;
      this.onStompError = config.onStompError;
      this.onWebSocketClose = config.onWebSocketClose;
      this.onWebSocketError = config.onWebSocketError;
      this.onUnhandledMessage = config.onUnhandledMessage;
      this.onUnhandledReceipt = config.onUnhandledReceipt;
      this.onUnhandledFrame = config.onUnhandledFrame;
      this.onHeartbeatReceived = config.onHeartbeatReceived;
      this.onHeartbeatLost = config.onHeartbeatLost;
    }
    return _createClass(StompHandler, [{
      key: "connectedVersion",
      get: function get() {
        return this._connectedVersion;
      }
    }, {
      key: "connected",
      get: function get() {
        return this._connected;
      }
    }, {
      key: "start",
      value: function start() {
        var _this2 = this;
        var parser = new Parser(
        // On Frame
        function (rawFrame) {
          var frame = FrameImpl.fromRawFrame(rawFrame, _this2._escapeHeaderValues);
          // if this.logRawCommunication is set, the rawChunk is logged at this._webSocket.onmessage
          if (!_this2.logRawCommunication) {
            _this2.debug("<<< ".concat(frame));
          }
          var serverFrameHandler = _this2._serverFrameHandlers[frame.command] || _this2.onUnhandledFrame;
          serverFrameHandler(frame);
        },
        // On Incoming Ping
        function () {
          _this2.debug('<<< PONG');
          _this2.onHeartbeatReceived();
        });
        this._webSocket.onmessage = function (evt) {
          _this2.debug('Received data');
          _this2._lastServerActivityTS = Date.now();
          if (_this2.logRawCommunication) {
            var rawChunkAsString = evt.data instanceof ArrayBuffer ? new TextDecoder().decode(evt.data) : evt.data;
            _this2.debug("<<< ".concat(rawChunkAsString));
          }
          parser.parseChunk(evt.data, _this2.appendMissingNULLonIncoming);
        };
        this._webSocket.onclose = function (closeEvent) {
          _this2.debug("Connection closed to ".concat(_this2._webSocket.url));
          _this2._cleanUp();
          _this2.onWebSocketClose(closeEvent);
        };
        this._webSocket.onerror = function (errorEvent) {
          _this2.onWebSocketError(errorEvent);
        };
        var onOpen = function onOpen() {
          // Clone before updating
          var connectHeaders = _extends({}, _this2.connectHeaders);
          _this2.debug('Web Socket Opened...');
          connectHeaders['accept-version'] = _this2.stompVersions.supportedVersions();
          connectHeaders['heart-beat'] = [_this2.heartbeatOutgoing, _this2.heartbeatIncoming].join(',');
          _this2._transmit({
            command: 'CONNECT',
            headers: connectHeaders
          });
        };
        if (this._webSocket.readyState === exports.StompSocketState.OPEN) {
          onOpen();
        } else {
          this._webSocket.onopen = onOpen;
        }
      }
    }, {
      key: "_setupHeartbeat",
      value: function _setupHeartbeat(headers) {
        var _parts$,
          _parts$2,
          _this3 = this;
        if (headers.version !== Versions.V1_1 && headers.version !== Versions.V1_2) {
          return;
        }
        // It is valid for the server to not send this header
        // https://stomp.github.io/stomp-specification-1.2.html#Heart-beating
        if (!headers['heart-beat']) {
          return;
        }
        // heart-beat header received from the server looks like:
        //
        //     heart-beat: sx, sy
        var parts = headers['heart-beat'].split(',').map(function (v) {
          return parseInt(v, 10);
        });
        var serverOutgoing = (_parts$ = parts[0]) !== null && _parts$ !== void 0 ? _parts$ : 0;
        var serverIncoming = (_parts$2 = parts[1]) !== null && _parts$2 !== void 0 ? _parts$2 : 0;
        if (this.heartbeatOutgoing !== 0 && serverIncoming !== 0) {
          var ttl = Math.max(this.heartbeatOutgoing, serverIncoming);
          this.debug("send PING every ".concat(ttl, "ms"));
          this._pinger = new Ticker(ttl, this.heartbeatStrategy, this.debug);
          this._pinger.start(function () {
            if (_this3._webSocket.readyState === exports.StompSocketState.OPEN) {
              _this3._webSocket.send(BYTE.LF);
              _this3.debug('>>> PING');
            }
          });
        }
        if (this.heartbeatIncoming !== 0 && serverOutgoing !== 0) {
          var _ttl = Math.max(this.heartbeatIncoming, serverOutgoing);
          this.debug("check PONG every ".concat(_ttl, "ms"));
          this._ponger = setInterval(function () {
            var delta = Date.now() - _this3._lastServerActivityTS;
            // We wait multiple grace periods to be flexible on window's setInterval calls
            if (delta > _ttl * _this3.heartbeatToleranceMultiplier) {
              _this3.debug("did not receive server activity for the last ".concat(delta, "ms"));
              _this3.onHeartbeatLost();
              _this3._closeOrDiscardWebsocket();
            }
          }, _ttl);
        }
      }
    }, {
      key: "_closeOrDiscardWebsocket",
      value: function _closeOrDiscardWebsocket() {
        if (this.discardWebsocketOnCommFailure) {
          this.debug('Discarding websocket, the underlying socket may linger for a while');
          this.discardWebsocket();
        } else {
          this.debug('Issuing close on the websocket');
          this._closeWebsocket();
        }
      }
    }, {
      key: "forceDisconnect",
      value: function forceDisconnect() {
        if (this._webSocket) {
          if (this._webSocket.readyState === exports.StompSocketState.CONNECTING || this._webSocket.readyState === exports.StompSocketState.OPEN) {
            this._closeOrDiscardWebsocket();
          }
        }
      }
    }, {
      key: "_closeWebsocket",
      value: function _closeWebsocket() {
        this._webSocket.onmessage = function () {}; // ignore messages
        this._webSocket.close();
      }
    }, {
      key: "discardWebsocket",
      value: function discardWebsocket() {
        var _this4 = this;
        if (typeof this._webSocket.terminate !== 'function') {
          augmentWebsocket(this._webSocket, function (msg) {
            return _this4.debug(msg);
          });
        }
        this._webSocket.terminate();
      }
    }, {
      key: "_transmit",
      value: function _transmit(params) {
        var command = params.command,
          headers = params.headers,
          body = params.body,
          binaryBody = params.binaryBody,
          skipContentLengthHeader = params.skipContentLengthHeader;
        var frame = new FrameImpl({
          command: command,
          headers: headers,
          body: body,
          binaryBody: binaryBody,
          escapeHeaderValues: this._escapeHeaderValues,
          skipContentLengthHeader: skipContentLengthHeader
        });
        var rawChunk = frame.serialize();
        if (this.logRawCommunication) {
          this.debug(">>> ".concat(rawChunk));
        } else {
          this.debug(">>> ".concat(frame));
        }
        if (this.forceBinaryWSFrames && typeof rawChunk === 'string') {
          rawChunk = new TextEncoder().encode(rawChunk);
        }
        if (typeof rawChunk !== 'string' || !this.splitLargeFrames) {
          this._webSocket.send(rawChunk);
        } else {
          var out = rawChunk;
          while (out.length > 0) {
            var chunk = out.substring(0, this.maxWebSocketChunkSize);
            out = out.substring(this.maxWebSocketChunkSize);
            this._webSocket.send(chunk);
            this.debug("chunk sent = ".concat(chunk.length, ", remaining = ").concat(out.length));
          }
        }
      }
    }, {
      key: "dispose",
      value: function dispose() {
        var _this5 = this;
        if (this.connected) {
          try {
            // clone before updating
            var disconnectHeaders = _extends({}, this.disconnectHeaders);
            if (!disconnectHeaders.receipt) {
              disconnectHeaders.receipt = "close-".concat(this._counter++);
            }
            this.watchForReceipt(disconnectHeaders.receipt, function (frame) {
              _this5._closeWebsocket();
              _this5._cleanUp();
              _this5.onDisconnect(frame);
            });
            this._transmit({
              command: 'DISCONNECT',
              headers: disconnectHeaders
            });
          } catch (error) {
            this.debug("Ignoring error during disconnect ".concat(error));
          }
        } else {
          if (this._webSocket.readyState === exports.StompSocketState.CONNECTING || this._webSocket.readyState === exports.StompSocketState.OPEN) {
            this._closeWebsocket();
          }
        }
      }
    }, {
      key: "_cleanUp",
      value: function _cleanUp() {
        this._connected = false;
        if (this._pinger) {
          this._pinger.stop();
          this._pinger = undefined;
        }
        if (this._ponger) {
          clearInterval(this._ponger);
          this._ponger = undefined;
        }
      }
    }, {
      key: "publish",
      value: function publish(params) {
        var destination = params.destination,
          headers = params.headers,
          body = params.body,
          binaryBody = params.binaryBody,
          skipContentLengthHeader = params.skipContentLengthHeader;
        var hdrs = _extends({
          destination: destination
        }, headers);
        this._transmit({
          command: 'SEND',
          headers: hdrs,
          body: body,
          binaryBody: binaryBody,
          skipContentLengthHeader: skipContentLengthHeader
        });
      }
    }, {
      key: "watchForReceipt",
      value: function watchForReceipt(receiptId, callback) {
        this._receiptWatchers[receiptId] = callback;
      }
    }, {
      key: "subscribe",
      value: function subscribe(destination, callback) {
        var headers = arguments.length > 2 && arguments[2] !== undefined ? arguments[2] : {};
        headers = _extends({}, headers);
        if (!headers.id) {
          headers.id = "sub-".concat(this._counter++);
        }
        var subId = headers.id;
        headers.destination = destination;
        this._subscriptions[subId] = callback;
        this._transmit({
          command: 'SUBSCRIBE',
          headers: headers
        });
        var client = this;
        return {
          id: subId,
          unsubscribe: function unsubscribe(hdrs) {
            return client.unsubscribe(subId, hdrs);
          }
        };
      }
    }, {
      key: "unsubscribe",
      value: function unsubscribe(id) {
        var headers = arguments.length > 1 && arguments[1] !== undefined ? arguments[1] : {};
        headers = _extends({}, headers);
        delete this._subscriptions[id];
        headers.id = id;
        this._transmit({
          command: 'UNSUBSCRIBE',
          headers: headers
        });
      }
    }, {
      key: "begin",
      value: function begin(transactionId) {
        var txId = transactionId || "tx-".concat(this._counter++);
        this._transmit({
          command: 'BEGIN',
          headers: {
            transaction: txId
          }
        });
        var client = this;
        return {
          id: txId,
          commit: function commit() {
            client.commit(txId);
          },
          abort: function abort() {
            client.abort(txId);
          }
        };
      }
    }, {
      key: "commit",
      value: function commit(transactionId) {
        this._transmit({
          command: 'COMMIT',
          headers: {
            transaction: transactionId
          }
        });
      }
    }, {
      key: "abort",
      value: function abort(transactionId) {
        this._transmit({
          command: 'ABORT',
          headers: {
            transaction: transactionId
          }
        });
      }
    }, {
      key: "ack",
      value: function ack(messageId, subscriptionId) {
        var headers = arguments.length > 2 && arguments[2] !== undefined ? arguments[2] : {};
        headers = _extends({}, headers);
        if (this._connectedVersion === Versions.V1_2) {
          headers.id = messageId;
        } else {
          headers['message-id'] = messageId;
        }
        headers.subscription = subscriptionId;
        this._transmit({
          command: 'ACK',
          headers: headers
        });
      }
    }, {
      key: "nack",
      value: function nack(messageId, subscriptionId) {
        var headers = arguments.length > 2 && arguments[2] !== undefined ? arguments[2] : {};
        headers = _extends({}, headers);
        if (this._connectedVersion === Versions.V1_2) {
          headers.id = messageId;
        } else {
          headers['message-id'] = messageId;
        }
        headers.subscription = subscriptionId;
        return this._transmit({
          command: 'NACK',
          headers: headers
        });
      }
    }]);
  }();
  /**
   * STOMP Client Class.
   *
   * Part of `@stomp/stompjs`.
   *
   * This class provides a robust implementation for connecting to and interacting with a
   * STOMP-compliant messaging broker over WebSocket. It supports STOMP versions 1.2, 1.1, and 1.0.
   *
   * Features:
   * - Handles automatic reconnections.
   * - Supports heartbeat mechanisms to detect and report communication failures.
   * - Allows customization of connection and WebSocket behaviors through configurations.
   * - Compatible with both browser environments and Node.js with polyfill support for WebSocket.
   */
  var Client = /*#__PURE__*/function () {
    /**
     * Constructs a new STOMP client instance.
     *
     * The constructor initializes default values and sets up no-op callbacks for all events.
     * Configuration can be passed during construction, or updated later using `configure`.
     *
     * Example:
     * ```javascript
     * const client = new Client({
     *   brokerURL: 'wss://broker.example.com',
     *   reconnectDelay: 5000
     * });
     * ```
     *
     * @param conf Optional configuration object to initialize the client with.
     */
    function Client() {
      var conf = arguments.length > 0 && arguments[0] !== undefined ? arguments[0] : {};
      _classCallCheck(this, Client);
      /**
       * STOMP protocol versions to use during the handshake. By default, the client will attempt
       * versions `1.2`, `1.1`, and `1.0` in descending order of preference.
       *
       * Example:
       * ```javascript
       * // Configure the client to only use versions 1.1 and 1.0
       * client.stompVersions = new Versions(['1.1', '1.0']);
       * ```
       */
      this.stompVersions = Versions["default"];
      /**
       * Timeout for establishing STOMP connection, in milliseconds.
       *
       * If the connection is not established within this period, the attempt will fail.
       * The default is `0`, meaning no timeout is set for connection attempts.
       *
       * Example:
       * ```javascript
       * client.connectionTimeout = 5000; // Fail connection if not established in 5 seconds
       * ```
       */
      this.connectionTimeout = 0;
      /**
       * Delay (in milliseconds) between reconnection attempts if the connection drops.
       *
       * Set to `0` to disable automatic reconnections. The default value is `5000` ms (5 seconds).
       *
       * Example:
       * ```javascript
       * client.reconnectDelay = 3000; // Attempt reconnection every 3 seconds
       * client.reconnectDelay = 0; // Disable automatic reconnection
       * ```
       */
      this.reconnectDelay = 5000;
      /**
       * The next reconnection delay, used internally.
       * Initialized to the value of [Client#reconnectDelay]{@link Client#reconnectDelay}, and it may
       * dynamically change based on [Client#reconnectTimeMode]{@link Client#reconnectTimeMode}.
       */
      this._nextReconnectDelay = 0;
      /**
       * Maximum delay (in milliseconds) between reconnection attempts when using exponential backoff.
       *
       * Default is 15 minutes (`15 * 60 * 1000` milliseconds). If `0`, there will be no upper limit.
       *
       * Example:
       * ```javascript
       * client.maxReconnectDelay = 10000; // Maximum wait time is 10 seconds
       * ```
       */
      this.maxReconnectDelay = 15 * 60 * 1000;
      /**
       * Mode for determining the time interval between reconnection attempts.
       *
       * Available modes:
       * - `ReconnectionTimeMode.LINEAR` (default): Fixed delays between reconnection attempts.
       * - `ReconnectionTimeMode.EXPONENTIAL`: Delay doubles after each attempt, capped by [maxReconnectDelay]{@link Client#maxReconnectDelay}.
       *
       * Example:
       * ```javascript
       * client.reconnectTimeMode = ReconnectionTimeMode.EXPONENTIAL;
       * client.reconnectDelay = 200; // Initial delay of 200 ms, doubles with each attempt
       * client.maxReconnectDelay = 2 * 60 * 1000; // Cap delay at 10 minutes
       * ```
       */
      this.reconnectTimeMode = exports.ReconnectionTimeMode.LINEAR;
      /**
       * Interval (in milliseconds) for receiving heartbeat signals from the server.
       *
       * Specifies the expected frequency of heartbeats sent by the server. Set to `0` to disable.
       *
       * Example:
       * ```javascript
       * client.heartbeatIncoming = 10000; // Expect a heartbeat every 10 seconds
       * ```
       */
      this.heartbeatIncoming = 10000;
      /**
       * Multiplier for adjusting tolerance when processing heartbeat signals.
       *
       * Tolerance level is calculated using the multiplier:
       * `tolerance = heartbeatIncoming * heartbeatToleranceMultiplier`.
       * This helps account for delays in network communication or variations in timings.
       *
       * Default value is `2`.
       *
       * Example:
       * ```javascript
       * client.heartbeatToleranceMultiplier = 2.5; // Tolerates longer delays
       * ```
       */
      this.heartbeatToleranceMultiplier = 2;
      /**
       * Interval (in milliseconds) for sending heartbeat signals to the server.
       *
       * Specifies how frequently heartbeats should be sent to the server. Set to `0` to disable.
       *
       * Example:
       * ```javascript
       * client.heartbeatOutgoing = 5000; // Send a heartbeat every 5 seconds
       * ```
       */
      this.heartbeatOutgoing = 10000;
      /**
       * Strategy for sending outgoing heartbeats.
       *
       * Options:
       * - `TickerStrategy.Worker`: Uses Web Workers for sending heartbeats (recommended for long-running or background sessions).
       * - `TickerStrategy.Interval`: Uses standard JavaScript `setInterval` (default).
       *
       * Note:
       * - If Web Workers are unavailable (e.g., in Node.js), the `Interval` strategy is used automatically.
       * - Web Workers are preferable in browsers for reducing disconnects when tabs are in the background.
       *
       * Example:
       * ```javascript
       * client.heartbeatStrategy = TickerStrategy.Worker;
       * ```
       */
      this.heartbeatStrategy = exports.TickerStrategy.Interval;
      /**
       * Enables splitting of large text WebSocket frames into smaller chunks.
       *
       * This setting is enabled for brokers that support only chunked messages (e.g., Java Spring-based brokers).
       * Default is `false`.
       *
       * Warning:
       * - Should not be used with WebSocket-compliant brokers, as chunking may cause large message failures.
       * - Binary WebSocket frames are never split.
       *
       * Example:
       * ```javascript
       * client.splitLargeFrames = true;
       * client.maxWebSocketChunkSize = 4096; // Allow chunks of 4 KB
       * ```
       */
      this.splitLargeFrames = false;
      /**
       * Maximum size (in bytes) for individual WebSocket chunks if [splitLargeFrames]{@link Client#splitLargeFrames} is enabled.
       *
       * Default is 8 KB (`8 * 1024` bytes). This value has no effect if [splitLargeFrames]{@link Client#splitLargeFrames} is `false`.
       */
      this.maxWebSocketChunkSize = 8 * 1024;
      /**
       * Forces all WebSocket frames to use binary transport, irrespective of payload type.
       *
       * Default behavior determines frame type based on payload (e.g., binary data for ArrayBuffers).
       *
       * Example:
       * ```javascript
       * client.forceBinaryWSFrames = true;
       * ```
       */
      this.forceBinaryWSFrames = false;
      /**
       * Workaround for a React Native WebSocket bug, where messages containing `NULL` are chopped.
       *
       * Enabling this appends a `NULL` character to incoming frames to ensure they remain valid STOMP packets.
       *
       * Warning:
       * - For brokers that split large messages, this may cause data loss or connection termination.
       *
       * Example:
       * ```javascript
       * client.appendMissingNULLonIncoming = true;
       * ```
       */
      this.appendMissingNULLonIncoming = false;
      /**
       * Instruct the library to immediately terminate the socket on communication failures, even
       * before the WebSocket is completely closed.
       *
       * This is particularly useful in browser environments where WebSocket closure may get delayed,
       * causing prolonged reconnection intervals under certain failure conditions.
       *
       *
       * Example:
       * ```javascript
       * client.discardWebsocketOnCommFailure = true; // Enable aggressive closing of WebSocket
       * ```
       *
       * Default value: `false`.
       */
      this.discardWebsocketOnCommFailure = false;
      /**
       * Tracks what the user intends the client to be — ACTIVE or INACTIVE.
       * Set by activate()/deactivate() so that the deactivate().then(_activate) chain
       * can be cancelled if deactivate() is called again before the chain fires.
       */
      this._intendedState = exports.ActivationState.INACTIVE;
      /**
       * Current activation state of the client.
       *
       * Possible states:
       * - `ActivationState.ACTIVE`: Client is connected or actively attempting to connect.
       * - `ActivationState.INACTIVE`: Client is disconnected and not attempting to reconnect.
       * - `ActivationState.DEACTIVATING`: Client is in the process of disconnecting.
       *
       * Note: The client may transition directly from `ACTIVE` to `INACTIVE` without entering
       * the `DEACTIVATING` state.
       */
      this.state = exports.ActivationState.INACTIVE;
      // No op callbacks
      var noOp = function noOp() {};
      this.debug = noOp;
      this.beforeConnect = noOp;
      this.onConnect = noOp;
      this.onDisconnect = noOp;
      this.onUnhandledMessage = noOp;
      this.onUnhandledReceipt = noOp;
      this.onUnhandledFrame = noOp;
      this.onHeartbeatReceived = noOp;
      this.onHeartbeatLost = noOp;
      this.onStompError = noOp;
      this.onWebSocketClose = noOp;
      this.onWebSocketError = noOp;
      this.logRawCommunication = false;
      this.onChangeState = noOp;
      // These parameters would typically get proper values before connect is called
      this.connectHeaders = {};
      this._disconnectHeaders = {};
      // Apply configuration
      this.configure(conf);
    }
    /**
     * Updates the client's configuration.
     *
     * All properties in the provided configuration object will override the current settings.
     *
     * Additionally, a warning is logged if `maxReconnectDelay` is configured to a
     * value lower than `reconnectDelay`, and `maxReconnectDelay` is adjusted to match `reconnectDelay`.
     *
     * Example:
     * ```javascript
     * client.configure({
     *   reconnectDelay: 3000,
     *   maxReconnectDelay: 10000
     * });
     * ```
     *
     * @param conf Configuration object containing the new settings.
     */
    return _createClass(Client, [{
      key: "webSocket",
      get:
      /**
       * Provides access to the underlying WebSocket instance.
       * This property is **read-only**.
       *
       * Example:
       * ```javascript
       * const webSocket = client.webSocket;
       * if (webSocket) {
       *   console.log('WebSocket is connected:', webSocket.readyState === WebSocket.OPEN);
       * }
       * ```
       *
       * **Caution:**
       * Directly interacting with the WebSocket instance (e.g., sending or receiving frames)
       * can interfere with the proper functioning of this library. Such actions may cause
       * unexpected behavior, disconnections, or invalid state in the library's internal mechanisms.
       *
       * Instead, use the library's provided methods to manage STOMP communication.
       *
       * @returns The WebSocket instance used by the STOMP handler, or `undefined` if not connected.
       */
      function get() {
        var _this$_stompHandler;
        return (_this$_stompHandler = this._stompHandler) === null || _this$_stompHandler === void 0 ? void 0 : _this$_stompHandler._webSocket;
      }
      /**
       * Allows customization of the disconnection headers.
       *
       * Any changes made during an active session will also be applied immediately.
       *
       * Example:
       * ```javascript
       * client.disconnectHeaders = {
       *   receipt: 'custom-receipt-id'
       * };
       * ```
       */
    }, {
      key: "disconnectHeaders",
      get: function get() {
        return this._disconnectHeaders;
      },
      set: function set(value) {
        this._disconnectHeaders = value;
        if (this._stompHandler) {
          this._stompHandler.disconnectHeaders = this._disconnectHeaders;
        }
      }
      /**
       * Indicates whether there is an active connection to the STOMP broker.
       *
       * Usage:
       * ```javascript
       * if (client.connected) {
       *   console.log('Client is connected to the broker.');
       * } else {
       *   console.log('No connection to the broker.');
       * }
       * ```
       *
       * @returns `true` if the client is currently connected, `false` otherwise.
       */
    }, {
      key: "connected",
      get: function get() {
        return !!this._stompHandler && this._stompHandler.connected;
      }
      /**
       * The version of the STOMP protocol negotiated with the server during connection.
       *
       * This is a **read-only** property and reflects the negotiated protocol version after
       * a successful connection.
       *
       * Example:
       * ```javascript
       * console.log('Connected STOMP version:', client.connectedVersion);
       * ```
       *
       * @returns The negotiated STOMP protocol version or `undefined` if not connected.
       */
    }, {
      key: "connectedVersion",
      get: function get() {
        return this._stompHandler ? this._stompHandler.connectedVersion : undefined;
      }
      /**
       * Indicates whether the client is currently active.
       *
       * A client is considered active if it is connected or actively attempting to reconnect.
       *
       * Example:
       * ```javascript
       * if (client.active) {
       *   console.log('The client is active.');
       * } else {
       *   console.log('The client is inactive.');
       * }
       * ```
       *
       * @returns `true` if the client is active, otherwise `false`.
       */
    }, {
      key: "active",
      get: function get() {
        return this.state === exports.ActivationState.ACTIVE;
      }
    }, {
      key: "_changeState",
      value: function _changeState(state) {
        this.state = state;
        this.onChangeState(state);
      }
    }, {
      key: "configure",
      value: function configure(conf) {
        // bulk assign all properties to this
        _extends(this, conf);
        // Warn on incorrect maxReconnectDelay settings
        if (this.maxReconnectDelay > 0 && this.maxReconnectDelay < this.reconnectDelay) {
          this.debug("Warning: maxReconnectDelay (".concat(this.maxReconnectDelay, "ms) is less than reconnectDelay (").concat(this.reconnectDelay, "ms). Using reconnectDelay as the maxReconnectDelay delay."));
          this.maxReconnectDelay = this.reconnectDelay;
        }
      }
      /**
       * Activates the client, initiating a connection to the STOMP broker.
       *
       * On activation, the client attempts to connect and sets its state to `ACTIVE`. If the connection
       * is lost, it will automatically retry based on `reconnectDelay` or `maxReconnectDelay`. If
       * `reconnectTimeMode` is set to `EXPONENTIAL`, the reconnect delay increases exponentially.
       *
       * To stop reconnection attempts and disconnect, call [Client#deactivate]{@link Client#deactivate}.
       *
       * Example:
       * ```javascript
       * client.activate(); // Connect to the broker
       * ```
       *
       * If the client is currently `DEACTIVATING`, connection is delayed until the deactivation process completes.
       */
    }, {
      key: "activate",
      value: function activate() {
        this._intendedState = exports.ActivationState.ACTIVE;
        if (this.state === exports.ActivationState.DEACTIVATING) {
          // Record intent and return; onWebSocketClose will activate once deactivation finishes.
          this.debug('Deactivation in progress, will activate once deactivation completes');
          return;
        }
        if (this.active) {
          this.debug('Already ACTIVE, ignoring request to activate');
          return;
        }
        this._startActivate();
      }
    }, {
      key: "_startActivate",
      value: function _startActivate() {
        this._changeState(exports.ActivationState.ACTIVE);
        this._nextReconnectDelay = this.reconnectDelay;
        void this._connect();
      }
    }, {
      key: "_connect",
      value: function () {
        var _connect2 = _asyncToGenerator(/*#__PURE__*/_regenerator().m(function _callee() {
          var _this6 = this;
          var webSocket;
          return _regenerator().w(function (_context) {
            while (1) switch (_context.n) {
              case 0:
                _context.n = 1;
                return this.beforeConnect(this);
              case 1:
                if (!this._stompHandler) {
                  _context.n = 2;
                  break;
                }
                this.debug('There is already a stompHandler, skipping the call to connect');
                return _context.a(2);
              case 2:
                if (this.active) {
                  _context.n = 3;
                  break;
                }
                this.debug('Client has been marked inactive, will not attempt to connect');
                return _context.a(2);
              case 3:
                // setup connection watcher
                if (this.connectionTimeout > 0) {
                  // clear first
                  if (this._connectionWatcher) {
                    clearTimeout(this._connectionWatcher);
                  }
                  this._connectionWatcher = setTimeout(function () {
                    if (_this6.connected) {
                      return;
                    }
                    // Connection not established, close the underlying socket
                    // a reconnection will be attempted
                    _this6.debug("Connection not established in ".concat(_this6.connectionTimeout, "ms, closing socket"));
                    _this6.forceDisconnect();
                  }, this.connectionTimeout);
                }
                this.debug('Opening Web Socket...');
                // Get the actual WebSocket (or a similar object)
                webSocket = this._createWebSocket();
                this._stompHandler = new StompHandler(webSocket, {
                  debug: this.debug,
                  stompVersions: this.stompVersions,
                  connectHeaders: this.connectHeaders,
                  disconnectHeaders: this._disconnectHeaders,
                  heartbeatIncoming: this.heartbeatIncoming,
                  heartbeatGracePeriods: this.heartbeatToleranceMultiplier,
                  heartbeatOutgoing: this.heartbeatOutgoing,
                  heartbeatStrategy: this.heartbeatStrategy,
                  splitLargeFrames: this.splitLargeFrames,
                  maxWebSocketChunkSize: this.maxWebSocketChunkSize,
                  forceBinaryWSFrames: this.forceBinaryWSFrames,
                  logRawCommunication: this.logRawCommunication,
                  appendMissingNULLonIncoming: this.appendMissingNULLonIncoming,
                  discardWebsocketOnCommFailure: this.discardWebsocketOnCommFailure,
                  onConnect: function onConnect(frame) {
                    // Successfully connected, stop the connection watcher
                    if (_this6._connectionWatcher) {
                      clearTimeout(_this6._connectionWatcher);
                      _this6._connectionWatcher = undefined;
                    }
                    // Reset reconnect delay after successful connection
                    _this6._nextReconnectDelay = _this6.reconnectDelay;
                    if (!_this6.active) {
                      _this6.debug('STOMP got connected while deactivate was issued, will disconnect now');
                      _this6._disposeStompHandler();
                      return;
                    }
                    _this6.onConnect(frame);
                  },
                  onDisconnect: function onDisconnect(frame) {
                    _this6.onDisconnect(frame);
                  },
                  onStompError: function onStompError(frame) {
                    _this6.onStompError(frame);
                  },
                  onWebSocketClose: function onWebSocketClose(evt) {
                    _this6._stompHandler = undefined; // a new one will be created in case of a reconnect
                    if (_this6.state === exports.ActivationState.DEACTIVATING) {
                      // Mark deactivation complete
                      _this6._changeState(exports.ActivationState.INACTIVE);
                    }
                    // The callback is called before attempting to reconnect, this would allow the client
                    // to be `deactivated` in the callback.
                    _this6.onWebSocketClose(evt);
                    if (_this6.active) {
                      _this6.scheduleReconnect();
                    } else if (_this6._intendedState === exports.ActivationState.ACTIVE) {
                      // activate() was called while deactivating; now that deactivation is complete, activate
                      _this6._startActivate();
                    }
                  },
                  onWebSocketError: function onWebSocketError(evt) {
                    _this6.onWebSocketError(evt);
                  },
                  onUnhandledMessage: function onUnhandledMessage(message) {
                    _this6.onUnhandledMessage(message);
                  },
                  onUnhandledReceipt: function onUnhandledReceipt(frame) {
                    _this6.onUnhandledReceipt(frame);
                  },
                  onUnhandledFrame: function onUnhandledFrame(frame) {
                    _this6.onUnhandledFrame(frame);
                  },
                  onHeartbeatReceived: function onHeartbeatReceived() {
                    _this6.onHeartbeatReceived();
                  },
                  onHeartbeatLost: function onHeartbeatLost() {
                    _this6.onHeartbeatLost();
                  }
                });
                this._stompHandler.start();
              case 4:
                return _context.a(2);
            }
          }, _callee, this);
        }));
        function _connect() {
          return _connect2.apply(this, arguments);
        }
        return _connect;
      }()
    }, {
      key: "_createWebSocket",
      value: function _createWebSocket() {
        var webSocket;
        if (this.webSocketFactory) {
          webSocket = this.webSocketFactory();
        } else if (this.brokerURL) {
          webSocket = new WebSocket(this.brokerURL, this.stompVersions.protocolVersions());
        } else {
          throw new Error('Either brokerURL or webSocketFactory must be provided');
        }
        webSocket.binaryType = 'arraybuffer';
        return webSocket;
      }
    }, {
      key: "scheduleReconnect",
      value: function scheduleReconnect() {
        var _this7 = this;
        if (this._nextReconnectDelay > 0) {
          this.debug("STOMP: scheduling reconnection in ".concat(this._nextReconnectDelay, "ms"));
          this._reconnector = setTimeout(function () {
            if (_this7.reconnectTimeMode === exports.ReconnectionTimeMode.EXPONENTIAL) {
              _this7._nextReconnectDelay = _this7._nextReconnectDelay * 2;
              // Truncated exponential backoff with a set limit unless disabled
              if (_this7.maxReconnectDelay !== 0) {
                _this7._nextReconnectDelay = Math.min(_this7._nextReconnectDelay, _this7.maxReconnectDelay);
              }
            }
            void _this7._connect();
          }, this._nextReconnectDelay);
        }
      }
      /**
       * Disconnects the client and stops the automatic reconnection loop.
       *
       * If there is an active STOMP connection at the time of invocation, the appropriate callbacks
       * will be triggered during the shutdown sequence. Once deactivated, the client will enter the
       * `INACTIVE` state, and no further reconnection attempts will be made.
       *
       * **Behavior**:
       * - If there is no active WebSocket connection, this method resolves immediately.
       * - If there is an active connection, the method waits for the underlying WebSocket
       *   to properly close before resolving.
       * - Multiple calls to this method are safe. Each invocation resolves upon completion.
       * - To reactivate, call [Client#activate]{@link Client#activate}.
       *
       * **Experimental Option:**
       * - By specifying the `force: true` option, the WebSocket connection is discarded immediately,
       *   bypassing both the STOMP and WebSocket shutdown sequences.
       * - **Caution:** Using `force: true` may leave the WebSocket in an inconsistent state,
       *   and brokers may not immediately detect the termination.
       *
       * Example:
       * ```javascript
       * // Graceful disconnect
       * await client.deactivate();
       *
       * // Forced disconnect to speed up shutdown when the connection is stale
       * await client.deactivate({ force: true });
       * ```
       *
       * @param options Configuration options for deactivation. Use `force: true` for immediate shutdown.
       * @returns A Promise that resolves when the deactivation process completes.
       */
    }, {
      key: "deactivate",
      value: (function () {
        var _deactivate = _asyncToGenerator(/*#__PURE__*/_regenerator().m(function _callee2() {
          var options,
            force,
            needToDispose,
            retPromise,
            handler,
            origOnWebSocketClose,
            _this$_stompHandler2,
            _args2 = arguments;
          return _regenerator().w(function (_context2) {
            while (1) switch (_context2.n) {
              case 0:
                options = _args2.length > 0 && _args2[0] !== undefined ? _args2[0] : {};
                force = options.force || false;
                needToDispose = this.active;
                this._intendedState = exports.ActivationState.INACTIVE;
                if (!(this.state === exports.ActivationState.INACTIVE)) {
                  _context2.n = 1;
                  break;
                }
                this.debug("Already INACTIVE, nothing more to do");
                return _context2.a(2, Promise.resolve());
              case 1:
                this._changeState(exports.ActivationState.DEACTIVATING);
                // Clear reconnection timer just to be safe
                this._nextReconnectDelay = 0;
                // Clear if a reconnection was scheduled
                if (this._reconnector) {
                  clearTimeout(this._reconnector);
                  this._reconnector = undefined;
                }
                handler = this._stompHandler;
                if (!(handler && handler._webSocket.readyState !== exports.StompSocketState.CLOSED)) {
                  _context2.n = 2;
                  break;
                }
                origOnWebSocketClose = handler.onWebSocketClose; // we need to wait for the underlying websocket to close
                retPromise = new Promise(function (resolve) {
                  handler.onWebSocketClose = function (evt) {
                    origOnWebSocketClose(evt);
                    resolve();
                  };
                });
                _context2.n = 3;
                break;
              case 2:
                // indicate that auto reconnect loop should terminate
                this._changeState(exports.ActivationState.INACTIVE);
                return _context2.a(2, Promise.resolve());
              case 3:
                if (force) {
                  (_this$_stompHandler2 = this._stompHandler) === null || _this$_stompHandler2 === void 0 || _this$_stompHandler2.discardWebsocket();
                } else if (needToDispose) {
                  this._disposeStompHandler();
                }
                return _context2.a(2, retPromise);
            }
          }, _callee2, this);
        }));
        function deactivate() {
          return _deactivate.apply(this, arguments);
        }
        return deactivate;
      }()
      /**
       * Forces a disconnect by directly closing the WebSocket.
       *
       * Unlike a normal disconnect, this does not send a DISCONNECT sequence to the broker but
       * instead closes the WebSocket connection directly. After forcing a disconnect, the client
       * will automatically attempt to reconnect based on its `reconnectDelay` configuration.
       *
       * **Note:** To prevent further reconnect attempts, call [Client#deactivate]{@link Client#deactivate}.
       *
       * Example:
       * ```javascript
       * client.forceDisconnect();
       * ```
       */
      )
    }, {
      key: "forceDisconnect",
      value: function forceDisconnect() {
        if (this._stompHandler) {
          this._stompHandler.forceDisconnect();
        }
      }
    }, {
      key: "_disposeStompHandler",
      value: function _disposeStompHandler() {
        // Dispose STOMP Handler
        if (this._stompHandler) {
          this._stompHandler.dispose();
        }
      }
      /**
       * Sends a message to the specified destination on the STOMP broker.
       *
       * The `body` must be a `string`. For non-string payloads (e.g., JSON), encode it as a string before sending.
       * If sending binary data, use the `binaryBody` parameter as a [Uint8Array](https://developer.mozilla.org/en-US/docs/Web/JavaScript/Reference/Global_Objects/Uint8Array).
       *
       * **Content-Length Behavior**:
       * - For non-binary messages, the `content-length` header is added by default.
       * - The `content-length` header can be skipped for text frames by setting `skipContentLengthHeader: true` in the parameters.
       * - For binary messages, the `content-length` header is always included.
       *
       * **Notes**:
       * - Ensure that brokers support binary frames before using `binaryBody`.
       * - Sending messages with NULL octets and missing `content-length` headers can cause brokers to disconnect and throw errors.
       *
       * Example:
       * ```javascript
       * // Basic text message
       * client.publish({ destination: "/queue/test", body: "Hello, STOMP" });
       *
       * // Text message with additional headers
       * client.publish({ destination: "/queue/test", headers: { priority: 9 }, body: "Hello, STOMP" });
       *
       * // Skip content-length header
       * client.publish({ destination: "/queue/test", body: "Hello, STOMP", skipContentLengthHeader: true });
       *
       * // Binary message
       * const binaryData = new Uint8Array([1, 2, 3, 4]);
       * client.publish({
       *   destination: '/topic/special',
       *   binaryBody: binaryData,
       *   headers: { 'content-type': 'application/octet-stream' }
       * });
       * ```
       */
    }, {
      key: "publish",
      value: function publish(params) {
        this._requireHandler().publish(params);
      }
      /**
       * Returns the active StompHandler or throws if the client is not connected.
       * Single chokepoint for every public STOMP method that requires a live session —
       * keeps callers free of `_stompHandler` null-handling and TypeScript narrowing tricks.
       */
    }, {
      key: "_requireHandler",
      value: function _requireHandler() {
        var handler = this._stompHandler;
        if (!handler || !handler.connected) {
          throw new TypeError('There is no underlying STOMP connection');
        }
        return handler;
      }
      /**
       * Monitors for a receipt acknowledgment from the broker for specific operations.
       *
       * Add a `receipt` header to the operation (like subscribe or publish), and use this method with
       * the same receipt ID to detect when the broker has acknowledged the operation's completion.
       *
       * The callback is invoked with the corresponding {@link IFrame} when the receipt is received.
       *
       * Example:
       * ```javascript
       * const receiptId = "unique-receipt-id";
       *
       * client.watchForReceipt(receiptId, (frame) => {
       *   console.log("Operation acknowledged by the broker:", frame);
       * });
       *
       * // Attach the receipt header to an operation
       * client.publish({ destination: "/queue/test", headers: { receipt: receiptId }, body: "Hello" });
       * ```
       *
       * @param receiptId Unique identifier for the receipt.
       * @param callback Callback function invoked on receiving the RECEIPT frame.
       */
    }, {
      key: "watchForReceipt",
      value: function watchForReceipt(receiptId, callback) {
        this._requireHandler().watchForReceipt(receiptId, callback);
      }
      /**
       * Subscribes to a destination on the STOMP broker.
       *
       * The callback is triggered for each message received from the subscribed destination. The message
       * is passed as an {@link IMessage} instance.
       *
       * **Subscription ID**:
       * - If no `id` is provided in `headers`, the library generates a unique subscription ID automatically.
       * - Provide an explicit `id` in `headers` if you wish to manage the subscription ID manually.
       *
       * Example:
       * ```javascript
       * const callback = (message) => {
       *   console.log("Received message:", message.body);
       * };
       *
       * // Auto-generated subscription ID
       * const subscription = client.subscribe("/queue/test", callback);
       *
       * // Explicit subscription ID
       * const mySubId = "my-subscription-id";
       * const subscription = client.subscribe("/queue/test", callback, { id: mySubId });
       * ```
       *
       * @param destination Destination to subscribe to.
       * @param callback Function invoked for each received message.
       * @param headers Optional headers for subscription, such as `id`.
       * @returns A {@link StompSubscription} which can be used to manage the subscription.
       */
    }, {
      key: "subscribe",
      value: function subscribe(destination, callback) {
        var headers = arguments.length > 2 && arguments[2] !== undefined ? arguments[2] : {};
        return this._requireHandler().subscribe(destination, callback, headers);
      }
      /**
       * Unsubscribes from a subscription on the STOMP broker.
       *
       * Prefer using the `unsubscribe` method directly on the {@link StompSubscription} returned from `subscribe` for cleaner management:
       * ```javascript
       * const subscription = client.subscribe("/queue/test", callback);
       * // Unsubscribe using the subscription object
       * subscription.unsubscribe();
       * ```
       *
       * This method can also be used directly with the subscription ID.
       *
       * Example:
       * ```javascript
       * client.unsubscribe("my-subscription-id");
       * ```
       *
       * @param id Subscription ID to unsubscribe.
       * @param headers Optional headers to pass for the UNSUBSCRIBE frame.
       */
    }, {
      key: "unsubscribe",
      value: function unsubscribe(id) {
        var headers = arguments.length > 1 && arguments[1] !== undefined ? arguments[1] : {};
        this._requireHandler().unsubscribe(id, headers);
      }
      /**
       * Starts a new transaction. The returned {@link ITransaction} object provides
       * methods for [commit]{@link ITransaction#commit} and [abort]{@link ITransaction#abort}.
       *
       * If `transactionId` is not provided, the library generates a unique ID internally.
       *
       * Example:
       * ```javascript
       * const tx = client.begin(); // Auto-generated ID
       *
       * // Or explicitly specify a transaction ID
       * const tx = client.begin("my-transaction-id");
       * ```
       *
       * @param transactionId Optional transaction ID.
       * @returns An instance of {@link ITransaction}.
       */
    }, {
      key: "begin",
      value: function begin(transactionId) {
        return this._requireHandler().begin(transactionId);
      }
      /**
       * Commits a transaction.
       *
       * It is strongly recommended to call [commit]{@link ITransaction#commit} on
       * the transaction object returned by [client#begin]{@link Client#begin}.
       *
       * Example:
       * ```javascript
       * const tx = client.begin();
       * // Perform operations under this transaction
       * tx.commit();
       * ```
       *
       * @param transactionId The ID of the transaction to commit.
       */
    }, {
      key: "commit",
      value: function commit(transactionId) {
        this._requireHandler().commit(transactionId);
      }
      /**
       * Aborts a transaction.
       *
       * It is strongly recommended to call [abort]{@link ITransaction#abort} directly
       * on the transaction object returned by [client#begin]{@link Client#begin}.
       *
       * Example:
       * ```javascript
       * const tx = client.begin();
       * // Perform operations under this transaction
       * tx.abort(); // Abort the transaction
       * ```
       *
       * @param transactionId The ID of the transaction to abort.
       */
    }, {
      key: "abort",
      value: function abort(transactionId) {
        this._requireHandler().abort(transactionId);
      }
      /**
       * Acknowledges receipt of a message. Typically, this should be done by calling
       * [ack]{@link IMessage#ack} directly on the {@link IMessage} instance passed
       * to the subscription callback.
       *
       * Example:
       * ```javascript
       * const callback = (message) => {
       *   // Process the message
       *   message.ack(); // Acknowledge the message
       * };
       *
       * client.subscribe("/queue/example", callback, { ack: "client" });
       * ```
       *
       * @param messageId The ID of the message to acknowledge.
       * @param subscriptionId The ID of the subscription.
       * @param headers Optional headers for the acknowledgment frame.
       */
    }, {
      key: "ack",
      value: function ack(messageId, subscriptionId) {
        var headers = arguments.length > 2 && arguments[2] !== undefined ? arguments[2] : {};
        this._requireHandler().ack(messageId, subscriptionId, headers);
      }
      /**
       * Rejects a message (negative acknowledgment). Like acknowledgments, this should
       * typically be done by calling [nack]{@link IMessage#nack} directly on the {@link IMessage}
       * instance passed to the subscription callback.
       *
       * Example:
       * ```javascript
       * const callback = (message) => {
       *   // Process the message
       *   if (isError(message)) {
       *     message.nack(); // Reject the message
       *   }
       * };
       *
       * client.subscribe("/queue/example", callback, { ack: "client" });
       * ```
       *
       * @param messageId The ID of the message to negatively acknowledge.
       * @param subscriptionId The ID of the subscription.
       * @param headers Optional headers for the NACK frame.
       */
    }, {
      key: "nack",
      value: function nack(messageId, subscriptionId) {
        var headers = arguments.length > 2 && arguments[2] !== undefined ? arguments[2] : {};
        this._requireHandler().nack(messageId, subscriptionId, headers);
      }
    }]);
  }();
  /**
   * Configuration options for STOMP Client, each key corresponds to
   * field by the same name in {@link Client}. This can be passed to
   * the constructor of {@link Client} or to [Client#configure]{@link Client#configure}.
   *
   * Part of `@stomp/stompjs`.
   */
  var StompConfig = /*#__PURE__*/_createClass(function StompConfig() {
    _classCallCheck(this, StompConfig);
  });
  /**
   * STOMP headers. Many function calls will accept headers as parameters.
   * The headers sent by Broker will be available as [IFrame#headers]{@link IFrame#headers}.
   *
   * `key` and `value` must be valid strings.
   * In addition, `key` must not contain `CR`, `LF`, or `:`.
   *
   * Part of `@stomp/stompjs`.
   */
  var StompHeaders = /*#__PURE__*/_createClass(function StompHeaders() {
    _classCallCheck(this, StompHeaders);
  });
  /**
   * Part of `@stomp/stompjs`.
   *
   * @internal
   */
  var HeartbeatInfo = /*#__PURE__*/function () {
    function HeartbeatInfo(client) {
      _classCallCheck(this, HeartbeatInfo);
      this.client = client;
    }
    return _createClass(HeartbeatInfo, [{
      key: "outgoing",
      get: function get() {
        return this.client.heartbeatOutgoing;
      },
      set: function set(value) {
        this.client.heartbeatOutgoing = value;
      }
    }, {
      key: "incoming",
      get: function get() {
        return this.client.heartbeatIncoming;
      },
      set: function set(value) {
        this.client.heartbeatIncoming = value;
      }
    }]);
  }();
  /**
   * Available for backward compatibility, please shift to using {@link Client}.
   *
   * **Deprecated**
   *
   * Part of `@stomp/stompjs`.
   *
   * To upgrade, please follow the [Upgrade Guide](https://stomp-js.github.io/guide/stompjs/upgrading-stompjs.html)
   */
  var CompatClient = /*#__PURE__*/function (_Client) {
    /**
     * Available for backward compatibility, please shift to using {@link Client}
     * and [Client#webSocketFactory]{@link Client#webSocketFactory}.
     *
     * **Deprecated**
     *
     * @internal
     */
    function CompatClient(webSocketFactory) {
      var _this8;
      _classCallCheck(this, CompatClient);
      _this8 = _callSuper(this, CompatClient);
      /**
       * It is no op now. No longer needed. Large packets work out of the box.
       */
      _this8.maxWebSocketFrameSize = 16 * 1024;
      _this8._heartbeatInfo = new HeartbeatInfo(_this8);
      _this8.reconnect_delay = 0;
      _this8.webSocketFactory = webSocketFactory;
      // Default from previous version
      _this8.debug = function () {
        var _console;
        (_console = console).log.apply(_console, arguments);
      };
      return _this8;
    }
    _inherits(CompatClient, _Client);
    return _createClass(CompatClient, [{
      key: "_parseConnect",
      value: function _parseConnect() {
        var closeEventCallback;
        var connectCallback;
        var errorCallback;
        var headers = {};
        for (var _len = arguments.length, args = new Array(_len), _key = 0; _key < _len; _key++) {
          args[_key] = arguments[_key];
        }
        if (args.length < 2) {
          throw new Error('Connect requires at least 2 arguments');
        }
        if (typeof args[1] === 'function') {
          headers = args[0];
          connectCallback = args[1];
          errorCallback = args[2];
          closeEventCallback = args[3];
        } else {
          switch (args.length) {
            case 6:
              headers.login = args[0];
              headers.passcode = args[1];
              connectCallback = args[2];
              errorCallback = args[3];
              closeEventCallback = args[4];
              headers.host = args[5];
              break;
            default:
              headers.login = args[0];
              headers.passcode = args[1];
              connectCallback = args[2];
              errorCallback = args[3];
              closeEventCallback = args[4];
          }
        }
        return [headers, connectCallback, errorCallback, closeEventCallback];
      }
      /**
       * Available for backward compatibility, please shift to using [Client#activate]{@link Client#activate}.
       *
       * **Deprecated**
       *
       * The `connect` method accepts different number of arguments and types. See the Overloads list. Use the
       * version with headers to pass your broker specific options.
       *
       * overloads:
       * - connect(headers, connectCallback)
       * - connect(headers, connectCallback, errorCallback)
       * - connect(login, passcode, connectCallback)
       * - connect(login, passcode, connectCallback, errorCallback)
       * - connect(login, passcode, connectCallback, errorCallback, closeEventCallback)
       * - connect(login, passcode, connectCallback, errorCallback, closeEventCallback, host)
       *
       * params:
       * - headers, see [Client#connectHeaders]{@link Client#connectHeaders}
       * - connectCallback, see [Client#onConnect]{@link Client#onConnect}
       * - errorCallback, see [Client#onStompError]{@link Client#onStompError}
       * - closeEventCallback, see [Client#onWebSocketClose]{@link Client#onWebSocketClose}
       * - login [String], see [Client#connectHeaders](../classes/Client.html#connectHeaders)
       * - passcode [String], [Client#connectHeaders](../classes/Client.html#connectHeaders)
       * - host [String], see [Client#connectHeaders](../classes/Client.html#connectHeaders)
       *
       * To upgrade, please follow the [Upgrade Guide](../additional-documentation/upgrading.html)
       */
    }, {
      key: "connect",
      value: function connect() {
        var out = this._parseConnect.apply(this, arguments);
        if (out[0]) {
          this.connectHeaders = out[0];
        }
        if (out[1]) {
          this.onConnect = out[1];
        }
        if (out[2]) {
          this.onStompError = out[2];
        }
        if (out[3]) {
          this.onWebSocketClose = out[3];
        }
        _superPropGet(CompatClient, "activate", this, 3)([]);
      }
      /**
       * Available for backward compatibility, please shift to using [Client#deactivate]{@link Client#deactivate}.
       *
       * **Deprecated**
       *
       * See:
       * [Client#onDisconnect]{@link Client#onDisconnect}, and
       * [Client#disconnectHeaders]{@link Client#disconnectHeaders}
       *
       * To upgrade, please follow the [Upgrade Guide](../additional-documentation/upgrading.html)
       */
    }, {
      key: "disconnect",
      value: function disconnect(disconnectCallback) {
        var headers = arguments.length > 1 && arguments[1] !== undefined ? arguments[1] : {};
        if (disconnectCallback) {
          this.onDisconnect = disconnectCallback;
        }
        this.disconnectHeaders = headers;
        void _superPropGet(CompatClient, "deactivate", this, 3)([]);
      }
      /**
       * Available for backward compatibility, use [Client#publish]{@link Client#publish}.
       *
       * Send a message to a named destination. Refer to your STOMP broker documentation for types
       * and naming of destinations. The headers will, typically, be available to the subscriber.
       * However, there may be special purpose headers corresponding to your STOMP broker.
       *
       *  **Deprecated**, use [Client#publish]{@link Client#publish}
       *
       * Note: Body must be String. You will need to covert the payload to string in case it is not string (e.g. JSON)
       *
       * ```javascript
       *        client.send("/queue/test", {priority: 9}, "Hello, STOMP");
       *
       *        // If you want to send a message with a body, you must also pass the headers argument.
       *        client.send("/queue/test", {}, "Hello, STOMP");
       * ```
       *
       * To upgrade, please follow the [Upgrade Guide](../additional-documentation/upgrading.html)
       */
    }, {
      key: "send",
      value: function send(destination) {
        var headers = arguments.length > 1 && arguments[1] !== undefined ? arguments[1] : {};
        var body = arguments.length > 2 && arguments[2] !== undefined ? arguments[2] : '';
        headers = _extends({}, headers);
        var skipContentLengthHeader = headers['content-length'] === false;
        if (skipContentLengthHeader) {
          delete headers['content-length'];
        }
        this.publish({
          destination: destination,
          headers: headers,
          body: body,
          skipContentLengthHeader: skipContentLengthHeader
        });
      }
      /**
       * Available for backward compatibility, renamed to [Client#reconnectDelay]{@link Client#reconnectDelay}.
       *
       * **Deprecated**
       */
      // eslint-disable-next-line @typescript-eslint/naming-convention
    }, {
      key: "reconnect_delay",
      set: function set(value) {
        this.reconnectDelay = value;
      }
      /**
       * Available for backward compatibility, renamed to [Client#webSocket]{@link Client#webSocket}.
       *
       * **Deprecated**
       */
    }, {
      key: "ws",
      get: function get() {
        return this.webSocket;
      }
      /**
       * Available for backward compatibility, renamed to [Client#connectedVersion]{@link Client#connectedVersion}.
       *
       * **Deprecated**
       */
    }, {
      key: "version",
      get: function get() {
        return this.connectedVersion;
      }
      /**
       * Available for backward compatibility, renamed to [Client#onUnhandledMessage]{@link Client#onUnhandledMessage}.
       *
       * **Deprecated**
       */
    }, {
      key: "onreceive",
      get: function get() {
        return this.onUnhandledMessage;
      }
      /**
       * Available for backward compatibility, renamed to [Client#onUnhandledMessage]{@link Client#onUnhandledMessage}.
       *
       * **Deprecated**
       */,
      set: function set(value) {
        this.onUnhandledMessage = value;
      }
      /**
       * Available for backward compatibility, renamed to [Client#onUnhandledReceipt]{@link Client#onUnhandledReceipt}.
       * Prefer using [Client#watchForReceipt]{@link Client#watchForReceipt}.
       *
       * **Deprecated**
       */
    }, {
      key: "onreceipt",
      get: function get() {
        return this.onUnhandledReceipt;
      }
      /**
       * Available for backward compatibility, renamed to [Client#onUnhandledReceipt]{@link Client#onUnhandledReceipt}.
       *
       * **Deprecated**
       */,
      set: function set(value) {
        this.onUnhandledReceipt = value;
      }
      /**
       * Available for backward compatibility, renamed to [Client#heartbeatIncoming]{@link Client#heartbeatIncoming}
       * [Client#heartbeatOutgoing]{@link Client#heartbeatOutgoing}.
       *
       * **Deprecated**
       */
    }, {
      key: "heartbeat",
      get: function get() {
        return this._heartbeatInfo;
      }
      /**
       * Available for backward compatibility, renamed to [Client#heartbeatIncoming]{@link Client#heartbeatIncoming}
       * [Client#heartbeatOutgoing]{@link Client#heartbeatOutgoing}.
       *
       * **Deprecated**
       */,
      set: function set(value) {
        this.heartbeatIncoming = value.incoming;
        this.heartbeatOutgoing = value.outgoing;
      }
    }]);
  }(Client);
  /**
   * STOMP Class, acts like a factory to create {@link Client}.
   *
   * Part of `@stomp/stompjs`.
   *
   * **Deprecated**
   *
   * It will be removed in next major version. Please switch to {@link Client}.
   */
  var Stomp = /*#__PURE__*/function () {
    function Stomp() {
      _classCallCheck(this, Stomp);
    }
    return _createClass(Stomp, null, [{
      key: "client",
      value:
      /**
       * This method creates a WebSocket client that is connected to
       * the STOMP server located at the url.
       *
       * ```javascript
       *        var url = "ws://localhost:61614/stomp";
       *        var client = Stomp.client(url);
       * ```
       *
       * **Deprecated**
       *
       * It will be removed in next major version. Please switch to {@link Client}
       * using [Client#brokerURL]{@link Client#brokerURL}.
       */
      function client(url, protocols) {
        // This is a hack to allow another implementation than the standard
        // HTML5 WebSocket class.
        //
        // It is possible to use another class by calling
        //
        //     Stomp.WebSocketClass = MozWebSocket
        //
        // *prior* to call `Stomp.client()`.
        //
        // This hack is deprecated and `Stomp.over()` method should be used
        // instead.
        // See remarks on the function Stomp.over
        if (protocols == null) {
          protocols = Versions["default"].protocolVersions();
        }
        var wsFn = function wsFn() {
          var klass = Stomp.WebSocketClass || WebSocket;
          return new klass(url, protocols);
        };
        return new CompatClient(wsFn);
      }
      /**
       * This method is an alternative to [Stomp#client]{@link Stomp#client} to let the user
       * specify the WebSocket to use (either a standard HTML5 WebSocket or
       * a similar object).
       *
       * In order to support reconnection, the function Client._connect should be callable more than once.
       * While reconnecting
       * a new instance of underlying transport (TCP Socket, WebSocket or SockJS) will be needed. So, this function
       * alternatively allows passing a function that should return a new instance of the underlying socket.
       *
       * ```javascript
       *        var client = Stomp.over(function(){
       *          return new WebSocket('ws://localhost:15674/ws')
       *        });
       * ```
       *
       * **Deprecated**
       *
       * It will be removed in next major version. Please switch to {@link Client}
       * using [Client#webSocketFactory]{@link Client#webSocketFactory}.
       */
    }, {
      key: "over",
      value: function over(ws) {
        var wsFn;
        if (typeof ws === 'function') {
          wsFn = ws;
        } else {
          console.warn('Stomp.over did not receive a factory, auto reconnect will not work. ' + 'Please see https://stomp-js.github.io/api-docs/latest/classes/Stomp.html#over');
          wsFn = function wsFn() {
            return ws;
          };
        }
        return new CompatClient(wsFn);
      }
    }]);
  }();
  /**
   * In case you need to use a non standard class for WebSocket.
   *
   * For example when using within NodeJS environment:
   *
   * ```javascript
   *        StompJs = require('../../esm5/');
   *        Stomp = StompJs.Stomp;
   *        Stomp.WebSocketClass = require('websocket').w3cwebsocket;
   * ```
   *
   * **Deprecated**
   *
   *
   * It will be removed in next major version. Please switch to {@link Client}
   * using [Client#webSocketFactory]{@link Client#webSocketFactory}.
   */
  // tslint:disable-next-line:variable-name
  Stomp.WebSocketClass = null;
  exports.Client = Client;
  exports.CompatClient = CompatClient;
  exports.FrameImpl = FrameImpl;
  exports.Parser = Parser;
  exports.Stomp = Stomp;
  exports.StompConfig = StompConfig;
  exports.StompHeaders = StompHeaders;
  exports.Versions = Versions;
});
