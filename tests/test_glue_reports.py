"""Refusals and failures as a client sees them, through a real server: a MESSAGE on
``/user/queue/errors`` while the connection stays, or, for a client without that
subscription, ERROR with the code, details and tracking id, then the close."""

from __future__ import annotations

import json
from typing import Any

import pytest
from support.clients import RawWsClient
from support.clients import chat_envelope as envelope
from support.nexus import running_nexus
from support.stomp_py import stomp_py


@pytest.fixture
def nexus() -> Any:
    with running_nexus() as server:
        yield server


def test_rejected_send_reports_on_user_queue_errors_and_keeps_connection(nexus: Any) -> None:
    client = RawWsClient(nexus.ws_url)
    try:
        client.connect(nexus.token("erin", chats=["mine"]))
        client.send_frame("SUBSCRIBE", {"id": "e", "destination": "/user/queue/errors"})
        client.send_frame("SEND", {"destination": "/topic/chat/not-mine", "receipt": "x1"}, envelope("erin", "not-mine", "hi"))
        error = client.expect("MESSAGE", subscription="e")
        assert error.headers["receipt-id"] == "x1"
        body = json.loads(error.body)
        assert body["error"] == "FORBIDDEN"
        assert body["trackingId"]
        # No RECEIPT for a refused frame, and the connection still works.
        client.send_frame("SUBSCRIBE", {"id": "m", "destination": "/topic/chat/mine", "receipt": "ok"})
        client.expect("RECEIPT", receipt_id="ok")
        assert not any(f.command == "RECEIPT" and f.headers.get("receipt-id") == "x1" for f in client.frames)
    finally:
        client.close()


def test_refused_frame_without_errors_subscription_is_error_then_close(nexus: Any) -> None:
    """STOMP has no other way to tell a plain client why: ERROR with receipt-id, the
    code, the JSON details and the tracking id, then the close."""
    conn, listener = stomp_py(nexus, "ivan", chats=["mine"])
    try:
        conn.send("/topic/chat/not-mine", envelope("ivan", "not-mine", "hi").decode(), receipt="refused")
        error = listener.errors.get(timeout=10)
        assert error.headers["receipt-id"] == "refused"
        assert error.headers["code"] == "FORBIDDEN"
        assert error.headers["message"]
        assert error.headers["content-type"] == "application/json"
        body = json.loads(error.body)
        assert body["error"] == "FORBIDDEN"
        assert body["details"]["destination"] == "/topic/chat/not-mine"
        assert body["trackingId"] == error.headers["tracking-id"]
        assert listener.disconnected.wait(10)
        assert listener.receipts.empty()
    finally:
        conn.disconnect()


@pytest.mark.parametrize("frame", ["SEND", "SUBSCRIBE"])
def test_refused_frame_with_errors_subscription_keeps_the_connection(nexus: Any, frame: str) -> None:
    client = RawWsClient(nexus.ws_url)
    try:
        client.connect(nexus.token("jack", chats=["ok"]))
        client.subscribe_errors()
        if frame == "SEND":
            client.send_frame("SEND", {"destination": "/topic/chat/no", "receipt": "r"}, envelope("jack", "no", "x"))
        else:
            client.send_frame("SUBSCRIBE", {"id": "x", "destination": "/topic/chat/no", "receipt": "r"})
        _, body = client.rejection()
        assert body["error"] == "FORBIDDEN"
        client.subscribe("ok", "/topic/chat/ok")
        assert not any(f.command == "ERROR" for f in client.frames)
    finally:
        client.close()
