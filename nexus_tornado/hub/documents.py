"""Shared plain-text documents: operations ordered by the destination's ``seq``.

A document lives at ``/topic/doc/{docId}``. Its log is the destination's own log: every
message is one ``DOC_OP`` whose ``seq`` is the version it creates (version 0 is the
empty text). A client sends an operation together with the version it was made on; the
server transforms it against every operation stored since (each of those goes first
where both insert at one place), applies it to the current text, and appends the result
*at* the next version, on the condition that no one took that version meanwhile. When
another process did, the append is refused, and the submission starts again from the
new current version; so however many processes accept operations on one document,
there is one history. The result is broadcast like any stored message; the sender
recognizes it by its ``opId``.

A process keeps the text of the documents it used last; with it, one read of the log
(from the older of that version and the operation's own) brings both the operations to
transform against and those stored elsewhere since, and tells the newest version (see
:meth:`Documents._read_on` for why a version retention dropped is never taken again).

Each document also has a snapshot: its text at some version (written after every
append; a snapshot only moves forward), so that a joining client reads the text rather
than the whole history, and retention may drop old operations without losing the
document. The current text is the snapshot with the operations after it applied.

An ``opId`` makes a re-send harmless: when an operation with the same ``opId`` and
sender is already among the operations after the version it names, that stored one is
the answer and nothing new is stored (a client that lost its connection before its
acknowledgement sends again; the operation is applied once).

Persistence beside the log (:class:`DocumentStore`): ``append_at`` (a conditional
append) and the snapshots. :class:`MemoryDocumentStore` wraps the in-memory store;
``hub/mongo_documents.py`` the MongoDB one.
"""

from __future__ import annotations

import abc
import asyncio
import collections
import json
import logging
from typing import Any, Dict, List, Mapping, NamedTuple, Optional, Tuple

from ..errors import Rejection, RejectionCode, StoreUnavailable
from ..ot import OperationError, TextOperation, transform
from ..policy.destinations import DOC, DestinationPattern
from .hub import Hub
from .memory import MemoryStore
from .store import Store, StoredMessage

log = logging.getLogger("nexus_tornado.hub.documents")

#: The message type of an operation, in SEND bodies and in the log.
DOC_OP = "DOC_OP"
#: The message type of the snapshot a subscriber receives first.
DOC_SNAPSHOT = "DOC_SNAPSHOT"

_DOC = DestinationPattern(DOC)


def is_document(destination: str) -> bool:
    """True for a ``/topic/doc/{docId}`` destination."""
    return _DOC.match(destination) is not None


def refuse_publish(destination: str) -> None:
    """Refuse a message published to a document other than through :class:`Documents`
    (a host's publish, a backend service's): it would take a version without being an
    operation, and every editor would have to read the document again."""
    if is_document(destination):
        raise Rejection(
            RejectionCode.INVALID_MESSAGE,
            "a shared document changes only through DOC_OP operations of its editors",
            {"destination": destination},
        )


#: How many times one submission starts again after losing a version to another
#: process before the sender is told to try later (each lost race is someone else's
#: progress, so this bounds only a submission, never the document).
MAX_ATTEMPTS = 50

#: Documents whose current text a process keeps at hand (least recently used dropped).
CACHED_DOCUMENTS = 64


class Snapshot(NamedTuple):
    """A document's text at ``version``, in the numbering ``epoch``."""

    text: str
    version: int
    epoch: Optional[str] = None


class DocumentStore(abc.ABC):
    """What documents need of persistence beside the message log."""

    def __init__(self, store: Store) -> None:
        #: The message log the operations live in.
        self.store = store

    @abc.abstractmethod
    async def append_at(
        self, destination: str, seq: int, body: bytes, headers: Mapping[str, str]
    ) -> Optional[StoredMessage]:
        """Store a message at exactly ``seq`` if that is the destination's next number;
        ``None`` (nothing stored) when another message has taken it."""

    async def read_after(self, destination: str, seq: int, limit: int) -> List[StoredMessage]:
        """The log's messages after ``seq``, oldest first, at most ``limit`` (one read)."""
        return await self.store.read_after(destination, seq, limit)

    @abc.abstractmethod
    async def newest(self, destination: str) -> Tuple[int, Optional[str]]:
        """The destination's newest ``seq`` (0 for none) and its epoch."""

    @abc.abstractmethod
    async def read_snapshot(self, destination: str) -> Optional[Snapshot]:
        """The stored snapshot, or ``None`` when the document was never written."""

    @abc.abstractmethod
    async def write_snapshot(self, destination: str, snapshot: Snapshot) -> None:
        """Keep ``snapshot`` unless a snapshot of a later version is already kept."""


