"""Per-user limits counted over several processes, on MongoDB.

One document per user (same prefix as the store)::

    nexus_users  {_id: user id, n: connections on every process, c: {process id: connections},
                  log: [wall-clock times of the SENDs admitted in the window, oldest first],
                  v: version of log, expires_at: Date}
                 TTL index on expires_at (set only once n is 0: the log then outlives
                 the user's last connection by one window)

**Connections.** Every CONNECT of a user increments ``n`` (and this process's ``c``
entry) in one update that matches only while ``n`` is below the cap: the cap holds
exactly, however many processes the user's connections reach at once. A close
decrements it. A process that dies leaves its ``c`` entries behind; the others take them
off ``n`` once its heartbeat document has expired or gone (:meth:`MongoLimits.forget`).

**SENDs.** A user whose connections are all on this process (every ``c`` entry but ours
is 0 in the last answer) is admitted by the local sliding log
(:class:`~nexus_tornado.policy.limits.SendRateLimiter`), no round trip; the admissions
are reported into ``log`` a few at a time (``report_every``, a ``cluster_send_slack``
share of the limit): before admitting past that many unreported ones, a SEND waits for
the report, whose answer also says whether another process now holds the user. A user
seen on another process is admitted by compare-and-set of ``log`` on its version: read
(or remember) the log, refuse when ``limit`` of its times are within the window, else
write it back with the new time if the version is still the one read (else read again).

So a user spread over any number of processes gets at most ``limit`` SENDs per window
plus what one process admitted locally and had not reported when another process took
the user: ``report_every``. SENDs held in a transaction and token refreshes cannot wait
and are always counted locally (against the last log read) and reported at once.
"""

from __future__ import annotations

import asyncio
import collections
import datetime
import logging
import time
from typing import Any, Callable, Deque, Dict, Iterable, List, Optional, Set, Tuple

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from ..errors import StoreUnavailable
from ..policy.limits import SendRateLimiter, SharedCounts
from .mongo_calls import BoundedCalls, cancel_and_wait

log = logging.getLogger("nexus_tornado.hub.mongo_limits")

#: Compare-and-set attempts of one admission before it is refused for now (several
#: processes writing one user's log at the same instant).
MAX_ATTEMPTS = 16
#: The ``retryAfter`` of a SEND refused after MAX_ATTEMPTS, seconds.
CONTENDED_RETRY = 0.05


