"""nexus_tornado.hub.presence: who is online, counted over each user's connections."""

from __future__ import annotations

import asyncio
import datetime
import json
from typing import List, Tuple

import pytest

from nexus_tornado.hub.presence import Presence, presence_envelope

def recorder() -> Tuple[Presence, List[Tuple[str, str]]]:
    calls: List[Tuple[str, str]] = []
    return Presence(lambda user, status: calls.append((user, status))), calls


def test_first_connection_announces_online_last_disconnection_offline() -> None:
    presence, calls = recorder()
    presence.connected("ann")
    presence.connected("ann")
    presence.connected("bob")
    assert calls == [("ann", "ONLINE"), ("bob", "ONLINE")]
    assert presence.connections("ann") == 2
    presence.disconnected("ann")
    assert calls[-1] == ("bob", "ONLINE") and presence.connections("ann") == 1
    presence.disconnected("ann")
    assert calls[-1] == ("ann", "OFFLINE")
    assert presence.connections("ann") == 0
    assert presence.online() == ["bob"]


def test_a_disconnection_never_seen_connected_announces_nothing() -> None:
    presence, calls = recorder()
    presence.disconnected("ghost")
    assert calls == [] and presence.online() == []


def test_online_is_sorted() -> None:
    presence, _ = recorder()
    for user in ("zoe", "ann", "mia"):
        presence.connected(user)
    assert presence.online() == ["ann", "mia", "zoe"]


def _is_iso_utc(text: str) -> bool:
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ") is not None


def test_snapshot_lists_everyone_online() -> None:
    presence, _ = recorder()
    presence.connected("bob")
    presence.connected("ann")
    snapshot = json.loads(presence.snapshot())
    assert snapshot["type"] == "PRESENCE_SNAPSHOT"
    assert snapshot["payload"] == {"online": ["ann", "bob"]}
    assert _is_iso_utc(snapshot["timestamp"])


def test_envelope_is_a_status_update() -> None:
    envelope = presence_envelope("ann", "ONLINE")
    assert envelope["type"] == "STATUS_UPDATE"
    assert envelope["payload"] == {"entityType": "user", "entityId": "ann", "status": "ONLINE"}
    assert _is_iso_utc(envelope["timestamp"])


def grace_recorder() -> Tuple[Presence, List[Tuple[str, str]]]:
    announced: List[Tuple[str, str]] = []
    return Presence(lambda user, status: announced.append((user, status)), grace=0.05), announced


@pytest.mark.gen_test
async def test_back_within_the_grace_period_publishes_nothing() -> None:
    presence, announced = grace_recorder()
    presence.connected("u")
    for _ in range(50):
        presence.disconnected("u")
        assert presence.online() == ["u"]  # still online during the grace period
        presence.connected("u")
    presence.disconnected("u")
    while ("u", "OFFLINE") not in announced:
        await asyncio.sleep(0.01)
    assert announced == [("u", "ONLINE"), ("u", "OFFLINE")]
    assert presence.online() == []


@pytest.mark.gen_test
async def test_settle_announces_pending_offlines_at_once() -> None:
    presence, announced = grace_recorder()
    presence.grace = 3600.0
    presence.connected("a")
    presence.disconnected("a")
    assert announced == [("a", "ONLINE")]
    presence.settle()
    assert announced == [("a", "ONLINE"), ("a", "OFFLINE")]


def test_without_grace_offline_is_immediate() -> None:
    announced: List[Tuple[str, str]] = []
    presence = Presence(lambda user, status: announced.append((user, status)))
    presence.connected("a")
    presence.connected("a")
    presence.disconnected("a")
    presence.disconnected("a")
    assert announced == [("a", "ONLINE"), ("a", "OFFLINE")]
