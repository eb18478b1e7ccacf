"""The backend services' HTTP API ({prefix}/api/publish, /api/notify) on a real server."""

from __future__ import annotations

import http.client
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pytest
from support.clients import RawWsClient, chat_envelope
from support.nexus import NexusServer, make_token, running_nexus

from nexus_tornado.errors import Rejection
from nexus_tornado.pipeline import Inbound

NOTE = {"type": "NOTIFICATION", "timestamp": "2026-11-25T10:00:00Z",
        "payload": {"notificationType": "INVOICE_DUE", "title": "Invoice due", "message": "Pay by Friday"}}


def call(nexus: NexusServer, path: str, body: Any = None, token: Optional[str] = None,
         method: str = "POST", raw: Optional[bytes] = None) -> Tuple[int, Dict[str, Any], str]:
    conn = http.client.HTTPConnection("127.0.0.1", nexus.port, timeout=10)
    try:
        headers = {"Content-Type": "application/json"}
        if token is not None:
            headers["Authorization"] = "Bearer " + token
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        conn.request(method, path, body=data, headers=headers)
        response = conn.getresponse()
        text = response.read().decode()
        assert response.getheader("Content-Type", "").startswith("application/json"), text
        return response.status, json.loads(text), text
    finally:
        conn.close()


@pytest.fixture
def nexus() -> Iterator[NexusServer]:
    def urls(plugin: Any) -> List[Any]:
        @plugin.handler("CHAT_MESSAGE")
        async def rules(inbound: Inbound) -> Any:
            content = inbound.message["payload"]["content"]
            if content == "refuse":
                raise Rejection("FORBIDDEN", "not today", {"why": "rule"})
            if content == "explode":
                raise RuntimeError("boom")
            message = inbound.message
            message["payload"]["via"] = inbound.principal.user_id
            return message

        return []

    with running_nexus(extra_urls=urls) as server:
        yield server


def service_token(nexus: NexusServer, name: str = "billing") -> str:
    return nexus.token(name, roles=["service"])


def test_a_service_publishes_through_the_handlers_and_gets_the_seq(nexus: NexusServer) -> None:
    reader = RawWsClient(nexus.ws_url)
    reader.connect(nexus.token("ann", chats=["c1"]))
    reader.subscribe("chat", "/topic/chat/c1")
    message = json.loads(chat_envelope("billing", "c1", "invoice sent"))
    status, answer, _ = call(nexus, "/stomp/api/publish", {"destination": "/topic/chat/c1", "message": message},
                             service_token(nexus))
    assert status == 200, answer
    assert answer["seq"] == 1 and answer["destination"] == "/topic/chat/c1" and answer["messageId"]
    delivered = reader.expect("MESSAGE", subscription="chat")
    assert delivered.headers["seq"] == "1"
    assert json.loads(delivered.body)["payload"]["via"] == "billing"  # the handler ran
    status, answer, _ = call(nexus, "/stomp/api/publish", {"destination": "/topic/chat/c1", "message": message},
                             service_token(nexus))
    assert answer["seq"] == 2
    reader.close()


def test_notify_is_kept_for_an_offline_user(nexus: NexusServer) -> None:
    status, answer, _ = call(nexus, "/stomp/api/notify", {"userId": "bob", "message": NOTE}, service_token(nexus))
    assert status == 200 and answer == {"destination": "/topic/notifications/bob", "seq": 1,
                                         "messageId": answer["messageId"]}
    bob = RawWsClient(nexus.ws_url)
    bob.connect(nexus.token("bob"))
    bob.subscribe("inbox", "/topic/notifications/bob")
    assert json.loads(bob.expect("MESSAGE", subscription="inbox").body)["payload"]["title"] == "Invoice due"
    bob.close()


