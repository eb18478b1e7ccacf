"""Fan-out over 2 processes next to 1, on one nx-27017: server CPU per 1,000 deliveries
and the delivery latency the cross-process path adds.

    python bench/scaleout.py [--messages 400] [--subscribers 20] [--rate 200]
    python bench/scaleout.py --cost [--cost-messages 1000] [--cost-rate 100] [--receivers 1]
    python bench/scaleout.py --calls [--cost-messages 1000] [--cost-rate 100] [--receivers 1]
    python bench/scaleout.py --idle 20

Three layouts, measured in one run (figures are only compared within a run):

* ``1 process``: the publisher and every subscriber on one process;
* ``2 processes, split``: subscribers spread over both, the publisher on the first
  (half the deliveries cross processes);
* ``2 processes, remote``: every subscriber on the second, the publisher on the first
  (every delivery crosses: the change stream, the body taken from the event or read);
* ``4 processes, split``: subscribers spread over four.

Beside every layout a process of its own (not counted) publishes ``--foreign-rate``
messages a second to destinations nobody subscribes to: traffic of the cluster that the
measured processes must not pay for.

A second table (``--cost``) gives what one process, B, spends per message beside
another, A, with ``--receivers`` subscribers on B (on destination ``d``): B's CPU over
the run minus what B spends idle in as long (measured just before, for as long as the
run), per message:

* ``local, no subscriber``: published through B to a destination nobody subscribes
  to (taking and storing a message);
* ``local``: published through B to ``d``; minus the row above, what delivering a
  locally published message costs;
* ``remote``: published through A to ``d`` (change stream, the body from the event or
  a batched read, sequencing, delivery); compared with the local delivery;
* ``foreign``: published through A to a destination nobody on B subscribes to.

``--calls`` gives the same rows counted in function calls instead of CPU time: B runs
in this process (the tests' ``running_nexus``) with ``cProfile`` in its thread while the
messages of a row are handled (calls per message, everything B does included; B's idle
work, nearly all its change stream's getMores, is subtracted per getMore; ``--profiles
DIR`` keeps each row's profile for ``pstats``). Unlike
CPU time on a shared machine it does not move with the load, so the ratio of ``remote``
to the local delivery (``local`` minus ``local, no subscriber``) is stable.

``--idle SECONDS`` measures instead what a process with 0, 1 and 20 subscribers and
nothing published costs, on nx-27017 (which answers an empty getMore at once, so the
change feed paces itself: a getMore every 40 ms) and behind a proxy that holds an empty
getMore for its ``maxTimeMS``, as MongoDB does (``tests/support/holding.py``).

CPU is the servers' user+system time (``/proc/<pid>/stat``) over the run, nx-27017
excluded. Latency: ``send->recv`` is receive time minus the publisher's send time (it
includes the append to MongoDB and any queueing behind earlier appends); ``added`` is
receive time minus the receive time of the same message at a reference subscriber on
the publisher's own process (so the local path is 0 and the rest is what the
cross-process path adds: change stream, sequencing). Prints a Markdown
table for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import jwt
import websocket

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from support.holding import HoldingProxy  # noqa: E402
from support.mongo import NxServer  # noqa: E402

CHAT = "/topic/chat/bench"
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path("/proc/%d/stat" % pid).read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def frame(command: str, headers: Dict[str, str], body: str = "") -> str:
    return command + "\n" + "".join("%s:%s\n" % kv for kv in headers.items()) + "\n" + body + "\x00"


class Server:
    def __init__(self, uri: str, database: str, secret: str, directory: Path) -> None:
        self.port = free_port()
        self.log = open(directory / ("server-%d.log" % self.port), "wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "nexus_tornado", "--port", str(self.port), "--admin-port", "0", "--no-demo",
             "--jwt-secret", secret, "--mongo-uri", uri, "--mongo-database", database,
             "--sends-per-minute", "1000000", "--log-level", "WARNING"],
            stdout=self.log, stderr=subprocess.STDOUT, cwd=str(directory),
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("server did not start")

    @property
    def url(self) -> str:
        return "ws://127.0.0.1:%d/stomp/websocket" % self.port

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(15)
        self.log.close()


def connect(url: str, token: str) -> Any:
    ws = websocket.create_connection(url, timeout=30)
    ws.send(frame("CONNECT", {"accept-version": "1.2", "host": "h", "passcode": token, "heart-beat": "0,0"}))
    assert ws.recv().startswith("CONNECTED")
    return ws


class Subscriber(threading.Thread):
    def __init__(self, url: str, token: str, total: int) -> None:
        super().__init__(daemon=True)
        self.ws = connect(url, token)
        self.ws.send(frame("SUBSCRIBE", {"id": "s", "destination": CHAT, "receipt": "r"}))
        assert "RECEIPT" in self.ws.recv()
        self.total = total
        self.latencies: List[float] = []
        self.received: Dict[int, float] = {}

    def run(self) -> None:
        buffer = ""
        while len(self.latencies) < self.total:
            buffer += self.ws.recv()
            while "\x00" in buffer:
                text, buffer = buffer.split("\x00", 1)
                if text.lstrip("\n").startswith("MESSAGE"):
                    now = time.monotonic()
                    head, body = text.split("\n\n", 1)
                    sent = json.loads(body)["payload"]["content"]
                    self.latencies.append(now - float(sent))
                    seq = [line for line in head.split("\n") if line.startswith("seq:")][0]
                    self.received[int(seq[4:])] = now
        self.ws.close()


def run_layout(name: str, servers: List[Server], placement: List[int], publisher_on: int,
               secret: str, messages: int, rate: float,
               foreign: Optional[Server] = None, foreign_rate: float = 0.0) -> Dict[str, Any]:
    def token(user: str) -> str:
        return jwt.encode({"sub": user, "exp": int(time.time()) + 3600, "chats": ["bench"]}, secret)

    stop_foreign = threading.Event()

    def publish_foreign() -> None:  # to destinations nobody subscribes to, until stopped
        assert foreign is not None
        ws = connect(foreign.url, jwt.encode(
            {"sub": "foreign", "exp": int(time.time()) + 3600, "chats": ["f%d" % n for n in range(10)]}, secret))
        n = 0
        while not stop_foreign.is_set():
            chat = "f%d" % (n % 10)
            body = json.dumps({"type": "CHAT_MESSAGE", "timestamp": "2026-11-30T10:00:00Z", "senderId": "foreign",
                               "payload": {"chatId": chat, "content": "elsewhere", "contentType": "TEXT"}})
            ws.send(frame("SEND", {"destination": "/topic/chat/" + chat}, body))
            n += 1
            time.sleep(1.0 / foreign_rate)
        ws.close()

    foreigner = threading.Thread(target=publish_foreign, daemon=True) if foreign is not None and foreign_rate else None
    if foreigner is not None:
        foreigner.start()

    reference = Subscriber(servers[publisher_on].url, token("ref"), messages)
    subscribers = [Subscriber(servers[i].url, token("s%d" % n), messages) for n, i in enumerate(placement)]
    publisher = connect(servers[publisher_on].url, token("pub"))
    time.sleep(1.0)  # change streams open, presence settles
    before = sum(cpu_seconds(s.process.pid) for s in servers)
    reference.start()
    for sub in subscribers:
        sub.start()
    for n in range(messages):
        body = json.dumps({"type": "CHAT_MESSAGE", "timestamp": "2026-11-30T10:00:00Z", "senderId": "pub",
                           "payload": {"chatId": "bench", "content": repr(time.monotonic()), "contentType": "TEXT"}})
        publisher.send(frame("SEND", {"destination": CHAT}, body))
        time.sleep(1.0 / rate)
    for sub in subscribers + [reference]:
        sub.join(120)
    cpu = sum(cpu_seconds(s.process.pid) for s in servers) - before
    publisher.close()
    stop_foreign.set()
    if foreigner is not None:
        foreigner.join(10)
    latencies = sorted(x for sub in subscribers for x in sub.latencies)
    added = sorted(
        t - reference.received[seq] for sub in subscribers for seq, t in sub.received.items()
        if seq in reference.received
    )
    deliveries = len(latencies) + len(reference.latencies)
    return {
        "added_p50_ms": statistics.median(added) * 1000,
        "added_p99_ms": added[int(len(added) * 0.99) - 1] * 1000,
        "layout": name,
        "deliveries": deliveries,
        "cpu_per_1000": cpu / deliveries * 1000,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
    }


def publish(ws: Any, destination: str, chat: str, messages: int, rate: float, user: str = "pub") -> None:
    start = time.monotonic()
    for n in range(messages):
        body = json.dumps({"type": "CHAT_MESSAGE", "timestamp": "2026-11-30T10:00:00Z", "senderId": user,
                           "payload": {"chatId": chat, "content": repr(time.monotonic()), "contentType": "TEXT"}})
        ws.send(frame("SEND", {"destination": destination}, body))
        delay = start + (n + 1) / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)


def run_cost(uri: str, secret: str, tmp: Path, receivers: int, messages: int, rate: float) -> List[Dict[str, Any]]:
    """B's CPU per message for each row of the --cost table (see the module docstring)."""
    def token(user: str) -> str:
        return jwt.encode({"sub": user, "exp": int(time.time()) + 3600, "chats": ["bench", "other"]}, secret)

    rows = []
    for name, through, destination in (
        ("local, no subscriber", 1, "/topic/chat/other"),
        ("local", 1, CHAT),
        ("remote", 0, CHAT),
        ("foreign", 0, "/topic/chat/other"),
    ):
        database = "cost_" + secrets.token_hex(4)
        servers = [Server(uri, database, secret, tmp) for _ in range(2)]
        try:
            subscribers = [Subscriber(servers[1].url, token("s%d" % n), messages) for n in range(receivers)]
            publisher = connect(servers[through].url, token("pub"))
            time.sleep(2.0)  # change streams open, presence settles
            b = servers[1].process.pid
            idle_from, idle_cpu = time.monotonic(), cpu_seconds(b)
            time.sleep(max(5.0, messages / rate))  # as long as the run
            idle_rate = (cpu_seconds(b) - idle_cpu) / (time.monotonic() - idle_from)
            delivered = destination == CHAT
            for sub in subscribers if delivered else ():
                sub.start()
            start, before = time.monotonic(), cpu_seconds(b)
            publish(publisher, destination, destination.rsplit("/", 1)[1], messages, rate)
            for sub in subscribers if delivered else ():
                sub.join(120)
                if len(sub.received) < messages:
                    raise RuntimeError("%s: a subscriber got %d of %d" % (name, len(sub.received), messages))
            if not delivered:
                time.sleep(1.0)  # what B does with the last ones
            elapsed = time.monotonic() - start
            cpu = cpu_seconds(b) - before - idle_rate * elapsed
            rows.append({"row": name, "us_per_message": cpu / messages * 1e6, "idle_percent": idle_rate * 100})
            publisher.close()
            for sub in subscribers if not delivered else ():
                sub.ws.close()
        finally:
            for server in servers:
                server.stop()
    return rows


