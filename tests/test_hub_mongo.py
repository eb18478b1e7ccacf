"""What MongoStore promises beyond the store contract (nexus_tornado.hub.mongo).

No holes in the numbering and nothing stored twice when inserts fail; StoreUnavailable within a
bounded time when MongoDB is down or frozen, and recovery when it is back; collections,
indexes and document layout; construction. The contract itself is in
test_hub_store.py.

Targets (the test id says which ran): nx-27017 through motor and through PyMongo's
async client; a real MongoDB too when ``NEXUS_TEST_MONGO_URI`` is set. Outage tests
stop and restart (or freeze and thaw) a nx-27017 server of their own.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Awaitable, Callable, Dict, List, Optional, TypeVar

import pymongo
import pytest
from pymongo.errors import AutoReconnect

from nexus_tornado.errors import ConfigError, StoreUnavailable
from nexus_tornado.hub.mongo import MongoStore
from nexus_tornado.hub.store import Retention
from support.mongo import (  # noqa: F401
    MONGO_TARGETS,
    mongo_params,
    MongoTarget,
    mongo_target,
    nx_outage_server,
    nx_server,
)

T = TypeVar("T")

NX_TARGETS = tuple(t for t in MONGO_TARGETS if t.startswith("nx27017-"))

#: The store timeout of the outage tests, in seconds.
TIMEOUT = 1.0

#: Far beyond what any operation may take (append: 2 x TIMEOUT): reaching it means the
#: store hung instead of giving up.
HANG = 10 * TIMEOUT


@pytest.fixture(params=mongo_params())
def target(request: pytest.FixtureRequest) -> MongoTarget:
    return mongo_target(request, request.param)


@pytest.fixture(params=mongo_params(NX_TARGETS))
def outage_target(request: pytest.FixtureRequest) -> MongoTarget:
    """A target on a nx-27017 server of the test's own (``outage_target.server``)."""
    return mongo_target(request, request.param, request.getfixturevalue("nx_outage_server"))


def raw_database(target: MongoTarget) -> Any:
    """The test's database through a synchronous client, to look behind the store."""
    client: "pymongo.MongoClient[Dict[str, Any]]" = pymongo.MongoClient(
        target.uri, serverSelectionTimeoutMS=5000
    )
    return client[target.database_name]


