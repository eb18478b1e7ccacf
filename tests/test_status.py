"""The operator's page data (server/status.py): samples, busiest destinations, the page's
mounting. The page itself runs in Chromium in tests/e2e/test_status_page.py."""

from __future__ import annotations

import json
import urllib.request

from support.nexus import SECRET, running_nexus

from nexus_tornado.server.plugin import NexusPlugin
from nexus_tornado.server.status import SAMPLES, TOP
from nexus_tornado.settings import Settings


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


def test_the_page_and_its_data_are_mounted_at_status_path_only() -> None:
    with running_nexus(status_path="/ops/status") as nexus:
        with urllib.request.urlopen(nexus.base_url + "/ops/status", timeout=10) as page:
            html = page.read().decode()
            assert "default-src 'none'" in page.headers["Content-Security-Policy"]
        assert 'var DATA = "/ops/status/data.json";' in html
        assert "<script src" not in html and "http" not in html.split("<script>")[1]  # nothing from elsewhere
        with urllib.request.urlopen(nexus.base_url + "/ops/status/data.json", timeout=10) as data:
            body = json.loads(data.read())
        assert body["connections"] == 0 and body["samples"]
