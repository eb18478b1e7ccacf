"""nginx in front of several nexus-tornado processes, run from the repository's own
config/nginx.conf: only the listen port and the upstream servers are replaced (and
the pid, log and temp paths put in a directory of the test's own)."""

from __future__ import annotations

import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import IO, List, Optional

import pytest

from .mongo import free_port

CONFIG = Path(__file__).resolve().parents[2] / "config" / "nginx.conf"


def nginx_command() -> Optional[str]:
    return shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )


def render(config: str, listen: int, upstreams: List[int], directory: Path) -> str:
    """The repository's config with the test's ports and paths."""
    servers = "".join(
        "        server 127.0.0.1:%d max_fails=1 fail_timeout=5s;\n" % port for port in upstreams
    )
    config, count = re.subn(r"(?m)^\s*server 127\.0\.0\.1:\d+ [^\n]*\n", "", config)
    assert count, "no upstream server lines in config/nginx.conf"
    config = config.replace("    upstream nexus {\n", "    upstream nexus {\n" + servers, 1)
    config, count = re.subn(r"listen 127\.0\.0\.1:\d+;", "listen 127.0.0.1:%d;" % listen, config)
    assert count == 1, "no listen line in config/nginx.conf"
    paths = "".join(
        "    %s_temp_path %s;\n" % (name, directory / name)
        for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    config = config.replace("http {\n", "http {\n    access_log %s;\n%s" % (directory / "access.log", paths), 1)
    return "pid %s;\nerror_log %s info;\n%s" % (directory / "nginx.pid", directory / "error.log", config)


class Nginx:
    """One nginx (single process, in the foreground) on a free loopback port."""

    def __init__(self, directory: Path, upstreams: List[int]) -> None:
        command = nginx_command()
        if command is None:
            pytest.skip("nginx is not installed; install it with `apt-get install nginx`")
        self.command = command
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.conf = directory / "nginx.conf"
        self.conf.write_text(render(CONFIG.read_text(), self.port, upstreams, directory))
        self._process: Optional["subprocess.Popen[bytes]"] = None
        self._out: Optional[IO[bytes]] = None

    @property
    def url(self) -> str:
        return "http://127.0.0.1:%d" % self.port

    @property
    def ws_url(self) -> str:
        return "ws://127.0.0.1:%d/stomp/websocket" % self.port

    def start(self) -> None:
        self._out = open(self.directory / "nginx.out", "ab")
        self._process = subprocess.Popen(
            [self.command, "-c", str(self.conf), "-p", str(self.directory),
             "-g", "daemon off; master_process off;"],
            stdin=subprocess.DEVNULL, stdout=self._out, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError("nginx exited: %s" % self.log())
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("nginx did not start: %s" % self.log())

    def log(self) -> str:
        parts = []
        for name in ("nginx.out", "error.log"):
            path = self.directory / name
            if path.exists():
                parts.append(path.read_text(errors="replace")[-4000:])
        return "\n".join(parts)

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGQUIT)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        if self._out is not None:
            self._out.close()
            self._out = None

    def __enter__(self) -> "Nginx":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
