"""The one exception root of nexus-tornado.

::

    NexusError
    ├── ConfigError          invalid settings, found at start-up
    ├── ProtocolError        the peer broke STOMP (answered with ERROR, then close)
    │   └── FrameTooLarge    a frame beyond the size limit
    ├── AuthError            a CONNECT or token refresh that cannot be accepted
    ├── Rejection            a frame refused without breaking the protocol; carries the
    │                        wire contract's error code (a :class:`RejectionCode`)
    └── StoreUnavailable     the store cannot take or serve messages right now

Each carries ``message``: text safe to show to the client. What goes only to the log
is passed separately (``log_detail``) and never contains a token.
"""

from __future__ import annotations

import enum
import uuid
from typing import Any, Mapping, Optional, Union


class RejectionCode(str, enum.Enum):
    """The wire contract's error codes: the ``error`` of a ``/user/queue/errors`` body.

    A ``str`` enum, so JSON bodies and header values carry the bare name
    (``"FORBIDDEN"``) and a member compares equal to it.
    """

    #: Schema or business-rule validation failed (also a bad ``last-seq``).
    INVALID_MESSAGE = "INVALID_MESSAGE"
    #: The ACL refused the destination, or a token refresh was refused.
    FORBIDDEN = "FORBIDDEN"
    #: Over the per-user SEND rate; ``details.retryAfter`` says when to try again.
    RATE_LIMITED = "RATE_LIMITED"
    #: A frame body over ``max_frame_size``.
    TOO_LARGE = "TOO_LARGE"
    #: The store cannot take or serve messages right now.
    UNAVAILABLE = "UNAVAILABLE"
    #: A failure of ours; ``trackingId`` finds it in the log.
    SERVER_ERROR = "SERVER_ERROR"

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)


class NexusError(Exception):
    """Root of every error raised by nexus-tornado."""

    def __init__(self, message: str, *, log_detail: Optional[str] = None) -> None:
        super().__init__(message)
        self.message = message
        self.log_detail = log_detail if log_detail is not None else message


class ConfigError(NexusError):
    """A setting is missing or invalid."""


class ProtocolError(NexusError):
    """The peer violated STOMP; the session answers ERROR and closes."""


class FrameTooLarge(ProtocolError):
    """A frame exceeded the configured size limit."""


class AuthError(NexusError):
    """A token was refused (``message`` says why, e.g. ``token expired``)."""


class Rejection(NexusError):
    """A frame refused without breaking the protocol.

    ``code`` is one of the wire contract's codes (:class:`RejectionCode`; its name as a
    string is accepted too, anything else is a ``ValueError``).
    """

    def __init__(
        self,
        code: Union[RejectionCode, str],
        message: str,
        details: Optional[Mapping[str, Any]] = None,
        *,
        log_detail: Optional[str] = None,
    ) -> None:
        super().__init__(message, log_detail=log_detail)
        self.code = RejectionCode(code)
        self.details = dict(details or {})


class StoreUnavailable(NexusError):
    """The store could not complete an operation (down, slow, or overloaded)."""


def tracking_id() -> str:
    """A short id that ties what a client is told of a failure to the server's log line."""
    return uuid.uuid4().hex[:16]
