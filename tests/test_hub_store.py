"""The store contract (nexus_tornado.hub.store), run against every store.

Backends (the test id says which ran):

- ``memory``: MemoryStore.
- ``nx27017-motor`` / ``nx27017-pymongo``: MongoStore on an nx-27017 server started
  for the session, through motor and through PyMongo's async client.
- ``mongodb-motor`` / ``mongodb-pymongo``: MongoStore on the real MongoDB named by
  ``NEXUS_TEST_MONGO_URI``; skipped, with that reason, when it is not set.

Every test gets a fresh database. "Several processes sharing one database" is played
by several store instances, each with a client of its own.
"""

from __future__ import annotations

import asyncio
from typing import Any, Callable, List, Optional

import pytest

from nexus_tornado.hub.memory import MemoryStore
from nexus_tornado.hub.store import Retention, Store, StoredMessage
from support.mongo import mongo_params, mongo_target, nx_server  # noqa: F401

NO_LIMITS = Retention(max_age_seconds=None, max_count=None)


class FakeClock:
    """A clock the test moves by hand (seconds since the epoch)."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class MemoryBackend:
    """MemoryStore instances; each keeps its own data, so nothing is shared."""

    shares_data = False
    label = "memory"

    async def store(
        self, retention: Retention = NO_LIMITS, clock: Optional[Callable[[], float]] = None
    ) -> Store:
        store = MemoryStore(retention=retention, clock=clock or FakeClock())
        await store.open()
        return store


class MongoBackend:
    """MongoStore instances on one database of the test's own."""

    shares_data = True

    def __init__(self, target: Any) -> None:
        self.target = target
        self.label = target.label

    async def store(
        self, retention: Retention = NO_LIMITS, clock: Optional[Callable[[], float]] = None
    ) -> Store:
        store: Store = await self.target.store(retention=retention, clock=clock or FakeClock())
        return store


@pytest.fixture(params=["memory"] + mongo_params())
def backend(request: pytest.FixtureRequest) -> Any:
    if request.param == "memory":
        return MemoryBackend()
    return MongoBackend(mongo_target(request, request.param))


async def append_many(store: Store, destination: str, count: int) -> List[StoredMessage]:
    return [
        await store.append(destination, b"message %d" % i, {"content-type": "application/json"})
        for i in range(1, count + 1)
    ]


def seqs(messages: List[StoredMessage]) -> List[int]:
    return [m.seq for m in messages]


# -- numbering ------------------------------------------------------------------------


@pytest.mark.gen_test(timeout=30)
async def test_append_numbers_each_destination_from_one_without_gaps(backend: Any) -> None:
    clock = FakeClock(1000.5)
    store = await backend.store(clock=clock)
    appended = await append_many(store, "/topic/a", 5)
    other = await store.append("/topic/b", b"x", {})

    assert seqs(appended) == [1, 2, 3, 4, 5]
    assert other.seq == 1
    assert len({m.message_id for m in appended + [other]}) == 6
    assert all(m.destination == "/topic/a" and m.timestamp == 1000.5 for m in appended)
    assert await store.last_seq("/topic/a") == 5
    assert await store.first_seq("/topic/a") == 1
    assert await store.last_seq("/topic/b") == 1


@pytest.mark.gen_test(timeout=30)
async def test_append_many_numbers_in_the_order_given_each_destination_its_own(backend: Any) -> None:
    store = await backend.store()
    await store.append("/topic/a", b"before", {})
    given = [("/topic/b" if i % 3 == 0 else "/topic/a", b"m%02d" % i, {"content-type": "application/json"})
             for i in range(12)]

    outcomes = await store.append_many(given)

    assert [(m.destination, m.body, dict(m.headers)) for m in outcomes] == given
    in_a = [m for m in outcomes if m.destination == "/topic/a"]
    assert seqs(in_a) == list(range(2, 10))
    assert seqs([m for m in outcomes if m.destination == "/topic/b"]) == [1, 2, 3, 4]
    assert await store.read_after("/topic/a", 1, 100) == in_a
    assert await store.append_many([]) == []


