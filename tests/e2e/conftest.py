"""End-to-end fixtures: the real ``nexus-tornado`` command and headless Chromium.

``nexus_server`` starts ``python -m nexus_tornado --port 0 --jwt-secret <random>``
(the command of the README, demo app included) as a subprocess per test, reads the
port it bound from its log, waits until it answers, and kills it afterwards;
``nexus_server.kill()`` / ``.start()`` crash and restart it on the same port. ``browser`` is Debian's /usr/bin/chromium driven by
Playwright (it cannot download browsers here); each user of a test gets a context of
their own (separate cookies and localStorage, like two people on two machines).

Screenshots go to the directory named by ``NEXUS_E2E_SCREENSHOT_DIR`` (e.g.
``docs/screenshots``), else to the test's temporary directory.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Iterator, List

import pytest
from browser.chromium import CHROMIUM, CHROMIUM_ARGS
from playwright.sync_api import expect
from support.command import CommandServer

#: How long a page may take to show what a test waits for, milliseconds.
WAIT_MS = 15_000
expect.set_options(timeout=WAIT_MS)

#: What an IE 9-11-era browser lacks, as far as the page is concerned.
OLD_BROWSER_MISSING = ["WebSocket", "EventSource", "fetch", "Promise", "TextEncoder", "TextDecoder"]
#: Runs in every frame before any of its scripts: removes those APIs and records in
#: ``window.nexusTestMissing`` which ones really were gone (a polyfill may bring one
#: back later, which is the point).
OLD_BROWSER_SCRIPT = """
(function (names) {
  var missing = [];
  for (var i = 0; i < names.length; i++) {
    try { delete window[names[i]]; } catch (e) { /* not configurable */ }
    if (typeof window[names[i]] === 'undefined') { missing.push(names[i]); }
  }
  window.nexusTestMissing = missing;
}(%s));
""" % json.dumps(OLD_BROWSER_MISSING)


class NexusServer(CommandServer):
    """The command with its demo app: ready once ``/demo/config`` answers."""

    READY_PATH = "/demo/config"

    def token(self, user: str) -> str:
        status, data = self.request("POST", "/demo/token", {"user": user})
        assert status == 200, data
        return str(data["token"])


@pytest.fixture
def nexus_factory(tmp_path: Path) -> Iterator[Any]:
    """Start ``nexus-tornado`` with extra command-line arguments; all killed at the end."""
    servers: List[NexusServer] = []

    def make(*extra_args: str, with_secret: bool = True) -> NexusServer:
        log_dir = tmp_path / ("server-%d" % len(servers))
        log_dir.mkdir()
        server = NexusServer(log_dir, list(extra_args), with_secret)
        servers.append(server)
        server.start()
        return server

    yield make
    for server in servers:
        server.kill()


@pytest.fixture
def nexus_server(nexus_factory: Any) -> NexusServer:
    """``nexus-tornado`` with the in-memory store."""
    server: NexusServer = nexus_factory()
    return server


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Chromium for the tests of one module.

    Not for the whole session: while Playwright's sync API runs it keeps an asyncio
    loop running in the main thread, where ``asyncio.run`` in other modules' tests
    (run by the same worker) would then fail.
    """
    if not os.path.exists(CHROMIUM):
        pytest.skip("Chromium is not installed at %s; install it with `apt-get install chromium`" % CHROMIUM)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


#: sockjs-client 1.6's jsonp-polling cannot cancel a poll in flight: when the page
#: closes the connection (log out, another transport), it deletes the poll's callback
#: ``_jp.<id>``, and the response still runs as a script and calls it. Harmless (the
#: connection is closed anyway) and not ours to fix; every other error counts.
SOCKJS_LATE_JSONP = re.compile(r"^_jp\.a\w+ is not a function$")


class PageErrors:
    """Uncaught exceptions of the pages of a test; the test fails if there are any
    (but ``SOCKJS_LATE_JSONP``)."""

    def __init__(self) -> None:
        self.errors: List[str] = []

    def watch(self, page: Any) -> Any:
        page.on("pageerror", self._record)
        return page

    def _record(self, exc: Any) -> None:
        if not SOCKJS_LATE_JSONP.match(str(exc)):
            self.errors.append(str(exc))


@pytest.fixture
def new_page(browser: Any) -> Iterator[Any]:
    """``new_page()``: a page in a fresh browser context (its own localStorage).

    ``new_page(old_browser=True)``: every frame of it lacks ``OLD_BROWSER_MISSING``.
    """
    contexts: List[Any] = []
    errors = PageErrors()

    def make(width: int = 1280, height: int = 900, old_browser: bool = False) -> Any:
        context = browser.new_context(viewport={"width": width, "height": height})
        context.set_default_timeout(WAIT_MS)
        if old_browser:
            context.add_init_script(OLD_BROWSER_SCRIPT)
        contexts.append(context)
        return errors.watch(context.new_page())

    yield make
    for context in contexts:
        context.close()
    assert not errors.errors, "uncaught errors in the page: %s" % errors.errors


@pytest.fixture
def screenshot_dir(tmp_path: Path) -> Path:
    configured = os.environ.get("NEXUS_E2E_SCREENSHOT_DIR")
    path = Path(configured) if configured else tmp_path / "screenshots"
    path.mkdir(parents=True, exist_ok=True)
    return path
