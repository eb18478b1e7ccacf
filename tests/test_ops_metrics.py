"""/metrics through a real server: the counters move with real STOMP traffic; each
plugin has a registry of its own; the endpoint is off in the plugin unless mounted."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.error
import urllib.request
from typing import Dict, Tuple

import pytest
from prometheus_client.parser import text_string_to_metric_families
from support.clients import RawWsClient, chat_envelope
from support.nexus import SECRET, running_nexus

from nexus_tornado.host.plugin import NexusPlugin
from nexus_tornado.settings import Settings

Samples = Dict[Tuple[str, Tuple[Tuple[str, str], ...]], float]


def scrape(base_url: str, path: str = "/metrics") -> Samples:
    with urllib.request.urlopen(base_url + path, timeout=10) as response:
        assert response.headers["Content-Type"].startswith("text/plain; version=")
        text = response.read().decode()
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_counters_move_with_real_traffic() -> None:
    with running_nexus(metrics_path="/metrics", sends_per_minute=5) as nexus:
        before = scrape(nexus.admin_url)
        assert all(name.startswith("nexus_") for name, _ in before if not name.startswith(("python_", "process_")))
        alice = RawWsClient(nexus.ws_url)
        bob = RawWsClient(nexus.ws_url)
        alice.connect(nexus.token("alice", chats=["m"]))
        bob.connect(nexus.token("bob", chats=["m"]))
        for client in (alice, bob):
            client.subscribe_errors()
            client.subscribe("chat", "/topic/chat/m")
        for n in range(3):
            alice.send_frame("SEND", {"destination": "/topic/chat/m", "receipt": "r%d" % n}, chat_envelope("alice", "m"))
            alice.expect("RECEIPT", receipt_id="r%d" % n)
        for client in (alice, bob):
            for n in range(3):
                client.expect("MESSAGE", subscription="chat")
        alice.send_frame("SEND", {"destination": "/topic/chat/other"}, chat_envelope("alice", "other"))
        assert alice.rejection()[1]["error"] == "FORBIDDEN"
        for _ in range(2):  # the refused SEND counted too: one more allowed (5 per minute)
            alice.send_frame("SEND", {"destination": "/topic/chat/m"}, chat_envelope("alice", "m"))
        assert alice.rejection()[1]["error"] == "RATE_LIMITED"
        for client in (alice, bob):
            client.expect("MESSAGE", subscription="chat")
        carol = RawWsClient(nexus.ws_url)
        carol.connect(nexus.token("carol", chats=["m"]))
        carol.subscribe("replay", "/topic/chat/m", **{"last-seq": "0"})
        for _ in range(4):
            carol.expect("MESSAGE", subscription="replay")

        during = scrape(nexus.admin_url)
        assert value(during, "nexus_connections", transport="rawwebsocket") == 3
        assert value(during, "nexus_subscriptions") == 3  # two chats and carol's replay
        assert value(during, "nexus_users_online") == 3
        assert value(during, "nexus_connections_opened_total", transport="rawwebsocket") == 3
        presence = 3  # a presence announcement for each user who came online
        assert value(during, "nexus_messages_published_total") == 4 + presence
        assert value(during, "nexus_messages_delivered_total") == 8  # 4 messages x 2 subscribers
        assert value(during, "nexus_messages_replayed_total") == 4
        assert value(during, "nexus_frames_received_total", command="CONNECT") == 3
        assert value(during, "nexus_frames_received_total", command="SEND") == 6
        assert value(during, "nexus_frames_received_total", command="SUBSCRIBE") == 5
        assert value(during, "nexus_frames_sent_total", command="CONNECTED") == 3
        assert value(during, "nexus_frames_sent_total", command="RECEIPT") == 3 + 5
        # 8 live + 4 replayed deliveries and 2 rejection reports
        assert value(during, "nexus_frames_sent_total", command="MESSAGE") == 14
        assert value(during, "nexus_rejections_total", code="FORBIDDEN") == 1
        assert value(during, "nexus_rejections_total", code="RATE_LIMITED") == 1
        assert value(during, "nexus_rate_limited_total") == 1
        assert value(during, "nexus_store_operation_seconds_count", operation="append") == 4 + presence
        assert value(during, "nexus_store_operation_seconds_count", operation="read_after") >= 1
        assert value(during, "nexus_store_errors_total", operation="append") == 0

        alice.send_frame("DISCONNECT", {"receipt": "bye"})
        alice.expect("RECEIPT", receipt_id="bye")
        alice.wait_closed()
        bob.close()
        deadline = time.monotonic() + 10
        while value(scrape(nexus.admin_url), "nexus_connections", transport="rawwebsocket") != 1:
            assert time.monotonic() < deadline, "closed connections still counted"
            time.sleep(0.05)
        after = scrape(nexus.admin_url)
        assert value(after, "nexus_connections_closed_total", reason="disconnect") == 1
        assert value(after, "nexus_connections_closed_total", reason="client") == 1
        assert value(after, "nexus_frames_received_total", command="DISCONNECT") == 1
        carol.close()


def test_the_event_loop_lag_is_measured() -> None:
    with running_nexus(metrics_path="/metrics") as nexus:
        deadline = time.monotonic() + 60
        while value(scrape(nexus.admin_url), "nexus_event_loop_lag_seconds_count") < 2:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        nexus.plugin.metrics.observe_stream_lag(1.5)
        assert value(scrape(nexus.admin_url), "nexus_stream_lag_seconds", stream="messages") == 1.5


def test_the_plugin_mounts_no_metrics_unless_asked() -> None:
    with running_nexus() as nexus:
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(nexus.base_url + "/metrics", timeout=10)
        assert missing.value.code == 404
        missing.value.close()


def test_plugins_have_registries_of_their_own() -> None:
    first = NexusPlugin(Settings(jwt_secret=SECRET))
    second = NexusPlugin(Settings(jwt_secret=SECRET))  # no "Duplicated timeseries" error
    assert first.metrics.registry is not second.metrics.registry
    first.hub.stats.published = 7
    assert b"nexus_messages_published_total 7.0" in first.metrics.exposition()
    assert b"nexus_messages_published_total 0.0" in second.metrics.exposition()


def test_prometheus_and_tornado_stay_out_of_the_lower_layers() -> None:
    code = (
        "import sys\n"
        "before = set(sys.modules)\n"
        "import nexus_tornado.stomp, nexus_tornado.policy.guard, nexus_tornado.hub.hub, nexus_tornado.hub.memory\n"
        "bad = sorted(m for m in set(sys.modules) - before if m.split('.')[0] in ('prometheus_client', 'tornado'))\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""


def test_store_timings_are_a_cumulative_histogram_with_le_buckets() -> None:
    metrics = NexusPlugin(Settings(jwt_secret=SECRET)).metrics
    timing = metrics.store.timing("append")
    for seconds in (0.001, 0.003, 20.0):  # on a bound, between two, beyond the last
        metrics.store.observe(timing, seconds)
    timing.errors += 1
    samples: Samples = {}
    for family in text_string_to_metric_families(metrics.exposition().decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    bucket = "nexus_store_operation_seconds_bucket"
    assert value(samples, bucket, operation="append", le="0.0005") == 0
    assert value(samples, bucket, operation="append", le="0.001") == 1
    assert value(samples, bucket, operation="append", le="0.005") == 2
    assert value(samples, bucket, operation="append", le="10.0") == 2
    assert value(samples, bucket, operation="append", le="+Inf") == 3
    assert value(samples, "nexus_store_operation_seconds_count", operation="append") == 3
    assert value(samples, "nexus_store_operation_seconds_sum", operation="append") == pytest.approx(20.004)
    assert value(samples, "nexus_store_errors_total", operation="append") == 1