@pytest.mark.gen_test(timeout=30)
async def test_stored_message_reads_back_exactly(backend: Any) -> None:
    clock = FakeClock(1234.25)
    store = await backend.store(clock=clock)
    body = bytes(range(256)) + b"\x00{}"
    headers = {"content-type": "application/json", "x-trace": "a:b\\c"}
    appended = await store.append("/topic/chat/1", body, headers)
    empty = await store.append("/topic/chat/1", b"", {})

    (read, read_empty) = await store.read_after("/topic/chat/1", 0, 10)

    assert read == appended
    assert read == StoredMessage("/topic/chat/1", 1, appended.message_id, body, headers, 1234.25, appended.epoch)
    assert appended.epoch
    assert isinstance(read.body, bytes)
    assert read_empty == empty and read_empty.body == b"" and dict(read_empty.headers) == {}


@pytest.mark.gen_test(timeout=30)
async def test_unknown_destination_is_empty(backend: Any) -> None:
    store = await backend.store()
    await store.append("/topic/known", b"x", {})

    assert await store.last_seq("/topic/unknown") == 0
    assert await store.first_seq("/topic/unknown") is None
    assert await store.read_after("/topic/unknown", 0, 10) == []
    assert await store.read_undelivered("/topic/unknown", 10) == []
    assert await store.is_delivered("/topic/unknown", 1) is None
    await store.mark_delivered("/topic/unknown", [1, 2])  # nothing to mark, no error
    assert await store.last_seq("/topic/unknown") == 0


# -- reading ----------------------------------------------------------------------------


@pytest.mark.gen_test(timeout=30)
async def test_read_after_is_ascending_and_limited(backend: Any) -> None:
    store = await backend.store()
    appended = await append_many(store, "/topic/a", 7)
    await append_many(store, "/topic/b", 2)

    assert await store.read_after("/topic/a", 0, 3) == appended[:3]
    assert await store.read_after("/topic/a", 3, 3) == appended[3:6]
    assert await store.read_after("/topic/a", 6, 3) == appended[6:]
    assert await store.read_after("/topic/a", 7, 3) == []
    assert await store.read_after("/topic/a", 2, 0) == []
    assert await store.read_after("/topic/a", 0, 100) == appended
    assert [m.body for m in await store.read_after("/topic/b", 0, 10)] == [
        b"message 1",
        b"message 2",
    ]


# -- retention ----------------------------------------------------------------------------


@pytest.mark.gen_test(timeout=30)
async def test_retention_by_count_keeps_the_newest(backend: Any) -> None:
    store = await backend.store(retention=Retention(max_age_seconds=None, max_count=3))
    appended = await append_many(store, "/topic/a", 5)
    await append_many(store, "/topic/b", 2)
    await store.prune()

    assert await store.read_after("/topic/a", 0, 10) == appended[2:]
    assert await store.first_seq("/topic/a") == 3
    assert await store.last_seq("/topic/a") == 5
    assert await store.is_delivered("/topic/a", 2) is None
    assert await store.is_delivered("/topic/a", 3) is False
    assert seqs(await store.read_after("/topic/b", 0, 10)) == [1, 2]
    assert (await store.append("/topic/a", b"next", {})).seq == 6


@pytest.mark.gen_test(timeout=30)
async def test_retention_by_age_drops_old_messages_and_keeps_numbering(backend: Any) -> None:
    clock = FakeClock(1000.0)
    store = await backend.store(
        retention=Retention(max_age_seconds=15, max_count=None), clock=clock
    )
    for when in (1000.0, 1010.0, 1020.0):
        clock.now = when
        await store.append("/topic/a", b"at %d" % when, {})
    clock.now = 1030.0

    assert await store.prune() == 2  # older than 1015: those of 1000 and 1010

    assert seqs(await store.read_after("/topic/a", 0, 10)) == [3]
    assert await store.first_seq("/topic/a") == 3
    assert await store.last_seq("/topic/a") == 3

    clock.now = 2000.0
    assert await store.prune() == 1
    assert await store.first_seq("/topic/a") is None
    assert await store.read_after("/topic/a", 0, 10) == []
    assert await store.last_seq("/topic/a") == 3
    assert (await store.append("/topic/a", b"later", {})).seq == 4
    assert await store.prune() == 0


# -- delivery tracking ---------------------------------------------------------------------


