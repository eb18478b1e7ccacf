"""Sans-I/O STOMP 1.0/1.1/1.2 core: frames, an incremental parser, the session state.

Standard library only: no clock, no sockets, no Tornado. Bytes go in
(``receive_data``), events come out (``events_received()``), bytes to write are
taken with ``data_to_send()``; the transport layer drives it.

Errors raised here are :class:`nexus_tornado.errors.ProtocolError` (and its
``FrameTooLarge``) from the parser, which :class:`StompSession` turns into an ERROR
frame, and :class:`SessionStateError` for a server action called out of turn.
"""

from __future__ import annotations

from .events import (
    Ack,
    Connect,
    Disconnect,
    Event,
    Nack,
    ReceiptRequested,
    Send,
    Subscribe,
    TooLarge,
    Unsubscribe,
)
from .frame import SUPPORTED_VERSIONS, Frame, FrameCounts, MessageTemplate, is_utf8, serialize
from .heartbeat import negotiate_heartbeat, parse_heartbeat
from .parser import FrameParser, Oversized, ParserState
from .session import (
    ACK_MODES,
    TRANSITIONS,
    SessionStateError,
    State,
    StompSession,
    Subscription,
    Transition,
)

__all__ = [
    "ACK_MODES",
    "SUPPORTED_VERSIONS",
    "TRANSITIONS",
    "Ack",
    "Connect",
    "Disconnect",
    "Event",
    "Frame",
    "FrameCounts",
    "FrameParser",
    "MessageTemplate",
    "Nack",
    "Oversized",
    "ParserState",
    "ReceiptRequested",
    "Send",
    "SessionStateError",
    "State",
    "StompSession",
    "Subscribe",
    "Subscription",
    "TooLarge",
    "Transition",
    "Unsubscribe",
    "negotiate_heartbeat",
    "parse_heartbeat",
    "is_utf8",
    "serialize",
]
