"""The demo page in a browser of the IE 9-11 era: no WebSocket, EventSource, fetch,
Promise, TextEncoder or TextDecoder.

Debian's Chromium with those APIs removed from every frame before any page script runs
(``new_page(old_browser=True)``), against the real ``nexus-tornado`` command. SockJS
falls back to HTTP transports; the vendored ES5 build of @stomp/stompjs runs on the
vendored polyfills. The seed's workflows (chat between two users, a notification for
someone who was offline, the shared board, presence) must all work, over what SockJS
picks by itself and over each fallback transport forced; and so must what the client
adds to stompjs (token refresh, rejections, reconnect and replay). Any uncaught error
in a page fails the test (``new_page``).
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import OLD_BROWSER_MISSING, NexusServer
from tests.e2e.pages import card, chat_seqs, chat_texts, open_as, send_chat, wait_subscribed
from tests.support.mongo import nx_server  # noqa: F401  (fixture)

pytestmark = pytest.mark.browser

#: Transport asked for -> the one SockJS must end up using. Without WebSocket and
#: EventSource, "auto" is xhr-streaming (sockjs-client 1.6's next choice).
TRANSPORTS = {
    "auto": "xhr-streaming",
    "xhr-polling": "xhr-polling",
    "jsonp-polling": "jsonp-polling",
    "iframe-htmlfile": "iframe-htmlfile",
}


def open_old(new_page: Any, server: NexusServer, user: str, transport: str, extra: str = "") -> Any:
    """Log ``user`` in from an old browser; check the APIs are gone and the transport."""
    query = "&".join(part for part in ("" if transport == "auto" else "transport=" + transport, extra) if part)
    page = open_as(new_page(old_browser=True), server.url, user, query)
    assert page.evaluate("window.nexusTestMissing") == OLD_BROWSER_MISSING
    assert page.evaluate("typeof WebSocket + ' ' + typeof EventSource + ' ' + typeof fetch") == (
        "undefined undefined undefined"
    )
    expect(page.locator("#connection")).to_have_attribute("data-transport", TRANSPORTS[transport])
    return page


@pytest.mark.parametrize("transport", list(TRANSPORTS))
def test_seed_workflows_without_websocket(nexus_server: NexusServer, new_page: Any, transport: str) -> None:
    alice = open_old(new_page, nexus_server, "alice", transport)

    # Notifications: Carol has never connected; the server keeps hers until she does.
    alice.locator("#notifications summary").click()
    alice.get_by_label("Notify").select_option("carol")
    alice.get_by_label("Notification title").fill("Review needed")
    alice.get_by_label("Notification message").fill("Carol, the roadmap needs you.")
    alice.get_by_role("button", name="Send notification").click()
    expect(alice.locator("#event-result")).to_have_text("Sent to Carol.")

    # Presence and chat between two users.
    bob = open_old(new_page, nexus_server, "bob", transport)
    wait_subscribed(alice, "bob")
    wait_subscribed(bob, "alice")
    send_chat(alice, "Hello Bob, über " + transport)
    expect(bob.locator("#chat-log li", has_text="Hello Bob, über " + transport)).to_be_visible()
    send_chat(bob, "Hi Alice ✓")
    expect(alice.locator("#chat-log li", has_text="Hi Alice ✓")).to_be_visible()
    assert chat_texts(alice) == ["Hello Bob, über " + transport, "Hi Alice ✓"]

    # The shared board: add, move, seen by the other member.
    alice.get_by_label("New card title").fill("Old browsers")
    alice.get_by_role("button", name="Add card").click()
    expect(card(bob, "Old browsers", "todo")).to_be_visible()
    bob.get_by_role("button", name="Move Old browsers to In progress").click()
    expect(card(alice, "Old browsers", "doing")).to_be_visible()

    carol = open_old(new_page, nexus_server, "carol", transport)
    item = carol.locator("#notification-list li", has_text="Review needed")
    expect(item).to_contain_text("Carol, the roadmap needs you.")
    expect(item).to_contain_text("received while you were away")

    # Presence follows a logout.
    wait_subscribed(alice, "carol")
    bob.get_by_role("button", name="Log out").click()
    expect(alice.locator('#online-list li[data-user="bob"]')).to_have_count(0)
    expect(carol.locator('#online-list li[data-user="bob"]')).to_have_count(0)


def test_reconnect_replay_refresh_and_rejections_without_websocket(
    nexus_factory: Any, nx_server: Any, new_page: Any  # noqa: F811
) -> None:
    """What the client adds to stompjs, through the ES5 build on the polyfills: token
    refresh on the live connection, rejections routed to the page, and after a crash
    a reconnect with back-off that resubscribes with last-seq and shows exactly the
    missed messages, no duplicate."""
    database = "nexus_old_" + uuid.uuid4().hex[:12]
    server: NexusServer = nexus_factory("--mongo-uri", nx_server.uri, "--mongo-database", database)
    alice = open_old(new_page, server, "alice", "xhr-polling", "ttl=30&backoffMax=1500")
    bob = open_old(new_page, server, "bob", "xhr-polling", "backoffMax=1500")
    wait_subscribed(alice, "bob")
    send_chat(bob, "before the crash")
    expect(alice.locator("#chat-log li", has_text="before the crash")).to_be_visible()

    # A 30 s token is refreshed 5 s after connecting, without a reconnect.
    expect(alice.locator("#event-log")).to_contain_text("token refreshed without reconnecting", timeout=20_000)
    expect(alice.locator("#event-log li", has_text="connected")).to_have_count(1)
    alice.get_by_role("button", name="Send a 2001-character chat message").click()
    expect(alice.locator('#rejection-list li[data-code="INVALID_MESSAGE"]')).to_contain_text("max length is 2000")

    blocked = {"on": True}
    alice.route("**/stomp/info*", lambda route: route.abort() if blocked["on"] else route.continue_())
    server.kill()
    expect(alice.locator("#connection-text")).to_contain_text("Reconnecting in")
    server.start()
    expect(bob.locator("#connection")).to_have_attribute("data-state", "connected")
    send_chat(bob, "while you were away 1")
    expect(bob.locator("#chat-log li", has_text="while you were away 1")).to_be_visible()
    send_chat(bob, "while you were away 2")
    expect(bob.locator("#chat-log li", has_text="while you were away 2")).to_be_visible()

    blocked["on"] = False
    expect(alice.locator("#connection")).to_have_attribute("data-state", "connected")
    expect(alice.locator("#chat-log li", has_text="while you were away 2")).to_be_visible()
    assert chat_texts(alice) == ["before the crash", "while you were away 1", "while you were away 2"]
    assert chat_seqs(alice) == ["1", "2", "3"]
    expect(alice.locator("#connection")).to_have_attribute("data-transport", "xhr-polling")