class MongoLimits(BoundedCalls, SharedCounts):
    """The connection cap and SEND rate of users spread over processes."""

    def __init__(
        self,
        database: Any,
        process_id: str,
        limiter: Optional[SendRateLimiter],
        *,
        slack: float = 0.05,
        collection_prefix: str = "nexus_",
        timeout: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.users = database.get_collection(collection_prefix + "users")
        self.process_id = process_id
        self.limiter = limiter
        self.limit = limiter.limit if limiter is not None else 0
        self.window = limiter.window if limiter is not None else 60.0
        #: Local admissions of a user reported together (and at most unreported).
        self.report_every = max(1, int(self.limit * slack))
        self.timeout = float(timeout)
        self._clock = clock
        self._field = "c." + process_id
        #: Users this process counted connections of in MongoDB, and how many.
        self._connections: Dict[str, int] = {}
        #: Users whose SENDs go through the shared log.
        self._shared: Set[str] = set()
        #: Per user, the log and its version as last read.
        self._known: Dict[str, Tuple[int, List[float]]] = {}
        #: Per user, times of SENDs admitted locally and not yet in the shared log.
        self._unreported: Dict[str, Deque[float]] = {}
        self._locks: Dict[str, asyncio.Lock] = {}
        #: Connection decrements that failed, to try again at the next heartbeat.
        self._owed: Dict[str, int] = {}
        self._tasks: Set["asyncio.Future[Any]"] = set()
        self._forgotten: Set[str] = set()
        #: Users with a report under way (one at a time is enough).
        self._reporting: Set[str] = set()
        #: Until when SENDs do not wait for MongoDB, which just failed (wall clock).
        self._down_until = 0.0

    async def start(self) -> None:
        await self._run("create indexes", lambda: self.users.create_index("expires_at", expireAfterSeconds=0))

    # -- connections -------------------------------------------------------------------------

    async def connect(self, user_id: str, cap: int) -> bool:
        try:
            document = await self._run(
                "count connection",
                lambda: self.users.find_one_and_update(
                    {"_id": user_id, "n": {"$lt": cap}},
                    {"$inc": {"n": 1, self._field: 1}, "$unset": {"expires_at": ""}},
                    upsert=True,
                    return_document=ReturnDocument.AFTER,
                ),
                passthrough=(DuplicateKeyError,),
            )
        except DuplicateKeyError:
            return False  # the document exists and its n is at the cap
        if document is None:
            return False
        self._connections[user_id] = self._connections.get(user_id, 0) + 1
        self._learn(user_id, document)
        return True

    def disconnect(self, user_id: str) -> None:
        count = self._connections.get(user_id, 0) - 1
        if count > 0:
            self._connections[user_id] = count
        else:
            self._connections.pop(user_id, None)
        self._spawn(self._release(user_id, 1, last=count <= 0))

    async def _release(self, user_id: str, count: int, last: bool = False) -> None:
        try:
            document = await self._run(
                "uncount connection",
                # Not when this process's entry is gone: the others took it for dead
                # (silent for cluster_ttl) and took its connections off already.
                lambda: self.users.find_one_and_update(
                    {"_id": user_id, self._field: {"$gte": count}},
                    {"$inc": {"n": -count, self._field: -count}},
                    return_document=ReturnDocument.AFTER,
                ),
            )
        except StoreUnavailable as exc:
            log.warning("connection of %s not uncounted yet: %s", user_id, exc.log_detail)
            self._owed[user_id] = self._owed.get(user_id, 0) + count
            return
        if document is not None and int(document.get("n", 0)) <= 0:
            await self._expire(user_id)
        if last and user_id not in self._connections:
            await self._report(user_id)
            if user_id not in self._connections:  # not back meanwhile
                self._forget_user(user_id)

    async def _expire(self, user_id: str) -> None:
        """With no connection left anywhere, the document lives one window more."""
        when = datetime.datetime.fromtimestamp(self._clock() + self.window, datetime.timezone.utc)
        await self._run(
            "expire user",
            lambda: self.users.update_one({"_id": user_id, "n": {"$lte": 0}}, {"$set": {"expires_at": when}}),
        )

    # -- SENDs -----------------------------------------------------------------------------------

    def shared(self, user_id: str) -> bool:
        return user_id in self._shared

    async def ready(self, user_id: str) -> None:
        self._check_up()
        unreported = self._unreported.get(user_id)
        if unreported is not None and len(unreported) >= self.report_every:
            await self._report(user_id)

    def sent(self, user_id: str) -> None:
        unreported = self._unreported.get(user_id)
        if unreported is None:
            unreported = self._unreported[user_id] = collections.deque(maxlen=max(self.limit, 1))
        unreported.append(self._clock())
        if user_id in self._reporting or self._clock() < self._down_until:
            return  # the report under way (or the next heartbeat) takes it
        if len(unreported) >= self.report_every or user_id in self._shared:
            self._spawn(self._report(user_id))

    async def admit(self, user_id: str) -> Optional[float]:
        self._check_up()
        async with self._lock(user_id):
            for _ in range(MAX_ATTEMPTS):
                version, times = self._known.get(user_id) or await self._read(user_id)
                now = self._clock()
                pending = list(self._unreported.get(user_id, ()))
                within = sorted([t for t in times if t > now - self.window] + pending)
                if len(within) >= self.limit:
                    if pending:
                        self._spawn(self._report(user_id))
                    return within[-self.limit] + self.window - now
                if await self._write(user_id, version, sorted(within + [now]), len(pending)):
                    return None
            log.info("SEND of %s refused for now: %d other writes of its log came first", user_id, MAX_ATTEMPTS)
            return CONTENDED_RETRY

    async def _report(self, user_id: str) -> None:
        """Put the local admissions not reported yet into the shared log."""
        self._reporting.add(user_id)
        try:
            async with self._lock(user_id):
                for _ in range(MAX_ATTEMPTS):
                    pending = list(self._unreported.get(user_id, ()))
                    if not pending:
                        return
                    version, times = self._known.get(user_id) or await self._read(user_id)
                    cutoff = self._clock() - self.window
                    if await self._write(
                        user_id, version, sorted([t for t in times if t > cutoff] + pending), len(pending)
                    ):
                        return
        finally:
            self._reporting.discard(user_id)

    def _check_up(self) -> None:
        """SENDs do not wait for a MongoDB that just failed: counted locally meanwhile."""
        if self._clock() < self._down_until:
            raise StoreUnavailable("per-user limits", log_detail="MongoDB failed less than %g s ago" % self.timeout)

    async def _run_send(self, what: str, operation: Callable[[], Any], **options: Any) -> Any:
        try:
            return await self._run(what, operation, **options)
        except StoreUnavailable:
            self._down_until = self._clock() + self.timeout
            raise

    async def _read(self, user_id: str) -> Tuple[int, List[float]]:
        document = await self._run_send("read user", lambda: self.users.find_one({"_id": user_id}))
        self._learn(user_id, document or {})
        return self._known[user_id]

    async def _write(self, user_id: str, version: int, times: List[float], reported: int) -> bool:
        """Compare-and-set the log; ``reported``: how many of the oldest unreported
        times it now holds. False (and the log read again) when another process wrote first."""
        current = {"v": version} if version else {"v": {"$exists": False}}
        try:
            document = await self._run_send(
                "count send",
                lambda: self.users.find_one_and_update(
                    dict(current, _id=user_id),
                    {"$set": {"log": times[-self.limit:], "v": version + 1}},
                    upsert=True,
                    return_document=ReturnDocument.AFTER,
                ),
                passthrough=(DuplicateKeyError,),
            )
        except DuplicateKeyError:
            document = None
        if document is None:
            await self._read(user_id)
            return False
        unreported = self._unreported.get(user_id)
        for _ in range(min(reported, len(unreported or ()))):
            unreported.popleft()  # type: ignore[union-attr]
        if not unreported:
            self._unreported.pop(user_id, None)
        self._learn(user_id, document)
        return True

    def _learn(self, user_id: str, document: Dict[str, Any]) -> None:
        """Take in what the user's document says: who else holds the user, the log."""
        times = sorted(float(t) for t in document.get("log") or ())
        self._known[user_id] = (int(document.get("v") or 0), times)
        others = any(int(n) > 0 for p, n in (document.get("c") or {}).items() if p != self.process_id)
        if others:
            self._shared.add(user_id)
        else:
            self._shared.discard(user_id)
        if self.limiter is not None:
            now = self._clock()
            pending = self._unreported.get(user_id, ())
            self.limiter.seed(user_id, [now - t for t in times] + [now - t for t in pending])

    def _lock(self, user_id: str) -> asyncio.Lock:
        lock = self._locks.get(user_id)
        if lock is None:
            lock = self._locks[user_id] = asyncio.Lock()
        return lock

    def _forget_user(self, user_id: str) -> None:
        if user_id in self._unreported:
            return  # a report failed: kept for the next heartbeat
        self._shared.discard(user_id)
        self._known.pop(user_id, None)
        lock = self._locks.get(user_id)
        if lock is not None and not lock.locked():
            del self._locks[user_id]

    # -- upkeep (each heartbeat) -------------------------------------------------------------

    async def maintain(self, dead: Iterable[str]) -> None:
        """Report what is still unreported, uncount failed closes again, and take dead
        processes' connections off their users."""
        for user_id in list(self._unreported):
            await self._report(user_id)
            if user_id not in self._connections:
                self._forget_user(user_id)
        for user_id, count in list(self._owed.items()):
            del self._owed[user_id]
            await self._release(user_id, count, last=user_id not in self._connections)
        for process_id in dead:
            if process_id not in self._forgotten:
                await self.forget(process_id)
                self._forgotten.add(process_id)

    async def forget(self, process_id: str) -> None:
        """Take a process's connections off every user it held (it died, or it is this
        one shutting down)."""
        field = "c." + process_id
        held = await self._run(
            "read users", lambda: self.users.find({field: {"$gt": 0}}, {"c": 1}).to_list(length=None)
        )
        for document in held:
            count = int((document.get("c") or {}).get(process_id, 0))
            user_id = document["_id"]
            after = await self._run(
                "uncount connections",
                lambda: self.users.find_one_and_update(
                    {"_id": user_id, field: count},
                    {"$inc": {"n": -count}, "$unset": {field: ""}},
                    return_document=ReturnDocument.AFTER,
                ),
            )
            if after is not None and int(after.get("n", 0)) <= 0:
                await self._expire(user_id)

    async def close(self) -> None:
        """Report what is unreported and take this process's connections off (at
        shutdown, once its connections are closed)."""
        tasks = list(self._tasks)
        if tasks:
            await asyncio.wait(tasks, timeout=self.timeout)
        for task in list(self._tasks):
            await cancel_and_wait(task)
        try:
            for user_id in list(self._unreported):
                await self._report(user_id)
            await self.forget(self.process_id)
        except StoreUnavailable as exc:
            log.warning("could not take this process's connections off the users: %s", exc.log_detail)

    def _spawn(self, work: Any) -> None:
        task = asyncio.ensure_future(self._logged(work))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _logged(self, work: Any) -> None:
        try:
            await work
        except StoreUnavailable as exc:
            log.warning("per-user limits not updated: %s", exc.log_detail)
        except Exception:
            log.exception("per-user limits not updated")
