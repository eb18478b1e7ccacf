"""Shared documents through a real server: snapshots, operations, re-sends, refusals.

Every case speaks raw STOMP over the WebSocket endpoint to a real plugin on loopback
(the in-memory store; tests/test_hub_mongo_documents.py runs two processes on one
MongoDB). A refused operation is checked to have stored nothing: the next subscriber's
snapshot and version are what they were.
"""

from __future__ import annotations

import http.client
import itertools
import json
from typing import Any, Dict, Iterator, List, Tuple

import pytest

from nexus_tornado.errors import Rejection, RejectionCode
from nexus_tornado.ot import TextOperation
from support.clients import RawWsClient, chat_envelope
from support.nexus import NexusServer, running_nexus

TIMESTAMP = "2026-12-01T10:00:00Z"
_ids = itertools.count(1)


@pytest.fixture(scope="module")
def nexus() -> Iterator[NexusServer]:
    with running_nexus(document_max_length=40, document_max_op_components=8, retention_count=5) as server:
        yield server


def doc_op(user: str, doc: str, version: int, op: Any, op_id: str = "") -> bytes:
    return json.dumps({
        "type": "DOC_OP", "timestamp": TIMESTAMP, "senderId": user,
        "payload": {"docId": doc, "version": version, "opId": op_id or "op-%d" % next(_ids), "op": op},
    }).encode("utf-8")


def editor(nexus: NexusServer, user: str, docs: List[str]) -> RawWsClient:
    client = RawWsClient(nexus.ws_url)
    client.connect(nexus.token(user, docs=docs, chats=["c1"]))
    client.subscribe_errors()
    return client


def join(client: RawWsClient, doc: str, sub: str = "doc") -> Tuple[str, int]:
    """Subscribe to the document; its snapshot's text and version."""
    client.subscribe(sub, "/topic/doc/" + doc)
    frame = client.expect("MESSAGE", subscription=sub, snapshot="true")
    body = json.loads(frame.body)
    assert body["type"] == "DOC_SNAPSHOT" and body["payload"]["docId"] == doc
    assert frame.headers["seq"] == str(body["payload"]["version"])
    return body["payload"]["text"], body["payload"]["version"]


def send(client: RawWsClient, body: bytes, doc: str, receipt: str = "") -> str:
    receipt = receipt or "r-%d" % next(_ids)
    client.send_frame("SEND", {"destination": "/topic/doc/" + doc, "receipt": receipt,
                               "content-type": "application/json"}, body)
    return receipt


def op_message(client: RawWsClient, sub: str = "doc") -> Tuple[int, Dict[str, Any]]:
    frame = client.expect("MESSAGE", subscription=sub)
    return int(frame.headers["seq"]), json.loads(frame.body)


def current(nexus: NexusServer, doc: str) -> Tuple[str, int]:
    """The document as a new subscriber sees it."""
    reader = editor(nexus, "reader", [doc])
    try:
        return join(reader, doc)
    finally:
        reader.close()


def test_a_new_document_is_empty_at_version_zero(nexus: NexusServer) -> None:
    assert current(nexus, "fresh") == ("", 0)


def test_operations_are_stored_broadcast_and_acknowledged(nexus: NexusServer) -> None:
    alice, bob = editor(nexus, "alice", ["d1"]), editor(nexus, "bob", ["d1"])
    try:
        assert join(alice, "d1") == ("", 0) and join(bob, "d1") == ("", 0)
        receipt = send(alice, doc_op("alice", "d1", 0, ["héllo 😀"], "a-1"), "d1")
        alice.expect("RECEIPT", receipt_id=receipt)
        for client in (alice, bob):
            seq, body = op_message(client)
            assert seq == 1
            assert body["senderId"] == "alice"
            assert body["payload"] == {"docId": "d1", "version": 0, "opId": "a-1", "op": ["héllo 😀"]}
        # Positions count code points: the emoji is one.
        receipt = send(bob, doc_op("bob", "d1", 1, [7, "!"], "b-1"), "d1")
        bob.expect("RECEIPT", receipt_id=receipt)
        assert op_message(alice)[1]["payload"]["op"] == [7, "!"]
        assert current(nexus, "d1") == ("héllo 😀!", 2)
    finally:
        alice.close()
        bob.close()


