"""The embedded default store: per-destination logs in process memory.

Nothing survives a restart; production runs on MongoDB. Retention bounds memory: each
destination keeps at most ``retention.max_count`` messages, none older than
``retention.max_age_seconds``, and all destinations together hold at most ``max_bytes``
(``Settings.memory_store_bytes``): past it the oldest messages of the whole store go
first, whichever destination they belong to. A replay then reports them as a gap, like
any message retention dropped.
"""

from __future__ import annotations

import collections
import itertools
import time
import uuid
from typing import Callable, Deque, Dict, Iterable, List, Mapping, Optional, Set, Tuple

from .store import Position, Retention, Store, StoredMessage, new_epoch

#: Bytes charged for one message beyond its body, headers and destination: the tuple,
#: its id and timestamp, the deque slot (measured with tracemalloc: about 400).
MESSAGE_OVERHEAD = 512


def message_bytes(message: StoredMessage) -> int:
    """What one stored message counts against ``max_bytes``."""
    headers = sum(len(name) + len(value) for name, value in message.headers.items())
    return len(message.body) + headers + len(message.destination) + MESSAGE_OVERHEAD


class _Log:
    __slots__ = ("messages", "last_seq", "delivered")

    def __init__(self) -> None:
        self.messages: Deque[StoredMessage] = collections.deque()
        self.last_seq = 0
        self.delivered: Set[int] = set()


class MemoryStore(Store):
    """Keeps every destination's log in a deque; ``seq`` comes from a counter.

    Its numbering starts again at 1 in every new store (every process start), so each
    store has an epoch of its own, shared by all its destinations.
    """

    def __init__(
        self,
        retention: Retention = Retention(),
        clock: Callable[[], float] = time.time,
        max_bytes: Optional[int] = None,
    ) -> None:
        self.retention = retention
        self._clock = clock
        self._logs: Dict[str, _Log] = {}
        #: The most bytes (:func:`message_bytes`) all destinations may hold; None: no bound.
        self.max_bytes = max_bytes
        #: What the retained messages count now.
        self.bytes_held = 0
        self._retained = 0
        #: (log, seq, bytes) of every message in the order it was stored, oldest first;
        #: entries of messages retention dropped meanwhile are skipped (and compacted).
        self._order: Deque[Tuple[_Log, int, int]] = collections.deque()
        self.epoch = new_epoch()
        # Message ids: 32 hex digits like a UUID's, a random half per store and a
        # counter (uuid4() per message was a noticeable share of a publish).
        self._id_prefix = uuid.uuid4().hex[:16]
        self._ids = itertools.count(1)

    def _log(self, destination: str) -> _Log:
        log = self._logs.get(destination)
        if log is None:
            log = self._logs[destination] = _Log()
        return log

    async def append(
        self, destination: str, body: bytes, headers: Mapping[str, str]
    ) -> StoredMessage:
        log = self._log(destination)
        log.last_seq += 1
        message = StoredMessage(
            destination,
            log.last_seq,
            "%s%016x" % (self._id_prefix, next(self._ids)),
            bytes(body),
            dict(headers),
            self._clock(),
            self.epoch,
        )
        log.messages.append(message)
        size = message_bytes(message)
        self.bytes_held += size
        self._retained += 1
        self._order.append((log, message.seq, size))
        max_count = self.retention.max_count
        if max_count is not None:
            while len(log.messages) > max_count:
                self._drop_oldest(log)
        if self.max_bytes is not None:
            self._within_bytes(self.max_bytes)
        if len(self._order) > 2 * self._retained + 1024:
            self._order = collections.deque(
                entry for entry in self._order if entry[0].messages and entry[1] >= entry[0].messages[0].seq
            )
        return message

    def _within_bytes(self, limit: int) -> None:
        """Drop the oldest messages of the whole store until it holds ``limit`` bytes."""
        order = self._order
        while self.bytes_held > limit and order:
            log, seq, _ = order.popleft()
            if log.messages and log.messages[0].seq == seq:
                self._drop_oldest(log)

    def _drop_oldest(self, log: _Log) -> None:
        dropped = log.messages.popleft()
        log.delivered.discard(dropped.seq)
        self.bytes_held -= message_bytes(dropped)
        self._retained -= 1

    async def read_after(
        self, destination: str, after_seq: int, limit: int
    ) -> List[StoredMessage]:
        log = self._logs.get(destination)
        if log is None or not log.messages or limit <= 0:
            return []
        first = log.messages[0].seq
        start = max(0, after_seq + 1 - first)
        stop = min(len(log.messages), start + limit)
        return [log.messages[i] for i in range(start, stop)]

    async def last_seq(self, destination: str) -> int:
        log = self._logs.get(destination)
        return log.last_seq if log else 0

    async def position(self, destination: str) -> Position:
        return Position(await self.last_seq(destination), self.epoch)

    async def first_seq(self, destination: str) -> Optional[int]:
        log = self._logs.get(destination)
        return log.messages[0].seq if log and log.messages else None

    async def mark_delivered(self, destination: str, seqs: Iterable[int]) -> None:
        log = self._logs.get(destination)
        if log is None or not log.messages:
            return
        first, last = log.messages[0].seq, log.messages[-1].seq
        log.delivered.update(s for s in seqs if first <= s <= last)

    async def read_undelivered(
        self, destination: str, limit: int
    ) -> List[StoredMessage]:
        log = self._logs.get(destination)
        if log is None:
            return []
        out: List[StoredMessage] = []
        for message in log.messages:
            if len(out) >= limit:
                break
            if message.seq not in log.delivered:
                out.append(message)
        return out

    async def is_delivered(self, destination: str, seq: int) -> Optional[bool]:
        log = self._logs.get(destination)
        if log is None or not log.messages:
            return None
        if not log.messages[0].seq <= seq <= log.messages[-1].seq:
            return None
        return seq in log.delivered

    async def prune(self) -> int:
        max_age = self.retention.max_age_seconds
        if max_age is None:
            return 0
        horizon = self._clock() - max_age
        dropped = 0
        for log in self._logs.values():
            while log.messages and log.messages[0].timestamp < horizon:
                self._drop_oldest(log)
                dropped += 1
        return dropped
