"""Errors as the wire contract says: rejections on ``/user/queue/errors``, protocol
violations as ERROR and close, failures of ours as ``SERVER_ERROR`` with a tracking id
(the stack trace only in the log), and never a token or passcode in a log line.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Iterator, List

import pytest

from nexus_tornado.errors import NexusError
from support.clients import RawWsClient, XhrPollingClient, chat_envelope, frame_bytes
from support.nexus import NexusServer, make_token, running_nexus

#: Text only the server's exception carries: it must reach the log, never the client.
SECRET_DETAIL = "resolver exploded: db password hunter2"


class Explosion(NexusError):
    """What a broken host-app resolver raises."""


def explode(principal: Any, **ids: Any) -> bool:
    raise Explosion(SECRET_DETAIL)


@pytest.fixture(scope="module")
def nexus() -> Iterator[NexusServer]:
    with running_nexus() as server:
        # A host-app destination whose checks fail: every frame to it is a failure of ours.
        server.handle.call(lambda: server.plugin.services.guard.acl.add_rule(
            "/topic/fragile/{id}", subscribe=explode, send=explode))
        yield server


def records_with(caplog: Any, text: str) -> List[logging.LogRecord]:
    return [r for r in caplog.records if text in r.getMessage()]


# -- rejections --------------------------------------------------------------------------


def test_rejection_body_has_the_contracts_fields_and_its_id_is_logged(nexus: NexusServer, caplog: Any) -> None:
    caplog.set_level(logging.INFO)
    client = RawWsClient(nexus.ws_url)
    try:
        client.connect(nexus.token("rex"))
        client.subscribe_errors()
        client.send_frame("SEND", {"destination": "/topic/chat/nope", "receipt": "asked"}, chat_envelope("rex", "nope"))
        frame, body = client.rejection()
        assert frame.headers["receipt-id"] == "asked"
        assert frame.headers["destination"] == "/user/queue/errors"
        assert frame.headers["content-type"] == "application/json"
        assert set(body) == {"error", "message", "details", "trackingId"}
        assert body["error"] == "FORBIDDEN" and body["message"]
        assert records_with(caplog, body["trackingId"]), "the tracking id is not in the log"
        # Without a receipt header there is no receipt-id.
        client.send_frame("SEND", {"destination": "/topic/chat/nope"}, chat_envelope("rex", "nope"))
        frame, body = client.rejection()
        assert "receipt-id" not in frame.headers
    finally:
        client.close()


# -- failures of ours ---------------------------------------------------------------------


@pytest.mark.parametrize("command", ["SUBSCRIBE", "SEND"])
def test_handler_failure_is_server_error_with_tracking_id_and_trace_only_in_log(
    nexus: NexusServer, caplog: Any, command: str
) -> None:
    caplog.set_level(logging.INFO)
    calm = nexus.bystander()
    client = RawWsClient(nexus.ws_url)
    try:
        client.connect(nexus.token("frank"))
        client.subscribe_errors()
        headers = {"destination": "/topic/fragile/x", "receipt": "boom"}
        if command == "SUBSCRIBE":
            headers["id"] = "f"
        client.send_frame(command, headers, b"{}" if command == "SEND" else b"")
        frame, body = client.rejection()
        assert frame.headers["receipt-id"] == "boom"
        assert body["error"] == "SERVER_ERROR"
        assert body["message"] == "internal error"
        tracking = body["trackingId"]
        assert tracking and body["details"] == {"trackingId": tracking}
        assert SECRET_DETAIL not in frame.body.decode() and "Traceback" not in frame.body.decode()
        logged = records_with(caplog, tracking)
        assert logged and logged[0].exc_info is not None
        assert logged[0].exc_info[0] is Explosion  # the trace is in the log, under the same id
        # The connection stays open and working.
        client.send_frame("SUBSCRIBE", {"id": "p", "destination": "/topic/presence", "receipt": "alive"})
        client.expect("RECEIPT", receipt_id="alive")
        calm.check()
    finally:
        client.close()
        calm.close()


def test_handler_failure_without_errors_subscription_is_error_and_close(
    nexus: NexusServer, caplog: Any
) -> None:
    """A session that did not subscribe to its error queue gets what STOMP says: ERROR
    with the code, the tracking id and the receipt-id, then the close; the detail
    stays in the log."""
    caplog.set_level(logging.INFO)
    calm = nexus.bystander()
    client = RawWsClient(nexus.ws_url)
    try:
        client.connect(nexus.token("quiet"))
        client.send_frame("SUBSCRIBE", {"id": "f", "destination": "/topic/fragile/x", "receipt": "sub-f"})
        error = client.expect("ERROR")
        assert error.headers["message"] == "internal error"
        assert error.headers["code"] == "SERVER_ERROR"
        assert error.headers["receipt-id"] == "sub-f"
        assert error.headers["content-type"] == "application/json"
        body = json.loads(error.body)
        assert body["error"] == "SERVER_ERROR" and body["trackingId"] == error.headers["tracking-id"]
        assert SECRET_DETAIL not in error.body.decode()
        assert records_with(caplog, body["trackingId"])
        client.wait_closed()
        calm.check()
    finally:
        client.close()
        calm.close()


def test_failure_before_connected_is_error_with_tracking_id_and_close(
    nexus: NexusServer, caplog: Any, monkeypatch: Any
) -> None:
    caplog.set_level(logging.INFO)
    calm = nexus.bystander()

    def broken(token: Any) -> Any:
        raise Explosion(SECRET_DETAIL)

    try:
        monkeypatch.setattr(nexus.plugin.services.verifier, "verify", broken)
        client = RawWsClient(nexus.ws_url)
        client.send_frame("CONNECT", {"accept-version": "1.2", "host": "x", "passcode": "whatever"})
        error = client.expect("ERROR")
        monkeypatch.undo()
        assert error.headers["message"] == "internal error"
        assert SECRET_DETAIL not in error.body.decode()
        tracking = error.body.decode().rsplit(" ", 1)[-1]
        assert records_with(caplog, tracking)
        client.wait_closed()
        calm.check()
    finally:
        monkeypatch.undo()
        calm.close()


# -- protocol violations --------------------------------------------------------------------

VIOLATIONS = [
    ("frame-before-connect", None, "SEND\ndestination:/topic/chat/c\n\nx\x00", "not connected"),
    ("unknown-command", "t", "LAUNCH\n\n\x00", "malformed frame"),
    ("not-stomp", "t", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "malformed frame"),
    ("bad-escape", "t", "SEND\ndestination:/topic/chat/c\nx:\\q\n\nx\x00", None),
    ("second-connect", "t", "CONNECT\naccept-version:1.2\nhost:x\n\n\x00", "already connected"),
    ("duplicate-subscription", "t",
     "SUBSCRIBE\nid:1\ndestination:/topic/presence\n\n\x00SUBSCRIBE\nid:1\ndestination:/topic/presence\n\n\x00",
     "duplicate subscription"),
    ("unknown-transaction", "t", "SEND\ndestination:/topic/chat/c\ntransaction:tx\n\nx\x00", "unknown transaction"),
    ("subscribe-without-id", "t", "SUBSCRIBE\ndestination:/topic/presence\n\n\x00", "missing header"),
    ("ack-of-nothing", "t", "ACK\nid:42\n\n\x00", "unknown ack id"),
    ("content-length-lies", "t", "SEND\ndestination:/topic/chat/c\ncontent-length:2\n\nxyz\x00", "malformed frame"),
]


@pytest.mark.parametrize("connect, raw, message", [v[1:] for v in VIOLATIONS], ids=[v[0] for v in VIOLATIONS])
def test_protocol_violation_gets_error_and_close(nexus: NexusServer, connect: Any, raw: str, message: Any) -> None:
    calm = nexus.bystander()
    client = RawWsClient(nexus.ws_url)
    try:
        if connect:
            client.connect(nexus.token("rude"))
        client.send_raw(raw)
        error = client.expect("ERROR")
        if message is not None:
            assert error.headers["message"] == message
        client.wait_closed()
        calm.check()
    finally:
        calm.close()


def test_protocol_violation_over_sockjs_closes_the_session() -> None:
    with running_nexus() as nexus:
        client = XhrPollingClient(nexus.base_url)
        client.connect(nexus.token("rude"))
        client.send_raw("LAUNCH\n\n\x00")
        assert client.expect("ERROR").headers["message"] == "malformed frame"
        assert client.wait_closed()[0] == 1000


# -- secrets never logged ---------------------------------------------------------------------


def test_tokens_and_passcodes_never_appear_in_a_log_line(nexus: NexusServer, caplog: Any) -> None:
    caplog.set_level(logging.DEBUG)
    good = nexus.token("logan", chats=["l"])
    fresh = nexus.token("logan", chats=["l"], marker="fresh")
    forged = make_token("logan", secret="not-the-server-secret-0123456789abcdef")
    expired = nexus.token("logan", ttl=-3600)
    other = nexus.token("someone-else")
    secrets = [good, fresh, forged, expired, other]
    # Refused CONNECTs, by header, passcode and query argument.
    for token, how in ((forged, "passcode"), (expired, "authorization"), (forged, "query")):
        url = nexus.ws_url + ("?access_token=" + token if how == "query" else "")
        client = RawWsClient(url)
        headers = {"accept-version": "1.2", "host": "x"}
        if how == "passcode":
            headers.update(login="logan", passcode=token)
        elif how == "authorization":
            headers["Authorization"] = "Bearer " + token
        client.send_frame("CONNECT", headers)
        client.expect("ERROR")
        client.wait_closed()
    # An accepted session that refreshes (good and bad), is refused things, and breaks the protocol.
    client = RawWsClient(nexus.ws_url + "?access_token=" + good)
    client.connect(good, login="logan")
    client.subscribe_errors()
    for token in (fresh, other, expired, forged):
        client.send_frame("SEND", {"destination": "/session/token", "receipt": "r", "Authorization": "Bearer " + token})
    client.send_frame("SEND", {"destination": "/topic/fragile/x", "receipt": "x", "passcode": good}, b"{}")
    client.send_frame("SEND", {"destination": "/topic/chat/l", "passcode": good}, good.encode())
    client.send_raw(frame_bytes("CONNECT", {"accept-version": "1.2", "passcode": good}).decode())
    client.expect("ERROR")
    client.wait_closed()
    assert caplog.records, "nothing was logged: the test proves nothing"
    for record in caplog.records:
        text = record.getMessage() + (logging.Formatter().formatException(record.exc_info) if record.exc_info else "")
        for secret in secrets:
            assert secret not in text, "a token leaked into %s: %s" % (record.name, text[:200])
            # Nor any of its parts (a signature alone is a secret too).
            for part in secret.split(".")[1:]:
                assert part not in text, "part of a token leaked into %s" % record.name