def test_concurrent_operations_are_transformed_into_one_history(nexus: NexusServer) -> None:
    alice, bob = editor(nexus, "alice", ["d2"]), editor(nexus, "bob", ["d2"])
    try:
        join(alice, "d2")
        join(bob, "d2")
        alice.expect("RECEIPT", receipt_id=send(alice, doc_op("alice", "d2", 0, ["abc"]), "d2"))
        op_message(alice)
        op_message(bob)
        # Both edit version 1 without having seen each other.
        first = send(alice, doc_op("alice", "d2", 1, [1, "X", 2]), "d2")
        second = send(bob, doc_op("bob", "d2", 1, [1, "Y", -1, 1]), "d2")
        alice.expect("RECEIPT", receipt_id=first)
        bob.expect("RECEIPT", receipt_id=second)
        seen = [op_message(alice), op_message(alice)]
        assert [seq for seq, _ in seen] == [2, 3]
        text = "abc"
        for _, body in seen:
            assert body["payload"]["version"] == 2 - 1 + seen.index((_, body))
            text = TextOperation.from_json(body["payload"]["op"]).apply(text)
        # Whoever came second was moved past the first's insert; both edits survive.
        assert sorted(text) == sorted("aXYc") and text in ("aXYc", "aYXc")
        assert current(nexus, "d2") == (text, 3)
        assert [op_message(bob)[0], op_message(bob)[0]] == [2, 3]
    finally:
        alice.close()
        bob.close()


def test_a_resent_operation_is_applied_once(nexus: NexusServer) -> None:
    alice = editor(nexus, "alice", ["d3"])
    try:
        join(alice, "d3")
        body = doc_op("alice", "d3", 0, ["once"], "same-id")
        alice.expect("RECEIPT", receipt_id=send(alice, body, "d3"))
        assert op_message(alice)[0] == 1
        # Sent again (say, after a reconnect before the acknowledgement): a RECEIPT,
        # and the document is as it was.
        alice.expect("RECEIPT", receipt_id=send(alice, body, "d3"))
        assert current(nexus, "d3") == ("once", 1)
        # The same opId from another user is another operation.
        bob = editor(nexus, "bob", ["d3"])
        try:
            bob.expect("RECEIPT", receipt_id=send(bob, doc_op("bob", "d3", 1, [4, "!"], "same-id"), "d3"))
        finally:
            bob.close()
        assert current(nexus, "d3") == ("once!", 2)
    finally:
        alice.close()


def refused(client: RawWsClient, body: bytes, doc: str) -> Dict[str, Any]:
    receipt = send(client, body, doc)
    frame, error = client.rejection()
    assert frame.headers["receipt-id"] == receipt
    return error


@pytest.mark.parametrize(
    "version, op, code, says",
    [
        (1, [1, "x", 3], "INVALID_MESSAGE", "the operation spans 4 code points but the text has 3"),
        (1, [5], "INVALID_MESSAGE", "spans 5 code points"),
        (2, [3, "x"], "INVALID_MESSAGE", "version 2 is ahead of the document (at version 1)"),
        (-1, [3, "x"], "INVALID_MESSAGE", "version must be 0 or more"),
        (1, [3, 0], "INVALID_MESSAGE", "component 1 counts zero code points"),
        (1, [3, "\ud83d"], "INVALID_MESSAGE", "lone surrogate"),
        (1, [3, None], "INVALID_MESSAGE", "component 1 is neither a count nor a string"),
        (1, "abc", "INVALID_MESSAGE", "op"),
        (1, [3, "x" * 38], "TOO_LARGE", "the document would hold 41 code points; at most 40"),
        (1, [1, "a", 1, "b", 1, "c", "d", 1, "e", 1], "TOO_LARGE", "at most 8 components"),
    ],
)
def test_bad_operations_are_refused_and_nothing_is_stored(
    nexus: NexusServer, version: int, op: Any, code: str, says: str
) -> None:
    doc = "bad-%d" % next(_ids)
    alice = editor(nexus, "alice", [doc])
    try:
        join(alice, doc)
        alice.expect("RECEIPT", receipt_id=send(alice, doc_op("alice", doc, 0, ["abc"]), doc))
        error = refused(alice, doc_op("alice", doc, version, op), doc)
        assert error["error"] == code
        assert says in error["message"]
        assert current(nexus, doc) == ("abc", 1)
    finally:
        alice.close()


def test_only_editors_may_read_or_write_a_document(nexus: NexusServer) -> None:
    mallory = editor(nexus, "mallory", ["other"])
    try:
        mallory.send_frame("SUBSCRIBE", {"id": "s", "destination": "/topic/doc/secret", "receipt": "sub"})
        _, error = mallory.rejection()
        assert error["error"] == "FORBIDDEN"
        error = refused(mallory, doc_op("mallory", "secret", 0, ["spam"]), "secret")
        assert error["error"] == "FORBIDDEN"
        # Another user's name in senderId is refused too.
        error = refused(mallory, doc_op("alice", "other", 0, ["spoof"]), "other")
        assert error["error"] == "INVALID_MESSAGE"
    finally:
        mallory.close()
    assert current(nexus, "secret") == ("", 0)
    assert current(nexus, "other") == ("", 0)


