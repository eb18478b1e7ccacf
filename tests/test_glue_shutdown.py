"""A restart under load loses no receipted message: SIGTERM to the command while clients
keep sending with receipts, then a new process on the same port and MongoDB."""

from __future__ import annotations

import json
import re
import signal
import threading
import time
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any, List, Optional, Tuple

import pymongo
import pytest
import websocket
from support.clients import RawWsClient, chat_envelope
from support.command import CommandServer
from support.mongo import NxServer, nx_server  # noqa: F401  (fixture)
from support.nexus import make_token

from nexus_tornado.glue.services import Services
from nexus_tornado.glue.shutdown import close_connections, close_reason, drain, shutdown_close

#: Most a client is told to wait before reconnecting, in this test (--reconnect-delay).
RECONNECT_DELAY = 0.5
HINT = re.compile(r"^server shutting down \(reconnect in (\d+) ms\)$")


class Publisher(threading.Thread):
    """Sends chat messages with receipts, ten at a time, until told to stop; reconnects
    after a close, waiting as long as the server's close reason says."""

    def __init__(self, server: CommandServer, user: str, chat: str) -> None:
        super().__init__(name="publisher-" + user, daemon=True)
        self.server = server
        self.user = user
        self.chat = chat
        self.stop = threading.Event()
        self.receipted: List[int] = []
        self.closes: List[Tuple[Optional[int], str]] = []
        self.error: Optional[BaseException] = None

    def run(self) -> None:
        try:
            sent = 0
            while not self.stop.is_set():
                try:
                    client = RawWsClient(self.server.ws_url)
                except (OSError, websocket.WebSocketException):
                    time.sleep(0.02)  # the server is restarting
                    continue
                try:
                    client.connect(make_token(self.user, secret=self.server.secret, chats=[self.chat]))
                    while not self.stop.is_set():
                        batch = []
                        for _ in range(10):
                            sent += 1
                            batch.append(sent)
                            client.send_frame(
                                "SEND", {"destination": "/topic/chat/" + self.chat, "receipt": str(sent)},
                                chat_envelope(self.user, self.chat, content="%s-%d" % (self.user, sent)),
                            )
                        for number in batch:
                            client.expect("RECEIPT", receipt_id=str(number))
                            self.receipted.append(number)
                except (AssertionError, OSError, websocket.WebSocketException):
                    if client.close_status is None:
                        # A send failed first: the close frame may still wait to be read.
                        try:
                            client.wait_closed(timeout=5)
                        except (AssertionError, OSError, websocket.WebSocketException):
                            pass
                    self.closes.append((client.close_status, client.close_reason))
                    hint = HINT.match(client.close_reason or "")
                    if hint:
                        time.sleep(int(hint.group(1)) / 1000.0)
                finally:
                    client.close()
        except BaseException as exc:  # reported by the test
            self.error = exc


def stored_contents(uri: str, database: str, chat: str) -> List[str]:
    client: "pymongo.MongoClient[Any]" = pymongo.MongoClient(uri, serverSelectionTimeoutMS=10_000)
    try:
        documents = client[database]["nexus_messages"].find({"destination": "/topic/chat/" + chat})
        return [json.loads(d["body"])["payload"]["content"] for d in documents]
    finally:
        client.close()


def wait_until(predicate: Any, what: str, limit: float = 60.0) -> None:
    deadline = time.monotonic() + limit
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


