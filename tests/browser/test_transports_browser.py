"""Every transport sockjs-client 1.6 offers, in headless Chromium, against NexusRouter.

For each transport, from a page on the SockJS server's own origin and from a page on
another loopback server (another origin, listed in ``allowed_origins``): connect, echo
a message, echo a 60 KB message, see a server-initiated close with its code, reconnect,
get a message the server sends just before closing, and that close.
A page on a third origin, not listed, must not get a connection.

The cases run a few at a time, each in its own browser context (own connection pool), in one
browser; each parametrized test then checks its case's report.
"""

from __future__ import annotations

import json
from typing import Any, Dict, Iterator, List, Tuple

import pytest

from browser.chromium import MODES, SOCKJS_TRANSPORTS, Case, page_routes, require_chromium, run_pages
from nexus_tornado.transport.router import NexusRouter
from support.server import ServerHandle, start_server_handle
from support.sockjs_echo import EchoConnection

pytestmark = pytest.mark.browser

TRANSPORTS = SOCKJS_TRANSPORTS
BIG = 60 * 1024
RUN = "([url, transport]) => runTransport(url, transport)"


@pytest.fixture(scope="module")
def reports() -> Iterator[Dict[Tuple[str, str], Dict[str, Any]]]:
    require_chromium()
    page_server = start_server_handle(page_routes())
    foreign_server = start_server_handle(page_routes())
    handles: List[ServerHandle] = [page_server, foreign_server]
    holder: Dict[str, NexusRouter] = {}

    def sockjs_routes() -> List[Any]:
        holder["router"] = NexusRouter(
            EchoConnection,
            "/s",
            {"sockjs_url": "/vendor/sockjs.min.js", "allowed_origins": [page_server.base_url]},
        )
        return holder["router"].urls + page_routes()

    sockjs_server = start_server_handle(sockjs_routes)
    handles.append(sockjs_server)
    try:
        sockjs_url = sockjs_server.base_url + "/s"
        keys: List[Tuple[str, str]] = []
        cases: List[Case] = []
        for transport in TRANSPORTS:
            for mode, server in (("same-origin", sockjs_server), ("cross-origin", page_server)):
                keys.append((transport, mode))
                cases.append((server.base_url + "/page/transports.html", RUN, [sockjs_url, transport]))
        for transport in ("websocket", "xhr-streaming", "iframe-eventsource"):
            keys.append((transport, "foreign-origin"))
            cases.append((foreign_server.base_url + "/page/transports.html", RUN, [sockjs_url, transport]))
        results = run_pages(cases)
        yield dict(zip(keys, results))
    finally:
        sockjs_server.call(holder["router"].close)
        for handle in handles:
            handle.stop()


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_transport_end_to_end(reports: Dict[Tuple[str, str], Dict[str, Any]], transport: str, mode: str) -> None:
    report = reports[(transport, mode)]
    expected = {
        "requested": transport,
        "transport": transport,
        "echo": "hello",
        "bigLength": BIG,
        "bigEqual": True,
        "close": {"type": "close", "code": 4000, "reason": "closed by server"},
        "reconnectTransport": transport,
        "reconnectEcho": "again",
        "lastWords": {"messages": ["last words"], "code": 3001, "reason": "bye"},
    }
    assert report == expected, json.dumps(report)


@pytest.mark.parametrize("transport", ["websocket", "xhr-streaming", "iframe-eventsource"])
def test_origin_not_allowed_gets_no_connection(
    reports: Dict[Tuple[str, str], Dict[str, Any]], transport: str
) -> None:
    report = reports[(transport, "foreign-origin")]
    assert report.get("error", "").startswith("open: "), report
