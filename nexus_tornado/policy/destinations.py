"""The wire contract's destinations, their patterns, and the ids they may carry.

Every destination the contract names is defined here once (``CHAT``, ``PRESENCE``,
``ERRORS``, ...) and imported wherever one is needed: the ACL's table, the hub's
delivery tracking, the glue's error queue and token refresh, the plugin's server-side
publishing.

Destination patterns such as ``/topic/chat/{chatId}``:

A pattern is a ``/``-separated path whose segments are either literal text or one
``{name}`` placeholder. A placeholder matches exactly one segment made of the safe id
charset (:data:`ID_REGEX`), so no id can smuggle a ``/``, a wildcard, an empty segment
or a path trick into a destination. The ACL (which destinations exist, who may use
them) and the message validator (which message types go where, and which payload ids
must equal the destination's) both match destinations through this one class.
"""

from __future__ import annotations

import re
from typing import Dict, Optional, Tuple

__all__ = [
    "ANNOUNCEMENTS",
    "BOARD",
    "CALENDAR",
    "CHAT",
    "DOC",
    "ERRORS_DESTINATION",
    "ID_REGEX",
    "NOTIFICATIONS",
    "NOTIFICATIONS_PREFIX",
    "PRESENCE_DESTINATION",
    "TOKEN_DESTINATION",
    "DestinationPattern",
    "is_valid_id",
    "notifications_for",
]

# -- the wire contract's destinations (docs/protocol.md "Destinations") ---------------

#: A chat's messages; participants subscribe and send.
CHAT = "/topic/chat/{chatId}"
#: One user's notifications, kept for them while offline; sent by the server only.
NOTIFICATIONS = "/topic/notifications/{userId}"
#: What every ``/topic/notifications/{userId}`` starts with.
NOTIFICATIONS_PREFIX = NOTIFICATIONS[: NOTIFICATIONS.index("{")]
#: A board's updates; board members subscribe and send.
BOARD = "/topic/board/{boardId}"
#: A shared plain-text document's operations; its editors subscribe and send.
DOC = "/topic/doc/{docId}"
#: One user's calendar; they send, users it is shared with subscribe.
CALENDAR = "/topic/calendar/{userId}"
#: Who is online (ONLINE/OFFLINE status updates); sent by the server only.
PRESENCE_DESTINATION = "/topic/presence"
#: Announcements to everyone; admins send.
ANNOUNCEMENTS = "/topic/announcements"
#: Each session's own rejections (``{"error": CODE, ...}`` bodies); never sent to.
ERRORS_DESTINATION = "/user/queue/errors"
#: A SEND here replaces the session's token without reconnecting.
TOKEN_DESTINATION = "/session/token"


def notifications_for(user_id: str) -> str:
    """The notifications destination of ``user_id``."""
    return NOTIFICATIONS_PREFIX + user_id


#: An id inside a destination (and a ``chatId``/``boardId``/``docId``/``entityId`` in a payload):
#: 1-128 ASCII letters, digits, ``_``, ``-``, ``.`` or ``@``, not starting with ``.``.
#: ``@`` admits e-mail-like user ids; ``.`` may not lead so ``.``/``..`` never appear.
#: Everything else (``/``, ``*``, ``>``, ``#``, ``%``, spaces, non-ASCII) is refused.
ID_REGEX = r"[A-Za-z0-9_@-][A-Za-z0-9_.@-]{0,127}"

_ID = re.compile(ID_REGEX)
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_LITERAL = re.compile(r"[A-Za-z0-9_.@-]+")


def is_valid_id(value: object) -> bool:
    """True when ``value`` is a string in the safe id charset (:data:`ID_REGEX`)."""
    return isinstance(value, str) and _ID.fullmatch(value) is not None


class DestinationPattern:
    """One destination pattern, compiled once; :meth:`match` extracts its ids.

    >>> DestinationPattern("/topic/chat/{chatId}").match("/topic/chat/c-1")
    {'chatId': 'c-1'}
    >>> DestinationPattern("/topic/chat/{chatId}").match("/topic/chat/a/b") is None
    True
    """

    def __init__(self, pattern: str) -> None:
        if not pattern.startswith("/") or pattern.endswith("/"):
            raise ValueError(f"destination pattern must start and not end with '/': {pattern!r}")
        regex_parts = []
        names = []
        for segment in pattern[1:].split("/"):
            placeholder = _PLACEHOLDER.fullmatch(segment)
            if placeholder is not None:
                name = placeholder.group(1)
                if name in names:
                    raise ValueError(f"placeholder {{{name}}} repeated in {pattern!r}")
                names.append(name)
                regex_parts.append(f"(?P<{name}>{ID_REGEX})")
            elif _LITERAL.fullmatch(segment):
                regex_parts.append(re.escape(segment))
            else:
                raise ValueError(f"invalid segment {segment!r} in destination pattern {pattern!r}")
        self.pattern = pattern
        #: The placeholder names, in order (``("chatId",)`` for ``/topic/chat/{chatId}``).
        self.names: Tuple[str, ...] = tuple(names)
        self._regex = re.compile("/" + "/".join(regex_parts))

    def match(self, destination: str) -> Optional[Dict[str, str]]:
        """The placeholder values when ``destination`` matches exactly, else ``None``."""
        found = self._regex.fullmatch(destination)
        return None if found is None else found.groupdict()

    def __repr__(self) -> str:
        return f"DestinationPattern({self.pattern!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DestinationPattern) and other.pattern == self.pattern

    def __hash__(self) -> int:
        return hash(self.pattern)
