"""A test-only SockJS connection that echoes, and an HTTP/WebSocket client toolkit
for driving the SockJS transports by hand.

``EchoConnection`` answers each message with the same text, except commands:

- ``close:<code>:<reason>``  the server closes the session with that code and reason
- ``send-close:<text>``      sends ``<text>`` then closes (3001 "bye")
- ``burst-close:<n>``         sends "1" ... "<n>" then closes (3003 "burst")
- ``size:<text>``             answers with the byte length of the whole message
- ``raise``                  raises from ``on_message``

``?onopen=close`` on the connection URL makes ``on_open`` close the session at once
(3002 "closed on open"); ``?onopen=send-close`` sends "hello" first.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
import uuid
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple
from urllib.parse import urlsplit

import pytest

import nexus_tornado.transport.sockjs_compat  # noqa: F401  (imports sockjs-tornado quietly)
from nexus_tornado.transport.router import NexusRouter
from sockjs.tornado import SockJSConnection

from .server import ServerHandle, start_server_handle

class EchoConnection(SockJSConnection):
    """Echo with a few commands (see the module docstring)."""

    def on_open(self, info: Any) -> None:
        mode = info.get_argument("onopen")
        if mode == b"close":
            self.session.close(3002, "closed on open")
        elif mode == b"send-close":
            self.send("hello")
            self.session.close(3002, "closed on open")

    def on_message(self, message: str) -> None:
        if message.startswith("close:"):
            _, code, reason = message.split(":", 2)
            self.session.close(int(code), reason)
        elif message.startswith("send-close:"):
            self.send(message[len("send-close:"):])
            self.session.close(3001, "bye")
        elif message.startswith("burst-close:"):
            for i in range(1, int(message.split(":", 1)[1]) + 1):
                self.send(str(i))
            self.session.close(3003, "burst")
        elif message.startswith("size:"):
            self.send(str(len(message.encode("utf-8"))))
        elif message == "raise":
            raise RuntimeError("on_message failed")
        else:
            self.send(message)


def http_request(
    base_url: str,
    method: str,
    path: str,
    body: Optional[bytes] = None,
    headers: Optional[Dict[str, str]] = None,
    timeout: float = 10.0,
) -> Tuple[int, Dict[str, str], bytes]:
    """One HTTP/1.1 request on a fresh connection: (status, lower-cased headers, body)."""
    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
    finally:
        conn.close()


def raw_http(base_url: str, request: bytes, timeout: float = 10.0) -> bytes:
    """Send ``request`` bytes, read until the server closes; raises on timeout."""
    parts = urlsplit(base_url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=timeout)
    try:
        sock.sendall(request)
        chunks = []
        while True:
            data = sock.recv(65536)
            if not data:
                break
            chunks.append(data)
        return b"".join(chunks)
    finally:
        sock.close()


def frames(body: bytes) -> List[str]:
    """The SockJS frames of an xhr response body (one per line)."""
    return [line for line in body.decode("utf-8").split("\n") if line]


def close_of(frame: str) -> Tuple[int, str]:
    """(code, reason) of a ``c[...]`` frame."""
    assert frame.startswith("c["), frame
    code, reason = json.loads(frame[1:])
    return int(code), str(reason)


Serve = Callable[..., ServerHandle]


@pytest.fixture
def serve() -> Iterator[Serve]:
    """Start NexusRouter(EchoConnection, "/s", settings) on a loopback server."""
    handles: List[ServerHandle] = []

    def start(settings: Optional[Dict[str, Any]] = None) -> ServerHandle:
        holder: Dict[str, NexusRouter] = {}

        def urls() -> List[Any]:
            holder["router"] = NexusRouter(EchoConnection, "/s", settings)
            return holder["router"].urls

        handle = start_server_handle(urls)
        handle.router = holder["router"]  # type: ignore[attr-defined]
        handles.append(handle)
        return handle

    yield start
    for handle in handles:
        handle.call(handle.router.close)  # type: ignore[attr-defined]
        handle.stop()


def sid() -> str:
    """A fresh SockJS session id."""
    return uuid.uuid4().hex


def wait_attached(handle: ServerHandle, session_id: str) -> None:
    """Wait until a poll request holds the session (the server says so, no sleeping)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        attached = handle.call(
            lambda: (
                handle.router.get_session(session_id) is not None  # type: ignore[attr-defined]
                and handle.router.get_session(session_id).handler is not None  # type: ignore[attr-defined]
            )
        )
        if attached:
            return
        time.sleep(0.01)
    raise AssertionError("no poll attached to session %s" % session_id)


def background(fn: Callable[[], Any]) -> Tuple[threading.Thread, Dict[str, Any]]:
    """Run a blocking request in a thread; its result lands in box["result"]."""
    box: Dict[str, Any] = {}

    def run() -> None:
        box["result"] = fn()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, box
