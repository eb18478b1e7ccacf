"""A throw-away nx-27017 server (a MongoDB-wire server on SQLite) for tests.

:class:`NxServer` runs ``nx-27017 --data-dir <dir> --port <port> --host 127.0.0.1`` as a
subprocess, waits until it answers ``ping``, and stops it. It can be stopped and started
again on the same port and data directory in the middle of a test, which is how tests
simulate a database outage and its end.

Fixtures (import them into a test module, or list this module in ``pytest_plugins``):

- ``nx_server``: one server per test session (per xdist worker); never stop it.
- ``nx_outage_server``: a server of the test's own, free to be stopped and restarted.

Both skip the test when nx-27017 is not installed.

:func:`mongo_target` names the MongoDB a test runs against (nx-27017, or the real
MongoDB of ``NEXUS_TEST_MONGO_URI``) and the driver (motor or PyMongo's async client);
:class:`MongoTarget` opens stores on a database of the test's own and drops it after.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import IO, Any, Callable, Dict, Iterator, List, Optional, Tuple

import pytest

HOST = "127.0.0.1"

#: Set it to also run the MongoDB tests against a real MongoDB (a database named
#: ``nexus_test_<random>`` is created there per test, then dropped).
MONGO_URI_ENV = "NEXUS_TEST_MONGO_URI"

#: Targets as ``<server>-<driver>``, used as test ids.
MONGO_TARGETS = ("nx27017-motor", "nx27017-pymongo", "mongodb-motor", "mongodb-pymongo")


def mongo_params(names: Tuple[str, ...] = MONGO_TARGETS) -> List[Any]:
    """Fixture params for targets, marked ``mongo`` (deselect with ``-m "not mongo"``)."""
    return [pytest.param(name, marks=pytest.mark.mongo, id=name) for name in names]


def nx_27017_command() -> Optional[List[str]]:
    """The command that starts nx-27017, or ``None`` if it is not installed."""
    script = Path(sys.executable).with_name("nx-27017")
    if script.exists():
        return [str(script)]
    found = shutil.which("nx-27017")
    return [found] if found else None


def free_port() -> int:
    """A TCP port the kernel just handed out on the loopback interface."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class NxServer:
    """One nx-27017 process bound to a loopback port, with its own data directory."""

    def __init__(self, data_dir: Path, port: Optional[int] = None) -> None:
        command = nx_27017_command()
        if command is None:
            raise RuntimeError("nx-27017 is not installed")
        self._command = command
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        #: Fixed once chosen, so a restarted server is found where the old one was.
        self.port = port
        self._process: Optional[subprocess.Popen[bytes]] = None
        self._output: Optional[IO[bytes]] = None

    @property
    def uri(self) -> str:
        """A ``mongodb://`` URI for clients (direct connection, no replica set)."""
        if self.port is None:
            raise RuntimeError("the server has not been started yet")
        return "mongodb://%s:%d/?directConnection=true" % (HOST, self.port)

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float = 30.0) -> None:
        """Start the server and return once it answers ``ping``.

        The first start picks a free port; if another process grabs it before the
        server binds, it tries again with another. Later starts reuse the port.
        """
        if self.running:
            return
        attempts = 3 if self.port is None else 1
        for attempt in range(attempts):
            if self.port is None or attempt > 0:
                self.port = free_port()
            self._spawn()
            if self._wait_ready(timeout):
                return
            self.stop()
        raise RuntimeError(
            "nx-27017 did not start on port %s; see %s" % (self.port, self._log_path())
        )

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server (SIGTERM, then SIGKILL) and wait until it has exited."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGCONT)  # in case it was paused
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout)
        if self._output is not None:
            self._output.close()
            self._output = None

    def pause(self) -> None:
        """Freeze the process (SIGSTOP): connections are accepted, nothing answers."""
        assert self._process is not None
        self._process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """Let a paused process run again (SIGCONT)."""
        assert self._process is not None
        self._process.send_signal(signal.SIGCONT)

    def restart(self) -> None:
        """Stop and start again on the same port and data directory."""
        self.stop()
        self.start()

    def __enter__(self) -> "NxServer":
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _log_path(self) -> Path:
        return self.data_dir / "nx-27017.out"

    def _spawn(self) -> None:
        assert self.port is not None
        self._output = open(self._log_path(), "ab")
        self._process = subprocess.Popen(
            self._command
            + [
                "--data-dir", str(self.data_dir / "db"),
                "--port", str(self.port),
                "--host", HOST,
                # Its defaults live in /tmp and would collide between parallel servers.
                "--pid-file", str(self.data_dir / "nx-27017.pid"),
                "--log-file", str(self.data_dir / "nx-27017.log"),
            ],
            stdin=subprocess.DEVNULL,
            stdout=self._output,
            stderr=subprocess.STDOUT,
            env=dict(os.environ, PYTHONWARNINGS="ignore"),
        )

    def _wait_ready(self, timeout: float) -> bool:
        """Poll with ``ping`` until the server answers, it exits, or time runs out."""
        import pymongo

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running:
                return False
            client: "pymongo.MongoClient[Dict[str, Any]]" = pymongo.MongoClient(
                self.uri, serverSelectionTimeoutMS=250, connectTimeoutMS=250
            )
            try:
                client.admin.command("ping")
                return True
            except pymongo.errors.PyMongoError:
                time.sleep(0.05)
            finally:
                client.close()
        return False