@pytest.mark.parametrize("token, status, error", [
    (None, 401, "missing token"),
    ("user", 403, "not a service token (needs the 'service' role)"),
    ("wrong-secret", 401, "invalid signature"),
    ("expired", 401, "token expired"),
])
def test_only_a_valid_service_token_may_publish(nexus: NexusServer, token: Optional[str], status: int, error: str) -> None:
    tokens = {
        None: None,
        "user": nexus.token("ann", roles=["admin"], chats=["c1"]),
        "wrong-secret": make_token("billing", secret="another-secret-0123456789abcdef012345", roles=["service"]),
        "expired": nexus.token("billing", roles=["service"], exp=1000),
    }
    got, answer, _ = call(nexus, "/stomp/api/notify", {"userId": "bob", "message": NOTE}, tokens[token])
    assert (got, answer["message"]) == (status, error)
    assert answer["error"] == ("UNAUTHORIZED" if status == 401 else "FORBIDDEN")
    assert nexus.run(lambda: nexus.plugin.store.read_after("/topic/notifications/bob", 0, 10)) == []


@pytest.mark.parametrize("path, body, status, error, detail", [
    ("/stomp/api/publish", b"{not json", 400, "INVALID_MESSAGE", "body"),
    ("/stomp/api/publish", b"[1, 2]", 400, "INVALID_MESSAGE", "body"),
    ("/stomp/api/publish", {"message": NOTE}, 400, "INVALID_MESSAGE", "destination"),
    ("/stomp/api/publish", {"destination": "/topic/announcements", "message": "hi"}, 400, "INVALID_MESSAGE", "message"),
    ("/stomp/api/publish", {"destination": "/topic/announcements", "message": NOTE, "x": 1}, 400, "INVALID_MESSAGE", "x"),
    ("/stomp/api/publish", {"destination": "/topic/nowhere", "message": NOTE}, 403, "FORBIDDEN", None),
    ("/stomp/api/publish", {"destination": "/topic/chat/c1", "message": NOTE}, 400, "INVALID_MESSAGE", "type"),
    ("/stomp/api/notify", {"userId": "b/ob", "message": NOTE}, 400, "INVALID_MESSAGE", "userId"),
    ("/stomp/api/notify", {"userId": "bob", "message": dict(NOTE, payload={"title": ""})}, 400, "INVALID_MESSAGE",
     "payload.message"),
    ("/stomp/api/publish", {"destination": "/topic/chat/c1", "message": json.loads(chat_envelope("b", "c1", "refuse"))},
     403, "FORBIDDEN", None),
    ("/stomp/api/publish", b"x" * (64 * 1024 + 1), 413, "TOO_LARGE", None),
])
def test_bad_input_gets_a_4xx_with_a_json_reason(
    nexus: NexusServer, path: str, body: Any, status: int, error: str, detail: Optional[str]
) -> None:
    raw = body if isinstance(body, bytes) else None
    got, answer, text = call(nexus, path, None if raw else body, service_token(nexus), raw=raw)
    assert (got, answer["error"]) == (status, error), answer
    assert answer["message"]
    if detail is not None:
        assert detail in answer["details"]["errors"], answer
    assert "Traceback" not in text


def _nested(depth: int) -> bytes:
    return b'{"destination": "/topic/chat/c1", "message": ' + b'{"a": ' * depth + b"1" + b"}" * depth + b"}"


@pytest.mark.parametrize("raw, field", [
    (_nested(3000), "body"),  # beyond what the JSON parser recurses into
    (_nested(900), "type"),  # parsed; refused for what it lacks, whatever it nests
    (b'{"destination": "/topic/chat/c1", "message": {"type": "CHAT_MESSAGE", "senderId": "\\ud800"}}', "message"),
    (b'{"destination": "/topic/chat/c1", "message": {"\\udfff": 1}}', "message"),
])
def test_deep_nesting_and_lone_surrogates_are_invalid_messages_not_failures(
    nexus: NexusServer, raw: bytes, field: str, caplog: pytest.LogCaptureFixture
) -> None:
    status, answer, text = call(nexus, "/stomp/api/publish", token=service_token(nexus), raw=raw)
    assert (status, answer["error"]) == (400, "INVALID_MESSAGE"), answer
    assert field in answer["details"]["errors"], answer
    assert "Traceback" not in text
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]
    assert nexus.run(lambda: nexus.plugin.store.read_after("/topic/chat/c1", 0, 10)) == []


