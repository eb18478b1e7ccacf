"""A test-only SockJS connection that echoes, and an HTTP/WebSocket client toolkit
for driving the SockJS transports by hand.

``EchoConnection`` answers each message with the same text, except commands:

- ``close:<code>:<reason>``  the server closes the session with that code and reason
- ``send-close:<text>``      sends ``<text>`` then closes (3001 "bye")
- ``size``                   answers with the byte length of the message, not the text
- ``raise``                  raises from ``on_message``

``?onopen=close`` on the connection URL makes ``on_open`` close the session at once
(3002 "closed on open"); ``?onopen=send-close`` sends "hello" first.
"""

from __future__ import annotations

import http.client
import json
import socket
from typing import Any, Dict, List, Optional, Tuple
from urllib.parse import urlsplit

import nexus_tornado.web.transport_sockjs  # noqa: F401  (imports sockjs-tornado quietly)
from sockjs.tornado import SockJSConnection

#: Every connection's on_message text, for assertions (test thread reads it after).
RECEIVED: List[str] = []


class EchoConnection(SockJSConnection):  # type: ignore[misc]
    """Echo with a few commands (see the module docstring)."""

    def on_open(self, info: Any) -> None:
        mode = info.get_argument("onopen")
        if mode == b"close":
            self.session.close(3002, "closed on open")
        elif mode == b"send-close":
            self.send("hello")
            self.session.close(3002, "closed on open")

    def on_message(self, message: str) -> None:
        RECEIVED.append(message)
        if message.startswith("close:"):
            _, code, reason = message.split(":", 2)
            self.session.close(int(code), reason)
        elif message.startswith("send-close:"):
            self.send(message[len("send-close:"):])
            self.session.close(3001, "bye")
        elif message == "size":
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
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
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
