"""The demo host app: a page to try every feature, and the handlers behind it.

Installed as ``nexus_tornado.demo`` (the page and the vendored JS as
``nexus_tornado.demo.static``). The ``nexus-tornado`` command mounts it next to the
plugin unless given ``--no-demo``::

    app = tornado.web.Application(plugin.urls + demo_urls(plugin))

It includes a login that hands out tokens to anyone (``POST /demo/token``): it is
for trying the project on your own machine and must never be exposed. See
docs/demo.md.
"""

from __future__ import annotations

import os
from typing import Any, List

import tornado.web

from nexus_tornado.host.client_scripts import static_directory
from nexus_tornado.transport.body_limit import BodyLimitMixin

from . import business
from .api import BoardHandler, ConfigHandler, EventsHandler, TokenHandler
from .users import DEMO_USERS, DemoUser, find_user

__all__ = ["DEMO_USERS", "DemoUser", "STATIC_PATH", "demo_urls", "find_user"]


def _static_path() -> str:
    """Where the page lives: with the client scripts (``static/``, installed inside this
    package, or at the top of a source checkout)."""
    path = static_directory()
    if not os.path.isfile(os.path.join(path, "index.html")):
        raise RuntimeError("the demo page (static/index.html) is missing from this installation")
    return path


#: Directory holding index.html, demo.js (with demo-support.js and demo-board.js), demo.css,
#: nexus-client.js (with nexus-messages.js), nexus-token.js and vendor/.
STATIC_PATH = _static_path()


class PageHandler(BodyLimitMixin, tornado.web.StaticFileHandler):
    """Static files of the demo, revalidated on every load so edits show at once."""

    def set_extra_headers(self, path: str) -> None:
        self.set_header("Cache-Control", "no-cache")

    def get_content_type(self) -> str:
        # VERSIONS and the LICENSE files have no extension: show them, do not download.
        content_type = super().get_content_type()
        if content_type == "application/octet-stream":
            return "text/plain; charset=utf-8"
        return content_type


def demo_urls(plugin: Any) -> List[Any]:
    """URL specs of the demo app for a :class:`~nexus_tornado.NexusPlugin`; registers
    the demo's message handlers and listeners on it (:mod:`.business`)."""
    api = {"plugin": plugin}
    boards = business.install(plugin)
    return [
        tornado.web.url(r"/()", PageHandler, {"path": STATIC_PATH, "default_filename": "index.html"}),
        tornado.web.url(r"/static/(.*)", PageHandler, {"path": STATIC_PATH}),
        tornado.web.url(r"/demo/config", ConfigHandler, api),
        tornado.web.url(r"/demo/token", TokenHandler, api),
        tornado.web.url(r"/demo/events", EventsHandler, api),
        tornado.web.url(r"/demo/board/([A-Za-z0-9_@-][A-Za-z0-9_.@-]{0,127})", BoardHandler, {**api, "boards": boards}),
    ]
