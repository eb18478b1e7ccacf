"""The demo app's users and the JWT claims they log in with.

Claims follow the wire contract: ``sub``, ``roles`` (``admin`` is the admin role),
and the membership lists the default resolvers read: ``chats`` (chat ids), ``boards``
(board ids), ``calendars`` (user ids whose calendar is shared with this user) and
``docs`` (ids of the shared documents they may edit).
"""

from __future__ import annotations

from typing import Any, Dict, List, NamedTuple, Optional, Tuple


class DemoUser(NamedTuple):
    """One demo account: who it is and what its token grants."""

    user_id: str
    name: str
    roles: Tuple[str, ...]
    chats: Tuple[str, ...]
    boards: Tuple[str, ...]
    calendars: Tuple[str, ...]
    docs: Tuple[str, ...] = ("notes", "ideas")

    def claims(self) -> Dict[str, Any]:
        """The membership and role claims of this user's token (no ``sub``/``exp``)."""
        return {
            "name": self.name,
            "roles": list(self.roles),
            "chats": list(self.chats),
            "boards": list(self.boards),
            "calendars": list(self.calendars),
            "docs": list(self.docs),
        }

    def public(self) -> Dict[str, Any]:
        """What the login page may show about this user."""
        return {"id": self.user_id, **self.claims()}


#: The accounts of the demo, in the order the login page lists them. Alice is the only
#: admin; Dave belongs to no board, so the board shows what a refused action looks like.
DEMO_USERS: Tuple[DemoUser, ...] = (
    DemoUser("alice", "Alice (admin)", ("admin",), ("general", "design"), ("roadmap",), ("bob",)),
    DemoUser("bob", "Bob", (), ("general", "design"), ("roadmap",), ("alice",)),
    DemoUser("carol", "Carol", (), ("general", "support"), ("roadmap", "support"), ("alice", "bob")),
    DemoUser("dave", "Dave (guest)", (), ("general",), (), (), ("notes",)),
)

_BY_ID = {user.user_id: user for user in DEMO_USERS}


def find_user(user_id: str) -> Optional[DemoUser]:
    """The demo user with this id, or ``None``."""
    return _BY_ID.get(user_id)


def public_users() -> List[Dict[str, Any]]:
    """Every demo user as the login page shows them."""
    return [user.public() for user in DEMO_USERS]
