"""docs/handlers.md's complete host app, run as written (on a free port), driven over
HTTP (cookie login, the token handler, the service API) and STOMP."""

from __future__ import annotations

import http.client
import json
import os
import re
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path
from typing import Dict, Iterator, Optional, Tuple

import pytest
from support.clients import RawWsClient
from support.mongo import free_port
from support.nexus import SECRET

DOC = (Path(__file__).resolve().parent.parent / "docs" / "handlers.md").read_text()
XSRF = "0123456789abcdef0123456789abcdef"


def example() -> str:
    section = DOC[DOC.index("## A complete host app"):]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match
    return match.group(1)


class HostApp:
    def __init__(self, port: int, directory: Path) -> None:
        self.port = port
        self.directory = directory
        self.ws_url = "ws://127.0.0.1:%d/stomp/websocket" % port

    def request(self, method: str, path: str, body: bytes = b"", headers: Optional[Dict[str, str]] = None,
                cookies: str = "") -> Tuple[int, Dict[str, str], bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            all_headers = dict(headers or {})
            all_headers["Cookie"] = "; ".join(c for c in ("_xsrf=" + XSRF, cookies) if c)
            conn.request(method, path, body=body, headers=all_headers)
            response = conn.getresponse()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        finally:
            conn.close()

    def login(self, name: str) -> str:
        status, headers, _ = self.request("POST", "/login", urllib.parse.urlencode({"name": name}).encode(),
                                          {"X-XSRFToken": XSRF, "Content-Type": "application/x-www-form-urlencoded"})
        assert status == 200
        return headers["set-cookie"].split(";")[0]

    def token(self, cookie: str) -> Tuple[int, Dict[str, object]]:
        status, _, body = self.request("POST", "/nexus/token", b"{}", {"X-XSRFToken": XSRF}, cookie)
        return status, json.loads(body)


@pytest.fixture
def host_app(tmp_path: Path) -> Iterator[HostApp]:
    code = example()
    assert code.count("app.listen(8888)") == 1
    port = free_port()
    script = tmp_path / "host_app.py"
    script.write_text(code.replace("app.listen(8888)", "app.listen(%d)" % port))
    log_path = tmp_path / "host_app.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen([sys.executable, "-W", "error", str(script)], cwd=tmp_path,
                                   env=dict(os.environ, NEXUS_JWT_SECRET=SECRET), stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while b"listening" not in log_path.read_bytes():
            assert process.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, "the example did not start"
            time.sleep(0.05)
        yield HostApp(port, tmp_path)
    finally:
        process.terminate()
        process.wait(10)


def chat(user: str, content: str) -> bytes:
    return json.dumps({"type": "CHAT_MESSAGE", "timestamp": "2026-01-01T10:00:00Z", "senderId": user,
                       "payload": {"chatId": "general", "content": content, "contentType": "TEXT"}}).encode()


def test_the_complete_host_app_runs_as_written(host_app: HostApp) -> None:
    # The token handler: nobody logged in, no XSRF header, then ann's token.
    assert host_app.token("")[0] == 401
    ann_cookie = host_app.login("ann")
    status, _, body = host_app.request("POST", "/nexus/token", b"{}", {}, ann_cookie)
    assert status == 403 and json.loads(body)["error"] == "FORBIDDEN" and b"Traceback" not in body
    status, issued = host_app.token(ann_cookie)
    assert status == 200 and issued["userId"] == "ann"

    ann = RawWsClient(host_app.ws_url)
    ann.connect(str(issued["token"]))
    ann.subscribe_errors()
    ann.subscribe("chat", "/topic/chat/general")
    ann.send_frame("SEND", {"destination": "/topic/chat/general", "receipt": "a1"}, chat("ann", "  hi @bob  "))
    ann.expect("RECEIPT", receipt_id="a1")
    assert json.loads(ann.expect("MESSAGE", subscription="chat").body)["payload"]["content"] == "hi @bob"

    # A type of its own, sent by a member.
    ann.subscribe("p", "/topic/project/apollo")
    comment = {"type": "TASK_COMMENT", "timestamp": "2026-01-01T10:00:00Z", "senderId": "ann",
               "payload": {"projectId": "apollo", "text": "ship it"}}
    ann.send_frame("SEND", {"destination": "/topic/project/apollo", "receipt": "a2"}, json.dumps(comment).encode())
    ann.expect("RECEIPT", receipt_id="a2")
    assert json.loads(ann.expect("MESSAGE", subscription="p").body)["payload"]["text"] == "ship it"

    # Bob is muted (the handler refuses) and finds the mention stored for him.
    bob = RawWsClient(host_app.ws_url)
    bob.connect(str(host_app.token(host_app.login("bob"))[1]["token"]))
    bob.subscribe_errors()
    bob.send_frame("SEND", {"destination": "/topic/chat/general", "receipt": "b1"}, chat("bob", "hello"))
    refused = json.loads(bob.expect("MESSAGE", subscription="errors").body)
    assert (refused["error"], refused["message"]) == ("FORBIDDEN", "you are muted here")
    bob.subscribe("inbox", "/topic/notifications/bob")
    assert json.loads(bob.expect("MESSAGE", subscription="inbox").body)["payload"]["title"] == "You were mentioned"

    # A backend service publishes with the token the app wrote for it.
    service = (host_app.directory / "service-token.txt").read_text()
    message = json.loads(chat("billing", "invoice paid"))
    body = json.dumps({"destination": "/topic/chat/general", "message": message}).encode()
    status, _, answer = host_app.request("POST", "/stomp/api/publish", body, {"Authorization": "Bearer " + service})
    assert status == 200 and json.loads(answer)["seq"] == 2
    status, _, answer = host_app.request("POST", "/stomp/api/publish", body,
                                         {"Authorization": "Bearer " + str(issued["token"])})
    assert status == 403 and json.loads(answer)["error"] == "FORBIDDEN"
    assert ann.expect("MESSAGE", subscription="chat").headers["seq"] == "2"

    # The after-store listener kept the host's own table.
    deadline = time.monotonic() + 10
    while True:
        status, _, stats = host_app.request("GET", "/stats", cookies=ann_cookie)
        if json.loads(stats) == {"general": 2} or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert status == 200 and json.loads(stats) == {"general": 2}
    ann.close()
    bob.close()
