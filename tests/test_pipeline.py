"""Message handlers and after-store listeners, through a real server on loopback.

Each path of :mod:`nexus_tornado.pipeline`: accept, transform, refuse, fail
(raise, time out, refuse with a code that is not the contract's), ``seq`` order per
destination while other connections go on, and listeners after the store.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from typing import Any, Callable, Dict, Iterator, List

import pytest
from support.clients import RawWsClient, chat_envelope
from support.nexus import NexusServer, running_nexus
from support.stores import RecordingStore

from nexus_tornado.errors import ConfigError, Rejection
from nexus_tornado.hub.hub import Hub
from nexus_tornado.pipeline import Inbound, MessagePipeline, StoredEvent
from nexus_tornado.policy.principal import Principal

CHAT = "/topic/chat/c1"


def serve(setup: Callable[[Any], None], **overrides: Any) -> Any:
    """A server whose plugin ``setup(plugin)`` registered handlers on before start."""

    def urls(plugin: Any) -> List[Any]:
        setup(plugin)
        return []

    return running_nexus(extra_urls=urls, **overrides)


def client_of(nexus: NexusServer, user: str = "ann", chats: Any = ("c1", "c2")) -> RawWsClient:
    client = RawWsClient(nexus.ws_url)
    client.connect(nexus.token(user, chats=list(chats)))
    client.subscribe_errors()
    return client


def stored(nexus: NexusServer, destination: str = CHAT) -> List[Any]:
    return nexus.run(lambda: nexus.plugin.store.read_after(destination, 0, 100))


def test_a_handler_sees_principal_destination_and_envelope_and_accepts() -> None:
    seen: List[Inbound] = []

    def setup(plugin: Any) -> None:
        @plugin.handler("CHAT_MESSAGE", destination="/topic/chat/{chatId}")
        async def record(inbound: Inbound) -> None:
            seen.append(inbound)

        @plugin.handler("BOARD_UPDATE")
        async def never(inbound: Inbound) -> None:  # another type: not called
            raise AssertionError("called for a chat message")

    with serve(setup) as nexus:
        client = client_of(nexus)
        client.subscribe("chat", CHAT)
        body = chat_envelope("ann", "c1", "hello")
        client.send_frame("SEND", {"destination": CHAT, "receipt": "r1"}, body)
        client.expect("RECEIPT", receipt_id="r1")
        message = client.expect("MESSAGE", subscription="chat")
        assert message.body == body  # accepted as sent, byte for byte
        assert message.headers["seq"] == "1"
        client.close()
    [inbound] = seen
    assert inbound.principal.user_id == "ann"
    assert inbound.destination == CHAT
    assert inbound.ids == {"chatId": "c1"}
    assert inbound.type == "CHAT_MESSAGE"
    assert inbound.message == json.loads(body)
    assert inbound.headers["destination"] == CHAT


def test_handlers_transform_the_message_in_turn() -> None:
    def setup(plugin: Any) -> None:
        @plugin.handler("CHAT_MESSAGE", destination="/topic/chat/*")
        async def normalise(inbound: Inbound) -> Dict[str, Any]:
            message = dict(inbound.message)
            message["timestamp"] = "2026-01-01T00:00:00Z"
            return message

        @plugin.handler("CHAT_MESSAGE")
        async def enrich(inbound: Inbound) -> None:
            # Changed in place and not returned: kept as well.
            inbound.message["payload"]["length"] = len(inbound.message["payload"]["content"])
            assert inbound.message["timestamp"] == "2026-01-01T00:00:00Z"  # the previous result

    with serve(setup) as nexus:
        client = client_of(nexus)
        client.subscribe("chat", CHAT)
        client.send_frame("SEND", {"destination": CHAT, "receipt": "r1"}, chat_envelope("ann", "c1", "héllo"))
        client.expect("RECEIPT", receipt_id="r1")
        delivered = json.loads(client.expect("MESSAGE", subscription="chat").body)
        client.close()
        [kept] = stored(nexus)
    assert delivered["timestamp"] == "2026-01-01T00:00:00Z"
    assert delivered["payload"] == {"chatId": "c1", "content": "héllo", "contentType": "TEXT", "length": 5}
    assert json.loads(kept.body) == delivered


def test_a_refusal_reaches_the_sender_as_a_rejection_and_nothing_is_stored() -> None:
    def setup(plugin: Any) -> None:
        @plugin.handler("CHAT_MESSAGE")
        async def closed_rooms(inbound: Inbound) -> None:
            if inbound.message["payload"]["content"].startswith("!"):
                raise Rejection("INVALID_MESSAGE", "commands are not allowed here", {"chatId": "c1", "rule": "no-commands"})

    with serve(setup) as nexus:
        client = client_of(nexus)
        client.subscribe("chat", CHAT)
        client.send_frame("SEND", {"destination": CHAT, "receipt": "bad"}, chat_envelope("ann", "c1", "!kick bob"))
        frame, error = client.rejection()
        assert frame.headers["receipt-id"] == "bad"
        assert error["error"] == "INVALID_MESSAGE"
        assert error["message"] == "commands are not allowed here"
        assert error["details"] == {"chatId": "c1", "rule": "no-commands"}
        assert re.fullmatch(r"[0-9a-f]{16}", error["trackingId"])
        # Non-fatal: the connection goes on, and the next message is the first stored.
        client.send_frame("SEND", {"destination": CHAT, "receipt": "good"}, chat_envelope("ann", "c1", "hi"))
        client.expect("RECEIPT", receipt_id="good")
        assert client.expect("MESSAGE", subscription="chat").headers["seq"] == "1"
        assert not any(f.headers.get("receipt-id") == "bad" for f in client.frames if f.command == "RECEIPT")
        client.close()
        assert [json.loads(m.body)["payload"]["content"] for m in stored(nexus)] == ["hi"]


@pytest.mark.parametrize(
    "behaviour, logged",
    [
        ("raise", "handler .*explode raised RuntimeError"),
        ("hang", "handler .*explode took longer than 0.3 s"),
        ("bad-code", "handler .*explode refused with code SERVER_ERROR, not one of FORBIDDEN"),
        ("not-a-message", "handler .*explode returned 'list', not a message"),
    ],
)
def test_a_failing_handler_gives_server_error_and_stores_nothing(
    behaviour: str, logged: str, caplog: pytest.LogCaptureFixture
) -> None:
    def setup(plugin: Any) -> None:
        @plugin.handler("CHAT_MESSAGE")
        async def explode(inbound: Inbound) -> Any:
            if behaviour == "raise":
                raise RuntimeError("database is on fire")
            if behaviour == "hang":
                await asyncio.sleep(3600)
            if behaviour == "bad-code":
                raise Rejection("SERVER_ERROR", "refusing with the server's own code")
            return ["not", "a", "message"]

    caplog.set_level(logging.ERROR, logger="nexus_tornado.glue.connection")
    with serve(setup, handler_timeout=0.3) as nexus:
        client = client_of(nexus)
        client.subscribe("chat", CHAT)
        client.send_frame("SEND", {"destination": CHAT, "receipt": "r1"}, chat_envelope("ann", "c1"))
        frame, error = client.rejection()
        assert error["error"] == "SERVER_ERROR"
        assert frame.headers["receipt-id"] == "r1"
        tid = error["trackingId"]
        assert "database is on fire" not in frame.body.decode()
        # The connection stays, and the destination is not stuck.
        client.send_frame("SUBSCRIBE", {"id": "c2", "destination": "/topic/chat/c2", "receipt": "s2"})
        client.expect("RECEIPT", receipt_id="s2")
        client.close()
        assert stored(nexus) == []
    [record] = [r for r in caplog.records if tid in r.getMessage()]
    assert record.exc_info is not None
    assert re.search(logged, str(record.exc_info[1]))


def test_one_destination_keeps_arrival_order_while_others_go_on() -> None:
    order: List[str] = []
    gates: Dict[str, asyncio.Event] = {}

    def setup(plugin: Any) -> None:
        @plugin.handler("CHAT_MESSAGE", destination="/topic/chat/slow")
        async def slow(inbound: Inbound) -> None:
            content = inbound.message["payload"]["content"]
            order.append("start " + content)
            if content == "first":
                gates["first"] = asyncio.Event()
                await gates["first"].wait()
            order.append("end " + content)

    with serve(setup) as nexus:
        first = client_of(nexus, "ann", ["slow"])
        second = client_of(nexus, "bob", ["slow"])
        other = client_of(nexus, "cy", ["fast"])
        first.subscribe("s", "/topic/chat/slow")
        first.send_frame("SEND", {"destination": "/topic/chat/slow", "receipt": "f"}, chat_envelope("ann", "slow", "first"))
        while "first" not in gates:  # the first handler is running and blocked
            nexus.run(lambda: asyncio.sleep(0.01))
        second.send_frame("SEND", {"destination": "/topic/chat/slow", "receipt": "s"}, chat_envelope("bob", "slow", "second"))
        # Another connection, another destination: served while the slow handler waits.
        other.send_frame("SEND", {"destination": "/topic/chat/fast", "receipt": "o"}, chat_envelope("cy", "fast", "meanwhile"))
        other.expect("RECEIPT", receipt_id="o")
        assert order == ["start first"]  # the second waits for the first to finish
        nexus.handle.call(lambda: gates["first"].set())
        first.expect("RECEIPT", receipt_id="f")
        second.expect("RECEIPT", receipt_id="s")
        seqs = [first.expect("MESSAGE", subscription="s") for _ in range(2)]
        assert [(json.loads(m.body)["payload"]["content"], m.headers["seq"]) for m in seqs] == [("first", "1"), ("second", "2")]
        assert order == ["start first", "end first", "start second", "end second"]
        for c in (first, second, other):
            c.close()


def test_after_store_listeners_get_the_seq_and_run_in_order_and_failures_are_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    events: List[StoredEvent] = []

    def setup(plugin: Any) -> None:
        @plugin.after_store("CHAT_MESSAGE", destination="/topic/chat/{chatId}")
        async def notify_mentions(event: StoredEvent) -> None:
            events.append(event)
            await asyncio.sleep(0)  # async listeners are awaited, one message at a time
            for word in event.message["payload"]["content"].split():  # type: ignore[index]
                if word.startswith("@"):
                    await plugin.notify(word[1:], {"type": "NOTIFICATION", "timestamp": "2026-01-01T00:00:00Z",
                                                  "payload": {"notificationType": "MENTION", "title": "mentioned",
                                                              "message": "seq %d in %s" % (event.seq, event.ids["chatId"])}})

        @plugin.after_store("CHAT_MESSAGE")
        def broken(event: StoredEvent) -> None:  # plain functions work too
            raise KeyError("no such table")

    caplog.set_level(logging.ERROR, logger="nexus_tornado.pipeline")
    with serve(setup) as nexus:
        bob = client_of(nexus, "bob")
        bob.subscribe("inbox", "/topic/notifications/bob")
        ann = client_of(nexus)
        for i, text in enumerate(["one", "two @bob", "three"]):
            ann.send_frame("SEND", {"destination": CHAT, "receipt": "r%d" % i}, chat_envelope("ann", "c1", text))
        notification = json.loads(bob.expect("MESSAGE", subscription="inbox").body)
        assert notification["payload"]["message"] == "seq 2 in c1"
        # Server-side publishing reaches listeners too (no principal then).
        nexus.run(lambda: nexus.plugin.publish(CHAT, chat_envelope("system", "c1", "from the app")))
        nexus.run(lambda: asyncio.sleep(0.05))
        while len(events) < 4 or not nexus.plugin.pipeline.idle:
            nexus.run(lambda: asyncio.sleep(0.02))
        for c in (ann, bob):
            c.close()
        failures = nexus.plugin.pipeline.listener_failures
    assert [(e.seq, e.principal.user_id if e.principal else None) for e in events] == [
        (1, "ann"), (2, "ann"), (3, "ann"), (4, None)]
    assert events[1].stored.destination == CHAT and events[1].type == "CHAT_MESSAGE"
    assert failures == 4
    logged = [r for r in caplog.records if "broken failed on /topic/chat/c1 seq" in r.getMessage()]
    assert len(logged) == 4
    assert all(re.search(r"\[trackingId=[0-9a-f]{16}\]", r.getMessage()) and r.exc_info for r in logged)


def test_registration_errors_are_config_errors() -> None:
    with running_nexus() as nexus:
        with pytest.raises(ConfigError):
            nexus.plugin.add_handler("not callable")  # type: ignore[arg-type]
        with pytest.raises(ConfigError):
            nexus.plugin.add_listener(lambda e: None, destination="topic/no-slash")


def test_a_message_type_of_the_host_app_end_to_end() -> None:
    def setup(plugin: Any) -> None:
        plugin.services.guard.acl.add_rule(
            "/topic/project/{projectId}",
            subscribe=lambda principal, projectId: projectId in principal.claims.get("projects", []),
            send=lambda principal, projectId: projectId in principal.claims.get("projects", []),
        )
        plugin.add_message_type(
            "TASK_COMMENT",
            destinations=["/topic/project/{projectId}"],
            fields={"senderId": {"required": True}, "payload": {"schema": {
                "projectId": {"type": "string", "required": True, "check_with": "identifier"},
                "text": {"type": "string", "required": True, "empty": False, "maxlength": 500}}}},
            senders=["member"],
        )

        @plugin.handler("TASK_COMMENT", destination="/topic/project/{projectId}")
        async def stamp(inbound: Inbound) -> Dict[str, Any]:
            inbound.message["payload"]["project"] = inbound.ids["projectId"].upper()
            return inbound.message

    def comment(user: str, text: str) -> bytes:
        return json.dumps({"type": "TASK_COMMENT", "timestamp": "2026-11-25T10:00:00Z", "senderId": user,
                           "payload": {"projectId": "p1", "text": text}}).encode()

    with serve(setup) as nexus:
        member = RawWsClient(nexus.ws_url)
        member.connect(nexus.token("ann", roles=["member"], projects=["p1"]))
        member.subscribe_errors()
        member.subscribe("p", "/topic/project/p1")
        guest = RawWsClient(nexus.ws_url)
        guest.connect(nexus.token("gus", projects=["p1"]))
        guest.subscribe_errors()
        member.send_frame("SEND", {"destination": "/topic/project/p1", "receipt": "ok"}, comment("ann", "ship it"))
        member.expect("RECEIPT", receipt_id="ok")
        delivered = json.loads(member.expect("MESSAGE", subscription="p").body)
        assert delivered["payload"] == {"projectId": "p1", "text": "ship it", "project": "P1"}
        member.send_frame("SEND", {"destination": "/topic/project/p1", "receipt": "long"}, comment("ann", "x" * 501))
        assert member.rejection()[1]["details"]["errors"] == {"payload.text": ["max length is 500"]}
        guest.send_frame("SEND", {"destination": "/topic/project/p1", "receipt": "g"}, comment("gus", "me too"))
        _, refused = guest.rejection()
        assert (refused["error"], refused["details"]) == ("FORBIDDEN", {"destination": "/topic/project/p1", "type": "TASK_COMMENT"})
        member.close()
        guest.close()
        assert len(stored(nexus, "/topic/project/p1")) == 1


def test_a_full_listener_backlog_holds_the_publisher_and_drops_nothing() -> None:
    seen: List[int] = []
    gate: Dict[str, asyncio.Event] = {}

    def setup(plugin: Any) -> None:
        @plugin.after_store("CHAT_MESSAGE")
        async def slow(event: StoredEvent) -> None:
            if "open" not in gate:
                gate["open"] = asyncio.Event()
            await gate["open"].wait()
            seen.append(event.seq)

    with serve(setup, listener_backlog=1) as nexus:
        client = client_of(nexus)
        client.subscribe("chat", CHAT)
        client.send_frame("SEND", {"destination": CHAT, "receipt": "r1"}, chat_envelope("ann", "c1", "one"))
        client.expect("RECEIPT", receipt_id="r1")
        client.send_frame("SEND", {"destination": CHAT, "receipt": "r2"}, chat_envelope("ann", "c1", "two"))
        # Stored and delivered, but its sender waits: two listener calls, a backlog of one.
        assert client.expect("MESSAGE", subscription="chat").headers["seq"] == "1"
        assert client.expect("MESSAGE", subscription="chat").headers["seq"] == "2"
        pipeline = nexus.plugin.pipeline
        assert nexus.handle.call(lambda: pipeline._pending) == 2
        assert nexus.handle.call(lambda: [c.busy for c in nexus.plugin.services.connections]) == [True]
        assert not any(f.command == "RECEIPT" for f in client.frames)
        nexus.handle.call(lambda: gate["open"].set())
        client.expect("RECEIPT", receipt_id="r2")
        while len(seen) < 2:
            nexus.run(lambda: asyncio.sleep(0.02))
        client.close()
    assert seen == [1, 2]


def _board_update(sender: str, size: int) -> bytes:
    return json.dumps({"type": "BOARD_UPDATE", "timestamp": "2026-11-25T10:00:00Z", "senderId": sender,
                       "payload": {"boardId": "b1", "action": "add", "data": {"text": "x" * size}}}).encode()


def test_the_listener_backlog_is_bounded_in_bytes_and_publishers_wait_before_storing() -> None:
    """Twenty 58 KB messages from twenty connections at once behind a stuck listener, with
    room for three: three are stored and queued, the others wait unstored (not queued
    with their parsed copies), and all go through, in order, once the listener moves."""
    seen: List[int] = []
    gate: Dict[str, asyncio.Event] = {}

    def setup(plugin: Any) -> None:
        @plugin.after_store("BOARD_UPDATE")
        async def slow(event: StoredEvent) -> None:
            if "open" not in gate:
                gate["open"] = asyncio.Event()
            await gate["open"].wait()
            seen.append(event.seq)

    size = 58 * 1024
    board = "/topic/board/b1"
    with serve(setup, listener_backlog_bytes=3 * size + 3000) as nexus:
        pipeline = nexus.plugin.pipeline
        clients = [RawWsClient(nexus.ws_url) for _ in range(20)]
        for i, client in enumerate(clients):
            client.connect(nexus.token("u%d" % i, boards=["b1"]))
            client.send_frame("SEND", {"destination": board, "receipt": "r"}, _board_update("u%d" % i, size))
        deadline = time.monotonic() + 30
        while nexus.handle.call(lambda: pipeline.pending + pipeline.waiting) < 20:
            assert time.monotonic() < deadline, "the SENDs never all arrived"
            time.sleep(0.02)
        assert nexus.handle.call(lambda: pipeline.pending) == 3
        assert nexus.handle.call(lambda: pipeline.waiting) == 17
        assert nexus.handle.call(lambda: pipeline.pending_bytes) <= 3 * size + 3000
        assert len(stored(nexus, board)) == 3
        nexus.handle.call(lambda: gate["open"].set())
        for client in clients:
            client.expect("RECEIPT", receipt_id="r")
            client.close()
        while len(seen) < 20:
            nexus.run(lambda: asyncio.sleep(0.02))
        assert nexus.handle.call(lambda: (pipeline.pending, pipeline.pending_bytes)) == (0, 0)
    assert seen == list(range(1, 21))


def test_listener_calls_cut_off_by_shutdown_are_logged_and_cancelled(caplog: pytest.LogCaptureFixture) -> None:
    cancelled: List[int] = []

    def setup(plugin: Any) -> None:
        @plugin.after_store("CHAT_MESSAGE")
        async def stuck(event: StoredEvent) -> None:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                cancelled.append(event.seq)
                raise

    caplog.set_level(logging.ERROR, logger="nexus_tornado.host.plugin")
    with serve(setup) as nexus:
        client = client_of(nexus)
        for i in range(3):
            client.send_frame("SEND", {"destination": CHAT, "receipt": "r%d" % i}, chat_envelope("ann", "c1"))
            client.expect("RECEIPT", receipt_id="r%d" % i)
        client.close()
        nexus.run(lambda: nexus.plugin.close(drain_seconds=0.1))
    [record] = [r for r in caplog.records if "listener calls unfinished" in r.getMessage()]
    assert "closing with 3 after-store listener calls unfinished" in record.getMessage()
    assert "stuck(/topic/chat/c1 seq 1), " in record.getMessage()
    assert "stuck(/topic/chat/c1 seq 2), " in record.getMessage()
    assert "stuck(/topic/chat/c1 seq 3)" in record.getMessage()
    # The running call is cancelled, the waiting ones dropped: no task outlives the close.
    assert cancelled == [1]
    assert nexus.plugin.pipeline.idle and nexus.plugin.pipeline.pending_bytes == 0


def _chat(content: str, chat: str = "c1") -> Dict[str, Any]:
    return json.loads(chat_envelope("ann", chat, content))


@pytest.mark.gen_test
async def test_publish_many_stores_in_one_call_and_listeners_follow_in_order() -> None:
    store = RecordingStore()
    pipeline = MessagePipeline(Hub(store))
    events: List[Any] = []
    pipeline.add_listener(lambda event: events.append((event.destination, event.seq, event.message["payload"]["content"])))
    given = [(CHAT, _chat("a"), None, None), ("/topic/chat/c2", _chat("b", "c2"), None, None),
             (CHAT, _chat("c"), b'{"type":"CHAT"}', None)]

    outcomes = await pipeline.publish_many(Principal("ann"), given)

    assert store.calls == [3]
    assert [(o.destination, o.seq) for o in outcomes] == [(CHAT, 1), ("/topic/chat/c2", 1), (CHAT, 2)]
    assert outcomes[2].body == b'{"type":"CHAT"}'  # the body as received, when given
    while not pipeline.idle:
        await asyncio.sleep(0.01)
    # Each destination's listener calls in seq order (destinations go on side by side).
    assert [e for e in events if e[0] == CHAT] == [(CHAT, 1, "a"), (CHAT, 2, "c")]
    assert [e for e in events if e[0] != CHAT] == [("/topic/chat/c2", 1, "b")]
    assert pipeline.pending_bytes == 0


@pytest.mark.gen_test
async def test_publish_many_with_a_handler_or_a_document_goes_one_at_a_time() -> None:
    store = RecordingStore()
    pipeline = MessagePipeline(Hub(store))
    seen: List[str] = []

    async def handler(inbound: Inbound) -> None:
        seen.append(inbound.message["payload"]["content"])

    pipeline.add_handler(handler, destination="/topic/chat/c2")
    handled = [(CHAT, _chat("a"), None, None), ("/topic/chat/c2", _chat("b", "c2"), None, None)]
    assert [o.seq for o in await pipeline.publish_many(Principal("ann"), handled)] == [1, 1]
    assert store.calls == [1, 1] and seen == ["b"]

    document = [(CHAT, _chat("c"), None, None), ("/topic/doc/d1", _chat("d"), None, None)]
    outcomes = await pipeline.publish_many(Principal("ann"), document)
    assert outcomes[0].seq == 2 and isinstance(outcomes[1], Rejection) and outcomes[1].code == "INVALID_MESSAGE"
    assert store.calls == [1, 1, 1]
