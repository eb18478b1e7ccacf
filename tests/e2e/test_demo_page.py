"""The demo page in headless Chromium against the real ``nexus-tornado`` command.

Each test starts its own server (``python -m nexus_tornado`` on a free port) and logs
people in through the page's own buttons, each in a browser context of their own.
"""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import NexusServer
from tests.e2e.pages import card, chat_seqs, chat_texts, open_as, send_chat, wait_connected, wait_subscribed
from tests.support.mongo import nx_server  # noqa: F401  (fixture)

pytestmark = pytest.mark.browser


def jwt_with_exp(token: str, exp: int) -> str:
    """``token`` with its ``exp`` claim replaced (the signature no longer matches: the
    page reads the claims only)."""
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["exp"] = exp
    encoded = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    return ".".join([header, encoded, signature])


def test_two_users_chat(nexus_server: NexusServer, new_page: Any) -> None:
    alice = open_as(new_page(), nexus_server.url, "alice")
    bob = open_as(new_page(), nexus_server.url, "bob")
    wait_subscribed(alice, "bob")

    send_chat(alice, "Hello Bob")
    message = bob.locator("#chat-log li", has_text="Hello Bob")
    expect(message).to_be_visible()
    expect(message.locator(".sender")).to_have_text("Alice (admin)")

    send_chat(bob, "Hi Alice")
    expect(alice.locator("#chat-log li", has_text="Hi Alice")).to_be_visible()
    expect(alice.locator("#chat-log li")).to_have_count(2)
    assert chat_texts(alice) == ["Hello Bob", "Hi Alice"]
    assert chat_seqs(alice) == ["1", "2"]


def test_notification_sent_while_offline_appears_at_login(nexus_server: NexusServer, new_page: Any) -> None:
    alice = open_as(new_page(), nexus_server.url, "alice")
    alice.locator("#notifications summary").click()
    alice.get_by_label("Notify").select_option("bob")
    alice.get_by_label("Notification title").fill("Review needed")
    alice.get_by_label("Notification message").fill("Bob, please review the roadmap.")
    alice.get_by_role("button", name="Send notification").click()
    expect(alice.locator("#event-result")).to_have_text("Sent to Bob.")

    # Bob was never connected: the server kept it and delivers it when he logs in.
    bob = open_as(new_page(), nexus_server.url, "bob")
    item = bob.locator("#notification-list li", has_text="Review needed")
    expect(item).to_be_visible()
    expect(item).to_contain_text("Bob, please review the roadmap.")
    expect(item).to_contain_text("received while you were away")
    expect(bob.locator("#offline-count")).to_have_text("1 while you were away")


def test_notifications_come_back_after_a_reload(nexus_server: NexusServer, new_page: Any) -> None:
    """Like every other panel, Notifications refills on a reload: every notification the
    server keeps for the user, those an earlier page showed marked as seen; one sent
    while the page was closed is new."""
    def notify(title: str) -> None:
        status, _ = nexus_server.request("POST", "/demo/events", {"kind": "notify", "to": "bob", "title": title,
                                                                  "message": "for Bob"}, token=nexus_server.token("alice"))
        assert status == 200

    notify("Before login")
    bob = open_as(new_page(), nexus_server.url, "bob")
    items = bob.locator("#notification-list li")
    expect(items.filter(has_text="Before login")).to_contain_text("received while you were away")
    notify("While online")
    expect(items).to_have_count(2)
    expect(items.filter(has_text="While online")).not_to_contain_text("while you were away")

    bob.reload()
    wait_connected(bob)
    expect(items).to_have_count(2)
    assert [t.split("\n")[0] for t in items.all_inner_texts()] == ["While online", "Before login"]
    for title in ("Before login", "While online"):
        expect(items.filter(has_text=title)).to_contain_text("seen before")
        expect(items.filter(has_text=title)).not_to_contain_text("while you were away")
    expect(bob.locator("#offline-count")).to_be_hidden()

    bob.goto("about:blank")
    notify("While the page was closed")
    bob.goto(nexus_server.url + "/")
    wait_connected(bob)
    expect(items).to_have_count(3)
    fresh = items.filter(has_text="While the page was closed")
    expect(fresh).to_contain_text("received while you were away")
    expect(fresh).not_to_contain_text("seen before")
    expect(items.filter(has_text="seen before")).to_have_count(2)
    expect(bob.locator("#offline-count")).to_have_text("1 while you were away")


