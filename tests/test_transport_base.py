"""nexus_tornado.transport.base: origins, callbacks, close frames and transport settings.

The handlers and sessions defined here are exercised over real HTTP and WebSocket
connections in tests/test_transport_{polling,streaming,websocket,router}.py; this module
drives the pure parts directly.
"""

from __future__ import annotations

from typing import Any, Optional

import pytest

from nexus_tornado.errors import ConfigError
from nexus_tornado.transport.base import (
    DEFAULT_MAX_MESSAGE_SIZE,
    SEND_BODY_FACTOR,
    OriginPolicy,
    TransportSettings,
    callback_is_valid,
    normalize_origin,
)


@pytest.mark.parametrize(
    "origin, normalized",
    [
        ("https://App.Example.com", "https://app.example.com"),
        ("https://app.example.com:443", "https://app.example.com"),
        ("http://app.example.com:80", "http://app.example.com"),
        ("http://app.example.com:8080/", "http://app.example.com:8080"),
        ("http://[::1]:80", "http://[::1]"),
        ("http://[::1]:8080", "http://[::1]:8080"),
        (" https://a.example ", "https://a.example"),
        ("null", None),
        ("app.example.com", None),
        ("http://", None),
        ("http://a.example:99999", None),
    ],
)
def test_normalize_origin(origin: str, normalized: Optional[str]) -> None:
    assert normalize_origin(origin) == normalized


@pytest.mark.parametrize(
    "allowed, origin, host, verdict",
    [
        (["https://app.example.com"], None, "h:1", True),  # no Origin: not a browser page
        (["*"], "https://evil.example", "h:1", True),
        (["*"], "null", "h:1", True),
        (["https://app.example.com"], "https://APP.example.com:443", "h:1", True),
        (["https://app.example.com"], "https://evil.example.com", "h:1", False),
        (["https://app.example.com"], "http://app.example.com", "h:1", False),  # scheme counts
        (["https://app.example.com"], "null", "h:1", False),
        (["https://app.example.com"], "garbage", "h:1", False),
        # Same host as the endpoint: always allowed, default ports stripped from Host.
        (["https://app.example.com"], "http://h:1", "h:1", True),
        (["https://app.example.com"], "http://h", "h:80", True),
        (["https://app.example.com"], "https://h", "H:443", True),
        (["https://app.example.com"], "http://h:2", "h:1", False),
        (["https://app.example.com"], "http://h:1", None, False),  # no Host to compare
        ([], "https://app.example.com", "h:1", False),
    ],
)
def test_origin_policy(allowed: Any, origin: Optional[str], host: Optional[str], verdict: bool) -> None:
    assert OriginPolicy(allowed).allows(origin, host) is verdict


def test_frame_ancestors() -> None:
    assert OriginPolicy(["*"]).frame_ancestors() is None
    policy = OriginPolicy(["https://b.example", "http://a.example:8080", "not an origin"])
    assert policy.frame_ancestors() == "'self' http://a.example:8080 https://b.example"


@pytest.mark.parametrize(
    "callback, valid",
    [
        ("cb", True),
        ("_jp.a1b2c3", True),
        ("$x.y_z", True),
        ("a" * 128, True),
        ("a" * 129, False),
        ("", False),
        ("alert(document.domain)//", False),
        ("a.b(", False),
        ("a..b", False),
        ("1abc", False),
        ("a b", False),
    ],
)
def test_callback_names(callback: str, valid: bool) -> None:
    assert callback_is_valid(callback) is valid


def test_transport_settings_defaults() -> None:
    settings = TransportSettings({})
    assert settings.origin_policy.any
    assert settings.max_message_size == DEFAULT_MAX_MESSAGE_SIZE
    assert settings.max_send_body_size == SEND_BODY_FACTOR * DEFAULT_MAX_MESSAGE_SIZE
    assert settings.websocket_subprotocols == ("v12.stomp", "v11.stomp", "v10.stomp")


def test_transport_settings_take_ours() -> None:
    settings = TransportSettings(
        {"allowed_origins": "https://a.example", "max_message_size": 1000, "max_send_body_size": 1500}
    )
    assert settings.origin_policy.origins == frozenset({"https://a.example"})
    assert (settings.max_message_size, settings.max_send_body_size) == (1000, 1500)


@pytest.mark.parametrize(
    "settings, field",
    [
        ({"allowed_origins": [1]}, "allowed_origins"),
        ({"allowed_origins": ["not an origin"]}, "allowed_origins"),
        ({"max_message_size": True}, "max_message_size"),
        ({"max_message_size": 0}, "max_message_size"),
        ({"max_send_body_size": 0}, "max_send_body_size"),
        ({"sockjs_url": ""}, "sockjs_url"),
        ({"websocket_subprotocols": "v12.stomp"}, "websocket_subprotocols"),
        ({"websocket_subprotocols": [12]}, "websocket_subprotocols"),
    ],
)
def test_transport_settings_name_the_bad_key(settings: Any, field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        TransportSettings(settings)
