"""The host-app API: construct once, mount its URL specs, start, close.

::

    plugin = NexusPlugin(Settings(jwt_secret=SECRET))
    app = tornado.web.Application(plugin.urls + [(r"/", MyHandler)])
    app.listen(8888)
    # Optional: metrics and the operator's page, on a private address only.
    tornado.web.Application(plugin.admin_urls).listen(8889, "127.0.0.1")
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
from typing import Any, Callable, List, Mapping, Optional, Sequence, Type, TypeVar, Union

import tornado.web
from tornado.ioloop import PeriodicCallback

from .. import __version__
from ..errors import ConfigError
from ..glue.connection import StompConnection
from ..glue.services import SERVICES_KEY, Services
from ..glue.shutdown import drain, within
from ..hub.documents import refuse_publish
from ..hub.hub import Hub
from ..hub.memory import MemoryStore
from ..hub.presence import Announcements, Presence, presence_envelope
from ..hub.store import Retention, Store, StoredMessage
from ..ops import log_redaction
from ..ops.health import LivenessHandler, Readiness, ReadinessHandler
from ..ops.metrics import LoopLagMonitor, Metrics, MetricsHandler, TimedStore
from ..ops.status import Activity, StatusDataHandler, StatusPageHandler
from ..pipeline import Handler, Listener
from ..policy.auth import TokenVerifier
from ..policy.destinations import PRESENCE_DESTINATION, notifications_for
from ..policy.guard import Guard, SenderCheck
from ..policy.tokens import TokenIssuer
from ..settings import Settings
from ..transport.base import message_limit
from ..transport.body_limit import with_body_limit
from ..transport.registry import TRANSPORTS as SOCKJS_TRANSPORTS
from ..transport.router import NexusRouter
from .client_scripts import ClientScriptHandler, static_directory
from .service_api import service_api_urls
from .token_handler import ClaimsCallback, token_handler_class

log = logging.getLogger("nexus_tornado.host.plugin")

_F = TypeVar("_F", bound=Callable[..., Any])

#: How often deadlines, idle and heart-beat timeouts and token expiry are checked, seconds
#: (heart-beats themselves go out from a timer per connection, see connection.py).
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
    from ..hub.mongo import MongoStore, client_class_for  # only the Mongo store imports the driver

    return MongoStore.from_uri(
        settings.mongo_uri,
        settings.mongo_database or None,
        client_class=client_class_for(settings.mongo_driver),
        retention=retention_of(settings),
        timeout=settings.mongo_timeout,
        batch_count=settings.mongo_batch_count,
        batch_bytes=settings.mongo_batch_bytes,
    )


def sockjs_enabled(settings: Settings) -> bool:
    """Whether any SockJS transport (all of which carry only text) is on."""
    return any(name not in settings.disabled_transports for name in SOCKJS_TRANSPORTS)


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
        # SockJS carries only text: while any of its transports is on, bodies that are
        # not UTF-8 are refused at publish (a raw-WebSocket-only server takes them and
        # sends them as binary frames).
        self.hub = Hub(
            timed.as_store(),
            text_only=sockjs_enabled(settings),
            recent_bytes=settings.recent_cache_bytes,
            # What a subscriber catching up may have buffered is handed over at once:
            # with a replay paced at half the output bound, it must fit in the rest.
            catch_up_bytes=settings.max_pending_output // 4,
            hold=settings.sequencer_hold,
            clock_skew=settings.clock_skew,
        )
        #: The change stream that brings other processes' messages (MongoDB only).
        self.feed: Optional[Any] = None
        if settings.mongo_uri and settings.mongo_change_stream:
            from ..hub.mongo_feed import ChangeFeed  # imports the driver

            self.feed = ChangeFeed(
                settings.mongo_uri,
                settings.mongo_database or None,
                self.hub.stored,
                self.hub.recheck,
                wanted=self.hub.needs,
                interest=self.hub.destinations,
                timeout=settings.mongo_timeout,
                on_lag=self.metrics.observe_stream_lag,
            )
            self.hub.on_interest = self.feed.interest_changed
        #: Publishes presence changes, each user's in order, again while the store is down.
        self.announcements = Announcements(self._publish_presence)
        self.presence = Presence(self.announcements, grace=settings.presence_grace_seconds)
        #: Verifies the JWTs of CONNECT frames, token refreshes and the host app's own
        #: requests (the demo's publish API): one verifier, built from the settings.
        self.verifier = TokenVerifier(
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
            self.verifier,
            guard,
            self.hub,
            self.presence,
            server_name="nexus-tornado/%s" % __version__,
            store=self.store,
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
                "max_message_size": message_limit(settings.max_frame_size),
                # Every other SockJS endpoint takes no body: one beyond this is refused
                # unread (413).
                "max_request_body": settings.max_request_body,
                # A send body trickled in is dropped at this deadline, whatever the
                # host app's HTTPServer says (its default has none).
                "send_body_timeout": settings.http_body_timeout,
            },
        )
        self.metrics.collect_from(self.services, self.hub)
        self.readiness = Readiness(timed.as_store(), self.services, settings.readiness_interval)
        timed.on_failure = self.readiness.store_failed
        self.activity = Activity(self.services, self.hub)
        self._lag = LoopLagMonitor(self.metrics)
        #: Presence and per-user limits shared with other processes (MongoDB only).
        self.cluster: Optional[Any] = None
        self._ticker: Optional[PeriodicCallback] = None
        self._pruner: Optional[PeriodicCallback] = None
        self.pipeline = self.services.pipeline
        self._issuer: Optional[TokenIssuer] = None
        self.started = False

    @property
    def urls(self) -> List[Any]:
        """URL specs to add to the host app's ``tornado.web.Application``: the SockJS
        endpoint, the backend services' HTTP API (``{prefix}/api/...``), and liveness
        and readiness at ``health_path`` and ``readiness_path`` when those are set.

        What only operators may see (metrics, the operator's page) is never here: mount
        :attr:`admin_urls` on an application of its own, listening where the public
        cannot reach it (docs/operations.md)."""
        return service_api_urls(self.services) + list(self.router.urls) + self.probe_urls(public=True)

    @property
    def admin_urls(self) -> List[Any]:
        """URL specs of the operator's endpoints, each at its path setting when set:
        metrics (``metrics_path``), the operator's page and its data (``status_path``),
        and liveness and readiness again (with the reason a store is down), for an
        application on a private address (the command's ``--admin-port``)."""
        settings = self.settings
        urls: List[Any] = []
        if settings.metrics_path:
            urls.append((settings.metrics_path, MetricsHandler, {"metrics": self.metrics}))
        if settings.status_path:
            urls.append((settings.status_path, StatusPageHandler, {"data_path": settings.status_path + "/data.json"}))
            urls.append((settings.status_path + "/data.json", StatusDataHandler, {"activity": self.activity}))
        return self._limited(urls) + self.probe_urls(public=False)

    def probe_urls(self, public: bool) -> List[Any]:
        """Liveness and readiness at their path settings, when set. ``public``: the
        readiness body leaves out the store's error (it can name internal hosts)."""
        settings = self.settings
        urls: List[Any] = []
        if settings.health_path:
            urls.append((settings.health_path, LivenessHandler))
        if settings.readiness_path:
            urls.append((settings.readiness_path, ReadinessHandler, {"readiness": self.readiness, "public": public}))
        return self._limited(urls)

    def _limited(self, urls: List[Any]) -> List[Any]:
        """``urls`` (of handlers taking no body) refusing one over ``max_request_body``
        unread (413)."""
        limit = self.settings.max_request_body
        return [(path, with_body_limit(handler, limit), *rest) for path, handler, *rest in urls]

    async def start(self) -> None:
        """Open the store (create indexes) and start the housekeeping timers."""
        await self.store.open()
        if self.feed is not None:
            await self.feed.start()
        await self._join_cluster()
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
        replay. See :mod:`nexus_tornado.glue.shutdown`.
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
        await drain(services, self.settings.reconnect_delay, deadline, self.settings.close_handshake_timeout)
        # Connections their clients closed may still be handling what they received
        # before the close (wire contract), and host-app handlers may still run.
        while time.monotonic() < deadline and (services.draining or not self.pipeline.idle):
            await asyncio.sleep(0.02)
        if not self.pipeline.idle:  # not silently: say which listener calls never ran
            log.error(
                "closing with %d after-store listener calls unfinished: %s",
                self.pipeline.pending, ", ".join(self.pipeline.unfinished()),
            )
            await self.pipeline.cancel()
        self.presence.settle()  # the OFFLINEs still in their grace period
        self.router.close()
        # What is left gets what is left of the budget, and at least a second.
        store_deadline = max(deadline, time.monotonic() + 1.0)
        if self.feed is not None:
            await within(store_deadline, "the change feed", asyncio.ensure_future(self.feed.close()))
        if self.cluster is not None:
            await within(store_deadline, "the cluster heartbeat", asyncio.ensure_future(self.cluster.close()))
        self.hub.close()
        # Presence announcements of the connections just closed, delivery marks.
        await within(store_deadline, "presence announcements", asyncio.ensure_future(self.announcements.flush()))
        if self.announcements.pending:
            log.warning("closing with the presence changes of %d users unpublished", self.announcements.cancel())
        await within(store_deadline, "recording deliveries", asyncio.ensure_future(self.hub.flush()))
        await within(store_deadline, "closing the store", asyncio.ensure_future(self.store.close()))
        self.started = False

    # -- the host app's business logic (see docs/handlers.md) ----------------------------

    def add_handler(self, fn: Handler, *, type: Optional[str] = None, destination: Optional[str] = None) -> None:
        """Run ``await fn(inbound)`` on each validated message of ``type`` (any type if
        ``None``) sent to a destination matching ``destination`` (a pattern such as
        ``/topic/chat/{chatId}`` or ``/topic/chat/*``; any destination if ``None``),
        before it is stored. See :mod:`nexus_tornado.pipeline`."""
        self.pipeline.add_handler(fn, type=type, destination=destination)

    def handler(self, type: Optional[str] = None, *, destination: Optional[str] = None) -> Callable[[_F], _F]:
        """Decorator form of :meth:`add_handler`: ``@plugin.handler("CHAT_MESSAGE")``."""

        def register(fn: _F) -> _F:
            self.add_handler(fn, type=type, destination=destination)
            return fn

        return register

    def add_listener(self, fn: Listener, *, type: Optional[str] = None, destination: Optional[str] = None) -> None:
        """Call ``fn(stored)`` after each message of ``type`` to ``destination`` is
        stored and broadcast, in the background, per destination in ``seq`` order."""
        self.pipeline.add_listener(fn, type=type, destination=destination)

    def after_store(self, type: Optional[str] = None, *, destination: Optional[str] = None) -> Callable[[_F], _F]:
        """Decorator form of :meth:`add_listener`: ``@plugin.after_store("CHAT_MESSAGE")``."""

        def register(fn: _F) -> _F:
            self.add_listener(fn, type=type, destination=destination)
            return fn

        return register

    def add_message_type(
        self,
        name: str,
        *,
        destinations: Sequence[str],
        fields: Optional[Mapping[str, Any]] = None,
        senders: Union[None, Sequence[str], SenderCheck] = None,
        allow_unknown: bool = False,
    ) -> None:
        """A message type of the host app's own: its Cerberus ``fields`` (merged over
        the envelope), the destination patterns it may go to, and who may send it
        (roles, or a check). See :meth:`Guard.add_message_type`."""
        self.services.guard.add_message_type(
            name, destinations=destinations, fields=fields, senders=senders, allow_unknown=allow_unknown
        )

    # -- tokens the plugin issues (docs/handlers.md) ----------------------------------------

    @property
    def token_issuer(self) -> TokenIssuer:
        """Signs tokens this plugin accepts (``SigningUnavailable`` for RS*/ES* without
        ``jwt_signing_key``)."""
        if self._issuer is None:
            self._issuer = TokenIssuer.from_settings(self.settings)
        return self._issuer

    def token_url(
        self,
        path: str,
        claims: ClaimsCallback,
        *,
        base: Type[tornado.web.RequestHandler] = tornado.web.RequestHandler,
        ttl: Optional[float] = None,
    ) -> Any:
        """A URL spec for the host app: ``POST path`` answers a token for the host's
        logged-in user (``current_user`` of ``base``), with the claims ``claims(handler,
        user)`` returns, valid ``ttl`` seconds (default ``token_ttl``). A request body
        over ``max_request_body`` is refused (413) before it is read."""
        options = {
            "issuer": self.token_issuer,
            "claims": claims,
            "ttl": self.settings.token_ttl if ttl is None else ttl,
            "service_role": self.settings.service_role,
        }
        handler = with_body_limit(token_handler_class(base), self.settings.max_request_body)
        return tornado.web.url(path, handler, options)

    def client_url(self, path: str = r"/nexus/js/(.*)") -> Any:
        """A URL spec for the host app serving the browser client's scripts from the
        installed package: ``path`` (a pattern with one group) + ``nexus-client.js``,
        ``vendor/sockjs.min.js``, ... (:data:`~nexus_tornado.host.client_scripts.CLIENT_SCRIPTS`,
        in load order); any other name is a 404. See docs/handlers.md ("The page")."""
        handler = with_body_limit(ClientScriptHandler, self.settings.max_request_body)
        return tornado.web.url(path, handler, {"path": static_directory()})

    def service_token(self, name: str, ttl: float = 30 * 86400.0) -> str:
        """A token for backend service ``name`` to call the HTTP publishing API with."""
        if not self.settings.service_role:
            raise ConfigError("service_role is empty: the HTTP publishing API is off")
        return self.token_issuer.issue(name, {"roles": [self.settings.service_role]}, ttl=ttl).token

    # -- server-side publishing (the seed's "system event" path) --------------------------

    async def publish(
        self,
        destination: str,
        body: Union[Mapping[str, Any], bytes, str],
        headers: Optional[Mapping[str, str]] = None,
    ) -> StoredMessage:
        """Persist and broadcast a message from the host app (no client ACL applies).

        ``body`` may be a JSON-able mapping, text or bytes; ``headers`` are passed on
        to every MESSAGE (all but those the server sets itself; ``content-type``
        defaults to ``application/json``). Raises ``StoreUnavailable`` when the store
        cannot take it, and ``Rejection`` (``INVALID_MESSAGE``) for bytes that are not
        UTF-8 while a SockJS transport is on (SockJS carries only text; on a server
        with only the raw WebSocket they go out as binary WebSocket messages), and for
        a shared document (``/topic/doc/{docId}``), which changes only through its
        editors' operations.
        """
        refuse_publish(destination)
        if isinstance(body, Mapping):
            data = json.dumps(body, separators=(",", ":")).encode()
        elif isinstance(body, str):
            data = body.encode()
        else:
            data = bytes(body)
        stored = await self.hub.publish(destination, data, headers)
        await self.pipeline.stored(stored, dict(body) if isinstance(body, Mapping) else None)
        return stored

    async def notify(self, user_id: str, notification: Mapping[str, Any]) -> StoredMessage:
        """Send a notification to one user; kept for them until delivered."""
        return await self.publish(notifications_for(user_id), notification)

    async def delivery_status(self, user_id: str, seq: int) -> Optional[bool]:
        """Whether notification ``seq`` of ``user_id`` was delivered (``None``: unknown)."""
        return await self.store.is_delivered(notifications_for(user_id), seq)

    # -- internals ------------------------------------------------------------------------

    async def _join_cluster(self) -> None:
        """On MongoDB, share presence and the per-user limits with the other processes."""
        database = getattr(self.store, "database", None)
        if database is None or not self.settings.mongo_uri or not self.settings.mongo_change_stream:
            return  # one process (no change stream: nothing of the others would reach it)
        from ..hub.mongo_cluster import MongoCluster  # imports the driver
        from ..hub.mongo_limits import MongoLimits

        limiter = self.services.guard.limiter
        settings = self.settings
        cluster = MongoCluster(
            database,
            self.presence,
            self.announcements,
            interval=settings.cluster_interval,
            ttl=settings.cluster_ttl,
            timeout=settings.mongo_timeout,
        )
        limits = MongoLimits(
            database, cluster.process_id, limiter, slack=settings.cluster_send_slack, timeout=settings.mongo_timeout
        )
        await limits.start()
        await cluster.start()
        cluster.limits = limits
        self.cluster = cluster
        self.presence.cluster = cluster
        self.services.shared = limits
        if limiter is not None:
            limiter.shared = limits

    async def _publish_presence(self, user_id: str, status: str) -> None:
        await self.publish(PRESENCE_DESTINATION, presence_envelope(user_id, status))

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
