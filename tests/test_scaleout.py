"""Several nexus-tornado processes on one MongoDB behave as one server: every
subscriber on every process gets every message once, in seq order, with no false gap;
a killed process's clients reconnect (through nginx, from the repository's own
config/nginx.conf) and end complete. Real processes (the command), real sockets, one
nx-27017 (and the real MongoDB of NEXUS_TEST_MONGO_URI when set)."""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pytest
import websocket
from support.clients import RawWsClient, XhrPollingClient, XhrStreamingClient
from support.cluster import Cluster, cluster_mongo
from support.mongo import nx_server  # noqa: F401  (fixture)
from support.nginx import Nginx

CHAT = "/topic/chat/x"

pytestmark = pytest.mark.mongo


def body(user: str, n: int, chat: str = "x") -> bytes:
    return json.dumps(
        {"type": "CHAT_MESSAGE", "timestamp": "2026-11-30T10:00:00Z", "senderId": user,
         "payload": {"chatId": chat, "content": "m%d" % n, "contentType": "TEXT"}}
    ).encode()


@pytest.fixture(params=["nx27017", pytest.param("mongodb", id="mongodb")])
def cluster3(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cluster]:
    cluster = Cluster(tmp_path, cluster_mongo(request, request.param), 3)
    try:
        yield cluster.start()
    finally:
        cluster.stop()


def read_until(client: Any, total: int, timeout: float = 30.0) -> List[Dict[str, Optional[str]]]:
    """MESSAGE frames until the one with seq ``total``: seq and the marks it carries."""
    got: List[Dict[str, Optional[str]]] = []
    deadline = time.monotonic() + timeout
    while not got or int(got[-1]["seq"] or 0) < total:
        assert time.monotonic() < deadline, "only got %r" % [g["seq"] for g in got]
        frame = client.expect("MESSAGE", timeout=max(0.1, deadline - time.monotonic()))
        got.append({k: frame.headers.get(k) for k in ("seq", "epoch", "gap-from", "seq-reset")})
    return got


def test_publishers_and_subscribers_on_every_process_see_one_ordered_stream(cluster3: Cluster) -> None:
    per_process = 40
    total = per_process * len(cluster3.servers)
    subscribers: List[RawWsClient] = []
    publishers: List[RawWsClient] = []
    try:
        for index, server in enumerate(cluster3.servers):
            for n in range(2):
                client = RawWsClient(server.ws_url)
                client.connect(cluster3.token("s%d%d" % (index, n), chats=["x"]))
                client.subscribe("s", CHAT, **({"last-seq": "0"} if n else {}))
                subscribers.append(client)
        for index, server in enumerate(cluster3.servers):
            publisher = RawWsClient(server.ws_url)
            publisher.connect(cluster3.token("p%d" % index, chats=["x"]))
            publishers.append(publisher)
        for n in range(per_process):  # all processes append to one destination at once
            for index, publisher in enumerate(publishers):
                publisher.send_frame("SEND", {"destination": CHAT, "receipt": str(n)}, body("p%d" % index, n))
        for publisher in publishers:
            for n in range(per_process):
                publisher.expect("RECEIPT", receipt_id=str(n))
        epochs = set()
        for client in subscribers:
            got = read_until(client, total)
            assert [int(g["seq"] or 0) for g in got] == list(range(1, total + 1)), cluster3.output()
            assert not any(g["gap-from"] or g["seq-reset"] for g in got)
            epochs.update(g["epoch"] for g in got)
        assert len(epochs) == 1 and None not in epochs  # one numbering, named on every MESSAGE
        # Each process saw the others' messages through its change stream, and says how
        # far behind that stream it is.
        for server in cluster3.servers:
            with urllib.request.urlopen(server.admin_url + "/metrics", timeout=10) as response:
                metrics = response.read().decode()
            lag = re.search(r'^nexus_stream_lag_seconds\{stream="messages"\} (\S+)$', metrics, re.M)
            assert lag is not None and 0.0 <= float(lag.group(1)) < 60.0, metrics[-2000:]
    finally:
        for client in subscribers + publishers:
            client.close()


