"""nexus_tornado.transport.close_codes: the close codes a client sees."""

from __future__ import annotations

import json

import pytest

from nexus_tornado.transport.base import close_frame, websocket_close_args
from nexus_tornado.transport.close_codes import (
    ERROR_CLOSE,
    SHUTDOWN_CLOSE,
    TOO_BIG_CLOSE,
    CloseCode,
    is_sendable,
)


def test_codes_are_rfc_6455_and_sockjs_values() -> None:
    assert CloseCode.NORMAL_CLOSURE == 1000
    assert CloseCode.GOING_AWAY == 1001
    assert CloseCode.PROTOCOL_ERROR == 1002
    assert CloseCode.MESSAGE_TOO_BIG == 1009
    assert CloseCode.INTERNAL_ERROR == 1011
    assert CloseCode.ANOTHER_CONNECTION == 2010
    assert CloseCode.GO_AWAY == 3000


def test_the_named_closes() -> None:
    assert SHUTDOWN_CLOSE == (1001, "server shutting down")
    assert TOO_BIG_CLOSE == (1009, "message too big")
    assert ERROR_CLOSE == (1011, "internal error")


@pytest.mark.parametrize(
    "code, sendable",
    [
        (999, False),
        (1000, True),
        (1003, True),
        (1004, False),
        (1005, False),
        (1006, False),
        (1007, True),
        (1011, True),
        (1012, False),
        (2010, False),
        (2999, False),
        (3000, True),
        (4999, True),
        (5000, False),
    ],
)
def test_which_codes_a_websocket_close_frame_may_carry(code: int, sendable: bool) -> None:
    assert is_sendable(code) is sendable
    assert websocket_close_args(code, "x")[0] == (code if sendable else 1000)


def test_a_close_frame_carries_the_code_as_a_json_number() -> None:
    frame = close_frame(CloseCode.GOING_AWAY, 'bye "now"')
    assert frame.startswith("c")
    assert json.loads(frame[1:]) == [1001, 'bye "now"']


def test_a_websocket_close_reason_is_cut_to_123_bytes() -> None:
    code, reason = websocket_close_args(CloseCode.NORMAL_CLOSURE, "é" * 100)
    assert code == 1000
    assert len(reason.encode("utf-8")) <= 123
    assert reason == "é" * 61