@pytest.mark.mongo
def test_a_restart_under_load_loses_no_receipted_message(nx_server: NxServer, tmp_path: Path) -> None:  # noqa: F811
    database = "nexus_restart_" + uuid.uuid4().hex[:8]
    uri = nx_server.uri.replace("/?", "/%s?" % database)
    server = CommandServer(
        tmp_path,
        # The publishers answer the close from busy test threads: give them time enough
        # on a loaded machine (the default, 2 s, is for real clients).
        ["--no-demo", "--mongo-uri", uri, "--sends-per-minute", "1000000", "--shutdown-timeout", "10",
         "--close-handshake-timeout", "8", "--reconnect-delay", str(RECONNECT_DELAY)],
    )
    server.start()
    publishers = [Publisher(server, "user%d" % i, "restart%d" % i) for i in range(4)]
    try:
        for publisher in publishers:
            publisher.start()
        wait_until(lambda: all(len(p.receipted) >= 20 for p in publishers), "load before the restart")
        # The drain's budget (10 s) and the HTTP connections' last 5 s, with room to spare.
        assert server.stop(signal.SIGTERM, wait=30) == 0
        before = {p.name: len(p.receipted) for p in publishers}
        server.start()  # the same port
        wait_until(
            lambda: all(len(p.receipted) >= before[p.name] + 20 for p in publishers), "load after the restart"
        )
    finally:
        for publisher in publishers:
            publisher.stop.set()
        for publisher in publishers:
            publisher.join(30)
        server.stop(signal.SIGTERM)
    log = server.output()
    assert "Traceback" not in log
    assert log.count("stopped in") == 2
    # Busy publishers never pause: each connection must close itself the moment its
    # work in hand is done, not hold the drain to its deadline.
    assert "out of time" not in log
    for publisher in publishers:
        assert publisher.error is None, publisher.error
        # Each was closed by the shutdown with 1001 and told when to come back.
        codes = [c for c in publisher.closes if c[0] == 1001]
        assert codes, publisher.closes
        delay = HINT.match(codes[0][1])
        assert delay and int(delay.group(1)) <= RECONNECT_DELAY * 1000, codes
        stored = stored_contents(nx_server.uri, database, publisher.chat)
        assert len(stored) == len(set(stored)), "a message was stored twice"
        missing = set("%s-%d" % (publisher.user, n) for n in publisher.receipted) - set(stored)
        assert not missing, "receipted but lost: %s" % sorted(missing)[:10]


class Pipeliner(threading.Thread):
    """Keeps ``window`` SENDs with receipts in flight on one connection (a new SEND for
    each RECEIPT) until the server closes it; no reconnect."""

    def __init__(self, server: CommandServer, user: str, chat: str, window: int = 40) -> None:
        super().__init__(name="pipeliner-" + user, daemon=True)
        self.server = server
        self.user = user
        self.chat = chat
        self.window = window
        self.receipted: List[int] = []
        self.sent = 0
        self.close_status: Optional[int] = None
        self.error: Optional[BaseException] = None
        self.client = RawWsClient(server.ws_url)
        self.client.connect(make_token(user, secret=server.secret, chats=[chat]))

    def _send(self) -> None:
        self.sent += 1
        self.client.send_frame(
            "SEND", {"destination": "/topic/chat/" + self.chat, "receipt": str(self.sent)},
            chat_envelope(self.user, self.chat, content="%s-%d" % (self.user, self.sent)),
        )

    def run(self) -> None:
        client = self.client
        try:
            for _ in range(self.window):
                self._send()
            while True:
                try:
                    text = client._receive_text()
                except (OSError, websocket.WebSocketException):
                    break
                if text is None:
                    break
                client._feed(text)
                for frame in [f for f in client.frames if f.command == "RECEIPT"]:
                    client.frames.remove(frame)
                    self.receipted.append(int(frame.headers["receipt-id"]))
                    try:
                        self._send()
                    except (OSError, websocket.WebSocketException):
                        pass  # closing: the close frame is still to be read
            self.close_status = client.close_status
        except BaseException as exc:  # reported by the test
            self.error = exc
        finally:
            client.close()


@pytest.mark.mongo
def test_a_drain_under_pipelining_clients_is_quick_and_receipts_everything_it_stored(
    nx_server: NxServer, tmp_path: Path  # noqa: F811
) -> None:
    """Clients with 40 SENDs in flight each never run out of work: the drain stops
    reading their new frames, handles and receipts what it read, and closes; nothing is
    stored without its RECEIPT (which a client would send again: a duplicate)."""
    database = "nexus_pipelined_" + uuid.uuid4().hex[:8]
    uri = nx_server.uri.replace("/?", "/%s?" % database)
    server = CommandServer(
        tmp_path,
        ["--no-demo", "--mongo-uri", uri, "--sends-per-minute", "1000000", "--shutdown-timeout", "20",
         "--close-handshake-timeout", "8", "--reconnect-delay", "0"],
    )
    server.start()
    pipeliners = [Pipeliner(server, "piper%d" % i, "piped%d" % i) for i in range(3)]
    try:
        for pipeliner in pipeliners:
            pipeliner.start()
        wait_until(lambda: all(len(p.receipted) >= 100 for p in pipeliners), "load before the shutdown")
        assert server.stop(signal.SIGTERM, wait=40) == 0
        for pipeliner in pipeliners:
            pipeliner.join(30)
    finally:
        server.stop(signal.SIGTERM)
    log = server.output()
    assert "Traceback" not in log
    # Held to the deadline, the drain would have closed them "out of time".
    assert "out of time" not in log, log[-3000:]
    for pipeliner in pipeliners:
        assert pipeliner.error is None, pipeliner.error
        assert pipeliner.close_status == 1001
        stored = stored_contents(nx_server.uri, database, pipeliner.chat)
        assert len(stored) == len(set(stored))
        receipted = set("%s-%d" % (pipeliner.user, n) for n in pipeliner.receipted)
        unreceipted = set(stored) - receipted
        assert not unreceipted, "stored without a RECEIPT: %s" % sorted(unreceipted)[:10]
        assert not receipted - set(stored), "receipted but lost"
        assert pipeliner.sent - len(receipted) >= 1  # frames were in flight at the close


