"""The demo page across a SIGTERM of the real command: the page is closed with 1001, waits
the reconnect delay the server named (not its own back-off), and comes back."""

from __future__ import annotations

import re
import signal
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.pages import open_as, send_chat, wait_subscribed

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("transport", ["websocket", "xhr-polling"])
def test_a_page_waits_the_delay_the_shutting_down_server_names(nexus_factory: Any, new_page: Any, transport: str) -> None:
    # The page's own back-off would try again within 0.2 s; the server asks for 2-4 s.
    server = nexus_factory("--reconnect-delay", "4")
    page = open_as(new_page(), server.url, "alice", "backoffMax=200&transport=" + transport)
    wait_subscribed(page, "alice")
    page.evaluate(
        """() => { window.reconnects = [];
                   window.nexusDemoClient.on('state', function (s) {
                     if (s.state === 'reconnecting') { window.reconnects.push(s); } }); }"""
    )
    assert server.stop(signal.SIGTERM) == 0
    page.wait_for_function("() => window.reconnects.length > 0")
    first = page.evaluate("window.reconnects[0]")
    hinted = re.match(r"^server shutting down \(reconnect in (\d+) ms\)$", first["reason"])
    assert hinted, first
    assert first["delay"] == int(hinted.group(1)) <= 4000
    server.start()
    expect(page.locator("#connection")).to_have_attribute("data-state", "connected")
    send_chat(page, "back after the restart")
    expect(page.locator("#chat-log li", has_text="back after the restart")).to_be_visible()
