"""NexusRouter itself: construction, settings, URLs, timers, shutdown, origins, pages."""

from __future__ import annotations

import json
import subprocess
import sys
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
    Serve,
    background,
    close_of,
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


def test_import_emits_no_warning() -> None:
    """sockjs-tornado's @asynchronous shim warns on import; nexus_tornado contains it."""
    out = subprocess.run(
        [sys.executable, "-W", "error", "-c", "import nexus_tornado.transport.router"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr


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
        assert handler.__module__.startswith("nexus_tornado.") or handler.__name__ == "GreetingsHandler"


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


def test_cors_echoes_allowed_origin_with_credentials(serve: Serve) -> None:
    h = serve(ALLOWED)
    status, headers, _ = http_request(
        h.base_url, "OPTIONS", "/s/000/%s/xhr" % sid(), headers={"Origin": "https://app.example.com"}
    )
    assert status == 204
    assert headers["access-control-allow-origin"] == "https://app.example.com"
    assert headers["access-control-allow-credentials"] == "true"


def test_info_reports_websocket_and_is_not_cached(serve: Serve) -> None:
    h = serve()
    status, headers, body = http_request(h.base_url, "GET", "/s/info")
    info = json.loads(body)
    assert status == 200 and info["websocket"] is True
    assert "no-transform" in headers["cache-control"]


# -- the iframe page -----------------------------------------------------------------


def test_iframe_page_follows_current_template(serve: Serve) -> None:
    h = serve({"sockjs_url": "/vendor/sockjs.min.js?v=1&x=\"<"})
    status, headers, body = http_request(h.base_url, "GET", "/s/iframe.html")
    assert status == 200
    text = body.decode()
    assert '<script src="/vendor/sockjs.min.js?v=1&amp;x=&quot;&lt;"></script>' in text
    assert "SockJS.bootstrap_iframe();" in text and "_sockjs_onload" not in text
    assert text.index("<script src=") < text.index("bootstrap_iframe")
    assert headers["cache-control"] == "max-age=31536000, public"
    assert "content-security-policy" not in headers  # allowed_origins "*": any page


def test_iframe_page_default_sockjs_url_is_current_client(serve: Serve) -> None:
    h = serve()
    _, _, body = http_request(h.base_url, "GET", "/s/iframe-abc.html")
    assert b"sockjs-client@1.6.1/dist/sockjs.min.js" in body


def test_iframe_page_may_be_framed_only_by_allowed_origins(serve: Serve) -> None:
    h = serve({"allowed_origins": ["https://app.example.com", "http://localhost:8080"]})
    _, headers, _ = http_request(h.base_url, "GET", "/s/iframe.html")
    assert headers["content-security-policy"] == (
        "frame-ancestors 'self' http://localhost:8080 https://app.example.com"
    )


def test_iframe_page_etag_revalidates(serve: Serve) -> None:
    h = serve()
    _, headers, _ = http_request(h.base_url, "GET", "/s/iframe.html")
    status, _, body = http_request(
        h.base_url, "GET", "/s/iframe.html", headers={"If-None-Match": headers["etag"]}
    )
    assert (status, body) == (304, b"")
