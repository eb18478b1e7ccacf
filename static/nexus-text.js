/*
 * nexus-text.js: operations on plain text for shared documents, in the browser.
 *
 * The browser's half of nexus_tornado/ot/text.py, with the same answers (a test runs
 * the same random cases through both). Pages load it with a plain <script> tag (it
 * defines the one global `NexusText`); under CommonJS or AMD it is a module. ES5 (var,
 * function, no modules), like nexus-client.js, so it runs as is in old browsers.
 *
 * An operation is an array walking the whole text once: a positive integer keeps that
 * many code points, a non-empty string inserts itself, a negative integer deletes that
 * many code points ([5, "hi", -2, 3]). Positions and lengths count Unicode code points,
 * as the server does; JavaScript strings are UTF-16, so every count here walks
 * surrogate pairs ("😀" is one position, two string units). Operations are normalized
 * (no zero components, neighbours of one kind merged, an insert before a delete) so
 * that equal effects give equal arrays.
 *
 *   NexusText.apply(text, op)        the new text (throws on an operation of another length)
 *   NexusText.compose(a, b)          one operation doing a, then b
 *   NexusText.transform(left, right) [left', right']: right' applies after left, left'
 *                                    after right, both give one text; at a position both
 *                                    insert at, left's text comes first
 *   NexusText.transformIndex(i, op)  where a caret at code point i moves to
 *   NexusText.check(value)           a normalized copy of a wire operation, or throws
 *   NexusText.diff(before, after)    an operation turning one text into the other
 *   NexusText.length(text)           the length in code points
 *   NexusText.toCodePoints(text, unitIndex) / NexusText.toUnits(text, codePointIndex)
 */
