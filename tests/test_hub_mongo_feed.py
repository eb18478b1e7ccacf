"""The change feed: one change stream signals (destination, seq, epoch) of every insert
into the messages collection, reopens after the server went away, and then asks for a
re-read of what it may have missed. Against nx-27017 on loopback."""

from __future__ import annotations

import asyncio
import functools
import time
import uuid
from typing import Any, List, Optional, Tuple

import pytest
from pymongo import AsyncMongoClient, monitoring
from support.mongo import NxServer, nx_outage_server, nx_server  # noqa: F401  (fixture)

from nexus_tornado.errors import StoreUnavailable
from nexus_tornado.hub.mongo import MongoStore
from nexus_tornado.hub.mongo_feed import ChangeFeed

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
    feed = ChangeFeed(nx_outage_server.uri, database, lambda d, s, e: signals.append((d, s, e)),
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


@pytest.mark.gen_test(timeout=60)
async def test_an_idle_feed_does_not_spin_on_a_server_that_answers_at_once(nx_server: NxServer) -> None:  # noqa: F811
    """nx-27017 answers an empty getMore at once instead of waiting ``max_await``: the
    feed then paces itself, at most one empty getMore per ``poll_interval``, and still
    signals what is stored."""
    database = "idle_" + uuid.uuid4().hex[:8]
    getmores = GetMores()
    signals: List[int] = []
    feed = ChangeFeed(nx_server.uri, database, lambda d, s, e: signals.append(s), lambda: None,
                      max_await=0.5, poll_interval=0.05,
                      client_class=functools.partial(AsyncMongoClient, event_listeners=[getmores]))
    store = MongoStore.from_uri(nx_server.uri, database, timeout=5.0)
    try:
        await store.open()
        await feed.start()
        await feed.ready.wait()
        start, before = time.monotonic(), getmores.count
        await asyncio.sleep(2.0)
        asked, elapsed = getmores.count - before, time.monotonic() - start
        assert 1 <= asked <= elapsed / 0.05 + 2, asked  # unpaced: thousands
        await store.append("/topic/chat/i", b"{}", {})
        await until(lambda: signals == [1])
    finally:
        await feed.close()
        await store.close()
