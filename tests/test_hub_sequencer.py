"""The per-destination sequencer: any arrival order in, strict seq order out, once each;
a hole is reported only once it can no longer fill. Driven with a real MemoryStore and
injected clocks (no wall-clock deadlines)."""

from __future__ import annotations

import asyncio
from typing import Any, List, Optional, Tuple

import pytest

from nexus_tornado.errors import StoreUnavailable
from nexus_tornado.hub.memory import MemoryStore
from nexus_tornado.hub.sequencer import HolePolicy, Sequencer
from nexus_tornado.hub.store import Position, StoredMessage


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Out:
    def __init__(self) -> None:
        self.got: List[Tuple[int, Optional[Tuple[int, int]], bool]] = []

    def __call__(self, message: StoredMessage, gap: Any, reset: bool) -> None:
        self.got.append((message.seq, gap, reset))

    @property
    def seqs(self) -> List[int]:
        return [s for s, _, _ in self.got]


class SlowStore(MemoryStore):
    """A MemoryStore whose appends can be held between numbering and writing, as a
    MongoDB append of another process is: ``number()`` takes a seq, ``write()`` stores it."""

    settle_seconds = 5.0

    def number(self, destination: str) -> int:
        log = self._log(destination)
        log.last_seq += 1
        return log.last_seq

    def write(self, destination: str, seq: int, body: bytes = b"x") -> StoredMessage:
        log = self._log(destination)
        message = StoredMessage(destination, seq, "id%d" % seq, body, {}, self._clock(), self.epoch)
        log.messages.append(message)
        log.messages = type(log.messages)(sorted(log.messages, key=lambda m: m.seq))
        return message


def make(store: SlowStore, clock: Clock, wall: Clock) -> Tuple[Sequencer, Out]:
    out = Out()
    policy = HolePolicy(store.settle_seconds, hold=0.01, skew=1.0, monotonic=clock, wall=wall)
    return Sequencer("/d", store, policy, out), out


async def settle(condition: Any, rounds: int = 500) -> None:
    for _ in range(rounds):
        if condition():
            return
        await asyncio.sleep(0.005)


@pytest.mark.gen_test
async def test_a_later_number_waits_for_an_earlier_one_written_late() -> None:
    """The issue's false gap: 41 numbered by another process, 42 published here and
    written first. 42 waits; once 41 is written (signalled), both go out in order."""
    wall = Clock()
    store = SlowStore(clock=wall)
    sequencer, out = make(store, Clock(), wall)
    sequencer.start_at(1, store.epoch)
    first = store.number("/d")  # another process's append, not yet written
    mine = store.write("/d", store.number("/d"))
    sequencer.offer(mine)
    await asyncio.sleep(0.1)  # several holds and reads: 1 is still missing
    assert out.seqs == []
    store.write("/d", first)
    sequencer.signal(first, store.epoch)
    await settle(lambda: out.seqs == [1, 2])
    assert out.got == [(1, None, False), (2, None, False)]
    sequencer.offer(mine)  # its change event arrives: not delivered twice
    sequencer.signal(2, store.epoch)
    await asyncio.sleep(0.05)
    assert out.seqs == [1, 2]
    sequencer.close()


@pytest.mark.gen_test
async def test_a_signal_alone_brings_the_body_from_the_store_in_order() -> None:
    wall = Clock()
    store = SlowStore(clock=wall)
    sequencer, out = make(store, Clock(), wall)
    sequencer.start_at(1, store.epoch)
    for _ in range(3):
        store.write("/d", store.number("/d"))
    sequencer.signal(3, store.epoch)
    sequencer.signal(1, store.epoch)
    await settle(lambda: len(out.seqs) == 3)
    assert out.got == [(1, None, False), (2, None, False), (3, None, False)]
    sequencer.close()


@pytest.mark.gen_test
async def test_a_number_never_written_is_a_gap_only_after_the_settle_time() -> None:
    clock, wall = Clock(), Clock()
    store = SlowStore(clock=wall)
    sequencer, out = make(store, clock, wall)
    sequencer.start_at(1, store.epoch)
    store.number("/d")  # its writer dies: 1 is never written
    sequencer.offer(store.write("/d", store.number("/d")))
    await asyncio.sleep(0.1)
    assert out.seqs == []  # not yet: it may still be written
    clock.now += store.settle_seconds  # the append budget has run out
    await settle(lambda: out.seqs == [2])
    assert out.got == [(2, (1, 1), False)]
    sequencer.close()


