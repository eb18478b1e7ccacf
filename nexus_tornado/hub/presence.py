"""Who is online: counted per user over all of their connections in this process.

A user's first connection publishes ``ONLINE`` on ``/topic/presence``, their last
disconnection ``OFFLINE`` (both persisted and numbered like every message). A new
subscriber first receives a snapshot of everyone online (:meth:`Presence.snapshot`).
"""

from __future__ import annotations

import datetime
import json
import logging
from typing import Any, Callable, Dict, List

log = logging.getLogger("nexus_tornado.hub.presence")

from ..policy.destinations import PRESENCE_DESTINATION

__all__ = ["PRESENCE_DESTINATION", "Presence", "presence_envelope"]


def _now_iso() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def presence_envelope(user_id: str, status: str) -> Dict[str, Any]:
    """A STATUS_UPDATE envelope (the seed's message type) for one user's presence."""
    return {
        "type": "STATUS_UPDATE",
        "timestamp": _now_iso(),
        "payload": {"entityType": "user", "entityId": user_id, "status": status},
    }


class Presence:
    """Counts connections per user and calls ``announce(user_id, status)`` on changes."""

    def __init__(self, announce: Callable[[str, str], None]) -> None:
        self._announce = announce
        self._connections: Dict[str, int] = {}

    def connected(self, user_id: str) -> None:
        count = self._connections.get(user_id, 0) + 1
        self._connections[user_id] = count
        if count == 1:
            self._announce(user_id, "ONLINE")

    def disconnected(self, user_id: str) -> None:
        count = self._connections.get(user_id, 0) - 1
        if count > 0:
            self._connections[user_id] = count
            return
        if self._connections.pop(user_id, None) is not None:
            self._announce(user_id, "OFFLINE")

    def connections(self, user_id: str) -> int:
        return self._connections.get(user_id, 0)

    def online(self) -> List[str]:
        return sorted(self._connections)

    def snapshot(self) -> bytes:
        """The body of the snapshot a new ``/topic/presence`` subscriber gets first."""
        return json.dumps(
            {
                "type": "PRESENCE_SNAPSHOT",
                "timestamp": _now_iso(),
                "payload": {"online": self.online()},
            },
            separators=(",", ":"),
        ).encode()
