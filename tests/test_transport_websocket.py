"""WebSocket endpoints of NexusRouter: framed ``.../websocket`` and raw ``/s/websocket``."""

from __future__ import annotations

import asyncio
import json
import struct
from typing import Any, Dict, List, Optional, Tuple

import pytest
import websocket  # websocket-client

from support.server import ServerHandle
from support.sockjs_echo import (  # noqa: F401  (serve is a fixture)
    RawConnection,
    Serve,
    http_request,
    serve,
    sid,
)


def ws_url(h: ServerHandle, path: str) -> str:
    return "ws" + h.base_url[len("http"):] + path


def connect(
    h: ServerHandle,
    path: str,
    origin: Optional[str] = None,
    subprotocols: Optional[List[str]] = None,
    host: Optional[str] = None,
) -> websocket.WebSocket:
    ws = websocket.WebSocket()
    ws.settimeout(10)
    options: Dict[str, Any] = {"subprotocols": subprotocols}
    if host is not None:
        options["host"] = host
    try:
        if origin is None:
            ws.connect(ws_url(h, path), suppress_origin=True, **options)
        else:
            ws.connect(ws_url(h, path), origin=origin, **options)
    except BaseException:
        release(ws)
        raise
    return ws


def release(ws: websocket.WebSocket) -> None:
    """Close politely if still open, and always free the socket."""
    try:
        ws.close(timeout=1)
    finally:
        ws.shutdown()


def recv_close(ws: websocket.WebSocket) -> Tuple[int, str]:
    """Read until the server's close frame; return its (code, reason)."""
    while True:
        opcode, data = ws.recv_data(control_frame=True)
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            if len(data) < 2:
                return 1005, ""
            return struct.unpack("!H", data[:2])[0], data[2:].decode("utf-8")


def test_raw_close_carries_code_and_reason(serve: Serve) -> None:
    """The raw endpoint closed without a code (clients saw 1005 "no status")."""
    h = serve()
    ws = connect(h, "/s/websocket")
    try:
        ws.send("hello")
        assert ws.recv() == "hello"
        ws.send("close:4001:custom reason")
        assert recv_close(ws) == (4001, "custom reason")
    finally:
        release(ws)


def test_raw_close_with_code_a_websocket_cannot_carry_becomes_1000(serve: Serve) -> None:
    h = serve()
    ws = connect(h, "/s/websocket")
    try:
        ws.send("close:2010:odd")
        assert recv_close(ws) == (1000, "odd")
    finally:
        release(ws)


def test_framed_close_sends_frame_then_coded_close(serve: Serve) -> None:
    h = serve()
    ws = connect(h, "/s/000/%s/websocket" % sid())
    try:
        assert ws.recv() == "o"
        ws.send(json.dumps(["send-close:bye"]))
        assert ws.recv() == 'a["bye"]'
        assert ws.recv() == 'c[3001,"bye"]'
        assert recv_close(ws) == (3001, "bye")
    finally:
        release(ws)


@pytest.mark.parametrize("path", ["/s/websocket", "/s/000/x/websocket"])
def test_message_over_limit_closes_with_1009_and_spares_others(serve: Serve, path: str) -> None:
    """Tornado's 10 MiB default applied: large messages were buffered whole."""
    h = serve({"max_message_size": 1000})
    path = path.replace("/x/", "/%s/" % sid())
    ws = connect(h, path)
    other = connect(h, "/s/websocket")
    try:
        if "000" in path:
            assert ws.recv() == "o"
        ws.send("x" * 2000)
        assert recv_close(ws)[0] == 1009
        other.send("still here")
        assert other.recv() == "still here"
    finally:
        release(ws)
        release(other)


def test_message_at_limit_passes(serve: Serve) -> None:
    h = serve({"max_message_size": 1000})
    ws = connect(h, "/s/websocket")
    try:
        ws.send("x" * 1000)
        assert ws.recv() == "x" * 1000
    finally:
        release(ws)


# -- origins ------------------------------------------------------------------------

ALLOWED = {"allowed_origins": ["https://app.example.com", "http://127.0.0.1:1"]}


@pytest.mark.parametrize("path", ["/s/websocket", "/s/000/x/websocket"])
def test_handshake_from_foreign_origin_is_refused(serve: Serve, path: str) -> None:
    h = serve(ALLOWED)
    with pytest.raises(websocket.WebSocketBadStatusException) as info:
        connect(h, path.replace("/x/", "/%s/" % sid()), origin="https://evil.example.com")
    assert info.value.status_code == 403


