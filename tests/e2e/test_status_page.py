"""The operator's page of the command (/status) in Chromium: live connections by
transport, busiest destinations, rates and rejections, and the chart, following real
traffic."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect
from support.clients import RawWsClient, chat_envelope
from support.nexus import make_token

pytestmark = pytest.mark.browser


def test_the_page_follows_connections_traffic_and_rejections(nexus_server: Any, new_page: Any, screenshot_dir: Any) -> None:
    page = new_page()
    page.goto(nexus_server.admin_url + "/status")
    expect(page.locator("#connections")).to_have_text("0")
    expect(page.locator("#transports")).to_contain_text("(none)")

    clients = []
    for user in ("olga", "pete"):
        client = RawWsClient(nexus_server.ws_url)
        client.connect(make_token(user, secret=nexus_server.secret, chats=["ops"]))
        client.subscribe_errors()
        client.subscribe("chat", "/topic/chat/ops")
        clients.append(client)
    olga = clients[0]
    for n in range(30):
        olga.send_frame("SEND", {"destination": "/topic/chat/ops", "receipt": str(n)}, chat_envelope("olga", "ops"))
    for n in range(30):
        olga.expect("RECEIPT", receipt_id=str(n))
    olga.send_frame("SEND", {"destination": "/topic/chat/elsewhere"}, chat_envelope("olga", "elsewhere"))
    assert olga.rejection()[1]["error"] == "FORBIDDEN"

    expect(page.locator("#connections")).to_have_text("2")
    expect(page.locator("#users")).to_have_text("2")
    expect(page.locator("#transports tr").first).to_have_text("rawwebsocket2")
    expect(page.locator("#busiest-subscribers tr").first).to_have_text("/topic/chat/ops2")
    expect(page.locator("#busiest-messages tr").first).to_have_text("/topic/chat/ops30")
    expect(page.locator("#rejections tr").first).to_have_text("FORBIDDEN1")
    # Once two samples bracket the traffic, the chart has a line with a peak above zero.
    page.wait_for_function(
        """() => {
          var pts = document.getElementById('line-published').getAttribute('points').split(' ');
          return pts.length >= 2 && pts.some(function (p) { return parseFloat(p.split(',')[1]) < 150; });
        }"""
    )
    page.wait_for_function("() => document.getElementById('line-rejections').getAttribute('points').length > 0")
    page.screenshot(path=str(screenshot_dir / "status-page.png"), full_page=True)

    for client in clients:
        client.close()
    expect(page.locator("#connections")).to_have_text("0")
