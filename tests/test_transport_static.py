"""nexus_tornado.transport.static: the SockJS info and iframe pages, over real HTTP.

What the SockJS protocol (0.3.3) asks of them; the protocol's own suite checks the
same things.
"""

from __future__ import annotations

import json
import re

import pytest

from support.sockjs_echo import (  # noqa: F401  (serve is a fixture)
    Serve,
    assert_cors,
    assert_not_cached,
    assert_preflight,
    content_type,
    http_request,
    serve,
)

#: The page the SockJS protocol prescribes, byte for byte but for the script URL.
IFRAME_PAGE = re.compile(
    r"""^<!DOCTYPE html>
<html>
<head>
  <meta http-equiv="X-UA-Compatible" content="IE=edge" />
  <meta http-equiv="Content-Type" content="text/html; charset=UTF-8" />
  <script src="(?P<sockjs_url>[^"]*)"></script>
  <script>
    document.domain = document.domain;
    SockJS.bootstrap_iframe\(\);
  </script>
</head>
<body>
  <h2>Don't panic!</h2>
  <p>This is a SockJS hidden iframe. It's used for cross domain magic.</p>
</body>
</html>$"""
)


# -- the iframe page -----------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/iframe.html",
        "/iframe-a.html",
        "/iframe-.html",
        "/iframe-0.1.2.html",
        "/iframe-0.1.2abc-dirty.2144.html",
        "/iframe-a.html?t=1234",
        "/iframe-0.1.2abc-dirty.2144.html?t=qweqweq123",
    ],
)
def test_iframe_page_under_any_versioned_name_is_the_cacheable_template(serve: Serve, path: str) -> None:
    h = serve()
    status, headers, body = http_request(h.base_url, "GET", "/s" + path)
    assert status == 200
    assert content_type(headers) == "text/html;charset=UTF-8"
    assert "public" in headers["cache-control"]
    assert re.search(r"max-age=[1-9][0-9]{6}", headers["cache-control"])
    assert headers["expires"] and headers["etag"]
    assert "last-modified" not in headers and "set-cookie" not in headers
    match = IFRAME_PAGE.match(body.decode().strip())
    assert match is not None, body
    assert match.group("sockjs_url").startswith(("/", "http"))


@pytest.mark.parametrize(
    "path", ["/iframe.htm", "/iframe", "/IFRAME.HTML", "/IFRAME", "/iframe.HTML", "/iframe.xml", "/iframe-/.html"]
)
def test_malformed_iframe_names_are_404(serve: Serve, path: str) -> None:
    h = serve()
    assert http_request(h.base_url, "GET", "/s" + path)[0] == 404


def test_iframe_page_etag_is_stable_and_revalidates_without_representation(serve: Serve) -> None:
    h = serve()
    first = http_request(h.base_url, "GET", "/s/iframe.html")[1]["etag"]
    assert http_request(h.base_url, "GET", "/s/iframe.html")[1]["etag"] == first
    status, headers, body = http_request(h.base_url, "GET", "/s/iframe.html", headers={"If-None-Match": first})
    assert (status, body) == (304, b"")
    assert "content-type" not in headers


# -- /info ---------------------------------------------------------------------------


def test_info_answers_capabilities_fresh_and_with_cors(serve: Serve) -> None:
    h = serve()
    status, headers, body = http_request(h.base_url, "GET", "/s/info", headers={"Origin": "test"})
    assert status == 200
    assert content_type(headers) == "application/json;charset=UTF-8"
    assert "set-cookie" not in headers
    assert_not_cached(headers)
    assert_cors(headers, "test")
    info = json.loads(body)
    assert info["websocket"] is True
    assert info["cookie_needed"] in (True, False)
    assert info["origins"] == ["*:*"]
    assert isinstance(info["entropy"], int)


def test_info_entropy_differs_between_requests(serve: Serve) -> None:
    h = serve()
    first = json.loads(http_request(h.base_url, "GET", "/s/info")[2])["entropy"]
    second = json.loads(http_request(h.base_url, "GET", "/s/info")[2])["entropy"]
    assert isinstance(first, int) and isinstance(second, int)
    assert first != second


def test_info_preflight(serve: Serve) -> None:
    h = serve()
    assert_preflight(h.base_url, "/s/info", "OPTIONS, GET")


