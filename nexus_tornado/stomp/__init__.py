"""Sans-I/O STOMP 1.0/1.1/1.2 core: frames, an incremental parser, the session state.

Standard library only: no clock, no sockets, no Tornado. Bytes go in
(``receive_data``), events come out (``events_received()``), bytes to write are
taken with ``data_to_send()``; the transport layer drives it.
"""

from __future__ import annotations

from .frame import SUPPORTED_VERSIONS, Frame, MessageTemplate, serialize
from .parser import FrameParser, Oversized

__all__ = [
    "SUPPORTED_VERSIONS",
    "Frame",
    "FrameParser",
    "MessageTemplate",
    "Oversized",
    "serialize",
]
