"""The host's login becomes a nexus token, in Chromium: docs/handlers.md's complete host
app (cookie sessions, ``xsrf_cookies``), static/nexus-token.js fetching the token from
its token handler, and nexus-client.js connecting, receiving and refreshing with it; and
docs/handlers.md's page, as written, loading the client's scripts from that app."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect
from support.clients import RawWsClient
from test_docs_handlers import DOC, XSRF, HostApp, chat, host_app  # noqa: F401  (fixture)

pytestmark = pytest.mark.browser

STATIC = Path(__file__).resolve().parents[2] / "static"

SCRIPT = r"""
async () => {
  // The page's own login: Tornado's XSRF cookie and header, then the session cookie.
  document.cookie = '_xsrf=0123456789abcdef0123456789abcdef; path=/';
  var login = await fetch('/login', { method: 'POST', body: 'name=ann', credentials: 'same-origin',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded',
               'X-XSRFToken': '0123456789abcdef0123456789abcdef' } });
  if (login.status !== 200) { return 'login ' + login.status; }
  var answers = [];
  var getToken = NexusClient.hostToken('/nexus/token', { onToken: function (d) { answers.push(d); } });
  var client = new NexusClient({ url: '/stomp', getToken: getToken, storage: null });
  var received = new Promise(function (resolve) {
    client.subscribe('/topic/chat/general', function (body, meta) { resolve([body.payload.content, meta.seq]); },
                     { since: 'live' });
  });
  var connected = new Promise(function (resolve) {
    client.on('state', function (s) { if (s.state === 'connected') { resolve(); } });
  });
  client.connect();
  await connected;
  var stored = new Promise(function (resolve, reject) {
    client.send('/topic/chat/general', client.envelope('CHAT_MESSAGE',
      { chatId: 'general', content: '  from the browser  ', contentType: 'TEXT' }),
      { onReceipt: resolve, onRejected: reject, onError: reject });
  });
  await stored;
  var message = await received;
  var refreshed = await new Promise(function (resolve) { client.refreshToken(resolve); });
  client.disconnect();
  return { user: client.userId, message: message, fetched: answers.length,
           refreshError: refreshed ? String(refreshed) : null, differ: answers[0].token !== answers[1].token };
}
"""


def test_the_page_gets_its_token_from_the_hosts_login(host_app: HostApp, new_page: Any) -> None:  # noqa: F811
    page = new_page()
    page.goto("http://127.0.0.1:%d/stomp/info" % host_app.port)  # any page of the app's origin
    for name in ("vendor/promise-polyfill.min.js", "vendor/fast-text-encoding.min.js", "vendor/sockjs.min.js",
                 "vendor/stomp.es5.min.js", "nexus-messages.js", "nexus-client.js", "nexus-token.js"):
        page.add_script_tag(path=str(STATIC / name))
    result = page.evaluate(SCRIPT)
    assert result == {"user": "ann", "message": ["from the browser", 1], "fetched": 2,
                      "refreshError": None, "differ": True}


def test_without_a_session_the_client_is_told_401(host_app: HostApp, new_page: Any) -> None:  # noqa: F811
    page = new_page()
    page.goto("http://127.0.0.1:%d/stomp/info" % host_app.port)
    for name in ("nexus-messages.js", "nexus-client.js", "nexus-token.js"):
        page.add_script_tag(path=str(STATIC / name))
    status = page.evaluate("""() => new Promise(function (resolve) {
      document.cookie = '_xsrf=0123456789abcdef0123456789abcdef; path=/';
      NexusClient.hostToken('/nexus/token')(function (err, token) { resolve(err ? err.status : token); });
    })""")
    assert status == 401


def page_snippet() -> str:
    section = DOC[DOC.index("## The page"):]
    match = re.search(r"```html\n(.*?)```", section, re.S)
    assert match
    return match.group(1)


def test_the_documented_page_runs_as_written(host_app: HostApp, new_page: Any) -> None:  # noqa: F811
    """The page of docs/handlers.md, served as the host's page: its scripts come from
    the app's ``plugin.client_url``, it gets ann's token from her session and shows
    the chat."""
    origin = "http://127.0.0.1:%d" % host_app.port
    name, value = host_app.login("ann").split("=", 1)
    page = new_page()
    page.context.add_cookies([{"name": "_xsrf", "value": XSRF, "url": origin},
                              {"name": name, "value": value, "url": origin}])
    html = "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"></head><body>\n%s</body></html>" % page_snippet()
    page.route(origin + "/chat", lambda route: route.fulfill(status=200, content_type="text/html", body=html))
    scripts = []
    page.on("response", lambda response: scripts.append((response.url, response.status)) if "/nexus/js/" in response.url else None)
    page.goto(origin + "/chat")
    page.wait_for_function("() => window.client && client.state === 'connected'")
    assert len(scripts) == 7 and all(status == 200 for _, status in scripts), scripts

    # A round trip on the page's own session first: the SUBSCRIBE it sent on CONNECTED
    # is handled before this SEND is receipted, so what another client sends next shows.
    page.evaluate("""(body) => new Promise(function (resolve, reject) {
      client.send('/topic/chat/general', body, {onReceipt: resolve, onRejected: reject, onError: reject});
    })""", json.loads(chat("ann", "ready")))
    sender = RawWsClient(host_app.ws_url)
    sender.connect(str(host_app.token(host_app.login("ann"))[1]["token"]))
    sender.send_frame("SEND", {"destination": "/topic/chat/general", "receipt": "r1"}, chat("ann", " from the page's snippet "))
    sender.expect("RECEIPT", receipt_id="r1")
    sender.close()
    expect(page.locator("#chat li")).to_have_text(["ann: ready", "ann: from the page's snippet"])
