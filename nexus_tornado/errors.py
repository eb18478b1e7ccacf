"""The one exception root of nexus-tornado.

::

    NexusError
    ├── ConfigError          invalid settings, found at start-up
    ├── ProtocolError        the peer broke STOMP (answered with ERROR, then close)
    │   └── FrameTooLarge    a frame beyond the size limit
    ├── AuthError            a CONNECT or token refresh that cannot be accepted
    ├── Rejection            a frame refused without breaking the protocol; carries the
    │                        wire contract's error code (INVALID_MESSAGE, FORBIDDEN, ...)
    └── StoreUnavailable     the store cannot take or serve messages right now

Each carries ``message``: text safe to show to the client. What goes only to the log
is passed separately (``log_detail``) and never contains a token.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional


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

    ``code`` is one of the wire contract's codes: ``INVALID_MESSAGE``, ``FORBIDDEN``,
    ``RATE_LIMITED``, ``TOO_LARGE``, ``UNAVAILABLE``, ``SERVER_ERROR``.
    """

    def __init__(
        self,
        code: str,
        message: str,
        details: Optional[Mapping[str, Any]] = None,
        *,
        log_detail: Optional[str] = None,
    ) -> None:
        super().__init__(message, log_detail=log_detail)
        self.code = code
        self.details = dict(details or {})


class StoreUnavailable(NexusError):
    """The store could not complete an operation (down, slow, or overloaded)."""
