"""The per-destination sequencer: any arrival order in, strict seq order out, once each;
a hole is reported only once it can no longer fill. Driven with a real MemoryStore and
injected clocks (no wall-clock deadlines)."""

from __future__ import annotations

import asyncio
from typing import Any, List, Optional, Tuple

import pytest

from nexus_tornado.hub.memory import MemoryStore
from nexus_tornado.hub.sequencer import HolePolicy, Sequencer
from nexus_tornado.hub.store import StoredMessage


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