class FaultyCollection:
    """Wraps a collection; its next ``failures`` inserts raise AutoReconnect, and so do
    its next ``delete_failures`` deletes (``delete_many`` or ``bulk_write``).

    ``land``: the failing insert is carried out before the error (the reply was lost);
    ``land_first``: only its first so many documents are (an ordered insert cut short).
    ``meanwhile``: awaited once, at the first failure (another writer acting then).
    """

    def __init__(
        self,
        real: Any,
        failures: int,
        land: bool = False,
        meanwhile: Optional[Callable[[], Awaitable[Any]]] = None,
        delete_failures: int = 0,
        land_first: Optional[int] = None,
    ) -> None:
        self.real = real
        self.failures = failures
        self.delete_failures = delete_failures
        self.land = land
        self.land_first = land_first
        self.meanwhile = meanwhile
        #: The seqs of each insert command, in order.
        self.inserted_seqs: List[List[int]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    async def insert_many(self, documents: List[Any], ordered: bool = True) -> Any:
        self.inserted_seqs.append([d["seq"] for d in documents])
        if self.failures <= 0:
            return await self.real.insert_many(documents, ordered=ordered)
        self.failures -= 1
        if self.land:
            await self.real.insert_many(documents, ordered=ordered)
        elif self.land_first:
            await self.real.insert_many(documents[: self.land_first], ordered=ordered)
        if self.meanwhile is not None:
            meanwhile, self.meanwhile = self.meanwhile, None
            await meanwhile()
        raise AutoReconnect("injected failure")

    async def delete_many(self, query: Dict[str, Any]) -> Any:
        if self.delete_failures <= 0:
            return await self.real.delete_many(query)
        self.delete_failures -= 1
        raise AutoReconnect("injected failure")

    async def bulk_write(self, requests: List[Any], ordered: bool = True) -> Any:
        if self.delete_failures <= 0:
            return await self.real.bulk_write(requests, ordered=ordered)
        self.delete_failures -= 1
        raise AutoReconnect("injected failure")


async def seqs_of(store: MongoStore, destination: str) -> List[int]:
    return [m.seq for m in await store.read_after(destination, 0, 100)]


# -- no gaps ------------------------------------------------------------------------------


@pytest.mark.gen_test(timeout=60)
async def test_a_failed_insert_is_retried_with_the_same_seq(target: MongoTarget) -> None:
    store = await target.store(timeout=5.0)
    await store.append("/topic/a", b"1", {})
    faulty = store.messages = FaultyCollection(store.messages, failures=2)

    message = await store.append("/topic/a", b"2", {})

    assert faulty.inserted_seqs == [[2], [2], [2]]
    assert message.seq == 2
    assert await seqs_of(store, "/topic/a") == [1, 2]
    assert (await store.append("/topic/a", b"3", {})).seq == 3


@pytest.mark.gen_test(timeout=60)
async def test_an_insert_whose_reply_was_lost_is_not_stored_twice(target: MongoTarget) -> None:
    store = await target.store(timeout=5.0)
    faulty = store.messages = FaultyCollection(store.messages, failures=1, land=True)

    message = await store.append("/topic/a", b"once", {})

    assert faulty.inserted_seqs == [[1], [1]]
    assert await store.read_after("/topic/a", 0, 10) == [message]
    assert await store.last_seq("/topic/a") == 1


class FailingCounters:
    """Wraps the counters collection; its bulk writes (the counters' raises) fail."""

    def __init__(self, real: Any) -> None:
        self.real = real

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    async def bulk_write(self, requests: List[Any], ordered: bool = True) -> Any:
        raise AutoReconnect("injected failure")


@pytest.mark.gen_test(timeout=60)
async def test_a_message_found_stored_but_not_confirmed_is_not_acknowledged(
    target: MongoTarget,
) -> None:
    """The reply of the insert is lost, and so is MongoDB before the confirming write:
    the append fails (its message is stored all the same: the ambiguity of a failed
    write), and the numbering goes on after it."""
    store = await target.store(timeout=TIMEOUT)
    await store.append("/topic/a", b"1", {})
    real_counters = store.counters
    store.messages = FaultyCollection(store.messages, failures=1, land=True)
    store.counters = FailingCounters(real_counters)

    with pytest.raises(StoreUnavailable) as raised:
        await store.append("/topic/a", b"unconfirmed", {})

    assert "could not confirm" in raised.value.log_detail
    store.counters = real_counters
    assert [m.body for m in await store.read_after("/topic/a", 0, 10)] == [b"1", b"unconfirmed"]
    assert (await store.append("/topic/a", b"3", {})).seq == 3


@pytest.mark.gen_test(timeout=60)
async def test_an_append_whose_insert_failed_for_good_takes_no_number(target: MongoTarget) -> None:
    store = await target.store(timeout=TIMEOUT)
    await store.append("/topic/a", b"1", {})
    real = store.messages
    faulty = store.messages = FaultyCollection(real, failures=10**6)

    with pytest.raises(StoreUnavailable):
        await store.append("/topic/a", b"lost", {})

    assert {seq for seqs in faulty.inserted_seqs for seq in seqs} == {2}
    assert await store.last_seq("/topic/a") == 1
    store.messages = real
    assert (await store.append("/topic/a", b"2", {})).seq == 2
    assert await seqs_of(store, "/topic/a") == [1, 2]


@pytest.mark.gen_test(timeout=60)
async def test_a_number_another_writer_took_meanwhile_is_skipped_without_a_hole(
    target: MongoTarget,
) -> None:
    """Our insert of seq 2 is lost, another process stores its message as 2: the retry
    is refused by the unique index, and our message becomes 3."""
    store = await target.store(timeout=5.0)
    other = await target.store(timeout=5.0)
    await store.append("/topic/a", b"1", {})
    faulty = store.messages = FaultyCollection(
        store.messages, failures=1, meanwhile=lambda: other.append("/topic/a", b"other", {})
    )

    ours = await store.append("/topic/a", b"ours", {})

    assert faulty.inserted_seqs == [[2], [2], [3]]
    assert ours.seq == 3
    assert [m.body for m in await other.read_after("/topic/a", 0, 10)] == [b"1", b"other", b"ours"]
    assert await other.last_seq("/topic/a") == 3


@pytest.mark.gen_test(timeout=60)
async def test_a_failed_append_leaves_no_hole_when_another_writer_goes_on(
    target: MongoTarget,
) -> None:
    """Our insert of seq 2 fails for good while another writer appends. A number exists
    only once its message is stored, so the other message simply has 2."""
    store = await target.store(timeout=TIMEOUT)
    other = await target.store(timeout=TIMEOUT)
    await store.append("/topic/a", b"1", {})
    store.messages = FaultyCollection(
        store.messages, failures=10**6, meanwhile=lambda: other.append("/topic/a", b"2", {})
    )

    with pytest.raises(StoreUnavailable):
        await store.append("/topic/a", b"lost", {})

    assert await seqs_of(other, "/topic/a") == [1, 2]
    assert (await other.append("/topic/a", b"3", {})).seq == 3


class HeldInserts:
    """Wraps a collection; each insert waits until the test releases it."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.entered = asyncio.Event()
        self.release = asyncio.Event()
        self.done = asyncio.Event()
        #: How many documents each insert command carried.
        self.sizes: List[int] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    async def insert_many(self, documents: List[Any], ordered: bool = True) -> Any:
        self.sizes.append(len(documents))
        self.entered.set()
        await self.release.wait()
        result = await self.real.insert_many(documents, ordered=ordered)
        self.done.set()
        return result


@pytest.mark.gen_test(timeout=60)
async def test_a_cancelled_append_still_completes(target: MongoTarget) -> None:
    store = await target.store()
    real = store.messages
    held = store.messages = HeldInserts(real)
    append = asyncio.ensure_future(store.append("/topic/a", b"1", {}))
    await held.entered.wait()  # numbered, its insert under way

    append.cancel()
    with pytest.raises(asyncio.CancelledError):
        await append
    held.release.set()
    # The insert goes on although its caller is gone (wait_for: a hang fails the test).
    await asyncio.wait_for(held.done.wait(), HANG)
    store.messages = real

    assert (await store.append("/topic/a", b"2", {})).seq == 2
    assert [m.body for m in await store.read_after("/topic/a", 0, 10)] == [b"1", b"2"]


@pytest.mark.gen_test(timeout=60)
async def test_a_lost_counters_collection_or_a_foreign_message_reuses_no_seq(
    target: MongoTarget,
) -> None:
    store = await target.store()
    await store.append("/topic/a", b"1", {})
    await store.append("/topic/a", b"2", {})
    raw = raw_database(target)
    try:
        raw["nexus_counters"].delete_many({})
        raw["nexus_messages"].insert_one(
            {
                "_id": "late",
                "destination": "/topic/b",
                "seq": 1,
                "body": b"late",
                "headers": {},
                "timestamp": 1.0,
                "delivered": False,
            }
        )
    finally:
        raw.client.close()

    assert (await store.append("/topic/a", b"3", {})).seq == 3
    assert (await store.append("/topic/b", b"2", {})).seq == 2
    assert await seqs_of(store, "/topic/a") == [1, 2, 3]
    assert [m.body for m in await store.read_after("/topic/b", 0, 10)] == [b"late", b"2"]
    fresh = await target.store()
    assert (await fresh.append("/topic/a", b"4", {})).seq == 4


@pytest.mark.gen_test(timeout=60)
async def test_numbering_survives_retention_dropping_everything_without_a_raised_counter(
    target: MongoTarget,
) -> None:
    """A process stored messages and ended before raising the counter (appends never
    touch it); another process's prune by age drops them all. It raises the counter
    first, so a third process numbers on instead of starting again at 1."""
    clock = FakeClock(1000.0)
    retention = Retention(max_age_seconds=10, max_count=None)
    crashed = await target.store(retention=retention, clock=clock)
    for _ in range(3):
        await crashed.append("/topic/a", b"old", {})
    pruner = await target.store(retention=retention, clock=clock)
    clock.now = 2000.0

    assert await pruner.prune() == 3

    later = await target.store(retention=retention, clock=clock)
    assert await later.last_seq("/topic/a") == 3
    assert (await later.position("/topic/a")).seq == 3
    assert (await later.append("/topic/a", b"new", {})).seq == 4


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.mark.gen_test(timeout=60)
async def test_a_message_mongodb_cannot_store_is_refused_before_taking_a_seq(
    target: MongoTarget,
) -> None:
    store = await target.store()

    with pytest.raises(StoreUnavailable) as raised:
        await store.append("/topic/a", b"x", {"bad\x00name": "v"})

    assert "cannot be stored" in raised.value.log_detail
    assert await store.last_seq("/topic/a") == 0
    assert (await store.append("/topic/a", b"y", {"a.b": "1"})).seq == 1
    assert (await store.read_after("/topic/a", 0, 1))[0].headers == {"a.b": "1"}


@pytest.mark.gen_test(timeout=60)
async def test_retention_by_count_that_failed_at_append_is_applied_by_prune(
    target: MongoTarget,
) -> None:
    store = await target.store(retention=Retention(max_age_seconds=None, max_count=2))
    await store.append("/topic/a", b"1", {})
    await store.append("/topic/a", b"2", {})
    store.messages = FaultyCollection(store.messages, failures=0, delete_failures=1)

    assert (await store.append("/topic/a", b"3", {})).seq == 3  # stored all the same

    assert await seqs_of(store, "/topic/a") == [1, 2, 3]
    assert await store.prune() == 1
    assert await seqs_of(store, "/topic/a") == [2, 3]
    assert await store.prune() == 0


# -- outages --------------------------------------------------------------------------------


def every_method(store: MongoStore) -> List[Callable[[], Awaitable[Any]]]:
    return [
        store.open,
        lambda: store.append("/topic/a", b"during outage", {}),
        lambda: store.read_after("/topic/a", 0, 10),
        lambda: store.last_seq("/topic/a"),
        lambda: store.first_seq("/topic/a"),
        lambda: store.mark_delivered("/topic/a", [1]),
        lambda: store.read_undelivered("/topic/a", 10),
        lambda: store.is_delivered("/topic/a", 1),
        store.prune,
    ]


async def assert_all_unavailable(store: MongoStore) -> None:
    """Every method gives up with StoreUnavailable. They run side by side: each waits
    out the store's timeout on its own, so one after another would only add the waits."""

    async def unavailable(method: Callable[[], Awaitable[Any]]) -> None:
        with pytest.raises(StoreUnavailable) as raised:
            # wait_for only turns a hang into a failure; it is not a speed check.
            await asyncio.wait_for(method(), HANG)
        assert raised.value.message == "message store unavailable"

    await asyncio.gather(*(unavailable(method) for method in every_method(store)))


async def once_available(operation: Callable[[], Awaitable[T]], attempts: int = 30) -> T:
    """``operation()``'s result once the store answers again (each try is bounded)."""
    for _ in range(attempts - 1):
        try:
            return await operation()
        except StoreUnavailable:
            pass
    return await operation()


@pytest.mark.gen_test(timeout=120)
async def test_a_stopped_server_makes_every_method_unavailable_until_it_returns(
    outage_target: MongoTarget,
) -> None:
    server = outage_target.server
    assert server is not None
    store = await outage_target.store(timeout=TIMEOUT)
    await store.append("/topic/a", b"1", {})

    server.stop()
    await assert_all_unavailable(store)
    server.start()

    recovered = await once_available(lambda: store.append("/topic/a", b"2", {}))
    # Nothing written during the outage used up a seq.
    assert recovered.seq == 2
    assert [m.body for m in await store.read_after("/topic/a", 0, 10)] == [b"1", b"2"]


@pytest.mark.gen_test(timeout=120)
async def test_a_frozen_server_makes_every_method_unavailable_until_it_thaws(
    outage_target: MongoTarget,
) -> None:
    server = outage_target.server
    assert server is not None
    store = await outage_target.store(timeout=TIMEOUT)
    await store.append("/topic/a", b"1", {})

    server.pause()
    try:
        await assert_all_unavailable(store)
    finally:
        server.resume()

    recovered = await once_available(lambda: store.append("/topic/a", b"2", {}))
    stored = await store.read_after("/topic/a", 0, 10)
    # Unlike a stopped server, a frozen one may carry out on thawing an insert whose
    # reply the store gave up waiting for: that message is stored although its append
    # failed (docs/storage.md). The numbering has no hole and no seq twice.
    assert stored[0].body == b"1"
    assert stored[-1] == recovered
    assert [m.seq for m in stored] == list(range(1, len(stored) + 1))


@pytest.mark.gen_test(timeout=120)
async def test_a_store_opened_during_an_outage_works_once_the_server_is_back(
    outage_target: MongoTarget,
) -> None:
    server = outage_target.server
    assert server is not None
    server.stop()
    with pytest.raises(StoreUnavailable):
        await asyncio.wait_for(outage_target.store(timeout=TIMEOUT), HANG)
    server.start()
    store = await once_available(lambda: outage_target.store(timeout=TIMEOUT))

    assert (await store.append("/topic/a", b"1", {})).seq == 1


# -- layout and construction ------------------------------------------------------------------


@pytest.mark.gen_test(timeout=60)
async def test_collections_indexes_and_documents(target: MongoTarget) -> None:
    store = await target.store(collection_prefix="chat_7_")
    headers = {"content-type": "application/json"}
    message = await store.append("/topic/a", b"\x00\xffbody", headers)
    raw = raw_database(target)
    try:
        names = set(raw.list_collection_names())
        indexes = raw["chat_7_messages"].index_information()
        document = raw["chat_7_messages"].find_one({"destination": "/topic/a"})
        with pytest.raises(pymongo.errors.DuplicateKeyError):
            raw["chat_7_messages"].insert_one({"destination": "/topic/a", "seq": 1})
    finally:
        raw.client.close()

    assert {"chat_7_messages", "chat_7_counters"} <= names
    # Found by key pattern: nx-27017 names indexes its own way.
    by_keys = {tuple(tuple(k) for k in info["key"]): info for info in indexes.values()}
    assert by_keys[(("destination", 1), ("seq", 1))].get("unique") is True
    assert (("destination", 1), ("delivered", 1), ("seq", 1)) in by_keys
    assert (("timestamp", 1),) in by_keys
    assert document is not None
    assert document["_id"] == message.message_id
    assert document["body"] == b"\x00\xffbody"  # BSON binary, decoded as bytes
    assert document["headers"] == {"content-type": "application/json"}
    assert document["timestamp"] == message.timestamp
    assert not document["delivered"]


@pytest.mark.gen_test(timeout=60)
async def test_a_given_database_is_used_and_left_open(target: MongoTarget) -> None:
    client = target.client()
    store = MongoStore(client[target.database_name], retention=Retention(None, 2))
    await store.open()
    for i in range(3):
        await store.append("/topic/a", b"%d" % i, {})
    await store.close()

    # close() left the caller's client usable.
    assert await client[target.database_name]["nexus_messages"].count_documents({}) == 2


@pytest.mark.parametrize(
    "uri, name, expected",
    [
        ("mongodb://127.0.0.1:1/", None, "nexus"),
        ("mongodb://127.0.0.1:1/fromuri", None, "fromuri"),
        ("mongodb://127.0.0.1:1/fromuri", "given", "given"),
    ],
)
@pytest.mark.gen_test
async def test_from_uri_picks_the_database(uri: str, name: Optional[str], expected: str) -> None:
    for client_class in (None, pymongo.AsyncMongoClient):
        store = MongoStore.from_uri(uri, name, client_class=client_class)
        try:
            assert store.database.name == expected
            assert store.messages.name == "nexus_messages"
            assert store.counters.name == "nexus_counters"
        finally:
            await store.close()
            await store.close()  # idempotent


@pytest.mark.parametrize("prefix", ["nexus-", "a.b", "x$", "ü_"])
def test_collection_prefix_is_letters_digits_and_underscores(prefix: str) -> None:
    with pytest.raises(ConfigError, match="collection_prefix"):
        MongoStore.from_uri("mongodb://127.0.0.1:1", collection_prefix=prefix)


@pytest.mark.parametrize("timeout", [0, -1.0, float("nan")])
def test_timeout_must_be_positive(timeout: float) -> None:
    with pytest.raises(ConfigError, match="timeout must be > 0"):
        MongoStore.from_uri("mongodb://127.0.0.1:1", timeout=timeout)
    with pytest.raises(ConfigError, match="timeout must be > 0"):
        MongoStore(FakeDatabase(), timeout=timeout)


def test_a_small_timeout_is_accepted() -> None:
    assert MongoStore(FakeDatabase(), timeout=0.01).timeout == 0.01


class FakeDatabase:
    """Enough of a database for the constructor (which only names its collections)."""

    name = "fake"

    def get_collection(self, name: str) -> Any:
        return name


def test_something_else_than_a_database_is_refused() -> None:
    with pytest.raises(ConfigError):
        MongoStore(object())


@pytest.mark.gen_test(timeout=60)
async def test_a_synchronous_pymongo_database_is_refused(target: MongoTarget) -> None:
    client: "pymongo.MongoClient[Dict[str, Any]]" = pymongo.MongoClient(
        target.uri, serverSelectionTimeoutMS=5000
    )
    try:
        with pytest.raises(ConfigError):
            await MongoStore(client[target.database_name]).open()
    finally:
        client.close()