class _Connection:
    def __init__(self, registry: Any, busy: bool) -> None:
        self.registry = registry
        self.busy = busy
        self.closed: Optional[Tuple[int, str]] = None
        registry[self] = None

    def close_with(self, code: int, reason: str) -> None:
        self.closed = (code, reason)
        del self.registry[self]  # as on_close does


def test_idle_connections_close_first_with_a_jittered_reconnect_hint() -> None:
    services: Any = Services.__new__(Services)
    services.connections = {}
    idle, busy = _Connection(services.connections, False), _Connection(services.connections, True)
    draws = iter([0.25, 0.999])
    assert close_connections(services, 2.0, only_idle=True, rand=lambda: next(draws)) == 1
    assert idle.closed == (1001, "server shutting down (reconnect in 500 ms)") and busy.closed is None
    assert close_connections(services, 2.0, only_idle=False, rand=lambda: next(draws)) == 0
    assert busy.closed == (1001, "server shutting down (reconnect in 1998 ms)")
    assert close_reason(0) == "server shutting down"


def test_every_client_of_a_server_with_a_reconnect_delay_gets_a_hint() -> None:
    # A draw of 0 rounded to "reconnect in 0 ms", printed as no hint at all.
    assert shutdown_close(2.0, rand=lambda: 0.0) == (1001, "server shutting down (reconnect in 1 ms)")
    assert shutdown_close(2.0, rand=lambda: 0.0004) == (1001, "server shutting down (reconnect in 1 ms)")
    assert shutdown_close(0.0, rand=lambda: 0.5) == (1001, "server shutting down")


class _Stream:
    """A WebSocket stream whose client answers the close after ``answers_after`` polls."""

    def __init__(self, answers_after: int) -> None:
        self.polls = answers_after

    def closed(self) -> bool:
        self.polls -= 1
        return self.polls < 0


@pytest.mark.gen_test
async def test_drain_waits_for_the_clients_to_answer_the_close_then_stops_waiting() -> None:
    services: Any = Services.__new__(Services)
    services.connections = {}
    quick, silent = _Stream(3), _Stream(10**9)
    for stream in (quick, silent):
        connection = _Connection(services.connections, False)
        connection.session = SimpleNamespace(handler=SimpleNamespace(ws_connection=SimpleNamespace(stream=stream)))
    started = time.monotonic()
    await drain(services, 0.0, started + 0.3, close_wait=5.0)  # the silent client holds it to the deadline
    assert quick.polls < 0 and silent.polls < 10**9 - 3
    assert time.monotonic() - started >= 0.3  # waited for the silent one until the deadline
    assert not services.connections


@pytest.mark.gen_test
async def test_drain_waits_at_most_close_wait_for_the_answers() -> None:
    services: Any = Services.__new__(Services)
    services.connections = {}
    silent = _Stream(10**9)
    connection = _Connection(services.connections, False)
    connection.session = SimpleNamespace(handler=SimpleNamespace(ws_connection=SimpleNamespace(stream=silent)))
    started = time.monotonic()
    await drain(services, 0.0, started + 60, close_wait=0.2)
    assert connection.closed is not None
    assert 0.2 <= time.monotonic() - started < 2.0  # close_wait, not the far deadline nor a fixed 2 s