@pytest.mark.gen_test(timeout=30)
async def test_delivery_tracking(backend: Any) -> None:
    store = await backend.store()
    appended = await append_many(store, "/topic/notifications/u1", 5)
    await append_many(store, "/topic/notifications/u2", 2)

    assert await store.read_undelivered("/topic/notifications/u1", 10) == appended
    await store.mark_delivered("/topic/notifications/u1", [1, 3, 99])
    await store.mark_delivered("/topic/notifications/u1", [])

    assert seqs(await store.read_undelivered("/topic/notifications/u1", 10)) == [2, 4, 5]
    assert seqs(await store.read_undelivered("/topic/notifications/u1", 2)) == [2, 4]
    assert await store.read_undelivered("/topic/notifications/u1", 0) == []
    assert await store.is_delivered("/topic/notifications/u1", 1) is True
    assert await store.is_delivered("/topic/notifications/u1", 2) is False
    assert await store.is_delivered("/topic/notifications/u1", 99) is None
    # Per destination: u2's seq 1 is not u1's.
    assert await store.is_delivered("/topic/notifications/u2", 1) is False
    assert seqs(await store.read_undelivered("/topic/notifications/u2", 10)) == [1, 2]

    await store.mark_delivered("/topic/notifications/u1", iter([2, 4, 5, 1]))
    assert await store.read_undelivered("/topic/notifications/u1", 10) == []
    # Delivery changes nothing else.
    assert await store.read_after("/topic/notifications/u1", 0, 10) == appended


@pytest.mark.gen_test(timeout=30)
async def test_delivery_of_pruned_messages_is_unknown(backend: Any) -> None:
    store = await backend.store(retention=Retention(max_age_seconds=None, max_count=2))
    await append_many(store, "/topic/notifications/u1", 2)
    await store.mark_delivered("/topic/notifications/u1", [1])
    await append_many(store, "/topic/notifications/u1", 1)

    assert await store.is_delivered("/topic/notifications/u1", 1) is None
    assert await store.is_delivered("/topic/notifications/u1", 2) is False
    assert seqs(await store.read_undelivered("/topic/notifications/u1", 10)) == [2, 3]


# -- several writers, restarts ----------------------------------------------------------------


@pytest.mark.gen_test(timeout=60)
async def test_concurrent_appends_get_unique_gap_free_seqs(backend: Any) -> None:
    writers = 4 if backend.shares_data else 1
    per_writer = 15
    stores = [await backend.store() for _ in range(writers)]

    results = await asyncio.gather(
        *[
            store.append("/topic/busy", b"w%d-%d" % (w, i), {})
            for i in range(per_writer)
            for w, store in enumerate(stores)
        ]
    )

    total = writers * per_writer
    assert sorted(seqs(list(results))) == list(range(1, total + 1))
    for store in stores:
        assert await store.last_seq("/topic/busy") == total
        stored = await store.read_after("/topic/busy", 0, total + 1)
        assert seqs(stored) == list(range(1, total + 1))
        assert sorted(stored) == sorted(results)  # each body under the seq it was given


@pytest.mark.gen_test(timeout=60)
async def test_concurrent_appends_keep_each_destinations_call_order(backend: Any) -> None:
    """Appends started together (a MongoStore writes them in one batch, whatever their
    destinations) are numbered per destination in the order they were called."""
    store = await backend.store()
    calls = [("/topic/d%d" % (i % 3), b"m%03d" % i) for i in range(60)]

    results = await asyncio.gather(*[store.append(d, body, {}) for d, body in calls])

    for destination in sorted({d for d, _ in calls}):
        mine = [m for m in results if m.destination == destination]
        assert seqs(mine) == list(range(1, len(mine) + 1))
        assert [m.body for m in mine] == [body for d, body in calls if d == destination]
        assert await store.read_after(destination, 0, 100) == mine


@pytest.mark.gen_test(timeout=30)
async def test_a_new_instance_continues_where_the_last_left_off(backend: Any) -> None:
    if not backend.shares_data:
        pytest.skip("%s keeps nothing across instances (by design)" % backend.label)
    first = await backend.store()
    old = await append_many(first, "/topic/a", 3)
    await first.mark_delivered("/topic/a", [2])
    await first.close()

    second = await backend.store()

    assert await second.last_seq("/topic/a") == 3
    assert await second.read_after("/topic/a", 0, 10) == old
    assert await second.is_delivered("/topic/a", 2) is True
    assert (await second.append("/topic/a", b"after restart", {})).seq == 4
    await first.close()  # idempotent
