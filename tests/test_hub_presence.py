"""nexus_tornado.hub.presence: who is online, counted over each user's connections."""

from __future__ import annotations

import asyncio
import datetime
import json
from typing import Dict, List, Set, Tuple

import pytest

from nexus_tornado.errors import StoreUnavailable
from nexus_tornado.hub.presence import Announcements, Cluster, Presence, presence_envelope

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


class _Shared(Cluster):
    """A cluster whose shared state says ``online``, or cannot be read."""

    def __init__(self, online: Set[str], elsewhere: Set[str]) -> None:
        self.online, self.elsewhere = online, elsewhere
        self.down = False

    def changed(self, user_id: str) -> None:
        pass

    def connections_elsewhere(self, user_id: str) -> int:
        return 0

    def online_elsewhere(self) -> Set[str]:
        return set(self.elsewhere)

    async def announced_online(self) -> Set[str]:
        if self.down:
            raise StoreUnavailable("read presence: down")
        return set(self.online)


@pytest.mark.gen_test
async def test_the_snapshot_with_a_cluster_is_the_shared_state_plus_the_local_users() -> None:
    presence, _ = recorder()
    shared = _Shared({"far"}, {"stale"})
    presence.cluster = shared
    presence.connected("near")
    body = json.loads(await presence.current_snapshot())
    assert body["type"] == "PRESENCE_SNAPSHOT" and body["payload"] == {"online": ["far", "near"]}
    shared.down = True  # the store cannot answer: what this process knows, heartbeats included
    assert json.loads(await presence.current_snapshot())["payload"] == {"online": ["near", "stale"]}


@pytest.mark.gen_test
async def test_without_a_cluster_the_current_snapshot_is_the_local_one() -> None:
    presence, _ = recorder()
    presence.connected("bob")
    assert json.loads(await presence.current_snapshot())["payload"] == {"online": ["bob"]}


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


# -- Announcements: publishing the changes ----------------------------------------------


class FlakyPublish:
    """Records what was published; ``failures[user]`` publishes of that user fail first
    (StoreUnavailable), ``broken`` users fail with another error every time."""

    def __init__(self, failures: Dict[str, int], broken: Tuple[str, ...] = ()) -> None:
        self.failures = dict(failures)
        self.broken = broken
        self.published: List[Tuple[str, str]] = []
        self.attempts = 0

    async def __call__(self, user: str, status: str) -> None:
        self.attempts += 1
        await asyncio.sleep(0)
        if user in self.broken:
            raise ValueError("not JSON")
        if self.failures.get(user, 0) > 0:
            self.failures[user] -= 1
            raise StoreUnavailable("store down")
        self.published.append((user, status))


@pytest.mark.gen_test
async def test_a_change_the_store_refused_is_published_again_in_order() -> None:
    publish = FlakyPublish({"ann": 2})
    announcements = Announcements(publish, retry_first=0.001, retry_max=0.004)
    announcements("ann", "ONLINE")
    announcements("bob", "ONLINE")
    announcements("ann", "OFFLINE")  # waits for ann's ONLINE, however long that takes
    assert announcements.pending == 2
    await asyncio.wait_for(announcements.flush(), 5)
    assert publish.published == [("bob", "ONLINE"), ("ann", "ONLINE"), ("ann", "OFFLINE")]
    assert announcements.retries == 2 and publish.attempts == 5
    assert announcements.pending == 0


@pytest.mark.gen_test
async def test_the_pause_between_attempts_doubles_up_to_its_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    pauses: List[float] = []
    real_sleep = asyncio.sleep

    async def sleep(seconds: float) -> None:
        pauses.append(seconds)
        await real_sleep(0)

    monkeypatch.setattr("nexus_tornado.hub.presence.asyncio.sleep", sleep)
    announcements = Announcements(FlakyPublish({"ann": 5}), retry_first=0.5, retry_max=2.0)
    announcements("ann", "ONLINE")
    await asyncio.wait_for(announcements.flush(), 5)
    assert [p for p in pauses if p] == [0.5, 1.0, 2.0, 2.0, 2.0]


@pytest.mark.gen_test
async def test_a_change_that_cannot_be_published_is_logged_and_does_not_hold_the_next(
    caplog: pytest.LogCaptureFixture,
) -> None:
    publish = FlakyPublish({}, broken=("ann",))
    announcements = Announcements(publish, retry_first=0.001)
    announcements("ann", "ONLINE")
    announcements("ann", "OFFLINE")
    await asyncio.wait_for(announcements.flush(), 5)
    assert publish.attempts == 2 and publish.published == []
    assert caplog.text.count("presence change of ann not published: not JSON") == 2


@pytest.mark.gen_test
async def test_cancel_gives_up_on_what_the_store_never_took() -> None:
    announcements = Announcements(FlakyPublish({"ann": 10**6}), retry_first=0.001, retry_max=0.001)
    announcements("ann", "ONLINE")
    announcements("bob", "ONLINE")
    await asyncio.sleep(0.05)
    assert announcements.pending == 1  # bob's is out; ann's is still being tried
    assert announcements.cancel() == 1
    await asyncio.wait_for(announcements.flush(), 5)
    assert announcements.pending == 0


@pytest.mark.gen_test
async def test_changes_behind_one_the_store_refuses_are_coalesced_not_queued() -> None:
    publish = FlakyPublish({"ann": 3})
    announcements = Announcements(publish, retry_first=0.001, retry_max=0.002)
    announcements("ann", "ONLINE")  # refused three times
    # A user flapping all the while: what waits behind the ONLINE stays one change.
    for _ in range(1000):
        announcements("ann", "OFFLINE")
        announcements("ann", "ONLINE")
    assert announcements.pending == 1 and len(asyncio.all_tasks()) < 10
    announcements("ann", "OFFLINE")
    announcements("ann", "OFFLINE")  # the same change twice is one
    await asyncio.wait_for(announcements.flush(), 5)
    assert publish.published == [("ann", "ONLINE"), ("ann", "OFFLINE")]