(function (root, factory) {
  if (typeof define === 'function' && define.amd) {
    define([], factory);
  } else if (typeof module === 'object' && module.exports) {
    module.exports = factory();
  } else {
    root.NexusText = factory();
  }
}(typeof self !== 'undefined' ? self : this, function () {
  'use strict';

  function isHigh(unit) { return unit >= 0xD800 && unit <= 0xDBFF; }
  function isLow(unit) { return unit >= 0xDC00 && unit <= 0xDFFF; }

  /** The string unit index `count` code points after unit index `from`, or -1 past the end. */
  function advance(text, from, count) {
    var at = from;
    for (var i = 0; i < count; i++) {
      if (at >= text.length) { return -1; }
      at += (isHigh(text.charCodeAt(at)) && isLow(text.charCodeAt(at + 1))) ? 2 : 1;
    }
    return at;
  }

  /** How many code points `text` holds. */
  function length(text) {
    var count = 0;
    for (var at = 0; at < text.length; at++) {
      if (!(isLow(text.charCodeAt(at)) && at > 0 && isHigh(text.charCodeAt(at - 1)))) { count++; }
    }
    return count;
  }

  function hasLoneSurrogate(text) {
    for (var at = 0; at < text.length; at++) {
      var unit = text.charCodeAt(at);
      if (isHigh(unit)) {
        if (!isLow(text.charCodeAt(at + 1))) { return true; }
        at++;
      } else if (isLow(unit)) {
        return true;
      }
    }
    return false;
  }

  /** Code point index of string unit index `units` (inside a pair counts as before it). */
  function toCodePoints(text, units) {
    var count = 0;
    var at = 0;
    while (at < units && at < text.length) {
      var step = (isHigh(text.charCodeAt(at)) && isLow(text.charCodeAt(at + 1))) ? 2 : 1;
      if (at + step > units) { break; }
      at += step;
      count++;
    }
    return count;
  }

  /** String unit index of code point index `points` (the end if beyond it). */
  function toUnits(text, points) {
    var at = advance(text, 0, points);
    return at < 0 ? text.length : at;
  }

  function isInsert(part) { return typeof part === 'string'; }
  function isRetain(part) { return typeof part === 'number' && part > 0; }
  function isDelete(part) { return typeof part === 'number' && part < 0; }

  // ---- normal form ------------------------------------------------------------------

  function Builder() { this.parts = []; }

  Builder.prototype.retain = function (count) {
    if (count <= 0) { return; }
    var parts = this.parts;
    if (parts.length && isRetain(parts[parts.length - 1])) {
      parts[parts.length - 1] += count;
    } else {
      parts.push(count);
    }
  };

  Builder.prototype.insert = function (text) {
    if (!text) { return; }
    var parts = this.parts;
    var last = parts.length - 1;
    if (last >= 0 && isInsert(parts[last])) {
      parts[last] += text;
    } else if (last >= 0 && isDelete(parts[last])) {
      // An insert beside a delete goes first, merged with an insert already there.
      if (last >= 1 && isInsert(parts[last - 1])) {
        parts[last - 1] += text;
      } else {
        parts.splice(last, 0, text);
      }
    } else {
      parts.push(text);
    }
  };

  Builder.prototype.remove = function (count) {
    if (count <= 0) { return; }
    var parts = this.parts;
    if (parts.length && isDelete(parts[parts.length - 1])) {
      parts[parts.length - 1] -= count;
    } else {
      parts.push(-count);
    }
  };

  Builder.prototype.add = function (part) {
    if (isInsert(part)) { this.insert(part); } else if (part > 0) { this.retain(part); } else { this.remove(-part); }
  };

  /** A normalized copy of well-formed components. */
  function normalize(op) {
    var builder = new Builder();
    for (var i = 0; i < op.length; i++) { builder.add(op[i]); }
    return builder.parts;
  }

  function OperationError(message) {
    var error = new Error(message);
    error.name = 'OperationError';
    return error;
  }

  /** Checks a wire operation as the server does; returns it normalized, or throws. */
  function check(value, maxComponents) {
    if (Object.prototype.toString.call(value) !== '[object Array]') {
      throw OperationError('an operation is a JSON array of components');
    }
    if (maxComponents !== undefined && value.length > maxComponents) {
      throw OperationError('an operation has at most ' + maxComponents + ' components');
    }
    for (var i = 0; i < value.length; i++) {
      var part = value[i];
      if (typeof part === 'number') {
        if (part % 1 !== 0 || !isFinite(part)) {
          throw OperationError('component ' + i + ' is neither a count nor a string');
        }
        if (part === 0) { throw OperationError('component ' + i + ' counts zero code points'); }
      } else if (typeof part === 'string') {
        if (!part) { throw OperationError('component ' + i + ' inserts an empty string'); }
        if (hasLoneSurrogate(part)) {
          throw OperationError('component ' + i + ' inserts a lone surrogate (not a Unicode character)');
        }
      } else {
        throw OperationError('component ' + i + ' is neither a count nor a string');
      }
    }
    return normalize(value);
  }

  function baseLength(op) {
    var size = 0;
    for (var i = 0; i < op.length; i++) {
      if (!isInsert(op[i])) { size += Math.abs(op[i]); }
    }
    return size;
  }

  function targetLength(op) {
    var size = 0;
    for (var i = 0; i < op.length; i++) {
      if (isInsert(op[i])) { size += length(op[i]); } else if (op[i] > 0) { size += op[i]; }
    }
    return size;
  }

  // ---- the algebra ------------------------------------------------------------------

  function apply(text, op) {
    var out = [];
    var at = 0;  // a string unit index into text
    var spans = baseLength(op);
    for (var i = 0; i < op.length; i++) {
      var part = op[i];
      if (isInsert(part)) {
        out.push(part);
        continue;
      }
      var next = advance(text, at, Math.abs(part));
      if (next < 0) { at = -1; break; }
      if (part > 0) { out.push(text.slice(at, next)); }
      at = next;
    }
    if (at !== text.length) {
      throw OperationError('the operation spans ' + spans + ' code points but the text has ' + length(text));
    }
    return out.join('');
  }

  /** Walks a component list, handing out pieces of the current component. */
  function Cursor(parts) {
    this.parts = parts;
    this.index = 0;
    this.offset = 0;  // code points of the current component used up
    this.unit = 0;    // the same, in string units, for inserts
  }

  Cursor.prototype.done = function () { return this.index >= this.parts.length; };
  Cursor.prototype.head = function () { return this.parts[this.index]; };
  Cursor.prototype.atInsert = function () { return !this.done() && isInsert(this.head()); };
  Cursor.prototype.atDelete = function () { return !this.done() && isDelete(this.head()); };

  Cursor.prototype.headLength = function () {
    var head = this.head();
    if (isInsert(head)) { return length(head) - this.offset; }
    return Math.abs(head) - this.offset;
  };

  Cursor.prototype.take = function (size) {
    var head = this.head();
    var piece;
    if (isInsert(head)) {
      var end = advance(head, this.unit, size);
      piece = head.slice(this.unit, end);
      this.unit = end;
      this.offset += size;
      if (end >= head.length) { this.next(); }
      return piece;
    }
    this.offset += size;
    if (this.offset >= Math.abs(head)) { this.next(); }
    return head > 0 ? size : -size;
  };

  Cursor.prototype.takeAll = function () { return this.take(this.headLength()); };

  Cursor.prototype.next = function () {
    this.index++;
    this.offset = 0;
    this.unit = 0;
  };

  function compose(a, b) {
    if (targetLength(a) !== baseLength(b)) {
      throw OperationError('cannot compose: the first operation makes ' + targetLength(a) +
        ' code points, the second spans ' + baseLength(b));
    }
    var out = new Builder();
    var first = new Cursor(a);
    var second = new Cursor(b);
    while (!(first.done() && second.done())) {
      if (first.atDelete()) { out.add(first.takeAll()); continue; }
      if (second.atInsert()) { out.insert(second.takeAll()); continue; }
      var size = Math.min(first.headLength(), second.headLength());
      var produced = first.take(size);
      var consumed = second.take(size);
      if (isInsert(produced)) {
        if (consumed > 0) { out.insert(produced); }
      } else if (consumed > 0) {
        out.retain(size);
      } else {
        out.remove(size);
      }
    }
    return out.parts;
  }

  function transform(left, right) {
    if (baseLength(left) !== baseLength(right)) {
      throw OperationError('cannot transform operations on different texts (' + baseLength(left) +
        ' and ' + baseLength(right) + ' code points)');
    }
    var leftOut = new Builder();
    var rightOut = new Builder();
    var first = new Cursor(left);
    var second = new Cursor(right);
    var text;
    while (!(first.done() && second.done())) {
      if (first.atInsert()) {
        text = first.takeAll();
        leftOut.insert(text);
        rightOut.retain(length(text));
        continue;
      }
      if (second.atInsert()) {
        text = second.takeAll();
        rightOut.insert(text);
        leftOut.retain(length(text));
        continue;
      }
      var size = Math.min(first.headLength(), second.headLength());
      var mine = first.take(size);
      var theirs = second.take(size);
      if (mine > 0 && theirs > 0) {
        leftOut.retain(size);
        rightOut.retain(size);
      } else if (mine < 0 && theirs > 0) {
        leftOut.remove(size);
      } else if (mine > 0 && theirs < 0) {
        rightOut.remove(size);
      }
    }
    return [leftOut.parts, rightOut.parts];
  }

  function transformIndex(index, op) {
    var position = 0;
    var moved = index;
    for (var i = 0; i < op.length && position < index; i++) {
      var part = op[i];
      if (isInsert(part)) {
        moved += length(part);
      } else if (part > 0) {
        position += part;
      } else {
        moved -= Math.min(-part, index - position);
        position -= part;
      }
    }
    return moved;
  }

  function isNoop(op) {
    for (var i = 0; i < op.length; i++) {
      if (!isRetain(op[i])) { return false; }
    }
    return true;
  }

  /**
   * An operation turning `before` into `after`: keep the common start and end, replace
   * the middle (what one edit of a text box does). Never splits a surrogate pair.
   */
  function diff(before, after) {
    var start = 0;
    var limit = Math.min(before.length, after.length);
    while (start < limit && before.charCodeAt(start) === after.charCodeAt(start)) { start++; }
    if (start > 0 && isHigh(before.charCodeAt(start - 1))) { start--; }
    var end = 0;
    limit -= start;
    while (end < limit &&
           before.charCodeAt(before.length - 1 - end) === after.charCodeAt(after.length - 1 - end)) {
      end++;
    }
    if (end > 0 && isLow(before.charCodeAt(before.length - end))) { end--; }
    var builder = new Builder();
    var head = before.slice(0, start);
    builder.retain(length(head));
    builder.insert(after.slice(start, after.length - end));
    builder.remove(length(before.slice(start, before.length - end)));
    builder.retain(length(before.slice(before.length - end)));
    return builder.parts;
  }

  return {
    apply: apply,
    compose: compose,
    transform: transform,
    transformIndex: transformIndex,
    check: check,
    normalize: normalize,
    diff: diff,
    isNoop: isNoop,
    length: length,
    baseLength: baseLength,
    targetLength: targetLength,
    toCodePoints: toCodePoints,
    toUnits: toUnits
  };
}));