@pytest.mark.parametrize(
    "origin", ["https://app.example.com", "https://APP.example.com:443", "http://127.0.0.1:1", None]
)
def test_handshake_from_allowed_origin_or_no_origin_is_accepted(serve: Serve, origin: Optional[str]) -> None:
    h = serve(ALLOWED)
    ws = connect(h, "/s/websocket", origin=origin)
    try:
        ws.send("hi")
        assert ws.recv() == "hi"
    finally:
        release(ws)


@pytest.mark.parametrize(
    "origin, host",
    [
        # The page's origin names the default port that the Host header spells out:
        # same origin. (Tornado 6.6 accepts an exact Origin/Host match by itself before
        # asking check_origin, so these cases are the ones that reach our policy.)
        ("http://app.test", "app.test:80"),
        ("https://app.test", "APP.test:443"),
        ("http://[::1]", "[::1]:80"),
    ],
)
def test_same_origin_handshake_is_accepted(serve: Serve, origin: str, host: str) -> None:
    h = serve({"allowed_origins": ["https://app.example.com"]})
    ws = connect(h, "/s/websocket", origin=origin, host=host)
    try:
        ws.send("hi")
        assert ws.recv() == "hi"
    finally:
        release(ws)


def test_another_host_on_the_same_name_is_not_the_same_origin(serve: Serve) -> None:
    h = serve({"allowed_origins": ["https://app.example.com"]})
    with pytest.raises(websocket.WebSocketBadStatusException) as info:
        connect(h, "/s/websocket", origin="http://app.test:8080", host="app.test:80")
    assert info.value.status_code == 403


def test_null_origin_is_refused_unless_any(serve: Serve) -> None:
    h = serve(ALLOWED)
    with pytest.raises(websocket.WebSocketBadStatusException):
        connect(h, "/s/websocket", origin="null")
    h2 = serve({"allowed_origins": "*"})
    release(connect(h2, "/s/websocket", origin="null"))


# -- subprotocols ------------------------------------------------------------------


@pytest.mark.parametrize(
    "offered,chosen",
    [(["v10.stomp", "v11.stomp", "v12.stomp"], "v12.stomp"), (["v10.stomp"], "v10.stomp"), (None, None)],
)
def test_raw_endpoint_answers_stomp_subprotocol(serve: Serve, offered: Optional[List[str]], chosen: Optional[str]) -> None:
    """@stomp/stompjs offers v1x.stomp; with none answered, browsers fail the handshake."""
    h = serve()
    ws = connect(h, "/s/websocket", subprotocols=offered)
    try:
        assert ws.getsubprotocol() == chosen
        ws.send("hi")
        assert ws.recv() == "hi"
    finally:
        release(ws)


# -- the SockJS protocol over WebSocket -----------------------------------------------------


@pytest.mark.parametrize("path", ["/s/000/x/websocket", "/s/websocket"])
def test_plain_get_and_mangled_connection_header_are_400(serve: Serve, path: str) -> None:
    """A proxy that rewrote ``Connection`` must not get a half-upgraded socket."""
    h = serve()
    path = path.replace("/x/", "/%s/" % sid())
    assert http_request(h.base_url, "GET", path)[0] == 400
    status, _, _ = http_request(h.base_url, "GET", path, headers={"Upgrade": "WebSocket", "Connection": "close"})
    assert status == 400


@pytest.mark.parametrize("path", ["/s/0/0/websocket", "/s/websocket"])
@pytest.mark.parametrize("headers", [{"Upgrade": "WebSocket", "Connection": "Upgrade"}, {}])
def test_other_methods_get_a_bare_405(serve: Serve, path: str, headers: Dict[str, str]) -> None:
    """sockjs-tornado answered with a text body under Tornado's HTML content type."""
    h = serve()
    status, answer, body = http_request(h.base_url, "POST", path, b"", headers)
    assert status == 405
    assert "content-type" not in answer
    assert answer["allow"] == "GET"
    assert body == b""


def test_framed_open_and_echo(serve: Serve) -> None:
    h = serve()
    ws = connect(h, "/s/000/%s/websocket" % sid())
    try:
        assert ws.recv() == "o"
        ws.send('["a"]')
        assert ws.recv() == 'a["a"]'
    finally:
        release(ws)


