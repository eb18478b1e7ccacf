"""Documents on MongoDB: two processes (two stores, two clients) accepting operations on
one document at once make one history; snapshots are kept in the database and outlive
the processes; a re-send is found whichever process gets it.

Runs on nx-27017 (and on a real MongoDB when ``NEXUS_TEST_MONGO_URI`` is set).
"""

from __future__ import annotations

import asyncio
from typing import Any, List, Mapping

import pytest

from nexus_tornado.hub.documents import Documents, Snapshot, document_store_for, parse_op
from nexus_tornado.hub.hub import Hub
from nexus_tornado.hub.mongo import MongoStore
from nexus_tornado.hub.mongo_documents import MongoDocumentStore
from nexus_tornado.hub.store import Retention
from nexus_tornado.ot import TextOperation
from support.mongo import MongoTarget, mongo_params, mongo_target, nx_server  # noqa: F401

DOC = "/topic/doc/m"


@pytest.fixture(params=mongo_params(("nx27017-motor", "mongodb-motor")))
def target(request: pytest.FixtureRequest) -> MongoTarget:
    return mongo_target(request, request.param)


def envelope(version: int, op: Any, op_id: str, sender: str = "alice") -> Mapping[str, Any]:
    return {"type": "DOC_OP", "timestamp": "2026-12-01T10:00:00Z", "senderId": sender,
            "payload": {"docId": "m", "version": version, "opId": op_id, "op": op}}


async def process(target: MongoTarget) -> Documents:
    store = await target.store(timeout=5.0)
    documents = document_store_for(store)
    assert isinstance(documents, MongoDocumentStore)
    return Documents(Hub(store), documents, max_length=10_000, max_components=100)


async def replayed(mongo: MongoStore) -> str:
    """The document's text, replayed from its stored operations."""
    text = ""
    for message in await mongo.read_after(DOC, 0, 1000):
        text = parse_op(message).op.apply(text)
    return text


async def history(store: MongoStore) -> List[int]:
    return [m.seq for m in await store.read_after(DOC, 0, 1000)]


@pytest.mark.gen_test(timeout=120)
async def test_two_processes_accepting_operations_at_once_make_one_history(target: MongoTarget) -> None:
    first, second = await process(target), await process(target)
    await first.submit(DOC, envelope(0, ["0123456789"], "start"))
    # Every editor made their operation on version 1; the two processes race.
    edits = [TextOperation.build([i, "<%d>" % i, 10 - i]).to_json() for i in range(10)]
    results = await asyncio.gather(*(
        (first if i % 2 else second).submit(DOC, envelope(1, edit, "e%d" % i, "u%d" % i))
        for i, edit in enumerate(edits)
    ))
    assert sorted(m.seq for m in results) == list(range(2, 12))
    assert first.conflicts + second.conflicts > 0  # they did race for versions
    mongo = first.store.store
    assert isinstance(mongo, MongoStore)
    assert await history(mongo) == list(range(1, 12))
    text = await replayed(mongo)
    assert text == "".join("<%d>%d" % (i, i) for i in range(10))
    assert (await first.snapshot(DOC)).text == text == (await second.snapshot(DOC)).text
    # The destination's numbering agrees, so replay and positions see the same history.
    assert (await mongo.position(DOC)).seq == 11


@pytest.mark.gen_test(timeout=60)
async def test_the_snapshot_is_kept_in_the_database(target: MongoTarget) -> None:
    first = await process(target)
    for version, op in enumerate((["ab"], [2, "c"], [-1, 2])):
        await first.submit(DOC, envelope(version, op, "s%d" % version))
    later = await process(target)  # a process started afterwards: no cache
    stored = await later.store.read_snapshot(DOC)
    assert stored is not None and (stored.text, stored.version) == ("bc", 3)
    assert await later.snapshot(DOC) == Snapshot("bc", 3, stored.epoch)
    # Older snapshots never replace newer ones.
    await later.store.write_snapshot(DOC, Snapshot("old", 2, stored.epoch))
    assert await later.store.read_snapshot(DOC) == stored


@pytest.mark.gen_test(timeout=60)
async def test_a_resend_through_the_other_process_is_not_stored_again(target: MongoTarget) -> None:
    first, second = await process(target), await process(target)
    stored = await first.submit(DOC, envelope(0, ["once"], "same"))
    again = await second.submit(DOC, envelope(0, ["once"], "same"))
    assert again.message_id == stored.message_id and again.seq == 1
    mongo = first.store.store
    assert isinstance(mongo, MongoStore)
    assert await history(mongo) == [1]


