"""The message-type table on the wire: each type's required fields, payload and rules.

For every row of the seed's "Message Type Specifications" a valid message is accepted
(RECEIPT, and delivered), and each rule broken is refused with ``INVALID_MESSAGE`` naming
the field, on the sender's ``/user/queue/errors``, with the connection left open and the
refused message never delivered.
"""

from __future__ import annotations

import json
from typing import Any, Dict, Iterator, List, Tuple

import pytest

from support.clients import RawWsClient, chat_envelope
from support.cost import CallCounter
from support.nexus import NexusServer, running_nexus

TIMESTAMP = "2026-11-25T10:00:00Z"
USER = "writer"
CLAIMS: Dict[str, Any] = {"chats": ["c1"], "boards": ["b1"]}


@pytest.fixture(scope="module")
def nexus() -> Iterator[NexusServer]:
    # One writer sends every case; the rate limit is tested elsewhere.
    with running_nexus(sends_per_minute=10_000) as server:
        yield server


def chat(**payload: Any) -> Dict[str, Any]:
    body = {"chatId": "c1", "content": "hello", "contentType": "TEXT"}
    body.update(payload)
    return {"type": "CHAT_MESSAGE", "timestamp": TIMESTAMP, "senderId": USER, "payload": body}


def notification(**payload: Any) -> Dict[str, Any]:
    body = {"notificationType": "REMINDER", "title": "Stand-up", "message": "at ten"}
    body.update(payload)
    return {"type": "NOTIFICATION", "timestamp": TIMESTAMP, "payload": body}


def status(**payload: Any) -> Dict[str, Any]:
    body = {"entityId": "t1", "entityType": "task", "status": "DONE"}
    body.update(payload)
    return {"type": "STATUS_UPDATE", "timestamp": TIMESTAMP, "payload": body}


def board(**payload: Any) -> Dict[str, Any]:
    body: Dict[str, Any] = {"boardId": "b1", "action": "move", "data": {"card": 7, "to": "done"}}
    body.update(payload)
    return {"type": "BOARD_UPDATE", "timestamp": TIMESTAMP, "senderId": USER, "payload": body}


def without(document: Dict[str, Any], *path: str) -> Dict[str, Any]:
    copy = json.loads(json.dumps(document))
    target = copy
    for name in path[:-1]:
        target = target[name]
    del target[path[-1]]
    return copy


CHAT = "/topic/chat/c1"
CALENDAR = "/topic/calendar/" + USER
BOARD = "/topic/board/b1"

VALID: List[Tuple[str, str, Dict[str, Any]]] = [
    ("chat", CHAT, chat()),
    ("chat-2000-chars", CHAT, chat(content="x" * 2000)),
    ("notification-no-sender", CALENDAR, notification()),
    ("notification-100-char-title", CALENDAR, notification(title="t" * 100)),
    ("status-task", BOARD, status()),
    ("status-event", CALENDAR, status(entityType="event", status="CANCELLED")),
    ("board-move", BOARD, board()),
    ("board-add", BOARD, board(action="add")),
    ("board-delete", BOARD, board(action="delete")),
]

