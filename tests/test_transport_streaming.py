"""Streaming transports of NexusRouter (xhr-streaming, eventsource, htmlfile)."""

from __future__ import annotations

import http.client
import json
import re
import socket
from typing import List
from urllib.parse import quote, urlsplit

import pytest

from support.server import ServerHandle
from support.sockjs_echo import (  # noqa: F401  (serve is a fixture)
    Serve,
    http_request,
    serve,
    sid,
    wait_attached,
)


class Stream:
    """An HTTP/1.1 streaming response read piece by piece (http.client de-chunks)."""

    def __init__(self, h: ServerHandle, method: str, path: str) -> None:
        parts = urlsplit(h.base_url)
        self.conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
        self.conn.request(method, path, body=b"" if method == "POST" else None)
        self.response = self.conn.getresponse()
        self.data = b""

    def read_until(self, needle: bytes) -> bytes:
        while needle not in self.data:
            chunk = self.response.read1(65536)
            if not chunk:
                raise AssertionError("stream ended before %r; got %r" % (needle, self.data[-300:]))
            self.data += chunk
        return self.data

    def read_to_end(self) -> bytes:
        while True:
            chunk = self.response.read1(65536)
            if not chunk:
                return self.data
            self.data += chunk

    def close(self) -> None:
        self.conn.close()


def send(h: ServerHandle, session_id: str, *messages: str) -> None:
    status, _, _ = http_request(
        h.base_url, "POST", "/s/000/%s/xhr_send" % session_id, json.dumps(list(messages)).encode()
    )
    assert status == 204


def xhr_frames(data: bytes) -> List[str]:
    return [f for f in data.decode().split("\n")[1:] if f]  # after the h*2048 prelude


# -- htmlfile --------------------------------------------------------------------------


def test_htmlfile_accepts_sockjs_client_callback_names(serve: Serve) -> None:
    """sockjs-tornado stripped "_" and ".", so parent._jp.a1b2c3 became parent.jpa1b2c3
    and iframe-htmlfile never connected."""
    h = serve()
    stream = Stream(h, "GET", "/s/000/%s/htmlfile?c=_jp.a1b2c3" % sid())
    try:
        assert stream.response.status == 200
        data = stream.read_until(b'p("o");')
        assert b"var c = parent._jp.a1b2c3;" in data
        assert stream.response.getheader("Cache-Control") == (
            "no-store, no-cache, no-transform, must-revalidate, max-age=0"
        )
    finally:
        stream.close()


@pytest.mark.parametrize("callback", ["alert(1)//", "a;b", "</script>", "x y", ""])
def test_htmlfile_refuses_unsafe_callback(serve: Serve, callback: str) -> None:
    h = serve()
    status, _, body = http_request(h.base_url, "GET", "/s/000/%s/htmlfile?c=%s" % (sid(), quote(callback)))
    assert status == 500
    assert body in (b'invalid "callback" parameter', b'"callback" parameter required')


def test_htmlfile_message_cannot_end_its_script_element(serve: Serve) -> None:
    """Frames went into <script> with "</script>" unescaped: message text became markup."""
    h = serve()
    s = sid()
    stream = Stream(h, "GET", "/s/000/%s/htmlfile?c=cb" % s)
    try:
        stream.read_until(b'p("o");')
        wait_attached(h, s)
        evil = "</script><script>alert(document.domain)</script>&"
        send(h, s, evil)
        data = stream.read_until(b"alert(document.domain)")
        tail = data[data.index(b'<script>\np("o");') :]
        assert b"</script><script>alert" not in tail
        # The page's own script elements are the only ones: open and close tags pair up.
        assert tail.count(b"<script>") == tail.count(b"</script>")
        # And the frame still decodes to the message.
        call = re.search(rb"p\((.*)\);\n</script>\r\n$", tail.split(b"<script>\n")[-1])
        assert call is not None
        assert json.loads(json.loads(call.group(1).decode())[1:]) == [evil]
    finally:
        stream.close()


# -- close ordering on streams ---------------------------------------------------------


@pytest.mark.parametrize("transport", ["xhr_streaming", "eventsource"])
def test_stream_delivers_queued_messages_before_close(serve: Serve, transport: str) -> None:
    """sockjs-tornado wrote the close frame ahead of messages still queued."""
    h = serve()
    s = sid()
    method = "POST" if transport == "xhr_streaming" else "GET"
    stream = Stream(h, method, "/s/000/%s/%s" % (s, transport))
    try:
        stream.read_until(b"o\n" if transport == "xhr_streaming" else b"data: o\r\n")
        wait_attached(h, s)
        send(h, s, "burst-close:5")
        data = stream.read_to_end()
    finally:
        stream.close()
    text = data.decode()
    got = [json.loads(m) for m in re.findall(r"a(\[[^\]]*\])", text)]
    assert [x for batch in got for x in batch] == ["1", "2", "3", "4", "5"]
    assert text.index('c[3003,"burst"]') > text.rindex('"5"')


# -- HTTP/1.0 ------------------------------------------------------------------------


@pytest.mark.parametrize("method,transport", [("POST", "xhr_streaming"), ("GET", "eventsource")])
def test_http10_keep_alive_stream_ends_with_connection(serve: Serve, method: str, transport: str) -> None:
    """An HTTP/1.0 client asking Keep-Alive got Keep-Alive on a response with no
    length: it never saw the end. Now the response says close and the server closes."""
    h = serve()
    s = sid()
    parts = urlsplit(h.base_url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
    try:
        sock.sendall(
            b"%s /s/000/%s/%s HTTP/1.0\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n"
            % (method.encode(), s.encode(), transport.encode())
        )
        data = b""
        while b"o\n" not in data and b"o\r\n" not in data:
            chunk = sock.recv(65536)
            assert chunk, data
            data += chunk
        wait_attached(h, s)
        send(h, s, "close:3000:done")
        while True:  # a socket timeout here means the response never ended
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    finally:
        sock.close()
    head, _, body = data.partition(b"\r\n\r\n")
    headers = head.decode().lower()
    assert "keep-alive" not in headers
    assert "transfer-encoding" not in headers
    assert "content-length" not in headers
    assert b'c[3000,"done"]' in body
