"""Who is online: counted per user over all of their connections.

A user's first connection publishes ``ONLINE`` on ``/topic/presence``, their last
disconnection ``OFFLINE`` (both persisted and numbered like every message). A new
subscriber first receives a snapshot of everyone online (:meth:`Presence.snapshot`).

``OFFLINE`` waits ``grace`` seconds (``Settings.presence_grace_seconds``): a user back
within it (a page reload, a reconnect) was never offline, and nothing is published.
This also bounds churn: a client looping connect/disconnect publishes ``ONLINE`` once,
and at most one ``ONLINE``/``OFFLINE`` pair per grace period however fast it loops.

One process counts its own connections. With several processes on one MongoDB a
:class:`Cluster` (:class:`~nexus_tornado.hub.mongo_cluster.MongoCluster`) is attached:
the local transitions go to it, and it announces only the global ones (a user's first
connection on any process, their last one everywhere, after the grace period), adds the connections and users
of the other processes to :meth:`Presence.connections` and :meth:`Presence.online`.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Callable, Dict, List, Optional, Set

from ..policy.destinations import PRESENCE_DESTINATION
from ..policy.validation import iso_timestamp

__all__ = ["PRESENCE_DESTINATION", "Presence", "presence_envelope"]


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
        """The body of the snapshot a new ``/topic/presence`` subscriber gets first."""
        return json.dumps(
            {
                "type": "PRESENCE_SNAPSHOT",
                "timestamp": iso_timestamp(),
                "payload": {"online": self.online()},
            },
            separators=(",", ":"),
        ).encode()
