"""``NexusRouter``: sockjs-tornado's ``SockJSRouter`` made fit for Tornado 6.

Same use as the original::

    router = NexusRouter(ConnectionClass, "/stomp", {"allowed_origins": ["*"]})
    app = tornado.web.Application(router.urls + other_routes)
    ...
    router.close_all_sessions()   # clients see 1001 "server shutting down"
    router.close()                # stops the router's timers

Differences:

- No ``IOLoop.instance()`` and nothing started at construction: the router may be
  built before any loop runs, and it uses whichever loop serves its requests. The
  session-expiry and statistics timers start with the first session, and ``close()``
  stops them.
- Every handler is nexus-tornado's fixed subclass (``registry.py``); ``chunking_test``
  (gone from the SockJS protocol and unused by sockjs-client 1.x) is not mounted.
- ``close_all_sessions(code, reason)`` closes every live session on every transport.
- Our settings keys (``allowed_origins``, ``max_message_size``, ``max_send_body_size``)
  are validated at construction (``ConfigError``); see docs/transports.md.
"""

from __future__ import annotations

import logging
import weakref
from typing import Any, Dict, List, Mapping, Optional, Tuple

from tornado.ioloop import IOLoop, PeriodicCallback

from .base import NEXUS_DEFAULTS, NexusSession, OriginPolicy, TransportSettings
from .close_codes import SHUTDOWN_CLOSE
from .sockjs_compat import sessioncontainer, sockjs_router, stats
from .registry import RAW_WEBSOCKET, SEND_HANDLERS, STATIC_HANDLERS, TRANSPORTS

log = logging.getLogger("nexus_tornado.transport.router")


class RouterStats(stats.StatsCollector):
    """sockjs-tornado's statistics, with a timer that starts and stops on demand."""

    def __init__(self) -> None:  # the original starts its PeriodicCallback here
        self.sess_active = 0
        self.sess_transports: Dict[str, int] = {}
        self.conn_active = 0
        self.conn_ps = stats.MovingAverage()
        self.pack_sent_ps = stats.MovingAverage()
        self.pack_recv_ps = stats.MovingAverage()
        self._callback: Optional[PeriodicCallback] = None

    def start(self) -> None:
        if self._callback is None:
            self._callback = PeriodicCallback(self._update, 1000)
            self._callback.start()

    def stop(self) -> None:
        if self._callback is not None:
            self._callback.stop()
            self._callback = None


class NexusRouter(sockjs_router.SockJSRouter):
    """The SockJS router of nexus-tornado (see the module docstring)."""

    def __init__(
        self,
        connection: Any,
        prefix: str = "",
        user_settings: Optional[Mapping[str, Any]] = None,
    ) -> None:
        # SockJSRouter.__init__ is not called: it binds IOLoop.instance() and starts
        # periodic callbacks. What it sets up is set up here instead.
        self._connection = connection
        self.prefix = prefix
        self.settings: Dict[str, Any] = dict(sockjs_router.DEFAULT_SETTINGS)
        self.settings.update(NEXUS_DEFAULTS)
        if user_settings:
            self.settings.update(user_settings)
        self.transport_settings = TransportSettings(self.settings)
        self.origin_policy: OriginPolicy = self.transport_settings.origin_policy
        self.settings["sockjs_url"] = self.transport_settings.sockjs_url

        disabled = set(self.settings["disabled_transports"])
        self.websockets_enabled = "websocket" not in disabled
        self.cookie_needed = self.settings["jsessionid"]

        self._session_kls = NexusSession
        self._sessions = sessioncontainer.SessionContainer()
        self._live: "weakref.WeakSet[Any]" = weakref.WeakSet()
        self._sessions_cleanup: Optional[PeriodicCallback] = None
        self._closed = False
        self.stats = RouterStats()
        self._transport_urls = self._build_urls(prefix, disabled)

    @property
    def io_loop(self) -> IOLoop:
        """The loop serving the current request (sockjs-tornado schedules on it)."""
        return IOLoop.current()

    def _build_urls(self, prefix: str, disabled: set) -> List[Tuple[str, Any, Dict[str, Any]]]:
        base = prefix + r"/[^/.]+/(?P<session_id>[^/.]+)"
        kwargs = dict(server=self)
        urls: List[Tuple[str, Any, Dict[str, Any]]] = []
        for name, handler, users in SEND_HANDLERS:
            if any(u not in disabled for u in users):
                urls.append(("%s/%s$" % (base, name), handler, kwargs))
        for name, handler in TRANSPORTS.items():
            if name not in disabled:
                urls.append(("%s/%s$" % (base, name), handler, kwargs))
        for pattern, handler in STATIC_HANDLERS:
            if pattern == "/websocket" and RAW_WEBSOCKET in disabled:
                continue
            urls.append((prefix + pattern, handler, kwargs))
        return urls

    # Sessions

    def _start_timers(self) -> None:
        if self._closed or self._sessions_cleanup is not None:
            return
        interval = self.settings["session_check_interval"] * 1000
        self._sessions_cleanup = PeriodicCallback(self._sessions.expire, interval)
        self._sessions_cleanup.start()
        self.stats.start()

    def create_session(self, session_id: str, register: bool = True) -> NexusSession:
        """A new SockJS session (registered for polling reattachment unless told not)."""
        self._start_timers()
        session = NexusSession(
            self._connection, self, session_id, self.settings.get("disconnect_delay")
        )
        if register:
            self._sessions.add(session)
        return session

    def track_session(self, session: Any) -> None:
        """Remember ``session`` until it is gone, for ``close_all_sessions``."""
        self._live.add(session)

    def live_sessions(self) -> List[Any]:
        """Sessions not yet closed, on every transport."""
        return [s for s in list(self._live) if not s.is_closed]

    def close_all_sessions(
        self, code: int = SHUTDOWN_CLOSE[0], reason: str = SHUTDOWN_CLOSE[1]
    ) -> int:
        """Close every live session with ``code``/``reason``; return how many.

        The default, 1001 "server shutting down", is RFC 6455's code for a server going
        away: SockJS clients see it as the close event's code, raw WebSocket clients in
        the close frame, and either may reconnect (to another instance, or later).
        """
        sessions = self.live_sessions()
        for session in sessions:
            try:
                session.close(code, reason)
            except Exception:
                log.exception("closing a session failed")
        return len(sessions)

    def close(self) -> None:
        """Stop the router's timers (idempotent). Sessions are not closed by this."""
        self._closed = True
        if self._sessions_cleanup is not None:
            self._sessions_cleanup.stop()
            self._sessions_cleanup = None
        self.stats.stop()


__all__ = ["NexusRouter", "RouterStats"]
