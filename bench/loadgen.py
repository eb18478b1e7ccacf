"""Load-generator process: many client connections in one asyncio loop.

The driver (:mod:`run`) starts several of these as separate processes.  Each reads one
JSON spec line on stdin, opens its connections, prints ``{"event": "ready"}`` and waits
for ``GO <t0> <t1> <t_end>`` (``time.monotonic()`` values, a clock every process on
the machine shares): deliveries and latencies count only between ``t0`` and ``t1``;
publishers stop at ``t_end``.  On ``STOP`` it prints ``{"event": "result", ...}`` and
exits.

Roles (``spec["role"]``):

``subscribers``
    each client subscribes to its destinations and counts MESSAGEs; latency is the
    receive time minus the send time the publisher wrote into the body.
``publisher``
    one client sends 256-byte bodies: ``window`` mode keeps at most ``window`` SENDs
    waiting for their RECEIPT (as fast as the server allows); ``rate`` mode sends at a
    fixed rate; ``count`` mode sends ``count`` messages, waits for every receipt and
    reports without waiting for ``GO``.
``idle``
    clients connect, subscribe once and stay silent (memory per connection).
``storm``
    on ``GO`` every client connects at once and re-subscribes with ``last-seq``; the
    result is how long each took to receive the ``expect`` messages it missed.

Dialects (``spec["target"]["dialect"]``): ``stomp`` (nexus-tornado, RabbitMQ Web-STOMP)
and ``plain`` (the baseline broadcast server, see :mod:`baseline_server`).
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import json
import os
import random
import resource
import sys
import time
from typing import Any, Callable, Dict, List, Optional

import stomp_wire as wire
from wsclient import WsConnection, open_ws

monotonic = time.monotonic

#: Marker in the body before the fixed-width send timestamp.
TS_MARK = "@@"
TS_WIDTH = 17

#: Envelope the nexus server validates (wire contract "Messages"); content is padded.
ENVELOPE = (
    '{"type":"CHAT_MESSAGE","timestamp":"2026-11-25T10:00:00Z","senderId":%s,'
    '"payload":{"chatId":%s,"content":"%s","contentType":"TEXT"}}'
)


def body_template(sender: str, chat_id: str, size: int) -> str:
    """A body of exactly ``size`` bytes with a ``%s`` where the timestamp goes."""
    head = TS_MARK + "%s"
    probe = ENVELOPE % (json.dumps(sender), json.dumps(chat_id), head % ("0" * TS_WIDTH))
    pad = max(0, size - len(probe.encode()))
    return ENVELOPE % (json.dumps(sender), json.dumps(chat_id), head + "x" * pad)


def stamp() -> str:
    """The current monotonic time, fixed width (see :data:`TS_WIDTH`)."""
    return "%017.6f" % monotonic()


def make_token(secret: str, user: str, chats: List[str]) -> str:
    """An HS256 JWT for ``user``, valid for two hours, listing its chat ids."""
    import jwt  # PyJWT; only the nexus target needs it

    claims: Dict[str, Any] = {"sub": user, "exp": int(time.time()) + 7200}
    if chats:
        claims["chats"] = chats
    return jwt.encode(claims, secret, algorithm="HS256")


class Stats:
    """Counters of one process; latencies in a histogram of 0.1 ms buckets."""

    def __init__(self) -> None:
        self.t0 = float("inf")
        self.t1 = float("inf")
        self.total = 0
        self.window = 0
        self.hist: Dict[int, int] = {}
        self.errors = 0
        self.error_sample: List[str] = []
        self.closed = 0
        self.close_sample: List[str] = []

    def delivery(self, body: str) -> None:
        """Count one delivered body and its latency (hot path: keep it short)."""
        now = monotonic()
        self.total += 1
        if self.t0 <= now < self.t1:
            self.window += 1
            i = body.find(TS_MARK)
            if i >= 0:
                k = int((now - float(body[i + 2 : i + 2 + TS_WIDTH])) * 10000.0)
                hist = self.hist
                hist[k] = hist.get(k, 0) + 1

    def error(self, text: str) -> None:
        self.errors += 1
        if len(self.error_sample) < 3:
            self.error_sample.append(text[:300])

    def close(self, why: Optional[str]) -> None:
        self.closed += 1
        if len(self.close_sample) < 3:
            self.close_sample.append(str(why)[:200])


class Client:
    """One connection speaking a dialect; control replies resolve futures."""

    def __init__(self, target: Dict[str, Any], stats: Stats, user: str, chats: List[str]):
        self.target = target
        self.stats = stats
        self.user = user
        self.chats = chats
        self.dialect = target["dialect"]
        self.conn: Optional[WsConnection] = None
        self.connected: Optional[asyncio.Future[None]] = None
        self.receipts: Dict[str, Callable[[bool], None]] = {}
        self.on_delivery: Callable[[str, str], None] = self._count
        self._ids = itertools.count(1)

    # -- setup ------------------------------------------------------------------------

    async def open(self) -> None:
        """Connect the WebSocket and, for STOMP, CONNECT (the JWT in ``passcode``)."""
        loop = asyncio.get_running_loop()
        handler = self._on_stomp if self.dialect == "stomp" else self._on_plain
        self.conn = await open_ws(self.target["url"], handler, self.target.get("sockjs", False))
        self.conn.on_close = self.stats.close
        if self.dialect != "stomp":
            return
        self.connected = loop.create_future()
        if self.target.get("jwt_secret"):
            passcode = make_token(self.target["jwt_secret"], self.user, self.chats)
            frame = wire.connect(
                "localhost", self.user, passcode, self.target.get("heart_beat", "0,0")
            )
        else:
            frame = wire.connect(
                self.target.get("vhost", "/"), self.target["login"], self.target["passcode"],
                self.target.get("heart_beat", "0,0"),
            )
        self.conn.send_text(frame)
        await asyncio.wait_for(self.connected, 30)

    async def subscribe(self, destination: str, last_seq: Optional[int] = None) -> None:
        """Subscribe and wait until the server confirms (RECEIPT, or ``A``)."""
        assert self.conn is not None
        loop = asyncio.get_running_loop()
        done: asyncio.Future[bool] = loop.create_future()
        rid = "s%d" % next(self._ids)

        def answered(ok: bool) -> None:
            if not done.done():
                done.set_result(ok)

        self.receipts[rid] = answered
        if self.dialect == "stomp":
            self.conn.send_text(wire.subscribe(rid, destination, receipt=rid, last_seq=last_seq))
        else:
            self.conn.send_text("S" + destination)
        ok = await asyncio.wait_for(done, 30)
        if not ok:
            raise RuntimeError("subscription to %s refused" % destination)

    def subscribe_nowait(self, destination: str, last_seq: Optional[int]) -> None:
        """Subscribe without waiting (the storm: replay starts at once)."""
        assert self.conn is not None
        if self.dialect == "stomp":
            self.conn.send_text(wire.subscribe("r", destination, last_seq=last_seq))
        else:
            self.conn.send_text("R%s %d" % (destination, self.target["storm_expect"]))

    def send(self, destination: str, body: str, on_receipt: Callable[[bool], None]) -> None:
        """Publish one body; ``on_receipt(ok)`` runs when the server answers."""
        assert self.conn is not None
        rid = "p%d" % next(self._ids)
        self.receipts[rid] = on_receipt
        if self.dialect == "stomp":
            self.conn.send_text(wire.send(destination, body, receipt=rid))
        else:
            self.conn.send_text("P%s\n%s" % (destination, body))

    def close(self) -> None:
        if self.conn is not None:
            self.conn.on_close = None
            self.conn.close()

    # -- receiving --------------------------------------------------------------------

    def _count(self, body: str, block: str) -> None:
        self.stats.delivery(body)

    def _on_stomp(self, text: str) -> None:
        # Fast path: one MESSAGE per WebSocket message (the raw endpoint's contract).
        if text.startswith("MESSAGE\n") and text.find("\x00") == len(text) - 1:
            blank = text.find("\n\n")
            block = text[7 : blank + 1]
            if "\ndestination:/user/queue/errors" not in block:
                self.on_delivery(text[blank + 2 : -1], block)
                return
        for command, block, body in wire.split_frames(text):
            if command == "MESSAGE":
                if wire.header(block, "destination") == "/user/queue/errors":
                    self.stats.error(body)
                    rid = wire.header(block, "receipt-id")
                    if rid is not None and rid in self.receipts:
                        self.receipts.pop(rid)(False)
                else:
                    self.on_delivery(body, block)
            elif command == "RECEIPT":
                rid = wire.header(block, "receipt-id")
                callback = self.receipts.pop(rid, None) if rid is not None else None
                if callback is not None:
                    callback(True)
            elif command == "CONNECTED":
                if self.connected is not None and not self.connected.done():
                    self.connected.set_result(None)
            elif command == "ERROR":
                message = wire.header(block, "message") or ""
                self.stats.error("ERROR %s %s" % (message, body))
                if self.connected is not None and not self.connected.done():
                    self.connected.set_exception(RuntimeError("ERROR: %s" % message))
                for callback in list(self.receipts.values()):
                    callback(False)
                self.receipts.clear()

    def _on_plain(self, text: str) -> None:
        if text == "A":
            # Acknowledgements come back in order: the oldest waiting request is answered.
            if self.receipts:
                rid = next(iter(self.receipts))
                self.receipts.pop(rid)(True)
        else:
            self.on_delivery(text, "")


# -- roles -------------------------------------------------------------------------------


async def open_clients(
    spec: Dict[str, Any], stats: Stats, subscribe: bool = True, clients: Optional[List[Client]] = None
) -> List[Client]:
    """Open every client of ``spec["clients"]`` with bounded concurrency, appending each
    to ``clients`` (a fresh list by default) as soon as it is open and subscribed."""
    target = spec["target"]
    sem = asyncio.Semaphore(spec.get("concurrency", 100))
    clients = [] if clients is None else clients

    async def one(entry: Dict[str, Any]) -> None:
        async with sem:
            client = Client(target, stats, entry["user"], entry.get("chats", []))
            await client.open()
            if subscribe:
                for destination in entry.get("dests", []):
                    await client.subscribe(destination)
            clients.append(client)

    await asyncio.gather(*(one(entry) for entry in spec["clients"]))
    return clients


def heart_beats(clients: List[Client], negotiated: str) -> "Optional[asyncio.Future[None]]":
    """Send the EOL heart-beats promised in CONNECT (STOMP 1.2 "Heart-beating"), at
    half the promised interval, on every connection; ``None`` when none were promised."""
    every_ms = int(negotiated.split(",")[0])
    if not every_ms:
        return None

    async def beat() -> None:
        while True:
            await asyncio.sleep(every_ms / 2000.0)
            for client in clients:
                if client.conn is not None:
                    client.conn.send_text("\n")

    return asyncio.ensure_future(beat())


async def run_publisher(spec: Dict[str, Any], stats: Stats, go: "asyncio.Future[Any]") -> Dict[str, Any]:
    """Publish as configured; returns the publisher's counters."""
    target = spec["target"]
    # One connection per shard: a user's JWT lists its chats, and a header is bounded
    # (8 KiB in nexus-tornado), so thousands of rooms need several publishing users.
    shards = spec.get("shards") or [
        {"user": spec["user"], "chats": spec.get("chats", []), "dests": spec["dests"],
         "chat_ids": spec.get("chat_ids")}
    ]
    routes: List[Any] = []  # (client, destination, body template) per destination
    clients: List[Client] = []
    for shard in shards:
        client = Client(target, stats, shard["user"], shard.get("chats", []))
        await client.open()
        if target["dialect"] == "stomp" and target.get("jwt_secret"):
            # Rejections arrive here (wire contract "Receipts and errors").
            await client.subscribe("/user/queue/errors")
        clients.append(client)
        chat_ids = shard.get("chat_ids") or ["0"] * len(shard["dests"])
        for dest, cid in zip(shard["dests"], chat_ids):
            routes.append((client, dest, body_template(shard["user"], cid, spec.get("body_size", 256))))
    rng = random.Random(1)
    counters: Dict[str, float] = {"sent": 0, "receipts": 0, "refused": 0}
    mode = spec["mode"]
    if mode != "count":
        emit({"event": "ready"})
        _, _, t_end = await go
    else:
        t_end = float("inf")
    window = asyncio.Semaphore(spec.get("window", 8))

    def tally(ok: bool) -> None:
        counters["receipts" if ok else "refused"] += 1

    def answered(ok: bool) -> None:
        tally(ok)
        window.release()

    on_receipt = tally if mode == "rate" else answered
    start = monotonic()
    k = 0
    while True:
        if mode == "count" and k >= spec["count"]:
            break
        if mode == "rate":
            when = start + k / spec["rate"]
            if when >= t_end:
                break
            delay = when - monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        else:
            await window.acquire()
            if monotonic() >= t_end:
                window.release()
                break
        client, dest, template = routes[rng.randrange(len(routes))] if len(routes) > 1 else routes[0]
        client.send(dest, template % stamp(), on_receipt)
        counters["sent"] += 1
        k += 1
    # Wait (briefly) for the last receipts.
    deadline = monotonic() + 10
    while counters["receipts"] + counters["refused"] < counters["sent"] and monotonic() < deadline:
        await asyncio.sleep(0.01)
    counters["elapsed"] = monotonic() - start
    for client in clients:
        client.close()
    return counters


