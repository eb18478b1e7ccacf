"""Polling transports and send endpoints of NexusRouter, over real HTTP on loopback.

Each test names the sockjs-tornado 1.0.7 defect it guards against.
"""

from __future__ import annotations

import json
import re
import time
from typing import Optional

import pytest

from nexus_tornado.transport.router import NexusRouter
from support.server import ServerHandle
from support.sockjs_echo import (  # noqa: F401  (serve is a fixture)
    EchoConnection,
    Serve,
    assert_cors,
    assert_not_cached,
    assert_preflight,
    background,
    close_of,
    content_type,
    frames,
    http_request,
    serve,
    sid,
    wait_attached,
)

# -- xhr-polling: one frame per response ---------------------------------------------


def test_xhr_close_in_on_open_answers_open_then_close(serve: Serve) -> None:
    """sockjs-tornado wrote the close frame into the response already holding "o"
    (HTTPOutputError: more data than Content-Length) and the session never closed."""
    h = serve()
    s = sid()
    status, _, body = http_request(h.base_url, "POST", "/s/000/%s/xhr?onopen=close" % s)
    assert (status, frames(body)) == (200, ["o"])
    status, _, body = http_request(h.base_url, "POST", "/s/000/%s/xhr" % s)
    assert status == 200
    assert close_of(frames(body)[0]) == (3002, "closed on open")


def test_xhr_message_then_close_from_send_gets_both_frames(serve: Serve) -> None:
    """A message sent just before close() made xhr_send answer 500 ("XHR incoming")."""
    h = serve()
    s = sid()
    assert frames(http_request(h.base_url, "POST", "/s/000/%s/xhr" % s)[2]) == ["o"]
    thread, box = background(lambda: http_request(h.base_url, "POST", "/s/000/%s/xhr" % s))
    wait_attached(h, s)
    status, _, _ = http_request(h.base_url, "POST", "/s/000/%s/xhr_send" % s, b'["send-close:bye"]')
    assert status == 204
    thread.join(10)
    assert frames(box["result"][2]) == ['a["bye"]']
    status, _, body = http_request(h.base_url, "POST", "/s/000/%s/xhr" % s)
    assert close_of(frames(body)[0]) == (3001, "bye")


def test_xhr_close_reaches_waiting_poll(serve: Serve) -> None:
    """A server close() while a poll waits answers that poll with the close frame."""
    h = serve()
    s = sid()
    http_request(h.base_url, "POST", "/s/000/%s/xhr" % s)
    thread, box = background(lambda: http_request(h.base_url, "POST", "/s/000/%s/xhr" % s))
    wait_attached(h, s)
    h.call(lambda: h.router.get_session(s).close(3005, 'say "bye"'))  # type: ignore[attr-defined]
    thread.join(10)
    status, headers, body = box["result"]
    assert status == 200
    assert int(headers["content-length"]) == len(body)
    # The reason is JSON-escaped (sockjs-tornado formatted it raw, breaking the frame).
    assert close_of(frames(body)[0]) == (3005, 'say "bye"')


def test_xhr_close_with_non_ascii_reason_counts_bytes(serve: Serve) -> None:
    """Content-Length was counted in characters: a non-ASCII reason overran it."""
    h = serve()
    s = sid()
    http_request(h.base_url, "POST", "/s/000/%s/xhr" % s)
    thread, box = background(lambda: http_request(h.base_url, "POST", "/s/000/%s/xhr" % s))
    wait_attached(h, s)
    h.call(lambda: h.router.get_session(s).close(3006, "au revoir, ça va"))  # type: ignore[attr-defined]
    thread.join(10)
    assert close_of(frames(box["result"][2])[0]) == (3006, "au revoir, ça va")


def test_polling_responses_are_not_cacheable_or_transformable(serve: Serve) -> None:
    h = serve()
    _, headers, _ = http_request(h.base_url, "POST", "/s/000/%s/xhr" % sid())
    assert headers["cache-control"] == "no-store, no-cache, no-transform, must-revalidate, max-age=0"


# -- jsonp-polling --------------------------------------------------------------------