def test_board_changes_reach_the_other_member(nexus_server: NexusServer, new_page: Any, screenshot_dir: Path) -> None:
    alice = open_as(new_page(), nexus_server.url, "alice")
    bob = open_as(new_page(), nexus_server.url, "bob")
    wait_subscribed(bob, "alice")

    alice.get_by_label("New card title").fill("Write the docs")
    alice.get_by_role("button", name="Add card").click()
    expect(card(bob, "Write the docs", "todo")).to_be_visible()

    alice.get_by_role("button", name="Move Write the docs to In progress").click()
    expect(card(bob, "Write the docs", "doing")).to_be_visible()
    expect(card(bob, "Write the docs", "todo")).to_have_count(0)

    bob.get_by_label("New card title").fill("Ship it")
    bob.get_by_role("button", name="Add card").click()
    expect(card(alice, "Ship it", "todo")).to_be_visible()
    bob.get_by_role("button", name="Delete Ship it").click()
    expect(card(alice, "Ship it")).to_have_count(0)
    expect(card(alice, "Write the docs", "doing")).to_be_visible()

    send_chat(bob, "Moved the docs card to In progress.")
    expect(alice.locator("#chat-log li", has_text="Moved the docs card")).to_be_visible()
    alice.screenshot(path=str(screenshot_dir / "demo-board-and-chat.png"), full_page=True)


@pytest.mark.parametrize("transport", ["xhr-polling", "raw-websocket"])
def test_forced_transport(nexus_server: NexusServer, new_page: Any, transport: str) -> None:
    alice = open_as(new_page(), nexus_server.url, "alice", "transport=" + transport)
    bob = open_as(new_page(), nexus_server.url, "bob")
    expect(alice.locator("#connection")).to_have_attribute("data-transport", transport)
    expect(alice.locator("#connection-transport")).to_have_text("via " + transport)
    expect(alice.get_by_label("Transport")).to_have_value(transport)
    wait_subscribed(alice, "bob")

    send_chat(alice, "sent over " + transport)
    expect(bob.locator("#chat-log li", has_text="sent over " + transport)).to_be_visible()
    send_chat(bob, "answer for " + transport)
    expect(alice.locator("#chat-log li", has_text="answer for " + transport)).to_be_visible()
    if transport == "xhr-polling":
        # The server really saw SockJS polling requests, not a WebSocket.
        assert re.search(r"POST /stomp/\d+/\w+/xhr\b", nexus_server.output())

    # The picker switches transport on the live page.
    alice.get_by_label("Transport").select_option("xhr-streaming")
    expect(alice.locator("#connection")).to_have_attribute("data-transport", "xhr-streaming")
    send_chat(bob, "after switching")
    expect(alice.locator("#chat-log li", has_text="after switching")).to_have_count(1)


def test_restart_with_mongo_reconnects_and_replays(
    nexus_factory: Any, nx_server: Any, new_page: Any, screenshot_dir: Path  # noqa: F811
) -> None:
    database = "nexus_e2e_" + uuid.uuid4().hex[:12]
    server: NexusServer = nexus_factory("--mongo-uri", nx_server.uri, "--mongo-database", database)
    query = "backoffMax=1500"
    alice = open_as(new_page(), server.url, "alice", query)
    bob = open_as(new_page(), server.url, "bob", query)
    wait_subscribed(alice, "bob")
    send_chat(bob, "before the crash")
    expect(alice.locator("#chat-log li", has_text="before the crash")).to_be_visible()

    # Keep Alice away until told: SockJS asks /stomp/info before every connection.
    blocked = {"on": True}
    alice.route("**/stomp/info*", lambda route: route.abort() if blocked["on"] else route.continue_())

    server.kill()
    expect(alice.locator("#connection")).to_have_attribute("data-state", re.compile("reconnecting|connecting"))
    expect(alice.locator("#connection-text")).to_contain_text("Reconnecting in")
    server.start()  # same port, same database

    # Bob comes back by himself and writes while Alice is still away.
    expect(bob.locator("#connection")).to_have_attribute("data-state", "connected")
    send_chat(bob, "while you were away 1")
    send_chat(bob, "while you were away 2")
    expect(bob.locator("#chat-log li", has_text="while you were away 2")).to_be_visible()
    status, _ = server.request(
        "POST", "/demo/events",
        {"kind": "notify", "to": "alice", "title": "Missed event", "message": "sent during the outage"},
        token=server.token("bob"),
    )
    assert status == 200
    assert alice.locator("#chat-log li", has_text="while you were away").count() == 0

    blocked["on"] = False
    expect(alice.locator("#connection")).to_have_attribute("data-state", "connected")
    expect(alice.locator("#chat-log li", has_text="while you were away 2")).to_be_visible()
    missed = alice.locator("#notification-list li", has_text="Missed event")
    expect(missed).to_contain_text("received while you were away")
    assert chat_texts(alice) == ["before the crash", "while you were away 1", "while you were away 2"]
    assert chat_seqs(alice) == ["1", "2", "3"]
    expect(alice.locator("#event-log")).to_contain_text("reconnecting")
    alice.screenshot(path=str(screenshot_dir / "demo-after-restart.png"), full_page=True)


