"""Careless and hostile input at the SockJS and SUBSCRIBE level, against a real server.

Each case gets the documented answer (docs/security.md, "Malformed input"), the server
logs at most one line for it and never a trace (it is the client's mistake, not ours),
and a well-behaved client connected throughout (``Bystander``) loses nothing.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Iterator, List

import pytest
import websocket

from support.clients import RawWsClient, SockJsWsClient, XhrPollingClient, chat_envelope
from support.nexus import NexusServer, running_nexus


@pytest.fixture(scope="module")
def nexus() -> Iterator[NexusServer]:
    with running_nexus() as server:
        yield server


class Log:
    """What the process logs during a test (every logger, INFO and up)."""

    def __init__(self, caplog: Any) -> None:
        self.caplog = caplog

    def __iter__(self) -> Iterator[logging.LogRecord]:
        return iter(list(self.caplog.records))


@pytest.fixture
def logged(caplog: Any) -> Log:
    caplog.set_level(logging.INFO)
    return Log(caplog)


def traces(records: Log) -> List[str]:
    """Failures logged: traces, and errors other than the access log's line for a 500
    (the status the SockJS protocol gives a broken send body)."""
    return [
        r.getMessage()
        for r in records
        if r.name != "websocket"  # the test's client library
        and (r.exc_info is not None or (r.levelno >= logging.ERROR and r.name != "tornado.access"))
    ]


# -- SockJS messages that are not strings -------------------------------------------------


@pytest.mark.parametrize("payload", [[1] * 30_000, {"a": 1}, [None, "x"]], ids=["ints", "object", "null"])
def test_a_sockjs_message_that_is_not_a_string_gets_error_and_close_logged_once(
    nexus: NexusServer, logged: Log, payload: Any
) -> None:
    calm = nexus.bystander()
    client = SockJsWsClient(nexus.base_url)
    try:
        client.connect(nexus.token("careless"))
        client.ws.send(json.dumps(payload, separators=(",", ":")))
        error = client.expect("ERROR")
        assert error.headers["message"] == "malformed message"
        assert client.wait_closed()[0] == 1000
        calm.check()
    finally:
        calm.close()
    assert not traces(logged), traces(logged)[:3]
    assert len([r for r in logged if "not a string" in r.getMessage()]) == 1


def test_a_sockjs_websocket_message_that_is_not_json_closes_quietly(
    nexus: NexusServer, logged: Log
) -> None:
    calm = nexus.bystander()
    try:
        for text in ('["a', "[" * 40_000 + "]" * 40_000):
            client = SockJsWsClient(nexus.base_url)
            client.connect(nexus.token("careless"))
            client.ws.send(text)
            # No SockJS close frame (the protocol ends the connection abruptly); the
            # WebSocket close carries the code and reason.
            opcode, data = client.ws.recv_data(control_frame=True)
            assert opcode == websocket.ABNF.OPCODE_CLOSE
            assert (int.from_bytes(data[:2], "big"), data[2:]) == (1002, b"broken framing")
            client.close()
        calm.check()
    finally:
        calm.close()
    assert not traces(logged), traces(logged)[:3]


# -- deep JSON on the send endpoints ------------------------------------------------------


def post(url: str, body: bytes, content_type: str) -> Any:
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers.get("Content-Type", ""), response.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.headers.get("Content-Type", ""), exc.read()


@pytest.mark.parametrize("endpoint", ["xhr_send", "jsonp_send"])
def test_deeply_nested_json_on_a_send_endpoint_is_refused_plainly(
    nexus: NexusServer, logged: Log, endpoint: str
) -> None:
    calm = nexus.bystander()
    poller = XhrPollingClient(nexus.base_url)
    try:
        poller.connect(nexus.token("nester", chats=["n"]))
        if endpoint == "xhr_send":
            body, ctype = ("[" * 100_000 + "]" * 100_000).encode(), "text/plain"
        else:
            depth = 20_000
            body = urllib.parse.urlencode({"d": "[" * depth + "]" * depth}).encode()
            ctype = "application/x-www-form-urlencoded"
        status, content_type, text = post(poller.url + "/" + endpoint, body, ctype)
        # The SockJS protocol's answer to a body that is not a JSON array of strings.
        assert (status, text) == (500, b"Broken JSON encoding.")
        assert content_type.startswith("text/plain")
        # The session carries on.
        poller.send_frame("SEND", {"destination": "/topic/chat/n", "receipt": "ok"}, chat_envelope("nester", "n"))
        poller.expect("RECEIPT", receipt_id="ok")
        calm.check()
    finally:
        calm.close()
    assert not traces(logged), traces(logged)[:3]


@pytest.mark.parametrize("endpoint", ["xhr_send", "jsonp_send"])
def test_a_lone_surrogate_in_a_send_body_is_the_stomp_layers_to_refuse(
    nexus: NexusServer, logged: Log, endpoint: str
) -> None:
    poller = XhrPollingClient(nexus.base_url)
    poller.connect(nexus.token("surrogate"))
    status, _, _ = post(poller.url + "/" + endpoint, b'["\\ud800"]', "text/plain")
    assert status in (200, 204)
    assert not traces(logged), traces(logged)[:3]


# -- last-seq -------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["+5", " 5 ", "5_0", "\u0665", "5.0", "-1", "", "1" * 20, "0x5"])
def test_last_seq_takes_only_ascii_decimal_digits(
    nexus: NexusServer, logged: Log, value: str
) -> None:
    calm = nexus.bystander()
    client = RawWsClient(nexus.ws_url)
    try:
        client.connect(nexus.token("replayer", chats=["r"]))
        client.subscribe_errors()
        client.send_frame(
            "SUBSCRIBE", {"id": "s", "destination": "/topic/chat/r", "last-seq": value, "receipt": "sub"}
        )
        frame, body = client.rejection()
        assert frame.headers["receipt-id"] == "sub"
        assert body["error"] == "INVALID_MESSAGE"
        assert list(body["details"]["errors"]) == ["last-seq"]
        assert body["details"]["errors"]["last-seq"][0].startswith("must be")
        assert body["details"]["subscription"] == "s"
        # The connection stays, and the id is free again for a well-formed SUBSCRIBE.
        client.subscribe("s", "/topic/chat/r", last_seq="0")
        calm.check()
    finally:
        client.close()
        calm.close()
    assert not traces(logged)


def test_last_seq_of_nineteen_digits_is_accepted(nexus: NexusServer) -> None:
    client = RawWsClient(nexus.ws_url)
    try:
        client.connect(nexus.token("replayer", chats=["r19"]))
        client.subscribe("s", "/topic/chat/r19", last_seq="9" * 19)
    finally:
        client.close()


# -- token refresh is a SEND -------------------------------------------------------------------


def test_token_refreshes_count_toward_the_send_rate() -> None:
    with running_nexus(sends_per_minute=3) as nexus:
        calm = nexus.bystander()
        client = RawWsClient(nexus.ws_url)
        try:
            client.connect(nexus.token("refresher"))
            client.subscribe_errors()
            for n in range(3):
                client.send_frame(
                    "SEND",
                    {"destination": "/session/token", "receipt": "r%d" % n,
                     "Authorization": "Bearer " + nexus.token("refresher")},
                )
                client.expect("RECEIPT", receipt_id="r%d" % n)
            client.send_frame(
                "SEND",
                {"destination": "/session/token", "receipt": "r3", "Authorization": "Bearer " + nexus.token("refresher")},
            )
            frame, body = client.rejection()
            assert (frame.headers["receipt-id"], body["error"]) == ("r3", "RATE_LIMITED")
            assert body["details"]["retryAfter"] > 0
            calm.check()
        finally:
            client.close()
            calm.close()
