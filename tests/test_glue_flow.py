"""The last-seq header parser and the output bounds, without sockets (the wire
behaviour is in test_security_input.py, test_security_delivery.py and
test_security_memory.py)."""

from __future__ import annotations

from typing import Any, Optional

import pytest

from nexus_tornado.errors import Rejection
from nexus_tornado.glue.flow import PacedOutput, parse_last_seq


@pytest.mark.parametrize(
    "value, expected",
    [(None, None), ("0", 0), ("5", 5), ("9" * 19, int("9" * 19))],
)
def test_last_seq_accepted(value: Optional[str], expected: Optional[int]) -> None:
    headers = {} if value is None else {"last-seq": value}
    assert parse_last_seq(headers) == expected


@pytest.mark.parametrize("value", ["", "+5", "-1", " 5", "5 ", "5_0", "\u0665", "\uff15", "5.0", "1" * 20, "0x5"])
def test_last_seq_refused_with_details_errors(value: str) -> None:
    with pytest.raises(Rejection) as refused:
        parse_last_seq({"last-seq": value})
    assert refused.value.code == "INVALID_MESSAGE"
    assert list(refused.value.details["errors"]) == ["last-seq"]


class Session:
    """A session whose handler batches like the WebSocket writer does."""

    is_closed = False

    def __init__(self) -> None:
        self.handler = self
        self.batched = 0
        self.socket_refuses = 0

    def unsent_bytes(self) -> int:
        return self.batched + self.socket_refuses

    def flush_output(self) -> None:
        self.batched = 0


def test_the_servers_own_batch_is_not_a_slow_consumer() -> None:
    session: Any = Session()
    output = PacedOutput(session, 1000)
    session.batched = 5000
    assert not output.over_limit() and session.batched == 0
    session.batched, session.socket_refuses = 5000, 1001
    assert output.over_limit()


def test_congested_past_half_the_bound() -> None:
    session: Any = Session()
    output = PacedOutput(session, 1000)
    session.socket_refuses = 500
    assert not output.congested()
    session.socket_refuses = 501
    assert output.congested()
    session.is_closed = True
    assert not output.congested()
