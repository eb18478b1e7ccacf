"""What every connection of one plugin shares, handed to them through router settings."""

from __future__ import annotations

from typing import TYPE_CHECKING, Dict, Optional

from ..hub.hub import Hub
from ..hub.presence import Presence
from ..policy.auth import TokenVerifier
from ..policy.guard import Guard
from ..policy.limits import UserBytes
from ..settings import Settings
from .handlers import MessagePipeline

if TYPE_CHECKING:  # pragma: no cover
    from .connection import StompConnection

#: Key of the :class:`Services` object in the SockJS router's settings.
SERVICES_KEY = "nexus_services"


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
    ) -> None:
        self.settings = settings
        self.verifier = verifier
        self.guard = guard
        self.hub = hub
        #: Host-app handlers before the store, listeners after it.
        self.pipeline = MessagePipeline(
            hub, timeout=settings.handler_timeout, backlog=settings.listener_backlog
        )
        self.presence = presence
        self.server_name = server_name
        #: Every open connection (an ordered set).
        self.connections: Dict["StompConnection", None] = {}
        #: Closed connections still handling frames received before their close.
        self.draining: Dict["StompConnection", None] = {}
        #: True once shutdown began: new connections are refused.
        self.closing = False
        #: Bytes each user holds in uncommitted transactions (``max_transaction_bytes``).
        self.transaction_bytes = UserBytes(settings.max_transaction_bytes)

    def connection_count(self, user_id: Optional[str] = None) -> int:
        if user_id is None:
            return len(self.connections)
        return self.presence.connections(user_id)
