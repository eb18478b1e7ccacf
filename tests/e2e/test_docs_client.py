"""static/nexus-docs.js under node, against a scripted stand-in for NexusClient.

The stand-in records what the document client asks of nexus-client.js (subscriptions,
SENDs with their callbacks) and lets each case play the server: the snapshot, other
people's operations, the client's own operation coming back, refusals and dropped
connections. The real server and browsers are in test_demo_notes.py and
test_documents_convergence.py.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any, Dict

import pytest

ROOT = Path(__file__).resolve().parents[2]

HARNESS = r"""
const NexusDocs = require(process.argv[1]);
function fakeClient() {
  const client = { userId: 'me', subs: [], sent: [], forgotten: [] };
  client.subscribe = (destination, fn, options) => {
    const sub = { destination, fn, options, active: true };
    client.subs.push(sub);
    return { unsubscribe: () => { sub.active = false; } };
  };
  client.send = (destination, body, callbacks) => { client.sent.push({ destination, body, callbacks }); };
  client.envelope = (type, payload) => ({ type, timestamp: 't', senderId: client.userId, payload });
  client.forgetSeq = (d) => client.forgotten.push(d);
  client.deliver = (body, meta) => {
    const sub = client.subs.filter((s) => s.active).pop();
    sub.fn(body, Object.assign({ headers: {}, gap: null }, meta));
  };
  client.snapshot = (text, version) => client.deliver(
    { type: 'DOC_SNAPSHOT', payload: { docId: 'd', version, text } }, { seq: version, headers: { snapshot: 'true' } });
  client.op = (seq, op, opId, senderId) => client.deliver(
    { type: 'DOC_OP', senderId: senderId || 'other', payload: { docId: 'd', version: seq - 1, opId: opId || 'x' + seq, op } },
    { seq });
  return client;
}
const cases = {
  inflightAndBuffer() {
    const c = fakeClient();
    const errors = [];
    const doc = NexusDocs.open(c, 'd', { minInterval: 0, onError: (e) => errors.push(e.message) });
    c.snapshot('hello', 4);
    doc.edit([5, '!']);                 // sent at once
    doc.edit([6, '?']);                 // waits, composed
    doc.edit(['>', 7]);
    const first = c.sent[0].body.payload;
    c.op(5, ['A', 5]);                  // someone else's, stored first
    const afterRemote = { text: doc.text, inflight: doc.inflight.op, buffer: doc.buffer };
    c.op(6, first.op, first.opId, 'me');  // the server stored ours, as transformed there
    const second = c.sent[1].body.payload;
    return { first, afterRemote, second, text: doc.text, version: doc.version, sends: c.sent.length, errors, status: doc.status };
  },
  resendAfterDrop() {
    const c = fakeClient();
    const doc = NexusDocs.open(c, 'd', { minInterval: 0 });
    c.snapshot('ab', 1);
    doc.edit([2, 'c']);
    c.op(2, ['Z', 2]);                  // arrives before the drop is noticed
    c.sent[0].callbacks.onError({ error: 'DISCONNECTED' });
    return { first: c.sent[0].body.payload, again: c.sent[1].body.payload, text: doc.text };
  },
  gapResyncs() {
    const c = fakeClient();
    const errors = [];
    const doc = NexusDocs.open(c, 'd', { minInterval: 0, onError: (e) => errors.push(e.message) });
    c.snapshot('ab', 1);
    doc.edit([2, 'c']);
    c.op(5, ['q', 6]);                  // 2 to 4 are gone
    const during = doc.status;
    c.snapshot('fresh', 9);
    return { errors, during, text: doc.text, version: doc.version, pending: doc.pending(),
             forgotten: c.forgotten, subscriptions: c.subs.length, activeFirst: c.subs[0].active };
  },
  refusalResyncs() {
    const c = fakeClient();
    const errors = [];
    const doc = NexusDocs.open(c, 'd', { minInterval: 0, onError: (e) => errors.push(e.error + ': ' + e.message) });
    c.snapshot('ab', 1);
    doc.edit([2, 'c']);
    c.sent[0].callbacks.onRejected({ error: 'TOO_LARGE', message: 'too long', details: {} });
    return { errors, subscriptions: c.subs.length, status: doc.status };
  },
  rateLimitedIsSentAgain(done) {
    const c = fakeClient();
    const doc = NexusDocs.open(c, 'd', { minInterval: 0 });
    c.snapshot('ab', 1);
    doc.edit([2, 'c']);
    c.sent[0].callbacks.onRejected({ error: 'RATE_LIMITED', message: 'slow down', details: { retryAfter: 0.01 } });
    setTimeout(() => done({ sends: c.sent.length, sameId: c.sent[1] && c.sent[1].body.payload.opId === c.sent[0].body.payload.opId }), 100);
  },
  duplicatesAreIgnored() {
    const c = fakeClient();
    const doc = NexusDocs.open(c, 'd', { minInterval: 0 });
    c.snapshot('ab', 1);
    c.op(2, [2, 'c']);
    c.op(2, [2, 'c']);
    return { text: doc.text, version: doc.version };
  }
};
const results = {};
const names = Object.keys(cases);
let waiting = names.length;
for (const name of names) {
  const finish = (value) => { results[name] = value; if (--waiting === 0) { process.stdout.write(JSON.stringify(results)); } };
  try {
    if (cases[name].length) { cases[name](finish); } else { finish(cases[name]()); }
  } catch (e) { finish({ exception: String(e.stack) }); }
}
"""


@pytest.fixture(scope="module")
def results() -> Dict[str, Any]:
    if not shutil.which("node"):
        pytest.skip("node is not installed")
    done = subprocess.run(
        ["node", "-e", HARNESS, str(ROOT / "static" / "nexus-docs.js")],
        capture_output=True, text=True, timeout=60, check=True,
    )
    return dict(json.loads(done.stdout))


def test_one_operation_in_flight_the_rest_composed_and_transformed(results: Dict[str, Any]) -> None:
    r = results["inflightAndBuffer"]
    assert r["first"]["version"] == 4 and r["first"]["op"] == [5, "!"]
    # Someone else's insert at the start moved what is in flight and what waits.
    assert r["afterRemote"] == {"text": "A>hello!?", "inflight": [6, "!"], "buffer": [1, ">", 6, "?"]}
    # Ours came back: acknowledged, and the buffer went out on the version it made.
    assert r["second"]["version"] == 6 and r["second"]["op"] == [1, ">", 6, "?"]
    assert r["second"]["opId"] != r["first"]["opId"]
    assert (r["text"], r["version"], r["sends"], r["errors"], r["status"]) == ("A>hello!?", 6, 2, [], "saving")


def test_a_dropped_send_goes_again_with_its_op_id_on_the_version_it_now_follows(results: Dict[str, Any]) -> None:
    r = results["resendAfterDrop"]
    assert r["again"]["opId"] == r["first"]["opId"]
    assert (r["first"]["version"], r["first"]["op"]) == (1, [2, "c"])
    assert (r["again"]["version"], r["again"]["op"]) == (2, [3, "c"])
    assert r["text"] == "Zabc"


def test_missing_operations_make_it_read_the_document_again(results: Dict[str, Any]) -> None:
    r = results["gapResyncs"]
    assert r["during"] == "resyncing"
    assert r["forgotten"] == ["/topic/doc/d"] and r["subscriptions"] == 2 and r["activeFirst"] is False
    assert (r["text"], r["version"], r["pending"]) == ("fresh", 9, False)
    assert any("no longer kept" in e for e in r["errors"]) and any("lost" in e for e in r["errors"])


def test_a_refused_operation_is_reported_and_the_document_read_again(results: Dict[str, Any]) -> None:
    r = results["refusalResyncs"]
    assert r["errors"][0] == "TOO_LARGE: too long"
    assert r["subscriptions"] == 2 and r["status"] == "resyncing"


def test_a_rate_limited_operation_is_sent_again_later(results: Dict[str, Any]) -> None:
    assert results["rateLimitedIsSentAgain"] == {"sends": 2, "sameId": True}


def test_an_operation_seen_twice_is_applied_once(results: Dict[str, Any]) -> None:
    assert results["duplicatesAreIgnored"] == {"text": "abc", "version": 2}
