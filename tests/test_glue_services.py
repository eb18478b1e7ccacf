"""nexus_tornado.glue.services: what every connection of one plugin shares."""

from __future__ import annotations

from support.nexus import SECRET

from nexus_tornado.hub.hub import Hub
from nexus_tornado.hub.memory import MemoryStore
from nexus_tornado.hub.presence import Presence
from nexus_tornado.policy.auth import TokenVerifier
from nexus_tornado.policy.guard import Guard
from nexus_tornado.glue.services import SERVICES_KEY, Services
from nexus_tornado.settings import Settings


def services() -> Services:
    return Services(
        Settings(jwt_secret=SECRET),
        TokenVerifier(SECRET),
        Guard.from_settings(),
        Hub(MemoryStore()),
        Presence(lambda user, status: None),
        server_name="nexus-tornado/test",
    )


def test_the_key_is_prefixed_like_tornado_settings() -> None:
    assert SERVICES_KEY == "nexus_services"


def test_a_new_registry_is_empty_and_open() -> None:
    shared = services()
    assert shared.connections == {}
    assert shared.closing is False
    assert shared.connection_count() == 0
    assert shared.server_name == "nexus-tornado/test"


def test_connection_count_is_all_connections_or_one_users() -> None:
    shared = services()
    a, b, c = object(), object(), object()
    shared.connections.update({a: None, b: None, c: None})  # type: ignore[dict-item]
    for user in ("ann", "ann", "bob"):
        shared.presence.connected(user)
    assert shared.connection_count() == 3
    assert shared.connection_count("ann") == 2
    assert shared.connection_count("bob") == 1
    assert shared.connection_count("eve") == 0
