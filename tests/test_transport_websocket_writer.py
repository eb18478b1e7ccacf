"""Batched WebSocket output (nexus_tornado.transport.websocket_writer)."""

from __future__ import annotations

import asyncio
import json
import socket
import struct
from types import SimpleNamespace
from typing import List

import pytest
import websocket  # websocket-client

from tornado.iostream import IOStream

from nexus_tornado.transport.websocket_writer import BatchedWriterMixin, frame_header
from support.sockjs_echo import Serve, serve, sid  # noqa: F401  (serve is a fixture)
from test_transport_websocket import connect, recv_close, release

# RFC 6455 section 5.2: FIN + opcode, then the payload length in 7, 7+16 or 7+64 bits;
# a server's frames are never masked.
HEADER_CASES = [
    (0, False, b"\x81\x00"),
    (125, False, b"\x81\x7d"),
    (126, False, b"\x81\x7e\x00\x7e"),
    (65535, False, b"\x81\x7e\xff\xff"),
    (65536, False, b"\x81\x7f" + struct.pack("!Q", 65536)),
    (5, True, b"\x82\x05"),
    (300, True, b"\x82\x7e\x01\x2c"),
]


@pytest.mark.parametrize("length,binary,expected", HEADER_CASES)
def test_frame_header(length: int, binary: bool, expected: bytes) -> None:
    assert frame_header(length, binary) == expected


def test_messages_queued_in_one_iteration_arrive_in_order_then_the_close(serve: Serve) -> None:
    """500 sends in one callback share one write; the close frame comes after them."""
    h = serve()
    ws = connect(h, "/s/websocket")
    try:
        ws.send("burst-close:500")
        got = [str(ws.recv()) for _ in range(500)]
        assert got == [str(i) for i in range(1, 501)]
        assert recv_close(ws) == (3003, "burst")
    finally:
        release(ws)


def test_framed_burst_keeps_sockjs_frames_in_order(serve: Serve) -> None:
    h = serve()
    ws = connect(h, "/s/000/%s/websocket" % sid())
    try:
        assert ws.recv() == "o"
        ws.send(json.dumps(["burst-close:50"]))
        got: List[str] = []
        while len(got) < 50:
            frame = str(ws.recv())
            assert frame.startswith("a[")
            got.extend(json.loads(frame[1:]))
        assert got == [str(i) for i in range(1, 51)]
        assert ws.recv() == 'c[3003,"burst"]'
    finally:
        release(ws)


class _Writer(BatchedWriterMixin):
    """Just the writer, over a stream of a socket pair (no HTTP, no handshake)."""

    def __init__(self, stream: IOStream) -> None:
        self.ws_connection = SimpleNamespace(  # type: ignore[assignment]
            stream=stream, _compressor=None, mask_outgoing=False, is_closing=stream.closed
        )


def _read_frames(sock: socket.socket, count: int) -> List[bytes]:
    """Read ``count`` unmasked frames (short and 16-bit lengths only) off ``sock``."""
    data = b""
    frames: List[bytes] = []
    while len(frames) < count:
        chunk = sock.recv(65536)
        assert chunk, "connection closed early"
        data += chunk
        while len(data) >= 2:
            length, start = data[1] & 0x7F, 2
            if length == 126:
                if len(data) < 4:
                    break
                length, start = struct.unpack("!H", data[2:4])[0], 4
            if len(data) < start + length:
                break
            frames.append(data[start:start + length])
            data = data[start + length:]
    return frames


def test_output_the_socket_takes_only_in_part_continues_through_the_stream() -> None:
    """A batch the socket accepts only in part is finished by the IOStream, and what
    is queued in the next iteration still comes after it."""
    ours, theirs = socket.socketpair()
    ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    ours.setblocking(False)
    big = [("%05d" % i) * 2000 for i in range(40)]  # 40 frames of 10,000 bytes

    async def scenario() -> List[bytes]:
        stream = IOStream(ours)
        writer = _Writer(stream)
        for message in big:
            writer.send_pack(message)
        assert writer.unsent_bytes() > 0
        await asyncio.sleep(0)  # the batch is written at the end of this iteration
        assert stream._write_buffer, "the socket took everything: nothing was tested"
        writer.send_pack("after")
        loop = asyncio.get_running_loop()
        frames = await loop.run_in_executor(None, _read_frames, theirs, len(big) + 1)
        stream.close()
        return frames

    try:
        frames = asyncio.run(scenario())
    finally:
        theirs.close()
        ours.close()
    assert frames == [m.encode() for m in big] + [b"after"]
