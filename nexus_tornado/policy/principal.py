"""Who is on the other end of a session, as established from their JWT."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, FrozenSet, Mapping

#: The role that grants admin rights (wire contract: the ``roles`` claim).
ADMIN_ROLE = "admin"


@dataclass(frozen=True)
class Principal:
    """An authenticated user: ``sub`` of the token, its roles and all its claims."""

    user_id: str
    roles: FrozenSet[str] = frozenset()
    #: Every claim of the verified token (``chats``, ``boards``, ``calendars``, ...).
    claims: Mapping[str, Any] = field(default_factory=dict)
    #: The token's ``exp``, seconds since the epoch.
    expires_at: float = 0.0

    @property
    def is_admin(self) -> bool:
        return ADMIN_ROLE in self.roles
