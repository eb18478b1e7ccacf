"""Every script the demo page loads parses as ES5 (acorn, ``ecmaVersion: 5``).

Not a list of files kept by hand: the page is opened in an old browser (see
test_old_browsers.py) over the transports that load scripts of their own (the default,
JSONP polling, and the iframe ones, whose frame loads sockjs-client again and runs
inline scripts), and every script it ran is checked: each script response and each
inline ``<script>`` of every frame.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Dict, List
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Error as PlaywrightError

from nexus_tornado.demo import STATIC_PATH
from support.es5 import es5_errors
from tests.e2e.conftest import NexusServer
from tests.e2e.pages import open_as, send_chat

pytestmark = pytest.mark.browser

STATIC = Path(STATIC_PATH)

#: The files index.html names; each must be among the scripts seen.
PAGE_SCRIPTS = re.findall(r'<script src="([^"]+)"', (STATIC / "index.html").read_text(encoding="utf-8"))

INLINE_SCRIPTS = "() => Array.prototype.map.call(document.querySelectorAll('script:not([src])'), function (s) { return s.text; })"


def test_the_check_rejects_what_es5_lacks() -> None:
    errors = es5_errors({
        "const": "const a = 1;",
        "class": "class B {}",
        "arrow": "var f = () => 1;",
        "async": "async function g() {}",
        "for-of": "for (var x of []) {}",
        "es5": "var ok = function () { return [1, 2].map(function (n) { return n * 2; }); };",
    })
    assert sorted(errors) == ["arrow", "async", "class", "const", "for-of"]


def test_without_acorn_the_skip_says_how_to_install_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEXUS_NODE_TOOLS", str(tmp_path))
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception) as skipped:
        es5_errors({"es5": "var a = 1;"})
    assert "npm install --prefix %s acorn@8" % tmp_path in str(skipped.value)


def scripts_of(page: Any, finished: List[Any]) -> Dict[str, str]:
    """URL or frame/index -> source of every script the page and its frames ran."""
    sources: Dict[str, str] = {}
    for request in finished:
        if request.resource_type == "script":
            response = request.response()
            if response is not None and response.ok:
                sources[request.url] = response.body().decode("utf-8")
    for number, frame in enumerate(page.frames):
        try:
            inline = frame.evaluate(INLINE_SCRIPTS)
        except PlaywrightError:
            if frame.is_detached():
                # JSONP sends through a form in a short-lived, empty iframe: it may go
                # between listing the frames and reading them; it runs no script.
                continue
            raise
        for index, text in enumerate(inline):
            sources["inline script %d of frame %d (%s)" % (index, number, frame.url)] = text
    return sources


@pytest.mark.parametrize("transport", ["auto", "jsonp-polling", "iframe-htmlfile", "iframe-xhr-polling"])
def test_every_script_the_page_runs_is_es5(nexus_server: NexusServer, new_page: Any, transport: str) -> None:
    page = new_page(old_browser=True)
    finished: List[Any] = []
    page.on("requestfinished", lambda request: finished.append(request))
    open_as(page, nexus_server.url, "alice", "" if transport == "auto" else "transport=" + transport)
    send_chat(page, "a message to poll for")
    page.locator("#chat-log li", has_text="a message to poll for").wait_for()
    sources = scripts_of(page, finished)

    paths = {urlsplit(name).path for name in sources}
    assert len(PAGE_SCRIPTS) >= 4 and set(PAGE_SCRIPTS) <= paths, sorted(paths)
    if transport == "jsonp-polling":
        assert any(re.search(r"/stomp/\d+/\w+/jsonp$", path) for path in paths), sorted(paths)
    if transport.startswith("iframe-"):
        assert any(name.startswith("inline script") and "/stomp/iframe" in name for name in sources), sorted(sources)
    assert es5_errors(sources) == {}
