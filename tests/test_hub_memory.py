"""nexus_tornado.hub.memory: what MemoryStore does beyond the store contract
(tests/test_hub_store.py): retention by count at append and by age in ``prune``, with
the delivery marks of dropped messages forgotten, and nothing shared between stores."""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, TypeVar

from nexus_tornado.hub.memory import MemoryStore
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
