"""NexusRouter itself: construction, settings, URLs, timers, shutdown, origins."""

from __future__ import annotations

import json
import time
import warnings
from typing import Any, List

import pytest
import websocket

from nexus_tornado.errors import ConfigError
from nexus_tornado.transport.router import NexusRouter
from support.server import start_server_handle
from support.sockjs_echo import (  # noqa: F401  (serve is a fixture)
    EchoConnection,
    RawConnection,
    Serve,
    background,
    close_of,
    content_type,
    frames,
    http_request,
    serve,
    sid,
    wait_attached,
)

# -- construction ----------------------------------------------------------------------


def test_construction_needs_no_loop_and_starts_nothing() -> None:
    """SockJSRouter called IOLoop.instance() and started two PeriodicCallbacks."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        router = NexusRouter(EchoConnection, "/s", {"allowed_origins": ["https://a.example"]})
    assert router._sessions_cleanup is None
    router.close()


def test_router_built_outside_the_serving_loop_expires_sessions() -> None:
    """Built in this thread (no loop running), served by another thread's loop: its
    timers must run on the serving loop (sockjs-tornado bound them to IOLoop.instance()
    of the constructing thread, which never runs here, so sessions never expired)."""
    router = NexusRouter(EchoConnection, "/s", {"disconnect_delay": 0.2, "session_check_interval": 0.05})
    handle = start_server_handle(router.urls)
    try:
        s = sid()
        assert frames(http_request(handle.base_url, "POST", "/s/000/%s/xhr" % s)[2]) == ["o"]
        deadline = time.monotonic() + 10
        while handle.call(lambda: router.get_session(s)) is not None:
            assert time.monotonic() < deadline, "session never expired"
            time.sleep(0.02)
    finally:
        handle.call(router.close)
        handle.stop()


@pytest.mark.parametrize(
    "settings",
    [
        {"allowed_origins": "app.example.com"},
        {"allowed_origins": [1]},
        {"allowed_origins": ["not an origin"]},
        {"max_message_size": 0},
        {"max_message_size": "64k"},
        {"max_send_body_size": -1},
        {"send_body_timeout": 0},
        {"send_body_timeout": "30s"},
        {"sockjs_url": ""},
        {"websocket_subprotocols": "v12.stomp"},
    ],
)
def test_bad_settings_are_config_errors(settings: dict) -> None:
    with pytest.raises(ConfigError):
        NexusRouter(EchoConnection, "/s", settings)


def paths(router: NexusRouter) -> List[str]:
    return [u[0] for u in router.urls]


def test_disabled_transports_are_not_mounted() -> None:
    router = NexusRouter(EchoConnection, "/s", {"disabled_transports": ["jsonp", "rawwebsocket"]})
    mounted = " ".join(paths(router))
    assert "/jsonp$" not in mounted and "/jsonp_send$" not in mounted
    assert "/s/websocket" not in paths(router)
    assert "/xhr_send$" in mounted and "/websocket$" in mounted
    router = NexusRouter(
        EchoConnection, "/s", {"disabled_transports": ["xhr", "xhr_streaming", "eventsource", "htmlfile"]}
    )
    assert "/xhr_send$" not in " ".join(paths(router))


def test_every_handler_is_ours() -> None:
    """No sockjs-tornado handler (with its defects) is mounted directly."""
    router = NexusRouter(EchoConnection, "/s")
    for _, handler, _ in router.urls:
        assert handler.__module__.startswith("nexus_tornado."), handler


# -- timers and shutdown ---------------------------------------------------------------


def test_sessions_expire_and_close_stops_the_timers(serve: Serve) -> None:
    h = serve({"disconnect_delay": 0.2, "session_check_interval": 0.05})
    router: Any = h.router  # type: ignore[attr-defined]
    s = sid()
    http_request(h.base_url, "POST", "/s/000/%s/xhr" % s)
    deadline = time.monotonic() + 10
    while h.call(lambda: router.get_session(s)) is not None:
        assert time.monotonic() < deadline, "session never expired"
        time.sleep(0.02)
    timer = h.call(lambda: router._sessions_cleanup)
    assert h.call(timer.is_running)
    h.call(router.close)
    assert not h.call(timer.is_running)
    h.call(router.close)  # idempotent


def test_close_all_sessions_reaches_every_transport(serve: Serve) -> None:
    h = serve()
    router: Any = h.router  # type: ignore[attr-defined]
    ws_base = "ws" + h.base_url[len("http"):]
    raw = websocket.create_connection(ws_base + "/s/websocket", timeout=10)
    framed = websocket.create_connection(ws_base + "/s/000/%s/websocket" % sid(), timeout=10)
    try:
        assert framed.recv() == "o"
        s = sid()
        http_request(h.base_url, "POST", "/s/000/%s/xhr" % s)
        thread, box = background(lambda: http_request(h.base_url, "POST", "/s/000/%s/xhr" % s))
        wait_attached(h, s)
        assert h.call(router.close_all_sessions) == 3
        thread.join(10)
        assert close_of(frames(box["result"][2])[0]) == (1001, "server shutting down")
        assert framed.recv() == 'c[1001,"server shutting down"]'
        for ws in (raw, framed):
            opcode, data = ws.recv_data(control_frame=True)
            assert opcode == websocket.ABNF.OPCODE_CLOSE
            assert int.from_bytes(data[:2], "big") == 1001
            assert data[2:] == b"server shutting down"
        assert h.call(router.live_sessions) == []
    finally:
        for ws in (raw, framed):
            ws.shutdown()


def test_close_all_sessions_with_own_code(serve: Serve) -> None:
    h = serve()
    router: Any = h.router  # type: ignore[attr-defined]
    s = sid()
    http_request(h.base_url, "POST", "/s/000/%s/xhr" % s)
    assert h.call(lambda: router.close_all_sessions(3010, "maintenance")) == 1
    _, _, body = http_request(h.base_url, "POST", "/s/000/%s/xhr" % s)
    assert close_of(frames(body)[0]) == (3010, "maintenance")


# -- origins over HTTP ---------------------------------------------------------------

ALLOWED = {"allowed_origins": ["https://app.example.com"]}


@pytest.mark.parametrize(
    "method,path",
    [("GET", "/s/info"), ("POST", "/s/000/{sid}/xhr"), ("POST", "/s/000/{sid}/xhr_streaming"),
     ("GET", "/s/000/{sid}/eventsource"), ("OPTIONS", "/s/000/{sid}/xhr")],
)
def test_http_transports_refuse_foreign_origin(serve: Serve, method: str, path: str) -> None:
    h = serve(ALLOWED)
    status, headers, _ = http_request(
        h.base_url, method, path.format(sid=sid()), headers={"Origin": "https://evil.example.com"}
    )
    assert status == 403
    assert "access-control-allow-origin" not in headers


@pytest.mark.parametrize("method,path", [("GET", "/s/info"), ("POST", "/s/000/{sid}/xhr")])
def test_http_transports_take_a_same_origin_page_whatever_the_list(serve: Serve, method: str, path: str) -> None:
    h = serve(ALLOWED)
    status, headers, _ = http_request(
        h.base_url, method, path.format(sid=sid()), headers={"Origin": h.base_url}
    )
    assert status == 200
    assert headers["access-control-allow-origin"] == h.base_url


def test_cors_echoes_allowed_origin_with_credentials(serve: Serve) -> None:
    h = serve(ALLOWED)
    status, headers, _ = http_request(
        h.base_url, "OPTIONS", "/s/000/%s/xhr" % sid(), headers={"Origin": "https://app.example.com"}
    )
    assert status == 204
    assert headers["access-control-allow-origin"] == "https://app.example.com"
    assert headers["access-control-allow-credentials"] == "true"


# -- URLs the SockJS protocol defines ------------------------------------------------


@pytest.mark.parametrize("path", ["/s", "/s/"])
def test_greeting(serve: Serve, path: str) -> None:
    h = serve()
    status, headers, body = http_request(h.base_url, "GET", path)
    assert status == 200
    assert content_type(headers) == "text/plain;charset=UTF-8"
    assert body == b"Welcome to SockJS!\n"
    assert "set-cookie" not in headers


@pytest.mark.parametrize("suffix", ["/a", "/a.html", "//", "///", "/a/a", "/a/a/", "/a/"])
def test_other_urls_under_the_prefix_are_404(serve: Serve, suffix: str) -> None:
    h = serve()
    assert http_request(h.base_url, "GET", "/s" + suffix)[0] == 404


@pytest.mark.parametrize("server_session", ["/a/a{n}", "/_/_{n}", "/1/{n}", "/abcdefgh_i-j%20/abcdefg_i-j%20{n}"])
def test_any_server_and_session_value_opens_a_session(serve: Serve, server_session: str) -> None:
    h = serve()
    status, _, body = http_request(h.base_url, "POST", "/s" + server_session.format(n=sid()) + "/xhr")
    assert (status, body) == (200, b"o\n")


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("part", ["//", "/a./a", "/a/a.", "/./.", "/", "///"])
def test_session_urls_without_two_dotless_parts_are_404(serve: Serve, method: str, part: str) -> None:
    h = serve()
    assert http_request(h.base_url, method, "/s" + part + "/xhr")[0] == 404


def test_session_is_named_by_session_id_alone(serve: Serve) -> None:
    """The server id is for load balancers; the server ignores it."""
    h = serve()
    s = sid()
    assert http_request(h.base_url, "POST", "/s/000/%s/xhr" % s)[2] == b"o\n"
    status, _, body = http_request(h.base_url, "POST", "/s/000/%s/xhr_send" % s, b'["a"]')
    assert (status, body) == (204, b"")
    assert http_request(h.base_url, "POST", "/s/999/%s/xhr" % s)[2] == b'a["a"]\n'


# -- JSESSIONID (sticky sessions behind a load balancer) ------------------------------


def assert_dummy_cookie(headers: dict, value: str = "dummy") -> None:
    name_value, path = [p.strip() for p in headers["set-cookie"].split(";")[:2]]
    assert name_value == "JSESSIONID=%s" % value
    assert path.lower() == "path=/"


def test_jsessionid_cookie_on_polling_and_echoed_when_sent(serve: Serve) -> None:
    h = serve({"jsessionid": True})
    status, headers, body = http_request(h.base_url, "POST", "/s/000/%s/xhr" % sid())
    assert (status, body) == (200, b"o\n")
    assert_dummy_cookie(headers)
    status, headers, body = http_request(
        h.base_url, "POST", "/s/000/%s/xhr" % sid(), headers={"Cookie": "JSESSIONID=abcdef"}
    )
    assert (status, body) == (200, b"o\n")
    assert_dummy_cookie(headers, "abcdef")


@pytest.mark.parametrize(
    "method,transport", [("POST", "xhr_streaming"), ("GET", "eventsource"), ("GET", "htmlfile?c=%63allback")]
)
def test_jsessionid_cookie_on_streams(serve: Serve, method: str, transport: str) -> None:
    h = serve({"jsessionid": True})
    conn = RawConnection(h.base_url)
    try:
        _, status, headers = conn.request(method, "/s/000/%s/%s" % (sid(), transport))
        assert status == 200
        assert_dummy_cookie(headers)
    finally:
        conn.close()


def test_jsessionid_cookie_on_jsonp_and_jsonp_send(serve: Serve) -> None:
    h = serve({"jsessionid": True})
    s = sid()
    status, headers, body = http_request(h.base_url, "GET", "/s/000/%s/jsonp?c=%%63allback" % s)
    assert (status, body) == (200, b'/**/callback("o");\r\n')
    assert_dummy_cookie(headers)
    status, headers, body = http_request(
        h.base_url, "POST", "/s/000/%s/jsonp_send" % s, b"d=%5B%22x%22%5D",
        {"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert (status, body) == (200, b"ok")
    assert_dummy_cookie(headers)


# -- HTTP/1.0 and HTTP/1.1 framing -------------------------------------------------------


def test_http10_keep_alive_request_gets_a_delimited_response(serve: Serve) -> None:
    h = serve()
    conn = RawConnection(h.base_url)
    try:
        http, status, headers = conn.request("GET", "/s", "1.0", {"Connection": "Keep-Alive"})
        assert status == 200 and http in ("1.0", "1.1")
        assert "transfer-encoding" not in headers  # not in HTTP/1.0
        if "content-length" not in headers:
            assert headers["connection"].lower() == "close"
            assert conn.read_to_close() == b"Welcome to SockJS!\n"
        else:
            assert int(headers["content-length"]) == 19
            assert conn.read(19) == b"Welcome to SockJS!\n"
            if headers.get("connection", "").lower() in ("close", ""):
                assert conn.read_to_close() == b""
            else:
                assert headers["connection"].lower() == "keep-alive"
                assert conn.request("GET", "/s", "1.0", {"Connection": "Keep-Alive"})[1] == 200
    finally:
        conn.close()


def test_http11_keeps_the_connection_for_another_request(serve: Serve) -> None:
    h = serve()
    conn = RawConnection(h.base_url)
    try:
        _, status, headers = conn.request("GET", "/s", "1.1", {"Connection": "Keep-Alive"})
        assert status == 200
        assert headers.get("connection", "").lower() in ("keep-alive", "")
        if "content-length" in headers:
            assert int(headers["content-length"]) == 19 and "transfer-encoding" not in headers
            assert conn.read(19) == b"Welcome to SockJS!\n"
        else:
            assert headers["transfer-encoding"].lower() == "chunked"
            assert conn.read_chunk() == b"Welcome to SockJS!\n"
            assert conn.read_chunk() == b""
        assert conn.request("GET", "/s", "1.1", {"Connection": "Keep-Alive"})[1] == 200
    finally:
        conn.close()


def test_http11_stream_is_chunked_frame_by_frame_and_terminated(serve: Serve) -> None:
    h = serve()
    conn = RawConnection(h.base_url)
    try:
        _, status, headers = conn.request(
            "POST", "/s/000/%s/xhr_streaming?onopen=close" % sid(), "1.1", {"Connection": "Keep-Alive"}
        )
        assert status == 200
        assert headers["transfer-encoding"].lower() == "chunked"
        assert "content-length" not in headers
        assert conn.read_chunk()[:1] == b"h"  # the prelude
        assert conn.read_chunk() == b"o\n"
        assert conn.read_chunk() == b'c[3002,"closed on open"]\n'
        assert conn.read_chunk() == b""
    finally:
        conn.close()


# -- the server for the SockJS protocol's own suite -------------------------------------


def test_protocol_suite_server_offers_the_four_services() -> None:
    """scripts/sockjs_protocol_server.py, which the public suite is run against."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "scripts" / "sockjs_protocol_server.py"
    spec = importlib.util.spec_from_file_location("sockjs_protocol_server", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    handle = start_server_handle(module.urls)
    try:
        s = sid()
        assert http_request(handle.base_url, "POST", "/echo/000/%s/xhr" % s)[2] == b"o\n"
        assert http_request(handle.base_url, "POST", "/echo/000/%s/xhr_send" % s, b'["x"]')[0] == 204
        assert http_request(handle.base_url, "POST", "/echo/000/%s/xhr" % s)[2] == b'a["x"]\n'
        c = sid()
        assert http_request(handle.base_url, "POST", "/close/000/%s/xhr" % c)[2] == b"o\n"
        assert http_request(handle.base_url, "POST", "/close/000/%s/xhr" % c)[2] == b'c[3000,"Go away!"]\n'
        assert json.loads(http_request(handle.base_url, "GET", "/disabled_websocket_echo/info")[2])["websocket"] is False
        assert json.loads(http_request(handle.base_url, "GET", "/cookie_needed_echo/info")[2])["cookie_needed"] is True
    finally:
        handle.stop()
