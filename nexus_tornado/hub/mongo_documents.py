"""Documents on MongoDB: conditional appends to the message log, and snapshots.

An operation of a document is a message of its destination in ``nexus_messages``,
inserted at the ``seq`` it claims, as the store numbers every message: the unique
``(destination, seq)`` index lets exactly one of several processes take a version, and
the others get ``DuplicateKeyError`` (a lost race, :meth:`MongoDocumentStore.append_at`
answers ``None``). The newest version is the greater of the newest stored message and
the counter, the numbering's floor. An append does not write the counter: it is raised
before anything of the document is dropped (by :meth:`MongoDocumentStore._trim` for
retention by count, by ``prune`` for retention by age), and the newest operations are
never dropped by count. So an operation costs one insert (and the snapshot's write);
:class:`~nexus_tornado.hub.documents.Documents` reads the operations since the version
it has at hand in one query before it.

Snapshots live in one more collection (``collection_prefix`` + ``documents``)::

    nexus_documents  {_id: destination, text, version, epoch}

written with ``version < new version`` as the condition, so a snapshot only moves
forward whichever process writes last.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any, Dict, Mapping, Optional, Tuple

from pymongo.errors import DuplicateKeyError

from ..errors import StoreUnavailable
from .documents import DocumentStore, Snapshot
from .mongo import MongoStore
from .mongo_calls import BoundedCalls
from .mongo_codec import message_document
from .store import StoredMessage

log = logging.getLogger("nexus_tornado.hub.mongo_documents")


class MongoDocumentStore(BoundedCalls, DocumentStore):
    """The documents of one :class:`~nexus_tornado.hub.mongo.MongoStore`."""

    def __init__(self, store: MongoStore) -> None:
        super().__init__(store)
        self.mongo = store
        self.timeout = store.timeout
        prefix = store.messages.name[: -len("messages")]
        self.snapshots = store.database.get_collection(prefix + "documents")
        #: destination -> its counter's epoch (set once per numbering).
        self._epochs: Dict[str, str] = {}

    async def _epoch(self, destination: str, deadline: float) -> str:
        epoch = self._epochs.get(destination)
        if epoch is None:
            # The counter holds the numbering's epoch (created with one if missing).
            _, epoch = await self.mongo._counter(destination, deadline)
            self._epochs[destination] = epoch
        return epoch

    async def append_at(
        self, destination: str, seq: int, body: bytes, headers: Mapping[str, str]
    ) -> Optional[StoredMessage]:
        deadline = self._deadline()
        epoch = await self._epoch(destination, deadline)
        message_id = uuid.uuid4().hex
        timestamp = float(self.mongo._clock())
        body = bytes(body)
        headers = {str(k): str(v) for k, v in headers.items()}
        document = message_document(message_id, destination, seq, epoch, body, headers, timestamp)
        messages = self.mongo.messages
        try:
            await self._run(
                "insert operation",
                lambda: messages.insert_one(document),
                deadline=deadline,
                passthrough=(DuplicateKeyError,),
            )
        except DuplicateKeyError:
            return None
        except StoreUnavailable:
            # The outcome is unknown: the insert may have landed. Find out once; if
            # that fails too, the sender is told UNAVAILABLE and sends again (its opId
            # finds the operation if it did land).
            landed = await self._run("insert operation", lambda: messages.find_one({"_id": message_id}, {"_id": 1}))
            if landed is None:
                raise
            # Found rather than acknowledged: one write at the client's write concern
            # after it (raising the counter) is acknowledged only once the operation is
            # as durable; if it fails, so does the append (the opId finds it on a re-send).
            await self._raise_floor(destination, seq, deadline)
        try:
            await self._trim(destination, seq, deadline)
        except StoreUnavailable as exc:
            # Stored all the same; a later append trims past it.
            log.warning("retention of %s after %d deferred: %s", destination, seq, exc.log_detail)
        return StoredMessage(destination, seq, message_id, body, headers, timestamp, epoch)

    async def _raise_floor(self, destination: str, seq: int, deadline: float) -> None:
        await self._run(
            "raise counter",
            lambda: self.mongo.counters.update_one({"_id": destination}, {"$max": {"seq": seq}}),
            deadline=deadline,
        )

    async def _trim(self, destination: str, seq: int, deadline: float) -> None:
        """Retention by count, every hundredth of ``max_count`` versions (as the
        store's own appends do). The counter, the numbering's floor, is raised to
        ``seq`` first, so the numbering never goes back whatever is dropped."""
        max_count = self.mongo.retention.max_count
        if max_count is None or seq <= max_count or (seq - max_count) % max(1, max_count // 100):
            return
        await self._raise_floor(destination, seq, deadline)
        await self._run(
            "trim",
            lambda: self.mongo.messages.delete_many({"destination": destination, "seq": {"$lte": seq - max_count}}),
            deadline=deadline,
        )

    async def newest(self, destination: str) -> Tuple[int, Optional[str]]:
        deadline = self._deadline()
        epoch = await self._epoch(destination, deadline)
        # The greater of the counter's floor (raised before any operation is dropped)
        # and the newest operation stored (appends leave the counter behind).
        position = await self.mongo._position(destination, create=False)
        return position.seq, epoch

    async def read_snapshot(self, destination: str) -> Optional[Snapshot]:
        found = await self._run("read snapshot", lambda: self.snapshots.find_one({"_id": destination}))
        if found is None:
            return None
        return Snapshot(str(found["text"]), int(found["version"]), found.get("epoch"))

    async def write_snapshot(self, destination: str, snapshot: Snapshot) -> None:
        try:
            await self._run(
                "write snapshot",
                lambda: self.snapshots.update_one(
                    {"_id": destination, "version": {"$lt": snapshot.version}},
                    {"$set": {"text": snapshot.text, "version": snapshot.version, "epoch": snapshot.epoch}},
                    upsert=True,
                ),
                passthrough=(DuplicateKeyError,),
            )
        except DuplicateKeyError:
            pass  # a later version's snapshot is already there
