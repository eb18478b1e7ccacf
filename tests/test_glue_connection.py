"""The STOMP glue through a real server on loopback, with real clients.

stomp.py (a third-party STOMP client) over the raw WebSocket endpoint; SockJS framing
over the websocket and xhr-polling transports; raw frames where a test needs to send
what no well-behaved client would.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any, Dict, Set

import pytest
import stomp
import websocket
from nexus_tornado.errors import Rejection
from nexus_tornado.hub.presence import Cluster, presence_envelope
from nexus_tornado.policy.destinations import PRESENCE_DESTINATION
from support.clients import RawWsClient, SockJsWsClient, XhrPollingClient, frame_bytes
from support.clients import chat_envelope as envelope
from support.nexus import make_token, running_nexus
from support.stomp_py import Collector, stomp_py


@pytest.fixture
def nexus() -> Any:
    with running_nexus() as server:
        yield server


def test_stomp_py_exchanges_messages_with_seq_and_receipts(nexus: Any) -> None:
    alice, alice_in = stomp_py(nexus, "alice", chats=["c1"])
    bob, bob_in = stomp_py(nexus, "bob", chats=["c1"])
    try:
        for conn, listener in ((alice, alice_in), (bob, bob_in)):
            conn.subscribe("/topic/chat/c1", id="s1", ack="auto", headers={"receipt": "sub"})
            assert listener.receipts.get(timeout=10) == "sub"
        for i in range(5):
            alice.send("/topic/chat/c1", envelope("alice", "c1", "hello %d" % i),
                       headers={"receipt": "r%d" % i}, content_type="application/json")
        assert [alice_in.receipts.get(timeout=10) for _ in range(5)] == ["r%d" % i for i in range(5)]
        for listener in (alice_in, bob_in):
            got = [listener.next_message() for _ in range(5)]
            assert [int(m.headers["seq"]) for m in got] == [1, 2, 3, 4, 5]
            assert [json.loads(m.body)["payload"]["content"] for m in got] == ["hello %d" % i for i in range(5)]
            for m in got:
                assert m.headers["destination"] == "/topic/chat/c1"
                assert m.headers["subscription"] == "s1"
                assert m.headers["content-type"] == "application/json"
                assert m.headers["message-id"]
    finally:
        alice.disconnect()
        bob.disconnect()


def test_connected_frame_names_server_user_and_session(nexus: Any) -> None:
    client = RawWsClient(nexus.ws_url)
    try:
        connected = client.connect(nexus.token("carol"), heart_beat="0,0")
        assert connected.headers["version"] == "1.2"
        assert connected.headers["user-name"] == "carol"
        assert connected.headers["server"].startswith("nexus-tornado/")
        assert connected.headers["session"]
    finally:
        client.close()


def test_two_subscribers_see_the_same_order_under_concurrent_publishers(nexus: Any) -> None:
    watchers = [RawWsClient(nexus.ws_url) for _ in range(2)]
    senders = [RawWsClient(nexus.ws_url) for _ in range(3)]
    try:
        for i, w in enumerate(watchers):
            w.connect(nexus.token("w%d" % i, chats=["room"]))
            w.send_frame("SUBSCRIBE", {"id": "0", "destination": "/topic/chat/room", "receipt": "ok"})
            w.expect("RECEIPT", receipt_id="ok")
        for i, s in enumerate(senders):
            s.connect(nexus.token("s%d" % i, chats=["room"]))
        for n in range(10):
            for i, s in enumerate(senders):
                s.send_frame("SEND", {"destination": "/topic/chat/room"}, envelope("s%d" % i, "room", "%d-%d" % (i, n)))
        orders = []
        for w in watchers:
            frames = [w.expect("MESSAGE") for _ in range(30)]
            assert [int(f.headers["seq"]) for f in frames] == list(range(1, 31))
            orders.append([json.loads(f.body)["payload"]["content"] for f in frames])
        assert orders[0] == orders[1]
    finally:
        for c in watchers + senders:
            c.close()


def test_bad_token_gets_error_and_close(nexus: Any) -> None:
    client = RawWsClient(nexus.ws_url)
    forged = make_token("mallory", secret="not-the-server-secret-0123456789abcdef")
    client.send_frame("CONNECT", {"accept-version": "1.2", "host": "x", "passcode": forged})
    error = client.expect("ERROR")
    assert error.headers["message"] == "invalid signature"
    assert forged not in error.body.decode()
    client.wait_closed()


def test_expired_token_is_refused_with_its_reason(nexus: Any) -> None:
    client = RawWsClient(nexus.ws_url)
    client.send_frame("CONNECT", {"accept-version": "1.2", "host": "x",
                                  "Authorization": "Bearer " + nexus.token("old", ttl=-3600)})
    assert client.expect("ERROR").headers["message"] == "token expired"
    client.wait_closed()


def test_access_token_query_argument_authenticates(nexus: Any) -> None:
    client = RawWsClient(nexus.ws_url + "?access_token=" + nexus.token("dave"))
    try:
        client.send_frame("CONNECT", {"accept-version": "1.2", "host": "x"})
        assert client.expect("CONNECTED").headers["user-name"] == "dave"
    finally:
        client.close()


def test_malformed_frame_gets_error_and_close_while_others_keep_working(nexus: Any) -> None:
    good = RawWsClient(nexus.ws_url)
    bad = RawWsClient(nexus.ws_url)
    try:
        good.connect(nexus.token("good", chats=["c"]))
        good.send_frame("SUBSCRIBE", {"id": "1", "destination": "/topic/chat/c", "receipt": "s"})
        good.expect("RECEIPT")
        bad.connect(nexus.token("bad"))
        bad.send_raw("SEND\ndestination:/topic/chat/c\nbroken\\qescape:1\n\nx\x00")
        assert bad.expect("ERROR").headers["message"]
        bad.wait_closed()
        good.send_frame("SEND", {"destination": "/topic/chat/c", "receipt": "r"}, envelope("good", "c", "still here"))
        good.expect("RECEIPT", receipt_id="r")
        assert json.loads(good.expect("MESSAGE").body)["payload"]["content"] == "still here"
    finally:
        good.close()


@pytest.mark.parametrize("client_class", [SockJsWsClient, XhrPollingClient])
def test_sockjs_transports_carry_stomp(nexus: Any, client_class: Any) -> None:
    client = client_class(nexus.base_url)
    watcher = RawWsClient(nexus.ws_url)
    try:
        assert client.connect(nexus.token("frank", chats=["sj"])).headers["version"] == "1.2"
        client.send_frame("SUBSCRIBE", {"id": "a", "destination": "/topic/chat/sj", "receipt": "sub"})
        client.expect("RECEIPT", receipt_id="sub")
        watcher.connect(nexus.token("gina", chats=["sj"]))
        watcher.send_frame("SEND", {"destination": "/topic/chat/sj", "receipt": "p"}, envelope("gina", "sj", "via sockjs"))
        watcher.expect("RECEIPT")
        message = client.expect("MESSAGE")
        assert message.headers["seq"] == "1"
        assert json.loads(message.body)["payload"]["content"] == "via sockjs"
        client.send_frame("SEND", {"destination": "/topic/chat/sj", "receipt": "back"}, envelope("frank", "sj", "reply"))
        client.expect("RECEIPT", receipt_id="back")
    finally:
        watcher.close()
        client.close()


def test_replay_after_last_seq_then_live(nexus: Any) -> None:
    publisher = RawWsClient(nexus.ws_url)
    try:
        publisher.connect(nexus.token("pub", chats=["r"]))
        for i in range(5):
            publisher.send_frame("SEND", {"destination": "/topic/chat/r", "receipt": str(i)}, envelope("pub", "r", str(i)))
        for i in range(5):
            publisher.expect("RECEIPT", receipt_id=str(i))
        late = RawWsClient(nexus.ws_url)
        late.connect(nexus.token("late", chats=["r"]))
        late.send_frame("SUBSCRIBE", {"id": "x", "destination": "/topic/chat/r", "last-seq": "2", "receipt": "s"})
        replayed = [late.expect("MESSAGE") for _ in range(3)]
        assert [f.headers["seq"] for f in replayed] == ["3", "4", "5"]
        late.expect("RECEIPT", receipt_id="s")
        publisher.send_frame("SEND", {"destination": "/topic/chat/r"}, envelope("pub", "r", "live"))
        assert late.expect("MESSAGE").headers["seq"] == "6"
        late.close()
    finally:
        publisher.close()


def test_server_side_notify_waits_for_offline_user(nexus: Any) -> None:
    notification = {
        "type": "NOTIFICATION",
        "timestamp": "2026-11-25T10:00:00Z",
        "payload": {"notificationType": "TASK", "title": "Assigned", "message": "task 7"},
    }
    stored = nexus.run(lambda: nexus.plugin.notify("hank", notification))
    assert stored.seq == 1
    client = RawWsClient(nexus.ws_url)
    try:
        client.connect(nexus.token("hank"))
        client.send_frame("SUBSCRIBE", {"id": "n", "destination": "/topic/notifications/hank"})
        message = client.expect("MESSAGE")
        assert json.loads(message.body)["payload"]["title"] == "Assigned"
        deadline = time.monotonic() + 10
        while nexus.run(lambda: nexus.plugin.delivery_status("hank", 1)) is not True:
            assert time.monotonic() < deadline, "delivery was never recorded"
            time.sleep(0.02)
    finally:
        client.close()


@pytest.mark.parametrize("last_seq", ["-1", "x", "1.5", ""])
def test_a_last_seq_that_is_not_a_non_negative_integer_is_invalid(nexus: Any, last_seq: str) -> None:
    client = RawWsClient(nexus.ws_url)
    try:
        client.connect(nexus.token("resumer", chats=["neg"]))
        client.subscribe_errors()
        client.send_frame(
            "SUBSCRIBE", {"id": "r", "destination": "/topic/chat/neg", "last-seq": last_seq, "receipt": "s"}
        )
        frame, body = client.rejection()
        assert frame.headers["receipt-id"] == "s"
        assert body["error"] == "INVALID_MESSAGE"
        assert body["message"].startswith("invalid message: last-seq: must be a non-negative integer")
        assert list(body["details"]["errors"]) == ["last-seq"]
        # The connection stays, and no subscription was left behind.
        client.send_frame("SUBSCRIBE", {"id": "r", "destination": "/topic/chat/neg", "last-seq": "0", "receipt": "t"})
        client.expect("RECEIPT", receipt_id="t")
    finally:
        client.close()


# -- STOMP 1.2 as third-party clients expect it ----------------------------------------


def test_user_headers_of_a_send_reach_every_message_with_escaping_round_tripped(nexus: Any) -> None:
    """STOMP 1.2 "MESSAGE": user headers of the SEND are passed through, content-type
    included; headers the server sets itself (and credentials) are its own."""
    alice, alice_in = stomp_py(nexus, "alice", chats=["h1"])
    bob, bob_in = stomp_py(nexus, "bob", chats=["h1"])
    try:
        for conn, listener in ((alice, alice_in), (bob, bob_in)):
            conn.subscribe("/topic/chat/h1", id="s", ack="auto", headers={"receipt": "s"})
            assert listener.receipts.get(timeout=10) == "s"
        odd = "a:b\\c\nd\re"  # every character STOMP 1.2 escapes
        alice.send(
            "/topic/chat/h1",
            envelope("alice", "h1", "with headers").decode(),
            content_type="application/vnd.nexus+json",
            headers={"reply-to": "/topic/chat/h1", "x-trace-id": "t-42", "x-odd": odd,
                     "seq": "999", "message-id": "forged", "Authorization": "Bearer secret"},
            receipt="sent",
        )
        assert alice_in.receipts.get(timeout=10) == "sent"
        for listener in (alice_in, bob_in):
            headers = listener.next_message().headers
            assert headers["reply-to"] == "/topic/chat/h1"
            assert headers["x-trace-id"] == "t-42"
            assert headers["x-odd"] == odd
            assert headers["content-type"] == "application/vnd.nexus+json"
            assert headers["seq"] == "1" and headers["message-id"] != "forged"
            assert "Authorization" not in headers and "receipt" not in headers
        # A SEND without content-type: the contract's default.
        alice.send("/topic/chat/h1", envelope("alice", "h1", "plain").decode(), receipt="plain")
        assert alice_in.receipts.get(timeout=10) == "plain"
        headers = bob_in.next_message().headers
        assert headers["content-type"] == "application/json" and "x-trace-id" not in headers
    finally:
        alice.disconnect()
        bob.disconnect()


SOCKJS_OFF = ("websocket", "xhr", "xhr_streaming", "jsonp", "eventsource", "htmlfile")


def test_binary_body_goes_as_a_binary_websocket_message() -> None:
    """A body that is not UTF-8 (host-app publish of bytes) cannot travel in a text
    message: on a raw-WebSocket-only server it goes as a binary one, intact."""
    body = b"\xff\x00\xfe binary \x80"
    with running_nexus(disabled_transports=SOCKJS_OFF) as server:
        raw = RawWsClient(server.ws_url)
        conn = stomp.WSStompConnection(
            [("127.0.0.1", server.port)], ws_path="/stomp/websocket", auto_decode=False
        )
        listener = Collector()
        conn.set_listener("collector", listener)
        try:
            raw.connect(server.token("kim"))
            raw.subscribe("n", "/topic/notifications/kim")
            conn.connect(passcode=server.token("kim"), wait=True)
            conn.subscribe("/topic/notifications/kim", id="py", ack="auto", headers={"receipt": "py"})
            assert listener.receipts.get(timeout=10) == "py"
            server.run(lambda: server.plugin.publish("/topic/notifications/kim", body, {"content-type": "application/octet-stream"}))
            server.run(lambda: server.plugin.publish("/topic/notifications/kim", {"text": "after"}))
            opcode, data = raw.ws.recv_data()
            assert opcode == websocket.ABNF.OPCODE_BINARY
            assert data.startswith(b"MESSAGE\n") and data.endswith(b"\n\n" + body + b"\x00")
            assert b"content-type:application/octet-stream\n" in data
            opcode, data = raw.ws.recv_data()
            assert opcode == websocket.ABNF.OPCODE_TEXT and b'{"text":"after"}' in data
            # stomp.py reads the binary message as a frame like any other.
            first = listener.next_message()
            assert first.body == body and first.headers["seq"] == "1"
            assert listener.next_message().headers["seq"] == "2"
        finally:
            raw.close()
            conn.disconnect()


def test_binary_body_is_refused_at_publish_while_sockjs_is_on(nexus: Any) -> None:
    with pytest.raises(Rejection) as info:
        nexus.run(lambda: nexus.plugin.publish("/topic/notifications/lee", b"\xff\xfe"))
    assert info.value.code == "INVALID_MESSAGE"
    assert "SockJS transports carry only text" in info.value.message
    assert nexus.run(lambda: nexus.plugin.store.last_seq("/topic/notifications/lee")) == 0


def test_binary_send_from_a_client_is_refused_while_sockjs_is_on(nexus: Any, monkeypatch: Any) -> None:
    """A host app that loosens validation still cannot publish what SockJS cannot carry."""
    async def admit_anything(*args: Any, **kwargs: Any) -> Dict[str, Any]:
        return {}  # what the guard returns is the validated message: here, nothing checked

    monkeypatch.setattr(nexus.plugin.services.guard, "admit_send", admit_anything)
    client = RawWsClient(nexus.ws_url)
    try:
        client.connect(nexus.token("max", chats=["b"]))
        client.subscribe_errors()
        client.ws.send(frame_bytes("SEND", {"destination": "/topic/chat/b", "receipt": "bin"}, b"\xff\xfe"),
                       websocket.ABNF.OPCODE_BINARY)
        frame, body = client.rejection()
        assert frame.headers["receipt-id"] == "bin"
        assert body["error"] == "INVALID_MESSAGE" and "only text" in body["message"]
    finally:
        client.close()


def test_binary_message_from_history_is_reported_to_a_sockjs_subscriber(nexus: Any) -> None:
    """Stored while SockJS was off (or by another process): a SockJS subscriber is told
    on its error queue, never sent a broken frame, and goes on receiving."""
    nexus.handle.call(lambda: setattr(nexus.plugin.hub, "text_only", False))
    try:
        nexus.run(lambda: nexus.plugin.publish("/topic/notifications/ned", b"\xff\xfe"))
    finally:
        nexus.handle.call(lambda: setattr(nexus.plugin.hub, "text_only", True))
    nexus.run(lambda: nexus.plugin.publish("/topic/notifications/ned", {"text": "fine"}))
    client = SockJsWsClient(nexus.base_url)
    try:
        client.connect(nexus.token("ned"))
        client.subscribe_errors()
        client.send_frame("SUBSCRIBE", {"id": "n", "destination": "/topic/notifications/ned"})
        _, body = client.rejection()
        assert body["error"] == "INVALID_MESSAGE"
        assert body["details"] == {"destination": "/topic/notifications/ned", "subscription": "n", "seq": "1"}
        message = client.expect("MESSAGE", subscription="n")
        assert message.headers["seq"] == "2" and json.loads(message.body) == {"text": "fine"}
    finally:
        client.close()


def test_every_frame_received_before_the_close_is_handled() -> None:
    """500 SENDs, DISCONNECT without receipt, and the socket closed at once: all 500
    are persisted (frames still queued were dropped at the close)."""
    with running_nexus(sends_per_minute=10_000) as server:
        client = RawWsClient(server.ws_url)
        client.connect(server.token("quinn", chats=["burst"]))
        for i in range(500):
            client.send_frame("SEND", {"destination": "/topic/chat/burst"}, envelope("quinn", "burst", str(i)))
        client.send_frame("DISCONNECT")
        client.close()
        deadline = time.monotonic() + 30
        while server.run(lambda: server.plugin.store.last_seq("/topic/chat/burst")) < 500:
            assert time.monotonic() < deadline, "frames received before the close were dropped"
            time.sleep(0.05)
        assert server.run(lambda: server.plugin.store.last_seq("/topic/chat/burst")) == 500


def test_nothing_after_an_error_is_taken(nexus: Any) -> None:
    """After the ERROR for a refused SEND, frames already received are not handled:
    the client got no RECEIPT for them."""
    client = RawWsClient(nexus.ws_url)
    client.connect(nexus.token("rita", chats=["r1"]))
    client.send_frame("SEND", {"destination": "/topic/chat/not-hers"}, envelope("rita", "not-hers", "no"))
    for i in range(20):
        client.send_frame("SEND", {"destination": "/topic/chat/r1"}, envelope("rita", "r1", str(i)))
    assert client.expect("ERROR").headers["code"] == "FORBIDDEN"
    client.wait_closed()
    deadline = time.monotonic() + 10
    while nexus.handle.call(lambda: len(nexus.plugin.services.draining)):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert nexus.run(lambda: nexus.plugin.store.last_seq("/topic/chat/r1")) == 0


class _SlowSharedState(Cluster):
    """Presence shared with other processes whose state takes until ``release`` to read."""

    def __init__(self) -> None:
        self.reading = threading.Event()
        self.release = threading.Event()

    def changed(self, user_id: str) -> None:
        pass

    def connections_elsewhere(self, user_id: str) -> int:
        return 0

    def online_elsewhere(self) -> Set[str]:
        return set()

    async def announced_online(self) -> Set[str]:
        self.reading.set()
        while not self.release.is_set():
            await asyncio.sleep(0.01)
        return {"far"}


def test_a_presence_snapshot_is_read_once_subscribed_and_what_came_meanwhile_follows_it(nexus: Any) -> None:
    shared = _SlowSharedState()
    nexus.plugin.presence.cluster = shared
    client = RawWsClient(nexus.ws_url)
    try:
        client.connect(nexus.token("watcher"))
        client.send_frame("SUBSCRIBE", {"id": "p", "destination": PRESENCE_DESTINATION, "receipt": "sub"})
        assert shared.reading.wait(10)
        # Published while the snapshot is being read: the subscription already takes it.
        nexus.run(lambda: nexus.plugin.publish(PRESENCE_DESTINATION, presence_envelope("near", "ONLINE")))
        shared.release.set()
        first = client.expect("MESSAGE")
        assert first.headers.get("snapshot") == "true"
        assert json.loads(first.body)["payload"]["online"] == ["far", "watcher"]  # shared state + this process
        second = client.expect("MESSAGE")
        assert json.loads(second.body)["payload"] == {"entityType": "user", "entityId": "near", "status": "ONLINE"}
        client.expect("RECEIPT", receipt_id="sub")
    finally:
        shared.release.set()
        client.close()
        nexus.plugin.presence.cluster = None
