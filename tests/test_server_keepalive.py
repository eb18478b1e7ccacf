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
    """A 200 ms interval gets a beat at least every 200 ms (not one per second)."""
    with running_nexus(heartbeat=(200, 0)) as server:
        client = RawWsClient(server.ws_url)
        try:
            client.connect(server.token("pat"), heart_beat="0,200")
            beats = 0
            started = time.monotonic()
            while time.monotonic() - started < 2.0:
                opcode, data = client.ws.recv_data()
                beats += data.count(b"\n") if data.strip() == b"" else 0
            # Ten intervals passed: a 1-second tick sends 2 beats, a per-interval timer 10+.
            assert beats >= 7, beats
        finally:
            client.close()
