"""nexus_tornado.transport.registry: which handler serves which SockJS URL."""

from __future__ import annotations

from tornado.web import RequestHandler

from nexus_tornado.transport import registry
from nexus_tornado.transport.base import HandlerMixin
from nexus_tornado.transport.sockjs_compat import static as sockjs_static


def test_the_session_transports_are_sockjs_tornados_names() -> None:
    assert set(registry.TRANSPORTS) == {"websocket", "xhr", "xhr_streaming", "jsonp", "eventsource", "htmlfile"}


def test_each_send_endpoint_serves_existing_transports() -> None:
    served = set()
    for name, handler, transports in registry.SEND_HANDLERS:
        assert name.endswith("_send")
        assert set(transports) <= set(registry.TRANSPORTS)
        assert issubclass(handler, HandlerMixin)
        served |= set(transports)
    # Every transport but the WebSocket posts its messages somewhere.
    assert served == set(registry.TRANSPORTS) - {"websocket"}


def test_every_handler_is_ours_but_the_greeting() -> None:
    handlers = list(registry.TRANSPORTS.values())
    handlers += [h for _, h, _ in registry.SEND_HANDLERS] + [h for _, h in registry.STATIC_HANDLERS]
    for handler in handlers:
        assert issubclass(handler, RequestHandler)
        if handler is not sockjs_static.GreetingsHandler:
            assert handler.__module__.startswith("nexus_tornado.transport."), handler


def test_the_raw_websocket_lives_at_prefix_websocket() -> None:
    assert registry.RAW_WEBSOCKET == "rawwebsocket"
    assert dict(registry.STATIC_HANDLERS)["/websocket"] is registry.RawWebSocketTransport
