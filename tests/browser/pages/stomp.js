/* A STOMP round trip through the real plugin with @stomp/stompjs.
 *
 * runStomp({url, transport, token, user, chatId}) connects (over SockJS restricted to
 * `transport`, or over the raw WebSocket when transport is "raw"), subscribes to the
 * chat and to /user/queue/errors, SENDs a chat message with a receipt, and resolves to
 * what came back: the CONNECTED user-name, whether the RECEIPT arrived, the MESSAGE's
 * seq and body, and any error. It never rejects.
 */
"use strict";

function runStomp(opts) {
  return new Promise(function (resolve) {
    var report = { transport: opts.transport };
    var receiptId = "r-" + opts.chatId;
    var destination = "/topic/chat/" + opts.chatId;
    var done = false;
    var client;

    function finish(extra) {
      if (done) { return; }
      done = true;
      clearTimeout(timer);
      Object.assign(report, extra || {});
      client.deactivate().then(function () { resolve(report); }, function () { resolve(report); });
    }
    var timer = setTimeout(function () { finish({ error: "timed out" }); }, 30000);

    var config = {
      connectHeaders: { passcode: opts.token },
      reconnectDelay: 0,
      heartbeatIncoming: 0,
      heartbeatOutgoing: 0,
    };
    if (opts.transport === "raw") {
      config.brokerURL = opts.url;
    } else {
      config.webSocketFactory = function () {
        var sock = new SockJS(opts.url, null, { transports: [opts.transport], timeout: 10000 });
        sock.addEventListener("open", function () { report.sockjsTransport = sock.transport; });
        return sock;
      };
    }
    client = new StompJs.Client(config);

    client.onConnect = function (frame) {
      report.userName = frame.headers["user-name"];
      client.subscribe("/user/queue/errors", function (msg) {
        finish({ error: "rejected: " + msg.body });
      });
      client.subscribe(destination, function (msg) {
        report.seq = msg.headers.seq;
        report.body = JSON.parse(msg.body);
        if (report.receipt) { finish(); }
      });
      client.watchForReceipt(receiptId, function () {
        report.receipt = true;
        if (report.body) { finish(); }
      });
      client.publish({
        destination: destination,
        headers: { receipt: receiptId, "content-type": "application/json" },
        body: JSON.stringify({
          type: "CHAT_MESSAGE",
          timestamp: new Date().toISOString(),
          senderId: opts.user,
          payload: { chatId: opts.chatId, content: "hello over " + opts.transport, contentType: "TEXT" },
        }),
      });
    };
    client.onStompError = function (frame) { finish({ error: "ERROR " + frame.headers.message }); };
    client.onWebSocketClose = function (evt) {
      finish({ error: "closed " + (evt && evt.code) + " " + (evt && evt.reason) });
    };
    client.activate();
  });
}

window.runStomp = runStomp;
