"""Tests of the benchmark harness itself: ``pytest -q bench/test_bench.py``.

No timing assertions: speed is what the harness measures, not what it checks.  The
end-to-end test drives the baseline server with a few clients and checks that what was
published arrived, counted once.
"""

from __future__ import annotations

import asyncio
import json
import os
import struct
import sys
from typing import Any, Dict, List

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import loadgen
import report
import scenarios
import stomp_wire as wire
import targets
import wsclient

SPLIT_CASES = [
    # (wire text, [(command, {headers}, body)])
    ("MESSAGE\nseq:5\ndestination:/topic/a\n\nhello\x00", [("MESSAGE", {"seq": "5", "destination": "/topic/a"}, "hello")]),
    ("\n\nRECEIPT\nreceipt-id:r1\n\n\x00", [("RECEIPT", {"receipt-id": "r1"}, "")]),
    ("CONNECTED\r\nversion:1.2\r\n\r\n\x00", [("CONNECTED", {"version": "1.2"}, "")]),
    ("MESSAGE\nk:a\\cb\\nc\\\\\n\nx\x00", [("MESSAGE", {"k": "a:b\nc\\"}, "x")]),
    ("MESSAGE\nk:1\nk:2\n\nx\x00", [("MESSAGE", {"k": "1"}, "x")]),  # first value wins
    ("MESSAGE\na:1\n\nx\x00\nRECEIPT\nreceipt-id:9\n\n\x00", [("MESSAGE", {"a": "1"}, "x"), ("RECEIPT", {"receipt-id": "9"}, "")]),
    ("ERROR\nmessage:bad\x00", [("ERROR", {"message": "bad"}, "")]),
]


@pytest.mark.parametrize("text, expected", SPLIT_CASES)
def test_split_frames(text: str, expected: List[Any]) -> None:
    got = [(c, wire.headers(b), body) for c, b, body in wire.split_frames(text)]
    assert got == expected
    for (command, block, _), (_, headers, _) in zip(wire.split_frames(text), expected):
        for name, value in headers.items():
            assert wire.header(block, name) == value
        assert wire.header(block, "absent") is None


def test_send_frame_round_trips() -> None:
    frame = wire.send("/topic/chat/a:b", '{"x": 1}', receipt="r7")
    [(command, block, body)] = list(wire.split_frames(frame))
    assert command == "SEND"
    assert wire.headers(block) == {"destination": "/topic/chat/a:b", "content-type": "application/json", "receipt": "r7"}
    assert body == '{"x": 1}'


def test_connect_headers_are_not_escaped() -> None:
    # STOMP 1.2 "Value Encoding": CONNECT and CONNECTED frames are exempt.
    frame = wire.connect("localhost", "u", "a:b")
    assert "\npasscode:a:b\n" in frame


def test_subscribe_carries_last_seq_and_receipt() -> None:
    [(_, block, _)] = list(wire.split_frames(wire.subscribe("s1", "/topic/x", receipt="r", last_seq=100)))
    assert wire.headers(block) == {"id": "s1", "destination": "/topic/x", "ack": "auto", "last-seq": "100", "receipt": "r"}


@pytest.mark.parametrize("size", [256, 400])
def test_body_is_exactly_the_size_and_a_valid_envelope(size: int) -> None:
    body = loadgen.body_template("pub", "42", size) % loadgen.stamp()
    assert len(body.encode()) == size
    envelope = json.loads(body)
    assert envelope["senderId"] == "pub"
    assert envelope["payload"]["chatId"] == "42"
    assert envelope["payload"]["content"].startswith(loadgen.TS_MARK)


def test_stats_count_only_inside_the_window() -> None:
    stats = loadgen.Stats()
    body = loadgen.body_template("p", "1", 256) % loadgen.stamp()
    stats.delivery(body)  # before GO: counted in total only
    stats.t0, stats.t1 = 0.0, float("inf")
    stats.delivery(body)
    assert (stats.total, stats.window, sum(stats.hist.values())) == (2, 1, 1)


def test_percentile_of_histogram() -> None:
    hist = {10: 50, 20: 49, 1000: 1}  # 0.1 ms buckets
    assert scenarios.percentile(hist, 0.5) == pytest.approx(1.05)
    assert scenarios.percentile(hist, 0.99) == pytest.approx(2.05)
    assert scenarios.percentile(hist, 1.0) == pytest.approx(100.05)
    assert scenarios.percentile({}, 0.5) is None


