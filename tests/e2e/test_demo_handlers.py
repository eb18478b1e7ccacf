"""The demo app's HTTP endpoints (nexus_tornado.demo), against a real plugin on loopback.

No browser: these check the demo-only login's tokens, the system-event endpoint and
where the page's files are found.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import socket
from pathlib import Path
from typing import Any, Dict, Iterator, Optional, Tuple

import jwt
import pytest

from nexus_tornado.demo import DEMO_USERS, STATIC_PATH, demo_urls
from nexus_tornado.demo.business import mentions_in
from nexus_tornado.demo.tokens import MAX_TTL, MIN_TTL, default_secret_path, stable_secret
from nexus_tornado.hub.store import StoredMessage
from nexus_tornado.policy.auth import TokenVerifier
from nexus_tornado.settings import Settings
from support.nexus import NexusServer, running_nexus

SECRET = "demo-test-secret-0123456789abcdef0123"


class Demo:
    """The plugin with the demo app mounted, and a JSON client for its endpoints."""

    def __init__(self, nexus: NexusServer) -> None:
        self.nexus = nexus
        self.handle = nexus.handle
        self.plugin = nexus.plugin
        self.run = nexus.run

    def request(
        self, method: str, path: str, body: Any = None, token: Optional[str] = None
    ) -> Tuple[int, Dict[str, Any]]:
        conn = http.client.HTTPConnection("127.0.0.1", self.handle.port, timeout=10)
        try:
            headers = {"Content-Type": "application/json"}
            if token:
                headers["Authorization"] = "Bearer " + token
            conn.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
            response = conn.getresponse()
            raw = response.read()
            return response.status, json.loads(raw) if raw.startswith(b"{") else {"raw": raw}
        finally:
            conn.close()

    def stored(self, destination: str) -> Any:
        return self.run(lambda: self.plugin.store.read_after(destination, 0, 100))


@pytest.fixture
def demo() -> Iterator[Demo]:
    settings = Settings(jwt_secret=SECRET, jwt_issuer="nexus-demo")
    with running_nexus(settings, extra_urls=demo_urls) as nexus:
        yield Demo(nexus)


def verify(token: str) -> Any:
    return TokenVerifier(SECRET, ("HS256",), issuer="nexus-demo").verify(token)


def test_static_path_holds_the_page() -> None:
    for name in ("index.html", "demo.js", "demo-support.js", "demo-board.js", "demo.css",
                 "nexus-messages.js", "nexus-client.js", "nexus-token.js", "vendor/VERSIONS"):
        assert os.path.isfile(os.path.join(STATIC_PATH, name)), name


def test_config_lists_users_without_secrets(demo: Demo) -> None:
    status, config = demo.request("GET", "/demo/config")
    assert status == 200
    assert config["prefix"] == "/stomp"
    assert [u["id"] for u in config["users"]] == [u.user_id for u in DEMO_USERS]
    assert "token" not in json.dumps(config)


def test_token_carries_the_wire_contract_claims(demo: Demo) -> None:
    status, data = demo.request("POST", "/demo/token", {"user": "alice", "ttl": 120})
    assert status == 200
    principal = verify(data["token"])
    assert principal.user_id == "alice" and principal.is_admin
    assert principal.claims["chats"] == ["general", "design"]
    assert principal.claims["boards"] == ["roadmap"]
    assert principal.claims["calendars"] == ["bob"]
    assert principal.claims["iss"] == "nexus-demo"
    assert principal.claims["exp"] - principal.claims["iat"] == 120
    assert data["expiresAt"] == principal.claims["exp"]
    assert not verify(demo.request("POST", "/demo/token", {"user": "bob"})[1]["token"]).is_admin


@pytest.mark.parametrize("ttl, lifetime", [(1, MIN_TTL), (10**9, MAX_TTL)])
def test_token_lifetime_is_bounded(demo: Demo, ttl: int, lifetime: int) -> None:
    claims = jwt.decode(demo.request("POST", "/demo/token", {"user": "bob", "ttl": ttl})[1]["token"],
                        options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == lifetime


@pytest.mark.parametrize("body, status", [
    ({"user": "mallory"}, 404),
    ({"user": "bob", "ttl": "long"}, 400),
    ("not an object", 400),
])
def test_token_refuses_bad_requests(demo: Demo, body: Any, status: int) -> None:
    assert demo.request("POST", "/demo/token", body)[0] == status


def test_signing_needs_a_shared_secret_or_a_signing_key() -> None:
    public_only = Settings(jwt_secret="-----BEGIN PUBLIC KEY-----", jwt_algorithms=("RS256",))
    with running_nexus(public_only, extra_urls=demo_urls) as nexus:
        status, data = Demo(nexus).request("POST", "/demo/token", {"user": "bob"})
    assert status == 501 and "jwt_signing_key" in data["message"]


def test_events_notify_a_user_through_the_plugin(demo: Demo) -> None:
    token = demo.request("POST", "/demo/token", {"user": "carol"})[1]["token"]
    status, data = demo.request("POST", "/demo/events", {
        "kind": "notify", "to": "bob", "title": "Task assigned", "message": "Card 12 is yours",
    }, token=token)
    assert status == 200
    assert data == {"sent": [{"to": "bob", "seq": 1}]}
    stored = demo.stored("/topic/notifications/bob")
    assert len(stored) == 1 and isinstance(stored[0], StoredMessage)
    envelope = json.loads(stored[0].body)
    assert envelope["type"] == "NOTIFICATION" and envelope["senderId"] == "carol"
    assert envelope["payload"] == {"notificationType": "SYSTEM_EVENT", "title": "Task assigned",
                                   "message": "Card 12 is yours"}


def test_events_to_everyone(demo: Demo) -> None:
    token = demo.request("POST", "/demo/token", {"user": "alice"})[1]["token"]
    status, data = demo.request("POST", "/demo/events", {
        "kind": "notify", "to": "*", "title": "Hello", "message": "all of you"}, token=token)
    assert status == 200
    assert sorted(s["to"] for s in data["sent"]) == sorted(u.user_id for u in DEMO_USERS)


@pytest.mark.parametrize("token, body, status", [
    (None, {"kind": "notify", "to": "bob", "title": "t", "message": "m"}, 401),
    ("not-a-jwt", {"kind": "notify", "to": "bob", "title": "t", "message": "m"}, 401),
    ("valid", {"kind": "shout", "to": "bob", "title": "t", "message": "m"}, 400),
    ("valid", {"kind": "notify", "to": "nobody", "title": "t", "message": "m"}, 404),
    ("valid", {"kind": "notify", "to": "bob", "title": "x" * 101, "message": "m"}, 400),
    ("valid", {"kind": "notify", "to": "bob", "title": "t", "message": ""}, 400),
    ("valid", {"kind": "notify", "to": "bob", "title": "t", "message": "m", "notificationType": "lower"}, 400),
])
def test_events_refuse_bad_requests(demo: Demo, token: Optional[str], body: Any, status: int) -> None:
    if token == "valid":
        token = demo.request("POST", "/demo/token", {"user": "alice"})[1]["token"]
    assert demo.request("POST", "/demo/events", body, token=token)[0] == status
    assert demo.stored("/topic/notifications/bob") == []


def test_vendored_libraries_are_recorded() -> None:
    vendor = os.path.join(STATIC_PATH, "vendor")
    with open(os.path.join(vendor, "VERSIONS"), encoding="utf-8") as handle:
        rows = [line.split() for line in handle if line.strip() and not line.startswith("#")]
    versions = {row[0]: (row[1], row[2]) for row in rows}
    assert versions["sockjs-client"][0].startswith("1.6.")
    assert versions["@stomp/stompjs"][0].startswith("7.")
    assert versions["sockjs-client"][1] == "MIT" and versions["@stomp/stompjs"][1] == "Apache-2.0"
    assert versions["promise-polyfill"][1] == "MIT" and versions["fast-text-encoding"][1] == "Apache-2.0"
    names = ("sockjs.min.js", "stomp.es5.min.js", "promise-polyfill.min.js", "fast-text-encoding.min.js",
             "LICENSE.sockjs-client", "LICENSE.stompjs", "LICENSE.promise-polyfill", "LICENSE.fast-text-encoding")
    for name in names:
        assert os.path.getsize(os.path.join(vendor, name)) > 0, name
    with open(os.path.join(vendor, "sockjs.min.js"), encoding="utf-8") as handle:
        assert '"%s"' % versions["sockjs-client"][0] in handle.read()
    with open(os.path.join(vendor, "stomp.es5.min.js"), encoding="utf-8") as handle:
        assert "@stomp/stompjs %s" % versions["@stomp/stompjs"][0] in handle.readline()


@pytest.mark.parametrize("path, content_type", [
    ("/", "text/html"),
    ("/static/nexus-client.js", "javascript"),
    ("/static/nexus-messages.js", "javascript"),
    ("/static/vendor/VERSIONS", "text/plain"),
    ("/static/vendor/LICENSE.stompjs", "text/plain"),
])
def test_page_files_are_served(demo: Demo, path: str, content_type: str) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", demo.handle.port, timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        assert response.status == 200
        assert content_type in (response.getheader("Content-Type") or "")
    finally:
        conn.close()


def test_the_demo_secret_is_made_once_then_kept(tmp_path: Path) -> None:
    path = tmp_path / "state" / "nexus-tornado" / "demo-jwt-secret"
    secret, created = stable_secret(path)
    assert created and len(secret) == 64
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700
    assert stable_secret(path) == (secret, False)
    path.write_text("  %s\n" % secret)  # edited by hand: whitespace does not count
    assert stable_secret(path) == (secret, False)


def test_a_short_demo_secret_is_refused_with_its_path(tmp_path: Path) -> None:
    path = tmp_path / "demo-jwt-secret"
    path.write_text("too short\n")
    with pytest.raises(ValueError, match="demo secret file %s holds fewer than 32 characters" % path):
        stable_secret(path)


def test_the_demo_secret_lives_in_the_state_directory() -> None:
    assert default_secret_path({"XDG_STATE_HOME": "/x/state"}) == Path("/x/state/nexus-tornado/demo-jwt-secret")
    assert default_secret_path({}) == Path.home() / ".local" / "state" / "nexus-tornado" / "demo-jwt-secret"

def test_board_state_is_kept_on_the_server_for_members(demo: Demo) -> None:
    alice = demo.request("POST", "/demo/token", {"user": "alice"})[1]["token"]
    dave = demo.request("POST", "/demo/token", {"user": "dave"})[1]["token"]
    assert demo.request("GET", "/demo/board/roadmap", token=alice)[1] == {"boardId": "roadmap", "seq": 0, "cards": []}
    for action, data in (("add", {"cardId": "c1", "title": "Plan", "column": "todo"}),
                         ("add", {"cardId": "c2", "title": "Ship", "column": "todo"}),
                         ("move", {"cardId": "c1", "to": "done"}),
                         ("delete", {"cardId": "c2"})):
        demo.run(lambda: demo.plugin.publish("/topic/board/roadmap", {
            "type": "BOARD_UPDATE", "timestamp": "2026-01-01T00:00:00Z", "senderId": "alice",
            "payload": {"boardId": "roadmap", "action": action, "data": data}}))
    demo.run(lambda: asyncio.sleep(0.05))
    status, state = demo.request("GET", "/demo/board/roadmap", token=alice)
    assert status == 200 and state["seq"] == 4
    assert [(c["id"], c["column"], c["seq"]) for c in state["cards"]] == [("c1", "done", 3)]
    assert demo.request("GET", "/demo/board/roadmap", token=dave)[0] == 403
    assert demo.request("GET", "/demo/board/roadmap")[0] == 401


def test_mentions_name_participants_of_the_chat_only() -> None:
    assert mentions_in("@bob and @Carol, @dave @nobody @alice", "general", "alice") == ["bob", "carol", "dave"]
    assert mentions_in("@carol", "design", "alice") == []  # carol is not in #design
    assert mentions_in("mail me at x@bob.org", "general", "alice") == []


@pytest.mark.parametrize("method, path", [("POST", "/demo/token"), ("POST", "/demo/events"),
                                          ("POST", "/demo/config"), ("GET", "/"), ("GET", "/static/demo.js")])
def test_every_demo_endpoint_refuses_a_large_body_before_reading_it(demo: Demo, method: str, path: str) -> None:
    with socket.create_connection(("127.0.0.1", demo.handle.port), timeout=10) as sock:
        # 100 MB announced, none of it sent: answered at once from Content-Length.
        sock.sendall(b"%s %s HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n" % (method.encode(), path.encode()))
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]


def test_a_demo_login_within_the_body_limit_still_works(demo: Demo) -> None:
    status, body = demo.request("POST", "/demo/token", {"user": DEMO_USERS[0].user_id})
    assert status == 200 and body["userId"] == DEMO_USERS[0].user_id
