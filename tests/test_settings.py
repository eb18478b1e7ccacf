"""Settings: every bad value is refused with a message naming the field and what is
accepted; transport names in either spelling; ``from_environ`` for host apps."""

from __future__ import annotations

from typing import Any, Dict

import pytest
from support.nexus import SECRET

from nexus_tornado.errors import ConfigError
from nexus_tornado.settings import FIELDS, TRANSPORT_NAMES, Settings, convert_option, field_type
from nexus_tornado.transport.registry import RAW_WEBSOCKET, TRANSPORTS


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
