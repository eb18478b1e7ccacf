"""Incremental STOMP frame parser (STOMP 1.2 "STOMP Frames", "Augmented BNF").

Bytes arrive in pieces of any size; complete frames come out. The parser keeps one
``bytearray`` and remembers where each search stopped, so a frame delivered one byte
at a time costs linear, not quadratic, time.

What it enforces:

* EOL is LF, or CR LF when the version is 1.2; EOLs between frames are heart-beats
  (STOMP 1.2 "Heart-beating") and are counted in ``heartbeats_received``.
* The command must be one STOMP defines.
* Header lines are ``name:value``, UTF-8, unescaped per version (never for
  CONNECT/STOMP/CONNECTED); the first of repeated headers wins (STOMP 1.2
  "Repeated Header Entries").
* With ``content-length`` the body is exactly that many octets (NULs allowed) and must
  be followed by NUL; without it the body ends at the first NUL.
* Limits: the command line plus headers at most ``max_header_bytes``, at most
  ``max_headers`` header lines (both :class:`~nexus_tornado.errors.FrameTooLarge`);
  a body longer than ``max_frame_size`` becomes an :class:`Oversized` event and the
  rest of it is skipped as it streams in, never buffered.

Malformed input raises :class:`~nexus_tornado.errors.ProtocolError`; the parser is
then unusable (the stream cannot be resynchronised).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Dict, Optional, Union

from ..errors import FrameTooLarge, ProtocolError
from .escaping import dialect_for, unescape
from .frame import COMMANDS, SUPPORTED_VERSIONS, Frame, _redacted

_LF = 0x0A
_CR = 0x0D
_NUL = 0x00
#: Longest command ("UNSUBSCRIBE") plus CR: a first line longer than this is not STOMP.
_MAX_COMMAND_LINE = max(len(c) for c in COMMANDS) + 1
#: A content-length with more digits than this is not a size anyone can send.
_MAX_LENGTH_DIGITS = 15



class ParserState(enum.Enum):
    """Where :class:`FrameParser` is in the byte stream."""

    #: Between frames: skipping heart-beat EOLs.
    IDLE = "idle"
    #: Reading the command line and headers.
    HEAD = "head"
    #: Headers parsed, reading the body.
    BODY = "body"
    #: Discarding an oversized body of known length (plus its NUL).
    SKIP_COUNTED = "skip-counted"
    #: Discarding an oversized body up to its NUL.
    SKIP_TO_NUL = "skip-to-nul"
    #: A protocol error happened; the stream cannot be resynchronised.
    BROKEN = "broken"


@dataclass(frozen=True)
class Oversized:
    """A frame whose body exceeded ``max_frame_size``: command and headers only.

    The body was discarded without being buffered. ``content_length`` is the declared
    length when the frame had one (how far beyond the limit it was), else ``None``.
    """

    command: str
    headers: Dict[str, str] = field(repr=False)
    content_length: Optional[int] = None

    def __repr__(self) -> str:
        return (
            f"Oversized(command={self.command!r}, headers={_redacted(self.headers)!r}, "
            f"content_length={self.content_length!r})"
        )


class FrameParser:
    """Turns a byte stream into :class:`Frame` and :class:`Oversized` events.

    Bytes go in with ``feed``; frames come out one at a time from ``next_event``, so a
    caller can change ``version`` between two frames of the same chunk (the session
    does, when a CONNECT negotiates a version).
    """

    # One per connection: no per-instance dict.
    __slots__ = (
        "max_frame_size", "max_header_bytes", "max_headers", "_version", "heartbeats_received",
        "_buf", "_pos", "_state", "_scan", "_line", "_headers_start", "_header_count",
        "_command", "_headers", "_body_start", "_content_length", "_skip_remaining", "_error",
    )

    def __init__(
        self, max_frame_size: int = 65536, max_header_bytes: int = 8192, max_headers: int = 64
    ) -> None:
        self.max_frame_size = max_frame_size
        self.max_header_bytes = max_header_bytes
        self.max_headers = max_headers
        self._version = "1.2"
        self.heartbeats_received = 0
        self._buf = bytearray()
        # Start of the unconsumed data (the current frame, if any); offsets below are
        # relative to it so compacting the buffer does not move them.
        self._pos = 0
        self._state: ParserState = ParserState.IDLE
        self._scan = 0  # where the next search for the awaited delimiter resumes
        self._line = 0  # start of the header line being read
        self._headers_start = 0  # first byte after the command line
        self._header_count = 0
        self._command = ""
        self._headers: Dict[str, str] = {}
        self._body_start = 0
        self._content_length: Optional[int] = None
        self._skip_remaining = 0
        self._error: Optional[ProtocolError] = None

    # -- version ---------------------------------------------------------------------

    @property
    def version(self) -> str:
        """The STOMP version whose escaping and EOL rules apply ("1.2" until set)."""
        return self._version

    @version.setter
    def version(self, value: str) -> None:
        if value not in SUPPORTED_VERSIONS:
            raise ValueError(f"unsupported STOMP version {value!r}")
        self._version = value

    # -- public API ------------------------------------------------------------------

    @property
    def buffered_bytes(self) -> int:
        """Bytes held for a frame not yet complete (oversized bodies are never held)."""
        return len(self._buf) - self._pos

    def feed(self, data: bytes) -> None:
        """Add bytes (parsed by ``next_event``). Raises the ``ProtocolError`` of an
        earlier fault: the stream cannot be resynchronised."""
        if self._error is not None:
            raise self._error
        if self._pos:
            del self._buf[: self._pos]
            self._pos = 0
        if self._state is ParserState.SKIP_COUNTED or self._state is ParserState.SKIP_TO_NUL:
            # Discard oversized body bytes straight from the input, never buffering.
            data = self._skip(bytes(data))
            if not data:
                return
        self._buf += data

    def next_event(self) -> Optional[Union[Frame, Oversized]]:
        """Parse and return the next complete frame, or ``None`` if more bytes are needed."""
        if self._error is not None:
            raise self._error
        try:
            return self._next()
        except ProtocolError as exc:
            self._error = exc
            self._state = ParserState.BROKEN
            raise

    # -- internals -------------------------------------------------------------------

    def _skip(self, data: bytes) -> bytes:
        """Consume oversized-body bytes from ``data``; return what follows the frame."""
        if self._state is ParserState.SKIP_COUNTED:
            if len(data) < self._skip_remaining:
                self._skip_remaining -= len(data)
                return b""
            # The last byte to skip is the frame's terminating NUL.
            end = self._skip_remaining
            if data[end - 1] != _NUL:
                raise self._fail("frame not terminated by NUL after content-length octets")
            self._state = ParserState.IDLE
            return data[end:]
        nul = data.find(b"\x00")
        if nul < 0:
            return b""
        self._state = ParserState.IDLE
        return data[nul + 1 :]

    def _fail(self, detail: str) -> ProtocolError:
        self._error = ProtocolError("malformed frame", log_detail=detail)
        self._state = ParserState.BROKEN
        return self._error

    def _next(self) -> Optional[Union[Frame, Oversized]]:
        buf = self._buf
        while True:
            state = self._state
            if state is ParserState.IDLE:
                if not self._skip_eols():
                    return None
                self._state = ParserState.HEAD
                self._scan = 0
                self._command = ""
            elif state is ParserState.HEAD:
                if not self._parse_head():
                    return None
            elif state is ParserState.BODY:
                return self._parse_body()
            else:  # skipping: whatever is buffered belongs to the oversized body
                rest = self._skip(bytes(buf[self._pos :]))
                del buf[:]
                self._pos = 0
                if self._state is not ParserState.IDLE:
                    return None
                buf += rest

    def _skip_eols(self) -> bool:
        """Skip heart-beat EOLs; True when a frame starts at ``_pos``."""
        buf = self._buf
        pos = self._pos
        end = len(buf)
        while pos < end:
            byte = buf[pos]
            if byte == _LF:
                self.heartbeats_received += 1
                pos += 1
            elif byte == _CR:
                if pos + 1 >= end:
                    break  # wait: CR LF may be split
                if buf[pos + 1] != _LF:
                    self._pos = pos
                    raise self._fail("stray CR between frames")
                self.heartbeats_received += 1
                pos += 2
            else:
                self._pos = pos
                return True
        self._pos = pos
        return False

    def _parse_head(self) -> bool:
        """Parse the command and headers once they are complete; True when done.

        Lines are found one ``find`` at a time, resuming where the last search stopped
        and never looking further than the header size limit, so neither a frame
        trickling in byte by byte nor many frames packed in one chunk is rescanned.
        """
        buf = self._buf
        start = self._pos
        crlf = self._version == "1.2"
        if not self._command:
            # The command line: short, so garbage is refused after a few bytes.
            nl = buf.find(b"\n", start, start + _MAX_COMMAND_LINE + 1)
            if nl < 0:
                if len(buf) - start > _MAX_COMMAND_LINE:
                    raise self._fail("no STOMP command at the start of the frame")
                return False
            line = bytes(buf[start:nl])
            if crlf and line.endswith(b"\r"):
                line = line[:-1]
            command = line.decode("ascii", "replace")
            if command not in COMMANDS:
                raise self._fail(f"unknown command {line[:32]!r}")
            self._command = command
            self._line = self._scan = self._headers_start = nl + 1 - start
            self._header_count = 0
        # Header lines until the blank line (LF, or CR LF in 1.2). The last header
        # line must end within max_header_bytes of the frame start.
        limit = start + self.max_header_bytes
        search_end = limit + 3  # room for the blank line after a header ending at limit
        line_start = start + self._line
        scan = start + self._scan
        while True:
            nl = buf.find(b"\n", scan, search_end)
            if nl < 0:
                if len(buf) >= search_end:
                    raise self._too_large("header block exceeds the size limit")
                self._line = line_start - start
                self._scan = len(buf) - start
                return False
            if nl == line_start or (crlf and nl == line_start + 1 and buf[line_start] == _CR):
                break  # the blank line
            if nl > limit:
                raise self._too_large("header block exceeds the size limit")
            self._header_count += 1
            if self._header_count > self.max_headers:
                raise self._too_large(f"more than {self.max_headers} headers")
            line_start = scan = nl + 1
        block = bytes(buf[start + self._headers_start : line_start])
        self._headers = self._parse_headers(block, crlf)
        self._body_start = self._scan = nl + 1 - start
        self._state = ParserState.BODY
        self._content_length = self._declared_length()
        return True

    def _too_large(self, detail: str) -> ProtocolError:
        self._error = FrameTooLarge("frame too large", log_detail=detail)
        self._state = ParserState.BROKEN
        return self._error

    def _parse_headers(self, block: bytes, crlf: bool) -> Dict[str, str]:
        """Decode header lines (each ending with LF) into a dict, first value wins."""
        headers: Dict[str, str] = {}
        if not block:
            return headers
        dialect = dialect_for(self._command, self._version)
        for raw in block[:-1].split(b"\n"):
            if crlf and raw.endswith(b"\r"):
                raw = raw[:-1]
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise self._fail("header is not valid UTF-8") from None
            name, colon, value = line.partition(":")
            if not colon:
                raise self._fail("header line without ':'")
            try:
                name = unescape(name, dialect)
                value = unescape(value, dialect)
            except ProtocolError as exc:
                self._error = exc
                self._state = ParserState.BROKEN
                raise
            # STOMP 1.2 "Repeated Header Entries": only the first is used.
            if name not in headers:
                headers[name] = value
        return headers

    def _declared_length(self) -> Optional[int]:
        value = self._headers.get("content-length")
        if value is None:
            return None
        if not (value.isascii() and value.isdigit()) or len(value) > _MAX_LENGTH_DIGITS:
            raise self._fail(f"invalid content-length {value[:20]!r}")
        return int(value)

    def _parse_body(self) -> Optional[Union[Frame, Oversized]]:
        buf = self._buf
        start = self._pos
        body_start = start + self._body_start
        length = self._content_length
        if length is not None:
            if length > self.max_frame_size:
                return self._oversized(skip_counted=length + 1)
            end = body_start + length
            if len(buf) <= end:
                return None
            if buf[end] != _NUL:
                raise self._fail("frame not terminated by NUL after content-length octets")
            return self._finish(bytes(buf[body_start:end]), end + 1)
        nul = buf.find(b"\x00", start + self._scan)
        if nul < 0:
            if len(buf) - body_start > self.max_frame_size:
                return self._oversized(skip_counted=None)
            self._scan = len(buf) - start
            return None
        if nul - body_start > self.max_frame_size:
            event = Oversized(self._command, self._headers, None)
            self._reset(nul + 1)
            return event
        return self._finish(bytes(buf[body_start:nul]), nul + 1)

    def _oversized(self, skip_counted: Optional[int]) -> Oversized:
        """Report an oversized frame and start skipping its body."""
        event = Oversized(self._command, self._headers, self._content_length)
        body_start = self._pos + self._body_start
        self._reset(body_start)
        if skip_counted is not None:
            self._state = ParserState.SKIP_COUNTED
            self._skip_remaining = skip_counted
        else:
            self._state = ParserState.SKIP_TO_NUL
        return event

    def _finish(self, body: bytes, next_pos: int) -> Frame:
        frame = Frame(self._command, self._headers, body)
        self._reset(next_pos)
        return frame

    def _reset(self, next_pos: int) -> None:
        self._pos = next_pos
        self._state = ParserState.IDLE
        self._scan = 0
        self._command = ""
        self._headers = {}
        self._content_length = None