def test_restart_without_persistence_keeps_the_login_and_shows_the_reset(
    nexus_factory: Any, new_page: Any, screenshot_dir: Path
) -> None:
    """The in-memory store and no --jwt-secret: the command keeps its demo secret in a
    file, so the restarted server accepts the tokens the pages hold and they come back
    without a new login. It has forgotten every message: the pages say so (seq-reset)."""
    server: NexusServer = nexus_factory(with_secret=False)
    secret_file = server.state_dir / "nexus-tornado" / "demo-jwt-secret"
    assert "signing demo tokens with the secret in %s (made now)" % secret_file in server.output()
    assert secret_file.stat().st_mode & 0o777 == 0o600
    query = "backoffMax=1500"
    alice = open_as(new_page(), server.url, "alice", query)
    bob = open_as(new_page(), server.url, "bob", query)
    wait_subscribed(alice, "bob")
    send_chat(bob, "before the restart")
    expect(alice.locator("#chat-log li", has_text="before the restart")).to_be_visible()
    expect(alice.locator("#history-reset")).to_be_hidden()

    server.kill()
    expect(alice.locator("#connection-text")).to_contain_text("Reconnecting in")
    server.start()
    assert "signing demo tokens with the secret in %s (kept across restarts)" % secret_file in server.output()
    expect(alice.locator("#connection")).to_have_attribute("data-state", "connected")
    expect(bob.locator("#connection")).to_have_attribute("data-state", "connected")

    send_chat(bob, "after the restart")
    expect(alice.locator("#chat-log li", has_text="after the restart")).to_be_visible()
    for page in (alice, bob):
        expect(page.locator("#history-reset")).to_be_visible()
        expect(page.locator("#history-reset-where")).to_have_text("/topic/chat/general")
    classes = alice.locator("#chat-log li").evaluate_all("els => els.map(e => e.className)")
    assert classes == ["chat-message", "history-divider", "chat-message"], classes
    assert chat_texts(alice) == ["before the restart", "after the restart"]
    alice.screenshot(path=str(screenshot_dir / "demo-history-reset.png"), full_page=True)

    # The old tokens were accepted: no refusal, no second login.
    expect(alice.locator("#event-log")).not_to_contain_text("invalid signature")
    assert server.output().count("issued a 900 s token for alice") == 1
    assert server.output().count("issued a 900 s token for bob") == 1
    alice.get_by_role("button", name="Dismiss").click()
    expect(alice.locator("#history-reset")).to_be_hidden()


def test_a_reload_keeps_the_login_until_it_expires_or_logs_out(nexus_server: NexusServer, new_page: Any) -> None:
    alice = open_as(new_page(), nexus_server.url, "alice")
    send_chat(alice, "before the reload")
    expect(alice.locator("#chat-log li", has_text="before the reload")).to_be_visible()

    alice.reload()
    wait_connected(alice)
    expect(alice.locator("#me-name")).to_have_text("Alice (admin)")
    expect(alice.locator("#login")).to_be_hidden()
    expect(alice.locator("#chat-log li", has_text="before the reload")).to_be_visible()
    assert nexus_server.output().count("issued a 900 s token for alice") == 1  # the same token

    # A kept token that has expired is no login.
    kept = alice.evaluate("JSON.parse(sessionStorage.getItem('nexus-demo:login'))")
    assert kept["user"] == "alice"
    alice.evaluate(
        "(t) => sessionStorage.setItem('nexus-demo:login', JSON.stringify({user: 'alice', token: t}))",
        jwt_with_exp(kept["token"], int(time.time()) - 10),
    )
    alice.reload()
    expect(alice.locator("#login")).to_be_visible()
    expect(alice.locator("#app")).to_be_hidden()

    # Logging out forgets the login.
    alice.locator('#user-list button[data-user="alice"]').click()
    wait_connected(alice)
    alice.get_by_role("button", name="Log out").click()
    expect(alice.locator("#login")).to_be_visible()
    alice.reload()
    expect(alice.locator("#user-list button")).to_have_count(4)
    expect(alice.locator("#app")).to_be_hidden()


