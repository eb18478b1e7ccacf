"""Per-user limits over several nexus-tornado processes on one MongoDB (nx-27017): the
SEND rate and the connection cap stay within 10% of the limit however many processes a
user spreads over, in bursts and paced, including the moment a user reaches a second
process. Real command processes and sockets; then MongoLimits itself on two process ids."""

from __future__ import annotations

import asyncio
import functools
import json
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterator, List

import pytest
import websocket
from support.clients import RawWsClient
from support.cluster import Cluster, cluster_mongo
from support.mongo import nx_server  # noqa: F401  (fixture)

from nexus_tornado.errors import Rejection
from nexus_tornado.policy.limits import SendRateLimiter

pytestmark = pytest.mark.mongo

LIMIT, CAP = 40, 6
#: Heartbeats at their default pace: nothing here may wait for one.
ARGS = ["--sends-per-minute", str(LIMIT), "--max-connections-per-user", str(CAP)]


@pytest.fixture(params=["nx27017", pytest.param("mongodb", id="mongodb")])
def trio(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cluster]:
    cluster = Cluster(tmp_path, cluster_mongo(request, request.param), 3, ARGS)
    try:
        yield cluster.start()
    finally:
        cluster.stop()


def body(n: int) -> bytes:
    return json.dumps({"type": "CHAT_MESSAGE", "timestamp": "2026-11-30T10:00:00Z", "senderId": "s",
                       "payload": {"chatId": "c", "content": "m%d" % n, "contentType": "TEXT"}}).encode()


def sender(cluster: Cluster, server: Any) -> RawWsClient:
    client = RawWsClient(server.ws_url)
    client.connect(cluster.token("s", chats=["c"]))
    client.subscribe_errors()
    return client


def outcome(client: RawWsClient, receipt: str) -> bool:
    """Whether the SEND with ``receipt`` was accepted (RECEIPT) or rate limited."""
    deadline = time.monotonic() + 30
    while True:
        for index, frame in enumerate(client.frames):
            if frame.headers.get("receipt-id") == receipt:
                del client.frames[index]
                if frame.command == "RECEIPT":
                    return True
                assert json.loads(frame.body)["error"] == "RATE_LIMITED", frame
                return False
        assert time.monotonic() < deadline, "no answer to %s" % receipt
        text = client._receive_text()
        if text:
            client._feed(text)


def burst(client: RawWsClient, tag: str, count: int) -> int:
    """Send ``count`` SENDs at once, then count those accepted."""
    for n in range(count):
        client.send_frame("SEND", {"destination": "/topic/chat/c", "receipt": "%s%d" % (tag, n)}, body(n))
    return sum(outcome(client, "%s%d" % (tag, n)) for n in range(count))


def in_threads(work: List[Callable[[], Any]]) -> List[Any]:
    results: List[Any] = [None] * len(work)
    errors: List[BaseException] = []

    def run(index: int) -> None:
        try:
            results[index] = work[index]()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(work))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors
    return results


def test_a_burst_over_three_processes_gets_the_limit_once(trio: Cluster) -> None:
    clients = [sender(trio, server) for server in trio.servers]
    try:
        accepted = in_threads([functools.partial(burst, c, "b%d-" % i, LIMIT) for i, c in enumerate(clients)])
        # Within 10%: over it by what a process admitted alone and had not reported,
        # under it by SENDs refused when processes raced on the log too often.
        assert LIMIT * 0.9 <= sum(accepted) <= LIMIT * 1.1, (accepted, trio.output())
    finally:
        for client in clients:
            client.close()


