"""nexus_tornado.hub.memory: what MemoryStore does beyond the store contract
(tests/test_hub_store.py): retention by count at append and by age in ``prune``, with
the delivery marks of dropped messages forgotten, and nothing shared between stores."""

from __future__ import annotations

import asyncio
import gc
import tracemalloc
from typing import Any, Awaitable, TypeVar

import pytest

from nexus_tornado.hub.memory import MemoryStore, message_bytes
from nexus_tornado.hub.store import Retention
T = TypeVar("T")


def run(coroutine: Awaitable[T]) -> T:
    async def main() -> T:
        return await coroutine

    return asyncio.run(main())


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_retention_by_count_drops_the_oldest_at_append() -> None:
    store = MemoryStore(Retention(max_age_seconds=None, max_count=2))

    async def scenario() -> Any:
        for n in range(1, 5):
            await store.append("/topic/a", b"%d" % n, {})
        return (
            [m.seq for m in await store.read_after("/topic/a", 0, 10)],
            await store.first_seq("/topic/a"),
            await store.last_seq("/topic/a"),
        )

    assert run(scenario()) == ([3, 4], 3, 4)


def test_retention_by_age_drops_only_older_messages_and_counts_them() -> None:
    clock = Clock()
    store = MemoryStore(Retention(max_age_seconds=60.0, max_count=None), clock=clock)

    async def scenario() -> Any:
        await store.append("/topic/a", b"old", {})
        await store.append("/topic/b", b"old", {})
        clock.now += 30
        await store.append("/topic/a", b"new", {})
        clock.now += 31  # the first two are now 61 s old, the third 31 s
        dropped = await store.prune()
        again = await store.prune()
        return dropped, again, [m.body for m in await store.read_after("/topic/a", 0, 10)]

    assert run(scenario()) == (2, 0, [b"new"])


def test_a_message_exactly_at_the_age_limit_is_kept() -> None:
    clock = Clock()
    store = MemoryStore(Retention(max_age_seconds=60.0, max_count=None), clock=clock)

    async def scenario() -> Any:
        await store.append("/topic/a", b"edge", {})
        clock.now += 60.0
        return await store.prune()

    assert run(scenario()) == 0


def test_no_age_limit_prunes_nothing() -> None:
    clock = Clock()
    store = MemoryStore(Retention(max_age_seconds=None, max_count=None), clock=clock)

    async def scenario() -> Any:
        await store.append("/topic/a", b"x", {})
        clock.now += 10**9
        return await store.prune(), await store.first_seq("/topic/a")

    assert run(scenario()) == (0, 1)


def test_a_dropped_message_forgets_its_delivery_mark() -> None:
    store = MemoryStore(Retention(max_age_seconds=None, max_count=1))

    async def scenario() -> Any:
        await store.append("/topic/n", b"1", {})
        await store.mark_delivered("/topic/n", [1])
        before = await store.is_delivered("/topic/n", 1)
        await store.append("/topic/n", b"2", {})
        return before, await store.is_delivered("/topic/n", 1), await store.is_delivered("/topic/n", 2)

    assert run(scenario()) == (True, None, False)


def test_timestamps_come_from_the_clock_and_stores_share_nothing() -> None:
    clock = Clock()
    first, second = MemoryStore(clock=clock), MemoryStore(clock=clock)

    async def scenario() -> Any:
        message = await first.append("/topic/a", b"x", {"content-type": "text/plain"})
        return message, await second.last_seq("/topic/a")

    message, other = run(scenario())
    assert (message.seq, message.timestamp, dict(message.headers)) == (1, 1000.0, {"content-type": "text/plain"})
    assert other == 0

BODY = b"x" * 1700
MIB = 1024 * 1024


async def fill(store: MemoryStore, messages: int, rooms: int) -> None:
    for n in range(messages):
        await store.append("/topic/chat/room%d" % (n % rooms), BODY, {"content-type": "application/json"})


@pytest.mark.gen_test
async def test_all_destinations_together_stay_within_max_bytes() -> None:
    store = MemoryStore(Retention(max_age_seconds=None, max_count=10_000), max_bytes=2 * MIB)
    await fill(store, 5000, 200)
    assert store.bytes_held <= 2 * MIB
    # Oldest first whatever the destination: what is kept is exactly the newest
    # messages stored (message n went to room n % 200 as that room's seq n // 200 + 1).
    kept = []
    for room in range(200):
        destination = "/topic/chat/room%d" % room
        assert await store.last_seq(destination) == 25
        kept += [(m.seq - 1) * 200 + room for m in await store.read_after(destination, 0, 100)]
    assert sorted(kept) == list(range(5000 - len(kept), 5000))
    assert store.bytes_held > 2 * MIB - 4096  # as much as fits is kept
    assert len(kept) * min(message_bytes(m) for m in await store.read_after("/topic/chat/room0", 0, 1)) <= 2 * MIB


@pytest.mark.gen_test
async def test_memory_held_follows_the_bound_not_the_number_of_destinations() -> None:
    gc.collect()
    tracemalloc.start()
    try:
        store = MemoryStore(Retention(max_age_seconds=None, max_count=10_000), max_bytes=2 * MIB)
        before = tracemalloc.get_traced_memory()[0]
        await fill(store, 5000, 200)
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    # 5,000 x 1.7 KB is over 8 MiB; the bound keeps it near 2 MiB (the accounting
    # overestimates each message, so the real figure is below it; margin for the
    # bookkeeping of dropped messages).
    assert held < 3 * MIB, held


@pytest.mark.gen_test
async def test_count_retention_and_the_byte_bound_agree() -> None:
    store = MemoryStore(Retention(max_age_seconds=None, max_count=3), max_bytes=10 * MIB)
    await fill(store, 3000, 2)
    assert [m.seq for m in await store.read_after("/topic/chat/room0", 0, 10)] == [1498, 1499, 1500]
    sizes = [message_bytes(m) for d in ("/topic/chat/room0", "/topic/chat/room1")
             for m in await store.read_after(d, 0, 10)]
    assert store.bytes_held == sum(sizes)
    # The order of stored messages does not keep entries of dropped ones for long.
    assert len(store._order) <= 2 * 6 + 1024


@pytest.mark.gen_test
async def test_undelivered_notifications_dropped_by_the_bound_leave_no_trace() -> None:
    store = MemoryStore(Retention(max_age_seconds=None, max_count=None), max_bytes=64 * 1024)
    for _ in range(100):
        await store.append("/topic/notifications/u", BODY, {})
    undelivered = await store.read_undelivered("/topic/notifications/u", 1000)
    assert undelivered and undelivered[0].seq > 1
    assert await store.is_delivered("/topic/notifications/u", 1) is None