INVALID: List[Tuple[str, str, Any, str]] = [
    # CHAT_MESSAGE: type, timestamp, senderId, payload; chatId, content, contentType; 2000 chars.
    ("chat-no-sender", CHAT, without(chat(), "senderId"), "senderId"),
    ("chat-no-timestamp", CHAT, without(chat(), "timestamp"), "timestamp"),
    ("chat-no-type", CHAT, without(chat(), "type"), "type"),
    ("chat-no-payload", CHAT, without(chat(), "payload"), "payload"),
    ("chat-no-chat-id", CHAT, without(chat(), "payload", "chatId"), "payload.chatId"),
    ("chat-no-content", CHAT, without(chat(), "payload", "content"), "payload.content"),
    ("chat-no-content-type", CHAT, without(chat(), "payload", "contentType"), "payload.contentType"),
    ("chat-2001-chars", CHAT, chat(content="x" * 2001), "payload.content"),
    ("chat-bad-timestamp", CHAT, dict(chat(), timestamp="yesterday"), "timestamp"),
    # NOTIFICATION: type, timestamp, payload; notificationType, title, message; title 100 chars.
    ("notification-101-char-title", CALENDAR, notification(title="t" * 101), "payload.title"),
    ("notification-no-title", CALENDAR, without(notification(), "payload", "title"), "payload.title"),
    ("notification-no-message", CALENDAR, without(notification(), "payload", "message"), "payload.message"),
    ("notification-no-kind", CALENDAR, without(notification(), "payload", "notificationType"),
     "payload.notificationType"),
    # STATUS_UPDATE: entityId, entityType, status; valid status per entity.
    ("status-wrong-for-entity", BOARD, status(status="ONLINE"), "payload.status"),
    ("status-unknown-entity", BOARD, status(entityType="planet"), "payload.entityType"),
    ("status-no-entity-id", BOARD, without(status(), "payload", "entityId"), "payload.entityId"),
    # BOARD_UPDATE: type, timestamp, senderId, payload; boardId, action, data; move/add/delete.
    ("board-bad-action", BOARD, board(action="rename"), "payload.action"),
    ("board-no-sender", BOARD, without(board(), "senderId"), "senderId"),
    ("board-no-data", BOARD, without(board(), "payload", "data"), "payload.data"),
    ("board-other-board", BOARD, board(boardId="b2"), "payload.boardId"),
    # Type routed to a destination it may not go to, and bodies that are not envelopes.
    ("chat-on-board", BOARD, chat(), "type"),
    ("not-json", CHAT, b"{not json", "body"),
    ("json-array", CHAT, b"[1, 2]", "body"),
]


@pytest.fixture(scope="module")
def writer(nexus: NexusServer) -> Iterator[RawWsClient]:
    client = RawWsClient(nexus.ws_url)
    client.connect(nexus.token(USER, **CLAIMS))
    client.subscribe_errors()
    for sub_id, destination in (("chat", CHAT), ("cal", CALENDAR), ("board", BOARD)):
        client.subscribe(sub_id, destination)
    yield client
    client.close()


def encode(body: Any) -> bytes:
    return body if isinstance(body, bytes) else json.dumps(body).encode()


@pytest.mark.parametrize("destination, document", [v[1:] for v in VALID], ids=[v[0] for v in VALID])
def test_valid_message_is_accepted_and_delivered(writer: RawWsClient, destination: str, document: Any) -> None:
    writer.send_frame("SEND", {"destination": destination, "receipt": "ok"}, encode(document))
    writer.expect("RECEIPT", receipt_id="ok")
    message = writer.expect("MESSAGE", destination=destination)
    assert json.loads(message.body) == document


@pytest.mark.parametrize(
    "destination, document, field", [v[1:] for v in INVALID], ids=[v[0] for v in INVALID]
)
def test_invalid_message_is_refused_naming_the_field(
    writer: RawWsClient, destination: str, document: Any, field: str
) -> None:
    writer.send_frame("SEND", {"destination": destination, "receipt": "bad"}, encode(document))
    frame, body = writer.rejection()
    assert frame.headers["receipt-id"] == "bad"
    assert body["error"] == "INVALID_MESSAGE"
    assert field in body["details"]["errors"], body
    # Never delivered, and the connection goes on: a valid message comes through next.
    writer.send_frame("SEND", {"destination": CHAT, "receipt": "next"}, encode(chat(content="next")))
    writer.expect("RECEIPT", receipt_id="next")
    message = writer.expect("MESSAGE")
    assert json.loads(message.body)["payload"]["content"] == "next"
    assert not any(f.command == "RECEIPT" and f.headers.get("receipt-id") == "bad" for f in writer.frames)


# -- hostile bodies ----------------------------------------------------------------------


