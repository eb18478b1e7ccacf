"""Cross-process fan-out: one MongoDB change stream per process on the messages collection.

Several server processes share one database. Each appends through its own
:class:`~nexus_tornado.hub.mongo.MongoStore` and delivers its own messages at once; the
messages of the others reach it through this feed. The feed watches inserts into
``<prefix>messages`` on a client of its own and hands the hub what is stored
(:meth:`Hub.stored`), for the destinations this process has subscribers for
(``wanted``); the hub's sequencer puts it in ``seq`` order.

**Bodies.** The event carries the inserted document (``fullDocument``). The feed takes
the message from there when it checks out (:func:`~.mongo_codec.from_event`: every field
of the type the store writes, the body matching the CRC-32 stored with it); otherwise
(a body in BSON binary that nx-27017, the MongoDB-wire server the tests use, hands back
as an object of its own) it reads the messages from the collection, **one find for all
the events of a batch** (``_id $in [...]``). Should that read fail, the hub is told
only *that* each message is stored and its sequencer reads it, so MongoDB stays the
only source of truth.

**Pacing.** MongoDB holds a getMore for up to ``max_await`` seconds when nothing is
new, but a server that answers at once (nx-27017) would be asked again and again. So
the feed sends a getMore at most every ``poll_interval`` (unless the last one brought a
full batch: it is behind): an idle feed never spins whatever the server does, a busy
one takes what accumulated in one getMore (and at most one read), and a delivery
waits at most ``poll_interval`` longer. A command listener on the feed's own client tells it how
many events each answer brought, so it knows when the next call goes to the server.

**Interest.** Given ``interest`` (the destinations this process has subscribers for),
the stream asks MongoDB only for those (``fullDocument.destination $in [...]``), so a
process receives and decodes nothing of the rest of the cluster's traffic, and with
no subscriber at all it has no stream open. When a destination gains its first
subscriber (:meth:`interest_changed`) the stream is opened again with the new list,
at most every ``REOPEN_GAP`` seconds, resuming after the last event the feed had
taken when the first of the new destinations came: the new subscription read the
store's position after that, so whatever it must get comes in the new stream (a few
events of the others come again, and are skipped as delivered). A destination that
lost its subscribers is dropped from the list lazily (its events are skipped
meanwhile).

After an error the stream is opened again where it stopped (its resume token). Events
may still have been missed: the oplog may have moved past the resume point (MongoDB
answers ``ChangeStreamHistoryLost``; the stream then starts afresh), or a server may
keep events only briefly. So whenever the stream opens the feed also calls ``on_lost``,
with which the hub reads every destination that has subscribers in this process from
the store, after the last ``seq`` it delivered (:meth:`Hub.recheck`).

Change streams need a replica set (or a sharded cluster) on MongoDB; see docs/deploy.md.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Tuple

from pymongo import monitoring
from pymongo.errors import OperationFailure, PyMongoError

from ..errors import StoreUnavailable
from .mongo_calls import BoundedCalls, cancel_and_wait, check_options, close_client
from .mongo_codec import MESSAGE_FIELDS, from_event, to_message
from .store import StoredMessage

log = logging.getLogger("nexus_tornado.hub.mongo_feed")

#: Error codes meaning the stream's resume point is gone (ChangeStreamHistoryLost,
#: InvalidResumeToken, ChangeStreamFatalError): start afresh, re-read the store.
_RESUME_LOST = {286, 260, 280}

#: Longest pause between two attempts to open the stream, seconds.
MAX_RETRY = 5.0

#: Least time between two getMores, seconds (see above).
POLL_INTERVAL = 0.04

#: An answer with this many events means the feed is behind: ask again at once.
FULL_BATCH = 1000

#: Least time between two openings of the stream for a change of interest, seconds;
#: and how long a destination nobody here subscribes to any more may stay in it.
REOPEN_GAP = 0.2
REOPEN_LAZY = 5.0

#: ``(destination, seq, epoch, message or None)``: ``seq`` of ``destination`` is
#: stored; the message itself when the feed has it (else the hub reads it).
Stored = Callable[[str, int, Optional[str], Optional[StoredMessage]], None]

#: What an event says about a message of ours: destination, seq, epoch, _id, the
#: message when the event holds it faithfully.
_Event = Tuple[str, int, Optional[str], Any, Optional[StoredMessage]]


#: The fields of a stored message (what reading one from the collection asks for).
_MESSAGE_FIELDS = {name: 1 for name in MESSAGE_FIELDS}

#: Resume point meaning "none: open afresh and read the store".
_FRESH = object()


class _Batches(monitoring.CommandListener):
    """Counts the events each answer of the stream's server brings (its batch). Only
    the stream's own commands count (the feed's reads run on the same client)."""

    def __init__(self) -> None:
        #: Events in the last answer; None until one came (or after it was counted).
        self.size: Optional[int] = None
        #: getMores of the stream sent (the tests count them).
        self.getmores = 0
        self._cursor: Any = None
        self._asked: Any = None

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        command = event.command
        if event.command_name == "getMore" and self._cursor and command.get("getMore") == self._cursor:
            self.getmores += 1
            self._asked = event.request_id
        elif event.command_name == "aggregate":
            stages = command.get("pipeline") or [{}]
            if isinstance(stages[0], Mapping) and "$changeStream" in stages[0]:
                self._asked = event.request_id

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        if event.request_id != self._asked:
            return
        cursor = event.reply.get("cursor") or {}
        self._cursor = cursor.get("id") or self._cursor
        self.size = len(cursor.get("nextBatch") or cursor.get("firstBatch") or ())

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


class ChangeFeed(BoundedCalls):
    """Watches ``<prefix>messages`` of ``database_name`` at ``uri`` and hands over inserts."""

    def __init__(
        self,
        uri: str,
        database_name: Optional[str],
        on_stored: Stored,
        on_lost: Callable[[], None],
        *,
        wanted: Callable[[str, int], bool] = lambda destination, seq: True,
        interest: Optional[Callable[[], Iterable[str]]] = None,
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
        #: Whether this process still has to deliver ``seq`` of a destination (it has
        #: subscribers for it, and did not deliver it yet): others are skipped unread.
        self.wanted = wanted
        #: The destinations to ask MongoDB for (None: every one).
        self.interest = interest
        #: When the stream is due to be opened again for a change of interest.
        self._due: Optional[float] = None
        #: Where to resume then: the token when the first new destination came.
        self._since: Any = None
        self._token: Any = None
        self._wake = asyncio.Event()
        #: Told, per answer of the server, how long ago its newest message was stored
        #: (seconds, by the storing process's clock): how far behind the stream this
        #: process is.
        self.on_lag = on_lag
        self._stored_at: Optional[float] = None  # of the newest event of this answer
        self.timeout = float(timeout)
        self.max_await = float(max_await)
        self.poll_interval = float(poll_interval)
        self._client_class = client_class
        self._client: Any = None
        self._database: Any = None
        self._task: Optional["asyncio.Future[None]"] = None
        self.batches = _Batches()
        #: Events whose messages are to be read, and the task reading them.
        self._unread: List[_Event] = []
        self._reader: Optional["asyncio.Future[None]"] = None
        #: Set once the stream is open (tests wait for it before publishing).
        self.ready = asyncio.Event()
        #: How many times the stream was opened again after an error; for interest.
        self.reopened = 0
        self.refiltered = 0
        #: Messages taken from events, and read from the collection (batched).
        self.taken = 0
        self.read = 0

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
            event_listeners=[self.batches],
        )
        self._task = asyncio.ensure_future(self._watch())

    def interest_changed(self, gained: bool) -> None:
        """A destination got its first subscriber here (``gained``) or lost its last."""
        if self.interest is None:
            return
        now = time.monotonic()
        due = now if gained else now + REOPEN_LAZY
        self._due = due if self._due is None else min(self._due, due)
        if gained and self._since is None:
            self._since = self._token if self._token is not None else _FRESH
        self._wake.set()

    async def close(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)
        reader, self._reader = self._reader, None
        await cancel_and_wait(reader)
        client, self._client = self._client, None
        if client is not None:
            await close_client(client)

    def _collection(self) -> Any:
        if self.database_name:
            database = self._client.get_database(self.database_name)
        else:
            database = self._client.get_default_database("nexus")
        return database.get_collection(self.collection_name)

    def _pipeline(self, destinations: Optional[List[str]]) -> List[Dict[str, Any]]:
        match: Dict[str, Any] = {"operationType": "insert"}
        if destinations is not None:
            match["fullDocument.destination"] = {"$in": destinations}
        return [
            {"$match": match},
            {"$project": {
                "operationType": 1,
                **{"fullDocument." + name: 1 for name in _MESSAGE_FIELDS},
            }},
        ]

    async def _watch(self) -> None:
        token: Any = None
        failures = 0
        collection = self._collection()
        self._database = collection.database
        while True:
            destinations = None if self.interest is None else sorted(set(self.interest()))
            resume, self._since, self._due = self._since, None, None
            resume = token if resume is None else resume
            try:
                if destinations == []:
                    # Nobody here subscribes to anything: follow nothing until someone does
                    # (then afresh: the subscriptions read the store's position meanwhile).
                    token = self._token = None
                    self.ready.set()
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                fresh = resume is None or resume is _FRESH
                stream = await collection.watch(
                    self._pipeline(destinations),
                    resume_after=None if fresh else resume,
                    max_await_time_ms=int(self.max_await * 1000),
                )
                async with stream:
                    if failures:
                        self.reopened += 1
                        log.info("change stream open again; reading what may have been missed")
                    elif not fresh:
                        self.refiltered += 1
                    if failures or fresh:
                        # Whatever was stored before the stream opened (at start-up, or
                        # while it was down) is read from the store.
                        self._lost()
                    failures = 0
                    self.ready.set()
                    token = await self._follow(stream, resume if not fresh else None)
            except asyncio.CancelledError:
                raise
            except (PyMongoError, OSError) as exc:
                if isinstance(exc, OperationFailure) and exc.code in _RESUME_LOST:
                    log.warning("change stream lost its resume point: %s", exc)
                    token = None
                else:
                    log.warning("change stream failed, reopening: %s: %s", type(exc).__name__, exc)
                    token = self._token  # where it stopped
                failures += 1
                self.ready.clear()
                await asyncio.sleep(min(0.1 * 2 ** min(failures, 6), MAX_RETRY))
            except Exception:
                log.exception("change stream handling failed, reopening")
                failures += 1
                self.ready.clear()
                await asyncio.sleep(MAX_RETRY)

    async def _follow(self, stream: Any, token: Any) -> Any:
        """Take the stream's events batch by batch, pacing the calls that go to the
        server; return (through an exception) only when the stream fails.

        The resume token is read once per answer, before the next call to the server
        (reading it copies it): the events of an answer are handed over together, so
        that is where the feed stands (:meth:`interest_changed` resumes from there)."""
        left = self.batches.size or 0  # events of the last answer not taken yet
        self.batches.size = None
        self._token = token = stream.resume_token or token
        opened = time.monotonic()
        asked = -self.poll_interval
        empty = True
        blind = False  # the listener reports no answers: pace after empty ones only
        batch: List[_Event] = []
        while True:
            if empty or (left <= 0 and not blind):
                # The next call asks the server.
                self._token = token = stream.resume_token or token
                self._take(batch)
                batch = []
                if self._due is not None and time.monotonic() >= max(self._due, opened + REOPEN_GAP):
                    return token  # open again for the new interest
                rest = asked + self.poll_interval - time.monotonic()
                if rest > 0:
                    await asyncio.sleep(rest)
                asked = time.monotonic()
            change = await stream.try_next()
            size, self.batches.size = self.batches.size, None
            empty = change is None
            if size is not None:
                left = size
                if size >= FULL_BATCH:
                    asked = -self.poll_interval  # behind: the next one at once
            elif left <= 0 and not empty and not blind:
                blind = True
                log.warning("no command events from the change stream's client: pacing empty answers only")
            if empty:
                left = 0
                continue
            left -= 1
            event = self._event(change)
            if event is not None:
                batch.append(event)
            if blind:
                self._token = token = stream.resume_token or token
                self._take(batch)
                batch = []

    def _event(self, change: Mapping[str, Any]) -> Optional[_Event]:
        """What ``change`` says of a message this process wants; None for anything else
        (noting when it was stored, for :attr:`on_lag`)."""
        document = change.get("fullDocument")
        if change.get("operationType") != "insert" or type(document) is not dict:
            return None
        destination, seq = document.get("destination"), document.get("seq")
        if type(destination) is not str or (
            type(seq) is not int and (isinstance(seq, bool) or not isinstance(seq, int))  # an Int64 is one
        ):
            return None  # not a message document of ours
        stored_at = document.get("timestamp")
        if type(stored_at) is float or type(stored_at) is int:
            self._stored_at = stored_at
        if not self.wanted(destination, seq):
            return None
        epoch = document.get("epoch")
        return destination, seq, epoch if type(epoch) is str else None, document.get("_id"), from_event(document)

    def _take(self, batch: List[_Event]) -> None:
        """Hand over the messages of one answer: at once those the events hold, the
        others after one read of the collection for all of them. The stream's lag is
        told once per answer, by its newest event."""
        if self._stored_at is not None:
            stored_at, self._stored_at = self._stored_at, None
            if self.on_lag is not None:
                self.on_lag(max(0.0, time.time() - stored_at))
        for event in batch:
            if event[4] is not None:
                self.taken += 1
                self._hand(event, event[4])
            else:
                self._unread.append(event)
        if self._unread and self._reader is None:
            self._reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        try:
            while self._unread:
                events, self._unread = self._unread, []
                ids = [event[3] for event in events]
                try:
                    found = await self._find(ids)
                except (StoreUnavailable, KeyError, TypeError, ValueError) as exc:
                    log.warning("reading %d stored messages failed, the hub reads them: %s", len(ids), exc)
                    found = {}
                self.read += len(found)
                for event in events:
                    # Not found (retention already dropped it): the hub reads from seq on.
                    self._hand(event, found.get(event[3]))
        finally:
            self._reader = None

    async def _find(self, ids: List[Any]) -> Dict[Any, StoredMessage]:
        """The stored messages of ``ids`` (those still stored), by ``_id``.

        One ``find`` command, its first batch only (``singleBatch``: the server closes
        the cursor, no ``getMore`` or ``killCursors`` follows), the message's own fields
        only. A batch is at most 16 MB: the ids it left out are asked for again, until
        an answer brings none (the rest were dropped by retention)."""
        found: Dict[Any, StoredMessage] = {}
        rest = ids
        while rest:
            command = {
                "find": self.collection_name,
                "filter": {"_id": {"$in": rest}},
                "projection": _MESSAGE_FIELDS,
                "batchSize": len(rest),
                "singleBatch": True,
            }
            reply = await self._run("read stored messages", functools.partial(self._database.command, command))
            documents = reply["cursor"]["firstBatch"]
            for document in documents:
                found[document["_id"]] = to_message(document)
            if not documents or len(found) == len(ids):
                break
            rest = [i for i in rest if i not in found]
        return found

    def _hand(self, event: _Event, message: Optional[StoredMessage]) -> None:
        destination, seq, epoch = event[0], event[1], event[2]
        try:
            self.on_stored(destination, seq, epoch, message)
        except Exception:
            log.exception("handing over %s seq %d failed", destination, seq)

    def _lost(self) -> None:
        try:
            self.on_lost()
        except Exception:
            log.exception("re-reading after a lost change stream failed")
