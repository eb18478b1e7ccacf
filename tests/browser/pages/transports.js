/* One SockJS transport, end to end, against the echo connection of the tests.
 *
 * runTransport(url, transport) resolves to a report the test asserts on:
 * which transport sockjs-client used, the echoes, the server-initiated close as the
 * page saw it, and after reconnecting: an echo, then a message sent just before the
 * server closes (both must arrive). It never rejects: failures are
 * reported as {error: "..."} so the test can say which step broke.
 */
"use strict";

function bigMessage(size) {
  // Quotes, a backslash, markup (incl. a script end tag) and non-ASCII: everything a
  // transport must escape, repeated up to `size` characters.
  var unit = 'The quick "brown" fox <b>jumps</b> </script> over \\ the lazy dog & é. ';
  var out = "";
  while (out.length < size) { out += unit; }
  return out.slice(0, size);
}

function openSocket(url, transport, timeoutMs) {
  return new Promise(function (resolve, reject) {
    // A generous per-transport timeout: sockjs-client's default (a few round trips,
    // about a second on loopback) is too tight while many pages load at once.
    var sock = new SockJS(url, null, { transports: [transport], timeout: 10000 });
    var timer = setTimeout(function () { reject(new Error("open timed out")); }, timeoutMs);
    sock.onopen = function () { clearTimeout(timer); resolve(sock); };
    sock.onclose = function (e) {
      clearTimeout(timer);
      reject(new Error("closed before open: " + e.code + " " + e.reason));
    };
  });
}

function nextEvent(sock, timeoutMs) {
  // The next message or close event of `sock`, whichever comes first.
  return new Promise(function (resolve, reject) {
    var timer = setTimeout(function () { reject(new Error("no event in time")); }, timeoutMs);
    sock.onmessage = function (e) { clearTimeout(timer); resolve({ type: "message", data: e.data }); };
    sock.onclose = function (e) {
      clearTimeout(timer);
      resolve({ type: "close", code: e.code, reason: e.reason, wasClean: e.wasClean });
    };
  });
}

async function roundTrip(sock, text, timeoutMs) {
  var waiting = nextEvent(sock, timeoutMs);
  sock.send(text);
  return await waiting;
}

async function runTransport(url, transport) {
  var step = "open";
  var report = { requested: transport };
  try {
    var sock = await openSocket(url, transport, 15000);
    report.transport = sock.transport;
    step = "echo";
    report.echo = (await roundTrip(sock, "hello", 15000)).data;
    step = "big";
    var big = bigMessage(60 * 1024);
    var got = await roundTrip(sock, big, 30000);
    report.bigLength = got.data ? got.data.length : -1;
    report.bigEqual = got.data === big;
    step = "server close";
    var closed = await roundTrip(sock, "close:4000:closed by server", 15000);
    report.close = { type: closed.type, code: closed.code, reason: closed.reason };
    step = "reconnect";
    var again = await openSocket(url, transport, 15000);
    report.reconnectTransport = again.transport;
    report.reconnectEcho = (await roundTrip(again, "again", 15000)).data;
    step = "message then close";
    // The server sends one message and closes at once: both must arrive, in order.
    var closing = new Promise(function (resolve, reject) {
      var seen = [];
      var timer = setTimeout(function () { reject(new Error("no close in time")); }, 15000);
      again.onmessage = function (e) { seen.push(e.data); };
      again.onclose = function (e) {
        clearTimeout(timer);
        resolve({ messages: seen, code: e.code, reason: e.reason });
      };
    });
    again.send("send-close:last words");
    report.lastWords = await closing;
  } catch (err) {
    report.error = step + ": " + (err && err.message ? err.message : String(err));
  }
  return report;
}

window.runTransport = runTransport;
