"""Group commit for the MongoDB store: appends that arrive together are written together.

:meth:`MongoStore.append <nexus_tornado.hub.mongo.MongoStore.append>` only queues its
message. One writer task per store takes what is queued (at most ``batch_count``
messages and ``batch_bytes`` of documents), numbers it and writes it with a single
``insert_many(ordered=True)``, whatever destinations the messages go to. While that
command is in flight the next appends queue; an idle store writes a lone message at once
(no timer).

Numbering is the insert itself: a message takes the number after the newest one this
process knows in its destination, and the unique ``(destination, seq)`` index refuses it
if another message holds that number already. Then (another process appended meanwhile)
the store reads the destination's newest number again, numbers the rest after it and
writes again. A number therefore exists only once its message is stored: no number is
handed out and then left unwritten, and nothing can leave a hole in the numbering.

Because the insert is ordered, MongoDB stops at the first document it refuses; every
document before it is stored, none after it is. What is left is written again (each
document keeps its ``_id``, so an attempt whose reply was lost is recognised by its
``_id`` and never stored twice). Messages of one destination keep their call order.

The counter document (``<prefix>counters``) holds the destination's epoch and a floor
for its numbering. Appends do not write it (that would be a second command per
batch): the writer raises the counters to what it stored at most once a second, and
``prune`` raises them before it deletes any message, so the floor survives retention.
The newest number is the greater of the counter and the newest stored message. A
destination this process has not numbered yet starts from its counter (one ``find``
for all such destinations of a batch); if that is behind, the insert is refused and
the destination's newest message is read.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import logging
from typing import Any, Deque, Dict, Iterable, List, Mapping, Optional, Set, Tuple

import bson
from bson.errors import BSONError
from bson.raw_bson import RawBSONDocument
from pymongo import DeleteMany, UpdateOne
from pymongo.errors import BulkWriteError, DuplicateKeyError

from ..errors import ConfigError, StoreUnavailable
from .mongo_calls import UNAVAILABLE, BoundedCalls
from .mongo_codec import message_document
from .store import Retention, StoredMessage, new_epoch

log = logging.getLogger("nexus_tornado.hub.mongo")

#: The largest document MongoDB stores (its default ``maxBsonObjectSize``).
MAX_DOCUMENT = 16 * 1024 * 1024

#: Destinations whose newest number a store remembers (least recently used beyond it
#: are forgotten and read again from the database when next appended to).
HEADS = 65_536

#: Messages whose ``(destination, seq)`` ``prune`` reads at a time before dropping them.
PRUNE_CHUNK = 1000

#: Turns of the event loop the writer gives the callers of a batch just written to
#: append again before it takes the next batch.
REJOIN_TURNS = 3

#: Seconds between two raises of the counters by the writer (while it writes).
FLOOR_INTERVAL = 1.0

#: Bytes counted per message besides its body, headers and destination.
OVERHEAD = 200

_DUPLICATE = (11000, 11001, 12582)


class Pending:
    """One queued append."""

    __slots__ = (
        "destination", "body", "headers", "message_id", "timestamp", "queued", "size",
        "future", "seq", "epoch", "raw",
    )

    def __init__(
        self,
        destination: str,
        body: bytes,
        headers: Dict[str, str],
        message_id: str,
        timestamp: float,
        queued: float,
        future: "asyncio.Future[StoredMessage]",
    ) -> None:
        self.destination = destination
        self.body = body
        self.headers = headers
        self.message_id = message_id
        self.timestamp = timestamp
        self.queued = queued
        self.size = len(body) + len(destination) + OVERHEAD + sum(
            len(k) + len(v) for k, v in headers.items()
        )
        self.future = future
        #: 0 until numbered (then ``raw`` is the encoded document).
        self.seq = 0
        self.epoch = ""
        self.raw: Optional[RawBSONDocument] = None

    def unnumber(self) -> None:
        self.seq, self.epoch, self.raw = 0, "", None

    def fail(self, detail: str) -> None:
        if not self.future.done():
            self.future.set_exception(StoreUnavailable(UNAVAILABLE, log_detail=detail))

    def succeed(self, seq: int) -> None:
        if not self.future.done():
            self.future.set_result(
                StoredMessage(
                    self.destination, seq, self.message_id, self.body, self.headers,
                    self.timestamp, self.epoch,
                )
            )


class GroupCommit(BoundedCalls):
    """Mixin of :class:`~nexus_tornado.hub.mongo.MongoStore`: the append queue, its
    writer, numbering, retention by count after a write, and the counters' floor."""

    messages: Any
    counters: Any
    retention: Retention

    def _init_batching(self, batch_count: int, batch_bytes: int) -> None:
        if batch_count < 1:
            raise ConfigError("batch_count must be at least 1")
        if batch_bytes < 1:
            raise ConfigError("batch_bytes must be at least 1")
        self.batch_count = int(batch_count)
        self.batch_bytes = int(batch_bytes)
        self._queue: Deque[Pending] = collections.deque()
        self._writer: "Optional[asyncio.Future[None]]" = None
        #: Destination -> [newest seq this process numbered or read, epoch, trimmed up to].
        self._heads: "collections.OrderedDict[str, List[Any]]" = collections.OrderedDict()
        #: Destinations whose head another process may have passed: read it again.
        self._stale: Set[str] = set()
        #: Destination -> newest seq stored since the counters were last raised.
        self._floors: Dict[str, int] = {}
        self._floors_raised = 0.0
        #: Destination -> highest seq whose retention by count failed; see prune().
        self._untrimmed: Dict[str, int] = {}

    # -- the queue -------------------------------------------------------------------

    def _enqueue(self, item: Pending) -> None:
        self._queue.append(item)
        if self._writer is None:
            self._writer = asyncio.ensure_future(self._write())

    async def _drain(self) -> None:
        """Wait until every queued append has its outcome."""
        while self._writer is not None:
            await asyncio.shield(self._writer)

    async def _write(self) -> None:
        try:
            while self._queue:
                batch = self._take()
                if not batch:
                    continue
                try:
                    stored = await self._commit(batch)
                except Exception as exc:  # a bug: no append may wait forever for it
                    log.exception("writing %d messages failed", len(batch))
                    for item in batch:
                        item.fail("writing failed: %s: %s" % (type(exc).__name__, exc))
                        self._stale.add(item.destination)
                    continue
                try:
                    await self._trim(stored)
                    await self._raise_floors_now_and_then()
                except Exception:  # a bug: the queue must still be served
                    log.exception("upkeep after a write failed")
                # The callers just answered often append again at once (a connection
                # handles its next SEND once the last one is receipted): a few turns of
                # the loop, no timer, let those join the next batch.
                for _ in range(REJOIN_TURNS):
                    await asyncio.sleep(0)
        finally:
            self._writer = None

    def _take(self) -> List[Pending]:
        """The next batch, oldest first; an append that waited ``timeout`` fails."""
        now = asyncio.get_running_loop().time()
        queue, size = self._queue, 0
        batch: List[Pending] = []
        while queue and len(batch) < self.batch_count:
            item = queue[0]
            if now - item.queued >= self.timeout:
                queue.popleft()
                item.fail("queued append: out of time")
                continue
            if batch and size + item.size > self.batch_bytes:
                break
            queue.popleft()
            batch.append(item)
            size += item.size
        return batch

    # -- one batch -------------------------------------------------------------------

    async def _commit(self, batch: List[Pending]) -> List[Pending]:
        """Number and insert ``batch``; settle every append's future. Returns the
        appends stored."""
        deadline = batch[0].queued + self.timeout
        pending = batch
        stored: List[Pending] = []
        attempt = 0
        #: When telling which messages were stored and confirming them must be over.
        after: Optional[float] = None
        try:
            while pending:
                await self._number(pending, deadline)
                pending = [item for item in pending if not item.future.done()]
                if not pending:
                    break
                documents = [item.raw for item in pending]
                try:
                    await self._run(
                        "insert messages",
                        functools.partial(self.messages.insert_many, documents, ordered=True),
                        deadline=deadline,
                        passthrough=(BulkWriteError,),
                    )
                except BulkWriteError as exc:
                    done, pending, retry = await self._sort_out(pending, exc.details, deadline)
                    stored += done
                    if retry:
                        attempt += 1
                        await self._pause(attempt, deadline, "insert messages")
                    continue
                except StoreUnavailable as exc:
                    # Some prefix may have landed: the same documents go again.
                    log.warning("insert of %d messages failed, retrying: %s", len(pending), exc.log_detail)
                    attempt += 1
                    await self._pause(attempt, deadline, "insert messages")
                    continue
                stored += pending
                pending = []
        except StoreUnavailable as exc:
            after = self._deadline()
            stored += await self._give_up(pending, exc.log_detail or "store unavailable", after)
        if attempt and stored:
            stored = await self._confirm(stored, after if after is not None else self._deadline())
        for item in stored:
            item.succeed(item.seq)
        return stored

    async def _confirm(self, stored: List[Pending], deadline: float) -> List[Pending]:
        """After a write whose reply was lost or not acknowledged, some messages were
        found stored rather than acknowledged. One write at the client's write concern
        made after them (raising their counters) is acknowledged only once they too are
        durable at it (a replica set applies writes in order): only then do they count.
        If it fails they fail too, stored or not (the ambiguity of a failed write)."""
        newest: Dict[str, int] = {}
        for item in stored:
            newest[item.destination] = max(item.seq, newest.get(item.destination, 0))
        try:
            await self._raise_floors(newest, deadline)
        except StoreUnavailable as exc:
            for item in stored:
                item.fail("could not confirm the write: %s" % exc.log_detail)
                self._stale.add(item.destination)
            return []
        return stored

    async def _number(self, items: List[Pending], deadline: float) -> None:
        """Give every unnumbered append the next seq of its destination and encode its
        document; one MongoDB could never store fails here, taking no number."""
        heads, stale = self._heads, self._stale
        cold: Dict[str, None] = {}
        passed: Dict[str, None] = {}
        for item in items:
            if item.raw is None:
                if item.destination in stale:
                    passed[item.destination] = None
                elif item.destination not in heads:
                    cold[item.destination] = None
        if cold:
            for destination, (seq, epoch) in (await self._counters_of(list(cold), deadline)).items():
                heads[destination] = [seq, epoch, 0]
        for destination in passed:
            seq, epoch = await self._read_head(destination, deadline)
            head = heads.get(destination)
            heads[destination] = [seq, epoch, head[2] if head is not None else 0]
            stale.discard(destination)
        for item in items:
            if item.raw is not None:
                continue
            head = heads[item.destination]
            heads.move_to_end(item.destination)
            seq = head[0] + 1
            document = message_document(
                item.message_id, item.destination, seq, head[1], item.body, item.headers, item.timestamp
            )
            try:
                raw = bson.encode(document)
            except (BSONError, ValueError, TypeError) as exc:
                item.fail("message cannot be stored: %s" % exc)
                continue
            if len(raw) > MAX_DOCUMENT:
                item.fail("message of %d bytes is too large to store" % len(raw))
                continue
            head[0] = item.seq = seq
            item.epoch = head[1]
            item.raw = RawBSONDocument(raw)
        while len(heads) > HEADS:
            forgotten, _ = heads.popitem(last=False)
            self._stale.discard(forgotten)

    async def _sort_out(
        self, pending: List[Pending], details: Mapping[str, Any], deadline: float
    ) -> Tuple[List[Pending], List[Pending], bool]:
        """After an ordered insert stopped at a refused document: (stored, still to
        write, whether to back off first)."""
        errors = details.get("writeErrors") or []
        if not errors or details.get("writeConcernErrors"):
            # Not acknowledged at the write concern: write the same documents again
            # (those that landed come back as their own duplicates).
            log.warning("insert of %d messages not acknowledged: %s", len(pending), details.get("writeConcernErrors"))
            return [], pending, True
        index = int(errors[0]["index"])
        stored, rest = pending[:index], pending[index:]
        culprit = rest[0]
        if errors[0].get("code") not in _DUPLICATE:
            culprit.fail("message cannot be stored: %s" % errors[0].get("errmsg"))
            self._renumber(rest, culprit.destination)
            return stored, rest[1:], False
        # A duplicate: our own document from an earlier attempt whose reply was lost
        # (then so may be those after it), or another message at that (destination, seq).
        ids = [item.message_id for item in rest]
        found = await self._run(
            "insert messages",
            lambda: self.messages.find({"_id": {"$in": ids}}, {"seq": 1}).to_list(length=len(ids)),
            deadline=deadline,
        )
        landed = {document["_id"]: int(document["seq"]) for document in found}
        left = []
        for item in rest:
            if item.message_id in landed:
                item.seq = landed[item.message_id]
                stored.append(item)
            else:
                left.append(item)
        if culprit.message_id not in landed:
            self._renumber(left, culprit.destination)
        return stored, left, False

    def _renumber(self, items: Iterable[Pending], destination: str) -> None:
        """Another message took a number of ``destination`` (or one of ours could not
        be stored): read its newest number again and number our rest after it."""
        self._stale.add(destination)
        for item in items:
            if item.destination == destination:
                item.unnumber()

    async def _give_up(self, pending: List[Pending], detail: str, deadline: float) -> List[Pending]:
        """Out of time: those of ``pending`` stored after all are returned (to be
        confirmed), the rest fail. Their destinations' newest numbers are read again
        before the next append."""
        numbered = [item for item in pending if item.raw is not None and not item.future.done()]
        landed: Dict[str, int] = {}
        if numbered:
            ids = [item.message_id for item in numbered]
            try:
                found = await self._run(
                    "check messages",
                    lambda: self.messages.find({"_id": {"$in": ids}}, {"seq": 1}).to_list(length=len(ids)),
                    deadline=deadline,
                )
                landed = {document["_id"]: int(document["seq"]) for document in found}
            except StoreUnavailable as exc:
                log.warning("could not tell which of %d messages were stored: %s", len(ids), exc.log_detail)
        stored = []
        for item in pending:
            self._stale.add(item.destination)
            if item.message_id in landed:
                item.seq = landed[item.message_id]
                stored.append(item)
            else:
                item.fail(detail)
        return stored

    # -- heads and the counters' floor ---------------------------------------------

    async def _newest_stored(self, destination: str, deadline: Optional[float] = None) -> int:
        newest = await self._run(
            "read newest seq",
            lambda: self.messages.find({"destination": destination}, {"seq": 1})
            .sort("seq", -1)
            .limit(1)
            .to_list(length=1),
            deadline=deadline,
        )
        return int(newest[0]["seq"]) if newest else 0

    async def _counters_of(self, destinations: List[str], deadline: float) -> Dict[str, Tuple[int, str]]:
        """``(floor, epoch)`` of each destination, from its counter (created, with a new
        epoch, where there is none): at most three commands for any number of them.

        The floor may lag the messages (appends do not raise it at once); numbering
        from it is optimistic: an insert at a number already taken is refused by the
        unique index, and that destination's newest number is then read in full."""
        found = await self._run(
            "read counters",
            lambda: self.counters.find({"_id": {"$in": destinations}}).to_list(length=len(destinations)),
            deadline=deadline,
        )
        counters = {document["_id"]: document for document in found}
        missing = [d for d in destinations if d not in counters]
        if missing:
            requests = [
                UpdateOne({"_id": d}, {"$setOnInsert": {"seq": 0, "epoch": new_epoch()}}, upsert=True)
                for d in missing
            ]
            try:
                await self._run(
                    "create counters",
                    functools.partial(self.counters.bulk_write, requests, ordered=False),
                    deadline=deadline,
                    passthrough=(BulkWriteError,),
                )
            except BulkWriteError:
                pass  # another process created some of them (an upsert race): read them
            created = await self._run(
                "read counters",
                lambda: self.counters.find({"_id": {"$in": missing}}).to_list(length=len(missing)),
                deadline=deadline,
            )
            counters.update((document["_id"], document) for document in created)
        heads = {}
        for destination in destinations:
            counter = counters.get(destination)
            if counter is not None and counter.get("epoch"):
                heads[destination] = (int(counter.get("seq") or 0), str(counter["epoch"]))
            else:  # written before epochs existed, or lost in a race: one by one
                heads[destination] = await self._counter(destination, deadline)
        return heads

    async def _read_head(self, destination: str, deadline: float) -> Tuple[int, str]:
        """The newest number of ``destination`` and its epoch, creating its counter
        (with a new epoch) if it has none."""
        floor, epoch = await self._counter(destination, deadline)
        return max(floor, await self._newest_stored(destination, deadline)), epoch

    async def _counter(self, destination: str, deadline: float) -> Tuple[int, str]:
        """``(floor, epoch)`` from the counter of ``destination``, which is created, or
        given an epoch, if needed. Of processes racing to do so the first write wins."""
        for _ in range(3):
            counter = await self._run(
                "read counter", lambda: self.counters.find_one({"_id": destination}), deadline=deadline
            )
            if counter is not None and counter.get("epoch"):
                return int(counter.get("seq") or 0), str(counter["epoch"])
            try:
                if counter is None:
                    await self._run(
                        "create counter",
                        lambda: self.counters.update_one(
                            {"_id": destination},
                            {"$setOnInsert": {"seq": 0, "epoch": new_epoch()}},
                            upsert=True,
                        ),
                        deadline=deadline,
                        passthrough=(DuplicateKeyError,),
                    )
                else:
                    await self._run(
                        "set epoch",
                        lambda: self.counters.update_one(
                            {"_id": destination, "epoch": {"$exists": False}},
                            {"$set": {"epoch": new_epoch()}},
                        ),
                        deadline=deadline,
                    )
            except DuplicateKeyError:
                pass  # another process created it: read it
        raise StoreUnavailable(UNAVAILABLE, log_detail="counter of %s has no epoch" % destination)

    async def _raise_floors(self, newest: Mapping[str, int], deadline: float) -> None:
        """Raise the counters of these destinations to at least these seqs (one
        command)."""
        if not newest:
            return
        requests = [
            UpdateOne({"_id": destination}, {"$max": {"seq": seq}}, upsert=True)
            for destination, seq in newest.items()
        ]
        await self._run(
            "raise counters",
            functools.partial(self.counters.bulk_write, requests, ordered=False),
            deadline=deadline,
        )

    async def _raise_floors_now_and_then(self) -> None:
        """At most every :data:`FLOOR_INTERVAL`, raise the counters to what this process
        stored (so that numbering from them after a restart is seldom refused); a
        failure is only logged, :meth:`prune` raises them before any delete."""
        now = asyncio.get_running_loop().time()
        if not self._floors or now - self._floors_raised < FLOOR_INTERVAL:
            return
        self._floors_raised = now
        try:
            await self._raise_own_floors(self._deadline())
        except StoreUnavailable as exc:
            log.warning("raising the counters deferred: %s", exc.log_detail)

    async def _raise_own_floors(self, deadline: float) -> None:
        """Raise the counters to what this process stored since it last did."""
        floors = dict(self._floors)
        await self._raise_floors(floors, deadline)
        for destination, seq in floors.items():
            if self._floors.get(destination) == seq:
                del self._floors[destination]

    # -- retention by count ----------------------------------------------------------

    async def _trim(self, stored: List[Pending]) -> None:
        """Retention by count after a write: one command for the batch's destinations.
        The messages are stored already, so a failure is only logged; :meth:`prune`
        catches up later."""
        newest: Dict[str, int] = {}
        for item in stored:
            if item.seq > newest.get(item.destination, 0):
                newest[item.destination] = item.seq
        floors = self._floors
        for destination, seq in newest.items():
            if seq > floors.get(destination, 0):
                floors[destination] = seq
        max_count = self.retention.max_count
        if max_count is None:
            return
        # Beyond a few hundred kept, deleting every 1/100th of max_count is close enough.
        step = max(1, max_count // 100)
        horizons: Dict[str, int] = {}
        for destination, seq in newest.items():
            head = self._heads.get(destination)
            trimmed = head[2] if head is not None else 0
            if seq - max_count >= trimmed + step:
                horizons[destination] = seq - max_count
        if not horizons:
            return
        requests = [
            DeleteMany({"destination": destination, "seq": {"$lte": horizon}})
            for destination, horizon in horizons.items()
        ]
        try:
            await self._run(
                "trim", functools.partial(self.messages.bulk_write, requests, ordered=False)
            )
        except StoreUnavailable as exc:
            log.warning("retention by count of %d destinations deferred: %s", len(horizons), exc.log_detail)
            for destination in horizons:
                seq = newest[destination]
                self._untrimmed[destination] = max(seq, self._untrimmed.get(destination, 0))
            return
        for destination, horizon in horizons.items():
            head = self._heads.get(destination)
            if head is not None:
                head[2] = max(head[2], horizon)