def test_info_preflight_from_file_page_echoes_null(serve: Serve) -> None:
    """A page on file:// sends Origin "null"; with "*" allowed it is echoed back."""
    h = serve()
    status, headers, body = http_request(
        h.base_url, "OPTIONS", "/s/info", headers={"Origin": "null", "Access-Control-Request-Method": "POST"}
    )
    assert status in (200, 204) and body == b""
    assert headers["access-control-allow-origin"] == "null"


def test_info_says_when_websocket_is_off(serve: Serve) -> None:
    h = serve({"disabled_transports": ["websocket"]})
    status, _, body = http_request(h.base_url, "GET", "/s/info")
    assert status == 200
    assert json.loads(body)["websocket"] is False


def test_info_says_when_cookie_is_needed_without_setting_one(serve: Serve) -> None:
    h = serve({"jsessionid": True})
    status, headers, body = http_request(h.base_url, "GET", "/s/info")
    assert status == 200
    assert "set-cookie" not in headers
    assert json.loads(body)["cookie_needed"] is True


def test_info_refuses_a_foreign_origin_and_answers_an_allowed_one(serve: Serve) -> None:
    h = serve({"allowed_origins": ["https://app.example.com"]})
    status, _, _ = http_request(h.base_url, "GET", "/s/info", headers={"Origin": "https://evil.example.com"})
    assert status == 403
    status, headers, body = http_request(h.base_url, "GET", "/s/info", headers={"Origin": "https://app.example.com"})
    assert status == 200 and json.loads(body)["websocket"] is True
    assert headers["access-control-allow-origin"] == "https://app.example.com"


def test_info_origins_says_which_origins_are_allowed(serve: Serve) -> None:
    # SockJS's /info carries the server's origin setting as host:port patterns
    # ("*:*": any); it must not claim "*:*" while allowed_origins restricts them.
    h = serve({"allowed_origins": ["https://app.example.com", "http://localhost:8080", "https://admin.example.com:8443"]})
    status, _, body = http_request(h.base_url, "GET", "/s/info", headers={"Origin": "https://app.example.com"})
    assert status == 200
    assert json.loads(body)["origins"] == ["admin.example.com:8443", "app.example.com:443", "localhost:8080"]


def test_info_reports_websocket_and_is_not_cached(serve: Serve) -> None:
    h = serve()
    status, headers, body = http_request(h.base_url, "GET", "/s/info")
    info = json.loads(body)
    assert status == 200 and info["websocket"] is True
    assert "no-transform" in headers["cache-control"]


# -- the iframe page -----------------------------------------------------------------


def test_iframe_page_follows_current_template(serve: Serve) -> None:
    h = serve({"sockjs_url": "/vendor/sockjs.min.js?v=1&x=\"<"})
    status, headers, body = http_request(h.base_url, "GET", "/s/iframe.html")
    assert status == 200
    text = body.decode()
    assert '<script src="/vendor/sockjs.min.js?v=1&amp;x=&quot;&lt;"></script>' in text
    assert "SockJS.bootstrap_iframe();" in text and "_sockjs_onload" not in text
    assert text.index("<script src=") < text.index("bootstrap_iframe")
    assert headers["cache-control"] == "max-age=31536000, public"
    assert "content-security-policy" not in headers  # allowed_origins "*": any page


def test_iframe_page_default_sockjs_url_is_current_client(serve: Serve) -> None:
    h = serve()
    _, _, body = http_request(h.base_url, "GET", "/s/iframe-abc.html")
    assert b"sockjs-client@1.6.1/dist/sockjs.min.js" in body


def test_iframe_page_may_be_framed_only_by_allowed_origins(serve: Serve) -> None:
    h = serve({"allowed_origins": ["https://app.example.com", "http://localhost:8080"]})
    _, headers, _ = http_request(h.base_url, "GET", "/s/iframe.html")
    assert headers["content-security-policy"] == (
        "frame-ancestors 'self' http://localhost:8080 https://app.example.com"
    )


def test_iframe_page_etag_revalidates(serve: Serve) -> None:
    h = serve()
    _, headers, _ = http_request(h.base_url, "GET", "/s/iframe.html")
    status, _, body = http_request(
        h.base_url, "GET", "/s/iframe.html", headers={"If-None-Match": headers["etag"]}
    )
    assert (status, body) == (304, b"")
