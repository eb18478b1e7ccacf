"""Close codes a session ends with: what the client sees as the close event's code.

SockJS carries the code in its close frame (``c[code,"reason"]``); the raw WebSocket
endpoint puts it in the WebSocket close frame (RFC 6455 section 5.5.1). The values
are RFC 6455 section 7.4.1's, plus the two SockJS itself uses.
"""

from __future__ import annotations

import enum
from typing import Tuple

__all__ = ["BROKEN_FRAMING_CLOSE", "CloseCode", "ERROR_CLOSE", "SHUTDOWN_CLOSE", "TOO_BIG_CLOSE", "is_sendable"]


class CloseCode(enum.IntEnum):
    """Close codes, RFC 6455 section 7.4.1 and the SockJS protocol."""

    #: The purpose of the connection was fulfilled (also: the STOMP session ended).
    NORMAL_CLOSURE = 1000
    #: The server is going away (shutting down); the client may reconnect.
    GOING_AWAY = 1001
    #: The peer broke the protocol (used when a STOMP session ends before CONNECTED).
    PROTOCOL_ERROR = 1002
    #: Data of a type the endpoint cannot accept.
    UNSUPPORTED_DATA = 1003
    #: No status code was present (never sent; what a client reports then).
    NO_STATUS_RCVD = 1005
    #: The connection dropped without a close frame (never sent).
    ABNORMAL_CLOSURE = 1006
    #: Data inconsistent with its type (e.g. invalid UTF-8).
    INVALID_DATA = 1007
    #: A message violating the endpoint's policy.
    POLICY_VIOLATION = 1008
    #: A message too big to process.
    MESSAGE_TOO_BIG = 1009
    #: The client expected an extension the server did not negotiate.
    MANDATORY_EXTENSION = 1010
    #: The server met an unexpected condition.
    INTERNAL_ERROR = 1011
    #: SockJS: another connection is still open on the session.
    ANOTHER_CONNECTION = 2010
    #: SockJS: the default code of ``Session.close()`` ("Go away!").
    GO_AWAY = 3000


def is_sendable(code: int) -> bool:
    """Whether a WebSocket close frame may carry ``code`` (RFC 6455 section 7.4):
    1000-1003, 1007-1011, and 3000-4999 (registered and private use)."""
    return 1000 <= code <= 1003 or 1007 <= code <= 1011 or 3000 <= code <= 4999


#: Close used by ``NexusRouter.close_all_sessions`` by default (RFC 6455 section
#: 7.4.1: 1001, "an endpoint is going away, such as a server going down").
SHUTDOWN_CLOSE: Tuple[CloseCode, str] = (CloseCode.GOING_AWAY, "server shutting down")
#: Close for a session whose client sent a message beyond the limit (RFC 6455 1009).
TOO_BIG_CLOSE: Tuple[CloseCode, str] = (CloseCode.MESSAGE_TOO_BIG, "message too big")
#: Close for a session whose connection raised while handling a message.
ERROR_CLOSE: Tuple[CloseCode, str] = (CloseCode.INTERNAL_ERROR, "internal error")
#: Close for a SockJS WebSocket message that is not JSON (the SockJS protocol closes).
BROKEN_FRAMING_CLOSE: Tuple[CloseCode, str] = (CloseCode.PROTOCOL_ERROR, "broken framing")