def test_a_refusal_names_at_most_20_unknown_fields(nexus: NexusServer) -> None:
    body = {"destination": "/topic/announcements", "message": NOTE}
    extra = ["f%d" % i for i in range(4600)]
    body.update((name, 0) for name in extra)
    status, answer, text = call(nexus, "/stomp/api/publish", body, service_token(nexus))
    assert (status, answer["error"]) == (400, "INVALID_MESSAGE")
    errors = answer["details"]["errors"]
    named = [k for k, v in errors.items() if v == ["unknown field"]]
    assert named == sorted(extra)[:20]
    assert errors["body"] == ["4580 more unknown fields"]
    assert len(errors) == 21 and len(text) < 2000
    # The summary names one field, shortened.
    body = {"destination": "/topic/announcements", "message": NOTE, "k" * 5000: 1}
    status, answer, text = call(nexus, "/stomp/api/publish", body, service_token(nexus))
    assert status == 400 and len(answer["message"]) < 200


def test_a_failing_handler_is_a_500_with_a_tracking_id_and_other_methods_a_405(
    nexus: NexusServer, caplog: pytest.LogCaptureFixture
) -> None:
    message = json.loads(chat_envelope("billing", "c1", "explode"))
    status, answer, text = call(nexus, "/stomp/api/publish", {"destination": "/topic/chat/c1", "message": message},
                                service_token(nexus))
    assert status == 500 and answer["error"] == "SERVER_ERROR"
    assert "boom" not in text and "Traceback" not in text
    assert any(answer["details"]["trackingId"] in r.getMessage() and r.exc_info for r in caplog.records)
    assert nexus.run(lambda: nexus.plugin.store.read_after("/topic/chat/c1", 0, 10)) == []
    status, answer, text = call(nexus, "/stomp/api/publish", method="GET")
    assert status == 405 and answer["error"] == "METHOD_NOT_ALLOWED" and "Traceback" not in text


def test_an_empty_service_role_turns_the_api_off() -> None:
    with running_nexus(service_role="") as nexus:
        conn = http.client.HTTPConnection("127.0.0.1", nexus.port, timeout=10)
        conn.request("POST", "/stomp/api/notify", body=b"{}")
        response = conn.getresponse()
        response.read()
        conn.close()
        assert response.status == 404


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_the_documented_curl_examples_work(nexus: NexusServer) -> None:
    doc = (Path(__file__).resolve().parent.parent / "docs" / "handlers.md").read_text()
    section = doc[doc.index("## Backend services publish over HTTP"):]
    script = re.findall(r"```sh\n(.*?)```", section, re.S)[1]
    assert script.startswith("TOKEN=...")
    script = script.replace("TOKEN=...", "TOKEN=%s" % service_token(nexus)).replace(":8888/", ":%d/" % nexus.port)
    script = script.replace("curl -s ", "curl -s -w '\\n' ")
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    answers = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert [(a["destination"], a["seq"]) for a in answers] == [("/topic/chat/general", 1),
                                                               ("/topic/notifications/bob", 1)]


def test_each_service_is_rate_limited_over_both_endpoints() -> None:
    with running_nexus(service_publishes_per_minute=3) as nexus:
        billing, other = service_token(nexus), service_token(nexus, "crm")
        for _ in range(2):
            status, answer, _ = call(nexus, "/stomp/api/notify", {"userId": "bob", "message": NOTE}, billing)
            assert status == 200, answer
        status, answer, _ = call(nexus, "/stomp/api/publish", {"destination": "/topic/chat/c1", "message":
                                 json.loads(chat_envelope("billing", "c1", "hi"))}, billing)
        assert status == 200, answer
        conn = http.client.HTTPConnection("127.0.0.1", nexus.port, timeout=10)
        conn.request("POST", "/stomp/api/notify", body=json.dumps({"userId": "bob", "message": NOTE}),
                     headers={"Authorization": "Bearer " + billing})
        response = conn.getresponse()
        answer = json.loads(response.read())
        conn.close()
        assert (response.status, answer["error"]) == (429, "RATE_LIMITED"), answer
        assert 0 < answer["details"]["retryAfter"] <= 60
        assert 1 <= int(response.getheader("Retry-After", "0")) <= 60
        # Another service has a budget of its own; the refused one was not stored.
        assert call(nexus, "/stomp/api/notify", {"userId": "bob", "message": NOTE}, other)[0] == 200
        notes = nexus.run(lambda: nexus.plugin.store.read_after("/topic/notifications/bob", 0, 10))
        assert len(notes) == 3