def test_a_resume_on_one_process_waits_for_a_number_another_is_writing(cluster3: Cluster) -> None:
    """The issue's false gap: resumed on B at last-seq 40, A then publishes 41 and B 42.
    Whatever order they land in, the subscriber gets 41 then 42 and no gap mark."""
    a, b = cluster3.servers[0], cluster3.servers[1]
    pa, pb = RawWsClient(a.ws_url), RawWsClient(b.ws_url)
    readers: List[RawWsClient] = []
    try:
        pa.connect(cluster3.token("pa", chats=["x"]))
        pb.connect(cluster3.token("pb", chats=["x"]))
        for n in range(40):
            pa.send_frame("SEND", {"destination": CHAT, "receipt": "w%d" % n}, body("pa", n))
        for n in range(40):
            pa.expect("RECEIPT", receipt_id="w%d" % n)
        for round_ in range(5):
            reader = RawWsClient(b.ws_url)
            readers.append(reader)
            reader.connect(cluster3.token("r%d" % round_, chats=["x"]))
            last = 40 + 2 * round_
            reader.subscribe("s", CHAT, **{"last-seq": str(last)})
            pa.send_frame("SEND", {"destination": CHAT, "receipt": "a%d" % round_}, body("pa", round_))
            pb.send_frame("SEND", {"destination": CHAT, "receipt": "b%d" % round_}, body("pb", round_))
            pa.expect("RECEIPT", receipt_id="a%d" % round_)
            pb.expect("RECEIPT", receipt_id="b%d" % round_)
            got = read_until(reader, last + 2)
            assert [int(g["seq"] or 0) for g in got] == [last + 1, last + 2]
            assert not any(g["gap-from"] for g in got)
    finally:
        for client in [pa, pb] + readers:
            client.close()


@pytest.fixture(params=["nx27017", pytest.param("mongodb", id="mongodb")])
def cluster2(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cluster]:
    cluster = Cluster(tmp_path, cluster_mongo(request, request.param), 2)
    try:
        yield cluster.start()
    finally:
        cluster.stop()


def test_a_live_subscription_gets_both_of_two_appends_racing_right_after_its_receipt(cluster2: Cluster) -> None:
    """The first live subscription on B for a destination, receipted; then one SEND
    through A and one through B at the same moment. B's own message reaches B at once,
    A's later through the change stream: both are delivered, in order, unmarked, and
    nothing from before the subscription is. A new destination every round."""
    a, b = cluster2.servers
    rounds = 20
    chats = ["race%d" % n for n in range(rounds)]
    pa, pb, reader = RawWsClient(a.ws_url), RawWsClient(b.ws_url), RawWsClient(b.ws_url)
    try:
        for client, user in ((pa, "pa"), (pb, "pb"), (reader, "reader")):
            client.connect(cluster2.token(user, chats=chats))
        for n, chat in enumerate(chats):
            destination = "/topic/chat/" + chat
            pa.send_frame("SEND", {"destination": destination, "receipt": "old%d" % n}, body("pa", 0, chat))
            pa.expect("RECEIPT", receipt_id="old%d" % n)
            reader.subscribe("s%d" % n, destination)
            pa.send_frame("SEND", {"destination": destination, "receipt": "a%d" % n}, body("pa", n, chat))
            pb.send_frame("SEND", {"destination": destination, "receipt": "b%d" % n}, body("pb", n, chat))
            pa.expect("RECEIPT", receipt_id="a%d" % n)
            pb.expect("RECEIPT", receipt_id="b%d" % n)
        got: Dict[str, List[Tuple[int, Optional[str]]]] = {"s%d" % n: [] for n in range(rounds)}
        deadline = time.monotonic() + 30
        while any(len(seqs) < 2 for seqs in got.values()) and time.monotonic() < deadline:
            try:
                frame = reader.expect("MESSAGE", timeout=max(0.1, deadline - time.monotonic()))
            except (AssertionError, websocket.WebSocketTimeoutException):
                break
            got[frame.headers["subscription"]].append((int(frame.headers["seq"]), frame.headers.get("gap-from")))
        time.sleep(0.5)  # nothing more (an old message, a duplicate) comes after
        for frame in [f for f in reader.frames if f.command == "MESSAGE"]:
            got[frame.headers["subscription"]].append((int(frame.headers["seq"]), frame.headers.get("gap-from")))
        wrong = {sub: seqs for sub, seqs in got.items() if seqs != [(2, None), (3, None)]}
        assert not wrong, (wrong, cluster2.output())
    finally:
        for client in (pa, pb, reader):
            client.close()


