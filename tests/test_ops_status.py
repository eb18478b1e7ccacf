"""nexus_tornado.ops.status: the operator's page and the numbers behind it, over real
HTTP with real traffic (tests/e2e/test_status_page.py shows the page in Chromium)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any, Dict

import pytest
from support.clients import RawWsClient, chat_envelope
from support.nexus import SECRET, running_nexus

from nexus_tornado.host.plugin import NexusPlugin
from nexus_tornado.ops.status import SAMPLES, TOP
from nexus_tornado.settings import Settings


def fetch(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, dict(response.headers), response.read()


def snapshot(base_url: str) -> Dict[str, Any]:
    status, headers, body = fetch(base_url + "/ops/status/data.json")
    assert status == 200 and headers["Cache-Control"] == "no-store"
    return json.loads(body)


def test_the_data_follows_connections_publishes_and_rejections() -> None:
    with running_nexus(status_path="/ops/status") as nexus:
        before = snapshot(nexus.admin_url)
        assert (before["connections"], before["published"], before["rejections"]) == (0, 0, {})
        client = RawWsClient(nexus.ws_url)
        try:
            client.connect(nexus.token("olga", chats=["ops"]))
            client.subscribe_errors()
            client.subscribe("chat", "/topic/chat/ops")
            for n in range(3):
                client.send_frame("SEND", {"destination": "/topic/chat/ops", "receipt": str(n)},
                                  chat_envelope("olga", "ops"))
                client.expect("RECEIPT", receipt_id=str(n))
            client.send_frame("SEND", {"destination": "/topic/chat/elsewhere"}, chat_envelope("olga", "elsewhere"))
            assert client.rejection()[1]["error"] == "FORBIDDEN"
            nexus.handle.call(lambda: nexus.plugin.activity.sample())
            now = snapshot(nexus.admin_url)
            assert now["connections"] == 1 and now["transports"] == {"rawwebsocket": 1}
            assert now["users_online"] == 1
            assert now["rejections"] == {"FORBIDDEN": 1}
            # The three chat messages, and olga's ONLINE on /topic/presence.
            assert now["busiest_by_messages"] == [["/topic/chat/ops", 3], ["/topic/presence", 1]]
            assert now["published"] == now["samples"][-1]["published"] == 4
        finally:
            client.close()


def test_the_page_is_self_contained_and_polls_its_data() -> None:
    with running_nexus(status_path="/ops/status") as nexus:
        status, headers, body = fetch(nexus.admin_url + "/ops/status")
        assert status == 200 and headers["Content-Type"].startswith("text/html")
        assert "default-src 'none'" in headers["Content-Security-Policy"]
        assert b"/ops/status/data.json" in body
        assert b"<script src=" not in body  # nothing loaded from elsewhere
        for path in ("/ops/status", "/ops/status/data.json"):  # never in plugin.urls
            with pytest.raises(urllib.error.HTTPError) as missing:
                fetch(nexus.base_url + path)
            assert missing.value.code == 404
            missing.value.close()


def test_the_plugin_mounts_no_status_page_unless_asked() -> None:
    with running_nexus() as nexus:
        for base in (nexus.base_url, nexus.admin_url):
            with pytest.raises(urllib.error.HTTPError) as missing:
                fetch(base + "/status/data.json")
            assert missing.value.code == 404
            missing.value.close()


def test_busiest_destinations_sum_the_samples_of_the_window() -> None:
    plugin = NexusPlugin(Settings(jwt_secret=SECRET))
    activity, stats = plugin.activity, plugin.hub.stats
    stats.by_destination.update({"/topic/chat/a": 3, "/topic/chat/b": 5})
    stats.published = 8
    activity.sample()
    stats.by_destination.update({"/topic/chat/a": 4})
    stats.published = 12
    activity.sample()
    snapshot = activity.snapshot()
    assert snapshot["busiest_by_messages"] == [["/topic/chat/a", 7], ["/topic/chat/b", 5]]
    assert [s["published"] for s in snapshot["samples"]] == [8, 12]
    assert stats.by_destination == {}  # taken by each sample
    for n in range(SAMPLES + 5):  # the window is bounded
        stats.by_destination.update({"/topic/chat/%d" % i: 1 for i in range(10 * TOP)})
        activity.sample()
    snapshot = activity.snapshot()
    assert len(snapshot["samples"]) == SAMPLES and len(snapshot["busiest_by_messages"]) == TOP
    json.dumps(snapshot)
