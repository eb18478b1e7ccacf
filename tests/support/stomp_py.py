"""stomp.py, a third-party STOMP client, as the tests drive it: connected to a running
nexus over the raw WebSocket endpoint, what it receives collected in queues."""

from __future__ import annotations

import queue
import threading
from typing import Any

import stomp


class Collector(stomp.ConnectionListener):
    """Collects what a stomp.py connection receives, for the test thread to wait on."""

    def __init__(self) -> None:
        self.messages: "queue.Queue[Any]" = queue.Queue()
        self.receipts: "queue.Queue[str]" = queue.Queue()
        self.errors: "queue.Queue[Any]" = queue.Queue()
        self.disconnected = threading.Event()

    def on_message(self, frame: Any) -> None:
        self.messages.put(frame)

    def on_receipt(self, frame: Any) -> None:
        self.receipts.put(frame.headers["receipt-id"])

    def on_error(self, frame: Any) -> None:
        self.errors.put(frame)

    def on_disconnected(self) -> None:
        self.disconnected.set()

    def next_message(self) -> Any:
        return self.messages.get(timeout=10)


def stomp_py(nexus: Any, user: str, **claims: Any) -> "tuple[stomp.WSStompConnection, Collector]":
    conn = stomp.WSStompConnection([("127.0.0.1", nexus.port)], ws_path="/stomp/websocket")
    listener = Collector()
    conn.set_listener("collector", listener)
    conn.connect(passcode=nexus.token(user, **claims), wait=True)
    return conn, listener
