"""/healthz and /readyz: liveness never follows the store; readiness follows a frozen and
thawed MongoDB (nx-27017 stopped with SIGSTOP, resumed with SIGCONT) and a shutdown."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any, Dict, Tuple

import pytest
from support.clients import RawWsClient, chat_envelope
from support.mongo import NxServer, nx_outage_server  # noqa: F401  (fixture)
from support.nexus import running_nexus

from nexus_tornado.hub.mongo import MongoStore

PATHS = {"health_path": "/healthz", "readiness_path": "/readyz"}


def get(url: str) -> Tuple[int, Dict[str, Any]]:
    """Status and JSON body."""
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        body = json.loads(error.read())
        error.close()
        return error.code, body


def wait_for_status(url: str, status: int, limit: float = 60.0) -> Dict[str, Any]:
    deadline = time.monotonic() + limit
    while True:
        code, body = get(url)
        if code == status:
            return body
        assert time.monotonic() < deadline, "%s stayed %d: %s" % (url, code, body)
        time.sleep(0.1)


def test_both_answer_200_with_the_memory_store_and_are_off_unless_mounted() -> None:
    with running_nexus(**PATHS) as nexus:
        assert get(nexus.base_url + "/healthz")[:2] == (200, {"status": "ok"})
        code, body = get(nexus.base_url + "/readyz")
        assert code == 200 and body["ready"] and body["store"] == "ok"
    with running_nexus() as nexus:
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(nexus.base_url + "/readyz", timeout=10)
        assert missing.value.code == 404
        missing.value.close()


@pytest.mark.mongo
def test_readiness_follows_a_frozen_and_thawed_store(nx_outage_server: NxServer) -> None:  # noqa: F811
    uri = nx_outage_server.uri

    def store() -> MongoStore:
        return MongoStore.from_uri(uri, "nexus_health", timeout=1.0)

    with running_nexus(store_factory=store, readiness_interval=0.2, metrics_path="/metrics", **PATHS) as nexus:
        ready = nexus.base_url + "/readyz"
        assert get(ready)[0] == 200
        nx_outage_server.pause()
        try:
            body = wait_for_status(ready, 503)
            assert body["ready"] is False and body["store"] == "unavailable"
            # The store's error can name internal hosts: operators read it on the admin
            # address; the public readiness answer leaves it out.
            assert "detail" not in body
            code, admin_body = get(nexus.admin_url + "/readyz")
            assert code == 503 and "127.0.0.1:%d" % nx_outage_server.port in admin_body["detail"]
            # Liveness does not follow the store.
            assert get(nexus.base_url + "/healthz")[:2] == (200, {"status": "ok"})
            # A client's SEND fails meanwhile (UNAVAILABLE), and is counted as a store error.
            client = RawWsClient(nexus.ws_url)
            client.connect(nexus.token("dora", chats=["h"]))
            client.subscribe_errors()
            client.send_frame("SEND", {"destination": "/topic/chat/h"}, chat_envelope("dora", "h"))
            assert client.rejection(timeout=30)[1]["error"] == "UNAVAILABLE"
            client.close()
        finally:
            nx_outage_server.resume()
        wait_for_status(ready, 200)
        with urllib.request.urlopen(nexus.admin_url + "/metrics", timeout=10) as response:
            metrics = response.read().decode()
        errors = {
            line.split('"')[1]: float(line.rsplit(" ", 1)[1])
            for line in metrics.splitlines() if line.startswith("nexus_store_errors_total{")
        }
        assert errors["probe"] >= 1 and errors["append"] >= 1  # dora's SEND (and her presence)


def test_readiness_is_503_once_shutdown_begins() -> None:
    with running_nexus(**PATHS) as nexus:
        nexus.handle.call(lambda: setattr(nexus.plugin.services, "closing", True))
        code, body = get(nexus.base_url + "/readyz")
        assert code == 503 and body["closing"] is True and body["store"] == "ok"
        assert get(nexus.base_url + "/healthz")[0] == 200
        nexus.handle.call(lambda: setattr(nexus.plugin.services, "closing", False))
