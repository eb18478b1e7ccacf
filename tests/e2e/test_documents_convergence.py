"""Convergence of a shared document edited by several browser clients at once, through
two server processes on one MongoDB (nx-27017).

Four Chromium pages run the real client (nexus-client.js, nexus-text.js,
nexus-docs.js), two connected to each process. Each makes random edits (inserts with
emoji and combining marks, deletions, replacements) at random moments, and now and
then drops its connection (the client reconnects, resubscribes after the last version
it saw and re-sends what was not acknowledged). When they have all stopped and saved
everything, every page shows the same text at the same version, and that is the
snapshot the server has stored.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator, List, Tuple

import pytest

from support.cluster import Cluster, cluster_mongo
from support.clients import RawWsClient
from support.mongo import nx_server  # noqa: F401  (fixture)

pytestmark = [pytest.mark.browser, pytest.mark.mongo]

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = [
    "static/vendor/sockjs.min.js",
    "static/vendor/stomp.es5.min.js",
    "static/nexus-messages.js",
    "static/nexus-client.js",
    "static/nexus-text.js",
    "static/nexus-docs.js",
]
DOC = "conv"

#: Starts NexusClient and the document, then makes `edits` random edits; a small
#: seeded generator keeps each page's run reproducible from the test's parameters.
EDITOR = r"""
([url, token, seed, edits, dropEvery]) => {
  var state = 'running';
  var rnd = seed;
  function random() { rnd = (rnd * 1103515245 + 12345) % 2147483648; return rnd / 2147483648; }
  function pick(n) { return Math.floor(random() * n); }
  var alphabet = ['a', 'b', 'c', ' ', '\n', 'é', 'e\u0301', '😀', '👍🏽', '中', '𝄞'];
  var client = new NexusClient({ url: url, token: token, backoff: { initial: 50, max: 300 } });
  var doc = NexusDocs.open(client, 'conv', {
    minInterval: 0,
    onError: function (e) { window.problems.push(e.message); }
  });
  window.problems = [];
  window.drops = 0;
  window.doc = doc;
  window.client = client;
  client.on('error', function (e) { window.problems.push('client: ' + e.message); });
  client.on('rejected', function (r) { window.problems.push('rejected: ' + r.error + ' ' + r.message); });
  client.connect();
  var made = 0;
  function step() {
    if (made >= edits) { state = 'done'; window.editorState = state; return; }
    if (doc.version !== null) {
      var length = NexusText.length(doc.text);
      var at = pick(length + 1);
      var op;
      var kind = pick(3);
      var text = '';
      for (var i = 0; i <= pick(3); i++) { text += alphabet[pick(alphabet.length)]; }
      if (kind === 0 || length === at) {
        op = [at, text, length - at];
      } else {
        var gone = 1 + pick(Math.min(3, length - at));
        op = [at, -gone, length - at - gone];
        if (kind === 2) { op.splice(1, 0, text); }
      }
      doc.edit(op.filter(function (part) { return part !== 0; }));
      made++;
      if (dropEvery && made % dropEvery === 0 && client._stomp) {
        window.drops++;
        client._stomp.forceDisconnect();
      }
    }
    setTimeout(step, pick(40));
  }
  window.editorState = state;
  step();
}
"""


#: What a page that did not finish was doing.
DIAGNOSIS = """() => ({state: window.editorState, client: window.client.state, version: window.doc.version, status: window.doc.status,
  pending: window.doc.pending(), problems: window.problems, drops: window.drops, text: window.doc.text.length})"""


@pytest.fixture
def cluster(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cluster]:
    cluster = Cluster(tmp_path, cluster_mongo(request, "nx27017"), 2)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


def editor_page(new_page: Any, origin: str) -> Any:
    """A blank page served by Playwright at ``origin`` (a loopback one: Chromium keeps
    pages of other origins from reaching loopback servers), with the client's scripts."""
    page = new_page()
    address = origin + "/editor-page"
    page.route(address, lambda route: route.fulfill(
        status=200, content_type="text/html", body="<!DOCTYPE html><meta charset=utf-8><title>editor</title>"))
    page.goto(address)
    for script in SCRIPTS:
        page.add_script_tag(path=str(ROOT / script))
    return page


def snapshot(cluster: Cluster, process: int) -> Tuple[str, int]:
    client = RawWsClient(cluster.servers[process].ws_url)
    try:
        client.connect(cluster.token("reader", docs=[DOC]))
        client.subscribe("d", "/topic/doc/" + DOC)
        payload = json.loads(client.expect("MESSAGE", subscription="d", snapshot="true").body)["payload"]
        return payload["text"], payload["version"]
    finally:
        client.close()


def test_four_clients_on_two_processes_converge_on_the_stored_text(cluster: Cluster, new_page: Any) -> None:
    pages: List[Any] = []
    for index in range(4):
        server = cluster.servers[index % 2]
        page = editor_page(new_page, server.url)
        token = cluster.token("editor%d" % index, docs=[DOC])
        page.evaluate(EDITOR, [server.url + "/stomp", token, 7919 * (index + 1), 60, 0 if index == 3 else 15])
        pages.append(page)
    for page in pages:
        try:
            page.wait_for_function("() => window.editorState === 'done'", timeout=120_000)
        except Exception:
            raise AssertionError("a page did not finish: %s" % [p.evaluate(DIAGNOSIS) for p in pages])
    for page in pages:
        page.wait_for_function("() => !window.doc.pending() && window.doc.status === 'saved'", timeout=60_000)
    text, version = snapshot(cluster, 0)
    assert snapshot(cluster, 1) == (text, version)
    for page in pages:
        page.wait_for_function("(v) => window.doc.version === v", arg=version, timeout=60_000)
    views = [page.evaluate("[window.doc.text, window.doc.version]") for page in pages]
    assert views == [[text, version]] * 4
    assert sum(page.evaluate("window.drops") for page in pages) == 12  # 3 pages x 60 / 15
    # No edit was refused or lost on the way (a resync would be reported here).
    assert [page.evaluate("window.problems") for page in pages] == [[]] * 4
    # Every edit reached the server, once: 240 edits, each stored in at most one
    # operation (edits made while one was in flight are composed).
    assert 0 < version <= 240
