"""The token handler a host app mounts on its own login, on a real server."""

from __future__ import annotations

import http.client
import json
import logging
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pytest
import tornado.web
from support.clients import RawWsClient
from support.nexus import NexusServer, running_nexus


class SessionHandler(tornado.web.RequestHandler):
    """A host's base handler: the user comes from its session (here a header), set in
    an async ``prepare`` as Tornado suggests for sessions kept in a database."""

    async def prepare(self) -> None:
        self.current_user = self.request.headers.get("X-Session-User")


async def claims_for(handler: Any, user: str) -> Optional[Dict[str, Any]]:
    if user == "ghost":
        return None
    if user == "sneaky":
        return {"roles": ["service"]}
    return {"roles": ["member"], "chats": ["c1"]}


@pytest.fixture
def nexus() -> Iterator[NexusServer]:
    def urls(plugin: Any) -> List[Any]:
        return [plugin.token_url(r"/nexus/token", claims_for, base=SessionHandler, ttl=120)]

    with running_nexus(extra_urls=urls) as server:
        yield server


def post(nexus: NexusServer, user: Optional[str], method: str = "POST") -> Tuple[int, Dict[str, Any]]:
    conn = http.client.HTTPConnection("127.0.0.1", nexus.port, timeout=10)
    try:
        conn.request(method, "/nexus/token", body=b"" if method == "POST" else None,
                     headers={"X-Session-User": user} if user else {})
        response = conn.getresponse()
        assert response.getheader("Content-Type", "").startswith("application/json")
        assert response.getheader("Cache-Control") == "no-store"
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def test_a_logged_in_user_gets_a_short_lived_token_that_connects(nexus: NexusServer) -> None:
    status, answer = post(nexus, "ann")
    assert status == 200 and answer["userId"] == "ann"
    principal = nexus.plugin.services.verifier.verify(answer["token"])
    assert principal.roles == {"member"} and principal.claims["chats"] == ["c1"]
    assert principal.claims["exp"] - principal.claims["iat"] == 120 == answer["expiresAt"] - principal.claims["iat"]
    client = RawWsClient(nexus.ws_url)
    assert client.connect(answer["token"]).headers["user-name"] == "ann"
    client.subscribe("chat", "/topic/chat/c1")
    client.close()


def test_refusals_are_json(nexus: NexusServer, caplog: pytest.LogCaptureFixture) -> None:
    assert post(nexus, None) == (401, {"error": "UNAUTHORIZED", "message": "not logged in"})
    assert post(nexus, "ghost")[0] == 403
    status, answer = post(nexus, "sneaky")  # a user's token never carries the service role
    assert status == 500 and answer["error"] == "SERVER_ERROR" and "token" not in answer
    assert any(answer["trackingId"] in r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR)
    status, answer = post(nexus, "ann", method="GET")
    assert status == 405 and "Traceback" not in json.dumps(answer)
