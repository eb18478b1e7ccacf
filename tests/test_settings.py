"""Settings: every limit is documented, and the per-connection ones reach the connection."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from nexus_tornado.errors import ConfigError
from nexus_tornado.settings import Settings
from support.clients import RawWsClient
from support.nexus import SECRET, running_nexus

DOCS = Path(__file__).resolve().parent.parent / "docs"

#: Settings that are limits: security.md must name each one with its default.
LIMITS = [
    f.name
    for f in dataclasses.fields(Settings)
    if f.name.startswith("max_")
    or f.name.endswith(("_timeout", "_bytes", "_per_minute", "_grace_seconds"))
]


def test_every_limit_is_in_the_security_page() -> None:
    page = (DOCS / "security.md").read_text()
    assert len(LIMITS) >= 20
    missing = [name for name in LIMITS if "`%s`" % name not in page]
    assert not missing, "docs/security.md does not list %s" % ", ".join(missing)


@pytest.mark.parametrize("name", [n for n in LIMITS if n != "memory_store_bytes"])
def test_a_limit_must_be_positive(name: str) -> None:
    with pytest.raises(ConfigError):
        Settings(jwt_secret=SECRET, **{name: 0 if name != "presence_grace_seconds" else -1})


def test_the_frame_queue_and_transaction_limits_reach_the_connection() -> None:
    with running_nexus(max_queued_frames=10, max_transactions=1) as nexus:
        calm = nexus.bystander()
        flooder = RawWsClient(nexus.ws_url)
        txer = RawWsClient(nexus.ws_url)
        try:
            flooder.connect(nexus.token("burst"))
            flooder.send_raw("SEND\ndestination:/topic/chat/x\n\n\x00" * 11)
            assert flooder.expect("ERROR").headers["message"] == "too many frames"
            txer.connect(nexus.token("txer"))
            txer.send_raw("BEGIN\ntransaction:a\n\n\x00BEGIN\ntransaction:b\n\n\x00")
            assert txer.expect("ERROR").headers["message"] == "too many transactions"
            calm.check()
        finally:
            flooder.close()
            txer.close()
            calm.close()
