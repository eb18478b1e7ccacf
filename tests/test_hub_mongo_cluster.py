"""Presence and per-user limits over several nexus-tornado processes on one MongoDB
(nx-27017): online while any process holds a connection, ONLINE/OFFLINE once per global
transition, a killed process's users offline within cluster_ttl + cluster_interval, the
snapshot on any process lists everyone, and the SEND rate and connection cap hold over
all processes. Real command processes and sockets."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Iterator, List, Tuple

import pytest
import websocket
from support.clients import RawWsClient
from support.cluster import Cluster, cluster_mongo
from support.mongo import nx_server  # noqa: F401  (fixture)

pytestmark = pytest.mark.mongo

INTERVAL, TTL = 0.5, 3.0
#: How long an expected announcement may take on a busy machine (it stops waiting once it came).
PATIENCE = 20.0
FAST = ["--cluster-interval", str(INTERVAL), "--cluster-ttl", str(TTL)]


@pytest.fixture
def pair(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cluster]:
    extra = FAST + list(getattr(request, "param", []))
    cluster = Cluster(tmp_path, cluster_mongo(request, "nx27017"), 2, extra)
    try:
        yield cluster.start()
    finally:
        cluster.stop()


def presence_updates(client: RawWsClient, timeout: float, until: Any = None) -> List[Tuple[str, str]]:
    """STATUS_UPDATEs that arrive within ``timeout`` seconds (or until ``until`` came):
    (user, status)."""
    got: List[Tuple[str, str]] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            client.ws.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                frame = client.expect("MESSAGE", timeout=max(0.05, deadline - time.monotonic()))
            except (AssertionError, websocket.WebSocketTimeoutException):
                break
            payload = json.loads(frame.body)["payload"]
            if "status" in payload and payload["entityId"] not in ("watcher", "looker"):
                got.append((payload["entityId"], payload["status"]))
                if got[-1] == until:
                    break
    finally:
        client.ws.settimeout(10)
    return got


def snapshot(cluster: Cluster, server: Any) -> List[str]:
    client = RawWsClient(server.ws_url)
    try:
        client.connect(cluster.token("looker"))
        client.subscribe("p", "/topic/presence")
        frame = client.expect("MESSAGE", snapshot="true")
        return [u for u in json.loads(frame.body)["payload"]["online"] if u not in ("looker", "watcher")]
    finally:
        client.close()


def eventually(check: Any) -> bool:
    """Whether ``check()`` holds within PATIENCE seconds (heartbeats may run late)."""
    deadline = time.monotonic() + PATIENCE
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(INTERVAL)
    return True


def test_presence_is_global_and_a_killed_process_users_go_offline(pair: Cluster) -> None:
    a, b = pair.servers
    watcher = RawWsClient(a.ws_url)
    opened: List[RawWsClient] = []
    try:
        watcher.connect(pair.token("watcher"))
        watcher.subscribe("p", "/topic/presence")
        watcher.expect("MESSAGE", snapshot="true")
        on_b = RawWsClient(b.ws_url)
        opened.append(on_b)
        on_b.connect(pair.token("u"))
        on_a = RawWsClient(a.ws_url)
        opened.append(on_a)
        on_a.connect(pair.token("u"))
        assert presence_updates(watcher, PATIENCE, until=("u", "ONLINE")) == [("u", "ONLINE")], pair.output()
        assert presence_updates(watcher, 3 * INTERVAL + 1) == []  # once, not per process
        time.sleep(3 * INTERVAL)
        assert eventually(lambda: snapshot(pair, a) == ["u"] and snapshot(pair, b) == ["u"])
        on_b.close()  # still connected on A: nothing to announce
        assert presence_updates(watcher, 4 * INTERVAL + 1) == []
        on_a.close()
        assert presence_updates(watcher, PATIENCE, until=("u", "OFFLINE")) == [("u", "OFFLINE")], pair.output()

        victim = RawWsClient(b.ws_url)
        opened.append(victim)
        victim.connect(pair.token("v"))
        assert presence_updates(watcher, PATIENCE, until=("v", "ONLINE")) == [("v", "ONLINE")], pair.output()
        time.sleep(3 * INTERVAL)
        assert eventually(lambda: snapshot(pair, a) == ["v"])
        b.kill()  # SIGKILL: B cannot say goodbye
        started = time.monotonic()
        # Bounded: cluster_ttl + cluster_interval, plus the time the sweep and the
        # announcement take (generous here: the machine may be busy).
        updates = presence_updates(watcher, TTL + INTERVAL + PATIENCE, until=("v", "OFFLINE"))
        assert ("v", "OFFLINE") in updates, (updates, pair.output())
        assert time.monotonic() - started >= TTL - 2 * INTERVAL  # not before B's document expired
        assert eventually(lambda: snapshot(pair, a) == [])
    finally:
        watcher.close()
        for client in opened:
            client.close()


#: Heartbeats far apart: what one process knows of another comes from the shared state only.
SLOW = ["--cluster-interval", "30", "--cluster-ttl", "90"]


@pytest.mark.parametrize("pair", [SLOW], indirect=True)
def test_a_snapshot_on_any_process_holds_whom_an_announcement_already_put_online(pair: Cluster) -> None:
    """A user connects on A; a subscriber on B is told ONLINE; a second subscriber on B,
    right after, must find the user in its snapshot (one tab says online, so does the
    next), and after the OFFLINE no longer."""
    a, b = pair.servers
    watcher = RawWsClient(b.ws_url)
    opened: List[RawWsClient] = []
    try:
        watcher.connect(pair.token("watcher"))
        watcher.subscribe("p", "/topic/presence")
        watcher.expect("MESSAGE", snapshot="true")
        for round_ in range(3):
            user = "u%d" % round_
            on_a = RawWsClient(a.ws_url)
            opened.append(on_a)
            on_a.connect(pair.token(user))
            assert presence_updates(watcher, PATIENCE, until=(user, "ONLINE"))[-1:] == [(user, "ONLINE")], pair.output()
            assert user in snapshot(pair, b), pair.output()
            assert user in snapshot(pair, a)
            on_a.close()
            assert presence_updates(watcher, PATIENCE, until=(user, "OFFLINE"))[-1:] == [(user, "OFFLINE")], pair.output()
            assert user not in snapshot(pair, b) and user not in snapshot(pair, a)
    finally:
        watcher.close()
        for client in opened:
            client.close()


@pytest.mark.parametrize("pair", [["--sends-per-minute", "20", "--max-connections-per-user", "3"]], indirect=True)
def test_the_send_rate_and_the_connection_cap_hold_over_all_processes(pair: Cluster) -> None:
    a, b = pair.servers
    clients: List[RawWsClient] = []
    try:
        def sender(server: Any) -> RawWsClient:
            client = RawWsClient(server.ws_url)
            clients.append(client)
            client.connect(pair.token("s", chats=["c"]))
            client.subscribe_errors()
            return client

        def send(client: RawWsClient, count: int) -> int:
            accepted = 0
            for n in range(count):
                body = json.dumps({"type": "CHAT_MESSAGE", "timestamp": "2026-11-30T10:00:00Z", "senderId": "s",
                                   "payload": {"chatId": "c", "content": "m", "contentType": "TEXT"}}).encode()
                client.send_frame("SEND", {"destination": "/topic/chat/c", "receipt": "r%d" % n}, body)
                frame = client.expect("RECEIPT", timeout=10) if False else None
                deadline = time.monotonic() + 10
                while frame is None:
                    for i, f in enumerate(client.frames):
                        if f.headers.get("receipt-id") == "r%d" % n:
                            frame = client.frames.pop(i)
                            break
                    else:
                        assert time.monotonic() < deadline
                        text = client._receive_text()
                        if text:
                            client._feed(text)
                if frame.command == "RECEIPT":
                    accepted += 1
                else:
                    assert json.loads(frame.body)["error"] == "RATE_LIMITED"
            return accepted

        on_a, on_b = sender(a), sender(b)
        first = send(on_a, 15)
        second = send(on_b, 15)  # at once: no heartbeat needed
        assert (first, second) == (15, 5)

        # Three connections at most: two on A (one more now), then B refuses the fourth.
        extra = RawWsClient(a.ws_url)
        clients.append(extra)
        extra.connect(pair.token("s", chats=["c"]))
        refused = RawWsClient(b.ws_url)
        clients.append(refused)
        refused.send_frame("CONNECT", {"accept-version": "1.2", "host": "h", "passcode": pair.token("s")})
        error = refused.expect("ERROR")
        assert error.headers["message"] == "too many connections"
    finally:
        for client in clients:
            client.close()