def print_cost(rows: List[Dict[str, Any]], receivers: int, unit: str) -> None:
    by_name = {row["row"]: row["us_per_message"] for row in rows}
    delivery = by_name["local"] - by_name["local, no subscriber"]
    print("| on B (%d subscriber%s) | B's %s / message | B idle, %% of a core | note |"
          % (receivers, "" if receivers == 1 else "s", unit))
    print("| --- | --- | --- | --- |")
    for row in rows:
        note = ""
        if row["row"] == "local":
            note = "delivery: %.0f beyond taking and storing" % delivery
        elif row["row"] == "remote" and delivery > 0:
            note = "%.2f× the local delivery" % (row["us_per_message"] / delivery)
        print("| %s | %.1f | %.2f | %s |" % (row["row"], row["us_per_message"], row["idle_percent"], note))
    if unit == "calls":
        print("(B idle: %.0f calls a second, %.0f per getMore of its change stream, %.1f getMores a second;"
              " subtracted per getMore: %s a second in the rows)" % (
                  rows[0]["idle_rate"], rows[0]["per_getmore"], rows[0]["idle_getmores_per_second"],
                  " / ".join("%.1f" % row["getmores_per_second"] for row in rows)))


def run_calls(uri: str, secret: str, tmp: Path, receivers: int, messages: int, rate: float,
              dump: Optional[Path] = None) -> List[Dict[str, Any]]:
    """Calls per message on B for each row (see the module docstring); with ``dump``, each
    row's profile is written there (``<row>.prof``, for ``pstats``)."""
    import cProfile
    import pstats

    from support.clients import RawWsClient
    from support.nexus import running_nexus

    database = "calls_" + secrets.token_hex(4)
    a = Server(uri, database, secret, tmp)
    rows = []
    try:
        with running_nexus(jwt_secret=secret, mongo_uri=uri, mongo_database=database,
                           sends_per_minute=1_000_000) as b:
            def token(user: str) -> str:
                return jwt.encode({"sub": user, "exp": int(time.time()) + 3600, "chats": ["bench", "other"]}, secret)

            subscribers = []
            for n in range(receivers):
                client = RawWsClient(b.ws_url)
                client.connect(token("s%d" % n))
                client.subscribe("s", CHAT)
                subscribers.append(client)
            time.sleep(2.0)

            feed = b.plugin.feed

            def profiled(work: Any, name: str) -> Tuple[float, float, int]:
                """Calls B makes during ``work()``, how long it took, and the getMores
                its change stream sent meanwhile."""
                profile = cProfile.Profile()
                start, getmores = time.monotonic(), feed.batches.getmores
                b.handle.call(profile.enable)
                work()
                b.handle.call(profile.disable)
                seconds, getmores = time.monotonic() - start, feed.batches.getmores - getmores
                if dump is not None:
                    path = dump / (name.replace(" ", "").replace(",", "-") + ".prof")
                    profile.dump_stats(str(path))
                    path.with_suffix(".seconds").write_text("%f %d" % (seconds, getmores))
                stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
                return sum(r[1] for r in stats.values()), seconds, getmores

            # Idle, B's work is its change stream's getMores, one every poll interval
            # at most: fewer when the machine is busy. So what a row owes to idleness
            # is counted per getMore, not per second.
            idle_calls, idle_seconds, idle_getmores = profiled(lambda: time.sleep(max(5.0, messages / rate)), "idle")
            per_getmore = idle_calls / max(1, idle_getmores)
            for name, through, destination in (
                ("local, no subscriber", 1, "/topic/chat/other"),
                ("local", 1, CHAT),
                ("remote", 0, CHAT),
                ("foreign", 0, "/topic/chat/other"),
            ):
                chat = destination.rsplit("/", 1)[1]
                # A publisher of its own per row: the SEND rate limit's bookkeeping grows
                # with the sends of the last minute, which would weigh on later rows.
                user = "pub-" + name.replace(" ", "").replace(",", "")
                publisher = connect(a.url if through == 0 else b.ws_url, token(user))
                publish(publisher, destination, chat, 20, rate, user)  # warm-up
                time.sleep(1.0)
                for client in subscribers if destination == CHAT else ():
                    for _ in range(20):
                        client.expect("MESSAGE", timeout=60)

                def row(publisher: Any = publisher, destination: str = destination, chat: str = chat,
                        user: str = user) -> None:
                    publish(publisher, destination, chat, messages, rate, user)
                    for client in subscribers if destination == CHAT else ():
                        for _ in range(messages):
                            client.expect("MESSAGE", timeout=60)
                    time.sleep(1.0)  # what B does with the last ones

                calls, seconds, getmores = profiled(row, name)
                rows.append({"row": name, "us_per_message": (calls - per_getmore * getmores) / messages,
                             "idle_percent": 0.0, "idle_rate": idle_calls / idle_seconds,
                             "per_getmore": per_getmore, "getmores_per_second": getmores / seconds,
                             "idle_getmores_per_second": idle_getmores / idle_seconds})
                publisher.close()
            for client in subscribers:
                client.close()
    finally:
        a.stop()
    return rows


