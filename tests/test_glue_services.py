"""nexus_tornado.glue.services: what every connection of one plugin shares."""

from __future__ import annotations

from typing import List

import pytest
from support.nexus import SECRET

from nexus_tornado.errors import StoreUnavailable
from nexus_tornado.hub.hub import Hub
from nexus_tornado.hub.memory import MemoryStore
from nexus_tornado.hub.presence import Presence
from nexus_tornado.policy.auth import TokenVerifier
from nexus_tornado.policy.guard import Guard
from nexus_tornado.policy.limits import SharedCounts
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


class _Counts(SharedCounts):
    """Connections counted with other processes: ``room`` more, or the store is down."""

    def __init__(self, room: int) -> None:
        self.room = room
        self.down = False
        self.released: List[str] = []

    async def connect(self, user_id: str, cap: int) -> bool:
        if self.down:
            raise StoreUnavailable("down")
        if self.room <= 0:
            return False
        self.room -= 1
        return True

    def disconnect(self, user_id: str) -> None:
        self.released.append(user_id)


@pytest.mark.gen_test
async def test_a_connection_is_counted_in_the_shared_count_or_locally_when_it_cannot_answer() -> None:
    shared = services()
    assert await shared.admit_connection("u") is False  # one process: counted by presence alone
    counts = _Counts(room=1)
    shared.shared = counts
    assert await shared.admit_connection("u") is True
    assert await shared.admit_connection("u") is None  # at the cap on every process
    shared.release_connection("u")
    assert counts.released == ["u"]
    counts.down = True
    assert await shared.admit_connection("u") is False  # this process's count: under the cap
    for _ in range(shared.settings.max_connections_per_user):
        shared.presence.connected("u")
    assert await shared.admit_connection("u") is None
