"""The SockJS transport handlers nexus-tornado mounts, by URL, replacing
sockjs-tornado 1.0.7's own (see each ``transport_*.py`` for what was fixed and why).

``NexusRouter`` builds its URL list from these tables. The names in ``TRANSPORTS`` are
those of the ``disabled_transports`` setting (sockjs-tornado's names, plus
``rawwebsocket`` for ``{prefix}/websocket``). Which sockjs-client transport uses which::

    websocket                          websocket
    xhr-streaming                      xhr_streaming  (+ xhr_send)
    eventsource, iframe-eventsource    eventsource    (+ xhr_send)
    iframe-htmlfile                    htmlfile       (+ xhr_send)
    xhr-polling, iframe-xhr-polling    xhr            (+ xhr_send)
    jsonp-polling                      jsonp          (+ jsonp_send)
"""

from __future__ import annotations

from typing import Dict, List, Tuple, Type

from tornado.web import RequestHandler

from .polling import JSONPSendHandler, JSONPTransport, XhrPollingTransport, XhrSendHandler
from .static import GreetingsHandler, IFrameHandler, InfoHandler
from .streaming import EventSourceTransport, HtmlFileTransport, XhrStreamingTransport
from .websocket import RawWebSocketTransport, WebSocketTransport

#: Session transports: URL suffix (after /<server>/<session>/) -> handler.
TRANSPORTS: Dict[str, Type[RequestHandler]] = {
    "websocket": WebSocketTransport,
    "xhr": XhrPollingTransport,
    "xhr_streaming": XhrStreamingTransport,
    "jsonp": JSONPTransport,
    "eventsource": EventSourceTransport,
    "htmlfile": HtmlFileTransport,
}

#: Send endpoints, each with the transports that post to it (mounted while any is on).
SEND_HANDLERS: List[Tuple[str, Type[RequestHandler], Tuple[str, ...]]] = [
    ("xhr_send", XhrSendHandler, ("xhr", "xhr_streaming", "eventsource", "htmlfile")),
    ("jsonp_send", JSONPSendHandler, ("jsonp",)),
]

#: Name of the raw WebSocket endpoint in ``disabled_transports``.
RAW_WEBSOCKET = "rawwebsocket"

#: Fixed pages under the prefix: URL pattern -> handler.
STATIC_HANDLERS: List[Tuple[str, Type[RequestHandler]]] = [
    ("/info", InfoHandler),
    ("/iframe[0-9-.a-z_]*.html", IFrameHandler),
    ("/websocket", RawWebSocketTransport),
    ("/?", GreetingsHandler),
]

__all__ = [
    "EventSourceTransport",
    "GreetingsHandler",
    "HtmlFileTransport",
    "IFrameHandler",
    "InfoHandler",
    "JSONPSendHandler",
    "JSONPTransport",
    "RAW_WEBSOCKET",
    "RawWebSocketTransport",
    "SEND_HANDLERS",
    "STATIC_HANDLERS",
    "TRANSPORTS",
    "WebSocketTransport",
    "XhrPollingTransport",
    "XhrSendHandler",
    "XhrStreamingTransport",
]
