"""One shared document, 50 editors: operations per second, latency to the others, CPU.

    python bench/documents.py [--editors 50] [--seconds 20] [--rate 2] [--mongo]

Every editor is a raw-WebSocket STOMP client (one asyncio loop, the ``websockets``
library) that subscribes to ``/topic/doc/bench``, reads the snapshot, then runs the
browser client's protocol in its simplest form: one operation in flight, made on the
newest version it has seen (an insert of one character at a random place: a keystroke),
the next one only after its own has come back. Two runs:

* ``paced``: each editor types ``--rate`` keystrokes per second (typing speed); the
  latency is what a keystroke takes from the SEND to each other editor's MESSAGE;
* ``flat out``: each editor sends its next operation as soon as its last came back;
  the throughput is what one document sustains (every operation is transformed against
  those stored since its version, which grows with the number of editors).

The editors are spread over ``--processes`` client processes (one asyncio loop each)
so that the clients are not what limits the server. A keystroke's send time travels in
its ``opId``; latency is each other editor's receipt time minus it. CPU is the server
process's user+system time over the run, per operation stored. The
server runs with the in-memory store (``--mongo``: on a nx-27017 of its own). Prints a
Markdown table for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import random
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import jwt
import websockets

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from scaleout import cpu_seconds, frame, free_port  # noqa: E402  (the same helpers)

DOC = "bench"
DESTINATION = "/topic/doc/" + DOC


def parse(text: str) -> Any:
    head, _, body = text.lstrip("\n").partition("\n\n")
    lines = head.split("\n")
    headers = dict(line.split(":", 1) for line in lines[1:] if ":" in line)
    return lines[0], headers, body.rstrip("\x00")


class Editor:
    def __init__(self, name: str, url: str, token: str, shared: Dict[str, Any]) -> None:
        self.name = name
        self.url = url
        self.token = token
        self.shared = shared  # opId -> send time, and the latencies
        self.version = 0
        self.length = 0
        self.inflight: Optional[str] = None
        self.counter = 0
        self.ws: Any = None
        self.acked = asyncio.Event()

    async def open(self) -> None:
        self.ws = await websockets.connect(self.url, max_size=None, ping_interval=None)
        await self.ws.send(frame("CONNECT", {"accept-version": "1.2", "host": "h", "passcode": self.token, "heart-beat": "0,0"}))
        assert (await self.ws.recv()).startswith("CONNECTED")
        await self.ws.send(frame("SUBSCRIBE", {"id": "d", "destination": DESTINATION}))

    async def receive(self) -> None:
        async for text in self.ws:
            command, headers, body = parse(text)
            if command != "MESSAGE":
                if command == "ERROR":
                    raise RuntimeError(body)
                continue
            now = time.monotonic()
            data = json.loads(body)
            if data["type"] == "DOC_SNAPSHOT":
                self.version = data["payload"]["version"]
                self.length = len(data["payload"]["text"])
                self.acked.set()
                continue
            self.version = int(headers["seq"])
            op = data["payload"]["op"]
            self.length += sum(len(p) for p in op if isinstance(p, str)) + sum(p for p in op if isinstance(p, int) and p < 0)
            op_id = data["payload"]["opId"]
            if op_id == self.inflight:
                self.inflight = None
                self.acked.set()
            elif self.shared["measuring"]:
                # The opId carries its send time (CLOCK_MONOTONIC: one clock for every
                # process of the machine).
                self.shared["latencies"].append(now - float(op_id.rsplit("-", 1)[1]))

    async def type(self, deadline: float, rate: float) -> int:
        made = 0
        await self.acked.wait()
        while time.monotonic() < deadline:
            self.acked.clear()
            self.counter += 1
            self.inflight = op_id = "%s-%d-%.6f" % (self.name, self.counter, time.monotonic())
            at = random.randint(0, self.length)
            op = [part for part in (at, "k", self.length - at) if part != 0]
            body = json.dumps({"type": "DOC_OP", "timestamp": "2026-12-01T10:00:00Z", "senderId": self.name,
                               "payload": {"docId": DOC, "version": self.version, "opId": op_id, "op": op}})
            await self.ws.send(frame("SEND", {"destination": DESTINATION, "content-type": "application/json"}, body))
            await self.acked.wait()
            made += 1
            if rate:
                await asyncio.sleep(random.expovariate(rate))
        return made


async def run_editors(url: str, secret: str, names: List[str], start: float, seconds: float, rate: float) -> Dict[str, Any]:
    """One client process: its editors type from ``start`` for ``seconds``."""
    shared: Dict[str, Any] = {"latencies": [], "measuring": False}
    team = []
    for name in names:
        token = jwt.encode({"sub": name, "exp": int(time.time()) + 3600, "docs": [DOC]}, secret)
        editor = Editor(name, url, token, shared)
        await editor.open()
        team.append(editor)
    readers = [asyncio.ensure_future(e.receive()) for e in team]
    await asyncio.sleep(max(0.0, start - time.monotonic()))
    shared["measuring"] = True
    made = await asyncio.gather(*(e.type(start + seconds, rate) for e in team))
    await asyncio.sleep(1.0)  # the last operations reach everyone
    shared["measuring"] = False
    for reader in readers:
        reader.cancel()
    for editor in team:
        await editor.ws.close()
    return {"ops": sum(made), "latencies": shared["latencies"]}


def client_process(args: Any) -> Dict[str, Any]:
    return asyncio.run(run_editors(*args))


def run(url: str, secret: str, editors: int, seconds: float, rate: float, pid: int, processes: int) -> Dict[str, Any]:
    names = ["e%d" % n for n in range(editors)]
    start = time.monotonic() + 3.0 + editors * 0.02  # every client connected by then
    jobs = [(url, secret, names[i::processes], start, seconds, rate) for i in range(processes)]
    with multiprocessing.Pool(processes) as pool:
        pending = pool.map_async(client_process, jobs)
        time.sleep(max(0.0, start - time.monotonic()))
        before = cpu_seconds(pid)
        time.sleep(seconds)
        cpu = cpu_seconds(pid) - before
        results = pending.get(timeout=seconds + 120)
    latencies = sorted(x for r in results for x in r["latencies"])
    ops = sum(r["ops"] for r in results)
    return {
        "ops": ops,
        "ops_per_second": ops / seconds,
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))],
        "cpu_ms_per_op": 1000 * cpu / ops,
        "cpu_share": cpu / seconds,
        "deliveries": len(latencies),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--editors", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rate", type=float, default=2.0, help="keystrokes per second per editor, paced run")
    parser.add_argument("--processes", type=int, default=2, help="client processes the editors are spread over")
    parser.add_argument("--mongo", action="store_true", help="on a nx-27017 of its own, not the in-memory store")
    args = parser.parse_args()
    secret = secrets.token_hex(32)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        nx = None
        store_args: List[str] = []
        if args.mongo:
            from support.mongo import NxServer

            nx = NxServer(Path(tmp) / "nx")
            nx.start()
            store_args = ["--mongo-uri", nx.uri, "--mongo-database", "bench_docs"]
        for name, rate in (("paced", args.rate), ("flat out", 0.0)):
            port = free_port()
            log = open(Path(tmp) / ("server-%d.log" % port), "wb")
            server = subprocess.Popen(
                [sys.executable, "-m", "nexus_tornado", "--port", str(port), "--no-demo", "--jwt-secret", secret,
                 "--document-ops-per-minute", "1000000", "--log-level", "WARNING"] + store_args,
                stdout=log, stderr=subprocess.STDOUT, cwd=tmp,
            )
            try:
                deadline = time.monotonic() + 30
                while True:
                    try:
                        socket.create_connection(("127.0.0.1", port), 0.2).close()
                        break
                    except OSError:
                        if time.monotonic() > deadline:
                            raise RuntimeError("server did not start")
                        time.sleep(0.05)
                url = "ws://127.0.0.1:%d/stomp/websocket" % port
                result = run(url, secret, args.editors, args.seconds, rate, server.pid, args.processes)
                rows.append((name, result))
            finally:
                server.terminate()
                server.wait(15)
                log.close()
        if nx is not None:
            nx.stop()
    store = "nx-27017" if args.mongo else "in-memory store"
    print("%d editors on one document, %s, %g s per run\n" % (args.editors, store, args.seconds))
    print("| run | operations | ops/s | to the others p50 / p99 ms | server CPU ms / op | server CPU busy |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, r in rows:
        print("| %s | %d | %.0f | %.1f / %.1f | %.2f | %.0f %% |" % (
            name, r["ops"], r["ops_per_second"], r["p50_ms"], r["p99_ms"], r["cpu_ms_per_op"], 100 * r["cpu_share"]))


if __name__ == "__main__":
    main()