@pytest.mark.parametrize(
    "callback",
    ["alert(document.domain)//", "x;alert(1)", "<html>", "a b", "a-b", "1abc", "a..b", "a" * 129],
)
def test_jsonp_refuses_unsafe_callback(serve: Serve, callback: str) -> None:
    """sockjs-tornado echoed any callback into the script (script injection)."""
    from urllib.parse import quote

    h = serve()
    status, headers, body = http_request(h.base_url, "GET", "/s/000/%s/jsonp?c=%s" % (sid(), quote(callback)))
    assert status == 500
    assert body == b'invalid "callback" parameter'
    assert headers["content-type"].startswith("text/plain")
    assert callback.encode() not in body


def test_jsonp_frames_carry_comment_prefix_and_nosniff(serve: Serve) -> None:
    h = serve()
    status, headers, body = http_request(h.base_url, "GET", "/s/000/%s/jsonp?c=_jp.a1b2c3" % sid())
    assert status == 200
    assert body == b'/**/_jp.a1b2c3("o");\r\n'
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["content-type"].startswith("application/javascript")
    assert "etag" not in headers


def test_jsonp_message_then_close_from_send(serve: Serve) -> None:
    """jsonp_send broke (500) when the connection sent a message and then closed."""
    h = serve()
    s = sid()
    http_request(h.base_url, "GET", "/s/000/%s/jsonp?c=cb" % s)
    thread, box = background(lambda: http_request(h.base_url, "GET", "/s/000/%s/jsonp?c=cb" % s))
    wait_attached(h, s)
    status, _, body = http_request(
        h.base_url,
        "POST",
        "/s/000/%s/jsonp_send" % s,
        b"d=%5B%22send-close%3Abye%22%5D",
        {"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert (status, body) == (200, b"ok")
    thread.join(10)
    assert box["result"][2] == b'/**/cb("a[\\"bye\\"]");\r\n'
    _, _, body = http_request(h.base_url, "GET", "/s/000/%s/jsonp?c=cb" % s)
    assert body == b'/**/cb("c[3001,\\"bye\\"]");\r\n'


# -- send endpoints: limits -----------------------------------------------------------


def open_polling_session(h: ServerHandle) -> str:
    s = sid()
    assert frames(http_request(h.base_url, "POST", "/s/000/%s/xhr" % s)[2]) == ["o"]
    return s


@pytest.mark.parametrize("endpoint", ["xhr_send", "jsonp_send"])
def test_send_refuses_body_over_limit_from_content_length(serve: Serve, endpoint: str) -> None:
    """Bodies were read whole whatever their size (Tornado's 100 MB default)."""
    h = serve({"max_message_size": 1000, "max_send_body_size": 2000})
    victim, bystander = open_polling_session(h), open_polling_session(h)
    status, headers, body = http_request(
        h.base_url, "POST", "/s/000/%s/%s" % (victim, endpoint), b'["' + b"x" * 3000 + b'"]'
    )
    assert status == 413
    assert body == b"Message too big."
    # The session the body was for is closed with 1009; others carry on.
    _, _, body = http_request(h.base_url, "POST", "/s/000/%s/xhr" % victim)
    assert close_of(frames(body)[0]) == (1009, "message too big")
    status, _, _ = http_request(h.base_url, "POST", "/s/000/%s/xhr_send" % bystander, b'["still here"]')
    assert status == 204
    _, _, body = http_request(h.base_url, "POST", "/s/000/%s/xhr" % bystander)
    assert frames(body) == ['a["still here"]']


def test_send_refuses_body_over_limit_before_reading_it(serve: Serve) -> None:
    """The 413 comes from the Content-Length header alone: the body is never sent."""
    import socket
    from urllib.parse import urlsplit

    h = serve({"max_message_size": 1000, "max_send_body_size": 2000})
    s = open_polling_session(h)
    parts = urlsplit(h.base_url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(
            b"POST /s/000/%s/xhr_send HTTP/1.1\r\nHost: x\r\nContent-Length: 50000000\r\n\r\n"
            % s.encode()
        )
        response = b""
        while b"\r\n\r\n" not in response:
            chunk = sock.recv(4096)
            if not chunk:
                break
            response += chunk
    assert response.startswith(b"HTTP/1.1 413 ")


def test_send_refuses_chunked_body_over_limit(serve: Serve) -> None:
    import socket
    from urllib.parse import urlsplit

    h = serve({"max_message_size": 1000, "max_send_body_size": 2000})
    s = open_polling_session(h)
    parts = urlsplit(h.base_url)
    chunk = b"x" * 1500
    request = (
        b"POST /s/000/%s/xhr_send HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" % s.encode()
        + b"%x\r\n%s\r\n" % (len(chunk), chunk) * 2
        + b"0\r\n\r\n"
    )
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(request)
        data = sock.recv(4096)
    # Refused as soon as the body passes the limit, then the connection is closed.
    assert data.startswith(b"HTTP/1.1 413 "), data


def test_send_refuses_one_message_over_limit(serve: Serve) -> None:
    h = serve({"max_message_size": 1000, "max_send_body_size": 5000})
    s = open_polling_session(h)
    status, _, _ = http_request(h.base_url, "POST", "/s/000/%s/xhr_send" % s, b'["' + b"y" * 1500 + b'"]')
    assert status == 413


def test_send_accepts_message_at_limit_and_batches(serve: Serve) -> None:
    h = serve({"max_message_size": 1000, "max_send_body_size": 5000})
    s = open_polling_session(h)
    body = b'["' + b"z" * 1000 + b'","' + b"w" * 1000 + b'"]'
    status, _, _ = http_request(h.base_url, "POST", "/s/000/%s/xhr_send" % s, body)
    assert status == 204
    _, _, out = http_request(h.base_url, "POST", "/s/000/%s/xhr" % s)
    assert frames(out) == ['a["%s","%s"]' % ("z" * 1000, "w" * 1000)]


def test_default_limits() -> None:
    router = NexusRouter(EchoConnection, "/s")
    assert router.transport_settings.max_message_size == 64 * 1024 + 16 * 1024
    assert router.transport_settings.max_send_body_size == 4 * (64 * 1024 + 16 * 1024)


def test_send_to_unknown_session_is_404(serve: Serve) -> None:
    h = serve()
    assert http_request(h.base_url, "POST", "/s/000/%s/xhr_send" % sid(), b'["x"]')[0] == 404


@pytest.mark.parametrize("body", [b"", b"[broken", b'{"a": 1}', b"[1, 2]"])
def test_send_refuses_malformed_body(serve: Serve, body: bytes) -> None:
    h = serve()
    s = open_polling_session(h)
    assert http_request(h.base_url, "POST", "/s/000/%s/xhr_send" % s, body)[0] == 500


def test_send_when_connection_raises_closes_only_that_session(serve: Serve) -> None:
    h = serve()
    s = open_polling_session(h)
    status, _, _ = http_request(h.base_url, "POST", "/s/000/%s/xhr_send" % s, b'["raise"]')
    assert status == 500
    _, _, body = http_request(h.base_url, "POST", "/s/000/%s/xhr" % s)
    assert close_of(frames(body)[0]) == (1011, "internal error")


# -- the SockJS protocol over xhr-polling ---------------------------------------------


def test_xhr_session_opens_echoes_and_refuses_a_second_poll(serve: Serve) -> None:
    h = serve()
    s = sid()
    assert http_request(h.base_url, "POST", "/s/000/%s/xhr" % s)[:3:2] == (200, b"o\n")
    status, _, body = http_request(h.base_url, "POST", "/s/000/%s/xhr_send" % s, b'["a"]')
    assert (status, body) == (204, b"")
    assert http_request(h.base_url, "POST", "/s/000/%s/xhr" % s)[:3:2] == (200, b'a["a"]\n')
    # The poll that took a["a"] lets go of the session once its response is written.
    wait_attached(h, s, attached=False)
    # Two receiving requests may not wait on one session: the second gets 2010.
    thread, _ = background(lambda: http_request(h.base_url, "POST", "/s/000/%s/xhr" % s))
    wait_attached(h, s)
    status, _, body = http_request(h.base_url, "POST", "/s/000/%s/xhr" % s)
    assert (status, body) == (200, b'c[2010,"Another connection still open"]\n')
    h.call(lambda: h.router.get_session(s).close())  # type: ignore[attr-defined]  # end the first poll
    thread.join(10)


def test_closed_session_answers_every_poll_with_its_close_frame(serve: Serve) -> None:
    h = serve()
    s = sid()
    assert http_request(h.base_url, "POST", "/s/000/%s/xhr?onopen=close" % s)[2] == b"o\n"
    for _ in range(2):
        status, _, body = http_request(h.base_url, "POST", "/s/000/%s/xhr" % s)
        assert (status, body) == (200, b'c[3002,"closed on open"]\n')


@pytest.mark.parametrize("endpoint", ["xhr", "xhr_send"])
def test_xhr_preflight(serve: Serve, endpoint: str) -> None:
    h = serve()
    assert_preflight(h.base_url, "/s/abc/abc/" + endpoint, "OPTIONS, POST")


def test_xhr_and_xhr_send_headers(serve: Serve) -> None:
    """xhr_send's 204 says text/plain: Tornado drops Content-Type from a 204, and
    Firefox then parses the empty body as XML and reports an error."""
    h = serve()
    s = sid()
    status, headers, body = http_request(h.base_url, "POST", "/s/000/%s/xhr" % s, headers={"Origin": "test"})
    assert (status, body) == (200, b"o\n")
    assert content_type(headers) == "application/javascript;charset=UTF-8"
    assert_cors(headers, "test")
    assert_not_cached(headers)
    status, headers, body = http_request(
        h.base_url, "POST", "/s/000/%s/xhr_send" % s, b'["x"]', {"Origin": "test"}
    )
    assert (status, body) == (204, b"")
    assert content_type(headers) == "text/plain;charset=UTF-8"
    assert_cors(headers, "test")
    assert_not_cached(headers)
    assert http_request(h.base_url, "POST", "/s/000/%s/xhr" % s)[2] == b'a["x"]\n'


def test_xhr_send_explains_bad_payloads_and_the_session_goes_on(serve: Serve) -> None:
    h = serve()
    s = open_polling_session(h)
    status, _, body = http_request(h.base_url, "POST", "/s/000/%s/xhr_send" % s, b'["x')
    assert status == 500 and b"Broken JSON encoding." in body
    status, _, body = http_request(h.base_url, "POST", "/s/000/%s/xhr_send" % s, b"")
    assert status == 500 and b"Payload expected." in body
    assert http_request(h.base_url, "POST", "/s/000/%s/xhr_send" % s, b'["a"]')[:3:2] == (204, b"")
    assert http_request(h.base_url, "POST", "/s/000/%s/xhr" % s)[:3:2] == (200, b'a["a"]\n')


def test_xhr_send_takes_any_content_type(serve: Serve) -> None:
    h = serve()
    s = open_polling_session(h)
    types = ["text/plain", "T", "application/json", "application/xml", "",
             "application/json; charset=utf-8", "text/xml; charset=utf-8", "text/xml"]
    for ctype in types:
        status, _, body = http_request(
            h.base_url, "POST", "/s/000/%s/xhr_send" % s, b'["a"]', {"Content-Type": ctype}
        )
        assert (status, body) == (204, b"")
    _, _, body = http_request(h.base_url, "POST", "/s/000/%s/xhr" % s)
    assert body == ("a[%s]\n" % ",".join(['"a"'] * len(types))).encode()


@pytest.mark.parametrize("requested,allowed", [("a, b, c", "a, b, c"), ("", None), (None, None)])
def test_preflight_echoes_requested_headers(serve: Serve, requested: Optional[str], allowed: Optional[str]) -> None:
    h = serve()
    headers = {"Origin": "test", "Access-Control-Request-Method": "POST"}
    if requested is not None:
        headers["Access-Control-Request-Headers"] = requested
    status, answer, _ = http_request(h.base_url, "OPTIONS", "/s/000/%s/xhr" % sid(), headers=headers)
    assert status in (200, 204)
    assert_cors(answer, "test")
    assert answer.get("access-control-allow-headers") == allowed


def test_xhr_send_of_no_messages_is_accepted(serve: Serve) -> None:
    h = serve()
    s = open_polling_session(h)
    assert http_request(h.base_url, "POST", "/s/000/%s/xhr_send" % s, b"[]")[0] == 204
    assert http_request(h.base_url, "POST", "/s/000/%s/xhr_send" % s, b'["a"]')[0] == 204
    assert http_request(h.base_url, "POST", "/s/000/%s/xhr" % s)[:3:2] == (200, b'a["a"]\n')


def test_aborted_poll_closes_the_session(serve: Serve) -> None:
    """A poll the client dropped (a network error): the session is over, and the next
    poll opens a new one or is told 1002."""
    import socket
    from urllib.parse import urlsplit

    h = serve()
    s = open_polling_session(h)
    parts = urlsplit(h.base_url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
    sock.sendall(b"POST /s/000/%s/xhr HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n" % s.encode())
    wait_attached(h, s)
    assert http_request(h.base_url, "POST", "/s/000/%s/xhr" % s)[2] == (
        b'c[2010,"Another connection still open"]\n'
    )
    sock.close()
    deadline = time.monotonic() + 10
    while h.call(lambda: h.router.get_session(s) is not None and h.router.get_session(s).handler is not None):  # type: ignore[attr-defined]
        assert time.monotonic() < deadline
        time.sleep(0.01)
    body = http_request(h.base_url, "POST", "/s/000/%s/xhr" % s)[2]
    assert body in (b"o\n", b'c[1002,"Connection interrupted"]\n')


# -- the SockJS protocol over jsonp-polling -------------------------------------------

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def test_jsonp_session_and_jsonp_send_headers(serve: Serve) -> None:
    h = serve()
    s = sid()
    status, headers, body = http_request(h.base_url, "GET", "/s/000/%s/jsonp?c=%%63allback" % s)
    assert (status, body) == (200, b'/**/callback("o");\r\n')
    assert content_type(headers) == "application/javascript;charset=UTF-8"
    assert_not_cached(headers)
    status, headers, body = http_request(h.base_url, "POST", "/s/000/%s/jsonp_send" % s, b"d=%5B%22x%22%5D", FORM)
    # Not 204: Konqueror mishandles it, so jsonp_send answers "ok".
    assert (status, body) == (200, b"ok")
    assert content_type(headers) == "text/plain;charset=UTF-8"
    assert_not_cached(headers)
    _, _, body = http_request(h.base_url, "GET", "/s/000/%s/jsonp?c=%%63allback" % s)
    assert body == b'/**/callback("a[\\"x\\"]");\r\n'


def test_jsonp_without_callback_is_refused(serve: Serve) -> None:
    h = serve()
    status, _, body = http_request(h.base_url, "GET", "/s/a/a/jsonp")
    assert status == 500 and b'"callback" parameter required' in body


@pytest.mark.parametrize("callback", ["%20", "*", "abc(", "abc%28"])
def test_jsonp_callback_with_invalid_characters_is_invalid(serve: Serve, callback: str) -> None:
    """"c=%20" was stripped to nothing and answered "required"."""
    h = serve()
    status, _, body = http_request(h.base_url, "GET", "/s/a/a/jsonp?c=" + callback)
    assert status == 500 and b'invalid "callback" parameter' in body


def test_jsonp_send_explains_bad_payloads_and_the_session_goes_on(serve: Serve) -> None:
    h = serve()
    s = sid()
    assert http_request(h.base_url, "GET", "/s/000/%s/jsonp?c=x" % s)[2] == b'/**/x("o");\r\n'
    status, _, body = http_request(h.base_url, "POST", "/s/000/%s/jsonp_send" % s, b"d=%5B%22x", FORM)
    assert status == 500 and b"Broken JSON encoding." in body
    for data in (b"", b"d=", b"p=p"):
        status, _, body = http_request(h.base_url, "POST", "/s/000/%s/jsonp_send" % s, data, FORM)
        assert status == 500 and b"Payload expected." in body
    assert http_request(h.base_url, "POST", "/s/000/%s/jsonp_send" % s, b"d=%5B%22b%22%5D", FORM)[2] == b"ok"
    assert http_request(h.base_url, "GET", "/s/000/%s/jsonp?c=x" % s)[:3:2] == (200, b'/**/x("a[\\"b\\"]");\r\n')


def test_jsonp_send_takes_a_form_or_a_raw_body(serve: Serve) -> None:
    h = serve()
    s = sid()
    http_request(h.base_url, "GET", "/s/000/%s/jsonp?c=x" % s)
    assert http_request(h.base_url, "POST", "/s/000/%s/jsonp_send" % s, b"d=%5B%22abc%22%5D", FORM)[2] == b"ok"
    assert http_request(
        h.base_url, "POST", "/s/000/%s/jsonp_send" % s, b'["%61bc"]', {"Content-Type": "text/plain"}
    )[2] == b"ok"
    assert http_request(h.base_url, "GET", "/s/000/%s/jsonp?c=x" % s)[2] == b'/**/x("a[\\"abc\\",\\"%61bc\\"]");\r\n'


def test_jsonp_closed_session_answers_every_poll_with_its_close_frame(serve: Serve) -> None:
    h = serve()
    s = sid()
    assert http_request(h.base_url, "GET", "/s/000/%s/jsonp?c=x&onopen=close" % s)[2] == b'/**/x("o");\r\n'
    for _ in range(2):
        body = http_request(h.base_url, "GET", "/s/000/%s/jsonp?c=x" % s)[2]
        assert body == b'/**/x("c[3002,\\"closed on open\\"]");\r\n'


def test_jsonp_send_of_no_messages_is_accepted(serve: Serve) -> None:
    h = serve()
    s = sid()
    http_request(h.base_url, "GET", "/s/000/%s/jsonp?c=x" % s)
    assert http_request(h.base_url, "POST", "/s/000/%s/jsonp_send" % s, b"d=%5B%5D", FORM)[2] == b"ok"
    assert http_request(h.base_url, "POST", "/s/000/%s/jsonp_send" % s, b"d=%5B%22x%22%5D", FORM)[2] == b"ok"
    assert http_request(h.base_url, "GET", "/s/000/%s/jsonp?c=x" % s)[:3:2] == (200, b'/**/x("a[\\"x\\"]");\r\n')


# -- JSON encoding of what goes through ----------------------------------------------

#: Characters browsers mangle on some transports: the server must send them escaped
#: (SockJS protocol, "JSON Unicode Encoding").
ESCAPED_BY_SERVER = re.compile("[\x00-\x1f\u200c-\u200f\u2028-\u202f\u2060-\u206f\ufff0-\uffff]")
#: What sockjs-client escapes before sending (a subset is enough to prove decoding).
ESCAPED_BY_CLIENT = re.compile('[\\\\"\x00-\x1f\x7f-\x9f\u00ad\u0600-\u0604\u070f\u17b4\u17b5\u2000-\u20ff\ufeff\ufff0-\uffff]')


def test_server_escapes_characters_browsers_mangle(serve: Serve) -> None:
    h = serve()
    s = open_polling_session(h)
    chars = "".join(chr(i) for i in range(255, 65536) if ESCAPED_BY_SERVER.match(chr(i)))
    assert http_request(h.base_url, "POST", "/s/000/%s/xhr_send" % s, json.dumps([chars]).encode())[0] == 204
    _, _, body = http_request(h.base_url, "POST", "/s/000/%s/xhr" % s)
    expected = '"' + "".join("\\u%04x" % ord(c) for c in chars) + '"'
    assert body.decode().strip()[2:-1] == expected


def test_server_decodes_what_the_client_escapes(serve: Serve) -> None:
    h = serve()
    s = open_polling_session(h)
    chars = "".join(
        chr(i) for i in range(65536) if ESCAPED_BY_CLIENT.match(chr(i)) and not 0xD800 <= i <= 0xDFFF
    )
    escaped = '"' + "".join("\\u%04x" % ord(c) for c in chars) + '"'
    assert http_request(h.base_url, "POST", "/s/000/%s/xhr_send" % s, ("[%s]" % escaped).encode())[0] == 204
    _, _, body = http_request(h.base_url, "POST", "/s/000/%s/xhr" % s)
    assert json.loads(body.decode().strip()[2:-1]) == chars
