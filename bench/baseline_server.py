"""A plain sockjs-tornado broadcast server: the transport's limit for this stack.

No STOMP, no JWT, no validation, no store: what is left is the cost of sockjs-tornado
and Tornado writing the same 256-byte bodies to the same sockets.  The benchmark reports
nexus-tornado's figures as ratios to this server's, measured in the same run.

Its wire protocol is one text message per command (raw WebSocket at
``{prefix}/websocket``, SockJS at ``{prefix}``):

``S<destination>``
    subscribe; answered with ``A``.
``P<destination>\\n<body>``
    broadcast ``<body>`` to the destination's subscribers, then answer ``A`` (the
    publisher's "receipt": it comes after every write was handed to Tornado).
``R<destination> <n>``
    send the last ``n`` bodies of the destination (kept in a bounded history, as a
    stand-in for a store's replay), then subscribe; no answer.

Run: ``python bench/baseline_server.py --port 8100 [--gc default|freeze|off]``.
"""

from __future__ import annotations

import argparse
import collections
import gc
import logging
from typing import Deque, Dict, Set

from sockjs.tornado import SockJSConnection, SockJSRouter
from tornado.ioloop import IOLoop
from tornado.web import Application

#: Bodies kept per destination for ``R`` (replay).
HISTORY = 1000


class BroadcastHub:
    """Subscribers and a short history per destination."""

    def __init__(self) -> None:
        self.subscribers: Dict[str, Set["BroadcastConnection"]] = collections.defaultdict(set)
        self.history: Dict[str, Deque[str]] = collections.defaultdict(
            lambda: collections.deque(maxlen=HISTORY)
        )
        self.router: "SockJSRouter"

    def publish(self, destination: str, body: str) -> None:
        """Remember ``body`` and write it to every subscriber of ``destination``."""
        self.history[destination].append(body)
        subscribers = self.subscribers.get(destination)
        if subscribers:
            self.router.broadcast(subscribers, body)

    def remove(self, conn: "BroadcastConnection") -> None:
        """Forget every subscription of a closed connection."""
        for destination in conn.destinations:
            subscribers = self.subscribers.get(destination)
            if subscribers is not None:
                subscribers.discard(conn)


class BroadcastConnection(SockJSConnection):
    """One client; commands as described in the module docstring."""

    def on_open(self, request: object) -> None:
        self.hub: BroadcastHub = self.session.server.hub
        self.destinations: Set[str] = set()

    def on_message(self, message: str) -> None:
        kind = message[:1]
        if kind == "P":
            destination, _, body = message[1:].partition("\n")
            self.hub.publish(destination, body)
            self.send("A")
        elif kind == "S":
            self._subscribe(message[1:])
            self.send("A")
        elif kind == "R":
            destination, _, count = message[1:].rpartition(" ")
            history = self.hub.history.get(destination, ())
            for body in list(history)[-int(count) :]:
                self.send(body)
            self._subscribe(destination)

    def _subscribe(self, destination: str) -> None:
        self.destinations.add(destination)
        self.hub.subscribers[destination].add(self)

    def on_close(self) -> None:
        self.hub.remove(self)


def make_app(prefix: str = "/bcast") -> Application:
    """The Tornado application serving the broadcast router under ``prefix``."""
    hub = BroadcastHub()
    router = SockJSRouter(BroadcastConnection, prefix)
    router.hub = hub
    hub.router = router
    return Application(router.urls)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--prefix", default="/bcast")
    parser.add_argument(
        "--gc",
        choices=("default", "freeze", "off"),
        default="default",
        help="cyclic GC: as Python ships it, frozen after start-up, or disabled",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    app = make_app(args.prefix)
    app.listen(args.port, args.host)
    if args.gc == "freeze":
        gc.collect()
        gc.freeze()
    elif args.gc == "off":
        gc.disable()
    IOLoop.current().start()


if __name__ == "__main__":
    main()
