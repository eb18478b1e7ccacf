"""Connection-level limits on the wire: frame size, rate, floods, caps, deadlines, slow consumers.

Each test drives a real server on loopback and checks two things: the offender gets the
documented answer (docs/security.md, "Connection-level limits"), and a well-behaved
client connected throughout (``Bystander``) still gets all of its messages.
Time-based limits run with short settings and a fast housekeeping tick, so nothing here
waits for minutes; no assertion depends on how long anything took.
"""

from __future__ import annotations

import http.client
import json
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from typing import Any, Dict, Iterator, List, Optional

import pytest
import websocket  # websocket-client

from nexus_tornado.settings import Settings
from nexus_tornado.stomp import Frame
from nexus_tornado.glue.connection import MAX_QUEUED_EVENTS
from nexus_tornado.transport.base import MESSAGE_SLACK, message_limit
from support.parsing import CollectingParser
from support.clients import (
    RawWsClient,
    SockJsWsClient,
    XhrPollingClient,
    chat_envelope,
    frame_bytes,
    read_until_closed,
)
from support.nexus import SECRET, NexusServer, running_nexus

KIB = 1024
#: Frames in one burst: one more than may wait to be handled (docs/security.md).
FLOOD = 1001
#: A short housekeeping tick, so deadlines of a fraction of a second are enforced promptly.
FAST_TICK = {"tick_seconds": 0.05}


@pytest.fixture(scope="module")
def nexus() -> Iterator[NexusServer]:
    """A server with the default settings (the wire contract's limits)."""
    with running_nexus() as server:
        yield server


def user_connections(nexus: NexusServer, user: str) -> int:
    return int(nexus.handle.call(lambda: nexus.plugin.services.connection_count(user)))


