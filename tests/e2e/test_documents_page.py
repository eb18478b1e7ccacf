"""docs/documents.md's page, as written, in Chromium against the real command.

The page of "In a page" is served at the server's origin with only ``myTokenSource``
defined before it (the one name it leaves to the reader); typing into its textarea
reaches the server, and an edit made elsewhere shows in it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from nexus_tornado.ot import TextOperation
from support.clients import RawWsClient
from tests.e2e.conftest import NexusServer

pytestmark = pytest.mark.browser

DOC = (Path(__file__).resolve().parents[2] / "docs" / "documents.md").read_text(encoding="utf-8")


def page_snippet() -> str:
    match = re.search(r"```html\n(.*?)```", DOC[DOC.index("**In a page.**"):], re.S)
    assert match
    return match.group(1)


def test_the_documented_page_edits_the_document(nexus_server: NexusServer, new_page: Any) -> None:
    token = nexus_server.token("bob")
    html = (
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"></head><body>\n"
        "<script>var myTokenSource = function (done) { done(null, %s); };</script>\n%s</body></html>"
        % (json.dumps(token), page_snippet())
    )
    page = new_page()
    page.route(nexus_server.url + "/notes-page", lambda route: route.fulfill(status=200, content_type="text/html", body=html))
    page.goto(nexus_server.url + "/notes-page")
    box = page.locator("#notes")
    expect(box).to_be_editable()
    box.click()
    page.keyboard.type("written on the documented page")

    other = RawWsClient(nexus_server.ws_url)
    try:
        other.connect(nexus_server.token("carol"))
        other.subscribe("d", "/topic/doc/notes")
        # Carol's snapshot may come before Bob's last keystrokes are stored: wait for them.
        seen = json.loads(other.expect("MESSAGE", subscription="d", snapshot="true").body)["payload"]
        text, version = seen["text"], seen["version"]
        while text != "written on the documented page":
            frame = other.expect("MESSAGE", subscription="d")
            op = json.loads(frame.body)["payload"]["op"]
            text, version = TextOperation.from_json(op).apply(text), int(frame.headers["seq"])
        body = json.dumps({"type": "DOC_OP", "timestamp": "2026-12-01T10:00:00Z", "senderId": "carol",
                           "payload": {"docId": "notes", "version": version, "opId": "c-1", "op": ["Carol: ", len(text)]}})
        other.send_frame("SEND", {"destination": "/topic/doc/notes", "receipt": "r"}, body.encode())
        other.expect("RECEIPT", receipt_id="r")
    finally:
        other.close()
    expect(box).to_have_value("Carol: written on the documented page")
