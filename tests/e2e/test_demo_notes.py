"""The demo's shared notes in headless Chromium: two people typing into one text at once.

Each test starts the real ``nexus-tornado`` command with its demo app; every user logs
in through the page's own buttons in a browser context of their own. Keystrokes of the
two pages are interleaved without waiting for each other, so operations cross on the
wire; at the end both boxes hold the same text, every keystroke is in it, and it is
what the server has stored (read by a third client's snapshot).
"""

from __future__ import annotations

import json
import uuid
from typing import Any, Tuple

import pytest
from playwright.sync_api import expect

from support.clients import RawWsClient
from tests.e2e.conftest import NexusServer
from tests.e2e.pages import open_as
from tests.support.mongo import nx_server  # noqa: F401  (fixture)

pytestmark = pytest.mark.browser

BOX = "#notes-text"


def notes_ready(page: Any) -> Any:
    expect(page.locator("#notes-status")).to_have_attribute("data-status", "saved")
    box = page.locator(BOX)
    expect(box).to_be_editable()
    return box


def stored(nexus: NexusServer, doc: str = "notes") -> Tuple[str, int]:
    """The document as the server keeps it: a new subscriber's snapshot."""
    client = RawWsClient(nexus.ws_url)
    try:
        client.connect(nexus.token("carol"))
        client.subscribe("d", "/topic/doc/" + doc)
        payload = json.loads(client.expect("MESSAGE", subscription="d", snapshot="true").body)["payload"]
        return payload["text"], payload["version"]
    finally:
        client.close()


def settled(page: Any) -> None:
    """Wait until the page has nothing unsaved."""
    page.wait_for_function("() => window.nexusDemoNotes && !window.nexusDemoNotes.pending()")
    expect(page.locator("#notes-status")).to_have_attribute("data-status", "saved")


def caret(page: Any) -> int:
    return int(page.locator(BOX).evaluate("el => el.selectionStart"))


@pytest.mark.parametrize("old_browser", [False, True], ids=["modern", "no-websocket-no-promise"])
def test_two_pages_typing_at_once_end_with_one_text(nexus_server: NexusServer, new_page: Any, old_browser: bool) -> None:
    alice = open_as(new_page(old_browser=old_browser), nexus_server.url, "alice")
    bob = open_as(new_page(), nexus_server.url, "bob")
    if old_browser:
        assert "WebSocket" in alice.evaluate("window.nexusTestMissing")
    alice_box, bob_box = notes_ready(alice), notes_ready(bob)

    alice_box.click()
    alice.keyboard.type("Hello 😀 world")
    expect(bob_box).to_have_value("Hello 😀 world")
    settled(alice)

    # Both put their caret in the same place (after "Hello "), then type at once,
    # one keystroke each in turn, neither waiting for the other.
    for page in (alice, bob):
        page.locator(BOX).click()
        page.locator(BOX).evaluate("el => { el.selectionStart = el.selectionEnd = 6; }")
    mine, theirs = "aaaa", "BBBB"
    for a, b in zip(mine, theirs):
        alice.keyboard.type(a)
        bob.keyboard.type(b)
    settled(alice)
    settled(bob)
    # Nothing is unsaved any more: both pages reach the server's version and text.
    text, version = stored(nexus_server)
    for box in (alice_box, bob_box):
        expect(box).to_have_attribute("data-version", str(version))
        expect(box).to_have_value(text)
    # Every keystroke of each person is there, in order, where they typed it. (Runs
    # of the two may interleave: at one position the server's order decides, keystroke
    # by keystroke; see docs/documents.md.)
    assert text.replace("B", "") == "Hello aaaa😀 world", text
    assert text.replace("a", "") == "Hello BBBB😀 world", text


def test_a_remote_edit_before_the_caret_keeps_it_where_the_user_types(nexus_server: NexusServer, new_page: Any) -> None:
    alice = open_as(new_page(), nexus_server.url, "alice")
    bob = open_as(new_page(), nexus_server.url, "bob")
    alice_box, bob_box = notes_ready(alice), notes_ready(bob)
    alice_box.click()
    alice.keyboard.type("abc")
    expect(bob_box).to_have_value("abc")
    # Bob writes at the start; Alice's caret was after "abc", and stays after it.
    bob_box.click()
    bob.keyboard.press("Home")
    bob.keyboard.type("🙂XY")
    expect(alice_box).to_have_value("🙂XYabc")
    assert caret(alice) == len("🙂XYabc".encode("utf-16-le")) // 2
    alice.keyboard.type("d")
    expect(bob_box).to_have_value("🙂XYabcd")
    settled(alice)
    assert stored(nexus_server)[0] == "🙂XYabcd"


def test_an_edit_made_while_the_server_is_down_is_saved_once_after_reconnecting(
    nexus_factory: Any, nx_server: Any, new_page: Any
) -> None:
    database = "nexus_notes_" + uuid.uuid4().hex[:8]
    server: NexusServer = nexus_factory("--mongo-uri", nx_server.uri, "--mongo-database", database)
    query = "backoffMax=1500"
    alice = open_as(new_page(), server.url, "alice", query)
    bob = open_as(new_page(), server.url, "bob", query)
    alice_box, bob_box = notes_ready(alice), notes_ready(bob)
    alice_box.click()
    alice.keyboard.type("one ")
    expect(bob_box).to_have_value("one ")
    settled(alice)

    # Keep Alice away until told: SockJS asks /stomp/info before every connection.
    blocked = {"on": True}
    alice.route("**/stomp/info*", lambda route: route.abort() if blocked["on"] else route.continue_())
    server.kill()
    expect(alice.locator("#connection")).not_to_have_attribute("data-state", "connected")
    alice.keyboard.type("two ")  # shown at once, waiting to be saved
    expect(alice.locator("#notes-status")).to_have_attribute("data-status", "saving")
    server.start()  # same port, same database

    expect(bob.locator("#connection")).to_have_attribute("data-state", "connected")
    bob_box.click()
    bob.keyboard.press("End")
    bob.keyboard.type("three")
    settled(bob)
    blocked["on"] = False
    expect(alice.locator("#connection")).to_have_attribute("data-state", "connected")
    settled(alice)
    # Both appended at one place: Bob's, stored first, comes first; Alice's is there once.
    expect(bob_box).to_have_value("one threetwo ")
    assert alice_box.input_value() == "one threetwo "
    assert stored(server) == ("one threetwo ", int(alice_box.get_attribute("data-version") or "0"))
