"""Per-destination sequencing: messages arrive in any order, leave strictly by ``seq``.

Several processes append to one destination; each number is handed out by the store
before its message is written, so the messages of one destination become visible in an
order that is not always their numbering (41 numbered by process A, 42 by process B,
42 written first). A :class:`Sequencer` per destination with live subscribers in this
process takes what it learns, in any order:

* :meth:`Sequencer.offer`: a stored message in full (published through this process,
  or read from the store);
* :meth:`Sequencer.signal`: only that ``seq`` is stored (a change event of another
  process's append; the body is read from the store, the only source of truth);

and emits messages in ``seq`` order, each once, from where it was started: a replay
hands over at the seq after the last it delivered (:meth:`Sequencer.start_at`), a live
subscription starts after the store's position at subscribe time
(:meth:`Sequencer.anchor`). Until then it only collects what arrives: the first number
that happens to arrive is no starting point (41 of process A may arrive after 42 of
process B, both numbered after the subscription). When ``n + k`` is known while ``n`` is
awaited, it holds back for :attr:`HolePolicy.hold`, then reads the store from ``n``
(what arrived meanwhile fills the hole), again with a growing pause while the hole
stays. A hole is declared (the next message carries ``gap-from``/``gap-to``) only once
its numbers can no longer appear: see :meth:`HolePolicy.final`.

Holding is bounded: at most ``buffer_limit`` messages wait in memory (beyond that they
are dropped and read again from the store, where they are persisted), and a hole lasts
at most the store's ``settle_seconds`` while the store answers. While the store cannot
be read the destination's live delivery waits (nothing is lost, nothing is skipped).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Callable, Dict, Optional, Tuple

from ..errors import StoreUnavailable
from .store import Store, StoredMessage

log = logging.getLogger("nexus_tornado.hub.sequencer")

#: A range of numbers ``(first, last)`` no message will ever carry.
Gap = Tuple[int, int]
#: Receives each message in order: ``(message, gap before it or None, numbering reset)``.
Emit = Callable[[StoredMessage, Optional[Gap], bool], None]

#: Longest pause between two reads of the store while a hole stays, seconds.
MAX_PAUSE = 1.0
#: Shortest pause between two such reads, whatever the hold (it may be 0), seconds.
MIN_PAUSE = 0.01
#: Longest a live subscription waits for the store's position before it is made
#: anyway (delivery then starts once the position is known; see anchor()), seconds.
ANCHOR_WAIT = 1.0


class HolePolicy:
    """When a hole in the numbering is final.

    ``settle``: the store's ``settle_seconds`` (how long a handed-out number may stay
    unwritten). ``hold``: how long to wait for a missing number before reading the
    store. ``skew``: how far the clocks of the processes writing one database may
    disagree (the message timestamps come from them). ``retained_below``: a function of
    a destination's newest seq giving the highest number retention has surely
    dropped (0 when none).
    """

    def __init__(
        self,
        settle: float,
        hold: float = 0.1,
        skew: float = 1.0,
        count_limit: Optional[int] = None,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.settle = float(settle)
        self.hold = float(hold)
        self.skew = float(skew)
        self.count_limit = count_limit
        self.monotonic = monotonic
        self.wall = wall

    def final(self, last: int, successor: StoredMessage, noticed: float, newest: int = 0) -> bool:
        """Whether the numbers up to ``last``, missing before ``successor``, can no
        longer appear.

        They were handed out before ``successor``'s number, which was handed out before
        the hole was ``noticed`` (monotonic time) and within ``settle`` after
        ``successor.timestamp`` (wall time, the writer's clock). An append writes its
        message or gives its number up within ``settle``. So the hole is final once
        ``settle`` has passed since it was noticed, or ``2 x settle`` (plus the clock
        skew) since ``successor`` was timestamped, or when retention by count has
        dropped those numbers already (``last <= newest - count_limit``).
        """
        if self.settle <= 0:
            return True
        if self.count_limit and newest and last <= newest - self.count_limit:
            return True
        if self.monotonic() - noticed >= self.settle:
            return True
        return self.wall() >= successor.timestamp + 2 * self.settle + self.skew


class Sequencer:
    """Orders one destination's messages for this process's live subscribers."""

    # One per subscribed destination (a user's notification queue each): no dict.
    __slots__ = (
        "destination", "store", "policy", "emit", "chunk", "buffer_limit", "next", "epoch",
        "high", "_signaled", "_low", "_pending", "_reset", "_task", "_anchoring", "_probe", "closed",
    )

    def __init__(
        self,
        destination: str,
        store: Store,
        policy: HolePolicy,
        emit: Emit,
        *,
        chunk: int = 500,
        buffer_limit: int = 10_000,
    ) -> None:
        self.destination = destination
        self.store = store
        self.policy = policy
        self.emit = emit
        self.chunk = chunk
        self.buffer_limit = buffer_limit
        #: The next number to emit; None until a hand-over or the anchor sets it.
        self.next: Optional[int] = None
        #: The epoch of the numbering being followed (None: not known yet).
        self.epoch: Optional[str] = None
        #: The highest number known to exist (stored, or about to be offered).
        self.high = 0
        #: The highest number known stored from a signal (its body is in the store).
        self._signaled = 0
        #: The lowest number that arrived before the start was known (0: none).
        self._low = 0
        self._pending: Dict[int, StoredMessage] = {}
        self._reset = False
        self._task: Optional["asyncio.Future[None]"] = None
        self._anchoring: Optional["asyncio.Future[None]"] = None
        #: A recheck asked for before the start was known: done once it is.
        self._probe = False
        self.closed = False

    # -- input ---------------------------------------------------------------------------

    def start_at(self, seq: int, epoch: Optional[str]) -> None:
        """Begin with ``seq`` (a subscriber has everything before it), if not begun."""
        if self.next is None and not self.closed:
            self.next = seq
            self.epoch = epoch or self.epoch
            self._pending = {s: m for s, m in self._pending.items() if s >= seq}
            self._advance(probe=self._probe)

    async def anchor(self) -> None:
        """Begin after the store's position, for a live subscription (if not begun).

        Returns once begun: every number handed out from then on is emitted. When the
        store cannot be read, returns after that first attempt (or ``ANCHOR_WAIT``) and
        keeps trying in the background; it then begins at the lowest number that arrived meanwhile if that
        is lower (any of those may have been handed out after this returned), so
        nothing is lost, and live delivery waits until the store answers. Several
        callers share one reading of the position.
        """
        if self.next is not None or self.closed:
            return
        if self._anchoring is None:
            self._anchoring = asyncio.get_running_loop().create_future()
            self._task = asyncio.ensure_future(self._anchor(self._anchoring))
        await asyncio.shield(self._anchoring)

    async def _anchor(self, tried: "asyncio.Future[None]") -> None:
        pause = 0.0
        try:
            while True:
                await asyncio.sleep(pause)
                reading = asyncio.ensure_future(self.store.position(self.destination))
                try:
                    if not tried.done():
                        # A subscriber waits this long at most (the read goes on).
                        await asyncio.wait([reading], timeout=ANCHOR_WAIT)
                        if not reading.done():
                            tried.set_result(None)
                    position = await reading
                    break
                except asyncio.CancelledError:
                    reading.cancel()
                    raise
                except StoreUnavailable as exc:
                    if not tried.done():
                        log.warning("%s: live delivery waits for the store: %s", self.destination, exc.log_detail)
                except Exception:
                    log.exception("%s: reading the store's position failed", self.destination)
                if not tried.done():
                    tried.set_result(None)
                pause = min(max(pause * 2, 0.1), MAX_PAUSE)
            self._task = None
            start = position.seq + 1
            if tried.done() and self._low:
                start = min(start, self._low)
            self.start_at(start, position.epoch)
        finally:
            if not tried.done():
                tried.set_result(None)

    def offer(self, message: StoredMessage) -> None:
        """A stored message, complete (no read needed)."""
        if self.closed or not self._same_epoch(message.epoch, message.seq):
            return
        seq = message.seq
        if self.next is None:
            self._low = min(self._low or seq, seq)  # kept until the start is known
        elif seq < self.next:
            return  # emitted already (its change event, or a read, came first)
        if len(self._pending) >= self.buffer_limit:
            self._pending.clear()  # all persisted: read again from the store
        self._pending[seq] = message
        self.high = max(self.high, seq)
        self._advance()

    def signal(self, seq: int, epoch: Optional[str]) -> None:
        """``seq`` is stored (a change event); its body will be read from the store."""
        if self.closed or not self._same_epoch(epoch, seq):
            return
        if self.next is None:
            self._low = min(self._low or seq, seq)
        elif seq < self.next:
            return
        self.high = max(self.high, seq)
        self._signaled = max(self._signaled, seq)
        self._advance()

    def needs(self, seq: int) -> bool:
        """Whether ``seq`` is still to be emitted (or may be: the start is not known)."""
        return not self.closed and (self.next is None or seq >= self.next)

    def recheck(self) -> None:
        """Read the store for anything newer than what was emitted (events may have
        been missed: the change stream lost its place)."""
        if self.closed:
            return
        if self.next is None:
            self._probe = True  # the store's position may be read before this
            return
        self._advance(probe=True)

    def close(self) -> None:
        self.closed = True
        self._pending.clear()
        if self._task is not None:
            self._task.cancel()
            self._task = None

    # -- ordering --------------------------------------------------------------------------

    def _same_epoch(self, epoch: Optional[str], seq: int) -> bool:
        """Follow a new epoch (the numbering started again): from its first number."""
        if not epoch or epoch == self.epoch:
            return True
        if self.epoch is None:
            self.epoch = epoch
            return True
        log.warning("%s: numbering restarted (epoch %s -> %s)", self.destination, self.epoch, epoch)
        self.epoch = epoch
        self._pending.clear()
        self.next, self.high, self._signaled = 1, 0, 0
        self._reset = True
        return True

    def _out(self, message: StoredMessage, gap: Optional[Gap]) -> None:
        reset, self._reset = self._reset, False
        assert self.next is not None
        self.next = message.seq + 1
        try:
            self.emit(message, gap, reset)
        except Exception:
            log.exception("delivery of %s seq %d failed", self.destination, message.seq)

    def _drain(self) -> None:
        while self.next is not None and self.next in self._pending:
            self._out(self._pending.pop(self.next), None)

    def _advance(self, probe: bool = False) -> None:
        self._drain()
        if self.policy.settle <= 0:
            # A store that numbers and writes in one step has no number in flight:
            # every hole is final at once.
            while self._pending and self.next is not None and self.next not in self._pending:
                first = min(self._pending)
                self._out(self._pending.pop(first), (self.next, first - 1))
                self._drain()
        waiting = self.next is not None and (self.next <= self.high or probe)
        if waiting and self._task is None and not self.closed:
            self._task = asyncio.ensure_future(self._fill(probe))

    async def _fill(self, probe: bool) -> None:
        """Read the store until every known number was emitted or declared a gap."""
        noticed: Optional[Tuple[int, float]] = None
        pause = 0.0
        try:
            while not self.closed and self.next is not None and (self.next <= self.high or probe):
                await asyncio.sleep(pause)
                self._drain()
                if self.next is None or (self.next > self.high and not probe):
                    break
                now = self.policy.monotonic()
                if noticed is None or noticed[0] != self.next:
                    noticed = (self.next, now)
                    if self._signaled < self.next and not probe:
                        pause = self.policy.hold  # it may still come by itself
                        continue
                try:
                    messages = await self.store.read_after(self.destination, self.next - 1, self.chunk)
                except StoreUnavailable as exc:
                    log.warning("%s: cannot read seq %d yet: %s", self.destination, self.next, exc.log_detail)
                    pause = min(max(pause * 2, 0.1), MAX_PAUSE)
                    continue
                probe = False
                if self._take(messages, noticed) and len(messages) >= self.chunk:
                    pause = 0.0
                    continue
                self._drain()
                if self.next is not None and self.next <= self.high:
                    if not messages and now - noticed[1] >= self.policy.settle:
                        self._give_up()
                    pause = min(max(pause * 2, self.policy.hold, MIN_PAUSE), MAX_PAUSE)
        except asyncio.CancelledError:
            pass
        finally:
            self._task = None

    def _take(self, messages: "list[StoredMessage]", noticed: Tuple[int, float]) -> bool:
        """Emit what ``messages`` (ascending, read after ``next - 1``) allow; True if
        anything was emitted. ``noticed``: since when ``noticed[0]`` has been awaited."""
        progressed = False
        for message in messages:
            if message.epoch and self.epoch and message.epoch != self.epoch:
                continue  # a leftover of another numbering
            assert self.next is not None
            if message.seq < self.next:
                continue
            if message.seq > self.next:
                # A hole further on was only just noticed (by this read).
                since = noticed[1] if self.next == noticed[0] else self.policy.monotonic()
                if not self.policy.final(message.seq - 1, message, since, max(self.high, message.seq)):
                    # Keep it for when the hole fills; read again later.
                    self.high = max(self.high, messages[-1].seq)
                    for later in messages:
                        if later.seq > self.next and len(self._pending) < self.buffer_limit:
                            self._pending.setdefault(later.seq, later)
                    return progressed
                log.info("%s: seq %d-%d will never be written", self.destination, self.next, message.seq - 1)
                self._out(message, (self.next, message.seq - 1))
            else:
                self._out(message, None)
            self.high = max(self.high, message.seq)
            progressed = True
        return progressed

    def _give_up(self) -> None:
        """Numbers were announced but the store has nothing from ``next`` on, long after
        they should have been written (retention dropped them, or the data was reset)."""
        assert self.next is not None
        if self._pending:
            first = min(self._pending)
            self._out(self._pending.pop(first), (self.next, first - 1))
            self._drain()
        else:
            self.high = self._signaled = self.next - 1
