"""Serve the SockJS layer the way the SockJS protocol's own test suite expects it.

The suite (sockjs-protocol 0.3.3, ``sockjs-protocol.py``, a Python 2 program with its
own ``requirements.txt``) talks to four services under one URL::

    python scripts/sockjs_protocol_server.py 8081          # listens on 127.0.0.1
    SOCKJS_URL=http://127.0.0.1:8081 python2 sockjs-protocol.py

- ``/echo``: echoes every message;
- ``/close``: closes every session as soon as it opens (3000 "Go away!");
- ``/disabled_websocket_echo``: ``/echo`` with the websocket transport off;
- ``/cookie_needed_echo``: ``/echo`` with the ``JSESSIONID`` cookie on.

Streaming responses end after 4096 bytes (``response_limit``), as the suite asks of a
test server. Everything is nexus-tornado's ``NexusRouter``; see docs/transports.md.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any, Dict, List

import nexus_tornado.transport.sockjs_compat  # noqa: F401  (imports sockjs-tornado quietly)
from nexus_tornado.transport.router import NexusRouter
from nexus_tornado.transport.sockjs_compat import SockJSConnection


class EchoConnection(SockJSConnection):
    def on_message(self, message: str) -> None:
        self.send(message)


class CloseConnection(SockJSConnection):
    def on_open(self, info: Any) -> None:
        self.close()  # sockjs-tornado's default: 3000 "Go away!"


def routers() -> List[NexusRouter]:
    """The four services of the suite."""
    base: Dict[str, Any] = {"response_limit": 4096}
    return [
        NexusRouter(EchoConnection, "/echo", dict(base)),
        NexusRouter(CloseConnection, "/close", dict(base)),
        NexusRouter(EchoConnection, "/disabled_websocket_echo", dict(base, disabled_transports=["websocket"])),
        NexusRouter(EchoConnection, "/cookie_needed_echo", dict(base, jsessionid=True)),
    ]


def urls() -> List[Any]:
    return [url for router in routers() for url in router.urls]


async def main(port: int) -> None:
    from tornado.web import Application

    Application(urls()).listen(port, "127.0.0.1")
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 8081))
