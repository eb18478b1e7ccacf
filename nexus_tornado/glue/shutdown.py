"""A shutdown that loses nothing accepted and ends in bounded time.

:meth:`NexusPlugin.close <nexus_tornado.host.plugin.NexusPlugin.close>` (the command
calls it on SIGTERM, after it stopped listening) works in this order:

1. ``services.closing``: new connections are closed at once, ``/readyz`` answers 503,
   and connections read no new frame (a pipelining client would otherwise keep its
   connection busy until the deadline; what it sends now gets no RECEIPT).
2. :func:`drain`: each connection is closed as soon as every frame it had read has been
   handled (a SEND persisted and receipted, ...), so none is cut off in the middle of
   its work: idle ones at once, busy ones the moment their work queue runs dry (the
   connection closes itself then). Whatever is still busy at the deadline is closed
   then, and the frames it had not begun are dropped (never stored: they were never
   receipted, so the client knows to send them again).
3. Every close carries code 1001 and the reason ``server shutting down (reconnect in N
   ms)``: N is drawn at random up to ``reconnect_delay`` for each connection, so that
   the crowd does not come back all at once (``static/nexus-client.js`` honours it).
   WebSocket clients then get up to ``close_handshake_timeout`` to answer the close
   (RFC 6455's closing handshake) before the process goes on to exit.
4. Then the plugin's own writes (presence announcements, delivery marks) and the store
   are finished, each within what is left of ``shutdown_timeout``.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from typing import Any, Awaitable, Callable, Tuple

from ..transport.close_codes import SHUTDOWN_CLOSE
from ..transport.output_limit import websocket_stream
from .services import Services

log = logging.getLogger("nexus_tornado.glue.shutdown")

#: WebSocket close code of a shutdown (1001, RFC 6455 "going away"; wire contract), and
#: the close reason, which a reconnect hint may follow.
GOING_AWAY, REASON = SHUTDOWN_CLOSE
#: How often a draining shutdown looks at the connections again, seconds.
POLL = 0.02


def close_reason(delay_ms: int) -> str:
    """The reason of a shutdown close telling the client when to come back."""
    return "%s (reconnect in %d ms)" % (REASON, delay_ms) if delay_ms > 0 else REASON


def shutdown_close(reconnect_delay: float, rand: Callable[[], float] = random.random) -> Tuple[int, str]:
    """The close code and reason of a shutdown close, with a reconnect hint drawn at
    random up to ``reconnect_delay`` seconds: at least 1 ms whenever there is a delay,
    so that every client of a server with one is told (none without)."""
    most = int(reconnect_delay * 1000)
    return GOING_AWAY, close_reason(min(most, max(1, int(rand() * most))) if most > 0 else 0)


def close_connections(
    services: Services,
    reconnect_delay: float,
    only_idle: bool,
    rand: Callable[[], float] = random.random,
) -> int:
    """Close connections (``only_idle``: those with no frame left to handle) with a
    jittered reconnect hint; return how many are left open."""
    left = 0
    for connection in list(services.connections):
        if only_idle and connection.busy:
            left += 1
            continue
        connection.close_with(*shutdown_close(reconnect_delay, rand))
    return left


async def drain(services: Services, reconnect_delay: float, deadline: float, close_wait: float) -> None:
    """Close each connection once idle, all of them by ``deadline`` (``time.monotonic``),
    then give WebSocket clients up to ``close_wait`` seconds (and never past
    ``deadline``) to answer the close. Busy connections close themselves when their
    work runs out (``services.closing`` is set); this loop is the backstop."""
    streams = [websocket_stream(getattr(c, "session", None)) for c in services.connections]
    while close_connections(services, reconnect_delay, only_idle=True):
        if time.monotonic() >= deadline:
            busy = len(services.connections)
            close_connections(services, reconnect_delay, only_idle=False)
            log.warning("shutdown: closed %d connections still handling frames (out of time)", busy)
            break
        await asyncio.sleep(POLL)
    # RFC 6455's closing handshake: the client answers the close frame and the socket
    # ends cleanly. Exiting before that, with frames of the client's still unread, makes
    # the kernel reset the connection, and a client that had not yet read the close
    # frame loses it, with its reconnect hint.
    waiting = [stream for stream in streams if stream is not None]
    until = min(deadline, time.monotonic() + close_wait)
    while time.monotonic() < until and any(not stream.closed() for stream in waiting):
        await asyncio.sleep(POLL)


async def within(deadline: float, what: str, awaitable: "Awaitable[Any]") -> Any:
    """Await ``awaitable`` until ``deadline``; log and give up when time runs out."""
    try:
        return await asyncio.wait_for(awaitable, max(0.0, deadline - time.monotonic()))
    except asyncio.TimeoutError:
        log.warning("shutdown: %s did not finish in time", what)
    except Exception as exc:
        log.warning("shutdown: %s failed: %s", what, exc)
    return None