def test_report_renders_ratios() -> None:
    rows: List[Dict[str, Any]] = [
        {"scenario": "fanout", "target": report.BASELINE, "variant": "N=10", "phase": "max",
         "deliveries_per_s": 2000.0, "deliveries_per_cpu_s": 2000.0, "cpu_s_per_1k": 0.5},
        {"scenario": "fanout", "target": "nexus-tornado", "variant": "N=10", "phase": "max",
         "deliveries_per_s": 1000.0, "deliveries_per_cpu_s": 1000.0, "cpu_s_per_1k": 1.0},
    ]
    text = report.delivery_table(rows, "fanout", "max")
    nexus_line = next(line for line in text.splitlines() if "nexus-tornado" in line)
    assert "0.50×" in nexus_line


def test_fanout_against_the_baseline_server(tmp_path: Any) -> None:
    cfg = scenarios.Config(warmup=0.2, duration=0.5, drain=0.3, logdir=str(tmp_path))
    rows = scenarios.with_server(
        lambda: targets.BaselineServer(None, str(tmp_path)),
        lambda server: scenarios.fanout(server, 5, cfg),
    )
    assert [r["phase"] for r in rows] == ["max", "rate"]
    for row in rows:
        assert row["errors"] == 0 and row["closed"] == 0 and row["refused"] == 0
        assert row["receipts"] == row["published"] > 0
        assert row["undelivered"] == 0  # every accepted publish reached all 5 subscribers
        assert row["deliveries_per_s"] > 0
        assert row["p50_ms"] is not None


def server_frame(payload: bytes, opcode: int = 1, fin: bool = True) -> bytes:
    """An unmasked frame as a server sends it (RFC 6455 5.2)."""
    first = (0x80 if fin else 0) | opcode
    if len(payload) < 126:
        return bytes((first, len(payload))) + payload
    if len(payload) < 65536:
        return struct.pack("!BBH", first, 126, len(payload)) + payload
    return struct.pack("!BBQ", first, 127, len(payload)) + payload


@pytest.mark.parametrize("chunk", [1, 3, 7, 1000, 10**6])
def test_fast_frame_path_reassembles_split_and_packed_frames(chunk: int) -> None:
    texts = ["a", "é" * 100, "b" * 300, "c" * 70000, "MESSAGE\n\nx\x00"]
    wire_bytes = b"".join(server_frame(t.encode()) for t in texts[:3])
    wire_bytes += server_frame(b"frag", fin=False) + server_frame(b"mented", opcode=0)
    wire_bytes += b"".join(server_frame(t.encode()) for t in texts[3:])
    got: List[str] = []

    async def feed() -> None:
        conn = wsclient.WsConnection("ws://127.0.0.1:1/x", got.append)
        conn._fast = True
        for i in range(0, len(wire_bytes), chunk):
            conn.data_received(wire_bytes[i : i + chunk])

    asyncio.run(feed())
    assert got == texts[:3] + ["fragmented"] + texts[3:]


def test_sendcost_counts_the_calls_of_a_send() -> None:
    import subprocess

    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sendcost.py")
    done = subprocess.run(
        [sys.executable, script, "--members", "3", "--sends", "3", "--top", "5"],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("calls per SEND to a room of 3: ")
    assert int(lines[0].rsplit(" ", 1)[1]) > 50
    assert len(lines) == 6


def test_the_document_benchmark_runs_and_reports_every_run(tmp_path: Any) -> None:
    import subprocess
    from pathlib import Path

    script = Path(__file__).with_name("documents.py")
    done = subprocess.run(
        [sys.executable, str(script), "--editors", "3", "--seconds", "1", "--processes", "1"],
        capture_output=True, text=True, timeout=180, cwd=str(tmp_path),
    )
    assert done.returncode == 0, done.stderr
    rows = [line for line in done.stdout.splitlines() if line.startswith("| paced") or line.startswith("| flat out")]
    assert len(rows) == 2, done.stdout
    # Operations were stored and reached the other editors.
    assert all(int(row.split("|")[2]) > 0 for row in rows), done.stdout


def test_the_capacity_page_shows_what_the_model_computes() -> None:
    import capacity

    with open(capacity.PAGE) as f:
        shown = capacity.on_page(f.read())
    assert shown.strip() == capacity.render().strip(), "run: python bench/capacity.py --write"


def test_the_capacity_model_adds_processes_as_the_load_grows() -> None:
    import capacity

    costs = capacity.UnitCosts()
    small, large = (capacity.plan(costs, capacity.CHAT, n) for n in (10_000, 1_000_000))
    assert small.processes == 1 and large.processes > 19  # 19,000 connections at most each
    # A process's CPU follows its own subscribers: with foreign messages free, more
    # processes add only remote-message work, bounded by the fan-out.
    four = capacity.cpu_us_per_second(costs, capacity.CHAT, 100_000, 4)
    forty = capacity.cpu_us_per_second(costs, capacity.CHAT, 100_000, 40)
    assert forty < four * 1.5
    assert capacity.remote_processes(1, 10) == 0 and 8 < capacity.remote_processes(100, 10) < 9
