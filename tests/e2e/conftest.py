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

import http.client
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any, Dict, Iterator, List, Optional

import pytest
from browser.chromium import CHROMIUM, CHROMIUM_ARGS
from playwright.sync_api import expect

#: How long a page may take to show what a test waits for, milliseconds.
WAIT_MS = 15_000
expect.set_options(timeout=WAIT_MS)
START_TIMEOUT = 20.0

#: The line the command logs once it listens (with the port it bound, for --port 0).
LISTENING = re.compile(rb"listening on http://127\.0\.0\.1:(\d+)")


class NexusServer:
    """One ``nexus-tornado`` process on a loopback port, restartable on that port."""

    def __init__(self, log_dir: Path, extra_args: Optional[List[str]] = None, with_secret: bool = True) -> None:
        #: None: the command picks a random secret of its own at every start.
        self.secret: Optional[str] = secrets.token_hex(32) if with_secret else None
        self.extra_args = list(extra_args or [])
        self.log_path = log_dir / "nexus-tornado.log"
        self.port: Optional[int] = None
        self._process: Optional["subprocess.Popen[bytes]"] = None
        self._log: Optional[IO[bytes]] = None

    @property
    def url(self) -> str:
        assert self.port is not None, "not started"
        return "http://127.0.0.1:%d" % self.port

    def start(self) -> None:
        """Start (the first time on a port the kernel picks; later on that same port)
        and return once ``/demo/config`` answers."""
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        self._log = open(self.log_path, "ab")
        self._process = subprocess.Popen(
            [sys.executable, "-m", "nexus_tornado", "--port", str(self.port or 0), "--log-level", "INFO"]
            + (["--jwt-secret", self.secret] if self.secret else [])
            + self.extra_args,
            cwd=str(self.log_path.parent),  # away from the checkout: the installed package
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline and self._process.poll() is None:
            if self.port is None:
                with open(self.log_path, "rb") as log:
                    log.seek(offset)
                    match = LISTENING.search(log.read())
                if match:
                    self.port = int(match.group(1))
            if self.port is not None and self._answers():
                return
            time.sleep(0.05)
        self.kill()
        raise RuntimeError("nexus-tornado did not start; its output:\n" + self.output())

    def _answers(self) -> bool:
        try:
            status, _ = self.request("GET", "/demo/config")
        except OSError:
            return False
        return bool(status == 200)

    def kill(self) -> None:
        """SIGKILL: a crash, nothing is shut down cleanly."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGKILL)
            process.wait(10)
        if self._log is not None:
            self._log.close()
            self._log = None

    def output(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def request(self, method: str, path: str, body: Any = None, token: Optional[str] = None) -> Any:
        """A JSON request to the server: ``(status, decoded body)``."""
        assert self.port is not None
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            headers: Dict[str, str] = {"Content-Type": "application/json"}
            if token:
                headers["Authorization"] = "Bearer " + token
            conn.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
            response = conn.getresponse()
            data = response.read()
            try:
                decoded = json.loads(data)
            except ValueError:
                decoded = data
            return response.status, decoded
        finally:
            conn.close()

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
        pytest.skip("%s is not installed" % CHROMIUM)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class PageErrors:
    """Uncaught exceptions of the pages of a test; the test fails if there are any."""

    def __init__(self) -> None:
        self.errors: List[str] = []

    def watch(self, page: Any) -> Any:
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        return page


@pytest.fixture
def new_page(browser: Any) -> Iterator[Any]:
    """``new_page()``: a page in a fresh browser context (its own localStorage)."""
    contexts: List[Any] = []
    errors = PageErrors()

    def make(width: int = 1280, height: int = 900) -> Any:
        context = browser.new_context(viewport={"width": width, "height": height})
        context.set_default_timeout(WAIT_MS)
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
