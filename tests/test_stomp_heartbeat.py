"""nexus_tornado.stomp.heartbeat: heart-beat negotiation (STOMP 1.2 "Heart-beating")."""

from __future__ import annotations

from typing import Tuple

import pytest

from nexus_tornado.stomp.heartbeat import negotiate_heartbeat, parse_heartbeat

# STOMP 1.2 "Heart-beating": (client cx,cy), (server sx,sy) -> (server sends, expects).
HEARTBEAT_CASES = [
    ((0, 0), (10000, 10000), (0, 0)),
    ((5000, 0), (10000, 10000), (0, 10000)),
    ((0, 5000), (10000, 10000), (10000, 0)),
    ((5000, 20000), (10000, 10000), (20000, 10000)),
    ((30000, 1000), (10000, 0), (10000, 0)),
    ((30000, 1000), (0, 10000), (0, 30000)),
]


@pytest.mark.parametrize("client,server,expected", HEARTBEAT_CASES)
def test_negotiate_heartbeat(client: Tuple[int, int], server: Tuple[int, int], expected: Tuple[int, int]) -> None:
    assert negotiate_heartbeat(client, server) == expected


@pytest.mark.parametrize("value,expected", [("0,0", (0, 0)), ("10000,5000", (10000, 5000)), (" 1 , 2 ", (1, 2))])
def test_parse_heartbeat(value: str, expected: Tuple[int, int]) -> None:
    assert parse_heartbeat(value) == expected


@pytest.mark.parametrize("value", ["", "1", "1,2,3", "a,b", "-1,5", "1.5,2", "99999999999,1"])
def test_parse_heartbeat_rejects(value: str) -> None:
    with pytest.raises(ValueError):
        parse_heartbeat(value)


def test_a_bad_value_is_shown_cut_to_40_characters() -> None:
    with pytest.raises(ValueError) as raised:
        parse_heartbeat("x" * 100)
    assert str(raised.value) == "invalid heart-beat %r" % ("x" * 40)