def test_a_refused_message_keeps_what_was_typed_and_says_why(nexus_server: NexusServer, new_page: Any) -> None:
    bob = open_as(new_page(), nexus_server.url, "bob")
    bob.get_by_label("Announcement title").fill("Not an admin")
    bob.get_by_label("Announcement message").fill("Bob tries anyway")
    bob.get_by_role("button", name="Post announcement").click()
    error = bob.locator("#announcement-form-error")
    expect(error).to_be_visible()
    expect(error).to_have_attribute("data-code", "FORBIDDEN")
    expect(error).to_contain_text("Not sent (FORBIDDEN)")
    tracking = error.locator("code").inner_text()
    assert tracking and tracking in nexus_server.output()
    expect(bob.get_by_label("Announcement title")).to_have_value("Not an admin")
    expect(bob.get_by_label("Announcement message")).to_have_value("Bob tries anyway")

    # An accepted message clears its input once the server confirmed it.
    send_chat(bob, "this one is fine")
    expect(bob.locator("#chat-log li", has_text="this one is fine")).to_be_visible()
    expect(bob.get_by_label("Chat message")).to_have_value("")
    expect(bob.locator("#chat-form-error")).to_be_hidden()


def test_announcements_calendar_presence_and_rejections(
    nexus_server: NexusServer, new_page: Any, screenshot_dir: Path
) -> None:
    alice = open_as(new_page(), nexus_server.url, "alice")
    bob = open_as(new_page(), nexus_server.url, "bob")
    wait_subscribed(bob, "alice")

    # Announcements: the admin posts, everyone sees it; Bob is refused.
    alice.get_by_label("Announcement title").fill("Maintenance")
    alice.get_by_label("Announcement message").fill("Friday 18:00 UTC")
    alice.get_by_role("button", name="Post announcement").click()
    expect(bob.locator("#announcement-list li", has_text="Maintenance")).to_be_visible()
    bob.get_by_label("Announcement title").fill("Not an admin")
    bob.get_by_label("Announcement message").fill("should be refused")
    bob.get_by_role("button", name="Post announcement").click()
    refused = bob.locator('#rejection-list li[data-code="FORBIDDEN"]')
    expect(refused).to_be_visible()
    tracking = refused.get_attribute("data-tracking-id")
    assert tracking and tracking in nexus_server.output()
    expect(alice.locator("#announcement-list li")).to_have_count(1)

    # Calendar: Alice's calendar is shared with Bob.
    alice.get_by_label("Event title").fill("Design review")
    alice.get_by_label("When").fill("2026-12-01T10:00")
    alice.get_by_role("button", name="Add to my calendar").click()
    event = bob.locator("#calendar-list li", has_text="Design review")
    expect(event).to_be_visible()
    alice.get_by_role("button", name="Cancel Design review").click()
    expect(event).to_have_attribute("data-status", "CANCELLED")

    # Rejections carry their reason and tracking id; the connection stays up.
    bob.get_by_role("button", name="Send a 2001-character chat message").click()
    too_long = bob.locator('#rejection-list li[data-code="INVALID_MESSAGE"]')
    expect(too_long).to_contain_text("max length is 2000")
    expect(too_long.locator(".tracking code")).to_have_text(re.compile(r"\w{8,}"))
    expect(bob.locator("#connection")).to_have_attribute("data-state", "connected")
    bob.screenshot(path=str(screenshot_dir / "demo-bob.png"), full_page=True)

    # Presence: Alice leaves, Bob's list follows.
    alice.get_by_role("button", name="Log out").click()
    expect(bob.locator('#online-list li[data-user="alice"]')).to_have_count(0)


def test_token_refreshed_without_reconnecting(nexus_server: NexusServer, new_page: Any) -> None:
    # A 30 s token is refreshed 5 s after connecting (the client's shortest interval).
    alice = open_as(new_page(), nexus_server.url, "alice", "ttl=30")
    expect(alice.locator("#event-log")).to_contain_text("token refreshed without reconnecting", timeout=20_000)
    expect(alice.locator("#event-log li", has_text="connected")).to_have_count(1)
    assert nexus_server.output().count("issued a 30 s token for alice") == 2
    send_chat(alice, "still here")
    expect(alice.locator("#chat-log li", has_text="still here")).to_be_visible()
