"""Scenarios: start a server, drive load-generator processes, measure, return rows.

Every row is a flat dict: ``scenario``, ``target`` (the server's label), ``variant``
(what varies inside the scenario, e.g. ``N=1000``), ``phase`` and the measured figures.
Server CPU time and RSS are read from ``/proc`` at the start and end of the
measurement window; deliveries and latencies are counted by the subscribers inside the
same window (``time.monotonic()`` is shared by every process on the machine).
"""

from __future__ import annotations

import json
import logging
import math
import os
import queue
import random
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Set

import procstat
from targets import BENCH_DIR, Server, Unavailable

log = logging.getLogger("bench")

LOADGEN = os.path.join(BENCH_DIR, "loadgen.py")

#: Delivery rate of the fixed-rate (latency) phase, deliveries per second.
LATENCY_RATE = 5000.0


@dataclass
class Config:
    """How long and how big; ``quick`` and ``full`` fill it differently."""

    warmup: float = 0.5
    duration: float = 3.0
    drain: float = 0.5
    fanout_sizes: List[int] = field(default_factory=lambda: [1000])
    rooms: int = 300
    room_users: int = 300
    idle_connections: int = 1000
    storm_clients: int = 500
    storm_backlog: int = 100
    #: Connection attempts in flight at once during the storm.  Tornado listens with a
    #: backlog of 128: more than that overflows the accept queue of a busy server and
    #: turns the measurement into one of SYN retransmission timers.
    storm_concurrency: int = 100
    per_process: int = 2500
    #: Measure each phase this many times and keep the quietest (see :func:`quietest`).
    repeats: int = 1
    body_size: int = 256
    server_cpus: Optional[Set[int]] = None
    client_cpus: Optional[Set[int]] = None
    logdir: str = "/tmp"


class LoadGenFailed(Exception):
    """A load-generator process died or did not answer in time."""


