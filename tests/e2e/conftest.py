"""End-to-end fixtures: the real ``nexus-tornado`` command and headless Chromium.

``nexus_server`` starts ``python -m nexus_tornado --port <free> --jwt-secret <random>``
(the command of the README, demo app included) as a subprocess per test, waits until
it answers, and kills it afterwards; ``nexus_server.kill()`` / ``.start()`` crash and
restart it on the same port. ``browser`` is Debian's /usr/bin/chromium driven by
Playwright (it cannot download browsers here); each user of a test gets a context of
their own (separate cookies and localStorage, like two people on two machines).

Screenshots go to the directory named by ``NEXUS_E2E_SCREENSHOT_DIR`` (e.g.
``docs/screenshots``), else to the test's temporary directory.
"""

from __future__ import annotations

import http.client
import importlib.util
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any, Dict, Iterator, List, Optional

import pytest

from tests.support.mongo import free_port

REPO = Path(__file__).resolve().parents[2]
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
#: How long a page may take to show what a test waits for, milliseconds.
WAIT_MS = 15_000
START_TIMEOUT = 20.0

# In a source checkout that is not installed, handlers/ is not importable as
# nexus_tornado.demo (setup.cfg maps it at install time); map it the same way here and
# run the command's own main().
_BOOTSTRAP = """
import importlib.util, sys
sys.path.insert(0, {repo!r})
spec = importlib.util.spec_from_file_location(
    "nexus_tornado.demo", {init!r}, submodule_search_locations=[{pkg!r}])
module = importlib.util.module_from_spec(spec)
sys.modules["nexus_tornado.demo"] = module
spec.loader.exec_module(module)
from nexus_tornado.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _server_command() -> List[str]:
    """``python -m nexus_tornado``, or the same main() with handlers/ mapped in."""
    try:
        installed = importlib.util.find_spec("nexus_tornado.demo") is not None
    except ModuleNotFoundError:
        installed = False
    if installed:
        return [sys.executable, "-m", "nexus_tornado"]
    handlers = REPO / "handlers"
    code = _BOOTSTRAP.format(repo=str(REPO), init=str(handlers / "__init__.py"), pkg=str(handlers))
    return [sys.executable, "-c", code]


class NexusServer:
    """One ``nexus-tornado`` process on a loopback port, restartable on that port."""

    def __init__(self, log_dir: Path, extra_args: Optional[List[str]] = None) -> None:
        self.secret = secrets.token_hex(32)
        self.extra_args = list(extra_args or [])
        self.log_path = log_dir / "nexus-tornado.log"
        self.port: Optional[int] = None
        self._process: Optional["subprocess.Popen[bytes]"] = None
        self._log: Optional[IO[bytes]] = None

    @property
    def url(self) -> str:
        return "http://127.0.0.1:%d" % self.port

    def start(self) -> None:
        """Start (or restart on the same port) and return once ``/demo/config`` answers."""
        attempts = 3 if self.port is None else 1
        for attempt in range(attempts):
            if self.port is None or attempt > 0:
                self.port = free_port()  # another process may grab it first: retry
            self._spawn()
            if self._wait_ready():
                return
            self.kill()
        raise RuntimeError("nexus-tornado did not start; its output:\n" + self.output())

    def _spawn(self) -> None:
        self._log = open(self.log_path, "ab")
        self._process = subprocess.Popen(
            _server_command()
            + ["--port", str(self.port), "--jwt-secret", self.secret, "--log-level", "INFO"]
            + self.extra_args,
            cwd=str(REPO),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._process is None or self._process.poll() is not None:
                return False
            try:
                status, _ = self.request("GET", "/demo/config")
                if status == 200:
                    return True
            except OSError:
                pass
            time.sleep(0.05)
        return False

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

    def make(*extra_args: str) -> NexusServer:
        log_dir = tmp_path / ("server-%d" % len(servers))
        log_dir.mkdir()
        server = NexusServer(log_dir, list(extra_args))
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


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
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
