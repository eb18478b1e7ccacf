"""Log lines: one per connection open and close and per rejection, with the connection's
tracking id and user; JSON lines when configured; never a token."""

from __future__ import annotations

import json
import logging
import signal
import sys
from pathlib import Path
from typing import Any, List

import pytest
from support.clients import RawWsClient, chat_envelope
from support.command import CommandServer
from support.nexus import make_token, running_nexus

from nexus_tornado.ops.log_format import JsonFormatter


def test_connection_lines_carry_the_tracking_id_and_user_and_never_the_token(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="nexus_tornado")
    caplog.set_level(logging.INFO, logger="tornado.access")
    with running_nexus() as nexus:
        token = nexus.token("erin", chats=["logs"])
        client = RawWsClient(nexus.ws_url + "?access_token=" + token)
        client.connect(token)
        client.subscribe_errors()
        client.send_frame("SEND", {"destination": "/topic/chat/secret"}, chat_envelope("erin", "secret"))
        client.rejection()
        client.send_frame("DISCONNECT", {"receipt": "bye"})
        client.expect("RECEIPT", receipt_id="bye")
        client.wait_closed()
        bad = RawWsClient(nexus.ws_url)
        bad.send_frame("CONNECT", {"accept-version": "1.2", "host": "h", "passcode": "not-a-jwt"})
        bad.expect("ERROR")
        bad.wait_closed()
        nexus.run(lambda: nexus.plugin.close(drain_seconds=1.0))
    records = [r for r in caplog.records if r.name.startswith("nexus_tornado.glue.connection")]
    events = [getattr(r, "nexus", {}).get("event") for r in records]
    assert events.count("open") == 1 and events.count("close") == 2
    assert events.count("rejection") == 1 and events.count("refused") == 1
    opened = next(r for r in records if r.nexus["event"] == "open")
    closed = [r for r in records if r.nexus["event"] == "close"]
    rejected = next(r for r in records if r.nexus["event"] == "rejection")
    assert opened.nexus["user"] == "erin" and opened.nexus["transport"] == "rawwebsocket"
    assert closed[0].nexus == dict(opened.nexus, event="close", reason="disconnect")
    assert closed[1].nexus["user"] is None and closed[1].nexus["reason"] == "connect refused"
    assert rejected.nexus["conn"] == opened.nexus["conn"] and rejected.nexus["code"] == "FORBIDDEN"
    assert "erin" in rejected.getMessage() and rejected.nexus["trackingId"] in rejected.getMessage()
    assert opened.nexus["conn"] in opened.getMessage() and "erin" in closed[0].getMessage()
    everything = "\n".join(r.getMessage() for r in caplog.records)
    assert token not in everything and token.split(".")[2] not in everything
    assert "access_token=***" in everything  # the access log line, redacted


def test_the_json_formatter_writes_one_object_per_line_without_tokens() -> None:
    record = logging.LogRecord("nexus_tornado.x", logging.WARNING, __file__, 1,
                               "GET /stomp/websocket?access_token=%s", ("eyJ.abc.def",), None)
    record.nexus = {"event": "close", "user": "erin", "conn": "c1", "transport": "", "ip": "1.2.3.4"}
    try:
        raise ValueError("boom ?access_token=eyJ.x.y")
    except ValueError:
        record.exc_info = sys.exc_info()
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["message"] == "GET /stomp/websocket?access_token=***"
    assert entry["level"] == "WARNING" and entry["logger"] == "nexus_tornado.x"
    assert entry["user"] == "erin" and entry["conn"] == "c1" and "transport" not in entry
    assert "eyJ" not in line and "ValueError" in entry["exc_info"]


def test_the_command_logs_json_lines_when_asked(tmp_path: Path) -> None:
    server = CommandServer(tmp_path, ["--log-format", "json", "--no-demo"])
    server.start()
    try:
        client = RawWsClient(server.ws_url)
        client.connect(make_token("fay", secret=server.secret))
        client.close()
    finally:
        assert server.stop(signal.SIGTERM) == 0
    lines = [json.loads(line) for line in server.output().splitlines() if line.strip()]
    messages: List[Any] = [(e["logger"], e.get("event")) for e in lines]
    assert ("nexus_tornado.glue.connection", "open") in messages
    assert ("nexus_tornado.glue.connection", "close") in messages
    assert any(e["logger"] == "tornado.access" for e in lines)
    assert lines[-1]["message"].startswith("stopped in")


#: What a forged line would look like in the command's text log.
FORGED = "2026-01-01 00:00:00,000 CRITICAL nexus_tornado: forged"


def test_client_values_cannot_forge_lines_in_the_command_s_text_log(tmp_path: Path) -> None:
    """A JSON key with a newline in a refused message, a token ``sub`` with one, an
    escape sequence: each is written escaped on its own record's line."""
    server = CommandServer(tmp_path, ["--no-demo"])
    server.start()
    try:
        client = RawWsClient(server.ws_url)
        client.connect(make_token("eve\n" + FORGED + "\x1b[2K", secret=server.secret, chats=["c1"]))
        client.subscribe_errors()
        envelope = json.loads(chat_envelope("eve\n" + FORGED + "\x1b[2K", "c1"))
        envelope["!\n" + FORGED] = 1
        client.send_frame("SEND", {"destination": "/topic/chat/c1"}, json.dumps(envelope).encode())
        frame, details = client.rejection()
        assert "!\n" + FORGED in details["details"]["errors"]  # the client gets its key as sent
        client.close()
    finally:
        assert server.stop(signal.SIGTERM) == 0
    output = server.output()
    lines = output.splitlines()
    assert not [line for line in lines if "CRITICAL" in line.split(" nexus_tornado")[0]], output
    assert not [line for line in lines if line.startswith(FORGED[:10]) or "\x1b" in line], output
    assert "eve\\n" + FORGED + "\\x1b[2K" in output  # the user, escaped
    assert "!\\n" + FORGED in output  # the refused key, escaped
