"""Presence counting and its grace period, on a real asyncio loop (no sockets)."""

from __future__ import annotations

import asyncio
from typing import List, Tuple

import pytest

from nexus_tornado.hub.presence import Presence


def recorder() -> Tuple[Presence, List[Tuple[str, str]]]:
    announced: List[Tuple[str, str]] = []
    return Presence(lambda user, status: announced.append((user, status)), grace=0.05), announced


@pytest.mark.gen_test
async def test_back_within_the_grace_period_publishes_nothing() -> None:
    presence, announced = recorder()
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
    presence, announced = recorder()
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
