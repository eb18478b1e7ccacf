"""nexus_tornado.settings: one Settings object, validated once, secrets masked for logs."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import pytest
from support.clients import RawWsClient
from support.nexus import SECRET, running_nexus

from nexus_tornado.errors import ConfigError
from nexus_tornado.settings import SUPPORTED_ALGORITHMS, Settings

def test_defaults_are_the_wire_contracts() -> None:
    settings = Settings(jwt_secret=SECRET)
    assert settings.max_frame_size == 64 * 1024
    assert settings.sends_per_minute == 100
    assert settings.idle_timeout == 300.0
    assert settings.connect_timeout == 10.0
    assert settings.prefix == "/stomp"
    assert "none" not in (a.lower() for a in SUPPORTED_ALGORITHMS)


def test_every_field_has_help_text() -> None:
    for field in dataclasses.fields(Settings):
        assert field.metadata.get("help"), field.name


def test_a_secret_is_required() -> None:
    with pytest.raises(ConfigError, match="jwt_secret is required"):
        Settings()


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"jwt_algorithms": ()}, "at least one algorithm"),
        ({"jwt_algorithms": ("none",)}, "not supported"),
        ({"jwt_algorithms": ("HS256", "RS256")}, "cannot mix"),
        ({"jwt_secret": "short"}, "at least 32 bytes"),
        ({"jwt_secret": "x" * 40, "jwt_algorithms": ("HS512",)}, "at least 64 bytes"),
        ({"prefix": "stomp"}, "prefix"),
        ({"prefix": "/stomp/"}, "prefix"),
        ({"heartbeat": (1000,)}, "heartbeat"),
        ({"heartbeat": (-1, 0)}, "heartbeat"),
        ({"retention_count": -1}, "retention"),
        ({"retention_seconds": -1.0}, "retention"),
    ],
)
def test_invalid_settings_name_the_field(changes: Any, message: str) -> None:
    values = {"jwt_secret": SECRET, **changes}
    with pytest.raises(ConfigError, match=message):
        Settings(**values)


@pytest.mark.parametrize(
    "name",
    ["max_frame_size", "sends_per_minute", "max_subscriptions", "max_connections_per_user", "max_pending_output"],
)
@pytest.mark.parametrize("value", [0, -1])
def test_limits_must_be_positive(name: str, value: int) -> None:
    with pytest.raises(ConfigError, match="%s must be positive" % name):
        Settings(jwt_secret=SECRET, **{name: value})


@pytest.mark.parametrize("name", ["idle_timeout", "connect_timeout", "mongo_timeout"])
@pytest.mark.parametrize("value", [0.0, -0.5, -math.inf, math.nan])
def test_timeouts_must_be_positive(name: str, value: float) -> None:
    with pytest.raises(ConfigError, match="%s must be positive" % name):
        Settings(jwt_secret=SECRET, **{name: value})


@pytest.mark.parametrize("name", ["idle_timeout", "connect_timeout", "mongo_timeout"])
def test_a_small_positive_timeout_is_accepted(name: str) -> None:
    assert getattr(Settings(jwt_secret=SECRET, **{name: 0.001}), name) == 0.001


def test_replace_validates_again() -> None:
    settings = Settings(jwt_secret=SECRET)
    assert settings.replace(sends_per_minute=5).sends_per_minute == 5
    with pytest.raises(ConfigError, match="connect_timeout must be positive"):
        settings.replace(connect_timeout=0)


def test_public_dict_masks_the_secret() -> None:
    public = Settings(jwt_secret=SECRET).public_dict()
    assert public["jwt_secret"] == "***"
    assert SECRET not in json.dumps(public)


def test_public_dict_masks_a_mongo_uri_with_credentials() -> None:
    uri = "mongodb://nexus:hunter2@db.example.com:27017/nexus"
    public = Settings(jwt_secret=SECRET, mongo_uri=uri).public_dict()
    assert public["mongo_uri"] == "***"
    assert "hunter2" not in json.dumps(public)


def test_public_dict_keeps_a_mongo_uri_without_credentials() -> None:
    uri = "mongodb://db.example.com:27017/nexus"
    assert Settings(jwt_secret=SECRET, mongo_uri=uri).public_dict()["mongo_uri"] == uri
    assert Settings(jwt_secret=SECRET).public_dict()["mongo_uri"] == ""

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