class Resumer:
    """A subscriber that reconnects (to ``urls``, in turn) whenever its connection
    drops, resuming with last-seq and epoch, until it has seen ``total``."""

    def __init__(self, cluster: Cluster, first_url: str, urls: List[str], name: str, total: int) -> None:
        self.cluster, self.first_url, self.urls = cluster, first_url, urls
        self.name, self.total = name, total
        self.seen: List[int] = []
        self.marks: List[Tuple[str, str]] = []
        self.epoch: Optional[str] = None
        self.connections = 0
        self.error: Optional[BaseException] = None
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.connected = threading.Event()

    def run(self) -> None:
        deadline = time.monotonic() + 60
        try:
            while (not self.seen or self.seen[-1] < self.total) and time.monotonic() < deadline:
                url = self.first_url if not self.connections else self.urls[self.connections % len(self.urls)]
                self.connections += 1
                try:
                    client = RawWsClient(url)
                except (OSError, websocket.WebSocketException):
                    time.sleep(0.2)
                    continue
                try:
                    client.connect(self.cluster.token(self.name, chats=["x"]))
                    headers = {"last-seq": str(self.seen[-1] if self.seen else 0)}
                    if self.epoch:
                        headers["epoch"] = self.epoch
                    client.subscribe("s", CHAT, **headers)
                    self.connected.set()
                    while not self.seen or self.seen[-1] < self.total:
                        frame = client.expect("MESSAGE", timeout=20)
                        self.epoch = frame.headers.get("epoch", self.epoch)
                        for mark in ("gap-from", "seq-reset"):
                            if mark in frame.headers:
                                self.marks.append((mark, frame.headers[mark]))
                        self.seen.append(int(frame.headers["seq"]))
                except (AssertionError, OSError, websocket.WebSocketException):
                    pass  # the process went away: reconnect
                finally:
                    client.close()
        except BaseException as exc:
            self.error = exc