@pytest.mark.gen_test
async def test_an_old_hole_is_final_at_once_from_the_timestamp_after_it() -> None:
    clock, wall = Clock(), Clock()
    store = SlowStore(clock=wall)
    sequencer, out = make(store, clock, wall)
    sequencer.start_at(1, store.epoch)
    store.number("/d")
    late = store.write("/d", store.number("/d"))
    wall.now += 2 * store.settle_seconds + 1.0  # written long ago (a replay of old history)
    sequencer.signal(late.seq, store.epoch)
    await settle(lambda: out.seqs == [2])
    assert out.got == [(2, (1, 1), False)]
    sequencer.close()


@pytest.mark.gen_test
async def test_a_new_epoch_starts_from_its_first_number_marked_reset() -> None:
    wall = Clock()
    store = SlowStore(clock=wall)
    sequencer, out = make(store, Clock(), wall)
    sequencer.start_at(5, "old-epoch")
    store.write("/d", store.number("/d"))
    sequencer.signal(1, store.epoch)
    await settle(lambda: out.seqs == [1])
    assert out.got == [(1, None, True)]
    sequencer.close()


@pytest.mark.gen_test
async def test_a_live_start_is_the_stores_position_not_the_first_number_to_arrive() -> None:
    """Two processes append right after a live subscription: A numbers 4 and writes it
    late, B numbers and writes 5, whose offer arrives first. Both were numbered after
    the subscription, so both are emitted, in order; nothing older is."""
    wall = Clock()
    store = SlowStore(clock=wall)
    sequencer, out = make(store, Clock(), wall)
    for _ in range(3):
        store.write("/d", store.number("/d"))
    await sequencer.anchor()
    assert sequencer.next == 4
    of_a = store.number("/d")
    of_b = store.write("/d", store.number("/d"))
    sequencer.offer(of_b)
    await asyncio.sleep(0.05)
    assert out.seqs == []  # 4 may still come
    sequencer.signal(store.write("/d", of_a).seq, store.epoch)
    await settle(lambda: out.seqs == [4, 5])
    assert out.got == [(4, None, False), (5, None, False)]
    sequencer.close()


@pytest.mark.gen_test
async def test_what_arrives_before_the_start_is_known_is_kept_but_not_taken_as_the_start() -> None:
    """A number arriving while the position is read (or before) is no starting point:
    the start is the position, and what arrived after it is emitted from there."""
    wall = Clock()
    store = SlowStore(clock=wall)
    sequencer, out = make(store, Clock(), wall)
    store.write("/d", store.number("/d"))
    late = store.number("/d")
    sequencer.offer(store.write("/d", store.number("/d")))  # 3 arrives first
    await sequencer.anchor()  # position 3: 2 and 3 were numbered before
    await asyncio.sleep(0.05)
    assert out.seqs == []
    store.write("/d", late)
    sequencer.signal(late, store.epoch)
    sequencer.signal(store.write("/d", store.number("/d")).seq, store.epoch)
    await settle(lambda: out.seqs == [4])
    assert out.got == [(4, None, False)]
    sequencer.close()


class DownStore(SlowStore):
    """Cannot say where a destination stands until ``up`` is set."""

    up = False

    async def position(self, destination: str) -> Position:
        if not self.up:
            raise StoreUnavailable("down")
        return await super().position(destination)


@pytest.mark.gen_test
async def test_a_live_start_while_the_store_is_down_loses_nothing_that_arrives_meanwhile() -> None:
    wall = Clock()
    store = DownStore(clock=wall)
    sequencer, out = make(store, Clock(), wall)
    store.write("/d", store.number("/d"))
    await sequencer.anchor()  # returns: the subscription is made, delivery waits
    assert sequencer.next is None
    second, third = store.number("/d"), store.write("/d", store.number("/d"))
    sequencer.offer(third)  # may have been numbered after the subscription
    store.write("/d", second)
    sequencer.signal(second, store.epoch)
    await asyncio.sleep(0.05)
    assert out.seqs == []
    store.up = True  # position 3 now, but 2 and 3 arrived while it was unknown
    await settle(lambda: out.seqs == [2, 3], rounds=1000)
    assert out.got == [(2, None, False), (3, None, False)]
    sequencer.close()


