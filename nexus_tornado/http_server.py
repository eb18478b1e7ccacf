"""The HTTP server nexus-tornado runs on: Tornado's, with timeouts and a calm accept loop.

Two things a plain ``HTTPServer(app)`` lacks against slow or numerous clients:

- **Timeouts.** Tornado waits an hour for a request's headers and forever for its body,
  so a client trickling bytes (slowloris) holds a descriptor as long as it likes.
  :func:`server_options` gives the ``HTTPServer`` keyword arguments for
  ``Settings.http_header_timeout`` (headers, and the keep-alive idle time between
  requests) and ``Settings.http_body_timeout``; the send endpoints apply the body
  timeout themselves too, so it holds under a host app's own server.
- **Descriptor exhaustion.** When ``accept()`` fails with ``EMFILE`` (or ``ENFILE``,
  ``ENOBUFS``, ``ENOMEM``), Tornado's accept handler raises out of the IOLoop callback;
  the listening socket stays readable, so the loop spins a core and logs a traceback
  per turn. :class:`NexusHTTPServer` stops accepting for :data:`ACCEPT_PAUSE` seconds
  instead (new clients wait in the listen backlog), logs one warning per episode, and
  resumes; connections already open are served throughout.
"""

from __future__ import annotations

import errno
import logging
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


def server_options(settings: Settings) -> Dict[str, Any]:
    """``HTTPServer`` keyword arguments for the settings' header and body timeouts."""
    return {
        "idle_connection_timeout": settings.http_header_timeout,
        "body_timeout": settings.http_body_timeout,
    }


class _Acceptor:
    """Accepts on one listening socket; pauses instead of spinning when out of fds."""

    def __init__(self, sock: socket.socket, callback: Callable[[socket.socket, Any], None], pause: float) -> None:
        self.sock = sock
        self.callback = callback
        self.pause = pause
        self.loop = IOLoop.current()
        self.removed = False
        self.paused: Optional[object] = None
        self.refused = 0  # accept() failures of the current episode
        self.warned_at: Optional[float] = None
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
                self._pause(exc)
                return
            if self.refused:
                log.info("accepting connections again (%d refused for lack of descriptors)", self.refused)
                self.refused = 0
            self.callback(connection, address)

    def _pause(self, exc: OSError) -> None:
        self.refused += 1
        now = time.monotonic()
        if self.warned_at is None or now - self.warned_at >= WARN_EVERY:
            self.warned_at = now
            log.warning(
                "cannot accept connections: %s; pausing %g s at a time until descriptors free up",
                exc.strerror or exc, self.pause,
            )
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
