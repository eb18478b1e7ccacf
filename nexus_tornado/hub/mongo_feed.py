"""Cross-process fan-out: one MongoDB change stream per process on the messages collection.

Several server processes share one database. Each appends through its own
:class:`~nexus_tornado.hub.mongo.MongoStore` and delivers its own messages at once; the
messages of the others reach it through this feed. The feed watches inserts into
``<prefix>messages`` on a client of its own and tells the hub only *that*
``(destination, seq, epoch)`` is stored (:meth:`Hub.stored`); the hub's sequencer reads
the bodies from the collection, in ``seq`` order. So MongoDB stays the only source of
truth: an event is a signal, never a copy of the message (nx-27017, the MongoDB-wire
server the tests use, returns values in ``fullDocument`` that are not BSON).

After an error the stream is opened again where it stopped (its resume token). Events
may still have been missed: the oplog may have moved past the resume point (MongoDB
answers ``ChangeStreamHistoryLost``; the stream then starts afresh), or a server may
keep events only briefly. So whenever the stream opens the feed also calls ``on_lost``,
with which the hub reads every destination that has subscribers in this process from
the store, after the last ``seq`` it delivered (:meth:`Hub.recheck`).

The feed bounds its own CPU whatever the server does: MongoDB holds an empty getMore
for ``max_await`` seconds, but a server that answers at once (nx-27017 does) would be
asked again and again. So after an empty answer the next getMore waits until
``poll_interval`` has passed since the last one was sent; a batch with events is
followed at once. That adds at most ``poll_interval`` to a delivery on such a server,
and nothing on MongoDB.

Change streams need a replica set (or a sharded cluster) on MongoDB; see docs/deploy.md.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Callable, Mapping, Optional

from pymongo.errors import OperationFailure, PyMongoError

from .mongo_calls import cancel_and_wait, check_options, close_client

log = logging.getLogger("nexus_tornado.hub.mongo_feed")

#: Error codes meaning the stream's resume point is gone (ChangeStreamHistoryLost,
#: InvalidResumeToken, ChangeStreamFatalError): start afresh, re-read the store.
_RESUME_LOST = {286, 260, 280}

#: Longest pause between two attempts to open the stream, seconds.
MAX_RETRY = 5.0

#: Least time between two getMores that came back empty, seconds (see above).
POLL_INTERVAL = 0.04

Signal = Callable[[str, int, Optional[str]], None]


class ChangeFeed:
    """Watches ``<prefix>messages`` of ``database_name`` at ``uri`` and signals inserts."""

    def __init__(
        self,
        uri: str,
        database_name: Optional[str],
        on_stored: Signal,
        on_lost: Callable[[], None],
        *,
        collection_prefix: str = "nexus_",
        timeout: float = 5.0,
        max_await: float = 0.5,
        poll_interval: float = POLL_INTERVAL,
        client_class: Optional[Callable[..., Any]] = None,
        on_lag: Optional[Callable[[float], None]] = None,
    ) -> None:
        check_options(collection_prefix, timeout)
        self.uri = uri
        self.database_name = database_name
        self.collection_name = collection_prefix + "messages"
        self.on_stored = on_stored
        self.on_lost = on_lost
        #: Told, per event, how long ago its message was stored (seconds, by the
        #: storing process's clock): how far behind the stream this process is.
        self.on_lag = on_lag
        self.timeout = float(timeout)
        self.max_await = float(max_await)
        self.poll_interval = float(poll_interval)
        self._client_class = client_class
        self._client: Any = None
        self._task: Optional["asyncio.Future[None]"] = None
        #: Set once the stream is open (tests wait for it before publishing).
        self.ready = asyncio.Event()
        #: How many times the stream was opened again after an error.
        self.reopened = 0

    async def start(self) -> None:
        """Open the client and start watching (returns at once; the stream opens in the
        background and is opened again whenever it fails)."""
        if self._task is not None:
            return
        client_class = self._client_class
        if client_class is None:
            from pymongo import AsyncMongoClient

            client_class = AsyncMongoClient
        millis = int(self.timeout * 1000)
        self._client = client_class(
            self.uri,
            serverSelectionTimeoutMS=millis,
            connectTimeoutMS=millis,
            appname="nexus-tornado-feed",
        )
        self._task = asyncio.ensure_future(self._run())

    async def close(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)
        client, self._client = self._client, None
        if client is not None:
            await close_client(client)

    def _collection(self) -> Any:
        if self.database_name:
            database = self._client.get_database(self.database_name)
        else:
            database = self._client.get_default_database("nexus")
        return database.get_collection(self.collection_name)

    async def _run(self) -> None:
        token: Any = None
        failures = 0
        collection = self._collection()
        pipeline = [
            {"$match": {"operationType": "insert"}},
            # Only what the signal needs (the body is read from the collection).
            {"$project": {
                "operationType": 1,
                "fullDocument.destination": 1,
                "fullDocument.seq": 1,
                "fullDocument.epoch": 1,
                "fullDocument.timestamp": 1,
            }},
        ]
        while True:
            try:
                stream = await collection.watch(
                    pipeline, resume_after=token, max_await_time_ms=int(self.max_await * 1000)
                )
                async with stream:
                    if failures:
                        self.reopened += 1
                        log.info("change stream open again; reading what may have been missed")
                    # Whatever was stored before the stream opened (at start-up, or
                    # while it was down) is read from the store.
                    self._lost()
                    failures = 0
                    self.ready.set()
                    while True:
                        asked = time.monotonic()
                        change = await stream.try_next()
                        token = stream.resume_token or token
                        if change is not None:
                            self._signal(change)
                            continue
                        rest = self.poll_interval - (time.monotonic() - asked)
                        if rest > 0:
                            await asyncio.sleep(rest)  # the server did not wait: we do
            except asyncio.CancelledError:
                raise
            except (PyMongoError, OSError) as exc:
                if isinstance(exc, OperationFailure) and exc.code in _RESUME_LOST:
                    log.warning("change stream lost its resume point: %s", exc)
                    token = None
                else:
                    log.warning("change stream failed, reopening: %s: %s", type(exc).__name__, exc)
                failures += 1
                self.ready.clear()
                await asyncio.sleep(min(0.1 * 2 ** min(failures, 6), MAX_RETRY))
            except Exception:
                log.exception("change stream handling failed, reopening")
                failures += 1
                self.ready.clear()
                await asyncio.sleep(MAX_RETRY)

    def _signal(self, change: Mapping[str, Any]) -> None:
        if change.get("operationType") != "insert":
            return
        document = change.get("fullDocument") or {}
        destination, seq, epoch = document.get("destination"), document.get("seq"), document.get("epoch")
        if not isinstance(destination, str) or isinstance(seq, bool) or not isinstance(seq, int):
            return  # not a message document of ours
        try:
            self.on_stored(destination, seq, epoch if isinstance(epoch, str) else None)
        except Exception:
            log.exception("signal of %s seq %d failed", destination, seq)
        stored_at = document.get("timestamp")
        if self.on_lag is not None and isinstance(stored_at, (int, float)) and not isinstance(stored_at, bool):
            self.on_lag(max(0.0, time.time() - stored_at))

    def _lost(self) -> None:
        try:
            self.on_lost()
        except Exception:
            log.exception("re-reading after a lost change stream failed")
