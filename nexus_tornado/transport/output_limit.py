"""How much a connection has written that its client has not yet taken.

The slow-consumer bound (``Settings.max_pending_output``, default 1 MiB) needs one
number per connection: the output accepted for the client but not yet handed to the
operating system. Where it waits depends on the transport:

- raw WebSocket and SockJS ``websocket``: queued for the end of the IOLoop iteration
  (``pending_output``, see :mod:`.websocket_writer`), then in the Tornado
  ``IOStream``'s write buffer of the WebSocket connection;
- SockJS streaming (``xhr_streaming``, ``eventsource``, ``htmlfile``): in the SockJS
  session's ``send_queue`` (sockjs-tornado hands a streaming response the next message
  only once the previous one was flushed), plus what the open response's ``IOStream``
  has not written yet;
- SockJS polling (``xhr``, ``jsonp``): in the SockJS session's ``send_queue`` while no
  poll is waiting (and, briefly, in the response's stream).

:func:`unsent_bytes` adds up all of these. Tornado has no public accessor for a stream's
buffered output, so its ``_write_buffer`` (whose ``len()`` is the byte count, in every
Tornado 6 release) is read here and nowhere else; should it ever disappear, the stream
counts as empty and only ``send_queue`` is measured.
"""

from __future__ import annotations

import asyncio
from typing import Any, Optional

from tornado.iostream import StreamClosedError

#: How often a drain wait looks again at output that only a client's poll can take.
POLL_DRAIN_SECONDS = 0.02


def unsent_bytes(session: Any) -> int:
    """Bytes queued for ``session``'s client and not yet written to its socket.

    ``send_queue`` holds text (JSON-encoded, so ASCII in practice): its length is
    counted as bytes. WebSocket handlers count their own output (``unsent_bytes()``
    of :class:`~.websocket_writer.BatchedWriterMixin`); this runs once per delivery.
    """
    handler = getattr(session, "handler", None)
    count = getattr(handler, "unsent_bytes", None)
    if count is not None:
        total = int(count())
    else:
        total = 0
        stream = _stream_of(handler)
        if stream is not None:
            buffered = getattr(stream, "_write_buffer", None)
            if buffered is not None:
                total += len(buffered)
    queue = getattr(session, "send_queue", None)
    if queue:
        total += len(queue)
    return total


def websocket_stream(session: Any) -> Optional[Any]:
    """The ``IOStream`` of ``session``'s WebSocket (raw or SockJS); ``None`` for the
    HTTP transports, whose sockets outlive a session (keep-alive)."""
    handler = getattr(session, "handler", None)
    ws = getattr(handler, "ws_connection", None)
    return getattr(ws, "stream", None) if ws is not None else None


def _stream_of(handler: Any) -> Optional[Any]:
    """The ``IOStream`` a transport handler writes to, if it has one right now."""
    if handler is None:
        return None
    ws = getattr(handler, "ws_connection", None)
    if ws is not None:
        return getattr(ws, "stream", None)
    request = getattr(handler, "request", None)
    connection = getattr(request, "connection", None)
    return getattr(connection, "stream", None)


def push_output(session: Any) -> None:
    """Hand what the transport batched for this IOLoop iteration to the socket now.

    WebSocket handlers batch their frames until the end of the iteration
    (:mod:`.websocket_writer`); that batch is the server's own, not output the client
    failed to take, so the slow-consumer bound looks again after pushing it.
    """
    handler = getattr(session, "handler", None)
    flush = getattr(handler, "flush_output", None)
    if flush is not None:
        flush()


async def wait_drained(session: Any, below: int) -> None:
    """Return once ``session``'s unsent output is at most ``below`` bytes, or it closed.

    Used to pace a long write (a replay) to what the client takes: the batch is pushed
    to the socket, then a stream's output is awaited (``IOStream.write(b"")`` resolves
    once everything before it is written); output queued in a SockJS session waits for
    the client's next poll, so that is looked at again every ``POLL_DRAIN_SECONDS``.
    """
    push_output(session)
    while not session.is_closed and unsent_bytes(session) > below:
        stream = _stream_of(getattr(session, "handler", None))
        if stream is not None and not stream.closed() and getattr(stream, "_write_buffer", None):
            try:
                await stream.write(b"")
            except StreamClosedError:
                return
        else:
            await asyncio.sleep(POLL_DRAIN_SECONDS)
