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
from ..transport.close_codes import SHUTDOWN_CLOSE
from ..transport.router import NexusRouter
from . import log_redaction
from .connection import StompConnection, transport_message_limit
from .services import SERVICES_KEY, Services

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
        return MemoryStore(retention_of(settings), max_bytes=settings.memory_store_bytes or None)
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
        self.hub = Hub(
            self.store,
            recent_bytes=settings.recent_cache_bytes,
            # What a subscriber catching up may have buffered is handed over at once:
            # with a replay paced at half the output bound, it must fit in the rest.
            catch_up_bytes=settings.max_pending_output // 4,
        )
        self.presence = Presence(self._announce_presence, grace=settings.presence_grace_seconds)
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
                # A send body trickled in is dropped at this deadline, whatever the
                # host app's HTTPServer says (its default has none).
                "send_body_timeout": settings.http_body_timeout,
            },
        )
        self._ticker: Optional[PeriodicCallback] = None
        self._pruner: Optional[PeriodicCallback] = None
        self._background: Dict["asyncio.Future[Any]", None] = {}
        self.started = False

    @property
    def urls(self) -> List[Any]:
        """URL specs to add to the host app's ``tornado.web.Application``."""
        return list(self.router.urls)

    async def start(self) -> None:
        """Open the store (create indexes) and start the housekeeping timers."""
        await self.store.open()
        self._ticker = PeriodicCallback(self._tick, self.tick_seconds * 1000)
        self._ticker.start()
        self._pruner = PeriodicCallback(self._prune, 60_000)
        self._pruner.start()
        self.started = True

    async def close(self, drain_seconds: float = 5.0) -> None:
        """Stop accepting, let accepted work finish, close every connection, close the store.

        Clients get close code 1001 ("server shutting down"), from which they reconnect;
        messages already accepted (persisted) stay in the store for their replay.
        """
        services = self.services
        services.closing = True
        for timer in (self._ticker, self._pruner):
            if timer is not None:
                timer.stop()
        deadline = time.monotonic() + drain_seconds
        while time.monotonic() < deadline and (
            self._background or any(c.busy for c in services.connections)
        ):
            await asyncio.sleep(0.02)
        for connection in list(services.connections):
            connection.close_with(*SHUTDOWN_CLOSE)
        self.presence.settle()  # the OFFLINEs still in their grace period
        self.router.close()
        await self.hub.flush()
        await self.store.close()
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
