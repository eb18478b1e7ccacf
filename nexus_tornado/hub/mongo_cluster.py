"""Presence and per-user limits over several processes, kept on MongoDB.

Collections (same prefix as the store)::

    nexus_processes  {_id: process id, users: [user ids with a connection here],
                      conns: [[user, connections]],
                      expires: float seconds (the writer's clock), expires_at: Date}
                     TTL index on expires_at (MongoDB deletes dead processes' documents)
    nexus_presence   {_id: user id, state: "online" | "offline"}

**Heartbeat.** Every ``interval`` seconds each process rewrites its document with
``expires = now + ttl`` and reads the documents of the other live processes
(``expires > now``), keeping their users and connection counts in memory. A process
that dies stops renewing its document: ``ttl`` seconds later it no longer counts
anywhere, and the per-user limits (:mod:`.mongo_limits`, run from the heartbeat) take
its connections off its users.

**Presence.** When a user's connections in this process go from 0 to 1 (or 1 to 0),
the process rewrites its document, asks MongoDB whether another live process holds the
user, and compare-and-sets the user's state document: only the process whose write
changes ``offline`` to ``online`` (or back) announces ``ONLINE``/``OFFLINE``, so each
global transition is announced once. Every heartbeat each process also *sweeps*: users
marked online whom no live process holds (a crashed process's users) are set offline
and announced, and its own users not marked online are set online. The presence
snapshot is read from the state documents (:meth:`MongoCluster.announced_online`): they
change before the announcement is published, so a snapshot never lags an announcement
already delivered anywhere. So a crashed
process's users go offline within ``ttl + interval`` seconds (plus the clock skew
between processes); defaults 15 + 5 s.

**Limits.** The connection cap and the SEND rate are counted per user in MongoDB
(:class:`~nexus_tornado.hub.mongo_limits.MongoLimits`, attached as :attr:`MongoCluster.limits`).
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import time
import uuid
from typing import Any, Callable, Dict, List, Optional, Set

from pymongo.errors import DuplicateKeyError

from ..errors import StoreUnavailable
from .mongo_calls import BoundedCalls, cancel_and_wait
from .mongo_limits import MongoLimits
from .presence import Cluster, Presence

log = logging.getLogger("nexus_tornado.hub.mongo_cluster")

ONLINE, OFFLINE = "online", "offline"


class MongoCluster(BoundedCalls, Cluster):
    """This process's view of the others, through one shared database."""

    def __init__(
        self,
        database: Any,
        presence: Presence,
        announce: Callable[[str, str], None],
        *,
        collection_prefix: str = "nexus_",
        interval: float = 5.0,
        ttl: float = 15.0,
        timeout: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.presence = presence
        self.announce = announce
        #: The per-user limits, kept up each heartbeat (``None``: none shared).
        self.limits: Optional[MongoLimits] = None
        self.interval = float(interval)
        self.ttl = float(ttl)
        self.timeout = float(timeout)
        self._clock = clock
        self.process_id = uuid.uuid4().hex
        self.processes = database.get_collection(collection_prefix + "processes")
        self.states = database.get_collection(collection_prefix + "presence")
        self._users: Set[str] = set()
        self._conns: Dict[str, int] = {}
        #: Processes seen alive at the last heartbeat; those that went since are dead.
        self._alive: Set[str] = set()
        self._dead: Set[str] = set()
        self._dirty: Dict[str, None] = {}
        self._syncing: Optional["asyncio.Future[None]"] = None
        self._loop: Optional["asyncio.Future[None]"] = None
        self._closed = False

    # -- what Presence and the limiter ask ------------------------------------------------

    def changed(self, user_id: str) -> None:
        if self._closed:
            return  # shut down: the others' sweep takes the user offline if need be
        self._dirty[user_id] = None
        if self._syncing is None:
            self._syncing = asyncio.ensure_future(self._sync())

    def connections_elsewhere(self, user_id: str) -> int:
        return self._conns.get(user_id, 0)

    def online_elsewhere(self) -> Set[str]:
        return set(self._users)

    async def announced_online(self) -> Set[str]:
        """The users whose state document says online: the state each announcement
        publishes a change of (it is written before the announcement is)."""
        marked = await self._run(
            "read presence",
            lambda: self.states.find({"state": ONLINE}, {"_id": 1}).to_list(length=None),
        )
        return {str(d["_id"]) for d in marked}

    # -- life cycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Create the TTL index, write this process's document, read the others', and
        start the heartbeat."""
        await self._run(
            "create indexes",
            lambda: self.processes.create_index("expires_at", expireAfterSeconds=0),
        )
        await self._run("create indexes", lambda: self.states.create_index("state"))
        await self._beat()
        self._loop = asyncio.ensure_future(self._heartbeat())

    async def close(self) -> None:
        """Stop the heartbeat and remove this process's document (its users then go
        offline at the others' next sweep, unless connected elsewhere). Transitions
        already under way (the connections closed by the shutdown) get ``timeout`` to
        be announced first."""
        self._closed = True
        if self._syncing is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._syncing), self.timeout)
            except (asyncio.TimeoutError, asyncio.CancelledError):
                pass
        for task in (self._loop, self._syncing):
            await cancel_and_wait(task)
        self._loop = self._syncing = None
        if self.limits is not None:
            await self.limits.close()
        try:
            await self._run("leave", lambda: self.processes.delete_one({"_id": self.process_id}))
        except StoreUnavailable as exc:
            log.warning("could not remove this process's document: %s", exc.log_detail)

    # -- the heartbeat --------------------------------------------------------------------------

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self._beat()
                await self._sweep()
                if self.limits is not None:
                    await self.limits.maintain(self._dead)
            except StoreUnavailable as exc:
                log.warning("presence heartbeat failed: %s", exc.log_detail)
            except Exception:
                log.exception("presence heartbeat failed")

    async def _beat(self) -> None:
        await self._write_own()
        now = self._clock()
        everyone: List[Dict[str, Any]] = await self._run(
            "read processes",
            lambda: self.processes.find({"_id": {"$ne": self.process_id}}).to_list(length=None),
        )
        documents = [d for d in everyone if float(d.get("expires") or 0) > now]
        alive = {str(d["_id"]) for d in documents}
        # Dead: expired (its document not yet removed), or gone since the last beat.
        self._dead = ({str(d["_id"]) for d in everyone} - alive) | (self._alive - alive)
        self._alive = alive
        users: Set[str] = set()
        conns: Dict[str, int] = {}
        for document in documents:
            users.update(str(u) for u in document.get("users") or ())
            for user, count in document.get("conns") or ():
                conns[str(user)] = conns.get(str(user), 0) + int(count)
        self._users, self._conns = users, conns

    async def _write_own(self) -> None:
        counts = self.presence.local_counts()
        expires = self._clock() + self.ttl
        document = {
            "users": sorted(self.presence.local_users()),
            "conns": [[user, n] for user, n in sorted(counts.items())],
            "expires": expires,
            "expires_at": datetime.datetime.fromtimestamp(expires, datetime.timezone.utc),
        }
        await self._run(
            "heartbeat",
            lambda: self.processes.update_one({"_id": self.process_id}, {"$set": document}, upsert=True),
        )

    async def _sweep(self) -> None:
        """Set offline the users no live process holds; set online this process's
        users whose state says otherwise."""
        online = await self.announced_online()
        local = self.presence.local_users()
        for user in online - local - self._users:
            await self._settle(user)
        for user in local - online:
            await self._transition(user, True)

    # -- transitions -----------------------------------------------------------------------------

    async def _sync(self) -> None:
        try:
            while self._dirty:
                if self._closed and self._loop is None:
                    break
                users = list(self._dirty)
                try:
                    await self._write_own()
                    for user in users:
                        await self._settle(user)
                        self._dirty.pop(user, None)
                except StoreUnavailable as exc:
                    log.warning("presence update failed, retrying: %s", exc.log_detail)
                    await asyncio.sleep(min(self.interval, 1.0))
        finally:
            self._syncing = None

    async def _settle(self, user_id: str) -> None:
        """Make the user's state what the live processes say, announcing a change."""
        now = self._clock()
        holder = await self._run(
            "presence",
            lambda: self.processes.find_one(
                {"users": user_id, "expires": {"$gt": now}, "_id": {"$ne": self.process_id}},
                {"_id": 1},
            ),
        )
        if holder is None:
            self._users.discard(user_id)
            self._conns.pop(user_id, None)
        want = self.presence.here(user_id) or holder is not None
        await self._transition(user_id, want)

    async def _transition(self, user_id: str, want: bool) -> None:
        """Compare-and-set the state; the one process whose write changes it announces."""
        if want:
            try:
                result = await self._run(
                    "presence",
                    lambda: self.states.update_one(
                        {"_id": user_id, "state": {"$ne": ONLINE}}, {"$set": {"state": ONLINE}}, upsert=True
                    ),
                    passthrough=(DuplicateKeyError,),
                )
            except DuplicateKeyError:
                return  # already online: another process announced it
            changed = bool(result.modified_count) or result.upserted_id is not None
        else:
            result = await self._run(
                "presence",
                lambda: self.states.update_one({"_id": user_id, "state": ONLINE}, {"$set": {"state": OFFLINE}}),
            )
            changed = bool(result.modified_count)
        if changed:
            self.announce(user_id, "ONLINE" if want else "OFFLINE")
