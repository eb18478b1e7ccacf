"""The browser client's scripts, served to a host app's pages by ``plugin.client_url``,
on a real server."""

from __future__ import annotations

import http.client
import os
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pytest
from support.nexus import NexusServer, running_nexus

from nexus_tornado.host.client_scripts import CLIENT_SCRIPTS, DOCUMENT_SCRIPTS, static_directory


@pytest.fixture
def nexus() -> Iterator[NexusServer]:
    def urls(plugin: Any) -> List[Any]:
        return [plugin.client_url(r"/nexus/js/(.*)")]

    with running_nexus(extra_urls=urls) as server:
        yield server


def get(nexus: NexusServer, path: str, headers: Optional[Dict[str, str]] = None) -> Tuple[int, Dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", nexus.port, timeout=10)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def test_every_client_script_is_served_as_in_the_package(nexus: NexusServer) -> None:
    assert CLIENT_SCRIPTS[-3:] == ("nexus-messages.js", "nexus-client.js", "nexus-token.js")
    assert DOCUMENT_SCRIPTS == ("nexus-text.js", "nexus-docs.js")
    for name in CLIENT_SCRIPTS + DOCUMENT_SCRIPTS:
        status, headers, body = get(nexus, "/nexus/js/" + name)
        assert status == 200, name
        assert headers["content-type"].startswith(("application/javascript", "text/javascript")), name
        assert headers["cache-control"] == "no-cache"
        with open(os.path.join(static_directory(), name), "rb") as handle:
            assert body == handle.read(), name
        # Revalidation: an unchanged script is a 304.
        assert get(nexus, "/nexus/js/" + name, {"If-None-Match": headers["etag"]})[0] == 304


@pytest.mark.parametrize("path", [
    "/nexus/js/index.html", "/nexus/js/demo.js", "/nexus/js/vendor/VERSIONS", "/nexus/js/vendor/",
    "/nexus/js/../static/index.html", "/nexus/js/vendor/../demo.js", "/nexus/js/%2e%2e/setup.cfg", "/nexus/js/",
])
def test_nothing_else_is_served(nexus: NexusServer, path: str) -> None:
    assert get(nexus, path)[0] in (403, 404)


def test_the_scripts_directory_holds_every_script() -> None:
    for name in CLIENT_SCRIPTS + DOCUMENT_SCRIPTS:
        assert os.path.isfile(os.path.join(static_directory(), name)), name