@pytest.mark.gen_test
async def test_anchoring_callers_share_one_reading_and_closing_releases_them() -> None:
    wall = Clock()
    store = DownStore(clock=wall)
    sequencer, out = make(store, Clock(), wall)
    reads = []
    original = store.position

    async def counted(destination: str) -> Position:
        reads.append(destination)
        await asyncio.sleep(0.01)
        return await original(destination)

    store.position = counted  # type: ignore[method-assign]
    store.up = True
    await asyncio.gather(sequencer.anchor(), sequencer.anchor(), sequencer.anchor())
    assert reads == ["/d"] and sequencer.next == 1
    other, _ = make(DownStore(clock=wall), Clock(), wall)
    await other.anchor()
    other.close()  # its background attempts stop
    assert other._task is None
    sequencer.close()


class CountingStore(SlowStore):
    reads = 0

    async def read_after(self, destination: str, after_seq: int, limit: int) -> List[StoredMessage]:
        self.reads += 1
        return await super().read_after(destination, after_seq, limit)


@pytest.mark.gen_test
async def test_a_hole_that_stays_is_read_with_growing_pauses_even_without_a_hold() -> None:
    """``sequencer_hold`` 0 must not turn the wait for a number into a busy loop."""
    wall = Clock()
    store = CountingStore(clock=wall)
    out = Out()
    sequencer = Sequencer("/d", store, HolePolicy(store.settle_seconds, hold=0.0, wall=wall), out)
    sequencer.start_at(1, store.epoch)
    missing = store.number("/d")
    sequencer.offer(store.write("/d", store.number("/d")))
    await asyncio.sleep(0.3)
    assert out.seqs == [] and 1 <= store.reads <= 12  # 0.01, 0.02, 0.04, ... apart
    store.write("/d", missing)
    sequencer.signal(missing, store.epoch)
    await settle(lambda: out.seqs == [1, 2])
    sequencer.close()


@pytest.mark.gen_test
async def test_a_recheck_asked_for_before_the_start_is_known_reads_the_store_once_it_is() -> None:
    """The change stream (re)opened, and asked for a re-read, while a live subscription
    was reading the store's position: a message stored right after that position
    whose event the stream missed is read once the start is known."""

    class Racing(SlowStore):
        async def position(self, destination: str) -> Position:
            position = await super().position(destination)
            self.write(destination, self.number(destination))  # its event is missed
            return position

    wall = Clock()
    store = Racing(clock=wall)
    sequencer, out = make(store, Clock(), wall)
    store.write("/d", store.number("/d"))
    sequencer.recheck()
    await sequencer.anchor()
    await settle(lambda: out.seqs == [2])
    assert out.seqs == [2]
    sequencer.close()


@pytest.mark.gen_test
async def test_a_live_start_waits_for_a_slow_store_only_so_long_and_loses_nothing() -> None:
    """The store answers the position read only after the subscriber stopped waiting
    (an outage as long as the store's timeout): the subscription is made, what arrived
    meanwhile is emitted from its lowest number once the position is known."""

    class Slow(SlowStore):
        release = asyncio.Event()

        async def position(self, destination: str) -> Position:
            await self.release.wait()
            return await super().position(destination)

    wall = Clock()
    store = Slow(clock=wall)
    sequencer, out = make(store, Clock(), wall)
    store.write("/d", store.number("/d"))
    await asyncio.wait_for(sequencer.anchor(), 30)  # returns after ANCHOR_WAIT, not never
    assert sequencer.next is None
    sequencer.offer(store.write("/d", store.number("/d")))  # may be after the RECEIPT
    store.release.set()
    await settle(lambda: out.seqs == [2])
    assert out.seqs == [2]
    sequencer.close()