def pytest_report_header(config: pytest.Config) -> List[str]:
    """Say which MongoDBs the store tests run against (when loaded as a plugin)."""
    nx = "nx-27017 (started per session)" if nx_27017_command() else "nx-27017 not installed"
    uri = os.environ.get(MONGO_URI_ENV, "")
    real = "MongoDB at %s" % _redacted(uri) if uri else "no real MongoDB (%s unset)" % MONGO_URI_ENV
    return ["mongo store tests: %s; %s" % (nx, real)]


@pytest.fixture(scope="session")
def nx_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NxServer]:
    """An nx-27017 server shared by the whole session; tests must not stop it."""
    if nx_27017_command() is None:
        pytest.skip("nx-27017 is not installed")
    server = NxServer(tmp_path_factory.mktemp("nx-27017"))
    with server:
        yield server


@pytest.fixture
def nx_outage_server(tmp_path: Path) -> Iterator[NxServer]:
    """An nx-27017 server owned by one test, which may stop and restart it."""
    if nx_27017_command() is None:
        pytest.skip("nx-27017 is not installed")
    server = NxServer(tmp_path / "nx-27017")
    with server:
        yield server


def _client_class(driver: str) -> Callable[..., Any]:
    if driver == "motor":
        from motor.motor_asyncio import AsyncIOMotorClient

        return AsyncIOMotorClient
    from pymongo import AsyncMongoClient

    return AsyncMongoClient


def _redacted(uri: str) -> str:
    """``uri`` without its user and password, for test output."""
    scheme, sep, rest = uri.partition("://")
    return scheme + sep + rest.rpartition("@")[2]


class MongoTarget:
    """A MongoDB (URI) and driver to run store tests against, with a fresh database.

    Stores made by :meth:`store` own their clients, like a server process would; the
    test's finalizer closes them all and drops the database.
    """

    def __init__(
        self, label: str, uri: str, driver: str, server: Optional[NxServer] = None
    ) -> None:
        self.label = label
        #: The nx-27017 server behind ``uri``, if it is one started by the tests.
        self.server = server
        self.uri = uri
        self.driver = driver
        self.client_class = _client_class(driver)
        self.database_name = "nexus_test_" + uuid.uuid4().hex[:12]
        self._stores: List[Any] = []
        self._clients: List[Any] = []

    def client(self, **options: Any) -> Any:
        """A new client of the target's driver (closed by the finalizer)."""
        options.setdefault("serverSelectionTimeoutMS", 5000)
        client = self.client_class(self.uri, **options)
        self._clients.append(client)
        return client

    async def store(self, **kwargs: Any) -> Any:
        """An opened MongoStore on the test's database, with a client of its own."""
        from nexus_tornado.hub.mongo import MongoStore

        store = MongoStore.from_uri(
            self.uri, self.database_name, client_class=self.client_class, **kwargs
        )
        self._stores.append(store)
        await store.open()
        return store

    async def aclose(self) -> None:
        for store in self._stores:
            await store.close()
        for client in self._clients:
            result = client.close()
            if result is not None:
                await result
        self._stores.clear()
        self._clients.clear()

    def drop_database(self) -> None:
        import pymongo

        client: "pymongo.MongoClient[Dict[str, Any]]" = pymongo.MongoClient(
            self.uri, serverSelectionTimeoutMS=5000
        )
        try:
            client.drop_database(self.database_name)
        except pymongo.errors.PyMongoError:
            pass  # the server may be gone already (an outage test); nothing to keep
        finally:
            client.close()


def mongo_target(
    request: pytest.FixtureRequest, name: str, nx: Optional[NxServer] = None
) -> MongoTarget:
    """The :class:`MongoTarget` called ``name`` (one of :data:`MONGO_TARGETS`), torn
    down with the test. Skips when that MongoDB is not available. The ``nx27017``
    targets use ``nx`` if given, else the session's ``nx_server``.

    Needs the ``io_loop`` fixture of pytest-tornado: clients are closed on it.
    """
    kind, _, driver = name.partition("-")
    if kind == "mongodb":
        uri = os.environ.get(MONGO_URI_ENV, "")
        if not uri:
            pytest.skip("%s is not set: no real MongoDB to test against" % MONGO_URI_ENV)
        label = "MongoDB at %s" % _redacted(uri)
    else:
        if nx is None:
            nx = request.getfixturevalue("nx_server")
        assert nx is not None
        uri = nx.uri
        label = "nx-27017 at %s:%d" % (HOST, nx.port or 0)
    target = MongoTarget(label, uri, driver, nx)
    io_loop = request.getfixturevalue("io_loop")

    def finish() -> None:
        # Bounded: a store whose close never ends fails its test, not the whole run.
        io_loop.run_sync(target.aclose, timeout=60)
        target.drop_database()

    request.addfinalizer(finish)
    print("store tests on %s through %s" % (label, driver))
    return target