class MemoryDocumentStore(DocumentStore):
    """Documents in a :class:`~nexus_tornado.hub.memory.MemoryStore`'s process."""

    def __init__(self, store: MemoryStore) -> None:
        super().__init__(store)
        self._memory = store
        self._snapshots: Dict[str, Snapshot] = {}

    async def append_at(
        self, destination: str, seq: int, body: bytes, headers: Mapping[str, str]
    ) -> Optional[StoredMessage]:
        # MemoryStore.append never suspends: the check and the append are one step.
        if await self._memory.last_seq(destination) != seq - 1:
            return None
        return await self._memory.append(destination, body, headers)

    async def newest(self, destination: str) -> Tuple[int, Optional[str]]:
        position = await self._memory.position(destination)
        return position.seq, position.epoch

    async def read_snapshot(self, destination: str) -> Optional[Snapshot]:
        return self._snapshots.get(destination)

    async def write_snapshot(self, destination: str, snapshot: Snapshot) -> None:
        kept = self._snapshots.get(destination)
        if kept is None or kept.version < snapshot.version:
            self._snapshots[destination] = snapshot


def document_store_for(store: Store) -> Optional[DocumentStore]:
    """The :class:`DocumentStore` of a message store, ``None`` for a store that keeps
    no documents (a host's own :class:`~nexus_tornado.hub.store.Store`)."""
    if isinstance(store, MemoryStore):
        return MemoryDocumentStore(store)
    from .mongo import MongoStore  # only the Mongo modules import the driver

    if isinstance(store, MongoStore):
        from .mongo_documents import MongoDocumentStore

        return MongoDocumentStore(store)
    return None


class StoredOp(NamedTuple):
    """One operation of the log, read back."""

    message: StoredMessage
    op: TextOperation
    op_id: str
    sender: str


def parse_op(message: StoredMessage) -> StoredOp:
    """The operation a ``DOC_OP`` message of the log carries."""
    envelope = json.loads(message.body)
    payload = envelope["payload"]
    return StoredOp(
        message,
        TextOperation.from_json(payload["op"]),
        str(payload.get("opId", "")),
        str(envelope.get("senderId", "")),
    )


