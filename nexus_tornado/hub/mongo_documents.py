"""Documents on MongoDB: conditional appends to the message log, and snapshots.

An operation of a document is a message of its destination in ``nexus_messages``,
inserted at the ``seq`` it claims: the unique ``(destination, seq)`` index lets exactly
one of several processes take a version, and the others get ``DuplicateKeyError`` (a
lost race, :meth:`MongoDocumentStore.append_at` answers ``None``). After the insert the
destination's counter is raised to that ``seq`` (``$max``) so that replay, positions
and the rest of the hub see the same numbering; the newest version is read from the
messages themselves, so a counter that lags for a moment misleads no one.

Snapshots live in one more collection (``collection_prefix`` + ``documents``)::

    nexus_documents  {_id: destination, text, version, epoch}

written with ``version < new version`` as the condition, so a snapshot only moves
forward whichever process writes last.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any, Dict, Mapping, Optional, Tuple

from bson.binary import Binary
from pymongo.errors import DuplicateKeyError

from ..errors import StoreUnavailable
from .documents import DocumentStore, Snapshot
from .mongo import MongoStore
from .mongo_calls import BoundedCalls
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
        if epoch is not None:
            return epoch
        counters = self.mongo.counters
        counter = await self._run(
            "read counter", lambda: counters.find_one({"_id": destination}), deadline=deadline
        )
        if counter is None or not counter.get("epoch"):
            try:
                await self._run(
                    "create counter",
                    lambda: counters.update_one({"_id": destination}, {"$max": {"seq": 0}}, upsert=True),
                    deadline=deadline,
                    passthrough=(DuplicateKeyError,),
                )
            except DuplicateKeyError:
                pass  # another process created it first
            epoch = await self.mongo._ensure_epoch(destination, deadline)
        else:
            epoch = str(counter["epoch"])
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
        self.mongo._check_storable(destination, body, headers, message_id, timestamp)
        document: Dict[str, Any] = {
            "_id": message_id,
            "destination": destination,
            "seq": seq,
            "epoch": epoch,
            "body": Binary(body),
            "headers": headers,
            "timestamp": timestamp,
            "delivered": False,
        }
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
        try:
            await self._run(
                "raise counter",
                lambda: self.mongo.counters.update_one({"_id": destination}, {"$max": {"seq": seq}}),
                deadline=deadline,
            )
        except StoreUnavailable as exc:
            # Stored all the same; the next append raises the counter past it.
            log.warning("counter of %s not raised to %d: %s", destination, seq, exc.log_detail)
        await self.mongo._trim(destination, seq)
        return StoredMessage(destination, seq, message_id, body, headers, timestamp, epoch)

    async def newest(self, destination: str) -> Tuple[int, Optional[str]]:
        deadline = self._deadline()
        epoch = await self._epoch(destination, deadline)
        found = await self._run(
            "newest operation",
            lambda: self.mongo.messages.find({"destination": destination}, {"seq": 1})
            .sort("seq", -1)
            .limit(1)
            .to_list(length=1),
            deadline=deadline,
        )
        counted = await self.mongo.last_seq(destination) if not found else 0
        return max(int(found[0]["seq"]) if found else 0, counted), epoch

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
