"""nexus_tornado.transport.registry: which handler serves which SockJS URL."""

from __future__ import annotations

import re
from pathlib import Path
from typing import List

from tornado.web import RequestHandler

from nexus_tornado.settings import TRANSPORT_NAMES

from nexus_tornado.transport import registry
from nexus_tornado.transport.base import HandlerMixin


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


def test_every_handler_is_ours() -> None:
    handlers = list(registry.TRANSPORTS.values())
    handlers += [h for _, h, _ in registry.SEND_HANDLERS] + [h for _, h in registry.STATIC_HANDLERS]
    for handler in handlers:
        assert issubclass(handler, RequestHandler)
        assert handler.__module__.startswith("nexus_tornado.transport."), handler


def test_the_raw_websocket_lives_at_prefix_websocket() -> None:
    assert registry.RAW_WEBSOCKET == "rawwebsocket"
    assert dict(registry.STATIC_HANDLERS)["/websocket"] is registry.RawWebSocketTransport


ROOT = Path(__file__).resolve().parent.parent


def sockjs_client_transports() -> List[str]:
    """The vendored sockjs-client's transports, in the order it tries them."""
    source = (ROOT / "static" / "vendor" / "sockjs.js").read_text()
    listing = re.search(r"module\.exports = \[\n  // streaming transports\n(.*?)\];", source, re.S)
    assert listing
    names = []
    for wrapped, module in re.findall(r"require\('\./transport/(lib/iframe-wrap'\)\(require\('\./transport/)?([a-z-]+)'\)",
                                      listing.group(1)):
        names.append(("iframe-" if wrapped else "") + module)
    return names


def test_docs_transports_lists_every_sockjs_client_transport_in_its_order() -> None:
    """docs/transports.md's table: every transport the page's sockjs-client may pick
    (htmlfile and the IE-only xdr-* too), in the order it tries them, each with the
    disabled_transports name that turns it off."""
    doc = (ROOT / "docs" / "transports.md").read_text()
    rows = re.findall(r"^\| `([a-z-]+)` \| .* \| `([a-z_]+)` \|$", doc, re.M)
    client = sockjs_client_transports()
    assert len(client) == 11 and "htmlfile" in client and "xdr-polling" in client
    assert [name for name, _ in rows] == client
    for name, endpoint in rows:
        assert TRANSPORT_NAMES[name] == endpoint, name
