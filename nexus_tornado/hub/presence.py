"""Who is online: counted per user over all of their connections in this process.

A user's first connection publishes ``ONLINE`` on ``/topic/presence``, their last
disconnection ``OFFLINE`` (both persisted and numbered like every message). A new
subscriber first receives a snapshot of everyone online (:meth:`Presence.snapshot`).

``OFFLINE`` waits ``grace`` seconds (``Settings.presence_grace_seconds``): a user back
within it (a page reload, a reconnect) was never offline, and nothing is published.
This also bounds churn: a client looping connect/disconnect publishes ``ONLINE`` once,
and at most one ``ONLINE``/``OFFLINE`` pair per grace period however fast it loops.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Callable, Dict, List

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


class Presence:
    """Counts connections per user and calls ``announce(user_id, status)`` on changes."""

    def __init__(self, announce: Callable[[str, str], None], grace: float = 0.0) -> None:
        self._announce = announce
        self.grace = grace
        self._connections: Dict[str, int] = {}
        #: Users whose last connection closed less than ``grace`` ago: still online.
        self._leaving: Dict[str, asyncio.TimerHandle] = {}

    def connected(self, user_id: str) -> None:
        count = self._connections.get(user_id, 0) + 1
        self._connections[user_id] = count
        if count == 1:
            leaving = self._leaving.pop(user_id, None)
            if leaving is not None:
                leaving.cancel()  # back within the grace period: never went offline
                return
            self._announce(user_id, "ONLINE")

    def disconnected(self, user_id: str) -> None:
        count = self._connections.get(user_id, 0) - 1
        if count > 0:
            self._connections[user_id] = count
            return
        if self._connections.pop(user_id, None) is None:
            return
        if self.grace <= 0:
            self._announce(user_id, "OFFLINE")
            return
        self._leaving[user_id] = asyncio.get_event_loop().call_later(self.grace, self._offline, user_id)

    def _offline(self, user_id: str) -> None:
        if self._leaving.pop(user_id, None) is not None:
            self._announce(user_id, "OFFLINE")

    def settle(self) -> None:
        """Announce now the ``OFFLINE`` of every user still in their grace period
        (at shutdown)."""
        for user_id, handle in list(self._leaving.items()):
            handle.cancel()
            self._offline(user_id)

    def connections(self, user_id: str) -> int:
        return self._connections.get(user_id, 0)

    def online(self) -> List[str]:
        """Users online: connected, or gone for less than the grace period."""
        return sorted(set(self._connections).union(self._leaving))

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
