"""A MongoDB-wire proxy in front of nx-27017 that holds an empty ``getMore`` as MongoDB does.

MongoDB answers a ``getMore`` of a change stream (a tailable, awaiting cursor) as soon as
there is something to answer, or after the command's ``maxTimeMS`` with an empty batch.
nx-27017 answers at once. This proxy relays every message between a client and
nx-27017 unchanged, except that an empty answer to a ``getMore`` is held: the proxy asks
nx-27017 the same ``getMore`` again every ``recheck`` seconds and passes on the first
answer with events, or the last empty one once ``maxTimeMS`` is over. A client then
sees a server that honours ``max_await_time_ms``; what that costs is the proxy's own
CPU, in a thread (and loop) of its own.

Only what the driver sends is understood: the 16-byte message header, and ``OP_MSG``
(opcode 2013) without a checksum, whose body section (kind 0) is the command.
"""

from __future__ import annotations

import asyncio
import struct
import threading
from typing import Any, Dict, Optional, Set, Tuple

import bson

OP_MSG = 2013
HEADER = struct.Struct("<iiii")  # messageLength, requestID, responseTo, opCode


def _command(body: bytes) -> Optional[Dict[str, Any]]:
    """The command document of an OP_MSG body (flags, then a kind-0 section)."""
    flags = struct.unpack_from("<I", body)[0]
    if flags & 1 or body[4] != 0:  # a checksum, or no body section first
        return None
    size = struct.unpack_from("<i", body, 5)[0]
    return bson.decode(body[5:5 + size])


class HoldingProxy:
    """Listens on 127.0.0.1 (a free port: :attr:`port`) and relays to ``upstream``."""

    def __init__(self, upstream: Tuple[str, int], recheck: float = 0.02) -> None:
        self.upstream = upstream
        self.recheck = recheck
        self.port = 0
        #: getMores the clients sent, and those answered empty after being held.
        self.getmores = 0
        self.held = 0
        self._loop = asyncio.new_event_loop()
        self._server: Any = None
        self._connections: "Set[asyncio.Task[None]]" = set()
        self._thread = threading.Thread(target=self._loop.run_forever, name="holding-proxy", daemon=True)

    def start(self) -> "HoldingProxy":
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._serve, "127.0.0.1", 0), self._loop
        ).result(10)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    @property
    def uri(self) -> str:
        return "mongodb://127.0.0.1:%d/?directConnection=true" % self.port

    def stop(self) -> None:
        async def close() -> None:
            self._server.close()
            for task in list(self._connections):
                task.cancel()
            await asyncio.gather(*self._connections, return_exceptions=True)
            await self._server.wait_closed()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _serve(self, client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        writers = [client_out]
        next_id = 1 << 30
        try:
            upstream_in, upstream_out = await asyncio.open_connection(*self.upstream)
            writers.append(upstream_out)
            while True:
                header, body = await _read(client_in)
                upstream_out.write(header + body)
                reply_header, reply = await _read(upstream_in)
                length, request_id, _, opcode = HEADER.unpack(header)
                command = _command(body) if opcode == OP_MSG else None
                if command is not None and next(iter(command)) == "getMore":
                    self.getmores += 1
                    deadline = self._loop.time() + command.get("maxTimeMS", 1000) / 1000.0
                    while _empty(reply) and self._loop.time() + self.recheck < deadline:
                        await asyncio.sleep(self.recheck)
                        next_id += 1
                        upstream_out.write(HEADER.pack(length, next_id, 0, opcode) + body)
                        reply_header, reply = await _read(upstream_in)
                    if _empty(reply):
                        self.held += 1
                    reply_length, reply_id, _, reply_opcode = HEADER.unpack(reply_header)
                    reply_header = HEADER.pack(reply_length, reply_id, request_id, reply_opcode)
                client_out.write(reply_header + reply)
                await client_out.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._connections.discard(task)
            for writer in writers:
                writer.close()
                try:
                    await writer.wait_closed()
                except (ConnectionError, asyncio.CancelledError):
                    pass


async def _read(stream: asyncio.StreamReader) -> Tuple[bytes, bytes]:
    header = await stream.readexactly(HEADER.size)
    length = HEADER.unpack(header)[0]
    return header, await stream.readexactly(length - HEADER.size)


def _empty(reply: bytes) -> bool:
    """Whether an OP_MSG answer is a cursor batch with nothing in it."""
    try:
        document = _command(reply)
    except (struct.error, bson.errors.BSONError, IndexError):
        return False
    cursor = (document or {}).get("cursor")
    return isinstance(cursor, dict) and bool(cursor.get("id")) and cursor.get("nextBatch") == []
