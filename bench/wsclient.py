"""A lean asyncio WebSocket client for the load generator, with optional SockJS framing.

Thousands of connections share one process and one core, so each connection is an
``asyncio.Protocol`` driving the sans-I/O :class:`websockets.client.ClientProtocol`
(handshake, and every frame we send: masking, close, pong), with no task, queue or
coroutine switch per message.  Once open, incoming frames take a short hand-written
path (server frames are unmasked; see :meth:`WsConnection._fast_received`).  Every text
message is handed to a plain callback as ``str``.

With ``sockjs=True`` the connection uses the SockJS WebSocket transport
(``{base}/{server}/{session}/websocket``): it waits for the ``o`` open frame, unpacks
``a[...]`` arrays into one callback per string, ignores ``h`` heart-beats, and wraps
what it sends in a JSON array.
"""

from __future__ import annotations

import asyncio
import json
import random
import string
from typing import Callable, Optional
from urllib.parse import urlsplit

from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.uri import parse_uri

TextHandler = Callable[[str], None]
CloseHandler = Callable[[Optional[str]], None]

_OP_TEXT = Opcode.TEXT
_OP_CONT = Opcode.CONT
_OP_CLOSE = Opcode.CLOSE


def sockjs_url(base: str) -> str:
    """The SockJS WebSocket-transport URL under ``base`` (``ws://h:p/stomp``)."""
    server = "%03d" % random.randrange(1000)
    session = "".join(random.choice(string.ascii_lowercase + string.digits) for _ in range(12))
    return "%s/%s/%s/websocket" % (base.rstrip("/"), server, session)


class WsConnection(asyncio.Protocol):
    """One client WebSocket connection; ``on_text`` gets every text message."""

    def __init__(self, url: str, on_text: TextHandler, sockjs: bool = False) -> None:
        self.proto = ClientProtocol(parse_uri(url), max_size=None)
        self.on_text = on_text
        self.on_close: Optional[CloseHandler] = None
        self.sockjs = sockjs
        loop = asyncio.get_running_loop()
        #: Resolves when the handshake (and the SockJS ``o`` frame) is done.
        self.opened: asyncio.Future[None] = loop.create_future()
        self.transport: Optional[asyncio.Transport] = None
        self.closed = False
        self._fragments: list = []
        #: Incoming frames parsed by :meth:`_fast_received` (after the handshake).
        self._fast = False
        self._buf = bytearray()

    # -- asyncio.Protocol -------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.proto.send_request(self.proto.connect())
        self._flush()

    def data_received(self, data: bytes) -> None:
        if self._fast:
            self._fast_received(data)
            return
        proto = self.proto
        proto.receive_data(data)
        for event in proto.events_received():
            if type(event) is Frame:
                opcode = event.opcode
                if opcode is _OP_TEXT:
                    if event.fin:
                        self._message(bytes(event.data).decode())
                    else:
                        self._fragments = [event.data]
                elif opcode is _OP_CONT:
                    self._fragments.append(event.data)
                    if event.fin:
                        data_ = b"".join(self._fragments)
                        self._fragments = []
                        self._message(data_.decode())
                elif opcode is _OP_CLOSE:
                    self._closed("websocket close")
            elif isinstance(event, Response):
                if proto.handshake_exc is not None:
                    self._fail(proto.handshake_exc)
                elif not self.sockjs and not self.opened.done():
                    self.opened.set_result(None)
                    # The server says nothing before our first frame: nothing is in
                    # flight, so incoming frames can be parsed by the fast path.
                    self._go_fast()
        if proto.writes:
            self._flush()

    def _go_fast(self) -> None:
        if not self.proto.reader.buffer:
            self._fast = True

    def _fast_received(self, data: bytes) -> None:
        """Parse server frames directly (RFC 6455 5.2): unmasked, mostly small, text.

        After the handshake this replaces the sans-I/O parser, which is built for
        generality (generators, events, limits) and cost the load generator about
        half of its time per message.  Control frames are answered the simple way: a
        ping with a pong (through the library, which masks it), a close by closing.
        """
        buf = self._buf
        if buf:
            buf += data
        else:
            buf = bytearray(data)
        pos = 0
        end = len(buf)
        while end - pos >= 2:
            b0 = buf[pos]
            length = buf[pos + 1] & 0x7F
            start = pos + 2
            if length == 126:
                if end - pos < 4:
                    break
                length = (buf[pos + 2] << 8) | buf[pos + 3]
                start = pos + 4
            elif length == 127:
                if end - pos < 10:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                start = pos + 10
            stop = start + length
            if stop > end:
                break
            opcode = b0 & 0x0F
            payload = bytes(buf[start:stop])
            pos = stop
            if opcode == 1:
                if b0 & 0x80:
                    self._message(payload.decode())
                else:
                    self._fragments = [payload]
            elif opcode == 0:
                self._fragments.append(payload)
                if b0 & 0x80:
                    joined = b"".join(self._fragments)
                    self._fragments = []
                    self._message(joined.decode())
            elif opcode == 9:
                self.proto.send_pong(payload)
                self._flush()
            elif opcode == 8:
                self._closed("websocket close")
                self.close()
                return
        self._buf = buf[pos:] if pos < end else bytearray()

    def eof_received(self) -> Optional[bool]:
        self.proto.receive_eof()
        self._flush()
        return None

    def connection_lost(self, exc: Optional[Exception]) -> None:
        self._closed("connection lost" if exc is None else "connection lost: %s" % exc)

    # -- sending ----------------------------------------------------------------------

    def send_text(self, text: str) -> None:
        """Send one message (wrapped in a JSON array under SockJS)."""
        if self.closed:
            return
        if self.sockjs:
            text = json.dumps([text])
        self.proto.send_text(text.encode())
        self._flush()

    def close(self) -> None:
        """Drop the connection without a closing handshake (cheap, for teardown)."""
        if self.transport is not None:
            self.transport.abort()

    # -- internals --------------------------------------------------------------------

    def _message(self, text: str) -> None:
        if not self.sockjs:
            self.on_text(text)
            return
        kind = text[:1]
        if kind == "a":
            for item in json.loads(text[1:]):
                self.on_text(item)
        elif kind == "o":
            if not self.opened.done():
                self.opened.set_result(None)
                self._go_fast()
        elif kind == "c":
            self._closed("sockjs close %s" % text[1:])
        # "h": SockJS heart-beat, nothing to do.

    def _flush(self) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            self.proto.data_to_send()
            return
        for chunk in self.proto.data_to_send():
            if chunk:
                transport.write(chunk)
            elif transport.can_write_eof():
                transport.write_eof()

    def _fail(self, exc: BaseException) -> None:
        if not self.opened.done():
            self.opened.set_exception(exc)
        self.close()

    def _closed(self, why: str) -> None:
        if self.closed:
            return
        self.closed = True
        if not self.opened.done():
            self.opened.set_exception(ConnectionError(why))
        if self.on_close is not None:
            self.on_close(why)


async def open_ws(
    url: str, on_text: TextHandler, sockjs: bool = False, timeout: float = 30.0
) -> WsConnection:
    """Open a connection to ``url`` (a SockJS base URL when ``sockjs``) and wait until open."""
    if sockjs:
        url = sockjs_url(url)
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    loop = asyncio.get_running_loop()
    _, conn = await asyncio.wait_for(
        loop.create_connection(
            lambda: WsConnection(url, on_text, sockjs), host, parts.port or 80
        ),
        timeout,
    )
    try:
        await asyncio.wait_for(asyncio.shield(conn.opened), timeout)
    except BaseException:
        conn.close()
        raise
    return conn
