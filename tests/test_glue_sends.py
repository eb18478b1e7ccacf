"""SENDs waiting together are stored together and answered in order, through a real
server on loopback.

The frames of each test travel in one WebSocket message, so they wait together when
the connection gets to them: what one run of SENDs does (nexus_tornado/glue/sends.py)
is then exactly determined. The store is the in-memory one, recording how many
messages each call to it carried.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from typing import Any, Iterator, List, Optional, Tuple

from support.clients import RawWsClient, chat_envelope, closing_new_clients, frame_bytes
from support.nexus import NexusServer, running_nexus
from support.stores import RecordingStore


CHAT = "/topic/chat/c1"


def send(receipt: str, body: Optional[bytes] = None, destination: str = CHAT) -> str:
    headers = {"destination": destination, "content-type": "application/json", "receipt": receipt}
    chat = destination.rsplit("/", 1)[-1]
    return frame_bytes("SEND", headers, body if body is not None else chat_envelope("ann", chat, receipt)).decode()


def invalid(receipt: str) -> str:
    return send(receipt, b'{"type": "CHAT"}')


def answers(client: RawWsClient, count: int, timeout: float = 10.0) -> List[Tuple[str, ...]]:
    """The next ``count`` frames in arrival order (fewer if the server closes), each as
    ``(command, receipt)``; an error report on the errors queue as ``("REPORT",
    receipt, code)``."""
    deadline = time.monotonic() + timeout
    out: List[Tuple[str, ...]] = []
    while len(out) < count:
        if client.frames:
            frame = client.frames.pop(0)
            receipt = frame.headers.get("receipt-id", "")
            if frame.command == "MESSAGE":
                out.append(("REPORT", receipt, json.loads(frame.body)["error"]))
            elif frame.command == "ERROR":
                out.append(("ERROR", receipt, frame.headers.get("code", "")))
            else:
                out.append((frame.command, receipt))
            continue
        assert time.monotonic() < deadline, "only %r within %gs" % (out, timeout)
        text = client._receive_text()
        if text is None:
            break
        client._feed(text)
    return out


@contextlib.contextmanager
def serving(**overrides: Any) -> Iterator[Tuple[RecordingStore, NexusServer]]:
    """A server on a :class:`RecordingStore`; the clients opened meanwhile are closed
    before it stops."""
    store = RecordingStore()
    with running_nexus(store_factory=lambda: store, **overrides) as nexus, closing_new_clients():
        yield store, nexus


def client_of(nexus: NexusServer, errors: bool = True) -> RawWsClient:
    client = RawWsClient(nexus.ws_url)
    client.connect(nexus.token("ann", chats=["c1", "c2"]))
    if errors:
        client.subscribe_errors()
    return client


def bodies(nexus: NexusServer, destination: str = CHAT) -> List[str]:
    stored = nexus.run(lambda: nexus.plugin.store.read_after(destination, 0, 1000))
    assert [m.seq for m in stored] == list(range(1, len(stored) + 1))
    return [json.loads(m.body)["payload"]["content"] for m in stored]


def test_sends_waiting_together_are_stored_in_one_call_and_receipted_in_order() -> None:
    with serving() as (store, nexus):
        reader = client_of(nexus)
        reader.subscribe("s", CHAT)
        client = client_of(nexus)
        client.send_raw("".join(send("r%d" % i) for i in range(30)))
        assert answers(client, 30) == [("RECEIPT", "r%d" % i) for i in range(30)]
        assert store.calls == [30]
        assert bodies(nexus) == ["r%d" % i for i in range(30)]
        got = [reader.expect("MESSAGE", subscription="s") for _ in range(30)]
        assert [int(m.headers["seq"]) for m in got] == list(range(1, 31))


def test_a_run_stops_at_any_other_frame_and_answers_keep_the_frames_order() -> None:
    with serving() as (store, nexus):
        client = client_of(nexus)
        other = "/topic/chat/c2"
        subscribe = frame_bytes("SUBSCRIBE", {"id": "s", "destination": other, "receipt": "sub"}).decode()
        client.send_raw(send("a0") + send("a1", destination=other) + subscribe + send("b0") + send("b1"))
        assert answers(client, 5) == [("RECEIPT", r) for r in ("a0", "a1", "sub", "b0", "b1")]
        assert store.calls == [2, 2]  # one run over two destinations, the SUBSCRIBE, one more
        assert bodies(nexus) == ["a0", "b0", "b1"] and bodies(nexus, other) == ["a1"]


def test_a_refused_send_is_answered_in_its_place_and_the_others_are_stored() -> None:
    with serving() as (store, nexus):
        client = client_of(nexus)
        client.send_raw(send("r0") + invalid("r1") + send("r2") + invalid("r3"))
        assert answers(client, 4) == [
            ("RECEIPT", "r0"), ("REPORT", "r1", "INVALID_MESSAGE"),
            ("RECEIPT", "r2"), ("REPORT", "r3", "INVALID_MESSAGE"),
        ]
        assert store.calls == [2]
        assert bodies(nexus) == ["r0", "r2"]


def test_without_an_errors_subscription_nothing_after_the_refused_send_is_stored() -> None:
    """Its ERROR ends the session: the SENDs before it are stored and receipted first,
    those after it (in the same run) are never taken."""
    with serving() as (store, nexus):
        client = client_of(nexus, errors=False)
        client.send_raw(send("r0") + send("r1") + invalid("r2") + send("r3") + send("r4"))
        assert answers(client, 5) == [("RECEIPT", "r0"), ("RECEIPT", "r1"), ("ERROR", "r2", "INVALID_MESSAGE")]
        assert client.wait_closed() == 1000
        assert bodies(nexus) == ["r0", "r1"]
        assert store.calls == [2]


def test_the_rate_limit_counts_each_send_of_a_run() -> None:
    with serving(sends_per_minute=3) as (store, nexus):
        client = client_of(nexus)
        client.send_raw("".join(send("r%d" % i) for i in range(5)))
        assert answers(client, 5) == [("RECEIPT", "r0"), ("RECEIPT", "r1"), ("RECEIPT", "r2"),
                                      ("REPORT", "r3", "RATE_LIMITED"), ("REPORT", "r4", "RATE_LIMITED")]
        assert bodies(nexus) == ["r0", "r1", "r2"]


def test_a_store_failure_is_reported_for_each_send_of_the_run_and_the_connection_stays() -> None:
    with serving() as (store, nexus):
        client = client_of(nexus)
        store.down = True
        client.send_raw("".join(send("r%d" % i) for i in range(3)))
        assert answers(client, 3) == [("REPORT", "r%d" % i, "UNAVAILABLE") for i in range(3)]
        store.down = False
        client.send_raw(send("r3") + send("r4"))
        assert answers(client, 2) == [("RECEIPT", "r3"), ("RECEIPT", "r4")]
        assert bodies(nexus) == ["r3", "r4"]


def test_without_an_errors_subscription_every_send_the_store_took_is_receipted_before_the_error() -> None:
    """The store refused one SEND of a run and took the later ones: they are stored, so
    they are receipted, before the ERROR that ends the session."""
    with serving() as (store, nexus):
        store.refuse = [b'"r1"']
        client = client_of(nexus, errors=False)
        client.send_raw("".join(send("r%d" % i) for i in range(4)))
        assert answers(client, 5) == [("RECEIPT", "r0"), ("RECEIPT", "r2"), ("RECEIPT", "r3"),
                                      ("ERROR", "r1", "UNAVAILABLE")]
        assert client.wait_closed() == 1000
        assert bodies(nexus) == ["r0", "r2", "r3"]


def test_a_failure_of_ours_storing_a_run_is_a_server_error_for_each_send_of_it() -> None:
    with serving() as (store, nexus):
        client = client_of(nexus)
        store.broken = True
        client.send_raw("".join(send("r%d" % i) for i in range(3)))
        assert answers(client, 3) == [("REPORT", "r%d" % i, "SERVER_ERROR") for i in range(3)]
        store.broken = False
        client.send_raw(send("r3") + send("r4"))
        assert answers(client, 2) == [("RECEIPT", "r3"), ("RECEIPT", "r4")]
        assert bodies(nexus) == ["r3", "r4"]


def test_sends_to_a_destination_with_a_handler_go_one_at_a_time() -> None:
    seen: List[str] = []

    async def handler(inbound: Any) -> None:
        seen.append(inbound.message["payload"]["content"])

    def urls(plugin: Any) -> List[Any]:
        plugin.add_handler(handler, destination="/topic/chat/c1")
        return []

    with serving(extra_urls=urls) as (store, nexus):
        client = client_of(nexus)
        client.send_raw("".join(send("r%d" % i) for i in range(4)) + send("x", destination="/topic/chat/c2")
                        + send("y", destination="/topic/chat/c2"))
        assert answers(client, 6) == [("RECEIPT", r) for r in ("r0", "r1", "r2", "r3", "x", "y")]
        assert seen == ["r0", "r1", "r2", "r3"]
        assert store.calls == [1, 1, 1, 1, 2]
        assert bodies(nexus) == ["r0", "r1", "r2", "r3"]


def test_a_shutdown_out_of_time_drops_the_sends_of_a_run_not_stored_yet() -> None:
    """The shutdown closes the connection while a run is still being checked: none of
    it is stored (stored, it could only go without a RECEIPT, and be sent again)."""
    with serving() as (store, nexus):
        guard = nexus.plugin.services.guard
        admit, held, release = guard.admit_send, threading.Event(), asyncio.Event()

        async def slow_admit(principal: Any, destination: str, body: bytes, *args: Any, **kwargs: Any) -> Any:
            if b'"r1"' in body:
                held.set()
                await release.wait()
            return await admit(principal, destination, body, *args, **kwargs)

        guard.admit_send = slow_admit
        client = client_of(nexus)
        client.send_raw(send("r0") + send("r1") + send("r2"))
        assert held.wait(10)
        nexus.run(lambda: nexus.plugin.close(drain_seconds=0.3))
        nexus.handle.call(release.set)
        assert client.wait_closed() == 1001
        time.sleep(0.2)  # the run goes on after the release, if it would
        assert nexus.run(lambda: store.read_after(CHAT, 0, 10)) == []
        assert [f.command for f in client.frames] == []  # no RECEIPT for any of them