def test_a_body_of_thousands_of_unknown_fields_costs_linear_work(
    nexus: NexusServer, writer: RawWsClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One SEND of 2,000 unknown fields (19 KB) used to hold the IOLoop for seconds:
    Cerberus re-sorted its growing error list on every error. The work is counted in
    function calls made by the server's validator: four times the fields, at most four
    times the work; the refusal names a few fields and counts the rest."""
    calm = nexus.bystander()
    validator = nexus.plugin.services.guard.validator
    counter = CallCounter(validator.validate)
    monkeypatch.setattr(validator, "validate", counter)
    sizes = (10, 500, 2000)  # the first one warms the caches up
    for size in sizes:
        body = notification(**{"field%04d" % i: i for i in range(size)})
        writer.send_frame("SEND", {"destination": CALENDAR, "receipt": "big%d" % size}, encode(body))
        frame, refusal = writer.rejection()
        assert frame.headers["receipt-id"] == "big%d" % size
        assert refusal["error"] == "INVALID_MESSAGE"
        errors = refusal["details"]["errors"]
        assert errors["payload.field0000"] == ["unknown field"]
        assert len(errors) == min(size, 21)
        if size > 20:
            assert errors["payload"] == ["%d more unknown fields" % (size - 20)]
        calm.check()
    work = {len(body): calls for body, calls in counter.counts if b"field0000" in body}
    assert len(work) == 3
    small, large = sorted(work.items())[1:]
    assert large[0] > 19_000  # the 19 KB
    assert large[1] <= 4 * small[1], work
    calm.close()


REPEATED_SENDER = (
    b'{"type":"CHAT_MESSAGE","timestamp":"2026-11-25T10:00:00Z","senderId":"victim","senderId":"writer",'
    b'"payload":{"chatId":"c1","content":"spoofed","contentType":"TEXT"}}'
)


def test_a_body_with_a_repeated_key_is_refused_and_never_relayed(nexus: NexusServer, writer: RawWsClient) -> None:
    """The validator saw the last ``senderId`` (the writer's own), while subscribers'
    parsers may take the first: a spoofed sender. Refused; nothing relayed."""
    calm = nexus.bystander()
    reader = RawWsClient(nexus.ws_url)
    reader.connect(nexus.token("reader", chats=["c1"]))
    reader.subscribe("r", CHAT)
    writer.send_frame("SEND", {"destination": CHAT, "receipt": "dup"}, REPEATED_SENDER)
    frame, refusal = writer.rejection()
    assert frame.headers["receipt-id"] == "dup"
    assert refusal["error"] == "INVALID_MESSAGE"
    assert refusal["details"]["errors"] == {"body": ['duplicate key "senderId"']}
    calm.check()
    writer.send_frame("SEND", {"destination": CHAT, "receipt": "after"}, encode(chat(content="after")))
    writer.expect("RECEIPT", receipt_id="after")
    # The next message either client gets is the valid one.
    for client in (reader, writer):
        message = client.expect("MESSAGE", destination=CHAT)
        assert json.loads(message.body)["payload"]["content"] == "after"
    assert not any(f.command == "MESSAGE" and b"spoofed" in f.body for f in reader.frames + writer.frames)
    reader.close()
    calm.close()


def test_a_send_cannot_set_the_headers_the_server_sets(nexus: NexusServer) -> None:
    """``snapshot: true`` (the presence snapshot's mark), ``receipt-id`` (an error
    report's), ``seq``, in any case: none reaches a subscriber from a client."""
    reader = RawWsClient(nexus.ws_url)
    sender = RawWsClient(nexus.ws_url)
    try:
        reader.connect(nexus.token("reader", chats=["forged"]))
        reader.subscribe("s", "/topic/chat/forged")
        sender.connect(nexus.token("sender", chats=["forged"]))
        forged = {"snapshot": "true", "receipt-id": "r9", "Snapshot": "true", "SEQ": "99", "x-trace": "kept"}
        body = chat_envelope("sender", "forged")
        sender.send_frame("SEND", dict(forged, destination="/topic/chat/forged", receipt="sent"), body)
        sender.expect("RECEIPT", receipt_id="sent")
        frame = reader.expect("MESSAGE", subscription="s")
        assert frame.headers["x-trace"] == "kept"
        assert not {k for k in frame.headers if k.lower() in ("snapshot", "receipt-id")}, frame.headers
        assert frame.headers["seq"] != "99" and "SEQ" not in frame.headers
    finally:
        reader.close()
        sender.close()
