"""Offline delivery of notifications and presence, through a real server and sockets."""

from __future__ import annotations

import json
import time
from typing import Any, Dict, Mapping

import pytest
from support.clients import RawWsClient
from support.nexus import running_nexus

from nexus_tornado.errors import StoreUnavailable
from nexus_tornado.hub.memory import MemoryStore
from nexus_tornado.hub.store import StoredMessage


def notification(title: str) -> Dict[str, Any]:
    return {
        "type": "NOTIFICATION",
        "timestamp": "2026-11-25T10:00:00Z",
        "payload": {"notificationType": "TASK", "title": title, "message": "m"},
    }


@pytest.fixture
def nexus() -> Any:
    # OFFLINE at once (no grace period), so each test sees every transition.
    with running_nexus(presence_grace_seconds=0) as server:
        yield server


def wait_delivered(nexus: Any, user: str, seq: int, expected: bool) -> None:
    deadline = time.monotonic() + 10
    while nexus.run(lambda: nexus.plugin.delivery_status(user, seq)) is not expected:
        assert time.monotonic() < deadline, "delivery status of %d never became %s" % (seq, expected)
        time.sleep(0.02)


def test_unacknowledged_notifications_come_again_until_acked(nexus: Any) -> None:
    for title in ("one", "two", "three"):
        nexus.run(lambda t=title: nexus.plugin.notify("lee", notification(t)))

    first = RawWsClient(nexus.ws_url)
    try:
        first.connect(nexus.token("lee"))
        first.send_frame("SUBSCRIBE", {"id": "n", "destination": "/topic/notifications/lee",
                                       "ack": "client-individual"})
        frames = [first.expect("MESSAGE") for _ in range(3)]
        assert [json.loads(f.body)["payload"]["title"] for f in frames] == ["one", "two", "three"]
        # Acknowledge only the second one, then go away.
        first.send_frame("ACK", {"id": frames[1].headers["ack"], "receipt": "acked"})
        first.expect("RECEIPT", receipt_id="acked")
        wait_delivered(nexus, "lee", 2, True)
        assert nexus.run(lambda: nexus.plugin.delivery_status("lee", 1)) is False
    finally:
        first.close()

    again = RawWsClient(nexus.ws_url)
    try:
        again.connect(nexus.token("lee"))
        again.send_frame("SUBSCRIBE", {"id": "n", "destination": "/topic/notifications/lee"})
        frames = [again.expect("MESSAGE") for _ in range(2)]
        assert [f.headers["seq"] for f in frames] == ["1", "3"]
        # Written to a live ack:auto subscription counts as delivered.
        wait_delivered(nexus, "lee", 1, True)
        wait_delivered(nexus, "lee", 3, True)
    finally:
        again.close()


def test_notifications_of_another_user_are_refused(nexus: Any) -> None:
    client = RawWsClient(nexus.ws_url)
    try:
        client.connect(nexus.token("mia"))
        client.send_frame("SUBSCRIBE", {"id": "e", "destination": "/user/queue/errors"})
        client.send_frame("SUBSCRIBE", {"id": "n", "destination": "/topic/notifications/lee", "receipt": "r"})
        error = json.loads(client.expect("MESSAGE", subscription="e").body)
        assert error["error"] == "FORBIDDEN"
        assert error["details"]["subscription"] == "n"
    finally:
        client.close()


def presence_of(frame: Any) -> Any:
    body = json.loads(frame.body)
    if body["type"] == "PRESENCE_SNAPSHOT":
        return ("snapshot", body["payload"]["online"])
    return (body["payload"]["status"], body["payload"]["entityId"])


def test_presence_snapshot_then_online_and_offline_at_first_and_last_connection(nexus: Any) -> None:
    watcher = RawWsClient(nexus.ws_url)
    tabs = []
    try:
        watcher.connect(nexus.token("nia"))
        watcher.send_frame("SUBSCRIBE", {"id": "p", "destination": "/topic/presence"})
        snapshot = watcher.expect("MESSAGE")
        assert snapshot.headers["snapshot"] == "true"
        assert presence_of(snapshot) == ("snapshot", ["nia"])

        for _ in range(2):  # two tabs of one user: online once
            tab = RawWsClient(nexus.ws_url)
            tab.connect(nexus.token("oto"))
            tabs.append(tab)
        assert presence_of(watcher.expect("MESSAGE")) == ("ONLINE", "oto")
        tabs[0].close()
        tabs[1].send_frame("SUBSCRIBE", {"id": "x", "destination": "/topic/presence", "receipt": "still"})
        tabs[1].expect("RECEIPT")
        assert presence_of(tabs[1].expect("MESSAGE")) == ("snapshot", ["nia", "oto"])
        tabs[1].close()
        offline = watcher.expect("MESSAGE")
        assert presence_of(offline) == ("OFFLINE", "oto")
        assert int(offline.headers["seq"]) == 3  # nia online, oto online, oto offline
        assert not [f for f in watcher.frames if f.command == "MESSAGE"]
    finally:
        watcher.close()
        for tab in tabs:
            tab.close()


class _RefusesFirstPresenceOf(MemoryStore):
    """A store that is 'down' for the first ``times`` presence changes of ``user``."""

    def __init__(self, user: str, times: int) -> None:
        super().__init__()
        self.marker = ('"entityId":"%s"' % user).encode()
        self.times = times

    async def append(self, destination: str, body: bytes, headers: Mapping[str, str]) -> StoredMessage:
        if self.marker in body and self.times > 0:
            self.times -= 1
            raise StoreUnavailable("store down")
        return await super().append(destination, body, headers)


def test_a_presence_change_the_store_refused_at_first_is_still_announced_in_order() -> None:
    with running_nexus(store_factory=lambda: _RefusesFirstPresenceOf("oto", 2), presence_grace_seconds=0) as nexus:
        watcher, tab = RawWsClient(nexus.ws_url), RawWsClient(nexus.ws_url)
        try:
            watcher.connect(nexus.token("nia"))
            watcher.send_frame("SUBSCRIBE", {"id": "p", "destination": "/topic/presence"})
            assert presence_of(watcher.expect("MESSAGE")) == ("snapshot", ["nia"])
            tab.connect(nexus.token("oto"))
            tab.close()  # its OFFLINE waits for the ONLINE the store refused twice
            assert presence_of(watcher.expect("MESSAGE")) == ("ONLINE", "oto")
            assert presence_of(watcher.expect("MESSAGE")) == ("OFFLINE", "oto")
            assert nexus.plugin.announcements.retries == 2
        finally:
            watcher.close()
            tab.close()
