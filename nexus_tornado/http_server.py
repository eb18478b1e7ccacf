"""The HTTP server nexus-tornado runs on: Tornado's, with timeouts and a calm accept loop.

Two things a plain ``HTTPServer(app)`` lacks against slow or numerous clients:

- **Timeouts.** Tornado waits an hour for a request's headers and forever for its body,
  so a client trickling bytes (slowloris) holds a descriptor as long as it likes.
  :func:`server_options` gives the ``HTTPServer`` keyword arguments for
  ``Settings.http_header_timeout`` (headers, and the keep-alive idle time between
  requests) and ``Settings.http_body_timeout``; the send endpoints apply the body
  timeout themselves too, so it holds under a host app's own server.
- **Body size.** Tornado buffers a request's body whole before the handler runs, up
  to ``max_body_size`` (100 MB by default). nexus-tornado's handlers stream theirs and
  refuse one over their own limit (:mod:`nexus_tornado.transport.body_limit`);
  :func:`server_options` caps every other path (a 404 too) at ``max_request_body``.
- **Descriptor exhaustion.** When ``accept()`` fails with ``EMFILE`` (or ``ENFILE``,
  ``ENOBUFS``, ``ENOMEM``), Tornado's accept handler raises out of the IOLoop callback;
  the listening socket stays readable, so the loop spins a core and logs a traceback
  per turn. :class:`NexusHTTPServer` keeps every connection it holds and refuses the
  new ones at once: it holds one spare descriptor, and when ``accept()`` finds none
  left it frees the spare, accepts the waiting client, answers ``503`` with
  ``Retry-After`` and closes it, then takes the spare back. A client is told at once
  (and reconnects, through a load balancer to another process) instead of waiting in
  the listen backlog until its own time-out. Only when even the spare cannot be had
  does the server stop accepting for :data:`ACCEPT_PAUSE` seconds. One warning per
  episode, and one line with the count when it accepts again.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import time
from typing import Any, Callable, Dict, Iterable, Optional

from tornado.httpserver import HTTPServer
from tornado.ioloop import IOLoop

from .settings import Settings

log = logging.getLogger("nexus_tornado.http_server")

#: Seconds the server stops accepting after running out of descriptors (nginx: 0.5 s).
ACCEPT_PAUSE = 0.5
#: Errors of ``accept()`` that mean "no resources for a new connection right now".
RESOURCE_ERRORS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
#: Connections accepted per readiness event at most (Tornado's own bound).
ACCEPT_BATCH = 128
#: While descriptors stay exhausted, how often the warning is repeated, seconds.
WARN_EVERY = 60.0
#: What a client refused for lack of descriptors is told before the server closes it.
REFUSAL = (
    b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Type: text/plain\r\n"
    b"Content-Length: 30\r\nConnection: close\r\n\r\nserver at its connection limit"
)


def server_options(settings: Settings) -> Dict[str, Any]:
    """``HTTPServer`` keyword arguments for the settings' header and body timeouts, and
    a body limit of ``max_request_body`` for handlers that set none of their own
    (nexus-tornado's own handlers each refuse a body over theirs, 413, before reading
    it; Tornado's default would buffer 100 MB for any path, an unknown one too)."""
    return {
        "idle_connection_timeout": settings.http_header_timeout,
        "body_timeout": settings.http_body_timeout,
        "max_body_size": settings.max_request_body,
    }


def _spare() -> Optional[int]:
    """A descriptor held in reserve, given up to refuse one client when none is left."""
    try:
        return os.open(os.devnull, os.O_RDONLY)
    except OSError:
        return None


def _refuse(connection: socket.socket) -> None:
    """Tell a client it cannot be served now (503), then close: never blocks."""
    connection.setblocking(False)
    try:
        connection.recv(65536)  # what arrived already: closing on unread bytes resets
    except OSError:
        pass
    try:
        connection.send(REFUSAL)
    except OSError:
        pass
    connection.close()


class _Acceptor:
    """Accepts on one listening socket; when out of fds, refuses new clients at once."""

    def __init__(self, sock: socket.socket, callback: Callable[[socket.socket, Any], None], pause: float) -> None:
        self.sock = sock
        self.callback = callback
        self.pause = pause
        self.loop = IOLoop.current()
        self.removed = False
        self.paused: Optional[object] = None
        self.refused = 0  # clients refused (or left waiting) in the current episode
        self.warned_at: Optional[float] = None
        self.spare = _spare()
        self.loop.add_handler(sock, self.accept, IOLoop.READ)

    def accept(self, fd: Any, events: int) -> None:
        for _ in range(ACCEPT_BATCH):
            if self.removed or self.paused is not None:
                return
            try:
                connection, address = self.sock.accept()
            except BlockingIOError:
                return
            except ConnectionAbortedError:
                continue
            except OSError as exc:
                if exc.errno not in RESOURCE_ERRORS:
                    raise
                self._warn(exc)
                refused = self._refuse_one()
                if refused is None:
                    self._pause()
                if not refused:
                    return
                continue
            if self.refused:
                log.info("accepting connections again (%d refused for lack of descriptors)", self.refused)
                self.refused = 0
            self.callback(connection, address)

    def _warn(self, exc: OSError) -> None:
        now = time.monotonic()
        if self.warned_at is None or now - self.warned_at >= WARN_EVERY:
            self.warned_at = now
            log.warning(
                "cannot accept connections: %s; refusing new clients (503) until descriptors free up",
                exc.strerror or exc,
            )

    def _refuse_one(self) -> Optional[bool]:
        """Accept one waiting client with the spare descriptor and refuse it: True when
        one was refused, False when none was waiting, None when the spare cannot be had
        (another part of the process took the descriptor)."""
        if self.spare is None:
            self.spare = _spare()
            if self.spare is None:
                return None
        os.close(self.spare)
        self.spare = None
        refused: Optional[bool] = True
        try:
            connection, _ = self.sock.accept()
        except (BlockingIOError, ConnectionAbortedError):
            refused = False
        except OSError:  # the freed descriptor was taken meanwhile
            refused = None
        else:
            _refuse(connection)
            self.refused += 1
        self.spare = _spare()
        return refused

    def _pause(self) -> None:
        self.loop.remove_handler(self.sock)
        self.paused = self.loop.call_later(self.pause, self._resume)

    def _resume(self) -> None:
        self.paused = None
        if not self.removed:
            self.loop.add_handler(self.sock, self.accept, IOLoop.READ)

    def remove(self) -> None:
        if self.removed:
            return
        self.removed = True
        if self.spare is not None:
            os.close(self.spare)
            self.spare = None
        if self.paused is not None:
            self.loop.remove_timeout(self.paused)
            self.paused = None
        else:
            self.loop.remove_handler(self.sock)


class NexusHTTPServer(HTTPServer):
    """``HTTPServer`` whose accept loop pauses when descriptors run out.

    Build it like Tornado's, e.g. ``NexusHTTPServer(app, **server_options(settings))``.
    """

    accept_pause = ACCEPT_PAUSE

    def add_sockets(self, sockets: Iterable[socket.socket]) -> None:
        for sock in sockets:
            self._sockets[sock.fileno()] = sock
            self._handlers[sock.fileno()] = _Acceptor(sock, self._handle_connection, self.accept_pause).remove


__all__ = ["ACCEPT_PAUSE", "NexusHTTPServer", "server_options"]