class LoadGen:
    """One load-generator process; JSON lines in both directions."""

    def __init__(self, spec: Dict[str, Any], cfg: Config, name: str) -> None:
        self.name = name
        self.errlog = os.path.join(cfg.logdir, "loadgen-%s-%d.log" % (name, time.monotonic_ns()))
        err = open(self.errlog, "w")
        self.proc = subprocess.Popen(
            [sys.executable, LOADGEN],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=err,
            cwd=BENCH_DIR,
            text=True,
            bufsize=1,
            preexec_fn=procstat.pinner(cfg.client_cpus),
        )
        err.close()
        self.events: "queue.Queue[Dict[str, Any]]" = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.command(json.dumps(spec))

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                self.events.put(json.loads(line))
            except ValueError:
                pass
        self.events.put({"event": "exit"})

    def command(self, line: str) -> None:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(line + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            pass

    def expect(self, event: str, timeout: float) -> Dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise LoadGenFailed("%s: no %r within %.0f s" % (self.name, event, timeout))
            try:
                msg = self.events.get(timeout=left)
            except queue.Empty:
                continue
            if msg.get("event") == event:
                return msg
            if msg.get("event") == "exit":
                with open(self.errlog, errors="replace") as f:
                    err = " | ".join(f.read().strip().splitlines()[-4:])
                raise LoadGenFailed("%s exited before %r: %s" % (self.name, event, err))
            if msg.get("event") == "result" and event != "result":
                raise LoadGenFailed("%s failed: %s" % (self.name, msg.get("failed")))

    def finish(self, timeout: float = 30) -> Dict[str, Any]:
        self.command("STOP")
        try:
            return self.expect("result", timeout)
        finally:
            self.kill()

    def kill(self) -> None:
        """End the process (closing stdin asks it to stop) and close its pipes."""
        try:
            self.proc.stdin.close()  # type: ignore[union-attr]
        except OSError:
            pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.reader.join(5)
        if self.proc.stdout is not None and not self.reader.is_alive():
            self.proc.stdout.close()


# -- helpers -----------------------------------------------------------------------------


def percentile(hist: Dict[int, int], q: float) -> Optional[float]:
    """The ``q``-quantile (0..1) of a histogram of 0.1 ms buckets, in milliseconds."""
    total = sum(hist.values())
    if not total:
        return None
    rank = q * total
    seen = 0
    for k in sorted(hist):
        seen += hist[k]
        if seen >= rank:
            return (k + 0.5) / 10.0
    return None


def merge_hists(results: List[Dict[str, Any]]) -> Dict[int, int]:
    out: Dict[int, int] = {}
    for r in results:
        for k, v in r.get("hist", {}).items():
            out[int(k)] = out.get(int(k), 0) + v
    return out


def chunks(items: List[Any], size: int) -> List[List[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)] or [[]]


def start_subscribers(
    server: Server,
    entries: List[Dict[str, Any]],
    cfg: Config,
    sockjs: bool,
    heart_beat: Optional[str] = None,
) -> List[LoadGen]:
    """Start subscriber processes for ``entries`` and wait until all are subscribed
    (negotiating ``heart_beat`` and sending the beats, when given)."""
    target = server.target(sockjs)
    if heart_beat:
        target["heart_beat"] = heart_beat
    gens = [
        LoadGen({"role": "subscribers", "target": target, "clients": part},
                cfg, "subs%d" % i)
        for i, part in enumerate(chunks(entries, cfg.per_process))
    ]
    subscriptions = sum(len(e.get("dests", ())) for e in entries)
    try:
        for gen in gens:
            gen.expect("ready", 60 + subscriptions / 20)
    except Exception:
        for gen in gens:
            gen.kill()
        raise
    return gens


def sleep_until(t: float) -> None:
    left = t - time.monotonic()
    if left > 0:
        time.sleep(left)


# -- delivery measurement (fan-out, chat rooms, persistence) -------------------------------


def measure_phases(
    server: Server,
    entries: List[Dict[str, Any]],
    publishers: List[Dict[str, Any]],
    cfg: Config,
    sockjs: bool = False,
    expected_per_publish: float = 0.0,
) -> List[Dict[str, Any]]:
    """Subscribe ``entries`` once, then run each publisher spec as one measured phase.

    With ``cfg.repeats`` > 1 each phase runs that many times and the repetition in which
    other processes took the least of the server's CPUs is kept (:func:`quietest`).
    """
    subs = start_subscribers(server, entries, cfg, sockjs)
    rows: List[Dict[str, Any]] = []
    try:
        for pub_spec in publishers:
            tries = [_one_phase(server, subs, pub_spec, cfg, sockjs, expected_per_publish)
                     for _ in range(max(1, cfg.repeats))]
            rows.append(quietest(tries))
    finally:
        for gen in subs:
            try:
                gen.finish(10)
            except LoadGenFailed:
                gen.kill()
    return rows


def quietest(tries: List[Dict[str, Any]]) -> Dict[str, Any]:
    """The repetition least disturbed by other processes, with the spread of all of them.

    On a shared machine contention only ever slows a server down, so the quietest
    window is the closest to what the server can do; the others are kept as a range.
    """
    best = min(tries, key=lambda r: r.get("foreign_cpu_util") or 0.0)
    if len(tries) > 1:
        best = dict(best)
        best["repeats"] = len(tries)
        for key in ("deliveries_per_s", "catchup_all_s"):
            values = [r[key] for r in tries if r.get(key) is not None]
            if values:
                best[key + "_range"] = [min(values), max(values)]
    return best


def _one_phase(
    server: Server,
    subs: List[LoadGen],
    pub_spec: Dict[str, Any],
    cfg: Config,
    sockjs: bool,
    expected_per_publish: float,
) -> Dict[str, Any]:
    spec = dict(pub_spec)
    spec["role"] = "publisher"
    spec["target"] = server.target(sockjs)
    spec["body_size"] = cfg.body_size
    pub = LoadGen(spec, cfg, "pub")
    try:
        pub.expect("ready", 60)
        for gen in subs:
            gen.command("REPORT")
        before = [gen.expect("report", 30) for gen in subs]
        now = time.monotonic()
        t0 = now + cfg.warmup
        t1 = t0 + cfg.duration
        t_end = t1 + 0.05
        line = "GO %.6f %.6f %.6f" % (t0, t1, t_end)
        pub.command(line)
        for gen in subs:
            gen.command(line)
        loadgen_pids = [g.proc.pid for g in subs] + [pub.proc.pid]
        sleep_until(t0)
        s0 = procstat.sample(server.pids)
        l0 = procstat.sample(loadgen_pids)
        c0 = procstat.sample(server.sidecar_pids)
        b0 = procstat.cpu_busy(cfg.server_cpus)
        sleep_until(t1)
        s1 = procstat.sample(server.pids)
        l1 = procstat.sample(loadgen_pids)
        c1 = procstat.sample(server.sidecar_pids)
        b1 = procstat.cpu_busy(cfg.server_cpus)
        sleep_until(t_end + cfg.drain)
        pub.command("STOP")
        pub_result = pub.expect("result", 30)
        # Wait (a bounded while) until every accepted publish reached every subscriber,
        # so that "undelivered" means lost, not late.
        deadline = time.monotonic() + 10
        while True:
            for gen in subs:
                gen.command("REPORT")
            after = [gen.expect("report", 30) for gen in subs]
            if not expected_per_publish or time.monotonic() > deadline:
                break
            arrived = sum(r["total"] for r in after) - sum(r["total"] for r in before)
            if arrived >= round(pub_result.get("receipts", 0) * expected_per_publish):
                break
            time.sleep(0.2)
    finally:
        pub.kill()
    span = t1 - t0
    delivered = sum(r["window"] for r in after)
    hist = merge_hists(after)
    cpu = s1["cpu"] - s0["cpu"]
    total_delta = sum(r["total"] for r in after) - sum(r["total"] for r in before)
    row: Dict[str, Any] = {
        "phase": spec["mode"] if spec["mode"] != "window" else "max",
        "deliveries_per_s": delivered / span,
        "p50_ms": percentile(hist, 0.50),
        "p99_ms": percentile(hist, 0.99),
        "max_ms": percentile(hist, 1.0),
        "server_cpu_s": cpu,
        "server_cpu_util": cpu / span,
        "cpu_s_per_1k": (cpu / (delivered / 1000.0)) if delivered else None,
        # What one whole core would sustain at this cost: robust to a shared machine.
        "deliveries_per_cpu_s": (delivered / cpu) if cpu else None,
        "server_rss_mb": s1["rss_kb"] / 1024.0,
        "loadgen_cpu_util": (l1["cpu"] - l0["cpu"]) / span,
        # Time other processes (not the server, not ours) took on the server's CPUs.
        "foreign_cpu_util": max(0.0, (b1 - b0) - cpu - (c1["cpu"] - c0["cpu"])
                                - _ours_on(cfg, l1["cpu"] - l0["cpu"])) / span
        if cfg.server_cpus else None,
        "published": pub_result.get("sent", 0),
        "receipts": pub_result.get("receipts", 0),
        "refused": pub_result.get("refused", 0),
        "errors": sum(r["errors"] for r in after) + pub_result.get("errors", 0),
        "error_sample": (pub_result.get("error_sample") or [])
        + [e for r in after for e in r["error_sample"]][:3],
        "closed": sum(r["closed"] for r in after),
        "close_sample": [e for r in after for e in r["close_sample"]][:3],
        "seconds": span,
    }
    if server.sidecar_pids:
        # The store's own CPU time, per 1,000 deliveries, next to the server's.
        row["store_cpu_s_per_1k"] = ((c1["cpu"] - c0["cpu"]) / (delivered / 1000.0)) if delivered else None
        row["store_cpu_util"] = (c1["cpu"] - c0["cpu"]) / span
    if pub_result.get("failed"):
        row["failed"] = pub_result["failed"]
    if expected_per_publish:
        row["undelivered"] = round(pub_result.get("receipts", 0) * expected_per_publish) - total_delta
    if spec["mode"] == "rate":
        row["target_rate"] = spec["rate"] * (expected_per_publish or 1)
    return row


def _ours_on(cfg: Config, loadgen_cpu: float) -> float:
    """Load-generator CPU that ran on the server's CPUs (only when they overlap)."""
    if cfg.server_cpus and cfg.client_cpus and cfg.server_cpus & cfg.client_cpus:
        return loadgen_cpu
    return 0.0


def fanout_entries(server: Server, n: int, chat: str = "1") -> List[Dict[str, Any]]:
    dest = server.destination(chat)
    return [{"user": "s%d" % i, "chats": [chat], "dests": [dest]} for i in range(n)]


def fanout_publishers(server: Server, n: int, chat: str = "1", latency: bool = True) -> List[Dict[str, Any]]:
    dest = server.destination(chat)
    base = {"user": "pub", "chats": [chat], "dests": [dest], "chat_ids": [chat]}
    window = max(2, min(32, 4000 // n))
    out = [dict(base, mode="window", window=window)]
    if latency:
        out.append(dict(base, mode="rate", rate=LATENCY_RATE / n))
    return out


def fanout(server: Server, n: int, cfg: Config, sockjs: bool = False, latency: bool = True) -> List[Dict[str, Any]]:
    """One destination, ``n`` subscribers: as fast as receipts allow, then fixed rate."""
    rows = measure_phases(
        server, fanout_entries(server, n), fanout_publishers(server, n, latency=latency),
        cfg, sockjs, expected_per_publish=n,
    )
    for row in rows:
        row["variant"] = "N=%d" % n
        row["n"] = n
    return rows


def chat_rooms(server: Server, cfg: Config) -> List[Dict[str, Any]]:
    """Thousands of rooms of 2-50 members; a publisher writes to random rooms."""
    rng = random.Random(42)
    rooms = ["%d" % (1000 + i) for i in range(cfg.rooms)]
    members: Dict[int, List[str]] = {u: [] for u in range(cfg.room_users)}
    total = 0
    for room in rooms:
        size = rng.randint(2, 50)
        total += size
        for u in rng.sample(range(cfg.room_users), min(size, cfg.room_users)):
            members[u].append(room)
    entries = [
        {"user": "m%d" % u, "chats": chats, "dests": [server.destination(c) for c in chats]}
        for u, chats in members.items()
        if chats
    ]
    mean = total / len(rooms)
    shards = [
        {"user": "pub%d" % k, "chats": part, "dests": [server.destination(r) for r in part], "chat_ids": part}
        for k, part in enumerate(chunks(rooms, 200))
    ]
    base: Dict[str, Any] = {"shards": shards, "user": "pub", "dests": []}
    publishers = [
        dict(base, mode="window", window=32),
        dict(base, mode="rate", rate=LATENCY_RATE / mean),
    ]
    rows = measure_phases(server, entries, publishers, cfg, expected_per_publish=mean)
    for row in rows:
        row["variant"] = "%d rooms, %d users" % (cfg.rooms, len(entries))
        row.pop("undelivered", None)  # random rooms: only an average is expected
    return rows


# -- idle connections ----------------------------------------------------------------------


#: Heart-beats the idle STOMP connections offer (STOMP 1.2 "Heart-beating"). With the
#: server's default offer of 10000,10000 the client must beat every 10 s and is dropped
#: after 20 s of silence, so holding the connections for longer than that shows every
#: one of them is kept alive by its beats.
IDLE_HEART_BEAT = "5000,5000"
IDLE_HOLD_SECONDS = 25.0


def idle(server: Server, cfg: Config) -> Dict[str, Any]:
    """Memory per idle connection: RSS after ``n`` connections minus RSS before.

    nexus-tornado's connections negotiate heart-beats and are held past its heart-beat
    timeout before the sample; how many the server closed meanwhile is reported.
    """
    n = cfg.idle_connections
    # nexus-tornado only: RabbitMQ Web-STOMP on one Erlang scheduler drops most of 10,000
    # beating connections (8,271 in one run), which would measure its failure, not its
    # memory; it is held briefly without heart-beats, as the plain broadcast is.
    beats = "jwt_secret" in server.target(False)
    warm = [{"user": "w%d" % i, "chats": ["w%d" % i], "dests": [server.destination("w%d" % i)]}
            for i in range(50)]
    warm_gens = start_subscribers(server, warm, cfg, False)
    time.sleep(0.5)
    s0 = procstat.sample(server.pids)
    entries = [{"user": "i%d" % i, "chats": ["i%d" % i], "dests": [server.destination("i%d" % i)]}
               for i in range(n)]
    t = time.monotonic()
    gens = start_subscribers(server, entries, cfg, False,
                             heart_beat=IDLE_HEART_BEAT if beats else None)
    setup = time.monotonic() - t
    s_held = procstat.sample(server.pids)
    held_from = time.monotonic()
    time.sleep(IDLE_HOLD_SECONDS if beats else 1.5)
    s1 = procstat.sample(server.pids)
    held_for = time.monotonic() - held_from
    closed = 0
    for gen in gens + warm_gens:
        try:
            closed += int(gen.finish(10).get("closed", 0))
        except LoadGenFailed:
            gen.kill()
    return {
        "heart_beat": IDLE_HEART_BEAT if beats else "none",
        "held_seconds": IDLE_HOLD_SECONDS if beats else 1.5,
        "closed": closed,
        "variant": "%d connections" % n,
        "phase": "idle",
        "connections": n,
        "kb_per_connection": (s1["rss_kb"] - s0["rss_kb"]) / n,
        "server_rss_mb": s1["rss_kb"] / 1024.0,
        "connect_cpu_ms": (s1["cpu"] - s0["cpu"]) * 1000.0 / n,
        # the server's CPU while only holding them (heart-beats in and out), % of a core
        "held_cpu_pct": (s1["cpu"] - s_held["cpu"]) * 100.0 / held_for,
        "setup_seconds": setup,
    }


# -- reconnect storm -------------------------------------------------------------------------


def storm(server: Server, cfg: Config) -> Dict[str, Any]:
    """``storm_clients`` clients reconnect at once with ``last-seq`` 100 messages back.

    Repeated runs reuse the destination (its first 200 messages do not change).
    """
    prefilled = False
    tries = []
    for _ in range(max(1, cfg.repeats)):
        tries.append(_storm_once(server, cfg, prefill=not prefilled))
        prefilled = True
    return quietest(tries)


def _storm_once(server: Server, cfg: Config, prefill: bool) -> Dict[str, Any]:
    chat = "2"
    dest = server.destination(chat)
    backlog = cfg.storm_backlog
    total = 2 * backlog
    if prefill:
        _prefill(server, cfg, chat, dest, total)
    return _storm_measure(server, cfg, chat, dest, total, backlog)


def _prefill(server: Server, cfg: Config, chat: str, dest: str, total: int) -> None:
    prefill = LoadGen(
        {"role": "publisher", "target": server.target(False), "mode": "count", "count": total,
         "window": 8, "user": "pub", "chats": [chat], "dests": [dest], "chat_ids": [chat],
         "body_size": cfg.body_size},
        cfg, "prefill",
    )
    pre = prefill.expect("result", 60)
    prefill.kill()
    if pre.get("failed") or pre.get("receipts") != total:
        raise LoadGenFailed("prefill: %s" % json.dumps({k: pre.get(k) for k in ("failed", "receipts", "refused", "error_sample")}))


def _storm_measure(
    server: Server, cfg: Config, chat: str, dest: str, total: int, backlog: int
) -> Dict[str, Any]:
    entries = [{"user": "r%d" % i, "chats": [chat]} for i in range(cfg.storm_clients)]
    gen = LoadGen(
        {"role": "storm", "target": server.target(False), "clients": entries, "destination": dest,
         "last_seq": total - backlog, "expect": backlog, "timeout": 90,
         "concurrency": cfg.storm_concurrency},
        cfg, "storm",
    )
    try:
        gen.expect("ready", 30)
        s0 = procstat.sample(server.pids)
        o0 = procstat.listen_overflows()
        b0 = procstat.cpu_busy(cfg.server_cpus)
        now = time.monotonic()
        gen.command("GO %.6f %.6f %.6f" % (now, now + 3600, now + 3600))
        gen.expect("done", 150)
        s1 = procstat.sample(server.pids)
        o1 = procstat.listen_overflows()
        b1 = procstat.cpu_busy(cfg.server_cpus)
        result = gen.finish(30)
    finally:
        gen.kill()
    times = result.get("catchup_times", [])
    done = len(times)
    elapsed = max(times) if times else None
    return {
        "variant": "%d clients x %d missed" % (cfg.storm_clients, backlog),
        "phase": "storm",
        "clients": cfg.storm_clients,
        "caught_up": done,
        "failures": result.get("failures", 0),
        "failure_sample": result.get("failure_sample", []),
        "catchup_all_s": elapsed,
        "catchup_p50_s": times[len(times) // 2] if times else None,
        "catchup_p99_s": times[min(len(times) - 1, math.ceil(0.99 * len(times)) - 1)] if times else None,
        "deliveries_per_s": (done * backlog / elapsed) if elapsed else None,
        "server_cpu_s": s1["cpu"] - s0["cpu"],
        "server_cpu_util": (s1["cpu"] - s0["cpu"]) / elapsed if elapsed else None,
        "loadgen_cpu_s": result.get("cpu"),
        "listen_overflows": o1 - o0,
        "foreign_cpu_util": max(0.0, (b1 - b0) - (s1["cpu"] - s0["cpu"])) / elapsed
        if (cfg.server_cpus and elapsed) else None,
        "cpu_s_per_1k": ((s1["cpu"] - s0["cpu"]) / (done * backlog / 1000.0)) if done else None,
        "errors": result.get("errors", 0),
        "error_sample": result.get("error_sample", []),
    }


def with_server(
    make: Callable[[], Server], run: Callable[[Server], Any]
) -> Any:
    """Start a fresh server, run one scenario against it, always stop it."""
    server = make()
    server.start()
    try:
        return run(server)
    finally:
        server.stop()


__all__ = [
    "Config", "LoadGenFailed", "Unavailable", "chat_rooms", "fanout", "idle", "percentile", "storm",
    "with_server",
]
