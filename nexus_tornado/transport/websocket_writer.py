"""Batched WebSocket output: one socket write per connection per IOLoop iteration.

Tornado's ``WebSocketHandler.write_message`` frames one message, hands it to the
``IOStream`` (a ``send()`` system call whenever the socket can take it) and wraps the
write's Future in a new asyncio Task, so that a failure surfaces as
``WebSocketClosedError``. A broadcast to N subscribers pays all of that N times per
message: in a profile of a 1,000-subscriber fan-out it was 60% of the server's time.

A server-side frame without permessage-deflate is only a 2-10 byte header and the
payload (RFC 6455 section 5.2; a server never masks, section 5.1). So
:class:`BatchedWriterMixin` frames the message itself, keeps the frames queued for its
connection during the current IOLoop iteration, and writes them with one ``send()``
when the iteration's callbacks have run (through ``IOStream.write`` when the stream
still holds output, is not a plain socket stream, or the socket takes only part). One
callback per event loop and iteration (:class:`_Batch`) serves every connection with
pending output: no Task, no Future, no callback per message.

Ordering is unchanged: frames leave a connection in the order they were queued, and a
close the application asks for (:meth:`BatchedWriterMixin.flush_output` first) comes
after them. Connections that negotiated compression, or that mask (client side), use
Tornado's ``write_message`` as before.
"""

from __future__ import annotations

import asyncio
import logging
import struct
import weakref
from typing import TYPE_CHECKING, Any, List, Optional, Tuple, Union

from tornado.iostream import IOStream, StreamClosedError
from tornado.websocket import WebSocketClosedError

if TYPE_CHECKING:  # pragma: no cover
    from tornado.websocket import WebSocketHandler as WriterBase
else:
    WriterBase = object

log = logging.getLogger("nexus_tornado.transport")

#: FIN bit plus the opcode of a text (0x1) or binary (0x2) frame (RFC 6455 5.2).
_TEXT = 0x81
_BINARY = 0x82
_HEADER_16 = struct.Struct("!BBH").pack
_HEADER_64 = struct.Struct("!BBQ").pack
#: Headers of text frames with a payload under 126 bytes, ready-made.
_SHORT_TEXT = [bytes((_TEXT, n)) for n in range(126)]


def frame_header(length: int, binary: bool = False) -> bytes:
    """The header of an unmasked, unfragmented data frame carrying ``length`` bytes."""
    first = _BINARY if binary else _TEXT
    if length < 126:
        return _SHORT_TEXT[length] if not binary else bytes((first, length))
    if length <= 0xFFFF:
        return _HEADER_16(first, 126, length)
    return _HEADER_64(first, 127, length)


class _Batch:
    """The connections of one event loop with output queued in this iteration."""

    __slots__ = ("writers", "scheduled", "__weakref__")

    def __init__(self) -> None:
        self.writers: List["BatchedWriterMixin"] = []
        self.scheduled = False

    def add(self, writer: "BatchedWriterMixin", loop: asyncio.AbstractEventLoop) -> None:
        self.writers.append(writer)
        if not self.scheduled:
            self.scheduled = True
            loop.call_soon(self.run)

    def run(self) -> None:
        self.scheduled = False
        writers, self.writers = self.writers, []
        for writer in writers:
            try:
                writer.flush_output()
            except Exception:  # one connection's failure must not hold up the others
                log.exception("writing to a WebSocket failed")


_batches: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Batch]" = weakref.WeakKeyDictionary()
#: The last (loop, batch) looked up: one loop serves every connection in practice. The
#: loop is held weakly so that a closed loop (tests make many) can go.
_last: Tuple[Any, Optional[_Batch]] = (lambda: None, None)


def _batch_for(loop: asyncio.AbstractEventLoop) -> _Batch:
    global _last
    ref, batch = _last
    if batch is not None and ref() is loop:
        return batch
    batch = _batches.get(loop)
    if batch is None:
        batch = _batches[loop] = _Batch()
    _last = (weakref.ref(loop), batch)
    return batch


