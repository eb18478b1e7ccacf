"""Documents on the in-memory store: one history from concurrent submissions, re-sends
answered from the log, the text kept through retention, snapshots that only move forward.

Two :class:`Documents` on one store stand for two processes on one database: each has
its own cache and lock, so their submissions race for versions as processes do.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, List, Mapping, Optional, Tuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nexus_tornado.errors import Rejection, RejectionCode
from nexus_tornado.hub.documents import (
    DocumentStore,
    Documents,
    MemoryDocumentStore,
    Snapshot,
    document_store_for,
    parse_op,
)
from nexus_tornado.hub.hub import Hub
from nexus_tornado.hub.memory import MemoryStore
from nexus_tornado.hub.store import Retention, Store, StoredMessage
from nexus_tornado.ot import TextOperation
from support.text_ops import operations

DOC = "/topic/doc/d"


def envelope(version: int, op: Any, op_id: str, sender: str = "alice") -> Mapping[str, Any]:
    return {"type": "DOC_OP", "timestamp": "2026-12-01T10:00:00Z", "senderId": sender,
            "payload": {"docId": "d", "version": version, "opId": op_id, "op": op}}


class Interleaving(DocumentStore):
    """A document store that yields to the loop before every call, so that concurrent
    submissions interleave (as they do across processes) and race for versions."""

    def __init__(self, inner: DocumentStore) -> None:
        super().__init__(inner.store)
        self.inner = inner
        self.lost = 0

    async def append_at(self, destination: str, seq: int, body: bytes, headers: Mapping[str, str]) -> Optional[StoredMessage]:
        await asyncio.sleep(0)
        message = await self.inner.append_at(destination, seq, body, headers)
        self.lost += message is None
        return message

    async def read_after(self, destination: str, seq: int, limit: int) -> List[StoredMessage]:
        await asyncio.sleep(0)
        return await self.inner.read_after(destination, seq, limit)

    async def newest(self, destination: str) -> Tuple[int, Optional[str]]:
        await asyncio.sleep(0)
        return await self.inner.newest(destination)

    async def read_snapshot(self, destination: str) -> Optional[Snapshot]:
        return await self.inner.read_snapshot(destination)

    async def write_snapshot(self, destination: str, snapshot: Snapshot) -> None:
        await self.inner.write_snapshot(destination, snapshot)


def two_processes(retention: Retention = Retention()) -> Tuple[MemoryStore, Interleaving, List[Documents]]:
    store = MemoryStore(retention)
    shared = Interleaving(MemoryDocumentStore(store))
    hub = Hub(store)
    return store, shared, [Documents(hub, shared, max_length=10_000, max_components=100) for _ in range(2)]


async def log_text(store: MemoryStore) -> str:
    text = ""
    for message in await store.read_after(DOC, 0, 10_000):
        text = parse_op(message).op.apply(text)
    return text


@pytest.mark.gen_test
async def test_concurrent_submissions_through_two_processes_make_one_history() -> None:
    store, shared, (first, second) = two_processes()
    await first.submit(DOC, envelope(0, ["hello"], "h"))
    results = await asyncio.gather(
        first.submit(DOC, envelope(1, [5, " world"], "a")),
        second.submit(DOC, envelope(1, ["oh, ", 5], "b", "bob")),
        second.submit(DOC, envelope(1, [-1, "H", 4], "c", "bob")),
    )
    assert sorted(m.seq for m in results) == [2, 3, 4]
    assert shared.lost > 0  # the race happened, and was lost by someone
    assert [m.seq for m in await store.read_after(DOC, 0, 100)] == [1, 2, 3, 4]
    text = await log_text(store)
    assert text == "oh, Hello world"
    for documents in (first, second):
        assert await documents.snapshot(DOC) == Snapshot(text, 4, store.epoch)


@pytest.mark.gen_test
async def test_a_resent_operation_is_answered_from_the_log() -> None:
    store, _, (first, second) = two_processes()
    stored = await first.submit(DOC, envelope(0, ["x"], "once"))
    await first.submit(DOC, envelope(1, [1, "y"], "next"))
    # Sent again through the other process, still naming the version it was made on.
    again = await second.submit(DOC, envelope(0, ["x"], "once"))
    assert again == stored
    assert second.duplicates == 1
    assert await log_text(store) == "xy"


@pytest.mark.gen_test
async def test_the_text_survives_retention_and_old_versions_are_refused() -> None:
    store, _, (first, second) = two_processes(Retention(max_count=3))
    for version in range(10):
        await first.submit(DOC, envelope(version, [version, "a"] if version else ["a"], "op%d" % version))
    assert await store.first_seq(DOC) == 8
    # A process that never saw the document reads the snapshot, not the history.
    assert (await second.snapshot(DOC)).text == "a" * 10
    with pytest.raises(Rejection) as refused:
        await second.submit(DOC, envelope(3, [3, "b"], "late"))
    assert refused.value.code is RejectionCode.INVALID_MESSAGE
    assert "version 3 of this document is no longer kept" in refused.value.message
    await second.submit(DOC, envelope(8, ["b", 8], "ok"))
    assert (await first.snapshot(DOC)).text == "b" + "a" * 10


@pytest.mark.gen_test
async def test_a_version_not_yet_reached_is_refused() -> None:
    _, _, (first, _) = two_processes()
    with pytest.raises(Rejection, match="version 1 is ahead of the document"):
        await first.submit(DOC, envelope(1, ["x"], "ahead"))


@pytest.mark.gen_test
async def test_snapshots_only_move_forward() -> None:
    documents = MemoryDocumentStore(MemoryStore())
    await documents.write_snapshot(DOC, Snapshot("new", 5))
    await documents.write_snapshot(DOC, Snapshot("old", 4))
    assert await documents.read_snapshot(DOC) == Snapshot("new", 5)


def test_the_document_store_follows_the_message_store() -> None:
    assert isinstance(document_store_for(MemoryStore()), MemoryDocumentStore)

    # A host's own store: no conditional appends, so no documents.
    elsewhere = type("Elsewhere", (Store,), {name: None for name in Store.__abstractmethods__})
    assert document_store_for(elsewhere()) is None


@settings(max_examples=30)
@given(st.data())
def test_random_concurrent_operations_converge_with_every_replica(data: Any) -> None:
    # Three editors each make an operation on the version they last saw; whatever the
    # server's order, applying the stored history gives what the server holds.
    async def run() -> None:
        store, _, processes = two_processes()
        text, version = "", 0
        for round_ in range(3):
            edits = [data.draw(operations(len(text))) for _ in range(3)]
            await asyncio.gather(*(
                processes[i % 2].submit(DOC, envelope(version, edit.to_json(), "r%d-%d" % (round_, i), "u%d" % i))
                for i, edit in enumerate(edits)
            ))
            snapshot = await processes[0].snapshot(DOC)
            assert snapshot.version == version + 3
            text, version = snapshot.text, snapshot.version
            assert await log_text(store) == text
    asyncio.run(run())


@pytest.mark.gen_test
async def test_an_operation_too_far_behind_is_refused() -> None:
    store = MemoryStore()
    documents = Documents(Hub(store), MemoryDocumentStore(store), max_length=100, max_components=10, max_behind=2)
    for version in range(4):
        await documents.submit(DOC, envelope(version, [version, "a"] if version else ["a"], "v%d" % version))
    with pytest.raises(Rejection) as refused:
        await documents.submit(DOC, envelope(1, [1, "b"], "late"))
    assert refused.value.message == (
        "version 1 is more than 2 versions behind the document (at version 4); subscribe again for the current text"
    )
    await documents.submit(DOC, envelope(2, [2, "b"], "in time"))
    assert (await documents.snapshot(DOC)).text == "aaaab"  # the stored inserts at its place went first
    assert documents.hub.stats.published == 5


class Counting(Interleaving):
    """Counts the reads of the newest version and of the log."""

    def __init__(self, inner: DocumentStore) -> None:
        super().__init__(inner)
        self.newest_reads = 0
        self.log_reads = 0

    async def read_after(self, destination: str, seq: int, limit: int) -> List[StoredMessage]:
        self.log_reads += 1
        return await super().read_after(destination, seq, limit)

    async def newest(self, destination: str) -> Tuple[int, Optional[str]]:
        self.newest_reads += 1
        return await super().newest(destination)


@pytest.mark.gen_test
async def test_with_the_text_at_hand_an_operation_costs_one_read_of_the_log() -> None:
    store = MemoryStore()
    counting = Counting(MemoryDocumentStore(store))
    first, second = (Documents(Hub(store), counting, max_length=100, max_components=10) for _ in range(2))
    await first.submit(DOC, envelope(0, ["ab"], "a"))
    await second.submit(DOC, envelope(1, [2, "c"], "b", "bob"))  # a cold cache: the full path
    counting.newest_reads = counting.log_reads = 0
    # first's text is a version behind (second stored one); its editor is behind too.
    await first.submit(DOC, envelope(1, ["x", 2], "c"))
    await first.submit(DOC, envelope(3, [4, "y"], "d"))
    await second.submit(DOC, envelope(2, [3, "z"], "e", "bob"))
    assert (counting.newest_reads, counting.log_reads, counting.lost) == (0, 3, 0)
    text = await log_text(store)
    assert text == "xabcyz"
    for documents in (first, second):
        assert await documents.snapshot(DOC) == Snapshot(text, 5, store.epoch)


@pytest.mark.gen_test
async def test_a_cached_version_retention_dropped_is_read_again_not_taken_again() -> None:
    store = MemoryStore(Retention(max_count=2))
    counting = Counting(MemoryDocumentStore(store))
    first, second = (Documents(Hub(store), counting, max_length=100, max_components=10) for _ in range(2))
    await first.submit(DOC, envelope(0, ["a"], "a"))
    for version in range(1, 6):
        await second.submit(DOC, envelope(version, [version, "b"], "b%d" % version, "bob"))
    assert await store.first_seq(DOC) == 5  # first's version 1 is gone, and the next ones
    counting.newest_reads = 0
    stored = await first.submit(DOC, envelope(6, ["c", 6], "c"))
    assert stored.seq == 7 and counting.newest_reads == 1
    assert (await second.snapshot(DOC)).text == "cabbbbb"
