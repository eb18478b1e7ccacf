"""The host-app API: construct once, mount its URL specs, start, close.

::

    plugin = NexusPlugin(Settings(jwt_secret=SECRET))
    app = tornado.web.Application(plugin.urls + [(r"/", MyHandler)])
    app.listen(8888)
    await plugin.start()
    ...
    await plugin.close()

The plugin owns the store (unless one is handed in), the hub, the guard and the SockJS
router; connections reach them through the router's settings.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any, Dict, List, Mapping, Optional, Union

from tornado.ioloop import PeriodicCallback

from .. import __version__
from ..hub.hub import Hub
from ..hub.memory import MemoryStore
from ..hub.presence import Presence, presence_envelope
from ..hub.store import Retention, Store, StoredMessage
from ..policy.auth import TokenVerifier
from ..policy.destinations import PRESENCE_DESTINATION, notifications_for
from ..policy.guard import Guard
from ..settings import Settings
from ..transport.router import NexusRouter
from . import log_redaction
from .connection import StompConnection, transport_message_limit
from .health import LivenessHandler, Readiness, ReadinessHandler
from .metrics import LoopLagMonitor, Metrics, MetricsHandler, TimedStore
from .services import SERVICES_KEY, Services
from .shutdown import drain, within
from .status import Activity, StatusDataHandler, StatusPageHandler

log = logging.getLogger("nexus_tornado.server.plugin")

#: How often deadlines, idle timeouts, token expiry and heart-beats are checked, seconds.
TICK_SECONDS = 1.0


def retention_of(settings: Settings) -> Retention:
    """The store retention the settings ask for (0 means no limit)."""
    return Retention(
        max_age_seconds=settings.retention_seconds or None,
        max_count=settings.retention_count or None,
    )


def store_from_settings(settings: Settings) -> Store:
    """The in-memory store, or the MongoDB store when ``mongo_uri`` is set."""
    if not settings.mongo_uri:
        return MemoryStore(retention_of(settings))
    from ..hub.mongo import MongoStore  # only the Mongo store imports the driver

    return MongoStore.from_uri(
        settings.mongo_uri,
        settings.mongo_database or None,
        retention=retention_of(settings),
        timeout=settings.mongo_timeout,
    )


class NexusPlugin:
    """nexus-tornado mounted in a Tornado application."""

    def __init__(
        self,
        settings: Settings,
        store: Optional[Store] = None,
        guard: Optional[Guard] = None,
        tick_seconds: float = TICK_SECONDS,
    ) -> None:
        self.settings = settings
        log_redaction.install()  # the access log must not show ?access_token=<jwt>
        #: Period of the housekeeping tick (tests shorten it to exercise short timeouts).
        self.tick_seconds = tick_seconds
        self.store = store if store is not None else store_from_settings(settings)
        #: Prometheus metrics (a registry of this plugin's own); mounted at
        #: ``metrics_path`` when that is set.
        self.metrics = Metrics()
        timed = TimedStore(self.store, self.metrics)
        self.hub = Hub(timed.as_store())
        self.presence = Presence(self._announce_presence)
        verifier = TokenVerifier(
            settings.jwt_secret,
            settings.jwt_algorithms,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            leeway=settings.jwt_leeway,
        )
        if guard is None:
            guard = Guard.from_settings(sends_per_minute=settings.sends_per_minute)
        self.services = Services(
            settings,
            verifier,
            guard,
            self.hub,
            self.presence,
            server_name="nexus-tornado/%s" % __version__,
        )
        self.router = NexusRouter(
            StompConnection,
            settings.prefix,
            {
                SERVICES_KEY: self.services,
                "disabled_transports": list(settings.disabled_transports),
                "allowed_origins": list(settings.allowed_origins),
                **({"sockjs_url": settings.sockjs_url} if settings.sockjs_url else {}),
                # Frames a little over the limit reach the STOMP layer (TOO_LARGE);
                # messages beyond this are refused unread by the transport (1009).
                "max_message_size": transport_message_limit(settings.max_frame_size),
            },
        )
        self.metrics.collect_from(self.services, self.hub)
        self.readiness = Readiness(timed.as_store(), self.services, settings.readiness_interval)
        timed.on_failure = self.readiness.store_failed
        self.activity = Activity(self.services, self.hub)
        self._lag = LoopLagMonitor(self.metrics)
        self._ticker: Optional[PeriodicCallback] = None
        self._pruner: Optional[PeriodicCallback] = None
        self._background: Dict["asyncio.Future[Any]", None] = {}
        self.started = False

    @property
    def urls(self) -> List[Any]:
        """URL specs to add to the host app's ``tornado.web.Application``: the SockJS
        endpoint, and the operations endpoints whose path settings are set."""
        return list(self.router.urls) + self.operations_urls()

    def operations_urls(self) -> List[Any]:
        """Metrics, liveness, readiness and the operator's page, each at its path
        setting (``metrics_path``, ...) when set."""
        settings = self.settings
        urls: List[Any] = []
        if settings.metrics_path:
            urls.append((settings.metrics_path, MetricsHandler, {"metrics": self.metrics}))
        if settings.health_path:
            urls.append((settings.health_path, LivenessHandler))
        if settings.readiness_path:
            urls.append((settings.readiness_path, ReadinessHandler, {"readiness": self.readiness}))
        if settings.status_path:
            urls.append((settings.status_path, StatusPageHandler, {"data_path": settings.status_path + "/data.json"}))
            urls.append((settings.status_path + "/data.json", StatusDataHandler, {"activity": self.activity}))
        return urls

    async def start(self) -> None:
        """Open the store (create indexes) and start the housekeeping timers."""
        await self.store.open()
        self._ticker = PeriodicCallback(self._tick, self.tick_seconds * 1000)
        self._ticker.start()
        self._pruner = PeriodicCallback(self._prune, 60_000)
        self._pruner.start()
        self._lag.start()
        self.readiness.start()
        self.activity.start()
        self.started = True

    async def close(self, drain_seconds: Optional[float] = None) -> None:
        """Stop accepting, let accepted work finish, close every connection, close the store.

        Takes at most ``drain_seconds`` (default: the ``shutdown_timeout`` setting) and
        then a little for the store. Clients get close code 1001 ("server shutting
        down (reconnect in N ms)", N random up to ``reconnect_delay``), from which they
        reconnect; messages already accepted (persisted) stay in the store for their
        replay. See :mod:`nexus_tornado.server.shutdown`.
        """
        services = self.services
        services.closing = True
        budget = self.settings.shutdown_timeout if drain_seconds is None else drain_seconds
        deadline = time.monotonic() + budget
        for timer in (self._ticker, self._pruner):
            if timer is not None:
                timer.stop()
        self._lag.stop()
        self.readiness.stop()
        self.activity.stop()
        await drain(services, self.settings.reconnect_delay, deadline)
        self.router.close()
        # Presence announcements of the connections just closed, delivery marks.
        store_deadline = max(deadline, time.monotonic() + 1.0)
        if self._background:
            await within(
                store_deadline, "server-side publishes", asyncio.gather(*self._background, return_exceptions=True)
            )
        await within(store_deadline, "recording deliveries", asyncio.ensure_future(self.hub.flush()))
        await within(store_deadline, "closing the store", asyncio.ensure_future(self.store.close()))
        self.started = False

    # -- server-side publishing (the seed's "system event" path) --------------------------

    async def publish(
        self,
        destination: str,
        body: Union[Mapping[str, Any], bytes, str],
        headers: Optional[Mapping[str, str]] = None,
    ) -> StoredMessage:
        """Persist and broadcast a message from the host app (no client ACL applies).

        ``body`` may be a JSON-able mapping, text or bytes. Raises ``StoreUnavailable``
        when the store cannot take it.
        """
        if isinstance(body, Mapping):
            data = json.dumps(body, separators=(",", ":")).encode()
        elif isinstance(body, str):
            data = body.encode()
        else:
            data = bytes(body)
        return await self.hub.publish(destination, data, headers)

    async def notify(self, user_id: str, notification: Mapping[str, Any]) -> StoredMessage:
        """Send a notification to one user; kept for them until delivered."""
        return await self.publish(notifications_for(user_id), notification)

    async def delivery_status(self, user_id: str, seq: int) -> Optional[bool]:
        """Whether notification ``seq`` of ``user_id`` was delivered (``None``: unknown)."""
        return await self.store.is_delivered(notifications_for(user_id), seq)

    def online_users(self) -> List[str]:
        return self.presence.online()

    # -- internals ------------------------------------------------------------------------

    def _announce_presence(self, user_id: str, status: str) -> None:
        self._spawn(self.publish(PRESENCE_DESTINATION, presence_envelope(user_id, status)))

    def _spawn(self, coro: Any) -> None:
        future = asyncio.ensure_future(coro)
        self._background[future] = None
        future.add_done_callback(self._background_done)

    def _background_done(self, future: "asyncio.Future[Any]") -> None:
        self._background.pop(future, None)
        if not future.cancelled() and future.exception() is not None:
            log.warning("background publish failed: %s", future.exception())

    def _tick(self) -> None:
        now, wall = time.monotonic(), time.time()
        for connection in list(self.services.connections):
            try:
                connection.tick(now, wall)
            except Exception:
                log.exception("housekeeping of a connection failed")

    async def _prune(self) -> None:
        try:
            dropped = await self.store.prune()
        except Exception as exc:
            log.warning("retention pass failed: %s", exc)
            return
        if dropped:
            log.info("retention dropped %d messages", dropped)