def test_framed_close_on_open_sends_close_frame_then_ends(serve: Serve) -> None:
    h = serve()
    ws = connect(h, "/s/000/%s/websocket?onopen=close" % sid())
    try:
        assert ws.recv() == "o"
        assert ws.recv() == 'c[3002,"closed on open"]'
        assert recv_close(ws)[0] == 3002
    finally:
        release(ws)


def test_an_open_connection_keeps_one_task(serve: Serve) -> None:
    """Memory per idle connection: sockjs-tornado's handshake wrapper (a gen.coroutine
    awaited in ours) kept a generator, its runner and a second task alive for as long
    as the connection was open."""
    h = serve()

    def tasks() -> int:
        return len(asyncio.all_tasks())

    before = h.call(tasks)
    sockets = []
    try:
        for i in range(3):
            raw = connect(h, "/s/websocket")
            sockets.append(raw)
            raw.send("hi")
            assert raw.recv() == "hi"
            framed = connect(h, "/s/000/%s/websocket" % sid())
            sockets.append(framed)
            assert framed.recv() == "o"
        assert h.call(tasks) - before == len(sockets)
    finally:
        for ws in sockets:
            release(ws)


def test_handshake_headers(serve: Serve) -> None:
    h = serve()
    conn = RawConnection(h.base_url)
    try:
        _, status, headers = conn.request(
            "GET",
            "/s/000/%s/websocket" % sid(),
            headers={
                "Upgrade": "websocket",
                "Connection": "Upgrade",
                "Sec-WebSocket-Version": "13",
                "Sec-WebSocket-Origin": "http://asd",
                "Sec-WebSocket-Key": "x3JJHMbDL1EzLkh9GBhXDw==",
            },
        )
        assert status == 101
        assert headers["sec-websocket-accept"] == "HSmrc0sMlYUkAGmm5OPpG2HaGWk="  # RFC 6455 4.2.2
        assert headers["connection"].lower() == "upgrade"
        assert headers["upgrade"].lower() == "websocket"
        assert "content-length" not in headers
    finally:
        conn.close()


def test_framed_empty_messages_are_ignored(serve: Serve) -> None:
    h = serve()
    ws = connect(h, "/s/000/%s/websocket" % sid())
    try:
        assert ws.recv() == "o"
        ws.send("")
        ws.send("[]")
        ws.send('["a"]')
        assert ws.recv() == 'a["a"]'
    finally:
        release(ws)


def test_framed_sessions_may_share_and_reuse_a_session_id(serve: Serve) -> None:
    """A WebSocket session lives as long as its socket: two at once under one id are
    two sessions, and the id may be used again afterwards."""
    h = serve()
    path = "/s/000/%s/websocket" % sid()
    first, second = connect(h, path), connect(h, path)
    try:
        assert first.recv() == "o" and second.recv() == "o"
        first.send('["a"]')
        second.send('["b"]')
        assert first.recv() == 'a["a"]'
        assert second.recv() == 'a["b"]'
    finally:
        release(first)
        release(second)
    again = connect(h, path)
    try:
        assert again.recv() == "o"
        again.send('["a"]')
        assert again.recv() == 'a["a"]'
    finally:
        release(again)


def test_framed_broken_json_ends_the_connection(serve: Serve) -> None:
    h = serve()
    ws = connect(h, "/s/000/%s/websocket" % sid())
    try:
        assert ws.recv() == "o"
        ws.send('["a')
        # Abruptly: no SockJS frame (not even "c[...]"), the WebSocket closes at once.
        try:
            opcode, data = ws.recv_data(control_frame=True)
        except (websocket.WebSocketConnectionClosedException, ConnectionError):
            return
        assert opcode == websocket.ABNF.OPCODE_CLOSE, data
        assert int.from_bytes(data[:2], "big") == 1002
    finally:
        release(ws)


def test_raw_echo_keeps_any_text(serve: Serve) -> None:
    h = serve()
    ws = connect(h, "/s/websocket")
    try:
        ws.send("Hello world!\uffff")
        assert ws.recv() == "Hello world!\uffff"
    finally:
        release(ws)


def test_raw_close_on_open_carries_the_reason(serve: Serve) -> None:
    h = serve()
    ws = connect(h, "/s/websocket?onopen=close")
    try:
        assert recv_close(ws) == (3002, "closed on open")
    finally:
        release(ws)
