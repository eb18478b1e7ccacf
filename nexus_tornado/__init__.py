"""nexus-tornado: real-time messaging for Tornado applications.

STOMP 1.2 over SockJS and raw WebSocket, JWT authentication, and an IOLoop-resident
pub/sub hub that persists every message (numbered per destination) before it is
broadcast and replays what a reconnecting client missed.

Layers, each importing only downward::

    nexus_tornado.stomp      sans-I/O STOMP frames, parser and session state (stdlib only)
    nexus_tornado.policy     JWT -> principal, ACLs, validation, limits (no Tornado)
    nexus_tornado.hub        publish/subscribe, seq numbers, replay; stores
    nexus_tornado.transport  the SockJS transport layer fitted to Tornado 6 (knows no STOMP)
    nexus_tornado.settings   the one validated settings object
    nexus_tornado.pipeline   the message-handler pipeline (host callbacks before and after store)
    nexus_tornado.glue       the STOMP glue: one connection drives one session
    nexus_tornado.ops        what an operator looks at: metrics, health, status page, logs
    nexus_tornado.host       what a host app calls: the plugin, the publish API, the token handler
    nexus_tornado.http_server  the command's HTTP server and its timeouts
    nexus_tornado.cli        the ``nexus-tornado`` command
"""

from typing import Any

__version__ = "0.1.0"

__all__ = ["NexusPlugin", "Settings", "__version__"]


def __getattr__(name: str) -> Any:
    # Lazy, so that importing the sans-I/O layers never pulls in Tornado.
    if name == "NexusPlugin":
        from .host.plugin import NexusPlugin

        return NexusPlugin
    if name == "Settings":
        from .settings import Settings

        return Settings
    raise AttributeError("module 'nexus_tornado' has no attribute %r" % name)
