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


class RawConnection:
    """One HTTP connection driven byte by byte: the request line and headers exactly
    as given, the response head parsed, the body read as the test asks (by length, by
    chunk, until close). For what http.client hides: HTTP/1.0, keep-alive reuse,
    chunk boundaries, the server closing the connection."""

    def __init__(self, base_url: str, timeout: float = 10.0) -> None:
        parts = urlsplit(base_url)
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=timeout)
        self.buffer = b""

    def request(
        self, method: str, path: str, version: str = "1.1", headers: Optional[Dict[str, str]] = None,
        body: bytes = b"",
    ) -> Tuple[str, int, Dict[str, str]]:
        """Send a request; return (HTTP version, status, lower-cased headers)."""
        lines = ["%s %s HTTP/%s" % (method, path, version), "Host: 127.0.0.1"]
        lines += ["%s: %s" % item for item in (headers or {}).items()]
        if method == "POST":
            lines.append("Content-Length: %d" % len(body))
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        head = self._read_until(b"\r\n\r\n").decode("latin-1")
        status_line, *header_lines = head.split("\r\n")
        http, status = status_line.split(" ")[:2]
        fields = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            fields[name.strip().lower()] = value.strip()
        return http[len("HTTP/"):], int(status), fields

    def _read_until(self, marker: bytes) -> bytes:
        while marker not in self.buffer:
            data = self.sock.recv(65536)
            if not data:
                raise AssertionError("connection closed before %r; got %r" % (marker, self.buffer))
            self.buffer += data
        head, _, self.buffer = self.buffer.partition(marker)
        return head

    def read(self, size: int) -> bytes:
        """Exactly ``size`` bytes of the body."""
        while len(self.buffer) < size:
            data = self.sock.recv(65536)
            if not data:
                raise AssertionError("connection closed after %r" % self.buffer)
            self.buffer += data
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    def read_chunk(self) -> bytes:
        """The next chunk of a chunked body (b"" for the last one)."""
        size = int(self._read_until(b"\r\n"), 16)
        data = self.read(size + 2)
        assert data.endswith(b"\r\n"), data
        return data[:-2]

    def read_to_close(self) -> bytes:
        """Everything until the server closes (a socket timeout fails the test)."""
        while True:
            data = self.sock.recv(65536)
            if not data:
                data, self.buffer = self.buffer, b""
                return data
            self.buffer += data

    def close(self) -> None:
        self.sock.close()


NOT_CACHED = "no-store, no-cache, no-transform, must-revalidate, max-age=0"


def assert_not_cached(headers: Dict[str, str]) -> None:
    """What the SockJS protocol asks of every private (session) response."""
    assert headers["cache-control"] == NOT_CACHED
    assert "expires" not in headers and "last-modified" not in headers


def assert_cors(headers: Dict[str, str], origin: Optional[str]) -> None:
    """CORS as SockJS wants it: the Origin echoed with credentials, else ``*``."""
    if origin:
        assert headers["access-control-allow-origin"] == origin
        assert headers["access-control-allow-credentials"] == "true"
    else:
        assert headers["access-control-allow-origin"] == "*"
        assert "access-control-allow-credentials" not in headers


def content_type(headers: Dict[str, str]) -> str:
    """The Content-Type without spaces (the SockJS protocol compares it so)."""
    return headers["content-type"].replace(" ", "")


def assert_preflight(base_url: str, path: str, methods: str) -> None:
    """An OPTIONS preflight: cacheable for a year, the methods allowed, CORS, no body."""
    for origin in ("test", "null"):
        status, headers, body = http_request(
            base_url, "OPTIONS", path, headers={"Access-Control-Request-Method": methods, "Origin": origin}
        )
        assert status in (200, 204)
        assert "public" in headers["cache-control"]
        assert int(headers["cache-control"].split("max-age=")[1].split(",")[0]) >= 1000000
        assert headers["expires"]
        assert int(headers["access-control-max-age"]) > 1000000
        for method in methods.split(","):
            assert method.strip() in headers["access-control-allow-methods"]
        assert body == b""
        assert_cors(headers, origin)


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


def wait_attached(handle: ServerHandle, session_id: str, attached: bool = True) -> None:
    """Wait until a poll request holds the session (``attached=False``: until none does,
    e.g. once the poll that took the last frame has let go; the server says so, no
    sleeping on a guess)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        now = handle.call(
            lambda: (
                handle.router.get_session(session_id) is not None  # type: ignore[attr-defined]
                and handle.router.get_session(session_id).handler is not None  # type: ignore[attr-defined]
            )
        )
        if now == attached:
            return
        time.sleep(0.01)
    raise AssertionError("a poll is %s session %s" % ("not attached to" if attached else "still attached to", session_id))


def background(fn: Callable[[], Any]) -> Tuple[threading.Thread, Dict[str, Any]]:
    """Run a blocking request in a thread; its result lands in box["result"]."""
    box: Dict[str, Any] = {}

    def run() -> None:
        box["result"] = fn()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, box