async def run_storm(spec: Dict[str, Any], stats: Stats, go: "asyncio.Future[Any]") -> Dict[str, Any]:
    """All clients reconnect at once; time until each has caught up."""
    target = dict(spec["target"])
    expect = spec["expect"]
    target["storm_expect"] = expect
    destination = spec["destination"]
    emit({"event": "ready"})
    await go
    start = monotonic()
    times: List[float] = []
    failures: List[str] = []
    sem = asyncio.Semaphore(spec.get("concurrency", 250))
    loop = asyncio.get_running_loop()

    async def one(entry: Dict[str, Any]) -> None:
        client = Client(target, stats, entry["user"], entry.get("chats", []))
        done: asyncio.Future[None] = loop.create_future()
        got = [0]

        def counted(body: str, block: str) -> None:
            stats.total += 1
            got[0] += 1
            if got[0] >= expect and not done.done():
                done.set_result(None)

        client.on_delivery = counted
        try:
            async with sem:
                await client.open()
            client.subscribe_nowait(destination, spec["last_seq"])
            await asyncio.wait_for(done, spec.get("timeout", 60))
            times.append(monotonic() - start)
        except Exception as exc:  # noqa: BLE001 - reported, not raised
            failures.append("%s: %s" % (type(exc).__name__, exc))
        finally:
            client.close()

    await asyncio.gather(*(one(entry) for entry in spec["clients"]))
    return {
        "catchup_times": sorted(times),
        "elapsed": monotonic() - start,
        "failures": len(failures),
        "failure_sample": failures[:3],
    }


