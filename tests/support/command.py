"""A ``nexus-tornado`` command running as a process of its own, for tests of the command
itself (start-up, signals, restarts on the same port, the demo app in a browser)."""

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
from typing import IO, Any, Dict, List, Optional

#: How long the command may take to start answering, seconds.
START_TIMEOUT = 20.0
#: The log line that gives the port the command bound (it is started with --port 0).
LISTENING = re.compile(rb"listening on http://127\.0\.0\.1:(\d+)")
#: The log line that gives the admin port (the operator's endpoints; --admin-port 0).
ADMIN_LISTENING = re.compile(rb"operator's endpoints on http://127\.0\.0\.1:(\d+)")


#: Runs the command with a lower RLIMIT_NOFILE (``%d``: the limit); argv follows.
_LIMITED = (
    "import resource, runpy, sys; resource.setrlimit(resource.RLIMIT_NOFILE, (%d, %d)); "
    "sys.argv[0] = 'nexus-tornado'; runpy.run_module('nexus_tornado', run_name='__main__')"
)


class CommandServer:
    """One ``nexus-tornado`` process on a loopback port, restartable on that port.

    Its output goes to a log file (read it with :meth:`output`), so nothing can block
    on a full pipe. ``READY_PATH`` is what must answer 200 before :meth:`start`
    returns.
    """

    READY_PATH = "/stomp/info"

    def __init__(
        self,
        log_dir: Path,
        extra_args: Optional[List[str]] = None,
        with_secret: bool = True,
        max_descriptors: Optional[int] = None,
    ) -> None:
        #: RLIMIT_NOFILE of the process, when set (to run it out of descriptors).
        self.max_descriptors = max_descriptors
        #: None: the command keeps a demo secret of its own in ``state_dir``.
        self.secret: Optional[str] = secrets.token_hex(32) if with_secret else None
        #: The command's $XDG_STATE_HOME (never the real one), the same across restarts.
        self.state_dir = log_dir / "state"
        self.extra_args = list(extra_args or [])
        self.log_path = log_dir / "nexus-tornado.log"
        self.port: Optional[int] = None
        #: Where this run's log starts in ``log_path``.
        self._offset = 0
        self._process: Optional["subprocess.Popen[bytes]"] = None
        self._log: Optional[IO[bytes]] = None

    @property
    def pid(self) -> int:
        """The process id of the running command."""
        assert self._process is not None, "not started"
        return self._process.pid

    @property
    def url(self) -> str:
        assert self.port is not None, "not started"
        return "http://127.0.0.1:%d" % self.port

    def start(self) -> None:
        """Start (the first time on a port the kernel picks; later on that same port)
        and return once ``READY_PATH`` answers."""
        offset = self._offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        self._log = open(self.log_path, "ab")
        launcher = [sys.executable, "-m", "nexus_tornado"]
        if self.max_descriptors is not None:
            launcher = [sys.executable, "-c", _LIMITED % (self.max_descriptors, self.max_descriptors)]
        self._process = subprocess.Popen(
            launcher + ["--port", str(self.port or 0), "--admin-port", "0", "--log-level", "INFO"]
            + (["--jwt-secret", self.secret] if self.secret else [])
            + self.extra_args,
            cwd=str(self.log_path.parent),  # away from the checkout: the installed package
            env=dict(os.environ, XDG_STATE_HOME=str(self.state_dir)),
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
            status, _ = self.request("GET", self.READY_PATH)
        except OSError:
            return False
        return bool(status == 200)

    @property
    def admin_url(self) -> str:
        """The operator's endpoints (metrics, status page) of the current run."""
        with open(self.log_path, "rb") as log:
            log.seek(self._offset)
            match = ADMIN_LISTENING.search(log.read())
        assert match, "no admin address in the log:\n" + self.output()
        return "http://127.0.0.1:%d" % int(match.group(1))

    @property
    def ws_url(self) -> str:
        """The raw WebSocket endpoint."""
        return self.url.replace("http://", "ws://") + "/stomp/websocket"

    def kill(self) -> None:
        """SIGKILL: a crash, nothing is shut down cleanly."""
        self.stop(signal.SIGKILL)

    def stop(self, signum: int = signal.SIGTERM, wait: float = 15.0) -> Optional[int]:
        """Send ``signum`` and wait up to ``wait`` seconds for the exit; return its exit
        status. A process that does not exit in time is killed, and the test fails."""
        process, self._process = self._process, None
        status = None
        try:
            if process is not None:
                if process.poll() is None:
                    process.send_signal(signum)
                try:
                    status = process.wait(wait)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
                    raise
        finally:
            if self._log is not None:
                self._log.close()
                self._log = None
        return status

    def output(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def request(
        self, method: str, path: str, body: Any = None, token: Optional[str] = None, admin: bool = False
    ) -> Any:
        """A JSON request to the server (``admin``: to the operator's endpoints):
        ``(status, decoded body)``."""
        assert self.port is not None
        port = int(self.admin_url.rsplit(":", 1)[1]) if admin else self.port
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
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
