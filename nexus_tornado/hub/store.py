"""The store interface: what the hub needs from persistence, and nothing more.

A store keeps, per destination, an append-only log of messages numbered 1, 2, 3, ...
(``seq``), with no gaps, assigned atomically when the message is written. It also
remembers which messages have been *delivered* (used for the notifications of users who
were offline) and drops old messages by age and by count (retention).

Every method is a coroutine. A store that cannot do its job right now (database down,
timeout) raises :class:`~nexus_tornado.errors.StoreUnavailable`; the hub turns that into
``UNAVAILABLE`` for the sender and keeps serving everything else.

Implementations: :class:`~nexus_tornado.hub.memory.MemoryStore` (the embedded default)
and :class:`~nexus_tornado.hub.mongo.MongoStore` (motor or PyMongo's async API). One
contract suite (``tests/test_hub_store.py``) runs against each.
"""

from __future__ import annotations

import abc
import secrets
from typing import Iterable, List, Mapping, NamedTuple, Optional, Sequence, Tuple, Union

from ..errors import StoreUnavailable


def new_epoch() -> str:
    """A fresh epoch: an opaque token naming one numbering of a destination."""
    return secrets.token_hex(8)


class StoredMessage(NamedTuple):
    """One persisted message."""

    destination: str
    #: Position in the destination's log: 1, 2, 3, ... with no gaps.
    seq: int
    #: Unique id, also the STOMP ``message-id`` header.
    message_id: str
    #: The body exactly as accepted (UTF-8 JSON for the envelopes of the wire contract).
    body: bytes
    #: Headers kept with the message and delivered with it (e.g. ``content-type``).
    headers: Mapping[str, str]
    #: Seconds since the epoch when it was persisted.
    timestamp: float
    #: The destination's numbering this ``seq`` belongs to (see :class:`Position`).
    epoch: str = ""


class Position(NamedTuple):
    """Where a destination's numbering stands: the highest ``seq`` handed out and the
    epoch naming the numbering. The epoch changes whenever numbering starts again at 1
    (an in-memory store in a new process, a new database); ``None`` when the
    destination was never numbered."""

    seq: int
    epoch: Optional[str]


class Retention(NamedTuple):
    """How much history a store keeps per destination. ``None`` means no limit."""

    max_age_seconds: Optional[float] = 7 * 24 * 3600
    max_count: Optional[int] = 10_000


class Store(abc.ABC):
    """Append-only, per-destination message logs with delivery tracking."""

    #: Longest time, seconds, between a number being handed out and its message
    #: becoming readable, or the number being given up for good. A hole in the
    #: numbering younger than this may still fill; an older one never will. Zero for a
    #: store whose appends number and store in one step.
    settle_seconds: float = 0.0

    #: True if concurrent appends are numbered in the order they were called, so a
    #: caller keeps a destination's order without waiting for one append before it
    #: starts the next (and a store that batches its writes gets them all).
    ordered_appends: bool = False

    async def open(self) -> None:
        """Prepare for use (connect, create indexes). Called once before anything else."""

    async def close(self) -> None:
        """Release resources. Idempotent."""

    async def probe(self) -> None:
        """Check that the store can take a write now (the readiness check); raise
        ``StoreUnavailable`` if not. A store in this process's memory always can."""

    @abc.abstractmethod
    async def append(
        self, destination: str, body: bytes, headers: Mapping[str, str]
    ) -> StoredMessage:
        """Persist one message and return it with its newly assigned ``seq``.

        Returning means the write is acknowledged (durable as far as the store goes).
        """

    async def append_many(
        self, messages: Sequence[Tuple[str, bytes, Mapping[str, str]]]
    ) -> List[Union[StoredMessage, StoreUnavailable]]:
        """Persist several ``(destination, body, headers)`` messages, numbered in the
        order given; return each one's outcome, in that order: the stored message, or
        the :class:`~nexus_tornado.errors.StoreUnavailable` that kept it out.

        The same promises as :meth:`append` for each. A store that batches its writes
        takes them all at once (one command for all where it can); this default
        appends them one after the other.
        """
        outcomes: List[Union[StoredMessage, StoreUnavailable]] = []
        for destination, body, headers in messages:
            try:
                outcomes.append(await self.append(destination, body, headers))
            except StoreUnavailable as exc:
                outcomes.append(exc)
        return outcomes

    @abc.abstractmethod
    async def read_after(
        self, destination: str, after_seq: int, limit: int
    ) -> List[StoredMessage]:
        """Retained messages of ``destination`` with ``seq > after_seq``, ascending,
        at most ``limit`` of them."""

    @abc.abstractmethod
    async def last_seq(self, destination: str) -> int:
        """The highest ``seq`` ever assigned in ``destination`` (0 if none), including
        messages retention has since dropped."""

    @abc.abstractmethod
    async def position(self, destination: str) -> Position:
        """The destination's :class:`Position`: ``last_seq`` and its epoch."""

    @abc.abstractmethod
    async def first_seq(self, destination: str) -> Optional[int]:
        """The lowest retained ``seq`` of ``destination``, or ``None`` if none is retained."""

    @abc.abstractmethod
    async def mark_delivered(self, destination: str, seqs: Iterable[int]) -> None:
        """Record that these messages of ``destination`` reached their recipient."""

    @abc.abstractmethod
    async def read_undelivered(
        self, destination: str, limit: int
    ) -> List[StoredMessage]:
        """Retained messages of ``destination`` not yet marked delivered, ascending."""

    @abc.abstractmethod
    async def is_delivered(self, destination: str, seq: int) -> Optional[bool]:
        """Whether that message was delivered; ``None`` if no such message is retained."""

    @abc.abstractmethod
    async def prune(self) -> int:
        """Apply retention now; return how many messages were dropped."""