def test_only_operations_go_to_a_document(nexus: NexusServer) -> None:
    alice = editor(nexus, "alice", ["d4"])
    try:
        error = refused(alice, chat_envelope("alice", "d4"), "d4")
        assert error["error"] == "INVALID_MESSAGE"
    finally:
        alice.close()
    assert current(nexus, "d4") == ("", 0)


def test_retention_drops_old_operations_but_never_the_text(nexus: NexusServer) -> None:
    alice = editor(nexus, "alice", ["d5"])
    try:
        join(alice, "d5")
        for version in range(12):
            alice.expect("RECEIPT", receipt_id=send(alice, doc_op("alice", "d5", version, [version, "x"] if version else ["x"]), "d5"))
        assert current(nexus, "d5") == ("x" * 12, 12)
        # An operation on a version whose successors are gone cannot be transformed.
        error = refused(alice, doc_op("alice", "d5", 2, [2, "y"]), "d5")
        assert error["error"] == "INVALID_MESSAGE" and "no longer kept" in error["message"]
        # One on a version still followed by what is kept is.
        alice.expect("RECEIPT", receipt_id=send(alice, doc_op("alice", "d5", 10, ["y", 10]), "d5"))
        assert current(nexus, "d5") == ("y" + "x" * 12, 13)
    finally:
        alice.close()


def test_a_subscriber_resuming_gets_the_operations_it_missed_not_a_snapshot(nexus: NexusServer) -> None:
    alice, bob = editor(nexus, "alice", ["d6"]), editor(nexus, "bob", ["d6"])
    try:
        join(alice, "d6")
        alice.expect("RECEIPT", receipt_id=send(alice, doc_op("alice", "d6", 0, ["ab"]), "d6"))
        alice.expect("RECEIPT", receipt_id=send(alice, doc_op("alice", "d6", 1, [2, "c"]), "d6"))
        bob.subscribe("doc", "/topic/doc/d6", **{"last-seq": "1"})
        seq, body = op_message(bob)
        assert seq == 2 and body["payload"]["op"] == [2, "c"]
        assert not [f for f in bob.frames if f.headers.get("snapshot")]
    finally:
        alice.close()
        bob.close()


def test_document_operations_have_a_rate_limit_of_their_own() -> None:
    with running_nexus(document_ops_per_minute=3, sends_per_minute=2) as nexus:
        alice = editor(nexus, "alice", ["d7"])
        try:
            join(alice, "d7")
            for version in range(3):
                body = doc_op("alice", "d7", version, [version, "x"] if version else ["x"])
                alice.expect("RECEIPT", receipt_id=send(alice, body, "d7"))
            error = refused(alice, doc_op("alice", "d7", 3, [3, "x"]), "d7")
            assert error["error"] == "RATE_LIMITED" and error["details"]["retryAfter"] > 0
            # Chat messages count apart: their own limit is untouched by the operations.
            receipt = "chat-1"
            alice.send_frame("SEND", {"destination": "/topic/chat/c1", "receipt": receipt}, chat_envelope("alice", "c1"))
            alice.expect("RECEIPT", receipt_id=receipt)
        finally:
            alice.close()
        assert current(nexus, "d7") == ("xxx", 3)


def test_a_document_changes_only_through_operations(nexus: NexusServer) -> None:
    # The host app's publish and a backend service's are refused: a message that is not
    # an operation would take a version and break every editor's history.
    with pytest.raises(Rejection) as refused:
        nexus.run(lambda: nexus.plugin.publish("/topic/doc/d8", {"type": "DOC_OP", "payload": {}}))
    assert refused.value.code is RejectionCode.INVALID_MESSAGE
    assert "changes only through DOC_OP operations" in refused.value.message
    assert current(nexus, "d8") == ("", 0)


def test_a_backend_service_cannot_write_to_a_document(nexus: NexusServer) -> None:
    body = json.loads(doc_op("billing", "d9", 0, ["injected"]))
    connection = http.client.HTTPConnection("127.0.0.1", nexus.port, timeout=10)
    try:
        connection.request(
            "POST", "/stomp/api/publish", json.dumps({"destination": "/topic/doc/d9", "message": body}).encode(),
            {"Content-Type": "application/json", "Authorization": "Bearer " + nexus.token("billing", roles=["service"])},
        )
        response = connection.getresponse()
        answer = json.loads(response.read())
    finally:
        connection.close()
    assert response.status == 400 and answer["error"] == "INVALID_MESSAGE", answer
    assert current(nexus, "d9") == ("", 0)
