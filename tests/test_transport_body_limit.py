"""nexus_tornado.transport.body_limit: bodies over a handler's limit refused unread (413).

Through a real Tornado server on loopback, with raw sockets so the test controls what
is sent (headers alone, a chunked body cut short).
"""

from __future__ import annotations

import socket
from typing import Any, Iterator, List, Tuple

import pytest
import tornado.web

from nexus_tornado.transport.body_limit import BodyLimitMixin, with_body_limit
from support.server import ServerHandle, start_server_handle

LIMIT = 1000


class Echo(BodyLimitMixin, tornado.web.RequestHandler):
    """Answers the length of the body and its form field ``f``."""

    body_limit = LIMIT
    chunks: List[int] = []

    def data_received(self, chunk: bytes) -> None:
        Echo.chunks.append(len(chunk))
        super().data_received(chunk)

    def post(self) -> None:
        self.read_body()
        self.write({"length": len(self.request.body), "f": self.get_body_argument("f", None)})

    def get(self) -> None:
        self.write("ok")


@pytest.fixture()
def server() -> Iterator[ServerHandle]:
    Echo.chunks = []
    # The server's own limit is far above the handler's: the handler's is what holds.
    handle = start_server_handle([(r"/echo", Echo), (r"/small", with_body_limit(Echo, 10))],
                                 max_body_size=1 << 30)
    try:
        yield handle
    finally:
        handle.stop()


def exchange(handle: ServerHandle, request: bytes, then: bytes = b"") -> Tuple[bytes, bool]:
    """Send ``request``, then ``then`` (ignoring a reset); return the response and
    whether the server closed the connection."""
    with socket.create_connection(("127.0.0.1", handle.port), timeout=10) as sock:
        sock.sendall(request)
        try:
            if then:
                sock.sendall(then)
        except OSError:
            pass
        data = b""
        closed = False
        try:
            while b"\r\n\r\n" not in data or not _complete(data):
                chunk = sock.recv(65536)
                if not chunk:
                    closed = True
                    break
                data += chunk
            if not closed:
                sock.settimeout(2)
                closed = sock.recv(1) == b""
        except (ConnectionResetError, socket.timeout):
            closed = True
    return data, closed


def _complete(data: bytes) -> bool:
    head, _, body = data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(body) >= int(line.split(b":")[1])
    return False


def test_a_declared_length_over_the_limit_is_refused_before_any_body_is_sent(server: ServerHandle) -> None:
    # 100 MB announced, not a byte sent: answered at once (not after the body timeout).
    data, closed = exchange(server, b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 413 "), data
    assert b"limit 1000 bytes" in data
    assert closed  # the rest of the body is never read
    assert Echo.chunks == []


def test_any_method_is_limited_a_get_too(server: ServerHandle) -> None:
    data, _ = exchange(server, b"GET /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 413 "), data


def test_a_chunked_body_is_refused_as_soon_as_it_passes_the_limit(server: ServerHandle) -> None:
    head = b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    piece = b"%x\r\n%s\r\n" % (600, b"y" * 600)
    # Two pieces pass the limit; the terminating chunk is never sent.
    data, closed = exchange(server, head + piece + piece)
    assert data.startswith(b"HTTP/1.1 413 "), data
    assert closed
    assert sum(Echo.chunks) <= 1200


def test_a_chunk_announcing_more_than_the_limit_is_refused_with_413(server: ServerHandle) -> None:
    head = b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    data, closed = exchange(server, head + b"%x\r\n" % 100_000_000 + b"z" * 70_000)
    assert data.startswith(b"HTTP/1.1 413 "), data
    assert closed


@pytest.mark.parametrize("chunked", [False, True])
def test_a_body_within_the_limit_reaches_the_handler_with_its_form_arguments(server: ServerHandle, chunked: bool) -> None:
    body = b"f=" + b"a" * (LIMIT - 2)
    headers = b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
    if chunked:
        request = headers + b"Transfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    else:
        request = headers + b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    data, _ = exchange(server, request)
    assert data.startswith(b"HTTP/1.1 200 "), data
    assert b'"length": %d' % LIMIT in data
    assert b'"f": "' + b"a" * (LIMIT - 2) + b'"' in data


def test_with_body_limit_gives_a_subclass_with_its_own_limit(server: ServerHandle) -> None:
    small = with_body_limit(Echo, 10)
    assert small is with_body_limit(Echo, 10) and issubclass(small, Echo) and small.body_limit == 10
    assert with_body_limit(Echo, LIMIT) is Echo
    data, _ = exchange(server, b"POST /small HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n" + b"x" * 11)
    assert data.startswith(b"HTTP/1.1 413 "), data
    data, _ = exchange(server, b"POST /small HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n" + b"x" * 10)
    assert data.startswith(b"HTTP/1.1 200 "), data


def test_with_body_limit_refuses_a_handler_that_does_not_count(server: Any) -> None:
    with pytest.raises(TypeError):
        with_body_limit(tornado.web.RequestHandler, 10)
