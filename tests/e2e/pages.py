"""Helpers that drive the demo page the way a person would (and read it back)."""

from __future__ import annotations

from typing import Any, List, Optional

from playwright.sync_api import expect

CONNECTED = '#connection[data-state="connected"]'


def open_as(page: Any, base_url: str, user: str, query: str = "") -> Any:
    """Open the page, log in as ``user`` with its button, wait until connected."""
    page.goto(base_url + "/" + (("?" + query) if query else ""))
    page.locator('#user-list button[data-user="%s"]' % user).click()
    wait_connected(page)
    return page


def wait_connected(page: Any) -> None:
    page.locator(CONNECTED).wait_for()


def wait_subscribed(page: Any, user: str) -> None:
    """Subscriptions are made right after CONNECTED; presence proves they are live."""
    expect(page.locator('#online-list li[data-user="%s"]' % user)).to_be_visible()


def send_chat(page: Any, text: str) -> None:
    page.get_by_label("Chat message").fill(text)
    page.locator("#chat-form").get_by_role("button", name="Send").click()


def chat_texts(page: Any) -> List[str]:
    return [t.strip() for t in page.locator("#chat-log li .content").all_inner_texts()]


def chat_seqs(page: Any) -> List[str]:
    return [s or "" for s in page.locator("#chat-log li").evaluate_all("els => els.map(e => e.dataset.seq)")]


def card(page: Any, title: str, column: Optional[str] = None) -> Any:
    scope = page.locator('#board-columns [data-column="%s"]' % column) if column else page.locator("#board-columns")
    return scope.locator(".kanban-card", has_text=title)