@pytest.mark.gen_test(timeout=60)
async def test_a_taken_version_is_refused_by_the_conditional_append(target: MongoTarget) -> None:
    documents = (await process(target)).store
    assert await documents.append_at(DOC, 1, b'{"a":1}', {}) is not None
    assert await documents.append_at(DOC, 1, b'{"b":2}', {}) is None
    assert (await documents.newest(DOC))[0] == 1


@pytest.mark.gen_test(timeout=60)
async def test_retention_drops_old_operations_and_keeps_the_numbering_and_the_text(target: MongoTarget) -> None:
    store = await target.store(timeout=5.0, retention=Retention(max_count=5))
    documents = Documents(Hub(store), MongoDocumentStore(store), max_length=1000, max_components=100)
    for version in range(12):
        await documents.submit(DOC, envelope(version, [version, "a"] if version else ["a"], "r%d" % version))
    kept = await history(store)
    assert kept[-1] == 12 and len(kept) < 12  # old operations went
    assert (await store.position(DOC)).seq == 12  # the counter, the floor, followed
    later = Documents(Hub(store), MongoDocumentStore(store), max_length=1000, max_components=100)
    assert (await later.snapshot(DOC)).text == "a" * 12


@pytest.mark.gen_test(timeout=60)
async def test_an_operation_leaves_the_counter_to_retention_and_the_newest_version_stays_exact(
    target: MongoTarget,
) -> None:
    now = [1000.0]
    store = await target.store(timeout=5.0, retention=Retention(max_age_seconds=60, max_count=5),
                               clock=lambda: now[0])
    documents = Documents(Hub(store), MongoDocumentStore(store), max_length=1000, max_components=100)
    for version in range(4):
        await documents.submit(DOC, envelope(version, [version, "a"] if version else ["a"], "c%d" % version))
    counter = await store.counters.find_one({"_id": DOC})
    assert counter is not None and counter["seq"] == 0  # no write of the counter per operation
    assert await documents.store.newest(DOC) == (4, counter["epoch"])
    for version in range(4, 12):
        await documents.submit(DOC, envelope(version, [version, "a"], "c%d" % version))
    # Retention by count dropped operations; it raised the counter first.
    counter = await store.counters.find_one({"_id": DOC})
    dropped = [seq for seq in range(1, 13) if seq not in await history(store)]
    assert dropped and counter["seq"] >= max(dropped)
    # Retention by age drops the rest: the numbering goes on from 12, the text is kept.
    now[0] += 120
    await store.prune()
    assert await history(store) == []
    assert (await documents.store.newest(DOC))[0] == 12
    later = Documents(Hub(store), MongoDocumentStore(store), max_length=1000, max_components=100)
    assert (await later.submit(DOC, envelope(12, ["b", 12], "late"))).seq == 13
    assert (await documents.submit(DOC, envelope(13, [13, "c"], "later"))).seq == 14
    assert (await documents.snapshot(DOC)).text == "b" + "a" * 12 + "c"


@pytest.mark.gen_test(timeout=120)
async def test_a_process_whose_text_is_behind_catches_up_in_its_next_operation(target: MongoTarget) -> None:
    first, second = await process(target), await process(target)
    await first.submit(DOC, envelope(0, ["ab"], "a"))
    await second.submit(DOC, envelope(1, [2, "c"], "b", "bob"))
    # Interleaved: each process's text is behind the other's last operation.
    for round_ in range(6):
        documents = (first, second)[round_ % 2]
        version = 2 + round_
        stored = await documents.submit(DOC, envelope(version - 1, ["%d" % round_, version], "i%d" % round_))
        assert stored.seq == version + 1
    mongo = first.store.store
    assert isinstance(mongo, MongoStore)
    assert await history(mongo) == list(range(1, 9))
    text = await replayed(mongo)
    assert sorted(text) == sorted("012345abc") and text.endswith("abc")  # every insert, once
    assert (await first.snapshot(DOC)).text == text == (await second.snapshot(DOC)).text
    assert (await first.store.read_snapshot(DOC)) == Snapshot(text, 8, (await mongo.position(DOC)).epoch)
