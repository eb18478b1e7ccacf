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

from typing import Any, Optional


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
