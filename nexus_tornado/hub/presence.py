"""Who is online: counted per user over all of their connections.

A user's first connection publishes ``ONLINE`` on ``/topic/presence``, their last
disconnection ``OFFLINE`` (both persisted and numbered like every message). A new
subscriber first receives a snapshot of everyone online (:meth:`Presence.snapshot`).

``OFFLINE`` waits ``grace`` seconds (``Settings.presence_grace_seconds``): a user back
within it (a page reload, a reconnect) was never offline, and nothing is published.
This also bounds churn: a client looping connect/disconnect publishes ``ONLINE`` once,
and at most one ``ONLINE``/``OFFLINE`` pair per grace period however fast it loops.

:class:`Announcements` publishes the changes: a change that the store could not take
is published again (it was decided, and with a cluster no other process will announce
it), and one user's changes go out in the order they happened.

One process counts its own connections. With several processes on one MongoDB a
:class:`Cluster` (:class:`~nexus_tornado.hub.mongo_cluster.MongoCluster`) is attached:
the local transitions go to it, and it announces only the global ones (a user's first
connection on any process, their last one everywhere, after the grace period), adds the connections and users
of the other processes to :meth:`Presence.connections` and :meth:`Presence.online`.

The snapshot a new subscriber gets (:meth:`Presence.current_snapshot`) agrees with the
announcements: with a cluster it is read from the shared state whose changes the
announcements publish (a user is in it from the decision to announce ``ONLINE``, on any
process, until the decision to announce ``OFFLINE``), not from the other processes'
heartbeats, which may be ``cluster_interval`` old.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, Awaitable, Callable, Dict, List, Optional, Set

from ..errors import StoreUnavailable
from ..policy.destinations import PRESENCE_DESTINATION
from ..policy.validation import iso_timestamp

__all__ = ["PRESENCE_DESTINATION", "Announcements", "Presence", "presence_envelope"]

log = logging.getLogger("nexus_tornado.hub.presence")


def presence_envelope(user_id: str, status: str) -> Dict[str, Any]:
    """A STATUS_UPDATE envelope (the seed's message type) for one user's presence."""
    return {
        "type": "STATUS_UPDATE",
        "timestamp": iso_timestamp(),
        "payload": {"entityType": "user", "entityId": user_id, "status": status},
    }


class Cluster:
    """What :class:`Presence` needs from the other processes (interface)."""

    def changed(self, user_id: str) -> None:  # pragma: no cover - interface
        """The user's connection count in this process went from 0 to 1 or 1 to 0."""
        raise NotImplementedError

    def connections_elsewhere(self, user_id: str) -> int:  # pragma: no cover - interface
        raise NotImplementedError

    def online_elsewhere(self) -> Set[str]:  # pragma: no cover - interface
        raise NotImplementedError

    async def announced_online(self) -> Set[str]:  # pragma: no cover - interface
        """Users announced ``ONLINE`` (or about to be) and not ``OFFLINE`` since, on
        any process, as the shared state says now."""
        raise NotImplementedError


class Presence:
    """Counts connections per user and calls ``announce(user_id, status)`` on changes
    (on global changes only, through the cluster, when one is attached)."""

    def __init__(self, announce: Callable[[str, str], None], grace: float = 0.0) -> None:
        self._announce = announce
        self.grace = grace
        self._connections: Dict[str, int] = {}
        #: Users whose last connection closed less than ``grace`` ago: still online.
        self._leaving: Dict[str, asyncio.TimerHandle] = {}
        self.cluster: Optional[Cluster] = None

    def connected(self, user_id: str) -> None:
        count = self._connections.get(user_id, 0) + 1
        self._connections[user_id] = count
        if count == 1:
            leaving = self._leaving.pop(user_id, None)
            if leaving is not None:
                leaving.cancel()  # back within the grace period: never went offline
                return
            if self.cluster is not None:
                self.cluster.changed(user_id)
            else:
                self._announce(user_id, "ONLINE")

    def disconnected(self, user_id: str) -> None:
        count = self._connections.get(user_id, 0) - 1
        if count > 0:
            self._connections[user_id] = count
            return
        if self._connections.pop(user_id, None) is None:
            return
        if self.grace <= 0:
            self._gone(user_id)
            return
        self._leaving[user_id] = asyncio.get_event_loop().call_later(self.grace, self._offline, user_id)

    def _offline(self, user_id: str) -> None:
        if self._leaving.pop(user_id, None) is not None:
            self._gone(user_id)

    def _gone(self, user_id: str) -> None:
        """The user's last connection here is gone for good (after the grace period)."""
        if self.cluster is not None:
            self.cluster.changed(user_id)
        else:
            self._announce(user_id, "OFFLINE")

    def settle(self) -> None:
        """Announce now the ``OFFLINE`` of every user still in their grace period
        (at shutdown)."""
        for user_id, handle in list(self._leaving.items()):
            handle.cancel()
            self._offline(user_id)

    def connections(self, user_id: str) -> int:
        """The user's open connections, on every process."""
        elsewhere = self.cluster.connections_elsewhere(user_id) if self.cluster is not None else 0
        return self._connections.get(user_id, 0) + elsewhere

    def local_connections(self, user_id: str) -> int:
        return self._connections.get(user_id, 0)

    def here(self, user_id: str) -> bool:
        """Whether the user is online through this process (connected, or within the
        grace period of their last connection here)."""
        return user_id in self._connections or user_id in self._leaving

    def local_users(self) -> Set[str]:
        """Users online through this process."""
        return set(self._connections).union(self._leaving)

    def local_counts(self) -> Dict[str, int]:
        """Connections per user in this process."""
        return dict(self._connections)

    def online(self) -> List[str]:
        """Users online: connected, or gone for less than the grace period (here or,
        with a cluster, on any process)."""
        users = set(self._connections).union(self._leaving)
        if self.cluster is not None:
            users |= self.cluster.online_elsewhere()
        return sorted(users)

    def snapshot(self) -> bytes:
        """A snapshot body from what this process knows now (with a cluster, the other
        processes' users as of their last heartbeat)."""
        return _snapshot_body(self.online())

    async def current_snapshot(self) -> bytes:
        """The body of the snapshot a new ``/topic/presence`` subscriber gets first.

        With a cluster: this process's users and every user the shared state holds
        online, read now, so a user whose ``ONLINE`` any subscriber was already sent is
        in it (until their ``OFFLINE``). Should the read fail, what :meth:`snapshot` knows."""
        if self.cluster is None:
            return self.snapshot()
        try:
            announced = await self.cluster.announced_online()
        except StoreUnavailable as exc:
            log.warning("presence snapshot from this process's view only: %s", exc.log_detail)
            return self.snapshot()
        return _snapshot_body(sorted(announced.union(self._connections, self._leaving)))


def _snapshot_body(online: List[str]) -> bytes:
    return json.dumps(
        {"type": "PRESENCE_SNAPSHOT", "timestamp": iso_timestamp(), "payload": {"online": online}},
        separators=(",", ":"),
    ).encode()


class Announcements:
    """Publishes presence changes (``announcements(user_id, status)``, the callback
    :class:`Presence` and the cluster call) with ``publish``: each user's changes one
    after another in order, different users' side by side. While the store is
    unavailable a change is published again, after ``retry_first`` seconds, doubling up
    to ``retry_max``; any other failure is logged and the change dropped.

    Memory stays bounded however long the store is down: per user one change is being
    published and at most one waits behind it. A newer change meets the waiting one:
    the opposite cancels it (no watcher saw either), the same is already on its way."""

    def __init__(
        self,
        publish: Callable[[str, str], Awaitable[Any]],
        retry_first: float = 0.1,
        retry_max: float = 2.0,
    ) -> None:
        self._publish = publish
        self.retry_first = retry_first
        self.retry_max = retry_max
        #: Per user, the change being published, and the one waiting behind it.
        self._running: Dict[str, "asyncio.Future[None]"] = {}
        self._waiting: Dict[str, str] = {}
        #: Publishes tried again after the store failed (for tests and the operator).
        self.retries = 0

    def __call__(self, user_id: str, status: str) -> None:
        if user_id not in self._running:
            self._start(user_id, status)
        elif user_id not in self._waiting:
            self._waiting[user_id] = status
        elif self._waiting[user_id] != status:
            del self._waiting[user_id]

    @property
    def pending(self) -> int:
        """Users with a change not yet published."""
        return len(self._running)

    async def flush(self) -> None:
        """Return once every change announced so far is published (or dropped); the
        caller bounds the wait."""
        while self._running:
            await asyncio.wait(list(self._running.values()))

    def cancel(self) -> int:
        """Give up on the changes not yet published (at shutdown); return how many users had one."""
        self._waiting.clear()
        running = list(self._running.values())
        for task in running:
            task.cancel()
        return len(running)

    def _start(self, user_id: str, status: str) -> None:
        task = asyncio.ensure_future(self._announce(user_id, status))
        self._running[user_id] = task
        task.add_done_callback(lambda done: self._done(user_id, done))

    async def _announce(self, user_id: str, status: str) -> None:
        pause = self.retry_first
        while True:
            try:
                await self._publish(user_id, status)
                return
            except StoreUnavailable as exc:
                self.retries += 1
                log.warning(
                    "presence %s of %s not stored, trying again in %.1f s: %s", status, user_id, pause, exc.log_detail
                )
            await asyncio.sleep(pause)
            pause = min(pause * 2, self.retry_max)

    def _done(self, user_id: str, task: "asyncio.Future[None]") -> None:
        del self._running[user_id]
        if not task.cancelled() and task.exception() is not None:
            log.warning("presence change of %s not published: %s", user_id, task.exception())
        status = self._waiting.pop(user_id, None)
        if status is not None:
            self._start(user_id, status)