class BatchedWriterMixin(WriterBase):
    """``send_pack`` for WebSocket transports: frames queued, written once per iteration.

    ``pending_output`` is the number of bytes queued and not yet handed to the stream
    (the slow-consumer bound counts it, see :mod:`.output_limit`).
    """

    #: Frames (headers and payloads) queued in this iteration; None when nothing is.
    _out: Optional[List[bytes]] = None
    pending_output = 0
    #: Whether the stream may hold output (the last batch did not go out whole by
    #: ``send()``); while it does not, ``unsent_bytes`` need not look into it.
    _backlog = False

    def send_pack(self, message: Union[str, bytes], binary: bool = False) -> None:
        # A WebSocketProtocol13: mask_outgoing and _compressor are not on its base class.
        ws: Any = self.ws_connection
        if ws is None:
            return  # closed: nothing reaches the client any more (flush_output checks
            # for a closing connection once per batch rather than once per message)
        if ws._compressor is not None or ws.mask_outgoing:
            self._write_through(message, binary)
            return
        data = message.encode("utf-8") if isinstance(message, str) else bytes(message)
        size = len(data)
        if binary:
            header = frame_header(size, binary)
        elif size < 126:
            header = _SHORT_TEXT[size]
        elif size <= 0xFFFF:  # frame_header, inlined: most MESSAGE frames land here
            header = _HEADER_16(_TEXT, 126, size)
        else:
            header = _HEADER_64(_TEXT, 127, size)
        out = self._out
        if out is not None:
            out.append(header)
            out.append(data)
            self.pending_output += size + len(header)
            return
        self._out = [header, data]
        self.pending_output = size + len(header)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # called outside the loop (shutdown code): write now
            self.flush_output()
            return
        # _batch_for(loop).add(self, loop), inlined for the usual case (once per
        # connection and iteration).
        ref, batch = _last
        if batch is None or ref() is not loop:
            batch = _batch_for(loop)
        batch.writers.append(self)
        if not batch.scheduled:
            batch.scheduled = True
            loop.call_soon(batch.run)

    def unsent_bytes(self) -> int:
        """Bytes queued here plus those the stream has not written yet."""
        if not self._backlog:
            return self.pending_output
        ws: Any = self.ws_connection
        stream = ws.stream if ws is not None else None
        buffered = getattr(stream, "_write_buffer", None)
        return self.pending_output + (len(buffered) if buffered is not None else 0)

    def flush_output(self) -> None:
        """Write every queued frame now, in one ``send()`` (or ``IOStream.write``)."""
        out = self._out
        if out is None:
            return
        self._out = None
        self.pending_output = 0
        ws: Any = self.ws_connection
        if ws is None or ws.is_closing():
            return  # Tornado reports the close (on_close); what was queued is moot
        data = out[0] + out[1] if len(out) == 2 else b"".join(out)
        stream = ws.stream
        if type(stream) is IOStream and not stream._write_buffer:
            # Nothing waits in the stream: send() straight away, as IOStream.write
            # would, without its Future and the callback that settles it. What the
            # socket does not take goes through IOStream.write (and its buffer).
            try:
                sent = stream.socket.send(data)
            except BlockingIOError:
                sent = 0
            except OSError:
                sent = 0  # IOStream.write meets the error again and closes the stream
            if sent == len(data):
                if self._backlog:
                    self._backlog = False
                return
            data = data[sent:]
        self._backlog = True
        try:
            stream.write(data)
        except StreamClosedError:
            pass  # the stream's close callback runs on_close

    def _write_through(self, message: Union[str, bytes], binary: bool) -> None:
        """Tornado's own path (compression or masking), after what is queued."""
        self.flush_output()
        self._backlog = True
        try:
            self.write_message(message, binary)
        except (WebSocketClosedError, StreamClosedError):
            pass


__all__ = ["BatchedWriterMixin", "frame_header"]