# -- process plumbing ------------------------------------------------------------------


def report(stats: Stats, out: Dict[str, Any]) -> Dict[str, Any]:
    """Add the counters of ``stats`` and this process's CPU time and peak RSS to ``out``."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    out.update(
        total=stats.total,
        window=stats.window,
        hist=stats.hist,
        errors=stats.errors,
        error_sample=stats.error_sample,
        closed=stats.closed,
        close_sample=stats.close_sample,
        cpu=usage.ru_utime + usage.ru_stime,
        maxrss_kb=usage.ru_maxrss,
    )
    return out


def emit(obj: Dict[str, Any]) -> None:
    """One JSON line to the driver."""
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def main_async() -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 26)  # the spec line lists every client
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    spec = json.loads(await reader.readline())
    role = spec["role"]
    stats = Stats()
    go: asyncio.Future[Any] = loop.create_future()
    stop: asyncio.Future[None] = loop.create_future()

    async def commands() -> None:
        while True:
            line = (await reader.readline()).decode().split()
            if not line or line[0] == "STOP":
                if not stop.done():
                    stop.set_result(None)
                return
            if line[0] == "GO":
                t0, t1, t_end = (float(x) for x in line[1:4])
                stats.t0, stats.t1 = t0, t1
                stats.window = 0
                stats.hist = {}
                if not go.done():
                    go.set_result((t0, t1, t_end))
            elif line[0] == "REPORT":
                emit(report(stats, {"event": "report"}))

    command_task = asyncio.ensure_future(commands())
    result: Dict[str, Any] = {"event": "result", "role": role, "pid": os.getpid()}
    clients: List[Client] = []
    try:
        if role in ("subscribers", "idle"):
            t = monotonic()
            # Beat from each connection's first moment: opening thousands can take longer
            # than the server waits for a beat.
            beating = heart_beats(clients, spec["target"].get("heart_beat", "0,0"))
            await open_clients(spec, stats, clients=clients)
            result["setup_seconds"] = monotonic() - t
            # The connections live for the whole run: keep the collector off them.
            gc.collect()
            gc.freeze()
            emit({"event": "ready", "clients": len(clients)})
            await stop
            if beating is not None:
                beating.cancel()
        elif role == "publisher":
            result.update(await run_publisher(spec, stats, go))
            if spec["mode"] != "count":
                await stop
        elif role == "storm":
            result.update(await run_storm(spec, stats, go))
            emit({"event": "done"})
            await stop
        else:
            raise ValueError("unknown role %r" % role)
    except Exception as exc:  # noqa: BLE001 - the driver reports it
        result["failed"] = "%s: %s" % (type(exc).__name__, exc)
    report(stats, result)
    emit(result)
    for client in clients:
        client.close()
    command_task.cancel()


def main() -> None:
    raise_fd_limit()
    # uvloop (a bench-only, optional dependency) roughly halves the event loop's cost
    # per message, which keeps one load-generator core ahead of a fast server.
    # NX_BENCH_UVLOOP=0 turns it off.
    try:
        import uvloop
    except ImportError:
        asyncio.run(main_async())
        return
    if os.environ.get("NX_BENCH_UVLOOP", "1") != "0":
        uvloop.run(main_async())
    else:
        asyncio.run(main_async())


if __name__ == "__main__":
    main()
