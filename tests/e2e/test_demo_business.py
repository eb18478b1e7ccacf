"""The demo's business logic in Chromium: mentions notify, the board is kept server-side.

The demo registers a handler and after-store listeners on the plugin
(``nexus_tornado.demo.business``), the way docs/handlers.md tells a host app to.
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import NexusServer
from tests.e2e.pages import card, open_as, send_chat, wait_subscribed

pytestmark = pytest.mark.browser


def test_a_mention_notifies_the_user_online_and_offline(nexus_server: NexusServer, new_page: Any) -> None:
    alice = open_as(new_page(), nexus_server.url, "alice")
    bob = open_as(new_page(), nexus_server.url, "bob")
    wait_subscribed(alice, "bob")

    send_chat(alice, "@bob can you review the roadmap?")
    line = bob.locator("#chat-log li", has_text="can you review")
    expect(line).to_be_visible()
    expect(line).to_have_class("chat-message mentioned")
    item = bob.locator("#notification-list li", has_text="mentioned you in #general")
    expect(item).to_be_visible()
    expect(item.locator(".title")).to_have_text("Alice (admin) mentioned you in #general")
    expect(item).to_contain_text("@bob can you review the roadmap?")
    # Alice mentioned nobody else: her own inbox stays empty.
    expect(alice.locator("#notification-list li")).to_have_count(0)

    # Carol was never connected: her mention is stored and shown when she logs in.
    send_chat(bob, "thanks, and @carol too")
    expect(alice.locator("#chat-log li", has_text="and @carol too")).to_be_visible()
    carol = open_as(new_page(), nexus_server.url, "carol")
    stored = carol.locator("#notification-list li", has_text="Bob mentioned you in #general")
    expect(stored).to_be_visible()
    expect(stored).to_contain_text("received while you were away")


def test_a_new_page_shows_the_board_as_it_is(nexus_factory: Any, new_page: Any) -> None:
    # Keep one message per destination: replaying the board's moves alone would lose
    # every card added before the last move.
    server: NexusServer = nexus_factory("--retention-count", "1")
    alice = open_as(new_page(), server.url, "alice")
    for title in ("Plan", "Build", "Ship"):
        alice.get_by_label("New card title").fill(title)
        alice.get_by_role("button", name="Add card").click()
        expect(card(alice, title, "todo")).to_be_visible()
    alice.get_by_role("button", name="Move Build to In progress").click()
    expect(card(alice, "Build", "doing")).to_be_visible()

    carol = open_as(new_page(), server.url, "carol")
    expect(card(carol, "Plan", "todo")).to_be_visible()
    expect(card(carol, "Build", "doing")).to_be_visible()
    expect(card(carol, "Ship", "todo")).to_be_visible()
    # ... and follows it live from there.
    wait_subscribed(carol, "alice")
    alice.get_by_role("button", name="Delete Plan").click()
    expect(card(carol, "Plan")).to_have_count(0)
    expect(carol.locator("#board-columns .kanban-card")).to_have_count(2)
