"""Every transport sockjs-client 1.6 offers, in headless Chromium, against NexusRouter.

For each transport, from a page on the SockJS server's own origin and from a page on
another loopback server (another origin, listed in ``allowed_origins``): connect, echo
a message, echo a 60 KB message, see a server-initiated close with its code, reconnect,
get a message the server sends just before closing, and that close.
A page on a third origin, not listed, must not get a connection.

All cases run at once, each in its own browser context (own connection pool), in one
browser; each parametrized test then checks its case's report.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import pytest
from tornado.web import StaticFileHandler

from nexus_tornado.web.router import NexusRouter
from support.server import ServerHandle, start_server_handle
from support.sockjs_echo import EchoConnection

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

ROOT = Path(__file__).resolve().parents[2]
PAGES = Path(__file__).resolve().parent / "pages"

#: sockjs-client's names, in its own order of preference.
TRANSPORTS = [
    "websocket",
    "xhr-streaming",
    "eventsource",
    "iframe-eventsource",
    "iframe-htmlfile",
    "xhr-polling",
    "iframe-xhr-polling",
    "jsonp-polling",
]
MODES = ["same-origin", "cross-origin"]
BIG = 60 * 1024


def vendor_dir() -> Path:
    """Where sockjs.min.js (1.6.1) is: the demo's vendor directory, else ours."""
    for candidate in (ROOT / "static" / "vendor", Path(__file__).resolve().parent / "vendor"):
        if (candidate / "sockjs.min.js").exists():
            return candidate
    pytest.skip("sockjs-client's sockjs.min.js is not vendored")
    raise AssertionError("unreachable")


def page_routes() -> List[Any]:
    return [
        (r"/vendor/(.*)", StaticFileHandler, {"path": str(vendor_dir())}),
        (r"/page/(.*)", StaticFileHandler, {"path": str(PAGES)}),
    ]


async def run_cases(cases: List[Tuple[str, str, str]]) -> List[Dict[str, Any]]:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:

            async def one(page_url: str, sockjs_url: str, transport: str) -> Dict[str, Any]:
                context = await browser.new_context()
                try:
                    page = await context.new_page()
                    await page.goto(page_url)
                    report: Dict[str, Any] = await page.evaluate(
                        "([url, transport]) => runTransport(url, transport)", [sockjs_url, transport]
                    )
                    return report
                finally:
                    await context.close()

            return list(await asyncio.gather(*(one(*case) for case in cases)))
        finally:
            await browser.close()


@pytest.fixture(scope="module")
def reports() -> Iterator[Dict[Tuple[str, str], Dict[str, Any]]]:
    if not os.path.exists(CHROMIUM):
        pytest.skip("Chromium is not installed at %s" % CHROMIUM)
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
        cases: List[Tuple[str, str, str]] = []
        for transport in TRANSPORTS:
            for mode, server in (("same-origin", sockjs_server), ("cross-origin", page_server)):
                keys.append((transport, mode))
                cases.append((server.base_url + "/page/transports.html", sockjs_url, transport))
        for transport in ("websocket", "xhr-streaming", "iframe-eventsource"):
            keys.append((transport, "foreign-origin"))
            cases.append((foreign_server.base_url + "/page/transports.html", sockjs_url, transport))
        results = asyncio.run(run_cases(cases))
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
