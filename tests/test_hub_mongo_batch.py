"""Group commit of the MongoDB store (nexus_tornado.hub.mongo_batch).

What arrives while a write is in flight goes in the next one, whatever its
destinations; a batch cut short (MongoDB stopped mid-batch, a reply lost after part of
it landed) leaves nothing receipted lost and nothing stored twice; processes batching
into one destination share one gap-free numbering. On nx-27017 through both drivers
(and a real MongoDB when ``NEXUS_TEST_MONGO_URI`` is set).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
from typing import Any, Callable, Dict, List, Optional, Tuple

import pytest

from nexus_tornado.errors import ConfigError, StoreUnavailable
from nexus_tornado.hub.mongo import MongoStore
from nexus_tornado.hub.mongo_codec import body_bytes
from nexus_tornado.hub.store import StoredMessage
from support.mongo import MongoTarget, nx_outage_server, nx_server  # noqa: F401  (fixtures)
from test_hub_mongo import (  # noqa: F401  (the fixtures)
    HANG,
    FaultyCollection,
    HeldInserts,
    outage_target,
    raw_database,
    target,
)


def stored_documents(target: MongoTarget) -> List[Dict[str, Any]]:
    raw = raw_database(target)
    try:
        return list(raw["nexus_messages"].find({}, {"destination": 1, "seq": 1, "body": 1}))
    finally:
        raw.client.close()


def assert_gap_free_and_unique(documents: List[Dict[str, Any]]) -> None:
    """Per destination, seqs 1..n each once; every body (each unique) stored once."""
    by_destination: Dict[str, List[int]] = {}
    for document in documents:
        by_destination.setdefault(document["destination"], []).append(int(document["seq"]))
    for seqs in by_destination.values():
        assert sorted(seqs) == list(range(1, len(seqs) + 1))
    bodies = [body_bytes(document["body"]) for document in documents]
    assert len(bodies) == len(set(bodies))


# -- batches form by themselves ------------------------------------------------------------


@pytest.mark.gen_test(timeout=60)
async def test_appends_made_during_a_write_go_together_in_the_next_one(target: MongoTarget) -> None:
    store = await target.store()
    held = store.messages = HeldInserts(store.messages)
    first = asyncio.ensure_future(store.append("/topic/a", b"first", {}))
    await held.entered.wait()
    destinations = ["/topic/a", "/topic/b", "/topic/c"]
    calls = [(destinations[i % 3], b"m%02d" % i) for i in range(30)]

    later = [asyncio.ensure_future(store.append(d, body, {})) for d, body in calls]
    held.release.set()
    results: List[StoredMessage] = await asyncio.gather(first, *later)

    assert held.sizes == [1, 30]  # one insert command for the 30, over three destinations
    by_destination: Dict[str, List[StoredMessage]] = {}
    for message in results:
        by_destination.setdefault(message.destination, []).append(message)
    for destination, messages in by_destination.items():
        # Numbered from 1 without a gap, in the order the appends were called.
        assert [m.seq for m in messages] == list(range(1, len(messages) + 1))
        assert await store.read_after(destination, 0, 100) == messages


@pytest.mark.gen_test(timeout=60)
async def test_append_many_goes_in_one_insert(target: MongoTarget) -> None:
    store = await target.store()
    held = store.messages = HeldInserts(store.messages)
    held.release.set()
    given = [(destination, b"m%02d" % i, {}) for i, destination in enumerate(["/topic/a", "/topic/b"] * 10)]

    outcomes = await store.append_many(given)

    assert held.sizes == [20]
    assert [(m.destination, m.body) for m in outcomes] == [(d, b) for d, b, _ in given]
    assert [m.seq for m in outcomes] == [n for seq in range(1, 11) for n in (seq, seq)]


@pytest.mark.gen_test(timeout=60)
async def test_append_many_gives_each_message_its_failure(target: MongoTarget) -> None:
    store = await target.store(timeout=1.0)
    store.messages = FaultyCollection(store.messages, failures=1_000)

    outcomes = await store.append_many([("/topic/a", b"m%d" % i, {}) for i in range(3)])

    assert [type(outcome) for outcome in outcomes] == [StoreUnavailable] * 3
    assert stored_documents(target) == []


@pytest.mark.gen_test(timeout=60)
async def test_a_batch_is_bounded_in_count_and_bytes(target: MongoTarget) -> None:
    store = await target.store(batch_count=4, batch_bytes=3000)
    held = store.messages = HeldInserts(store.messages)
    first = asyncio.ensure_future(store.append("/topic/a", b"first", {}))
    await held.entered.wait()

    small = [asyncio.ensure_future(store.append("/topic/a", b"s%d" % i, {})) for i in range(6)]
    large = [asyncio.ensure_future(store.append("/topic/a", b"L" * 1000, {})) for _ in range(3)]
    held.release.set()
    results = await asyncio.gather(first, *small, *large)

    # 4 small (the count); 2 small and 2 of 1000 bytes (each counted with 200 bytes
    # of overhead besides, and its destination): 2,8xx of 3000 bytes; the last one.
    assert held.sizes == [1, 4, 4, 1]
    assert [m.seq for m in results] == list(range(1, 11))


def test_batch_bounds_must_be_positive() -> None:
    with pytest.raises(ConfigError):
        MongoStore.from_uri("mongodb://127.0.0.1:1/", batch_count=0)
    with pytest.raises(ConfigError):
        MongoStore.from_uri("mongodb://127.0.0.1:1/", batch_bytes=0)


# -- a batch cut short ------------------------------------------------------------------------


@pytest.mark.gen_test(timeout=60)
async def test_a_batch_cut_short_after_part_of_it_landed_stores_each_message_once(
    target: MongoTarget,
) -> None:
    """The ordered insert stored the first 7 of 20, then the reply was lost."""
    store = await target.store(timeout=5.0)
    held = store.messages = HeldInserts(store.messages)
    first = asyncio.ensure_future(store.append("/topic/x", b"first", {}))
    await held.entered.wait()
    faulty = FaultyCollection(held.real, failures=1, land_first=7)
    calls = [("/topic/a" if i % 2 else "/topic/b", b"m%02d" % i) for i in range(20)]
    later = [asyncio.ensure_future(store.append(d, body, {})) for d, body in calls]
    store.messages = faulty
    held.release.set()

    results = await asyncio.gather(first, *later)

    # The retry sent the same 20 documents; the 7 that had landed were recognised.
    assert [len(seqs) for seqs in faulty.inserted_seqs[:2]] == [20, 20]
    assert faulty.inserted_seqs[0] == faulty.inserted_seqs[1]
    documents = stored_documents(target)
    assert len(documents) == 21
    assert_gap_free_and_unique(documents)
    stored = {(d["destination"], int(d["seq"])): body_bytes(d["body"]) for d in documents}
    for message in results:
        assert stored[(message.destination, message.seq)] == message.body


class StopsMidBatch:
    """Stands in for the messages collection: its first insert lands the first 5
    documents, then stops MongoDB and calls ``then``; every insert after goes through."""

    def __init__(self, real: Any, server: Any, then: Optional[Callable[[], None]] = None) -> None:
        self.real, self.server, self.then = real, server, then
        self.stopped = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    async def insert_many(self, documents: List[Any], ordered: bool = True) -> Any:
        if not self.stopped:
            self.stopped = True
            await self.real.insert_many(documents[:5], ordered=ordered)
            self.server.stop()
            if self.then is not None:
                self.then()
        return await self.real.insert_many(documents, ordered=ordered)


async def first_write_held(target: MongoTarget, timeout: float) -> Tuple[Any, MongoStore, Any, HeldInserts, Any]:
    """A store on the outage server whose first append's insert is under way and held
    (appends made now form the next batch): the server, the store, its collection, the
    hold, and the first append."""
    server = target.server
    assert server is not None
    store = await target.store(timeout=timeout)
    real = store.messages
    held = store.messages = HeldInserts(real)
    first = asyncio.ensure_future(store.append("/topic/x", b"first", {}))
    await held.entered.wait()
    return server, store, real, held, first


@pytest.mark.gen_test(timeout=120)
async def test_mongodb_stopped_mid_batch_loses_nothing_receipted_and_stores_nothing_twice(
    outage_target: MongoTarget,
) -> None:
    """Part of a batch lands, MongoDB stops, and comes back within the appends' time:
    every append succeeds, each message stored once, the numbering without a hole."""
    server, store, real, held, first = await first_write_held(outage_target, timeout=8.0)
    restarted = threading.Event()
    timers: List[threading.Timer] = []

    def restart() -> None:
        server.start()
        restarted.set()

    def restart_in_a_second() -> None:
        timers.append(threading.Timer(1.0, restart))
        timers[0].start()

    calls = [("/topic/a" if i % 3 else "/topic/b", b"m%02d" % i) for i in range(24)]
    later = [asyncio.ensure_future(store.append(d, body, {})) for d, body in calls]
    store.messages = StopsMidBatch(real, server, then=restart_in_a_second)
    held.release.set()

    results = await asyncio.wait_for(asyncio.gather(first, *later), HANG)
    await asyncio.get_running_loop().run_in_executor(None, timers[0].join)

    assert restarted.is_set()
    store.messages = real
    documents = stored_documents(outage_target)
    assert len(documents) == 25
    assert_gap_free_and_unique(documents)
    stored = {(d["destination"], int(d["seq"])): body_bytes(d["body"]) for d in documents}
    for message in results:
        assert stored[(message.destination, message.seq)] == message.body
    assert (await store.append("/topic/a", b"after", {})).seq == 17


@pytest.mark.gen_test(timeout=120)
async def test_mongodb_stopped_for_good_mid_batch_receipts_only_what_is_stored(
    outage_target: MongoTarget,
) -> None:
    """MongoDB stops with part of a batch landed and stays down past the appends'
    time: the appends fail (some were stored all the same: the ambiguity of a write
    whose reply never came), nothing is stored twice, and numbering goes on after what
    was stored, without a hole."""
    server, store, real, held, first = await first_write_held(outage_target, timeout=1.0)
    later = [asyncio.ensure_future(store.append("/topic/a", b"m%02d" % i, {})) for i in range(12)]
    store.messages = StopsMidBatch(real, server)
    held.release.set()
    outcomes = await asyncio.wait_for(asyncio.gather(first, *later, return_exceptions=True), HANG)
    server.start()
    store.messages = real

    assert isinstance(outcomes[0], StoredMessage)
    assert all(isinstance(o, StoreUnavailable) for o in outcomes[1:])
    documents = stored_documents(outage_target)
    assert_gap_free_and_unique(documents)
    assert sorted(int(d["seq"]) for d in documents if d["destination"] == "/topic/a") == [1, 2, 3, 4, 5]
    for attempt in range(30):
        try:
            after = await store.append("/topic/a", b"after", {})
            break
        except StoreUnavailable:
            if attempt == 29:
                raise
    assert after.seq == 6


# -- several processes ----------------------------------------------------------------------

WRITER = """
import asyncio, json, sys
from nexus_tornado.hub.mongo import MongoStore
from nexus_tornado.hub.mongo_codec import body_bytes

