"""Servers under test, each started as a subprocess (optionally pinned to CPUs).

``nexus``     nexus-tornado's own CLI (in-memory store, or ``--mongo-uri``).
``baseline``  :mod:`baseline_server`, plain sockjs-tornado broadcast, no STOMP.
``rabbitmq``  Debian's ``rabbitmq-server`` with ``rabbitmq_web_stomp`` (skipped when
              not installed), one Erlang scheduler so it gets one core like the others.
``nx-27017``  the MongoDB wire-protocol server from PyPI, as a store for nexus.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict, List, Optional, Set

import procstat

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_DIR = os.path.dirname(BENCH_DIR)
RABBIT_SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"
JWT_SECRET = "bench-secret-of-a-decent-length-0123456789"


class Unavailable(Exception):
    """The server cannot run here; the scenario is skipped with this reason."""


def free_port() -> int:
    """A free loopback TCP port (bind port 0, read it back)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen, timeout: float, log: str) -> None:
    """Wait until ``port`` accepts connections, or fail if ``proc`` exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise Unavailable("exited with %s: %s" % (proc.returncode, tail(log)))
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise Unavailable("port %d not open after %.0f s: %s" % (port, timeout, tail(log)))


def tail(path: str, lines: int = 5) -> str:
    try:
        with open(path, errors="replace") as f:
            return " | ".join(f.read().strip().splitlines()[-lines:])
    except OSError:
        return ""


class Server:
    """A started server: where to connect, how to speak, which pids to sample."""

    name = "server"
    label = "server"
    dialect = "stomp"
    sockjs = True

    def __init__(self, cpus: Optional[Set[int]], logdir: str) -> None:
        self.cpus = cpus
        self.logdir = logdir
        self.port = free_port()
        self.proc: Optional[subprocess.Popen] = None
        #: Processes serving this server on its CPUs but measured apart (the MongoDB store).
        self.sidecar_pids: List[int] = []
        self.log = os.path.join(logdir, "%s-%d.log" % (self.name, self.port))

    # What clients need.
    def url(self, sockjs: bool = False) -> str:
        raise NotImplementedError

    def destination(self, ident: str) -> str:
        return "/topic/chat/%s" % ident

    def target(self, sockjs: bool = False) -> Dict[str, Any]:
        return {"dialect": self.dialect, "url": self.url(sockjs), "sockjs": sockjs}

    @property
    def pids(self) -> List[int]:
        return [self.proc.pid] if self.proc is not None else []

    def start(self) -> "Server":
        raise NotImplementedError

    def _spawn(self, argv: List[str], env: Optional[Dict[str, str]] = None, timeout: float = 20) -> None:
        logf = open(self.log, "w")
        self.proc = subprocess.Popen(
            argv,
            stdout=logf,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=REPO_DIR,
            preexec_fn=procstat.pinner(self.cpus),
            start_new_session=True,
        )
        logf.close()
        try:
            wait_port(self.port, self.proc, timeout, self.log)
        except Unavailable:
            self.stop()
            raise

    def stop(self) -> None:
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None

    def version(self) -> str:
        return ""


class BaselineServer(Server):
    name = "baseline"
    label = "sockjs-tornado broadcast"
    dialect = "plain"

    def __init__(self, cpus: Optional[Set[int]], logdir: str, gc_mode: str = "default") -> None:
        super().__init__(cpus, logdir)
        self.gc_mode = gc_mode

    def url(self, sockjs: bool = False) -> str:
        base = "ws://127.0.0.1:%d/bcast" % self.port
        return base if sockjs else base + "/websocket"

    def start(self) -> "BaselineServer":
        self._spawn(
            [sys.executable, os.path.join(BENCH_DIR, "baseline_server.py"),
             "--port", str(self.port), "--gc", self.gc_mode]
        )
        return self

    def version(self) -> str:
        from importlib.metadata import version

        import sockjs.tornado  # noqa: F401
        import tornado

        return "sockjs-tornado %s, tornado %s" % (version("sockjs-tornado"), tornado.version)


class NexusServer(Server):
    name = "nexus"
    label = "nexus-tornado"

    def __init__(
        self, cpus: Optional[Set[int]], logdir: str, mongo_uri: str = "", store_label: str = "memory",
        gc_mode: str = "default", sidecar_pids: Optional[List[int]] = None,
    ) -> None:
        super().__init__(cpus, logdir)
        self.sidecar_pids = list(sidecar_pids or [])
        self.mongo_uri = mongo_uri
        self.store_label = store_label
        self.gc_mode = gc_mode

    def url(self, sockjs: bool = False) -> str:
        base = "ws://127.0.0.1:%d/stomp" % self.port
        return base if sockjs else base + "/websocket"

    def target(self, sockjs: bool = False) -> Dict[str, Any]:
        out = super().target(sockjs)
        out["jwt_secret"] = JWT_SECRET
        return out

    def start(self) -> "NexusServer":
        if self.gc_mode == "off":
            # An experiment, not a recommendation: how much of the server's CPU and of
            # its latency tail is Python's cyclic garbage collector.
            code = (
                "import gc, runpy; gc.disable(); "
                "runpy.run_module('nexus_tornado', run_name='__main__', alter_sys=True)"
            )
            launcher = [sys.executable, "-c", code]
        else:
            launcher = [sys.executable, "-m", "nexus_tornado"]
        argv = [
            *launcher, "--port", str(self.port), "--admin-port", "0",
            "--jwt-secret", JWT_SECRET, "--no-demo",
            "--sends-per-minute", "100000000", "--log-level", "WARNING",
        ]
        if self.mongo_uri:
            argv += ["--mongo-uri", self.mongo_uri]
        env = dict(os.environ)
        env["PYTHONPATH"] = REPO_DIR + os.pathsep + env.get("PYTHONPATH", "")
        self._spawn(argv, env=env, timeout=30)
        return self

    def version(self) -> str:
        try:
            from importlib.metadata import version

            return "nexus-tornado %s" % version("nexus-tornado")
        except Exception:  # noqa: BLE001 - informational only
            return "nexus-tornado (source tree)"


class RabbitServer(Server):
    name = "rabbitmq"
    label = "RabbitMQ Web-STOMP"
    sockjs = False

    def __init__(self, cpus: Optional[Set[int]], logdir: str) -> None:
        super().__init__(cpus, logdir)
        self.amqp_port = free_port()
        self.dist_port = free_port()
        self.epmd_port = free_port()
        self.home = tempfile.mkdtemp(prefix="nx-bench-rabbit-")

    @staticmethod
    def available() -> Optional[str]:
        """None when runnable, else why not."""
        if not os.path.exists(RABBIT_SERVER):
            return "rabbitmq-server is not installed (apt-get install rabbitmq-server)"
        plugins = [d for d in os.listdir("/usr/lib/rabbitmq/lib") if d.startswith("rabbitmq_server")]
        for d in plugins:
            if any(p.startswith("rabbitmq_web_stomp-") for p in
                   os.listdir(os.path.join("/usr/lib/rabbitmq/lib", d, "plugins"))):
                return None
        return "the rabbitmq_web_stomp plugin is missing"

    def url(self, sockjs: bool = False) -> str:
        return "ws://127.0.0.1:%d/ws" % self.port

    def destination(self, ident: str) -> str:
        # RabbitMQ maps /topic/<routing key> onto amq.topic; dots separate words.
        return "/topic/chat.%s" % ident

    def target(self, sockjs: bool = False) -> Dict[str, Any]:
        out = super().target(False)
        out.update(login="guest", passcode="guest", vhost="/")
        return out

    def _env(self) -> Dict[str, str]:
        env = dict(os.environ)
        env.update(
            HOME=self.home,
            RABBITMQ_HOME="/usr/lib/rabbitmq",
            RABBITMQ_MNESIA_BASE=os.path.join(self.home, "mnesia"),
            RABBITMQ_LOG_BASE=os.path.join(self.home, "log"),
            RABBITMQ_NODENAME="nxbench%d@localhost" % self.port,
            RABBITMQ_ENABLED_PLUGINS_FILE=os.path.join(self.home, "enabled_plugins"),
            RABBITMQ_CONFIG_FILE=os.path.join(self.home, "rabbitmq"),
            RABBITMQ_DIST_PORT=str(self.dist_port),
            RABBITMQ_PID_FILE=os.path.join(self.home, "pid"),
            ERL_EPMD_PORT=str(self.epmd_port),
            # One scheduler (one core, like the Python servers) and no busy-waiting, so
            # CPU time measures work rather than spinning.
            RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=(
                "+S 1:1 +SDcpu 1:1 +sbwt none +sbwtdcpu none +sbwtdio none"
            ),
        )
        return env

    def start(self) -> "RabbitServer":
        with open(os.path.join(self.home, "enabled_plugins"), "w") as f:
            f.write("[rabbitmq_web_stomp].\n")
        with open(os.path.join(self.home, "rabbitmq.conf"), "w") as f:
            f.write(
                "listeners.tcp.default = %d\n"
                "web_stomp.tcp.port = %d\n"
                "loopback_users = none\n"
                "log.console.level = warning\n" % (self.amqp_port, self.port)
            )
        self._spawn([RABBIT_SERVER], env=self._env(), timeout=60)
        return self

    def stop(self) -> None:
        super().stop()
        # epmd daemonizes out of our process group: ask it to leave.
        found = shutil.which("epmd") or next(iter(sorted(glob.glob("/usr/lib/erlang/erts-*/bin/epmd"))), "epmd")
        epmd = found
        try:
            subprocess.run([epmd, "-kill"], env=self._env(), timeout=5,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired):
            pass
        shutil.rmtree(self.home, ignore_errors=True)

    def version(self) -> str:
        try:
            out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "rabbitmq-server"],
                                 capture_output=True, text=True, timeout=5).stdout
            return "RabbitMQ %s (Debian), one Erlang scheduler" % out.strip()
        except (OSError, subprocess.TimeoutExpired):
            return "RabbitMQ"


class Nx27017(Server):
    """The MongoDB wire-protocol server from PyPI (SQLite in memory)."""

    name = "nx-27017"

    def uri(self) -> str:
        return "mongodb://127.0.0.1:%d/nexus_bench" % self.port

    def start(self) -> "Nx27017":
        exe = os.path.join(os.path.dirname(sys.executable), "nx-27017")
        if not os.path.exists(exe):
            raise Unavailable("nx-27017 is not installed in this environment")
        self._spawn(
            [exe, "--db", "memory", "--port", str(self.port),
             "--log-file", os.path.join(self.logdir, "nx-27017-%d.log" % self.port),
             "--pid-file", os.path.join(self.logdir, "nx-27017-%d.pid" % self.port)]
        )
        return self

    def version(self) -> str:
        from importlib.metadata import version

        return "nx-27017 %s" % version("nx-27017")