def test_a_killed_process_clients_reconnect_through_nginx_and_end_complete(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    cluster = Cluster(tmp_path, cluster_mongo(request, "nx27017"), 2)
    cluster.start()
    survivor, victim = cluster.servers
    proxy = Nginx(tmp_path / "nginx", [s.port or 0 for s in cluster.servers])
    total = 120
    try:
        proxy.start()
        readers = [
            Resumer(cluster, victim.ws_url if i % 2 else proxy.ws_url, [proxy.ws_url], "r%d" % i, total)
            for i in range(4)
        ]
        for reader in readers:
            reader.thread.start()
            assert reader.connected.wait(20)
        publisher = RawWsClient(survivor.ws_url)
        try:
            publisher.connect(cluster.token("p", chats=["x"]))
            for n in range(1, total + 1):
                publisher.send_frame("SEND", {"destination": CHAT, "receipt": str(n)}, body("p", n))
                if n == total // 3:
                    publisher.expect("RECEIPT", receipt_id=str(n))
                    victim.kill()  # SIGKILL mid-stream
                time.sleep(0.005)
            for n in range(1, total + 1):
                if n != total // 3:
                    publisher.expect("RECEIPT", receipt_id=str(n))
        finally:
            publisher.close()
        for reader in readers:
            reader.thread.join(60)
            assert reader.error is None, reader.error
            assert reader.seen == list(range(1, total + 1)), (reader.name, reader.seen, cluster.output())
            assert reader.marks == []
        assert any(r.connections > 1 for r in readers)  # the victim's clients did reconnect
    finally:
        proxy.stop()
        cluster.stop()


@pytest.mark.parametrize("transport", [XhrPollingClient, XhrStreamingClient])
def test_sockjs_http_transports_through_nginx_reach_one_process_per_session(
    request: pytest.FixtureRequest, tmp_path: Path, transport: Any
) -> None:
    """xhr-polling and xhr-streaming: every request of a session must reach the process
    that holds it (nginx hashes on the session id), the stream must not be buffered, and
    messages published on either process arrive."""
    cluster = Cluster(tmp_path, cluster_mongo(request, "nx27017"), 2).start()
    proxy = Nginx(tmp_path / "nginx", [s.port or 0 for s in cluster.servers])
    pollers: List[Any] = []
    try:
        proxy.start()
        pollers = [transport(proxy.url) for _ in range(4)]
        for index, poller in enumerate(pollers):
            poller.connect(cluster.token("poll%d" % index, chats=["x"]))
            poller.subscribe("s", CHAT)
        for index, server in enumerate(cluster.servers):
            publisher = RawWsClient(server.ws_url)
            try:
                publisher.connect(cluster.token("p%d" % index, chats=["x"]))
                publisher.send_frame("SEND", {"destination": CHAT, "receipt": "r"}, body("p%d" % index, index))
                publisher.expect("RECEIPT", receipt_id="r")
            finally:
                publisher.close()
        for poller in pollers:
            assert [int(g["seq"] or 0) for g in read_until(poller, 2)] == [1, 2]
    finally:
        for poller in pollers:
            poller.close()
        proxy.stop()
        cluster.stop()


def fetch(url: str) -> Tuple[int, bytes]:
    """``(status, body)`` of a GET, error statuses included."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


OPERATOR_PATHS = ["/metrics", "/status", "/status/data.json"]


def test_operator_endpoints_answer_on_the_admin_address_only_and_nginx_refuses_them(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Deployed as docs/deploy.md says (the command behind config/nginx.conf as shipped),
    the public reaches neither metrics nor the operator's page; monitoring does, on each
    process's admin address; liveness and readiness answer everywhere."""
    cluster = Cluster(tmp_path, cluster_mongo(request, "nx27017"), 1).start()
    server = cluster.servers[0]
    proxy = Nginx(tmp_path / "nginx", [server.port or 0])
    # An upstream that does serve them on the port nginx proxies to (a host app that
    # mounted them there): nginx must refuse them by itself.
    careless = Nginx(tmp_path / "nginx-careless", [int(server.admin_url.rsplit(":", 1)[1])])
    try:
        proxy.start()
        careless.start()
        for path in OPERATOR_PATHS:
            assert fetch(server.admin_url + path)[0] == 200, path
            assert fetch(server.url + path)[0] == 404, path
            assert fetch(proxy.url + path)[0] == 404, path
            assert fetch(careless.url + path)[0] == 404, path
        assert b"nexus_connections" in fetch(server.admin_url + "/metrics")[1]
        for base in (proxy.url, careless.url, server.url, server.admin_url):
            assert fetch(base + "/healthz") == (200, b'{"status": "ok"}'), base
            status, body = fetch(base + "/readyz")
            assert status == 200 and json.loads(body)["ready"] is True, base
        status, body = fetch(proxy.url + "/stomp/info")
        assert status == 200 and json.loads(body)["websocket"] is True
    finally:
        careless.stop()
        proxy.stop()
        cluster.stop()