def run_idle(secret: str, tmp: Path, seconds: float, counts: List[int]) -> List[Dict[str, Any]]:
    """A process with ``count`` subscribers (each on a destination of its own) and nothing
    published: its CPU over ``seconds``, on nx-27017 as it is (it answers an empty
    getMore at once) and behind a proxy that holds an empty getMore for its
    ``maxTimeMS``, as MongoDB does (tests/support/holding.py)."""
    rows = []
    with NxServer(tmp / "nx") as nx:
        for held in (False, True):
            proxy = HoldingProxy(("127.0.0.1", nx.port)).start() if held else None
            try:
                for count in counts:
                    database = "idle_%s" % secrets.token_hex(4)
                    server = Server(proxy.uri if proxy else nx.uri, database, secret, tmp)
                    clients = []
                    try:
                        for n in range(count):
                            ws = connect(server.url, jwt.encode(
                                {"sub": "idle%d" % n, "exp": int(time.time()) + 3600, "chats": ["idle%d" % n]}, secret))
                            ws.send(frame("SUBSCRIBE", {"id": "s", "destination": "/topic/chat/idle%d" % n,
                                                        "receipt": "r"}))
                            assert "RECEIPT" in ws.recv()
                            clients.append(ws)
                        time.sleep(2.0)  # the stream opened, the connections settled
                        asked = proxy.getmores if proxy else 0
                        before, start = cpu_seconds(server.process.pid), time.monotonic()
                        time.sleep(seconds)
                        elapsed = time.monotonic() - start
                        rows.append({
                            "server": "behind a proxy holding getMores" if proxy else "nx-27017",
                            "subscribers": count,
                            "cpu_percent": 100 * (cpu_seconds(server.process.pid) - before) / elapsed,
                            "getmores_per_s": (proxy.getmores - asked) / elapsed if proxy else None,
                        })
                    finally:
                        for ws in clients:
                            ws.close()
                        server.stop()
            finally:
                if proxy is not None:
                    proxy.stop()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=400)
    parser.add_argument("--subscribers", type=int, default=20)
    parser.add_argument("--rate", type=float, default=200.0, help="messages per second")
    parser.add_argument("--foreign-rate", type=float, default=100.0,
                        help="messages per second another process publishes beside the layout (0: none)")
    parser.add_argument("--cost", action="store_true", help="the per-message cost table on the receiving process")
    parser.add_argument("--calls", action="store_true", help="the same, in function calls (B in this process)")
    parser.add_argument("--cost-messages", type=int, default=1000)
    parser.add_argument("--cost-rate", type=float, default=100.0)
    parser.add_argument("--receivers", type=int, default=1, help="subscribers on the receiving process (--cost)")
    parser.add_argument("--profiles", type=Path, help="with --calls: write each row's cProfile stats to this folder")
    parser.add_argument("--idle", type=float, metavar="SECONDS",
                        help="instead: an idle process's CPU with 0, 1 and 20 subscribers, for SECONDS each")
    args = parser.parse_args()
    secret = secrets.token_hex(32)
    if args.idle:
        with tempfile.TemporaryDirectory() as tmp:
            rows = run_idle(secret, Path(tmp), args.idle, [0, 1, 20])
        print("| server | subscribers | process CPU, % of a core | getMores a second |")
        print("| --- | --- | --- | --- |")
        for row in rows:
            asked = "%.1f" % row["getmores_per_s"] if row["getmores_per_s"] is not None else "–"
            print("| %s | %d | %.2f | %s |" % (row["server"], row["subscribers"], row["cpu_percent"], asked))
        return
    if args.cost or args.calls:
        with tempfile.TemporaryDirectory() as tmp, NxServer(Path(tmp) / "nx") as nx:
            if args.calls:
                rows = run_calls(nx.uri, secret, Path(tmp), args.receivers, args.cost_messages, args.cost_rate,
                                 args.profiles)
            else:
                rows = run_cost(nx.uri, secret, Path(tmp), args.receivers, args.cost_messages, args.cost_rate)
        print_cost(rows, args.receivers, "calls" if args.calls else "CPU µs")
        return
    rows = []
    with tempfile.TemporaryDirectory() as tmp, NxServer(Path(tmp) / "nx") as nx:
        layouts: List[Tuple[str, int, List[int]]] = [
            ("1 process", 1, [0] * args.subscribers),
            ("2 processes, split", 2, [n % 2 for n in range(args.subscribers)]),
            ("2 processes, remote", 2, [1] * args.subscribers),
            ("4 processes, split", 4, [n % 4 for n in range(args.subscribers)]),
        ]
        for index, (name, count, placement) in enumerate(layouts):
            database = "bench_%d_%s" % (index, secrets.token_hex(4))
            servers = [Server(nx.uri, database, secret, Path(tmp)) for _ in range(count)]
            foreign = Server(nx.uri, database, secret, Path(tmp)) if args.foreign_rate else None
            try:
                rows.append(run_layout(name, servers, placement, 0, secret, args.messages, args.rate,
                                       foreign, args.foreign_rate))
            finally:
                for server in servers + ([foreign] if foreign is not None else []):
                    server.stop()
    base = rows[0]
    print("| layout | deliveries | server CPU s / 1,000 deliveries | ratio to 1 process "
          "| send->recv p50 / p99 ms | added p50 / p99 ms |")
    print("| --- | --- | --- | --- | --- | --- |")
    for row in rows:
        print("| %s | %d | %.3f | %.2f | %.1f / %.1f | %.1f / %.1f |" % (
            row["layout"], row["deliveries"], row["cpu_per_1000"], row["cpu_per_1000"] / base["cpu_per_1000"],
            row["p50_ms"], row["p99_ms"], row["added_p50_ms"], row["added_p99_ms"]))


if __name__ == "__main__":
    main()
