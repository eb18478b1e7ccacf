"""The MongoDB store: per-destination logs in two collections, shared by processes.

Works with an asynchronous database of either driver: motor's
``AsyncIOMotorDatabase`` or PyMongo's ``AsyncMongoClient(...)[name]`` (pymongo>=4.9;
motor is past its end of life). Both offer awaitable collection methods and cursors
with ``to_list``; the few places where they differ (closing the client) are handled by
duck typing, so this module imports no motor.

Collections (``collection_prefix`` defaults to ``nexus_``)::

    nexus_messages  {_id: message_id, destination, seq, epoch, body (a string when
                     UTF-8, else binary), crc, headers: {...}, timestamp: float
                     seconds, delivered: bool} (:mod:`.mongo_codec`)
                    unique (destination, seq); (destination, delivered, seq); (timestamp)
    nexus_counters  {_id: destination, seq: a floor for the numbering (raised before
                     retention drops messages), epoch: the numbering's epoch}

Appends are written in batches (group commit, :mod:`.mongo_batch`): one
``insert_many`` for whatever arrived while the previous one was in flight. A message's
number is taken by inserting it under the unique ``(destination, seq)`` index, so
several server processes sharing one database never store the same number twice, and a
number exists only once its message is stored (no holes; see docs/storage.md).

Every operation runs under ``pymongo.timeout(timeout)`` (the driver's own deadline,
also honoured by motor's worker threads), is waited for a little longer and never
cancelled (:mod:`.mongo_calls` says why), and every driver error becomes
:class:`~nexus_tornado.errors.StoreUnavailable`.
When MongoDB comes back, the driver reconnects by itself.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import socket
import time
import uuid
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

import pymongo

from ..errors import ConfigError, StoreUnavailable
from .mongo_batch import PRUNE_CHUNK, GroupCommit, Pending
from .mongo_calls import GRACE, awaitable, check_options, check_uri_options, close_client
from .mongo_codec import to_message
from .store import Position, Retention, Store, StoredMessage

log = logging.getLogger("nexus_tornado.hub.mongo")

#: How many seqs one ``update_many`` marks delivered at most.
_MARK_CHUNK = 1000

#: Most messages one ``insert_many`` of the group commit carries, by default.
BATCH_COUNT = 1000

#: Most bytes (bodies, headers, destinations, 200 each besides) in one batch, by default.
BATCH_BYTES = 4 * 1024 * 1024


class MongoStore(GroupCommit, Store):
    """A :class:`~nexus_tornado.hub.store.Store` on MongoDB (motor or PyMongo async).

    ``timeout`` (seconds) bounds each method; ``append`` may take up to twice as
    long (its batch has ``timeout`` from when the oldest of its appends was called;
    then up to ``timeout`` more tells which of a failed batch were stored after all,
    or the previous batch applies retention by count), and ``open`` gives each of
    its steps ``timeout`` of its own. ``clock`` gives message timestamps and the age
    horizon of ``prune``. ``batch_count`` and ``batch_bytes`` bound one write of the
    group commit.
    """

    #: Appends are numbered in the order they are called, concurrent ones included.
    ordered_appends = True

    def __init__(
        self,
        database: Any,
        *,
        collection_prefix: str = "nexus_",
        retention: Retention = Retention(),
        timeout: float = 5.0,
        clock: Callable[[], float] = time.time,
        batch_count: int = BATCH_COUNT,
        batch_bytes: int = BATCH_BYTES,
    ) -> None:
        check_options(collection_prefix, timeout)
        self._init_batching(batch_count, batch_bytes)
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
        batch_count: int = BATCH_COUNT,
        batch_bytes: int = BATCH_BYTES,
    ) -> "MongoStore":
        """Create a client for ``uri`` and a store on one of its databases.

        ``database_name`` defaults to the database named in the URI, else ``nexus``.
        ``client_class`` defaults to motor's ``AsyncIOMotorClient`` (measured the
        cheaper per write, see docs/benchmarks.md); pass ``pymongo.AsyncMongoClient``
        to use PyMongo's own async API. Server selection and connecting give up after
        ``timeout``. :meth:`close` closes the client. A URI option the driver does not
        know or cannot take is a ``ConfigError`` (the driver would only warn and go on
        without it).
        """
        check_options(collection_prefix, timeout)
        check_uri_options(uri)
        if client_class is None:
            client_class = client_class_for("motor")
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
            batch_count=batch_count,
            batch_bytes=batch_bytes,
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
        """Wait for the appends under way (each is bounded), then close the client if
        :meth:`from_uri` created it; a given database is left open for its owner."""
        await self._drain()
        client, self._owned_client = self._owned_client, None
        if client is not None:
            await close_client(client)

    # -- the interface ----------------------------------------------------------------

    async def append(
        self, destination: str, body: bytes, headers: Mapping[str, str]
    ) -> StoredMessage:
        """Queue the message for the next batch; return it stored, with its seq.

        Shielded from cancellation: a caller that is cancelled (say, its connection
        closed) does not take its message out of a batch; the append runs to its
        bounded end and its outcome is only logged.
        """
        return await asyncio.shield(self._queue_append(destination, body, headers))

    async def append_many(
        self, messages: Sequence[Tuple[str, bytes, Mapping[str, str]]]
    ) -> List[Union[StoredMessage, StoreUnavailable]]:
        """Queue all the messages at once (they go in one batch, as far as it holds
        them); each outcome as :meth:`append` gives it."""
        futures = [self._queue_append(destination, body, headers) for destination, body, headers in messages]
        outcomes: List[Union[StoredMessage, StoreUnavailable]] = []
        for future in futures:
            try:
                outcomes.append(await asyncio.shield(future))
            except StoreUnavailable as exc:
                outcomes.append(exc)
        return outcomes

    def _queue_append(
        self, destination: str, body: bytes, headers: Mapping[str, str]
    ) -> "asyncio.Future[StoredMessage]":
        loop = asyncio.get_running_loop()
        future: "asyncio.Future[StoredMessage]" = loop.create_future()
        future.add_done_callback(_log_abandoned)
        self._enqueue(
            Pending(
                destination,
                bytes(body),
                {str(k): str(v) for k, v in headers.items()},
                uuid.uuid4().hex,
                float(self._clock()),
                loop.time(),
                future,
            )
        )
        return future

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
        return [to_message(d) for d in documents]

    async def last_seq(self, destination: str) -> int:
        return (await self._position(destination, create=False)).seq

    async def position(self, destination: str) -> Position:
        return await self._position(destination, create=True)

    async def _position(self, destination: str, create: bool) -> Position:
        """The newest number: the greater of the counter's floor and the newest stored
        message. ``create``: give a numbered destination a counter (and so an epoch) if
        it has none."""
        deadline = self._deadline()
        counter = await self._run(
            "position", lambda: self.counters.find_one({"_id": destination}), deadline=deadline
        )
        newest = await self._newest_stored(destination, deadline)
        floor = int(counter.get("seq") or 0) if counter is not None else 0
        epoch = counter.get("epoch") if counter is not None else None
        if create and not epoch and (counter is not None or newest):
            floor, epoch = await self._counter(destination, deadline)
        return Position(max(floor, newest), str(epoch) if epoch else None)

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
        return [to_message(d) for d in documents]

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
        """Raise the counters to what this process stored, drop messages older than the
        age limit (raising their destinations' counters first, so the numbering never
        goes back), and catch up on the retention by count :meth:`append` could not
        apply (its delete failed) in this process. ``last_seq`` is unaffected."""
        deadline = self._deadline()
        dropped = 0
        await self._raise_own_floors(deadline)
        max_age = self.retention.max_age_seconds
        if max_age is not None:
            horizon = float(self._clock()) - max_age
            while True:
                old = await self._run(
                    "prune",
                    lambda: self.messages.find({"timestamp": {"$lt": horizon}}, {"destination": 1, "seq": 1})
                    .sort("timestamp", 1)
                    .limit(PRUNE_CHUNK)
                    .to_list(length=PRUNE_CHUNK),
                    deadline=deadline,
                )
                if not old:
                    break
                newest: Dict[str, int] = {}
                for document in old:
                    seq = int(document["seq"])
                    if seq > newest.get(document["destination"], 0):
                        newest[document["destination"]] = seq
                await self._raise_floors(newest, deadline)
                query = {"_id": {"$in": [document["_id"] for document in old]}}
                result = await self._run(
                    "prune", functools.partial(self.messages.delete_many, query), deadline=deadline
                )
                dropped += result.deleted_count
                if len(old) < PRUNE_CHUNK:
                    break
        max_count = self.retention.max_count
        for destination, seq in list(self._untrimmed.items()):
            if max_count is not None:
                trim: Dict[str, Any] = {"destination": destination, "seq": {"$lte": seq - max_count}}
                result = await self._run(
                    "prune",
                    functools.partial(self.messages.delete_many, trim),
                    deadline=deadline,
                )
                dropped += result.deleted_count
            if self._untrimmed.get(destination) == seq:
                del self._untrimmed[destination]
        return dropped

def client_class_for(driver: str) -> Callable[..., Any]:
    """The client class of ``driver``: ``"pymongo"`` (``pymongo.AsyncMongoClient``)
    or ``"motor"`` (``AsyncIOMotorClient``)."""
    if driver == "motor":
        from motor.motor_asyncio import AsyncIOMotorClient

        return AsyncIOMotorClient
    if driver == "pymongo":
        return pymongo.AsyncMongoClient
    raise ConfigError("unknown MongoDB driver %r (pymongo or motor)" % (driver,))


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
