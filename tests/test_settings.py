"""nexus_tornado.settings: one Settings object, validated once, secrets masked for logs."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any, Dict

import pytest
from support.clients import RawWsClient
from support.nexus import SECRET, running_nexus

from nexus_tornado.errors import ConfigError
from nexus_tornado.settings import FIELDS, SUPPORTED_ALGORITHMS, TRANSPORT_NAMES, Settings, convert_option, field_type
from nexus_tornado.transport.registry import RAW_WEBSOCKET, TRANSPORTS

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
    with pytest.raises(ConfigError, match="%s: expected a positive number" % name):
        Settings(jwt_secret=SECRET, **{name: value})


@pytest.mark.parametrize("name", ["idle_timeout", "connect_timeout", "mongo_timeout"])
@pytest.mark.parametrize("value", [0.0, -0.5, -math.inf, math.nan])
def test_timeouts_must_be_positive(name: str, value: float) -> None:
    with pytest.raises(ConfigError, match="%s: expected a positive number" % name):
        Settings(jwt_secret=SECRET, **{name: value})


@pytest.mark.parametrize("name", ["idle_timeout", "connect_timeout", "mongo_timeout"])
def test_a_small_positive_timeout_is_accepted(name: str) -> None:
    assert getattr(Settings(jwt_secret=SECRET, **{name: 0.001}), name) == 0.001


def test_replace_validates_again() -> None:
    settings = Settings(jwt_secret=SECRET)
    assert settings.replace(sends_per_minute=5).sends_per_minute == 5
    with pytest.raises(ConfigError, match="connect_timeout: expected a positive number"):
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



@pytest.mark.parametrize(
    "changes, message",
    [
        ({"mongo_uri": "notamongouri"}, r"mongo_uri: expected mongodb://host"),
        ({"mongo_uri": "http://db:27017/x"}, r"mongo_uri: expected mongodb://"),
        ({"mongo_uri": "mongodb://"}, r"mongo_uri: expected mongodb://"),
        ({"allowed_origins": ("example.com",)}, r"allowed_origins: 'example.com' is not an origin; expected scheme://host"),
        ({"allowed_origins": ("https://example.com/app",)}, r"allowed_origins: .* is not an origin"),
        ({"disabled_transports": ("bogus",)}, r"disabled_transports: unknown transport 'bogus' \(accepted: websocket, "),
        ({"disabled_transports": ('("jsonp"',)}, r"disabled_transports: unknown transport"),
        ({"max_frame_size": "lots"}, r"max_frame_size: expected a number, not 'lots'"),
        ({"max_subscriptions": 1.5}, r"max_subscriptions: expected a whole number"),
        ({"sends_per_minute": True}, r"sends_per_minute: expected a number"),
        ({"idle_timeout": 0}, r"idle_timeout: expected a positive number"),
        ({"heartbeat": (1, 2, 3)}, r"heartbeat: expected two non-negative whole numbers"),
        ({"retention_count": -1}, r"retention_count: expected 0"),
        ({"prefix": "stomp"}, r"prefix: expected a URL path"),
        ({"jwt_secret": "short"}, r"jwt_secret must be at least 32 bytes"),
        ({"jwt_secret": ""}, r"jwt_secret is required \(a shared secret"),
        ({"mongo_database": 5}, r"mongo_database: expected text"),
    ],
)
def test_a_bad_value_is_refused_naming_the_field_and_what_is_accepted(changes: Dict[str, Any], message: str) -> None:
    kwargs: Dict[str, Any] = {"jwt_secret": SECRET}
    kwargs.update(changes)
    with pytest.raises(ConfigError, match=message) as refused:
        Settings(**kwargs)
    assert "\n" not in refused.value.message


@pytest.mark.parametrize(
    "given, endpoints",
    [
        (("jsonp-polling",), ("jsonp",)),
        (("jsonp", "htmlfile"), ("jsonp", "htmlfile")),
        (["iframe-htmlfile", "xhr-polling", "iframe-xhr-polling"], ("htmlfile", "xhr")),
        (("XHR-Streaming", "eventsource", "iframe-eventsource"), ("xhr_streaming", "eventsource")),
        (("raw-websocket",), ("rawwebsocket",)),
        ("websocket", ("websocket",)),
    ],
)
def test_transport_names_of_the_server_and_of_sockjs_client_name_endpoints(given: Any, endpoints: Any) -> None:
    assert Settings(jwt_secret=SECRET, disabled_transports=given).disabled_transports == endpoints


def test_every_transport_name_maps_to_an_endpoint_the_router_mounts() -> None:
    endpoints = set(TRANSPORTS) | {RAW_WEBSOCKET}
    assert set(TRANSPORT_NAMES.values()) == endpoints
    assert endpoints <= set(TRANSPORT_NAMES)  # the server's own names are accepted as is


@pytest.mark.parametrize(
    "origin", ["https://app.example.com", "http://localhost:8080", "https://app.example.com/", "*"]
)
def test_origins_are_accepted_as_scheme_host_port(origin: str) -> None:
    assert Settings(jwt_secret=SECRET, allowed_origins=(origin,)).allowed_origins == (origin,)


@pytest.mark.parametrize(
    "uri", ["mongodb://db:27017/nexus", "mongodb://a,b,c/?replicaSet=rs0", "mongodb+srv://cluster.example.com/x"]
)
def test_mongodb_uris_are_accepted(uri: str) -> None:
    assert Settings(jwt_secret=SECRET, mongo_uri=uri).mongo_uri == uri


def test_a_uri_with_credentials_is_not_repeated_in_the_error() -> None:
    with pytest.raises(ConfigError) as refused:
        Settings(jwt_secret=SECRET, mongo_uri="mongo://user:hunter2@db/x")
    assert "hunter2" not in refused.value.message


def test_from_environ_reads_nexus_variables_and_names_a_bad_one() -> None:
    settings = Settings.from_environ(
        {"NEXUS_JWT_SECRET": SECRET, "NEXUS_DISABLED_TRANSPORTS": "jsonp-polling", "NEXUS_IDLE_TIMEOUT": "60"}
    )
    assert settings.disabled_transports == ("jsonp",) and settings.idle_timeout == 60.0
    with pytest.raises(ConfigError, match=r"^jwt_secret is required: set NEXUS_JWT_SECRET"):
        Settings.from_environ({})
    with pytest.raises(ConfigError, match=r"max_frame_size: expected a whole number, not 'x' \(from NEXUS_MAX_FRAME_SIZE\)"):
        Settings.from_environ({"NEXUS_JWT_SECRET": SECRET, "NEXUS_MAX_FRAME_SIZE": "x"})
    assert Settings.from_environ({}, jwt_secret=SECRET).jwt_secret == SECRET


def test_option_text_converts_to_every_field_type() -> None:
    for name in FIELDS:
        kind = field_type(name)
        default = FIELDS[name].default
        text = ",".join(str(d) for d in default) if isinstance(default, tuple) else str(default or "")
        converted = convert_option(name, text, kind)
        assert converted == (default if default != "" else converted), name


def test_mongo_driver_is_motor_or_pymongo() -> None:
    assert Settings(jwt_secret=SECRET, mongo_driver="pymongo").mongo_driver == "pymongo"
    with pytest.raises(ConfigError, match="mongo_driver"):
        Settings(jwt_secret=SECRET, mongo_driver="mongoengine")