async def main(uri, database, driver, name, count):
    if driver == "motor":
        from motor.motor_asyncio import AsyncIOMotorClient as client_class
    else:
        from pymongo import AsyncMongoClient as client_class
    store = MongoStore.from_uri(uri, database, client_class=client_class, timeout=20.0)
    await store.open()
    print("ready", flush=True)
    sys.stdin.readline()
    out = []
    for round in range(count // 20):
        appends = [store.append("/topic/shared", ("%s-%04d" % (name, round * 20 + i)).encode(), {})
                   for i in range(20)]
        out += [[m.seq, m.body.decode()] for m in await asyncio.gather(*appends)]
    await store.close()
    print(json.dumps(out), flush=True)

asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])))
"""


@pytest.mark.gen_test(timeout=180)
async def test_two_processes_batching_into_one_destination_share_a_gap_free_numbering(
    target: MongoTarget,
) -> None:
    count = 200
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, target.uri, target.database_name, target.driver, name, str(count)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for name in ("p0", "p1")
    ]
    loop = asyncio.get_running_loop()
    try:
        for process in processes:
            assert process.stdout is not None
            assert (await loop.run_in_executor(None, process.stdout.readline)).strip() == "ready"
        for process in processes:  # both start together
            assert process.stdin is not None
            process.stdin.write("go\n")
            process.stdin.flush()
        outputs = [await loop.run_in_executor(None, p.communicate, None, 120) for p in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
    assert [p.returncode for p in processes] == [0, 0]
    results = [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]

    everything = results[0] + results[1]
    assert sorted(seq for seq, _ in everything) == list(range(1, 2 * count + 1))
    for result in results:
        # Each process's messages in the order it appended them.
        assert [body for _, body in sorted(result)] == sorted(body for _, body in result)
    store = await target.store()
    stored = await store.read_after("/topic/shared", 0, 2 * count + 1)
    assert [(m.seq, m.body.decode()) for m in stored] == sorted(tuple(x) for x in everything)
