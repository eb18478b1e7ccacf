"""Delivery that other clients cannot spoil: notifications watched by an admin, replay
to a fast reader. Real server on loopback, a bystander throughout."""

from __future__ import annotations

import json
from typing import Any, Dict, Iterator, List

import pytest

from support.clients import RawWsClient, SockJsWsClient, XhrPollingClient
from support.nexus import NexusServer, running_nexus


@pytest.fixture
def nexus() -> Iterator[NexusServer]:
    with running_nexus(presence_grace_seconds=1.0) as server:
        yield server


def notification(title: str) -> Dict[str, Any]:
    return {
        "type": "NOTIFICATION",
        "timestamp": "2026-11-25T10:00:00Z",
        "payload": {"notificationType": "TASK", "title": title, "message": "m"},
    }


@pytest.mark.parametrize("ack", ["auto", "client-individual"])
def test_an_admin_watching_a_users_notifications_does_not_take_them(nexus: NexusServer, ack: str) -> None:
    calm = nexus.bystander()
    admin = RawWsClient(nexus.ws_url)
    try:
        admin.connect(nexus.token("root", roles=["admin"]))
        admin.subscribe("watch", "/topic/notifications/bob", ack=ack)
        nexus.run(lambda: nexus.plugin.notify("bob", notification("for bob")))
        seen = admin.expect("MESSAGE", subscription="watch")
        assert json.loads(seen.body)["payload"]["title"] == "for bob"
        if ack != "auto":
            admin.send_frame("ACK", {"id": seen.headers["ack"], "receipt": "acked"})
            admin.expect("RECEIPT", receipt_id="acked")
        nexus.run(nexus.plugin.hub.flush)  # whatever was recorded reached the store
        assert nexus.run(lambda: nexus.plugin.delivery_status("bob", 1)) is False
        # bob comes online: the notification waits for him.
        bob = RawWsClient(nexus.ws_url)
        try:
            bob.connect(nexus.token("bob"))
            bob.subscribe("n", "/topic/notifications/bob")
            nexus.run(lambda: nexus.plugin.notify("bob", notification("second")))
            titles = [json.loads(bob.expect("MESSAGE").body)["payload"]["title"] for _ in range(2)]
            assert titles == ["for bob", "second"]
        finally:
            bob.close()
        calm.check()
    finally:
        admin.close()
        calm.close()


# -- replay to a fast reader ---------------------------------------------------------------


def board_update(size: int, n: int) -> bytes:
    return json.dumps(
        {
            "type": "BOARD_UPDATE",
            "timestamp": "2026-11-25T10:00:00Z",
            "senderId": "srv",
            "payload": {"boardId": "big", "action": "add", "data": {"n": n, "text": "x" * size}},
        }
    ).encode()


@pytest.mark.parametrize("client_class", [RawWsClient, SockJsWsClient, XhrPollingClient])
def test_a_fast_reader_replaying_a_large_history_is_not_cut_off(nexus: NexusServer, client_class: Any) -> None:
    """40 x 60 KB is 2.4 MB of replay against a 1 MiB output bound: the replay goes at
    the pace the client reads, and live messages follow without gap or duplicate."""

    async def fill() -> None:
        for n in range(40):
            await nexus.plugin.publish("/topic/board/big", board_update(60 * 1024, n))

    nexus.run(fill)
    calm = nexus.bystander()
    url = nexus.ws_url if client_class is RawWsClient else nexus.base_url
    client = client_class(url)
    try:
        client.connect(nexus.token("catcher", boards=["big"]))
        client.send_frame(
            "SUBSCRIBE", {"id": "b", "destination": "/topic/board/big", "last-seq": "0", "receipt": "sub"}
        )
        seqs = [int(client.expect("MESSAGE", timeout=30).headers["seq"]) for _ in range(40)]
        assert seqs == list(range(1, 41))
        client.expect("RECEIPT", receipt_id="sub")
        nexus.run(lambda: nexus.plugin.publish("/topic/board/big", board_update(10, 40)))
        assert client.expect("MESSAGE").headers["seq"] == "41"
        assert not any(f.command == "ERROR" for f in client.frames)
        calm.check()
    finally:
        client.close()
        calm.close()


# -- presence churn ----------------------------------------------------------------------


def test_a_connect_disconnect_loop_publishes_one_online_and_one_offline(nexus: NexusServer) -> None:
    watcher = RawWsClient(nexus.ws_url)
    calm = nexus.bystander()
    try:
        watcher.connect(nexus.token("watcher"))
        watcher.subscribe("p", "/topic/presence")
        for _ in range(20):
            churner = RawWsClient(nexus.ws_url)
            churner.connect(nexus.token("churner"))
            churner.send_frame("DISCONNECT", {"receipt": "bye"})
            churner.expect("RECEIPT", receipt_id="bye")
            churner.close()
        statuses: List[str] = []
        while "OFFLINE" not in statuses:  # the OFFLINE comes once the grace period ends
            body = json.loads(watcher.expect("MESSAGE", subscription="p").body)
            if body["payload"].get("entityId") == "churner":
                statuses.append(body["payload"]["status"])
        nexus.run(lambda: nexus.plugin.publish("/topic/presence", b'{"marker": true}'))
        while True:
            body = json.loads(watcher.expect("MESSAGE", subscription="p").body)
            if body.get("marker"):
                break
            if body["payload"].get("entityId") == "churner":
                statuses.append(body["payload"]["status"])
        assert statuses == ["ONLINE", "OFFLINE"]
        calm.check()
    finally:
        watcher.close()
        calm.close()