def wait_until(condition: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition never became true"
        time.sleep(0.01)


# -- the defaults are the contract's ---------------------------------------------------


def test_default_limits_are_the_wire_contracts() -> None:
    settings = Settings(jwt_secret=SECRET)
    assert settings.max_frame_size == 64 * KIB
    assert settings.sends_per_minute == 100
    assert settings.idle_timeout == 300.0
    assert settings.connect_timeout == 10.0
    assert settings.max_pending_output == 1024 * KIB
    assert message_limit(settings.max_frame_size) == 64 * KIB + MESSAGE_SLACK
    assert MAX_QUEUED_EVENTS == FLOOD - 1


# -- frame size -----------------------------------------------------------------------


def oversized_send(chat: str, body_size: int, receipt: str) -> str:
    """A SEND frame (text) whose body is exactly ``body_size`` bytes."""
    return "SEND\ndestination:/topic/chat/%s\nreceipt:%s\n\n%s\x00" % (chat, receipt, "x" * body_size)


def test_send_just_over_64_kib_is_too_large_and_the_connection_stays(nexus: NexusServer) -> None:
    calm = nexus.bystander()
    client = RawWsClient(nexus.ws_url)
    try:
        client.connect(nexus.token("big", chats=["big"]))
        client.subscribe_errors()
        # At the limit the frame is read (and refused by validation: not JSON) ...
        client.send_raw(oversized_send("big", 64 * KIB, "at-limit"))
        frame, body = client.rejection()
        assert (frame.headers["receipt-id"], body["error"]) == ("at-limit", "INVALID_MESSAGE")
        # ... one byte more and it is refused unread.
        client.send_raw(oversized_send("big", 64 * KIB + 1, "over"))
        frame, body = client.rejection()
        assert frame.headers["receipt-id"] == "over"
        assert body["error"] == "TOO_LARGE"
        assert body["details"]["limit"] == 64 * KIB
        assert body["trackingId"]
        # Still connected and working.
        client.send_frame("SEND", {"destination": "/topic/chat/big", "receipt": "ok"}, chat_envelope("big", "big"))
        client.expect("RECEIPT", receipt_id="ok")
        calm.check()
    finally:
        client.close()
        calm.close()


def test_websocket_message_far_beyond_the_limit_is_refused_unread_with_1009(nexus: NexusServer) -> None:
    calm = nexus.bystander()
    client = RawWsClient(nexus.ws_url)
    try:
        client.connect(nexus.token("huge"))
        client.send_raw(oversized_send("x", message_limit(64 * KIB) + 1, "r"))
        # 1009 "message too big"; or 1006 when the reset the server sends as it drops the
        # unread rest of the message reaches the client before the close frame does.
        assert client.wait_closed() in (1009, 1006)
        assert not any(f.command == "RECEIPT" for f in client.frames)
        calm.check()
    finally:
        calm.close()


def test_declared_length_far_beyond_the_limit_gets_error_and_close(nexus: NexusServer) -> None:
    """A frame split over many small messages cannot slip past the transport's limit."""
    calm = nexus.bystander()
    client = RawWsClient(nexus.ws_url)
    try:
        client.connect(nexus.token("sneaky", chats=["s"]))
        client.subscribe_errors()
        declared = message_limit(64 * KIB) + 1
        client.send_raw("SEND\ndestination:/topic/chat/s\ncontent-length:%d\n\n" % declared)
        client.send_raw("x" * 4 * KIB)  # the session answers as soon as the headers are read
        error = client.expect("ERROR")
        assert error.headers["message"] == "frame too large"
        assert client.wait_closed() == 1000
        calm.check()
    finally:
        calm.close()


def test_declared_length_somewhat_over_the_limit_is_too_large(nexus: NexusServer) -> None:
    client = RawWsClient(nexus.ws_url)
    try:
        client.connect(nexus.token("split", chats=["s"]))
        client.subscribe_errors()
        declared = 64 * KIB + MESSAGE_SLACK  # over the limit, not beyond the transport's
        client.send_raw("SEND\ndestination:/topic/chat/s\nreceipt:r\ncontent-length:%d\n\n" % declared)
        for _ in range(declared // (8 * KIB)):
            client.send_raw("x" * 8 * KIB)
        client.send_raw("\x00")
        frame, body = client.rejection()
        assert (frame.headers["receipt-id"], body["error"]) == ("r", "TOO_LARGE")
        client.send_frame("SEND", {"destination": "/topic/chat/s", "receipt": "ok"}, chat_envelope("split", "s"))
        client.expect("RECEIPT", receipt_id="ok")
    finally:
        client.close()


def send_body(endpoint: str, text: str) -> bytes:
    """The request body of a SockJS send endpoint carrying one message."""
    data = json.dumps([text])
    return (data if endpoint == "xhr_send" else urllib.parse.urlencode({"d": data})).encode()


@pytest.mark.parametrize("endpoint", ["xhr_send", "jsonp_send"])
def test_send_endpoint_just_over_the_limit_is_too_large(nexus: NexusServer, endpoint: str) -> None:
    client = XhrPollingClient(nexus.base_url)
    client.connect(nexus.token("poster", chats=["p"]))
    client.subscribe_errors()
    client._post("/" + endpoint, send_body(endpoint, oversized_send("p", 64 * KIB + 1, "over")))
    frame, body = client.rejection()
    assert (frame.headers["receipt-id"], body["error"]) == ("over", "TOO_LARGE")
    # The session stays.
    client.send_frame("SEND", {"destination": "/topic/chat/p", "receipt": "ok"}, chat_envelope("poster", "p"))
    client.expect("RECEIPT", receipt_id="ok")


@pytest.mark.parametrize("endpoint", ["xhr_send", "jsonp_send"])
def test_send_endpoint_far_beyond_the_limit_is_refused_and_closes_only_that_session(
    nexus: NexusServer, endpoint: str
) -> None:
    calm = nexus.bystander()
    client = XhrPollingClient(nexus.base_url)
    try:
        client.connect(nexus.token("poster"))
        body = send_body(endpoint, oversized_send("p", message_limit(64 * KIB) + 1, "r"))
        with pytest.raises(urllib.error.HTTPError) as refused:
            client._post("/" + endpoint, body)
        assert refused.value.code == 413
        refused.value.close()
        assert client.wait_closed() == [1009, "message too big"]
        calm.check()
    finally:
        calm.close()


# -- rate limit -----------------------------------------------------------------------


def test_flood_from_several_connections_of_one_user_shares_one_budget() -> None:
    with running_nexus(sends_per_minute=10) as nexus:
        calm = nexus.bystander()
        floods = [RawWsClient(nexus.ws_url) for _ in range(3)]
        try:
            for client in floods:
                client.connect(nexus.token("flooder", chats=["f"]))
                client.subscribe_errors()
            for n in range(5):  # 15 SENDs, 5 per connection: each alone is under 10
                for i, client in enumerate(floods):
                    receipt = "%d-%d" % (i, n)
                    client.send_frame(
                        "SEND", {"destination": "/topic/chat/f", "receipt": receipt}, chat_envelope("flooder", "f")
                    )
                    # One at a time, so the order the budget is spent in is known.
                    got = _receipt_or_rejection(client, receipt)
                    expected_ok = n * 3 + i < 10
                    assert (got is None) == expected_ok, (receipt, got)
                    if got is not None:
                        assert got["error"] == "RATE_LIMITED"
                        assert got["details"]["retryAfter"] > 0
            calm.check()  # another user's budget is untouched
        finally:
            for client in floods:
                client.close()
            calm.close()


def _receipt_or_rejection(client: RawWsClient, receipt: str) -> Any:
    """None when ``receipt`` came back; the rejection body when it was refused."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for i, frame in enumerate(client.frames):
            if frame.command == "RECEIPT" and frame.headers.get("receipt-id") == receipt:
                del client.frames[i]
                return None
            if frame.command == "MESSAGE" and frame.headers.get("receipt-id") == receipt:
                del client.frames[i]
                return json.loads(frame.body)
        text = client._receive_text()
        assert text is not None, "connection closed"
        client._feed(text)
    raise AssertionError("neither RECEIPT nor rejection for %s" % receipt)


def test_frames_piling_up_faster_than_handled_end_the_connection(nexus: NexusServer) -> None:
    calm = nexus.bystander()
    client = RawWsClient(nexus.ws_url)
    try:
        client.connect(nexus.token("burst"))
        frame = "SEND\ndestination:/topic/chat/x\n\n\x00"
        client.send_raw(frame * FLOOD)  # one message: all queued at once
        assert client.expect("ERROR").headers["message"] == "too many frames"
        client.wait_closed()
        calm.check()
    finally:
        calm.close()


# -- caps on subscriptions and connections -------------------------------------------


def test_subscriptions_per_connection_are_capped() -> None:
    with running_nexus(max_subscriptions=3) as nexus:
        calm = nexus.bystander()
        client = RawWsClient(nexus.ws_url)
        try:
            client.connect(nexus.token("hoarder"))
            for i in range(3):
                client.subscribe(str(i), "/topic/presence")
            client.send_frame("SUBSCRIBE", {"id": "3", "destination": "/topic/presence"})
            assert client.expect("ERROR").headers["message"] == "too many subscriptions"
            client.wait_closed()
            calm.check()
        finally:
            calm.close()


def test_connections_per_user_are_capped() -> None:
    with running_nexus(max_connections_per_user=2) as nexus:
        calm = nexus.bystander()
        clients = [RawWsClient(nexus.ws_url) for _ in range(3)]
        try:
            clients[0].connect(nexus.token("many"))
            clients[1].connect(nexus.token("many"))
            clients[2].send_frame("CONNECT", {"accept-version": "1.2", "host": "x", "passcode": nexus.token("many")})
            assert clients[2].expect("ERROR").headers["message"] == "too many connections"
            clients[2].wait_closed()
            # Closing one frees a place.
            clients[0].close()
            wait_until(lambda: user_connections(nexus, "many") == 1)
            again = RawWsClient(nexus.ws_url)
            assert again.connect(nexus.token("many")).headers["user-name"] == "many"
            again.close()
            calm.check()
        finally:
            clients[1].close()
            calm.close()


# -- deadlines and timeouts -------------------------------------------------------------


def test_connection_without_connect_is_closed_at_the_deadline() -> None:
    with running_nexus(connect_timeout=0.3, plugin_options=FAST_TICK) as nexus:
        calm = nexus.bystander()
        try:
            silent = RawWsClient(nexus.ws_url)
            assert silent.expect("ERROR").headers["message"] == "connect timeout"
            silent.wait_closed()
            calm.check()
        finally:
            calm.close()


def test_idle_connection_is_closed() -> None:
    with running_nexus(idle_timeout=0.5, plugin_options=FAST_TICK) as nexus:
        idle = RawWsClient(nexus.ws_url)
        idle.connect(nexus.token("sleepy"), heart_beat="0,0")
        assert idle.expect("ERROR").headers["message"] == "idle timeout"
        idle.wait_closed()


def test_traffic_keeps_a_connection_alive_past_the_idle_timeout() -> None:
    """Heart-beats count as traffic: a client beating steadily outlives a silent one."""
    with running_nexus(idle_timeout=0.5, plugin_options=FAST_TICK) as nexus:
        beating = RawWsClient(nexus.ws_url)
        silent = RawWsClient(nexus.ws_url)
        try:
            beating.connect(nexus.token("awake"), heart_beat="0,0")
            silent.connect(nexus.token("sleepy"), heart_beat="0,0")
            silent.ws.settimeout(0.05)
            deadline = time.monotonic() + 10
            while True:  # beat until the silent one, connected after us, is closed
                assert time.monotonic() < deadline, "the silent connection was never closed"
                beating.send_raw("\n")
                try:
                    text = silent._receive_text()
                except websocket.WebSocketTimeoutException:
                    continue
                if text is None:
                    break
                silent._feed(text)
            assert silent.frames[-1].headers["message"] == "idle timeout"
            beating.send_frame("SUBSCRIBE", {"id": "p", "destination": "/topic/presence", "receipt": "alive"})
            beating.expect("RECEIPT", receipt_id="alive")
        finally:
            beating.close()
            silent.close()


def test_missing_heart_beats_close_the_connection() -> None:
    with running_nexus(heartbeat=(0, 200), plugin_options=FAST_TICK) as nexus:
        client = RawWsClient(nexus.ws_url)
        connected = client.connect(nexus.token("quiet"), heart_beat="200,0")
        assert connected.headers["heart-beat"] == "0,200"
        assert client.expect("ERROR").headers["message"] == "heart-beat timeout"
        client.wait_closed()


# -- slow consumers ---------------------------------------------------------------------


def shrink_send_buffer(nexus: NexusServer, user: str) -> None:
    """Give ``user``'s server-side socket a small kernel send buffer.

    Otherwise several MiB of loopback socket buffers fill before the server's own
    output queue grows; the bound under test is that queue.
    """

    def shrink() -> None:
        for connection in nexus.plugin.services.connections:
            if connection.principal is not None and connection.principal.user_id == user:
                handler = connection.session.handler
                ws = getattr(handler, "ws_connection", None)
                stream = ws.stream if ws is not None else handler.request.connection.stream
                stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)

    nexus.handle.call(shrink)


def flood_until_dropped(nexus: NexusServer, good: RawWsClient, user: str, destination: str) -> int:
    """Publish 2 KB messages until ``user`` is disconnected; ``good`` must get each one."""
    published = 0
    while user_connections(nexus, user) > 0:
        assert published < 2000, "the slow reader was never cut off"
        publish(nexus, destination, [chat_envelope("srv", "busy", "x" * 2000) for _ in range(10)])
        published += 10
        for seq in range(published - 9, published + 1):  # the good reader keeps up
            assert good.expect("MESSAGE").headers["seq"] == str(seq)
    return published


def publish(nexus: NexusServer, destination: str, bodies: "list[bytes]") -> None:
    async def run() -> None:
        for body in bodies:
            await nexus.plugin.publish(destination, body)

    nexus.run(run)


def test_reader_that_stops_reading_is_closed_as_slow_consumer() -> None:
    with running_nexus(max_pending_output=64 * KIB) as nexus:
        good = RawWsClient(nexus.ws_url)
        slow = RawWsClient(nexus.ws_url, sockopt=((socket.SOL_SOCKET, socket.SO_RCVBUF, 4096),))
        try:
            good.connect(nexus.token("good", chats=["busy"]))
            good.subscribe("g", "/topic/chat/busy")
            slow.connect(nexus.token("slow", chats=["busy"]))
            slow.subscribe("s", "/topic/chat/busy")
            shrink_send_buffer(nexus, "slow")
            published = flood_until_dropped(nexus, good, "slow", "/topic/chat/busy")
            # The server let go of the slow reader: no subscription, no connection.
            assert nexus.handle.call(lambda: nexus.plugin.hub.subscriber_count("/topic/chat/busy")) == 1
            # It gets what was already queued, then the ERROR, then the close.
            assert slow.wait_closed() in (1000, 1006)
            seqs = [int(f.headers["seq"]) for f in slow.frames if f.command == "MESSAGE"]
            assert slow.frames[-1].command == "ERROR"
            assert slow.frames[-1].headers["message"] == "slow consumer"
            assert seqs == list(range(1, len(seqs) + 1)) and len(seqs) < published
            # Operators see it in the metrics.
            metrics = nexus.handle.call(nexus.plugin.metrics.exposition).decode()
            assert "nexus_slow_consumer_closes_total 1.0" in metrics
            assert 'nexus_connections_closed_total{reason="slow consumer"} 1.0' in metrics
            # It loses nothing: reconnecting with last-seq replays the rest.
            again = RawWsClient(nexus.ws_url)
            again.connect(nexus.token("slow", chats=["busy"]))
            last_seq = str(seqs[-1] if seqs else 0)
            again.send_frame("SUBSCRIBE", {"id": "s", "destination": "/topic/chat/busy", "last-seq": last_seq})
            replayed = [int(again.expect("MESSAGE").headers["seq"]) for _ in range(published - len(seqs))]
            assert replayed == list(range(len(seqs) + 1, published + 1))
            again.close()
            # And the hub carries on for the good reader.
            publish(nexus, "/topic/chat/busy", [chat_envelope("srv", "busy", "after")])
            assert good.expect("MESSAGE").headers["seq"] == str(published + 1)
        finally:
            good.close()


def test_sockjs_websocket_reader_that_stops_reading_is_closed_as_slow_consumer() -> None:
    with running_nexus(max_pending_output=64 * KIB) as nexus:
        good = RawWsClient(nexus.ws_url)
        slow = SockJsWsClient(nexus.base_url, sockopt=((socket.SOL_SOCKET, socket.SO_RCVBUF, 4096),))
        try:
            good.connect(nexus.token("good", chats=["busy"]))
            good.subscribe("g", "/topic/chat/busy")
            slow.connect(nexus.token("slow", chats=["busy"]))
            slow.subscribe("s", "/topic/chat/busy")
            shrink_send_buffer(nexus, "slow")
            published = flood_until_dropped(nexus, good, "slow", "/topic/chat/busy")
            assert slow.wait_closed()[0] == 1000
            assert slow.frames[-1].command == "ERROR"
            assert slow.frames[-1].headers["message"] == "slow consumer"
            assert len([f for f in slow.frames if f.command == "MESSAGE"]) < published
        finally:
            good.close()


def test_streaming_reader_that_stops_reading_is_closed_as_slow_consumer() -> None:
    """xhr-streaming: the unsent output sits in the open HTTP response's stream."""
    with running_nexus(max_pending_output=64 * KIB) as nexus:
        good = RawWsClient(nexus.ws_url)
        base = "/stomp/000/%s" % uuid.uuid4().hex[:8]
        stream = http.client.HTTPConnection("127.0.0.1", nexus.port, timeout=10)
        try:
            good.connect(nexus.token("good", chats=["busy"]))
            good.subscribe("g", "/topic/chat/busy")
            stream.request("POST", base + "/xhr_streaming")
            assert stream.sock is not None
            stream.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            response = stream.getresponse()
            assert response.readline() == b"h" * 2048 + b"\n"
            assert response.readline() == b"o\n"
            frames = _FrameReader()

            def send(command: str, headers: Dict[str, str]) -> None:
                body = json.dumps([frame_bytes(command, headers).decode()]).encode()
                request = urllib.request.Request(nexus.base_url + base + "/xhr_send", data=body, method="POST")
                with urllib.request.urlopen(request, timeout=10):
                    pass

            send("CONNECT", {"accept-version": "1.2", "host": "x", "passcode": nexus.token("slow", chats=["busy"])})
            send("SUBSCRIBE", {"id": "s", "destination": "/topic/chat/busy", "receipt": "sub"})
            while not any(f.command == "RECEIPT" for f in frames.frames):
                frames.feed(response.readline())
            shrink_send_buffer(nexus, "slow")
            flood_until_dropped(nexus, good, "slow", "/topic/chat/busy")
            for line in iter(response.readline, b""):  # to the end of the response
                frames.feed(line)
            assert frames.closed == [1000, "stomp session ended"]
            assert frames.frames[-1].command == "ERROR"
            assert frames.frames[-1].headers["message"] == "slow consumer"
        finally:
            stream.close()
            good.close()


class _FrameReader:
    """STOMP frames out of SockJS streaming lines (``a[...]``, ``h``, ``c[...]``)."""

    def __init__(self) -> None:
        self.parser = CollectingParser(max_frame_size=1024 * 1024)
        self.frames: List[Frame] = []
        self.closed: Optional[List[Any]] = None

    def feed(self, line: bytes) -> None:
        text = line.decode().rstrip("\n")
        if text.startswith("a"):
            for message in json.loads(text[1:]):
                self.parser.receive_data(message.encode())
            self.frames.extend(f for f in self.parser.events_received() if isinstance(f, Frame))
        elif text.startswith("c"):
            self.closed = json.loads(text[1:])


def test_poller_that_stops_polling_is_closed_as_slow_consumer() -> None:
    with running_nexus(max_pending_output=16 * KIB) as nexus:
        calm = nexus.bystander()
        poller = XhrPollingClient(nexus.base_url)
        try:
            poller.connect(nexus.token("away", chats=["busy"]))
            poller.subscribe("a", "/topic/chat/busy")
            # It stops polling; messages pile up in its session until the bound.
            published = 0
            while user_connections(nexus, "away") == 1:
                assert published < 100, "the idle poller was never cut off"
                publish(nexus, "/topic/chat/busy", [chat_envelope("srv", "busy", "x" * 1000)])
                published += 1
            calm.check()
            assert poller.wait_closed()[0] == 1000
            assert poller.frames[-1].command == "ERROR"
            assert poller.frames[-1].headers["message"] == "slow consumer"
            seqs = [int(f.headers["seq"]) for f in poller.frames if f.command == "MESSAGE"]
            assert seqs == list(range(1, len(seqs) + 1))
        finally:
            calm.close()


@pytest.mark.parametrize("client_class", [SockJsWsClient, XhrPollingClient])
def test_sockjs_transports_keep_the_frame_limit(nexus: NexusServer, client_class: Any) -> None:
    """The TOO_LARGE answer does not depend on the transport."""
    client = client_class(nexus.base_url)
    try:
        client.connect(nexus.token("sj", chats=["sj"]))
        client.subscribe_errors()
        client.send_raw(oversized_send("sj", 64 * KIB + 1, "big"))
        frame, body = client.rejection()
        assert (frame.headers["receipt-id"], body["error"]) == ("big", "TOO_LARGE")
    finally:
        client.close()


# -- HTTP request bodies ------------------------------------------------------------------

#: A body no endpoint takes: announced, never sent.
HUGE = 100_000_000


def _claims(handler: Any, user: Any) -> Dict[str, Any]:
    return {"sub": "alice"}


def _send_raw(port: int, request: bytes, then: bytes = b"") -> bytes:
    """Send ``request`` (and ``then``, ignoring a reset); the response until the close."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        try:
            if then:
                sock.sendall(then)
        except OSError:
            pass
        return read_until_closed(sock)


@pytest.fixture(scope="module")
def mounted() -> Iterator[NexusServer]:
    """The plugin mounted in a host app as the docs say (Tornado's own HTTPServer, whose
    body limit is 100 MB), with every endpoint it offers, the token endpoint too."""
    ops = {"metrics_path": "/metrics", "health_path": "/healthz", "readiness_path": "/readyz",
           "status_path": "/status"}
    def urls(plugin: Any) -> List[Any]:
        # The operator's endpoints are for an application of their own; one app here.
        return [plugin.token_url("/nexus/token", _claims), plugin.client_url()] + plugin.admin_urls

    with running_nexus(extra_urls=urls, **ops) as server:
        yield server


BODY_LIMITS = [
    ("POST", "/stomp/api/publish", 64 * 1024),
    ("POST", "/stomp/api/notify", 64 * 1024),
    ("POST", "/healthz", 8192),
    ("GET", "/readyz", 8192),
    ("POST", "/metrics", 8192),
    ("POST", "/status", 8192),
    ("POST", "/status/data.json", 8192),
    ("POST", "/nexus/token", 8192),
    ("GET", "/nexus/js/nexus-client.js", 8192),
    ("POST", "/stomp/info", 8192),
    ("GET", "/stomp", 8192),
    ("GET", "/stomp/iframe.html", 8192),
    ("POST", "/stomp/000/abc/xhr_streaming", 8192),
    ("POST", "/stomp/000/abc/xhr", 8192),
    ("GET", "/stomp/websocket", 8192),
    ("POST", "/stomp/000/abc/xhr_send", 4 * message_limit(64 * 1024)),
]


@pytest.mark.parametrize("method,path,limit", BODY_LIMITS)
def test_every_endpoint_refuses_an_announced_body_over_its_limit_before_reading_it(
    mounted: NexusServer, method: str, path: str, limit: int
) -> None:
    # Nothing of the body is sent: the answer comes from Content-Length alone, at once
    # (not after the body timeout), and the connection is closed.
    upgrade = ("Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
               "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n") if path.endswith("/websocket") else ""
    for length in (HUGE, limit + 1):  # just over its own limit too
        head = "%s %s HTTP/1.1\r\nHost: x\r\n%sContent-Length: %d\r\n\r\n" % (method, path, upgrade, length)
        data = _send_raw(mounted.handle.port, head.encode())
        assert data.startswith(b"HTTP/1.1 413 "), data[:200]


def test_the_publish_api_refuses_a_body_over_its_limit_as_json_before_the_token(mounted: NexusServer) -> None:
    head = b"POST /stomp/api/publish HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % HUGE
    data = _send_raw(mounted.handle.port, head)
    body = json.loads(data.partition(b"\r\n\r\n")[2])
    assert body == {"error": "TOO_LARGE", "message": "body exceeds 65536 bytes", "details": {"limit": 65536}}


@pytest.mark.parametrize("path", ["/stomp/api/publish", "/healthz", "/nexus/token", "/stomp/info"])
def test_a_chunked_body_is_refused_as_soon_as_it_passes_the_limit(mounted: NexusServer, path: str) -> None:
    head = b"POST %s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" % path.encode()
    piece = b"%x\r\n%s\r\n" % (32 * 1024, b"x" * 32 * 1024)
    # Three pieces pass every limit; the end of the body never comes.
    data = _send_raw(mounted.handle.port, head + piece * 3)
    assert data.startswith(b"HTTP/1.1 413 "), data[:200]


def test_a_body_within_the_limit_still_works(mounted: NexusServer) -> None:
    token = mounted.token("backend", roles=["service"])
    body = json.dumps({"destination": "/topic/chat/general", "message": {
        "type": "CHAT_MESSAGE", "timestamp": "2026-11-25T10:00:00Z", "senderId": "backend",
        "payload": {"chatId": "general", "content": "hi", "contentType": "TEXT"}}}).encode()
    head = ("POST /stomp/api/publish HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer %s\r\n"
            "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % (token, len(body))).encode()
    data = _send_raw(mounted.handle.port, head + body)
    assert data.startswith(b"HTTP/1.1 200 "), data[:300]
