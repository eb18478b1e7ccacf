"""The SockJS endpoint's fixed pages: ``/info``, ``/iframe*.html`` and the greeting.

- The iframe page follows the current SockJS protocol template (sockjs-client 1.x
  loads the script, then ``SockJS.bootstrap_iframe()``), loads ``sockjs_url``
  (default: sockjs-client 1.6.1), and carries ``Content-Security-Policy:
  frame-ancestors`` from ``allowed_origins`` so only allowed pages can frame it (its
  postMessage channel is what the iframe transports speak through).
- ``/info`` refuses foreign origins (403), answers CORS without the removed
  ``@asynchronous``, and its ``origins`` says which origins ``allowed_origins`` lets
  in (the protocol's ``host:port`` patterns; ``*:*`` only when any may).
- Like every SockJS handler here, they refuse request bodies over
  ``max_request_body`` (413) before reading them.
"""

from __future__ import annotations

import hashlib
import html
import json
import random
import sys
from typing import Any

from .base import HandlerMixin
from .sockjs_compat import static

IFRAME_TEMPLATE = """<!DOCTYPE html>
<html>
<head>
  <meta http-equiv="X-UA-Compatible" content="IE=edge" />
  <meta http-equiv="Content-Type" content="text/html; charset=UTF-8" />
  <script src="{sockjs_url}"></script>
  <script>
    document.domain = document.domain;
    SockJS.bootstrap_iframe();
  </script>
</head>
<body>
  <h2>Don't panic!</h2>
  <p>This is a SockJS hidden iframe. It's used for cross domain magic.</p>
</body>
</html>"""


class IFrameHandler(HandlerMixin, static.IFrameHandler):
    """The hidden iframe page of the iframe-* transports (cacheable, with ETag)."""

    # Navigations carry no Origin; who may frame the page is said by frame-ancestors.
    check_origin_header = False

    def get(self, *args: Any) -> None:
        body = IFRAME_TEMPLATE.format(
            sockjs_url=html.escape(self.server.transport_settings.sockjs_url, quote=True)
        ).encode("utf-8")
        ancestors = self.server.origin_policy.frame_ancestors()
        digest = hashlib.sha256(body + (ancestors or "").encode("utf-8")).hexdigest()[:32]
        etag = '"%s"' % digest
        if ancestors is not None:
            self.set_header("Content-Security-Policy", "frame-ancestors %s" % ancestors)
        self.enable_cache()
        self.set_header("ETag", etag)
        inm = self.request.headers.get("If-None-Match")
        if inm and digest in inm:
            self.set_status(304)
            return
        self.set_header("Content-Type", "text/html; charset=UTF-8")
        self.write(body)


class InfoHandler(HandlerMixin, static.InfoHandler):
    """``/info``: what the server offers (websocket, cookie_needed, origins, entropy)."""

    def get(self) -> None:
        self.preflight()
        self.disable_cache()
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        info = {
            "websocket": self.server.websockets_enabled,
            "cookie_needed": self.server.cookie_needed,
            "origins": self.server.origin_policy.sockjs_origins(),
            "entropy": random.randint(0, sys.maxsize),
        }
        self.write(json.dumps(info))


class GreetingsHandler(HandlerMixin, static.GreetingsHandler):
    """``{prefix}/``: the SockJS greeting (with the request body limit of the rest)."""

    check_origin_header = False  # a plain page, as sockjs-tornado serves it


__all__ = ["GreetingsHandler", "IFRAME_TEMPLATE", "IFrameHandler", "InfoHandler"]