def test_paced_sends_as_a_user_reaches_more_processes_stay_at_the_limit(trio: Cluster) -> None:
    """On A alone first (the local path), then on B and C too, without waiting for any
    heartbeat: A's SENDs count on B and C, theirs on A."""
    a, b, c = trio.servers
    clients = [sender(trio, a)]
    try:
        first = sum(burst(clients[0], "a%d-" % n, 1) for n in range(LIMIT // 2 + 3))
        assert first == LIMIT // 2 + 3
        clients += [sender(trio, b), sender(trio, c)]
        later = 0
        for n in range(LIMIT):
            later += burst(clients[n % 3], "p%d-" % n, 1)
            time.sleep(0.01)
        assert LIMIT * 0.9 <= first + later <= LIMIT * 1.1, (first, later, trio.output())
    finally:
        for client in clients:
            client.close()


def test_the_connection_cap_holds_when_processes_take_a_user_at_once(trio: Cluster) -> None:
    opened: List[RawWsClient] = []
    lock = threading.Lock()

    def open_some(server: Any) -> int:
        accepted = 0
        for _ in range(CAP - 1):
            client = RawWsClient(server.ws_url)
            with lock:
                opened.append(client)
            client.send_frame("CONNECT", {"accept-version": "1.2", "host": "h", "heart-beat": "0,0",
                                          "passcode": trio.token("s")})
            deadline = time.monotonic() + 30
            while not client.frames:
                assert time.monotonic() < deadline
                text = client._receive_text()
                if text:
                    client._feed(text)
            frame = client.frames.pop(0)
            if frame.command == "CONNECTED":
                accepted += 1
            else:
                assert frame.headers["message"] == "too many connections", frame
        return accepted

    try:
        accepted = in_threads([functools.partial(open_some, s) for s in trio.servers])
        assert sum(accepted) == CAP, (accepted, trio.output())
        # A close frees a place on every process.
        for client in opened:
            try:
                client.close()
            except (OSError, websocket.WebSocketException):
                pass
        opened.clear()
        deadline = time.monotonic() + 30
        while True:  # the closes are uncounted in the background
            accepted = in_threads([functools.partial(open_some, s) for s in trio.servers])
            if sum(accepted) == CAP or time.monotonic() > deadline:
                break
            for client in opened:
                client.close()
            opened.clear()
            time.sleep(0.2)
        assert sum(accepted) == CAP, (accepted, trio.output())
    finally:
        for client in opened:
            client.close()


# -- MongoLimits itself: two process ids on one database ----------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def on_database(nx_uri: str, scenario: Callable[[Any], Awaitable[None]]) -> None:
    """Run ``scenario(database)`` on a database of its own (dropped after)."""
    from pymongo import AsyncMongoClient

    async def run() -> None:
        client: Any = AsyncMongoClient(nx_uri)
        name = "limits_" + uuid.uuid4().hex[:10]
        try:
            await scenario(client[name])
        finally:
            await client.drop_database(name)
            await client.close()

    asyncio.run(run())


def limits_pair(database: Any, limit: int, clock: Clock, slack: float = 0.05) -> List[Any]:
    from nexus_tornado.hub.mongo_limits import MongoLimits

    pair = []
    for name in ("A", "B"):
        limiter = SendRateLimiter(limit, 60.0, clock=clock)
        limits = MongoLimits(database, name, limiter, slack=slack, clock=clock)
        limiter.shared = limits
        pair.append(limits)
    return pair


async def admitted(limits: Any, count: int) -> int:
    accepted = 0
    for _ in range(count):
        try:
            await limits.limiter.admit("u")
            accepted += 1
        except Rejection as rejection:
            assert rejection.code == "RATE_LIMITED"
    return accepted


def test_a_dead_process_connections_are_taken_off_its_users(nx_server: Any) -> None:  # noqa: F811
    async def scenario(database: Any) -> None:
        a, b = limits_pair(database, 10, Clock())
        await a.start()
        assert [await a.connect("u", 3) for _ in range(3)] == [True, True, True]
        assert not await b.connect("u", 3)  # the cap, counted over both
        await b.maintain(["A"])  # A died
        assert await b.connect("u", 3)
        await b.maintain(["A"])  # once per dead process
        assert (await database.nexus_users.find_one({"_id": "u"}))["n"] == 1

    on_database(nx_server.uri, scenario)


def test_a_user_alone_is_admitted_locally_and_a_second_process_sees_what_was_reported(nx_server: Any) -> None:  # noqa: F811
    async def scenario(database: Any) -> None:
        clock = Clock()
        a, b = limits_pair(database, 20, clock, slack=0.25)
        assert a.report_every == 5
        assert await a.connect("u", 5) and not a.shared("u")
        assert await admitted(a, 12) == 12  # locally; reported at the 5th and 10th
        while a._tasks:
            await asyncio.sleep(0.01)
        reported = len((await database.nexus_users.find_one({"_id": "u"}))["log"])
        assert 10 <= reported <= 12  # every 5th SEND waits for a report; later ones go in the background
        assert await b.connect("u", 5) and b.shared("u")
        assert await admitted(b, 20) == 20 - reported  # A's reported SENDs count on B
        # A learns of B at its next report: past the limit by at most report_every.
        extra = await admitted(a, 10)
        assert a.shared("u") and 12 + (20 - reported) + extra <= 20 + a.report_every
        clock.now += 61  # the window passed: both admit again, through the shared log
        assert await admitted(a, 1) == 1 and await admitted(b, 1) == 1

    on_database(nx_server.uri, scenario)


class _Unreachable:
    """A database whose every operation fails as an unreachable MongoDB's does."""

    def __init__(self) -> None:
        self.calls = 0

    def get_collection(self, name: str) -> "_Unreachable":
        return self

    async def find_one(self, *args: Any, **kwargs: Any) -> Any:
        from pymongo.errors import AutoReconnect

        self.calls += 1
        raise AutoReconnect("connection refused")

    find_one_and_update = find_one


def test_sends_do_not_wait_for_a_mongodb_that_just_failed() -> None:
    from nexus_tornado.hub.mongo_limits import MongoLimits

    async def scenario() -> None:
        database = _Unreachable()
        clock = Clock()
        limiter = SendRateLimiter(3, 60.0, clock=clock)
        limits = MongoLimits(database, "A", limiter, timeout=1.0, clock=clock)
        limiter.shared = limits
        limits._shared.add("u")  # seen on another process
        await limiter.admit("u")  # MongoDB fails: counted on this process
        assert database.calls == 1
        await limiter.admit("u")
        await limiter.admit("u")
        assert database.calls == 1  # not asked again meanwhile
        with pytest.raises(Rejection):
            await limiter.admit("u")  # the local log still holds the limit
        clock.now += 1.0
        with pytest.raises(Rejection):
            await limiter.admit("u")
        assert database.calls == 2  # asked again once the pause is over

    asyncio.run(scenario())