class Documents:
    """Accepts operations on documents and answers what a joining client needs.

    ``max_length``: most code points a document may hold. ``max_components``: most
    components one operation may have. ``max_behind``: most versions an operation may
    be behind the document (the stored operations it must be transformed against).
    """

    def __init__(
        self,
        hub: Hub,
        store: DocumentStore,
        *,
        max_length: int,
        max_components: int,
        max_behind: int = 1000,
    ) -> None:
        self.hub = hub
        self.store = store
        self.max_length = max_length
        self.max_components = max_components
        self.max_behind = max_behind
        self._locks: Dict[str, Tuple[asyncio.Lock, List[int]]] = {}
        #: destination -> the current text as last seen here (a cache).
        self._texts: "collections.OrderedDict[str, Snapshot]" = collections.OrderedDict()
        #: Operations stored by this process, and submissions answered from the log
        #: (a re-sent operation found already stored).
        self.accepted = 0
        self.duplicates = 0
        self.conflicts = 0

    # -- reading ----------------------------------------------------------------------

    async def snapshot(self, destination: str) -> Snapshot:
        """The document's current text and version (the text is empty at version 0)."""
        seq, epoch = await self.store.newest(destination)
        cached = self._texts.get(destination)
        if cached is not None and (cached.epoch != epoch or cached.version > seq):
            cached = None
        if cached is None or cached.version < seq:
            # The stored snapshot when it is later than the text at hand (whose next
            # operations retention may have dropped).
            kept = await self.store.read_snapshot(destination)
            if (
                kept is not None and kept.epoch == epoch and kept.version <= seq
                and (cached is None or kept.version > cached.version)
            ):
                cached = kept
        if cached is None:
            cached = Snapshot("", 0, epoch)
        if cached.version < seq:
            text = cached.text
            for stored in await self._ops_after(destination, cached.version, seq):
                text = stored.op.apply(text)
            cached = Snapshot(text, seq, epoch)
        self._remember(destination, cached)
        return cached

    async def _ops_after(self, destination: str, version: int, newest: int) -> List[StoredOp]:
        """The operations after ``version`` up to ``newest``, all of them, or a refusal."""
        wanted = newest - version
        messages: List[StoredMessage] = []
        while len(messages) < wanted:
            after = version + len(messages)
            chunk = await self.store.read_after(destination, after, min(wanted - len(messages), 1000))
            if not chunk or chunk[0].seq != after + 1:
                raise Rejection(
                    RejectionCode.INVALID_MESSAGE,
                    "version %d of this document is no longer kept; subscribe again for the current text"
                    % version,
                    {"destination": destination, "version": version},
                )
            for message in chunk:
                if message.seq > newest:
                    break
                if message.seq != version + len(messages) + 1:
                    # Conditional appends leave no hole; one here is damage to the log.
                    raise StoreUnavailable(
                        "document history unreadable",
                        log_detail="%s: seq %d follows %d" % (destination, message.seq, version + len(messages)),
                    )
                messages.append(message)
        return [parse_op(message) for message in messages]

    def _remember(self, destination: str, snapshot: Snapshot) -> None:
        self._texts[destination] = snapshot
        self._texts.move_to_end(destination)
        while len(self._texts) > CACHED_DOCUMENTS:
            self._texts.popitem(last=False)

    async def _read_on(self, destination: str, base: int) -> Optional[Tuple[Snapshot, List[StoredOp]]]:
        """The current text and the operations after ``base`` from one read of the log,
        when this process has the text of some version at hand: the read starts at the
        older of ``base`` and that version, and goes to the newest operation.

        The first operation read must be the one of that version itself: retention drops
        the oldest operations first, so while it is stored every later one is too, and
        the last one read is the newest (no version a retention dropped can then be taken
        again). ``None`` when this cannot be told so (nothing cached, version 0, the
        operation gone, a gap, another numbering, too far apart): the caller reads the
        newest version, the snapshot and the operations one by one instead.
        """
        cached = self._texts.get(destination)
        if cached is None:
            return None
        start = min(base, cached.version)
        if start < 1 or abs(base - cached.version) > self.max_behind:
            return None
        limit = max(base, cached.version) - start + self.max_behind + 2
        messages = await self.store.read_after(destination, start - 1, limit)
        if not messages or len(messages) >= limit:
            return None
        for offset, message in enumerate(messages):
            if message.seq != start + offset or message.epoch != cached.epoch:
                return None
        newest = messages[-1].seq
        if newest < cached.version:
            return None
        operations = [parse_op(message) for message in messages[1:]]
        text = cached.text
        for stored in operations:
            if stored.message.seq > cached.version:
                text = stored.op.apply(text)
        current = Snapshot(text, newest, cached.epoch)
        self._remember(destination, current)
        return current, [stored for stored in operations if stored.message.seq > base]

    def _check_base(self, destination: str, base: int, current: Snapshot) -> None:
        """Refuse an operation made on a version not reached yet or too far behind."""
        if base > current.version:
            raise Rejection(
                RejectionCode.INVALID_MESSAGE,
                "version %d is ahead of the document (at version %d)" % (base, current.version),
                {"destination": destination, "version": base, "current": current.version},
            )
        if current.version - base > self.max_behind:
            raise Rejection(
                RejectionCode.INVALID_MESSAGE,
                "version %d is more than %d versions behind the document (at version %d); "
                "subscribe again for the current text" % (base, self.max_behind, current.version),
                {"destination": destination, "version": base, "current": current.version},
            )

    # -- writing ----------------------------------------------------------------------

    async def submit(
        self,
        destination: str,
        envelope: Mapping[str, Any],
        headers: Optional[Mapping[str, str]] = None,
    ) -> StoredMessage:
        """Store a validated ``DOC_OP`` envelope's operation as the next version.

        Returns the stored message (the one already stored, for a re-send). Raises
        :class:`~nexus_tornado.errors.Rejection` for an operation that does not fit
        (``INVALID_MESSAGE``: garbage, another length, a version not kept or not yet
        reached; ``TOO_LARGE``: over a limit) and ``StoreUnavailable``; nothing is
        stored then.
        """
        payload = envelope["payload"]
        sender = str(envelope.get("senderId", ""))
        op_id = str(payload["opId"])
        base = int(payload["version"])
        if base < 0:
            raise Rejection(
                RejectionCode.INVALID_MESSAGE, "version must be 0 or more", {"destination": destination}
            )
        try:
            operation = TextOperation.from_json(payload["op"], max_components=self.max_components)
        except OperationError as error:
            if "at most" in error.message:
                raise Rejection(RejectionCode.TOO_LARGE, error.message, {"destination": destination}) from None
            error.details["destination"] = destination
            raise
        lock = self._lock(destination)
        try:
            async with lock[0]:
                return await self._submit(destination, envelope, headers or {}, operation, base, op_id, sender)
        finally:
            lock[1][0] -= 1
            if not lock[1][0]:
                self._locks.pop(destination, None)

    def _lock(self, destination: str) -> Tuple[asyncio.Lock, List[int]]:
        # One submission at a time per document in this process: they would only
        # race each other for the same version.
        lock = self._locks.get(destination)
        if lock is None:
            lock = self._locks[destination] = (asyncio.Lock(), [0])
        lock[1][0] += 1
        return lock

    async def _submit(
        self,
        destination: str,
        envelope: Mapping[str, Any],
        headers: Mapping[str, str],
        operation: TextOperation,
        base: int,
        op_id: str,
        sender: str,
    ) -> StoredMessage:
        for _ in range(MAX_ATTEMPTS):
            found = await self._read_on(destination, base)
            if found is None:
                current = await self.snapshot(destination)
                self._check_base(destination, base, current)
                concurrent = await self._ops_after(destination, base, current.version)
            else:
                current, concurrent = found
                self._check_base(destination, base, current)
            for stored in concurrent:
                if stored.op_id == op_id and stored.sender == sender:
                    self.duplicates += 1
                    return stored.message
            moved = operation
            for stored in concurrent:
                _, moved = transform(stored.op, moved)
            try:
                text = moved.apply(current.text)
            except OperationError as error:
                error.details["destination"] = destination
                raise
            if len(text) > self.max_length:
                raise Rejection(
                    RejectionCode.TOO_LARGE,
                    "the document would hold %d code points; at most %d" % (len(text), self.max_length),
                    {"destination": destination, "maxLength": self.max_length},
                )
            stored_envelope = dict(envelope)
            stored_envelope["payload"] = dict(envelope["payload"], op=moved.to_json(), version=current.version)
            body = json.dumps(stored_envelope, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
            version = current.version + 1
            message = await self.store.append_at(destination, version, body, headers)
            if message is None:
                self.conflicts += 1
                continue  # another process took that version: start again from it
            self._remember(destination, Snapshot(text, version, message.epoch))
            try:
                await self.store.write_snapshot(destination, Snapshot(text, version, message.epoch))
            except StoreUnavailable as exc:
                # The operation is stored; the next one writes a later snapshot.
                log.warning("snapshot of %s at %d not written: %s", destination, version, exc.log_detail)
            self.hub.broadcast(message)
            self.accepted += 1
            stats = self.hub.stats
            stats.published += 1
            stats.by_destination[destination] = stats.by_destination.get(destination, 0) + 1
            return message
        raise Rejection(
            RejectionCode.UNAVAILABLE,
            "the document is changing too fast to take this operation now; send it again",
            {"destination": destination},
        )
