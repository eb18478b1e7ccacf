"""static/nexus-client.js (with its part static/nexus-messages.js) in Chromium, over a
scripted stand-in for StompJs.Client.

The stand-in records what the client asks stompjs to do (SUBSCRIBE headers, SENDs,
receipts) and lets the test play the server's part (CONNECTED, MESSAGE, socket close),
so back-off, resubscription with ``last-seq``, de-duplication, gaps, rejections and
token refresh are checked exactly, without a server. The real server is exercised by
test_demo_page.py.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
#: The client's files, in the order a page loads them (nexus-client.js needs the other).
CLIENT_JS = [ROOT / "static" / "nexus-messages.js", ROOT / "static" / "nexus-client.js"]

FAKE_STOMP = r"""
window.fakes = [];
window.StompJs = { Client: function (config) {
  var fake = this;
  fake.config = config; fake.subscriptions = []; fake.published = []; fake.receipts = {};
  fake.active = false;
  fake.activate = function () { fake.active = true; window.fakes.push(fake); };
  fake.deactivate = function () { fake.active = false; return Promise.resolve(); };
  fake.subscribe = function (destination, callback, headers) {
    var sub = { destination: destination, callback: callback, headers: headers, unsubscribed: false };
    fake.subscriptions.push(sub);
    return { unsubscribe: function () { sub.unsubscribed = true; } };
  };
  fake.publish = function (params) { fake.published.push(params); };
  fake.watchForReceipt = function (id, callback) { fake.receipts[id] = callback; };
  // The server's part:
  fake.connected = function (userName) {
    config.onConnect({ headers: { 'user-name': userName, session: 's1', version: '1.2' } });
  };
  fake.deliver = function (destination, body, headers) {
    for (var i = 0; i < fake.subscriptions.length; i++) {
      var s = fake.subscriptions[i];
      if (s.destination === destination && !s.unsubscribed) {
        var h = { destination: destination, subscription: s.headers.id };
        for (var k in headers) { h[k] = headers[k]; }
        s.callback({ headers: h, body: typeof body === 'string' ? body : JSON.stringify(body), ack: function () {} });
      }
    }
  };
  fake.closed = function () { config.onWebSocketClose({ code: 1006, reason: '' }); };
}};
window.events = [];
window.received = [];
window.rejections = [];
"""


def jwt_for(sub: str, exp: float) -> str:
    """An unsigned-looking JWT: the client only reads its claims, the server checks it."""

    def part(data: Dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return part({"alg": "HS256", "typ": "JWT"}) + "." + part({"sub": sub, "exp": exp}) + ".sig"


ORIGIN = "http://client.test"


@pytest.fixture
def page(new_page: Any) -> Iterator[Any]:
    """A blank page with an origin of its own (for localStorage), the stand-in and the
    client. No network: the page itself is served by Playwright."""
    page = new_page()
    page.route(ORIGIN + "/**", lambda route: route.fulfill(
        status=200, content_type="text/html", body="<!DOCTYPE html><title>client</title>"))
    page.goto(ORIGIN + "/")
    page.add_script_tag(content=FAKE_STOMP)
    for path in CLIENT_JS:
        page.add_script_tag(path=str(path))
    yield page


def make_client(page: Any, token: str, **options: Any) -> None:
    page.evaluate(
        """([token, options]) => {
          options.token = token;
          options.random = function () { return 0; };
          options.onRejected = function (r) { window.rejections.push(r); };
          window.client = new NexusClient(options);
          ['state', 'gap', 'duplicate', 'reset', 'token', 'error'].forEach(function (name) {
            window.client.on(name, function (data) { window.events.push([name, data]); });
          });
        }""",
        [token, options],
    )


def subscribe(page: Any, destination: str, options: Dict[str, Any]) -> None:
    page.evaluate(
        """([destination, options]) => window.client.subscribe(destination, function (body, meta) {
             window.received.push({destination: destination, body: body, seq: meta.seq, gap: meta.gap});
           }, options)""",
        [destination, options],
    )


def fake(page: Any, index: int = -1) -> str:
    return "window.fakes[%s]" % ("window.fakes.length - 1" if index == -1 else index)


def subscribe_headers(page: Any, destination: str) -> List[Dict[str, str]]:
    return page.evaluate(
        "(d) => window.fakes.map(f => f.subscriptions.filter(s => s.destination === d)).flat().map(s => s.headers)",
        destination,
    )


def states(page: Any, name: str) -> List[Dict[str, Any]]:
    return [e[1] for e in page.evaluate("window.events") if e[0] == "state" and e[1]["state"] == name]


def test_resubscribes_with_last_seq_and_drops_duplicates(page: Any) -> None:
    make_client(page, jwt_for("alice", time.time() + 3600), backoff={"initial": 20, "max": 40})
    subscribe(page, "/topic/chat/general", {"since": 0})
    page.evaluate("window.client.connect()")
    page.evaluate(fake(page) + ".connected('alice')")
    first = subscribe_headers(page, "/topic/chat/general")[0]
    assert first["last-seq"] == "0"
    assert page.evaluate(fake(page) + ".subscriptions[0].destination") == "/user/queue/errors"

    for seq in (1, 2):
        page.evaluate("(s) => %s.deliver('/topic/chat/general', {n: s}, {seq: String(s)})" % fake(page), seq)
    page.evaluate("%s.closed()" % fake(page))
    page.wait_for_function("window.fakes.length === 2")
    page.evaluate(fake(page) + ".connected('alice')")
    assert subscribe_headers(page, "/topic/chat/general")[1]["last-seq"] == "2"

    # The server replays 2 again (a duplicate), then 3 with a gap report.
    page.evaluate("%s.deliver('/topic/chat/general', {n: 2}, {seq: '2'})" % fake(page))
    page.evaluate("%s.deliver('/topic/chat/general', {n: 3}, {seq: '5', 'gap-from': '3', 'gap-to': '4'})" % fake(page))
    received = page.evaluate("window.received")
    assert [r["seq"] for r in received] == [1, 2, 5]
    assert received[2]["gap"] == {"destination": "/topic/chat/general", "from": 3, "to": 4}
    events = page.evaluate("window.events")
    assert ["duplicate", {"destination": "/topic/chat/general", "seq": 2}] in events
    assert ["gap", {"destination": "/topic/chat/general", "from": 3, "to": 4}] in events
    assert page.evaluate("localStorage.getItem('nexus:alice:/topic/chat/general')") == "5"

    # A restarted in-memory server numbers from 1 again and says so with seq-reset.
    page.evaluate("%s.deliver('/topic/chat/general', {n: 1}, {seq: '1', 'seq-reset': 'true'})" % fake(page))
    page.evaluate("%s.deliver('/topic/chat/general', {n: 2}, {seq: '2'})" % fake(page))
    assert [r["seq"] for r in page.evaluate("window.received")] == [1, 2, 5, 1, 2]
    assert ["reset", {"destination": "/topic/chat/general", "seq": 1}] in page.evaluate("window.events")


def test_resubscribes_with_the_epoch_of_its_last_seq_and_adopts_a_reset(page: Any) -> None:
    page.evaluate("localStorage.setItem('nexus:carol:/topic/chat/e', '4:old')")
    make_client(page, jwt_for("carol", time.time() + 3600), backoff={"initial": 20, "max": 40})
    subscribe(page, "/topic/chat/e", {})
    page.evaluate("window.client.connect()")
    page.evaluate(fake(page) + ".connected('carol')")
    first = subscribe_headers(page, "/topic/chat/e")[0]
    assert (first["last-seq"], first["epoch"]) == ("4", "old")
    # The server's numbering started again: everything of the new epoch, marked reset.
    page.evaluate("%s.deliver('/topic/chat/e', {n: 1}, {seq: '1', epoch: 'new', 'seq-reset': 'true'})" % fake(page))
    page.evaluate("%s.deliver('/topic/chat/e', {n: 2}, {seq: '2', epoch: 'new'})" % fake(page))
    assert [r["seq"] for r in page.evaluate("window.received")] == [1, 2]
    assert page.evaluate("localStorage.getItem('nexus:carol:/topic/chat/e')") == "2:new"
    page.evaluate("%s.closed()" % fake(page))
    page.wait_for_function("window.fakes.length === 2")
    page.evaluate(fake(page) + ".connected('carol')")
    again = subscribe_headers(page, "/topic/chat/e")[1]
    assert (again["last-seq"], again["epoch"]) == ("2", "new")


def test_last_seq_survives_a_reload(page: Any) -> None:
    page.evaluate("localStorage.setItem('nexus:bob:/topic/notifications/bob', '7')")
    make_client(page, jwt_for("bob", time.time() + 3600))
    subscribe(page, "/topic/notifications/bob", {})
    subscribe(page, "/topic/presence", {"since": "live", "resume": False})
    page.evaluate("window.client.connect()")
    page.evaluate(fake(page) + ".connected('bob')")
    assert subscribe_headers(page, "/topic/notifications/bob")[0]["last-seq"] == "7"
    assert "last-seq" not in subscribe_headers(page, "/topic/presence")[0]
    page.evaluate("%s.deliver('/topic/notifications/bob', {n: 7}, {seq: '7'})" % fake(page))
    page.evaluate("%s.deliver('/topic/notifications/bob', {n: 8}, {seq: '8'})" % fake(page))
    assert [r["seq"] for r in page.evaluate("window.received")] == [8]


def test_backoff_grows_to_its_cap_and_resets_after_success(page: Any) -> None:
    make_client(page, jwt_for("alice", time.time() + 3600),
                backoff={"initial": 10, "factor": 2, "max": 40, "jitter": 0.5})
    page.evaluate("window.client.connect()")
    for attempt in range(1, 5):
        page.evaluate("%s.closed()" % fake(page))
        page.wait_for_function("(n) => window.fakes.length === n", arg=attempt + 1)
    first_of_each: List[int] = []
    for s in states(page, "reconnecting"):
        if s["attempt"] > len(first_of_each):
            first_of_each.append(s["delay"])
    # random() is 0 here, so there is no jitter: 10, 20, 40, then the cap.
    assert first_of_each == [10, 20, 40, 40]
    page.evaluate(fake(page) + ".connected('alice')")
    page.evaluate("%s.closed()" % fake(page))
    assert states(page, "reconnecting")[-1]["delay"] == 10

    jittered = page.evaluate(
        "[0, 0.5, 0.999].map(r => NexusClient.backoffDelay(3, {initial: 1000, factor: 2, max: 30000, jitter: 0.5}, () => r))"
    )
    assert jittered == [8000, 6000, 4004]


def test_rejections_reach_the_send_and_the_callback(page: Any) -> None:
    make_client(page, jwt_for("bob", time.time() + 3600))
    page.evaluate("window.client.connect()")
    page.evaluate(fake(page) + ".connected('bob')")
    page.evaluate(
        """window.outcome = [];
           window.receipt = window.client.send('/topic/announcements',
             window.client.envelope('NOTIFICATION', {notificationType: 'ANNOUNCEMENT', title: 't', message: 'm'}),
             {onReceipt: () => outcome.push('receipt'), onRejected: r => outcome.push(r.error)});"""
    )
    sent = page.evaluate(fake(page) + ".published[0]")
    assert sent["destination"] == "/topic/announcements"
    assert sent["headers"]["receipt"] == page.evaluate("window.receipt")
    body = json.loads(sent["body"])
    assert body["senderId"] == "bob" and body["type"] == "NOTIFICATION"
    page.evaluate(
        """%s.deliver('/user/queue/errors',
             {error: 'FORBIDDEN', message: 'not allowed', details: {}, trackingId: 't-1'},
             {'receipt-id': window.receipt})""" % fake(page)
    )
    assert page.evaluate("window.outcome") == ["FORBIDDEN"]
    rejection = page.evaluate("window.rejections[0]")
    assert rejection["trackingId"] == "t-1" and rejection["receiptId"] == page.evaluate("window.receipt")


def test_token_refresh_sends_the_new_token_on_the_live_connection(page: Any) -> None:
    make_client(page, jwt_for("alice", time.time() + 3600))
    page.evaluate("window.client.connect()")
    page.evaluate(fake(page) + ".connected('alice')")
    fresh = jwt_for("alice", time.time() + 7200)
    page.evaluate("(t) => { window.refreshed = null; window.client.refreshToken(t, e => window.refreshed = e || 'ok'); }", fresh)
    sent = page.evaluate(fake(page) + ".published[0]")
    assert sent["destination"] == "/session/token"
    assert sent["headers"]["Authorization"] == "Bearer " + fresh
    page.evaluate("(r) => %s.receipts[r]()" % fake(page), sent["headers"]["receipt"])
    assert page.evaluate("window.refreshed") == "ok"
    assert page.evaluate("window.fakes.length") == 1  # no reconnect
    # The next connection attempt presents the new token.
    page.evaluate("%s.closed()" % fake(page))
    page.wait_for_function("window.fakes.length === 2", timeout=5000)
    assert page.evaluate(fake(page) + ".config.connectHeaders.Authorization") == "Bearer " + fresh


def test_a_server_shutting_down_sets_the_reconnect_delay(page: Any) -> None:
    make_client(page, jwt_for("alice", time.time() + 3600),
                backoff={"initial": 10, "factor": 2, "max": 40, "jitter": 0.5})
    page.evaluate("window.client.connect()")
    page.evaluate(fake(page) + ".connected('alice')")
    page.evaluate(fake(page) + ".config.onWebSocketClose({code: 1001, reason: 'server shutting down (reconnect in 1234 ms)'})")
    assert states(page, "reconnecting")[-1]["delay"] == 1234
    page.evaluate("window.client.reconnectNow()")
    page.evaluate(fake(page) + ".connected('alice')")
    page.evaluate(fake(page) + ".closed()")  # no hint: the back-off decides
    assert states(page, "reconnecting")[-1]["delay"] == 10
    delays = page.evaluate(
        """[[1001, 'server shutting down (reconnect in 250 ms)'], [1001, 'server shutting down'],
            [1000, 'server shutting down (reconnect in 250 ms)'], [1001, 'x (reconnect in 99999999 ms)']]
           .map(c => NexusClient.serverReconnectDelay({code: c[0], reason: c[1]}))"""
    )
    assert delays == [250, None, None, 300000]


def test_the_page_and_the_docs_load_the_client_in_order() -> None:
    names = [path.name for path in CLIENT_JS]
    for document in (ROOT / "static" / "index.html", ROOT / "docs" / "demo.md"):
        loaded = re.findall(r'<script src="/static/([^"/]+)"', document.read_text(encoding="utf-8"))
        assert [name for name in loaded if name in names] == names, document


def test_without_its_part_the_client_says_what_to_load(browser: Any) -> None:
    # A context of its own: new_page fails a test on any uncaught error, and this one is wanted.
    context = browser.new_context()
    try:
        page = context.new_page()
        page.set_content("<!DOCTYPE html><title>client</title>")
        with page.expect_event("pageerror") as error:
            page.add_script_tag(path=str(CLIENT_JS[1]))
        assert "load nexus-messages.js before it" in str(error.value)
        assert page.evaluate("typeof NexusClient") == "undefined"
    finally:
        context.close()


COMMONJS = r"""
var NexusClient = require(process.argv[1]);
var client = new NexusClient({ token: 'x.e30.y', storage: null });
var sub = client.subscribe('/topic/chat/general', function () {}, { since: 0 });
process.stdout.write(JSON.stringify({
  api: ['connect', 'disconnect', 'subscribe', 'send', 'envelope', 'refreshToken', 'lastSeq', 'forgetSeq',
        'setTransport', 'reconnectNow', 'on', 'off'].filter(function (m) { return typeof client[m] === 'function'; }),
  statics: [typeof NexusClient.backoffDelay, typeof NexusClient.decodeJwt, typeof NexusClient.serverReconnectDelay],
  subscription: sub.id,
  queued: typeof client.send('/topic/chat/general', { hi: 1 })
}));
"""


def test_commonjs_require_gives_the_whole_client() -> None:
    if not shutil.which("node"):
        pytest.skip("node is not installed")
    result = subprocess.run(["node", "-e", COMMONJS, str(CLIENT_JS[1])],
                            capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(result.stdout) == {
        "api": ["connect", "disconnect", "subscribe", "send", "envelope", "refreshToken", "lastSeq", "forgetSeq",
                "setTransport", "reconnectNow", "on", "off"],
        "statics": ["function", "function", "function"],
        "subscription": "sub-1",
        "queued": "string",
    }
