"""The change feed: one change stream signals (destination, seq, epoch) of every insert
into the messages collection, reopens after the server went away, and then asks for a
re-read of what it may have missed. Against nx-27017 on loopback."""

from __future__ import annotations

import asyncio
import functools
import os
import time
import uuid
from typing import Any, Dict, List, Optional, Tuple

import bson
import pytest
from bson.binary import Binary
from pymongo import AsyncMongoClient, monitoring
from support.holding import HoldingProxy
from support.mongo import MONGO_URI_ENV, NxServer, nx_outage_server, nx_server  # noqa: F401  (fixture)

from nexus_tornado.errors import StoreUnavailable
from nexus_tornado.hub.hub import Hub
from nexus_tornado.hub.subscribers import Subscriber
from nexus_tornado.hub.mongo import MongoStore
from nexus_tornado.hub.mongo_feed import ChangeFeed
from nexus_tornado.hub.store import StoredMessage
from nexus_tornado.stomp import MessageTemplate

pytestmark = pytest.mark.mongo


async def until(condition, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met"
        await asyncio.sleep(0.02)


@pytest.mark.gen_test(timeout=90)
async def test_signals_inserts_and_rereads_after_the_server_comes_back(nx_outage_server: NxServer) -> None:  # noqa: F811
    database = "feed_" + uuid.uuid4().hex[:8]
    signals: List[Tuple[str, int, Optional[str]]] = []
    lost: List[int] = []
    lags: List[float] = []
    feed = ChangeFeed(nx_outage_server.uri, database, lambda d, s, e, m: signals.append((d, s, e)),
                      lambda: lost.append(1), timeout=5.0, max_await=0.2, on_lag=lags.append)
    store = MongoStore.from_uri(nx_outage_server.uri, database, timeout=5.0)
    try:
        await store.open()
        await feed.start()
        await feed.ready.wait()
        assert lost == [1]  # opening reads what was stored before
        first = await store.append("/topic/chat/f", b"{}", {})
        await until(lambda: signals == [("/topic/chat/f", 1, first.epoch)])
        # The stream's lag: how long ago the signalled message was stored.
        assert len(lags) == 1 and 0.0 <= lags[0] < 60.0

        nx_outage_server.stop()
        await until(lambda: not feed.ready.is_set())
        nx_outage_server.start()
        await until(lambda: feed.ready.is_set() and feed.reopened >= 1)
        assert len(lost) >= 2  # the re-read after reopening
        for attempt in range(10):  # the store's own client reconnects by itself
            try:
                await store.append("/topic/chat/f", b"{}", {})
                break
            except StoreUnavailable:
                await asyncio.sleep(0.5)
        await until(lambda: ("/topic/chat/f", 2, first.epoch) in signals)
    finally:
        await feed.close()
        await store.close()


class GetMores(monitoring.CommandListener):
    """Counts the getMore commands a client sends."""

    def __init__(self) -> None:
        self.count = 0

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name == "getMore":
            self.count += 1

    def succeeded(self, event: Any) -> None:
        pass

    def failed(self, event: Any) -> None:
        pass


def listened(listener: monitoring.CommandListener, uri: str, **options: Any) -> Any:
    """A client with ``listener`` beside the feed's own."""
    options["event_listeners"] = list(options.get("event_listeners", [])) + [listener]
    return AsyncMongoClient(uri, **options)


@pytest.mark.parametrize("server", ["answers at once", "holds"])
@pytest.mark.gen_test(timeout=60)
async def test_an_idle_feed_never_spins(nx_server: NxServer, server: str) -> None:  # noqa: F811
    """nx-27017 answers an empty getMore at once instead of waiting ``max_await``: the
    feed then paces itself, at most one empty getMore per ``poll_interval``. A server
    that holds an empty getMore until ``max_await`` is over, as MongoDB does (here a
    proxy in front of nx-27017), is asked about once per ``max_await``. Either way what
    is stored still comes through."""
    proxy = HoldingProxy(("127.0.0.1", nx_server.port)).start() if server == "holds" else None
    database = "idle_" + uuid.uuid4().hex[:8]
    getmores = GetMores()
    signals: List[int] = []
    feed = ChangeFeed(proxy.uri if proxy else nx_server.uri, database, lambda d, s, e, m: signals.append(s),
                      lambda: None, max_await=0.5, poll_interval=0.05,
                      client_class=functools.partial(listened, getmores))
    store = MongoStore.from_uri(nx_server.uri, database, timeout=5.0)
    try:
        await store.open()
        await feed.start()
        await feed.ready.wait()
        start, before = time.monotonic(), getmores.count
        await asyncio.sleep(3.0)
        asked, elapsed = getmores.count - before, time.monotonic() - start
        # Unpaced: thousands; paced on its own behind the proxy: about 60.
        assert 1 <= asked <= elapsed / (0.5 if proxy else 0.05) + 2, asked
        if proxy is not None:
            assert proxy.held >= asked - 1
        await store.append("/topic/chat/i", b"{}", {})
        await until(lambda: signals == [1])
    finally:
        await feed.close()
        await store.close()
        if proxy is not None:
            proxy.stop()


async def close_and_drop(feed: ChangeFeed, store: MongoStore, uri: str, database: str) -> None:
    await feed.close()
    await store.close()
    client: Any = AsyncMongoClient(uri)
    await client.drop_database(database)
    await client.close()


class Commands(monitoring.CommandListener):
    """The commands a client sends, by name."""

    def __init__(self) -> None:
        self.sent: Dict[str, List[Any]] = {}

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.sent.setdefault(event.command_name, []).append(event.command)

    def succeeded(self, event: Any) -> None:
        pass

    def failed(self, event: Any) -> None:
        pass


@pytest.fixture(params=["nx27017", pytest.param("mongodb", id="mongodb")])
def feed_uri(request: pytest.FixtureRequest) -> str:
    if request.param == "mongodb":
        uri = os.environ.get(MONGO_URI_ENV, "")
        if not uri:
            pytest.skip("%s is not set: no real MongoDB to test against" % MONGO_URI_ENV)
        return uri
    nx: NxServer = request.getfixturevalue("nx_server")
    return nx.uri


@pytest.mark.gen_test(timeout=90)
async def test_messages_of_a_batch_come_from_the_events_or_one_read_and_unwanted_ones_are_not_read(
    feed_uri: str, request: pytest.FixtureRequest
) -> None:
    """30 messages stored at once, to a destination this process wants and to one it
    does not: the wanted ones are handed over complete (from the events where they
    check out, else read in a few finds, one per answer), the others neither handed
    over nor read. Half the wanted bodies are text (a string in the database: every
    server's events carry it), half other bytes (binary: nx-27017's events do not)."""
    database = "batch_" + uuid.uuid4().hex[:8]
    commands = Commands()
    got: List[Tuple[str, int, Optional[StoredMessage]]] = []
    lags: List[float] = []
    feed = ChangeFeed(feed_uri, database, lambda d, s, e, m: got.append((d, s, m)), lambda: None,
                      wanted=lambda d, s: d == "/topic/chat/w", poll_interval=0.3, on_lag=lags.append,
                      client_class=functools.partial(listened, commands))
    store = MongoStore.from_uri(feed_uri, database, timeout=5.0, client_class=AsyncMongoClient)
    try:
        await store.open()
        await feed.start()
        await feed.ready.wait()
        sent = []
        for n in range(15):
            body = b'{"n":%d}' % n if n % 2 == 0 else b"\xff%d" % n
            sent.append(await store.append("/topic/chat/w", body, {"content-type": "application/json"}))
            await store.append("/topic/chat/x", b"{}", {})
        await until(lambda: len(got) == 15)
        assert sorted(got, key=lambda g: g[1]) == [(m.destination, m.seq, m) for m in sent]
        finds = commands.sent.get("find", [])
        assert feed.taken + feed.read == 15
        if request.node.callspec.params["feed_uri"] == "mongodb":
            assert feed.taken == 15 and not finds  # MongoDB's events hold the documents
        else:
            assert feed.taken == 8  # the text bodies
            assert 1 <= len(finds) < 7, len(finds)  # the binary ones: batched reads
            binary = {m.message_id for m in sent if m.body.startswith(b"\xff")}
            assert all(set(f["filter"]["_id"]["$in"]) <= binary for f in finds)
            # One command each: the first batch only, no cursor left to close.
            assert all(f["singleBatch"] is True for f in finds) and "killCursors" not in commands.sent
        await asyncio.sleep(0.5)
        assert len(got) == 15
        # The stream's lag is told once per answer (by its newest event), not per event.
        assert 1 <= len(lags) < 30 and all(0.0 <= lag < 60.0 for lag in lags), lags
    finally:
        await close_and_drop(feed, store, feed_uri, database)


@pytest.mark.gen_test(timeout=60)
async def test_what_another_process_stored_arrives_byte_for_byte(feed_uri: str, request: pytest.FixtureRequest) -> None:
    """Bodies a server might render its own way (NUL, escapes, emoji, a lone surrogate's
    bytes, an invalid UTF-8 byte) reach the other process exactly as stored, whether
    taken from the event or read back."""
    database = "exact_" + uuid.uuid4().hex[:8]
    got: List[Optional[StoredMessage]] = []
    feed = ChangeFeed(feed_uri, database, lambda d, s, e, m: got.append(m), lambda: None, poll_interval=0.05)
    store = MongoStore.from_uri(feed_uri, database, timeout=5.0, client_class=AsyncMongoClient)
    bodies = ['{"t":"a\\u0000b \\" \\\\ \u00e9 \U0001f600"}'.encode("utf-8"), "nul \x00 inside".encode("utf-8"),
              "\u2028\u2029 \r\n\t".encode("utf-8"), b"\xed\xa0\x80 surrogate", b"\xff", b""]
    try:
        await store.open()
        await feed.start()
        await feed.ready.wait()
        sent = [await store.append("/topic/chat/e", body, {"x-h": "v\u00e9"}) for body in bodies]
        await until(lambda: len(got) == len(bodies))
        assert sorted(got, key=lambda m: m.seq if m else 0) == sent
        # MongoDB's events carry every body; nx-27017's the text ones (its strings check
        # out against their CRC-32), not the binary ones.
        nx = request.node.callspec.params["feed_uri"] == "nx27017"
        assert (feed.taken, feed.read) == ((4, 2) if nx else (6, 0))
    finally:
        await close_and_drop(feed, store, feed_uri, database)


class TwoAtATime:
    """A database whose ``find`` answers at most two documents (as a real one stops a
    batch at 16 MB), recording each command."""

    def __init__(self, documents: List[Dict[str, Any]]) -> None:
        self.documents = {d["_id"]: d for d in documents}
        self.commands: List[Dict[str, Any]] = []

    async def command(self, command: Dict[str, Any]) -> Dict[str, Any]:
        self.commands.append(command)
        batch = [self.documents[i] for i in command["filter"]["_id"]["$in"] if i in self.documents][:2]
        return {"ok": 1, "cursor": {"id": 0, "ns": "x.nexus_messages", "firstBatch": batch}}


@pytest.mark.gen_test(timeout=30)
async def test_a_read_asks_again_for_what_a_batch_left_out_and_stops_when_nothing_more_comes() -> None:
    stored = [{"_id": "m%d" % n, "destination": "/topic/chat/r", "seq": n, "epoch": "e", "body": b"%d" % n,
               "headers": {}, "timestamp": 1765000000.5} for n in range(1, 6)]
    database = TwoAtATime(stored)
    feed = ChangeFeed("mongodb://127.0.0.1:1", "x", lambda d, s, e, m: None, lambda: None)
    feed._database = database
    found = await feed._find(["m1", "m2", "gone", "m3", "m4", "m5"])  # "gone": dropped by retention
    assert sorted(found) == ["m1", "m2", "m3", "m4", "m5"] and found["m4"].body == b"4"
    asked = [c["filter"]["_id"]["$in"] for c in database.commands]
    assert asked == [["m1", "m2", "gone", "m3", "m4", "m5"], ["gone", "m3", "m4", "m5"], ["gone", "m5"], ["gone"]]
    assert all(c["singleBatch"] is True and c["batchSize"] == len(c["filter"]["_id"]["$in"]) for c in database.commands)


class Inbox(Subscriber):
    __slots__ = ("seqs",)

    def __init__(self) -> None:
        self.seqs: List[int] = []

    def deliver(self, template: MessageTemplate) -> None:
        self.seqs.append(template.seq)


@pytest.mark.gen_test(timeout=120)
async def test_a_hub_follows_only_what_it_has_subscribers_for_and_loses_nothing_when_that_changes(
    nx_server: NxServer,  # noqa: F811
) -> None:
    """A hub and its feed wired as a server process wires them; another process's store
    appends. No subscriber: no stream, no getMore. Then MongoDB filters: events of
    other destinations never reach this process. A live subscription made while
    another process is appending to its destination gets every message from the
    position it started at, in order, through the reopened stream."""
    database = "interest_" + uuid.uuid4().hex[:8]
    getmores = GetMores()
    events: List[str] = []  # the destination of every message event that reached the feed
    store = MongoStore.from_uri(nx_server.uri, database, timeout=5.0, client_class=AsyncMongoClient)
    other = MongoStore.from_uri(nx_server.uri, database, timeout=5.0, client_class=AsyncMongoClient)
    hub = Hub(store, hold=0.05)

    def wanted(destination: str, seq: int) -> bool:
        events.append(destination)
        return hub.needs(destination, seq)

    feed = ChangeFeed(nx_server.uri, database, hub.stored, hub.recheck, wanted=wanted,
                      interest=hub.destinations, poll_interval=0.02,
                      client_class=functools.partial(listened, getmores))
    hub.on_interest = feed.interest_changed
    try:
        await store.open()
        await feed.start()
        await feed.ready.wait()
        await other.append("/topic/chat/x", b"{}", {})
        await asyncio.sleep(0.5)
        assert getmores.count == 0 and events == []  # nothing to follow: no stream at all

        w = Inbox()
        await hub.subscribe("/topic/chat/w", w)
        await until(lambda: getmores.count > 0)  # the stream is open: what follows comes through it
        for n in range(5):
            await other.append("/topic/chat/w", b"{}", {})
            await other.append("/topic/chat/x", b"{}", {})
        await until(lambda: len(w.seqs) == 5)
        await asyncio.sleep(0.3)
        assert w.seqs == [1, 2, 3, 4, 5]
        assert events == ["/topic/chat/w"] * 5  # /x never came: MongoDB filtered it

        async def writer() -> None:
            for _ in range(40):
                await other.append("/topic/chat/x", b"{}", {})
                await asyncio.sleep(0.005)

        writing = asyncio.ensure_future(writer())
        await asyncio.sleep(0.05)
        x = Inbox()
        await hub.subscribe("/topic/chat/x", x)
        started = (await store.position("/topic/chat/x")).seq  # at or after where x starts
        await writing
        await until(lambda: x.seqs[-1:] == [46])
        assert x.seqs == list(range(x.seqs[0], 47)) and x.seqs[0] <= started + 1, (x.seqs, started)
        assert feed.refiltered >= 1 and feed.reopened == 0
    finally:
        hub.close()
        await feed.close()
        await store.close()
        await other.close()


@pytest.mark.gen_test(timeout=60)
async def test_a_crowd_of_new_subscriptions_reopens_the_stream_a_few_times_only(nx_server: NxServer) -> None:  # noqa: F811
    database = "churn_" + uuid.uuid4().hex[:8]
    interest = ["/topic/chat/first"]
    feed = ChangeFeed(nx_server.uri, database, lambda d, s, e, m: None, lambda: None,
                      interest=lambda: list(interest), poll_interval=0.02)
    try:
        await feed.start()
        await feed.ready.wait()
        start = time.monotonic()
        for n in range(200):
            interest.append("/topic/notifications/u%d" % n)
            feed.interest_changed(True)
            if n % 2:
                interest.remove("/topic/notifications/u%d" % (n - 1))
                feed.interest_changed(False)
            await asyncio.sleep(0.005)
        elapsed = time.monotonic() - start
        await until(lambda: feed._due is None)
        assert 1 <= feed.refiltered <= elapsed / 0.2 + 2, (feed.refiltered, elapsed)
    finally:
        await feed.close()
