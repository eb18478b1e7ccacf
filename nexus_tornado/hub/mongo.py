"""The MongoDB store: per-destination logs in two collections, shared by processes.

Works with an asynchronous database of either driver: motor's
``AsyncIOMotorDatabase`` or PyMongo's ``AsyncMongoClient(...)[name]`` (pymongo>=4.9;
motor is past its end of life). Both offer awaitable collection methods and cursors
with ``to_list``; the few places where they differ (closing the client) are handled by
duck typing, so this module imports no motor.

Collections (``collection_prefix`` defaults to ``nexus_``)::

    nexus_messages  {_id: message_id, destination, seq, body: Binary, headers: {...},
                     timestamp: float seconds, delivered: bool}
                    unique (destination, seq); (destination, delivered, seq); (timestamp)
    nexus_counters  {_id: destination, seq: highest seq ever allocated,
                     epoch: the numbering's epoch, set with the first number}

Sequence numbers come from the counter document: one atomic ``$inc`` (upserting the
counter) hands out each number, so several server processes sharing one database never
hand out the same one. The counter survives retention, which keeps ``last_seq`` right.

Gaps: a number is allocated before its message is inserted. If the insert fails, it is
retried with the *same* number and ``_id`` until the time budget runs out (the unique
indexes make a retry of an insert that did land harmless). If it still fails, the
number is given back with a compare-and-set on the counter (``{_id, seq: n}`` →
``$inc: -1``), which succeeds unless another append allocated after it. A number is
lost (a gap) only when the database fails between the allocation and both the insert
and the give-back, or when a later append already took the next number; see
docs/storage.md.

Every operation runs under ``pymongo.timeout(timeout)`` (the driver's own deadline,
also honoured by motor's worker threads) inside ``asyncio.wait_for`` with a little more
time, and every driver error becomes :class:`~nexus_tornado.errors.StoreUnavailable`.
When MongoDB comes back, the driver reconnects by itself.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import socket
import time
import uuid
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Tuple

import bson
from bson.binary import Binary
from bson.errors import BSONError
import pymongo
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from ..errors import ConfigError, StoreUnavailable
from .mongo_calls import GRACE, UNAVAILABLE, BoundedCalls, awaitable, check_options, check_uri_options, close_client
from .store import Position, Retention, Store, StoredMessage, new_epoch

log = logging.getLogger("nexus_tornado.hub.mongo")

#: How many seqs one ``update_many`` marks delivered at most.
_MARK_CHUNK = 1000

#: The largest document MongoDB stores (its default ``maxBsonObjectSize``).
_MAX_DOCUMENT = 16 * 1024 * 1024

_UNAVAILABLE = UNAVAILABLE


class MongoStore(BoundedCalls, Store):
    """A :class:`~nexus_tornado.hub.store.Store` on MongoDB (motor or PyMongo async).

    ``timeout`` (seconds) bounds each method; ``append`` may take up to twice as
    long (after a failed insert it spends up to ``timeout`` more giving its seq back,
    after a successful one applying retention by count), and ``open`` gives each of
    its steps ``timeout`` of its own. ``clock`` gives message timestamps and the age horizon of ``prune``.
    """

    def __init__(
        self,
        database: Any,
        *,
        collection_prefix: str = "nexus_",
        retention: Retention = Retention(),
        timeout: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        check_options(collection_prefix, timeout)
        if not callable(getattr(database, "get_collection", None)):
            raise ConfigError(
                "MongoStore needs a motor or PyMongo async database, got %r"
                % (type(database).__name__,)
            )
        self.database = database
        self.retention = retention
        self.timeout = float(timeout)
        #: An append that numbered its message writes it, or gives up, within this.
        self.settle_seconds = 2 * self.timeout + 2 * GRACE
        self._clock = clock
        self.messages = database.get_collection(collection_prefix + "messages")
        self.counters = database.get_collection(collection_prefix + "counters")
        #: One document per probing process: the readiness check writes it.
        self.health = database.get_collection(collection_prefix + "health")
        self._probe_id = "%s-%s" % (socket.gethostname(), uuid.uuid4().hex[:8])
        #: Set by :meth:`from_uri`: a client this store created and so must close.
        self._owned_client: Any = None
        #: Destination -> highest seq whose retention by count failed; see prune().
        self._untrimmed: Dict[str, int] = {}

    @classmethod
    def from_uri(
        cls,
        uri: str,
        database_name: Optional[str] = None,
        *,
        client_class: Optional[Callable[..., Any]] = None,
        collection_prefix: str = "nexus_",
        retention: Retention = Retention(),
        timeout: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> "MongoStore":
        """Create a client for ``uri`` and a store on one of its databases.

        ``database_name`` defaults to the database named in the URI, else ``nexus``.
        ``client_class`` defaults to motor's ``AsyncIOMotorClient``; pass
        ``pymongo.AsyncMongoClient`` to use PyMongo's own async API. Server selection
        and connecting give up after ``timeout``. :meth:`close` closes the client. A URI
        option the driver does not know or cannot take is a ``ConfigError`` (the
        driver would only warn and go on without it).
        """
        check_options(collection_prefix, timeout)
        check_uri_options(uri)
        if client_class is None:
            from motor.motor_asyncio import AsyncIOMotorClient

            client_class = AsyncIOMotorClient
        millis = int(timeout * 1000)
        try:
            client: Any = client_class(
                uri,
                serverSelectionTimeoutMS=millis,
                connectTimeoutMS=millis,
                appname="nexus-tornado",
            )
        except (pymongo.errors.ConfigurationError, ValueError) as exc:
            # InvalidURI is a ConfigurationError; a bad option value is a ValueError.
            raise ConfigError("mongo_uri: %s" % (exc,)) from None
        if database_name is None:
            database = client.get_default_database("nexus")
        else:
            database = client.get_database(database_name)
        store = cls(
            database,
            collection_prefix=collection_prefix,
            retention=retention,
            timeout=timeout,
            clock=clock,
        )
        store._owned_client = client
        return store

    # -- life cycle -----------------------------------------------------------------

    async def open(self) -> None:
        """Check that the database answers and create the indexes (idempotent)."""
        await self._run("ping", lambda: awaitable(self.database.command("ping")))
        await self._run(
            "create indexes",
            lambda: self.messages.create_index(
                [("destination", 1), ("seq", 1)], unique=True, name="destination_seq"
            ),
        )
        # Equality on destination and delivered, then ordered by seq: read_undelivered.
        await self._run(
            "create indexes",
            lambda: self.messages.create_index(
                [("destination", 1), ("delivered", 1), ("seq", 1)],
                name="destination_delivered_seq",
            ),
        )
        # Retention by age deletes across destinations by timestamp.
        await self._run(
            "create indexes",
            lambda: self.messages.create_index([("timestamp", 1)], name="timestamp"),
        )

    async def probe(self) -> None:
        """Write this process's document in the health collection (so a primary must
        answer); ``StoreUnavailable`` when the write does not land within ``timeout``."""
        await self._run(
            "probe",
            lambda: self.health.update_one(
                {"_id": self._probe_id}, {"$set": {"at": self._clock()}}, upsert=True
            ),
        )

    async def close(self) -> None:
        """Close the client if :meth:`from_uri` created it; a given database is left
        open for its owner."""
        client, self._owned_client = self._owned_client, None
        if client is not None:
            await close_client(client)

    # -- the interface ----------------------------------------------------------------

    async def append(
        self, destination: str, body: bytes, headers: Mapping[str, str]
    ) -> StoredMessage:
        """Allocate a seq and insert the message (see the module docstring on gaps).

        Shielded from cancellation: a caller that is cancelled (say, its connection
        closed) does not abandon a seq between allocation and insert; the append runs
        to its bounded end and its outcome is only logged.
        """
        task = asyncio.ensure_future(self._append(destination, body, headers))
        task.add_done_callback(_log_abandoned)
        return await asyncio.shield(task)

    async def _append(
        self, destination: str, body: bytes, headers: Mapping[str, str]
    ) -> StoredMessage:
        deadline = self._deadline()
        message_id = uuid.uuid4().hex
        timestamp = float(self._clock())
        body = bytes(body)
        headers = {str(k): str(v) for k, v in headers.items()}
        self._check_storable(destination, body, headers, message_id, timestamp)
        while True:
            seq, epoch = await self._allocate(destination, deadline)
            document = {
                "_id": message_id,
                "destination": destination,
                "seq": seq,
                "epoch": epoch,
                "body": Binary(body),
                "headers": headers,
                "timestamp": timestamp,
                "delivered": False,
            }
            try:
                landed = await self._insert(document, deadline)
            except StoreUnavailable:
                if await self._give_back(destination, seq, message_id):
                    break  # the insert had landed after all
                raise
            if landed:
                break
            # (destination, seq) belongs to another message: the counter is behind the
            # messages (say, the counters collection was dropped). Catch it up, retry.
            await self._catch_up_counter(destination, deadline)
        await self._trim(destination, seq)
        return StoredMessage(destination, seq, message_id, body, headers, timestamp, epoch)

    async def read_after(
        self, destination: str, after_seq: int, limit: int
    ) -> List[StoredMessage]:
        if limit <= 0:
            return []
        documents = await self._run(
            "read_after",
            lambda: self.messages.find({"destination": destination, "seq": {"$gt": after_seq}})
            .sort("seq", 1)
            .limit(limit)
            .to_list(length=limit),
        )
        return [_to_message(d) for d in documents]

    async def last_seq(self, destination: str) -> int:
        counter = await self._run(
            "last_seq", lambda: self.counters.find_one({"_id": destination})
        )
        return int(counter["seq"]) if counter else 0

    async def position(self, destination: str) -> Position:
        counter = await self._run(
            "position", lambda: self.counters.find_one({"_id": destination})
        )
        if counter is None:
            return Position(0, None)
        epoch = counter.get("epoch")
        if not epoch:
            epoch = await self._ensure_epoch(destination, self._deadline())
        return Position(int(counter["seq"]), str(epoch))

    async def first_seq(self, destination: str) -> Optional[int]:
        documents = await self._run(
            "first_seq",
            lambda: self.messages.find({"destination": destination}, {"seq": 1})
            .sort("seq", 1)
            .limit(1)
            .to_list(length=1),
        )
        return int(documents[0]["seq"]) if documents else None

    async def mark_delivered(self, destination: str, seqs: Iterable[int]) -> None:
        deadline = self._deadline()
        wanted = sorted({int(s) for s in seqs})
        for start in range(0, len(wanted), _MARK_CHUNK):
            chunk = wanted[start : start + _MARK_CHUNK]
            query = {"destination": destination, "seq": {"$in": chunk}}
            await self._run(
                "mark_delivered",
                functools.partial(
                    self.messages.update_many, query, {"$set": {"delivered": True}}
                ),
                deadline=deadline,
            )

    async def read_undelivered(
        self, destination: str, limit: int
    ) -> List[StoredMessage]:
        if limit <= 0:
            return []
        documents = await self._run(
            "read_undelivered",
            lambda: self.messages.find({"destination": destination, "delivered": False})
            .sort("seq", 1)
            .limit(limit)
            .to_list(length=limit),
        )
        return [_to_message(d) for d in documents]

    async def is_delivered(self, destination: str, seq: int) -> Optional[bool]:
        document = await self._run(
            "is_delivered",
            lambda: self.messages.find_one(
                {"destination": destination, "seq": seq}, {"delivered": 1}
            ),
        )
        # Compared as truth: nx-27017 hands booleans back as 0/1.
        return None if document is None else bool(document["delivered"])

    async def prune(self) -> int:
        """Drop messages older than the age limit, and catch up on the retention by
        count that :meth:`append` could not apply (its delete failed) in this process.
        Counters are kept, so ``last_seq`` is unaffected."""
        deadline = self._deadline()
        dropped = 0
        max_age = self.retention.max_age_seconds
        if max_age is not None:
            horizon = float(self._clock()) - max_age
            result = await self._run(
                "prune",
                lambda: self.messages.delete_many({"timestamp": {"$lt": horizon}}),
                deadline=deadline,
            )
            dropped += result.deleted_count
        max_count = self.retention.max_count
        for destination, seq in list(self._untrimmed.items()):
            if max_count is not None:
                query = {"destination": destination, "seq": {"$lte": seq - max_count}}
                result = await self._run(
                    "prune",
                    functools.partial(self.messages.delete_many, query),
                    deadline=deadline,
                )
                dropped += result.deleted_count
            if self._untrimmed.get(destination) == seq:
                del self._untrimmed[destination]
        return dropped

    # -- append's steps -----------------------------------------------------------------

    @staticmethod
    def _check_storable(
        destination: str,
        body: bytes,
        headers: Dict[str, str],
        message_id: str,
        timestamp: float,
    ) -> None:
        """Refuse, before a seq is allocated, a message MongoDB could never store
        (a NUL in a header name, beyond the document size limit)."""
        try:
            size = len(
                bson.encode(
                    {
                        "_id": message_id,
                        "destination": destination,
                        "seq": 0,
                        "body": Binary(body),
                        "headers": headers,
                        "timestamp": timestamp,
                        "epoch": "0" * 16,
                        "delivered": False,
                    }
                )
            )
        except (BSONError, ValueError) as exc:
            raise StoreUnavailable(
                _UNAVAILABLE, log_detail="message cannot be stored: %s" % exc
            ) from exc
        if size > _MAX_DOCUMENT:
            raise StoreUnavailable(
                _UNAVAILABLE, log_detail="message of %d bytes is too large to store" % size
            )

    async def _allocate(self, destination: str, deadline: float) -> Tuple[int, str]:
        """The next seq of ``destination``, from one atomic ``$inc`` on its counter,
        and the counter's epoch (given to a new counter right after its first number)."""
        while True:
            try:
                counter = await self._run(
                    "allocate seq",
                    lambda: self.counters.find_one_and_update(
                        {"_id": destination},
                        {"$inc": {"seq": 1}},
                        upsert=True,
                        return_document=ReturnDocument.AFTER,
                    ),
                    deadline=deadline,
                    passthrough=(DuplicateKeyError,),
                )
            except DuplicateKeyError:
                # Two first appends raced to create the counter; the other one won.
                counter = None
            if counter is not None:
                epoch = counter.get("epoch") or await self._ensure_epoch(destination, deadline)
                return int(counter["seq"]), str(epoch)
            # No document back (nx-27017 answers a failed upsert race that way): retry.
            await self._pause(0, deadline, "allocate seq")

    async def _ensure_epoch(self, destination: str, deadline: float) -> str:
        """Give the counter of ``destination`` an epoch if it has none (a new counter,
        or one written before epochs existed); return the epoch it has. Of several
        processes racing here, the first write wins and all read it back."""
        await self._run(
            "set epoch",
            lambda: self.counters.update_one(
                {"_id": destination, "epoch": {"$exists": False}},
                {"$set": {"epoch": new_epoch()}},
            ),
            deadline=deadline,
        )
        counter = await self._run(
            "set epoch", lambda: self.counters.find_one({"_id": destination}), deadline=deadline
        )
        if counter is None or not counter.get("epoch"):
            raise StoreUnavailable(_UNAVAILABLE, log_detail="counter of %s lost its epoch" % destination)
        return str(counter["epoch"])

    async def _insert(self, document: Dict[str, Any], deadline: float) -> bool:
        """Insert ``document`` at its seq, retrying the same insert until ``deadline``.

        Returns True once it is stored (a retry that finds its own earlier attempt
        stored counts), False if another message holds that (destination, seq).
        """
        attempt = 0
        while True:
            try:
                await self._run(
                    "insert message",
                    lambda: self.messages.insert_one(document),
                    deadline=deadline,
                    passthrough=(DuplicateKeyError,),
                )
                return True
            except DuplicateKeyError:
                holder = await self._run(
                    "insert message",
                    lambda: self.messages.find_one(
                        {"destination": document["destination"], "seq": document["seq"]},
                        {"_id": 1},
                    ),
                    deadline=deadline,
                )
                return holder is None or holder["_id"] == document["_id"]
            except StoreUnavailable as exc:
                log.warning(
                    "insert of %s seq %d failed, retrying: %s",
                    document["destination"],
                    document["seq"],
                    exc.log_detail,
                )
                attempt += 1
                await self._pause(attempt, deadline, "insert message")

    async def _give_back(self, destination: str, seq: int, message_id: str) -> bool:
        """After a failed insert: True if it had landed after all; otherwise return
        ``seq`` to the counter if no later seq was allocated (so no gap is left)."""
        deadline = self._deadline()
        try:
            landed = await self._run(
                "give back seq",
                lambda: self.messages.find_one({"_id": message_id}, {"_id": 1}),
                deadline=deadline,
            )
            if landed is not None:
                return True
            released = await self._run(
                "give back seq",
                lambda: self.counters.find_one_and_update(
                    {"_id": destination, "seq": seq}, {"$inc": {"seq": -1}}
                ),
                deadline=deadline,
            )
        except StoreUnavailable as exc:
            log.error(
                "seq %d of %s is lost (a gap): could not give it back: %s",
                seq,
                destination,
                exc.log_detail,
            )
            return False
        if released is None:
            log.error(
                "seq %d of %s is lost (a gap): a later seq was already allocated",
                seq,
                destination,
            )
        return False

    async def _catch_up_counter(self, destination: str, deadline: float) -> None:
        """Raise the counter to the highest stored seq of ``destination``."""
        newest = await self._run(
            "catch up counter",
            lambda: self.messages.find({"destination": destination}, {"seq": 1})
            .sort("seq", -1)
            .limit(1)
            .to_list(length=1),
            deadline=deadline,
        )
        if newest:
            log.warning(
                "counter of %s was behind its messages; raising it to %d",
                destination,
                newest[0]["seq"],
            )
            await self._run(
                "catch up counter",
                lambda: self.counters.update_one(
                    {"_id": destination}, {"$max": {"seq": newest[0]["seq"]}}, upsert=True
                ),
                deadline=deadline,
            )

    async def _trim(self, destination: str, seq: int) -> None:
        """Retention by count right after an append. The message is already stored,
        so a failure is only logged; :meth:`prune` catches up later."""
        max_count = self.retention.max_count
        if max_count is None or seq <= max_count:
            return
        try:
            await self._run(
                "trim",
                lambda: self.messages.delete_many(
                    {"destination": destination, "seq": {"$lte": seq - max_count}}
                ),
            )
        except StoreUnavailable as exc:
            log.warning("retention by count of %s deferred: %s", destination, exc.log_detail)
            self._untrimmed[destination] = max(seq, self._untrimmed.get(destination, 0))


def _to_message(document: Mapping[str, Any]) -> StoredMessage:
    return StoredMessage(
        document["destination"],
        int(document["seq"]),
        str(document["_id"]),
        bytes(document["body"]),
        dict(document.get("headers") or {}),
        float(document["timestamp"]),
        str(document.get("epoch") or ""),
    )


def _log_abandoned(task: "asyncio.Future[StoredMessage]") -> None:
    """Retrieve the outcome of an append, so one whose caller was cancelled is logged
    rather than reported as "exception never retrieved"."""
    if task.cancelled():
        return
    exc = task.exception()
    if isinstance(exc, StoreUnavailable):
        log.debug("append failed: %s", exc.log_detail)
    elif exc is not None:
        log.error("append failed", exc_info=exc)
