"""A connection's clocks through a real server: the heart-beats it owes its client,
at whatever interval the client negotiated. (The CONNECT deadline, idle and
heart-beat timeouts and token expiry are in test_security_limits.py.)"""

from __future__ import annotations

import time

import stomp
from support.clients import RawWsClient
from support.nexus import running_nexus
from support.stomp_py import Collector


def test_heart_beats_keep_stomp_py_connected_at_1000_ms() -> None:
    """stomp.py closes a connection silent for 1.5x the interval; beats from a 1-second
    tick came 1-2 s apart."""
    with running_nexus(heartbeat=(1000, 1000)) as server:
        conn = stomp.WSStompConnection(
            [("127.0.0.1", server.port)], ws_path="/stomp/websocket", heartbeats=(1000, 1000)
        )
        listener = Collector()
        conn.set_listener("collector", listener)
        try:
            conn.connect(passcode=server.token("olga"), wait=True)
            assert not listener.disconnected.wait(5)
            assert conn.is_connected()
        finally:
            conn.disconnect()


def test_heart_beats_follow_a_short_negotiated_interval() -> None:
    """A 200 ms interval gets a beat about every 200 ms (not one per second)."""
    with running_nexus(heartbeat=(200, 0)) as server:
        client = RawWsClient(server.ws_url)
        try:
            client.connect(server.token("pat"), heart_beat="0,200")
            arrivals = []
            deadline = time.monotonic() + 20
            while len(arrivals) < 9 and time.monotonic() < deadline:
                opcode, data = client.ws.recv_data()
                if data.strip() == b"":
                    arrivals.extend([time.monotonic()] * data.count(b"\n"))
            assert len(arrivals) >= 9, arrivals
            gaps = sorted(b - a for a, b in zip(arrivals, arrivals[1:]))
            # The median gap: a per-interval timer gives ~0.2 s, a 1-second tick 1 s or
            # more; a busy machine delays some beats, not most of them.
            assert gaps[len(gaps) // 2] < 0.6, gaps
        finally:
            client.close()
