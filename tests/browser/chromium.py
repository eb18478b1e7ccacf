"""Headless Chromium (Debian's /usr/bin/chromium) through Playwright, for the browser tests.

``run_pages(cases)`` opens every case at once, each in its own browser context (its
own connection pool, so long-lived SockJS requests of one case cannot starve another),
evaluates a JavaScript call in the page, and returns the results in order. The test
pages and the vendored browser libraries are served by ``page_routes()``.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any, List, Tuple

import pytest
from tornado.web import StaticFileHandler

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

#: sockjs-client 1.6's transports, in its own order of preference.
SOCKJS_TRANSPORTS = [
    "websocket",
    "xhr-streaming",
    "eventsource",
    "iframe-eventsource",
    "iframe-htmlfile",
    "xhr-polling",
    "iframe-xhr-polling",
    "jsonp-polling",
]
#: How long one page may take to load on a busy machine, milliseconds.
GOTO_TIMEOUT_MS = 120_000
#: How many pages run at once in the one browser.
PAGES_AT_ONCE = 6
#: The page served from the server's own origin, or from another one.
MODES = ["same-origin", "cross-origin"]

ROOT = Path(__file__).resolve().parents[2]
PAGES = Path(__file__).resolve().parent / "pages"

#: One case: (page URL, JavaScript function expression taking one argument, argument).
Case = Tuple[str, str, Any]


def require_chromium() -> None:
    if not os.path.exists(CHROMIUM):
        pytest.skip("Chromium is not installed at %s; install it with `apt-get install chromium`" % CHROMIUM)


def vendor_dir() -> Path:
    """Where sockjs.min.js (1.6.1) and stomp.es5.min.js are: the demo's vendor
    directory (preferred), else tests/browser/vendor."""
    for candidate in (ROOT / "static" / "vendor", Path(__file__).resolve().parent / "vendor"):
        if (candidate / "sockjs.min.js").exists():
            return candidate
    pytest.skip("sockjs-client's sockjs.min.js is not vendored")
    raise AssertionError("unreachable")


def page_routes() -> List[Any]:
    """``/vendor/*`` (browser libraries) and ``/page/*`` (tests/browser/pages)."""
    return [
        (r"/vendor/(.*)", StaticFileHandler, {"path": str(vendor_dir())}),
        (r"/page/(.*)", StaticFileHandler, {"path": str(PAGES)}),
    ]


async def _run(cases: List[Case]) -> List[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:

            # A few pages at a time: all of them at once on a busy two-core machine can
            # starve the server past sockjs-client's fixed 8 s wait for /info.
            slots = asyncio.Semaphore(PAGES_AT_ONCE)

            async def one(page_url: str, function: str, arg: Any) -> Any:
                async with slots:
                    context = await browser.new_context()
                    try:
                        page = await context.new_page()
                        # Generous: several pages load at once, on a machine that may be busy.
                        await page.goto(page_url, timeout=GOTO_TIMEOUT_MS)
                        return await page.evaluate(function, arg)
                    finally:
                        await context.close()

            return list(await asyncio.gather(*(one(*case) for case in cases)))
        finally:
            await browser.close()


def run_pages(cases: List[Case]) -> List[Any]:
    """Run the cases in one browser, ``PAGES_AT_ONCE`` at a time; return their results
    in order."""
    require_chromium()
    return asyncio.run(_run(cases))
