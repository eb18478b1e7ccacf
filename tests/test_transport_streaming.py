"""Streaming transports of NexusRouter (xhr-streaming, eventsource, htmlfile)."""

from __future__ import annotations

import http.client
import json
import re
import socket
import time
from typing import List
from urllib.parse import quote, urlsplit

import pytest

from support.server import ServerHandle
from support.sockjs_echo import (  # noqa: F401  (serve is a fixture)
    RawConnection,
    Serve,
    assert_cors,
    assert_not_cached,
    assert_preflight,
    content_type,
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


# -- the SockJS protocol over the streaming transports ----------------------------------


def test_xhr_streaming_preflight(serve: Serve) -> None:
    h = serve()
    assert_preflight(h.base_url, "/s/abc/abc/xhr_streaming", "OPTIONS, POST")


def test_xhr_streaming_prelude_open_and_messages(serve: Serve) -> None:
    h = serve()
    s = sid()
    conn = RawConnection(h.base_url)
    try:
        _, status, headers = conn.request("POST", "/s/000/%s/xhr_streaming" % s, headers={"Origin": "test"})
        assert status == 200
        assert content_type(headers) == "application/javascript;charset=UTF-8"
        assert_cors(headers, "test")
        assert_not_cached(headers)
        # 2 KiB of "h" first, so browsers that buffer the start hand over what follows.
        assert conn.read_chunk() == b"h" * 2048 + b"\n"
        assert conn.read_chunk() == b"o\n"
        wait_attached(h, s)
        status, _, body = http_request(h.base_url, "POST", "/s/000/%s/xhr_send" % s, b'["x"]')
        assert (status, body) == (204, b"")
        assert conn.read_chunk() == b'a["x"]\n'
    finally:
        conn.close()


def test_xhr_streaming_response_ends_after_the_response_limit(serve: Serve) -> None:
    """A stream is ended after ``response_limit`` bytes, so the browser can let go of
    what it buffered; the client then opens another."""
    h = serve({"response_limit": 4096})
    s = sid()
    conn = RawConnection(h.base_url)
    try:
        conn.request("POST", "/s/000/%s/xhr_streaming" % s)
        assert conn.read_chunk()  # prelude
        assert conn.read_chunk() == b"o\n"
        wait_attached(h, s)
        message = '"%s"' % ("x" * 128)
        for _ in range(31):
            assert http_request(h.base_url, "POST", "/s/000/%s/xhr_send" % s, ("[%s]" % message).encode())[0] == 204
            assert conn.read_chunk() == ("a[%s]\n" % message).encode()
        assert conn.read_chunk() == b""
    finally:
        conn.close()


def test_eventsource_content_type_prelude_and_escaped_messages(serve: Serve) -> None:
    """The type is exactly text/event-stream (no charset parameter)."""
    h = serve()
    s = sid()
    conn = RawConnection(h.base_url)
    try:
        _, status, headers = conn.request("GET", "/s/000/%s/eventsource" % s)
        assert status == 200
        assert content_type(headers) == "text/event-stream"
        assert_not_cached(headers)
        assert conn.read_chunk() == b"\r\n"  # prelude (an old Opera needed it)
        assert conn.read_chunk() == b"data: o\r\n\r\n"
        wait_attached(h, s)
        status, _, body = http_request(h.base_url, "POST", "/s/000/%s/xhr_send" % s, b'["x"]')
        assert (status, body) == (204, b"")
        assert conn.read_chunk() == b'data: a["x"]\r\n\r\n'
        # Leading spaces, NUL and line breaks cannot break the event: they go escaped.
        status, _, _ = http_request(h.base_url, "POST", "/s/000/%s/xhr_send" % s, rb'["  \u0000\n\r "]')
        assert status == 204
        assert conn.read_chunk() == b'data: a["  \\u0000\\n\\r "]\r\n\r\n'
    finally:
        conn.close()


def test_eventsource_response_ends_after_the_response_limit(serve: Serve) -> None:
    h = serve({"response_limit": 4096})
    s = sid()
    conn = RawConnection(h.base_url)
    try:
        conn.request("GET", "/s/000/%s/eventsource" % s)
        assert conn.read_chunk() == b"\r\n"
        assert conn.read_chunk() == b"data: o\r\n\r\n"
        wait_attached(h, s)
        message = '"%s"' % ("x" * 4096)
        assert http_request(h.base_url, "POST", "/s/000/%s/xhr_send" % s, ("[%s]" % message).encode())[0] == 204
        assert conn.read_chunk() == ("data: a[%s]\r\n\r\n" % message).encode()
        assert conn.read_chunk() == b""
    finally:
        conn.close()


HTMLFILE_HEAD = """<!doctype html>
<html><head>
  <meta http-equiv="X-UA-Compatible" content="IE=edge" />
  <meta http-equiv="Content-Type" content="text/html; charset=UTF-8" />
</head><body><h2>Don't panic!</h2>
  <script>
    document.domain = document.domain;
    var c = parent.%s;
    c.start();
    function p(d) {c.message(d);};
    window.onload = function() {c.stop();};
  </script>"""


def test_htmlfile_page_head_and_script_frames(serve: Serve) -> None:
    h = serve()
    s = sid()
    conn = RawConnection(h.base_url)
    try:
        _, status, headers = conn.request("GET", "/s/000/%s/htmlfile?c=%%63allback" % s)
        assert status == 200
        assert content_type(headers) == "text/html;charset=UTF-8"
        assert_not_cached(headers)
        head = conn.read_chunk()
        assert head.decode().strip() == HTMLFILE_HEAD % "callback"
        assert len(head) > 1024  # padded, so browsers start rendering (and run scripts)
        assert conn.read_chunk() == b'<script>\np("o");\n</script>\r\n'
        wait_attached(h, s)
        status, _, body = http_request(h.base_url, "POST", "/s/000/%s/xhr_send" % s, b'["x"]')
        assert (status, body) == (204, b"")
        assert conn.read_chunk() == b'<script>\np("a[\\"x\\"]");\n</script>\r\n'
    finally:
        conn.close()


def test_htmlfile_without_callback_is_refused(serve: Serve) -> None:
    h = serve()
    status, _, body = http_request(h.base_url, "GET", "/s/a/a/htmlfile")
    assert status == 500 and b'"callback" parameter required' in body


@pytest.mark.parametrize("callback", ["%20", "*", "abc(", "abc%28"])
def test_htmlfile_callback_with_invalid_characters_is_invalid(serve: Serve, callback: str) -> None:
    """"c=%20" was stripped to nothing and answered "required"."""
    h = serve()
    status, _, body = http_request(h.base_url, "GET", "/s/a/a/htmlfile?c=" + callback)
    assert status == 500 and b'invalid "callback" parameter' in body


def test_htmlfile_response_ends_after_the_response_limit(serve: Serve) -> None:
    h = serve({"response_limit": 4096})
    s = sid()
    conn = RawConnection(h.base_url)
    try:
        conn.request("GET", "/s/000/%s/htmlfile?c=callback" % s)
        assert conn.read_chunk()  # the page head
        assert conn.read_chunk() == b'<script>\np("o");\n</script>\r\n'
        wait_attached(h, s)
        message = "x" * 4096
        assert http_request(h.base_url, "POST", "/s/000/%s/xhr_send" % s, ('["%s"]' % message).encode())[0] == 204
        assert conn.read_chunk() == ('<script>\np("a[\\"%s\\"]");\n</script>\r\n' % message).encode()
        assert conn.read_chunk() == b""
    finally:
        conn.close()


# -- closing streams -------------------------------------------------------------------


def open_stream(h: ServerHandle, path: str) -> RawConnection:
    conn = RawConnection(h.base_url)
    assert conn.request("POST", path)[1] == 200
    assert conn.read_chunk()[:1] == b"h"
    return conn


def test_closed_session_answers_a_new_stream_with_its_close_frame(serve: Serve) -> None:
    """The closing stream is let go of: the next one gets the application's close
    frame, not "Another connection still open"; both end."""
    h = serve()
    s = sid()
    first = open_stream(h, "/s/000/%s/xhr_streaming?onopen=close" % s)
    second = None
    try:
        assert first.read_chunk() == b"o\n"
        assert first.read_chunk() == b'c[3002,"closed on open"]\n'
        second = open_stream(h, "/s/000/%s/xhr_streaming" % s)
        assert second.read_chunk() == b'c[3002,"closed on open"]\n'
        assert first.read_chunk() == b"" and second.read_chunk() == b""
    finally:
        first.close()
        if second is not None:
            second.close()


def test_second_stream_of_a_session_is_refused_and_ended(serve: Serve) -> None:
    h = serve()
    s = sid()
    first = open_stream(h, "/s/000/%s/xhr_streaming" % s)
    second = None
    try:
        assert first.read_chunk() == b"o\n"
        wait_attached(h, s)
        second = open_stream(h, "/s/000/%s/xhr_streaming" % s)
        assert second.read_chunk() == b'c[2010,"Another connection still open"]\n'
        assert second.read_chunk() == b""
    finally:
        first.close()
        if second is not None:
            second.close()


def test_aborted_stream_closes_the_session(serve: Serve) -> None:
    h = serve()
    s = sid()
    first = open_stream(h, "/s/000/%s/xhr_streaming" % s)
    assert first.read_chunk() == b"o\n"
    wait_attached(h, s)
    first.close()
    deadline = time.monotonic() + 10
    while h.call(lambda: h.router.get_session(s) is not None and h.router.get_session(s).handler is not None):  # type: ignore[attr-defined]
        assert time.monotonic() < deadline
        time.sleep(0.01)
    third = open_stream(h, "/s/000/%s/xhr_streaming" % s)
    try:
        assert third.read_chunk() in (b"o\n", b'c[1002,"Connection interrupted"]\n')
    finally:
        third.close()
