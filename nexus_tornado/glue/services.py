"""What every connection of one plugin shares, handed to them through router settings."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Dict, Optional

from ..errors import StoreUnavailable
from ..hub.documents import Documents, document_store_for
from ..hub.hub import Hub
from ..hub.presence import Presence
from ..hub.store import Store
from ..policy.auth import TokenVerifier
from ..policy.guard import Guard
from ..policy.limits import SendRateLimiter, SharedCounts, UserBytes
from ..settings import Settings
from ..pipeline import MessagePipeline
from ..stomp import FrameCounts

if TYPE_CHECKING:  # pragma: no cover
    from .connection import StompConnection

log = logging.getLogger("nexus_tornado.glue.services")

#: Key of the :class:`Services` object in the SockJS router's settings.
SERVICES_KEY = "nexus_services"


#: Why a connection closed, as counted (a bounded set: the label of a metric).
CLOSE_REASONS = frozenset({
    "client", "disconnect", "server shutting down", "connect refused", "connect timeout",
    "idle timeout", "heart-beat timeout", "token expired", "slow consumer", "too many frames",
    "frame too large", "internal error", "protocol error",
})


class ServerStats:
    """Running totals of the STOMP glue, read by the metrics and the operator's page.

    Plain integers and dicts, bumped once per connection event, frame or rejection
    (never per delivered message: the hub counts those per publish).
    """

    __slots__ = ("frames", "messages_sent", "opened", "closed", "rejections")

    def __init__(self) -> None:
        #: Frames received and sent (CONNECTED, RECEIPT, ERROR) by every session.
        self.frames = FrameCounts()
        #: MESSAGE frames the glue sends itself (rejections, presence snapshots).
        self.messages_sent = 0
        #: Connections opened, by transport.
        self.opened: Dict[str, int] = {}
        #: Connections closed, by reason (one of :data:`CLOSE_REASONS`).
        self.closed: Dict[str, int] = {}
        #: Frames refused, by the wire contract's code (FORBIDDEN, RATE_LIMITED, ...).
        self.rejections: Dict[str, int] = {}

    @staticmethod
    def bump(counts: Dict[str, int], key: str) -> None:
        counts[key] = counts.get(key, 0) + 1


class Services:
    """Settings, verifier, guard, hub, message pipeline and the live connections."""

    def __init__(
        self,
        settings: Settings,
        verifier: TokenVerifier,
        guard: Guard,
        hub: Hub,
        presence: Presence,
        server_name: str,
        *,
        store: Optional[Store] = None,
    ) -> None:
        self.settings = settings
        self.verifier = verifier
        self.guard = guard
        self.hub = hub
        #: Host-app handlers before the store, listeners after it.
        self.pipeline = MessagePipeline(
            hub, timeout=settings.handler_timeout, backlog=settings.listener_backlog,
            backlog_bytes=settings.listener_backlog_bytes,
        )
        self.presence = presence
        # Documents append to the message store itself (conditionally, at a version):
        # ``store`` is the one under the hub's wrappers, the hub's own when not given.
        document_store = document_store_for(store if store is not None else hub.store)
        #: Shared documents (``None`` with a store that keeps none).
        self.documents: Optional[Documents] = (
            None
            if document_store is None
            else Documents(
                hub,
                document_store,
                max_length=settings.document_max_length,
                max_components=settings.document_max_op_components,
                max_behind=settings.document_max_behind,
            )
        )
        #: DOC_OP SENDs per user, apart from sends_per_minute.
        self.document_limiter = SendRateLimiter(settings.document_ops_per_minute, 60.0)
        self.server_name = server_name
        #: Every open connection (an ordered set).
        self.connections: Dict["StompConnection", None] = {}
        #: Closed connections still handling frames received before their close.
        self.draining: Dict["StompConnection", None] = {}
        #: True once shutdown began: new connections are refused.
        self.closing = False
        #: Bytes each user holds in uncommitted transactions (``max_transaction_bytes``).
        self.transaction_bytes = UserBytes(settings.max_transaction_bytes)
        #: Per-user counts shared with other processes (``None``: this process only).
        self.shared: Optional[SharedCounts] = None
        self.stats = ServerStats()

    def connection_count(self, user_id: Optional[str] = None) -> int:
        if user_id is None:
            return len(self.connections)
        return self.presence.connections(user_id)

    async def admit_connection(self, user_id: str) -> Optional[bool]:
        """Count one more connection of ``user_id``; ``None`` (nothing counted) when the
        user has ``max_connections_per_user`` already, on every process when shared.
        Otherwise whether it was counted in the shared store (then
        :meth:`release_connection` at its close). Should that store not answer, the
        cap counts this process's connections and the others' last reported ones."""
        limit = self.settings.max_connections_per_user
        if self.shared is not None:
            try:
                return True if await self.shared.connect(user_id, limit) else None
            except StoreUnavailable as exc:
                log.warning("connection of %s counted on this process only: %s", user_id, exc.log_detail)
        return None if self.presence.connections(user_id) >= limit else False

    def release_connection(self, user_id: str) -> None:
        if self.shared is not None:
            self.shared.disconnect(user_id)
