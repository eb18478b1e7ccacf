"""The browser client's scripts, served from the installed package to a host app's pages.

``plugin.client_url(r"/nexus/js/(.*)")`` is a URL spec serving exactly
:data:`CLIENT_SCRIPTS` (the vendored polyfills, sockjs-client and @stomp/stompjs,
then ``nexus-messages.js``, ``nexus-client.js`` and ``nexus-token.js``) under their
names, e.g. ``/nexus/js/vendor/sockjs.min.js``, and :data:`DOCUMENT_SCRIPTS` for pages
that edit shared documents (docs/documents.md); anything else there is a 404, so the
demo's own page and scripts are not served by a host app. Responses carry an ``ETag``
and ``Cache-Control: no-cache``: browsers revalidate (a 304) and see an upgrade of the
package at once. See docs/handlers.md ("The page").
"""

from __future__ import annotations

import os
from typing import Optional, Tuple

import tornado.web

from ..transport.body_limit import BodyLimitMixin

__all__ = ["CLIENT_SCRIPTS", "DOCUMENT_SCRIPTS", "ClientScriptHandler", "static_directory"]

#: The scripts a page loads, in the order it must load them (each file is ES5).
CLIENT_SCRIPTS: Tuple[str, ...] = (
    "vendor/promise-polyfill.min.js",     # Promise, only where missing (stompjs needs it)
    "vendor/fast-text-encoding.min.js",   # TextEncoder/TextDecoder, likewise
    "vendor/sockjs.min.js",
    "vendor/stomp.es5.min.js",
    "nexus-messages.js",
    "nexus-client.js",
    "nexus-token.js",                     # only for NexusClient.hostToken
)

#: Loaded after those by pages that edit shared documents (/topic/doc/{docId}), in order.
DOCUMENT_SCRIPTS: Tuple[str, ...] = ("nexus-text.js", "nexus-docs.js")

#: Also served: the source map of sockjs.min.js (browsers' developer tools ask for it).
_ALSO_SERVED = frozenset(CLIENT_SCRIPTS + DOCUMENT_SCRIPTS + ("vendor/sockjs.min.js.map",))


def static_directory() -> str:
    """The directory of the client scripts (and the demo page): ``static/`` installed as
    ``nexus_tornado/demo/static``, or at the top of a source checkout."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for candidate in (os.path.join(package, "demo", "static"), os.path.join(package, os.pardir, "static")):
        if os.path.isfile(os.path.join(candidate, "nexus-client.js")):
            return os.path.normpath(candidate)
    raise RuntimeError("the client scripts (static/nexus-client.js) are missing from this installation")


class ClientScriptHandler(BodyLimitMixin, tornado.web.StaticFileHandler):
    """Serves :data:`CLIENT_SCRIPTS` from ``path`` (:func:`static_directory`); 404 for any other name."""

    def validate_absolute_path(self, root: str, absolute_path: str) -> Optional[str]:
        name = os.path.relpath(absolute_path, root).replace(os.sep, "/")
        if name not in _ALSO_SERVED:
            raise tornado.web.HTTPError(404)
        return super().validate_absolute_path(root, absolute_path)

    def set_extra_headers(self, path: str) -> None:
        self.set_header("Cache-Control", "no-cache")
