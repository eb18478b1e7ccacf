"""nexus_tornado.transport.static: the SockJS info and iframe pages, over real HTTP."""

from __future__ import annotations

import json

from support.sockjs_echo import Serve, http_request, serve  # noqa: F401  (serve is a fixture)


def test_info_refuses_a_foreign_origin_and_answers_an_allowed_one(serve: Serve) -> None:
    h = serve({"allowed_origins": ["https://app.example.com"]})
    status, _, _ = http_request(h.base_url, "GET", "/s/info", headers={"Origin": "https://evil.example.com"})
    assert status == 403
    status, headers, body = http_request(h.base_url, "GET", "/s/info", headers={"Origin": "https://app.example.com"})
    assert status == 200 and json.loads(body)["websocket"] is True
    assert headers["access-control-allow-origin"] == "https://app.example.com"


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
