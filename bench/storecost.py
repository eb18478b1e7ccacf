"""Server CPU per receipted SEND with the MongoDB store (nx-27017) next to the in-memory
store, and chat rooms on both; nx-27017's own CPU measured apart.

    python bench/storecost.py [--duration 5] [--drivers pymongo,motor] [--no-rooms] [--pin]

Each store gets a fresh server (the command, as ``run.py`` starts it) and, for MongoDB,
a fresh nx-27017 (``--db memory``) whose process is sampled on its own. Workloads:

* ``1 client, 20 in flight``: one connection keeps 20 SENDs (256-byte chat envelopes,
  each with a receipt) waiting for their RECEIPT, to one room, for ``--duration``
  seconds, no subscribers. The server handles one connection's frames in order, so
  its store writes are one at a time: this is the cost of a write that has no company.
* ``20 clients, 60 in flight``: 20 connections (one load-generator process) share a
  window of 60 SENDs over 20 rooms: writes arrive together and the group commit takes
  them in one command.
* ``chat rooms`` (``run.py``'s scenario, ``--quick`` size: 300 rooms of 2-50 members,
  300 users, publishers keeping 32 SENDs in flight over 2 connections): deliveries per
  server CPU-second, measured in a second run on the same server (the first one warms
  it up).

One server process on a standalone MongoDB runs without the change stream
(``mongo_change_stream`` off), and so do these stores unless named ``+change-stream``
(``--change-stream``): nx-27017 answers a change stream's ``getMore`` at once instead of
waiting for data, so following it costs a core's share even when nothing happens, which
would drown the cost of a write.

Server CPU is the user+system time of the server process (``/proc``) from the start of
the phase until its last RECEIPT; "per SEND" divides it by the receipted SENDs. Figures
are compared only within one run (a ratio to memory). Prints a Markdown table for
docs/benchmarks.md and writes the rows to ``--json`` (default
docs/benchmarks/storecost.json).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from typing import Any, Callable, Dict, List, Optional

import procstat
import scenarios as sc
import targets as tg

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_DIR = os.path.dirname(BENCH_DIR)


def publisher(server: tg.Server, clients: int, window: int, rooms: int, mode: str = "window",
              count: int = 0) -> Dict[str, Any]:
    chats = ["%d" % (100 + r) for r in range(rooms)]
    shards = [
        {"user": "pub%d" % c, "chats": chats, "dests": [server.destination(x) for x in chats], "chat_ids": chats}
        for c in range(clients)
    ]
    spec: Dict[str, Any] = {"role": "publisher", "target": server.target(), "shards": shards, "user": "pub",
                            "dests": [], "mode": mode, "window": window, "body_size": 256}
    if mode == "count":
        spec["count"] = count
    return spec


def send_phase(server: tg.Server, cfg: sc.Config, clients: int, window: int, rooms: int,
               duration: float) -> Dict[str, Any]:
    """Receipted SENDs for ``duration`` seconds; server (and store) CPU per SEND."""
    warm = sc.LoadGen(publisher(server, clients, window, rooms, "count", 300), cfg, "warm")
    try:
        warm.expect("result", 120)
    finally:
        warm.kill()
    pub = sc.LoadGen(publisher(server, clients, window, rooms), cfg, "pub")
    try:
        pub.expect("ready", 60)
        s0, c0 = procstat.sample(server.pids), procstat.sample(server.sidecar_pids)
        t0 = time.monotonic()
        pub.command("GO %.6f %.6f %.6f" % (t0, t0 + duration, t0 + duration))
        # The publisher stops at t_end, waits for its last receipts, then reports.
        time.sleep(duration)
        result = pub.finish(30)
        s1, c1 = procstat.sample(server.pids), procstat.sample(server.sidecar_pids)
        elapsed = time.monotonic() - t0
    finally:
        pub.kill()
    receipts = result.get("receipts", 0)
    cpu = s1["cpu"] - s0["cpu"]
    store_cpu = c1["cpu"] - c0["cpu"]
    return {
        "receipts": receipts,
        "refused": result.get("refused", 0),
        "sends_per_s": receipts / result.get("elapsed", elapsed) if receipts else 0.0,
        "server_cpu_s": cpu,
        "us_per_send": 1e6 * cpu / receipts if receipts else None,
        "store_us_per_send": 1e6 * store_cpu / receipts if receipts and server.sidecar_pids else None,
        "failed": result.get("failed"),
    }


def on_store(store: str, cfg: sc.Config, run: Callable[[tg.Server], Any]) -> Any:
    """Run ``run`` against a fresh server on ``store`` (memory, or nx-27017:<driver>)."""
    if store == "memory":
        return sc.with_server(lambda: tg.NexusServer(cfg.server_cpus, cfg.logdir), run)
    driver, _, feed = store.split(":", 1)[1].partition("+")
    nx = tg.Nx27017(cfg.server_cpus, cfg.logdir).start()
    os.environ["NEXUS_MONGO_DRIVER"] = driver
    os.environ["NEXUS_MONGO_CHANGE_STREAM"] = "true" if feed else "false"
    try:
        return sc.with_server(
            lambda: tg.NexusServer(cfg.server_cpus, cfg.logdir, mongo_uri=nx.uri(), store_label=store,
                                   sidecar_pids=nx.pids),
            run,
        )
    finally:
        os.environ.pop("NEXUS_MONGO_DRIVER", None)
        os.environ.pop("NEXUS_MONGO_CHANGE_STREAM", None)
        nx.stop()


WORKLOADS = [
    ("1 client, 20 in flight", dict(clients=1, window=20, rooms=1)),
    ("20 clients, 60 in flight", dict(clients=20, window=60, rooms=20)),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per SEND phase")
    parser.add_argument("--drivers", default="pymongo,motor", help="MongoDB drivers to measure")
    parser.add_argument("--no-rooms", action="store_true", help="skip the chat rooms")
    parser.add_argument("--change-stream", action="store_true",
                        help="also measure the first driver with the change stream on (it polls nx-27017)")
    parser.add_argument("--pin", action="store_true", help="server (and nx-27017) on CPU 0, clients on the rest")
    parser.add_argument("--repeat", type=int, default=1,
                        help="measure the SEND phases this many times (stores interleaved); the table shows medians")
    parser.add_argument("--json", default=os.path.join(REPO_DIR, "docs", "benchmarks", "storecost.json"))
    args = parser.parse_args()
    cfg = sc.Config(logdir=os.environ.get("TMPDIR", "/tmp"))
    if args.pin:
        cfg.server_cpus, cfg.client_cpus = {0}, set(range(1, os.cpu_count() or 2))
    drivers = [d for d in args.drivers.split(",") if d]
    stores = ["memory"] + ["nx-27017:%s" % d for d in drivers]
    if args.change_stream and drivers:
        stores.append("nx-27017:%s+change-stream" % drivers[0])
    rows: List[Dict[str, Any]] = []
    for repeat in range(args.repeat):  # stores interleaved: a load spike hits them alike
        for store in stores:
            for name, shape in WORKLOADS:
                row = on_store(store, cfg, lambda s: send_phase(s, cfg, duration=args.duration, **shape))
                row.update(store=store, workload=name, repeat=repeat)
                rows.append(row)
                print("%-30s %-26s %s" % (store, name, json.dumps({k: v for k, v in row.items()
                                                                     if k not in ("store", "workload")})),
                      flush=True)
    for store in stores:
        if not args.no_rooms and "+" not in store:
            # Twice on one server, the second measured: every room has been written to
            # (the store knows each room's newest number), as in a server that has run
            # a while.
            rooms = on_store(store, cfg, lambda s: (sc.chat_rooms(s, cfg), sc.chat_rooms(s, cfg))[1])
            row = dict(next(r for r in rooms if r["phase"] == "max"))
            row.update(store=store, workload="chat rooms")
            rows.append(row)
            print("%-18s %-26s %.0f deliveries/CPU-s" % (store, "chat rooms", row["deliveries_per_cpu_s"] or 0),
                  flush=True)
    meta = {
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_DIR, capture_output=True,
                                 text=True).stdout.strip(),
        "load": " ".join(open("/proc/loadavg").read().split()[:3]),
        "python": platform.python_version(),
        "duration": args.duration,
        "repeat": args.repeat,
        "pinned": args.pin,
    }
    with open(args.json, "w") as f:
        json.dump({"meta": meta, "rows": rows}, f, indent=1)
    print()
    print(table(rows))


def medians(rows: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """One row per (workload, store) of the SEND phases: the median of each figure."""
    groups: Dict[Any, List[Dict[str, Any]]] = {}
    for r in rows:
        if r["workload"] != "chat rooms":
            groups.setdefault((r["workload"], r["store"]), []).append(r)
    out = []
    for (workload, store), group in groups.items():
        row: Dict[str, Any] = {"workload": workload, "store": store, "n": len(group)}
        for key in ("sends_per_s", "us_per_send", "store_us_per_send"):
            values = [g[key] for g in group if g.get(key) is not None]
            row[key] = statistics.median(values) if values else None
        row["us_range"] = (min(g["us_per_send"] or 0 for g in group), max(g["us_per_send"] or 0 for g in group))
        out.append(row)
    order = {w: i for i, (w, _) in enumerate(WORKLOADS)}
    return sorted(out, key=lambda r: order.get(r["workload"], 99))


def table(rows: List[Dict[str, Any]]) -> str:
    sends = medians(rows)
    memory = {r["workload"]: r for r in sends if r["store"] == "memory"}
    out = ["| workload | store | receipted SENDs/s | server CPU per SEND (range) | × memory | nx-27017 CPU per SEND |",
           "| --- | --- | ---: | ---: | ---: | ---: |"]
    for r in sends:
        base: Optional[float] = memory.get(r["workload"], {}).get("us_per_send")
        ratio = "%.1f×" % (r["us_per_send"] / base) if base and r.get("us_per_send") else "–"
        store = "%.0f µs" % r["store_us_per_send"] if r.get("store_us_per_send") else "–"
        spread = " (%.0f–%.0f)" % r["us_range"] if r["n"] > 1 else ""
        out.append("| %s | %s | %.0f | %.0f µs%s | %s | %s |" % (
            r["workload"], r["store"], r["sends_per_s"], r["us_per_send"] or 0, spread, ratio, store))
    memory = {r["workload"]: r for r in rows if r["store"] == "memory"}
    rooms = [r for r in rows if r["workload"] == "chat rooms"]
    if rooms:
        base = memory.get("chat rooms", {}).get("deliveries_per_cpu_s")
        out += ["", "| chat rooms | deliveries/s | deliveries per server CPU-s | × memory | nx-27017 CPU (share of a core) |",
                "| --- | ---: | ---: | ---: | ---: |"]
        for r in rooms:
            ratio = "%.2f×" % (r["deliveries_per_cpu_s"] / base) if base and r.get("deliveries_per_cpu_s") else "–"
            util = "%.0f %%" % (100 * r["store_cpu_util"]) if r.get("store_cpu_util") is not None else "–"
            out.append("| %s | %.0f | %.0f | %s | %s |" % (
                r["store"], r["deliveries_per_s"], r["deliveries_per_cpu_s"] or 0, ratio, util))
    return "\n".join(out)


if __name__ == "__main__":
    main()
