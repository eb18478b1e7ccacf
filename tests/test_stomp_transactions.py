"""Open transactions without sockets: bounds, byte accounting, the driver's hold hook."""

from __future__ import annotations

from typing import List, Tuple

import pytest

from nexus_tornado.errors import ProtocolError
from nexus_tornado.stomp import Frame, Send, StompSession
from nexus_tornado.stomp.transactions import Transactions, held_size


def send(body: bytes = b"x", name: str = "t") -> Frame:
    return Frame("SEND", {"destination": "/q", "transaction": name}, body)


def test_held_bytes_follow_begin_hold_end_and_clear() -> None:
    transactions = Transactions(max_transactions=2, max_frames=10)
    transactions.begin("a")
    transactions.begin("b")
    transactions.hold("a", send(b"x" * 1000, "a"))
    transactions.hold("b", send(b"y" * 10, "b"))
    assert transactions.held_bytes == held_size(send(b"x" * 1000, "a")) + held_size(send(b"y" * 10, "b"))
    assert [f.body for f in transactions.end("a")] == [b"x" * 1000]
    assert transactions.held_bytes == held_size(send(b"y" * 10, "b"))
    transactions.clear()
    assert transactions.held_bytes == 0 and len(transactions) == 0


@pytest.mark.parametrize(
    "steps, message",
    [
        ([("begin", "a"), ("begin", "a")], "duplicate transaction"),
        ([("begin", "a"), ("begin", "b"), ("begin", "c")], "too many transactions"),
        ([("hold", "a")], "unknown transaction"),
        ([("end", "a")], "unknown transaction"),
        ([("begin", "a"), ("hold", "a"), ("hold", "a"), ("hold", "a")], "transaction too large"),
    ],
)
def test_violations(steps: List[Tuple[str, str]], message: str) -> None:
    transactions = Transactions(max_transactions=2, max_frames=2)
    with pytest.raises(ProtocolError) as raised:
        for step, name in steps:
            if step == "hold":
                transactions.hold(name, send(name=name))
            else:
                getattr(transactions, step)(name)
    assert raised.value.message == message


def test_the_hook_sees_each_frame_and_may_refuse_it() -> None:
    seen: List[Tuple[bytes, int]] = []

    def on_hold(frame: Frame, size: int) -> bool:
        seen.append((frame.body, size))
        return frame.body != b"refused"

    session = StompSession(server_name="t", on_hold=on_hold)
    session.receive_data(b"CONNECT\naccept-version:1.2\nhost:h\n\n\x00")
    session.events_received()
    session.accept_connect(session_id="s", user_name="u")
    session.receive_data(
        b"BEGIN\ntransaction:t\n\n\x00"
        b"SEND\ndestination:/q\ntransaction:t\n\nkept\x00"
        b"SEND\ndestination:/q\ntransaction:t\n\nrefused\x00"
    )
    assert [body for body, _ in seen] == [b"kept", b"refused"]
    assert session.transaction_bytes == seen[0][1]
    session.receive_data(b"COMMIT\ntransaction:t\n\n\x00")
    assert session.events_received() == [Send("/q", b"kept", {"destination": "/q"}, None, "t")]
    assert session.transaction_bytes == 0


def test_a_hook_raising_a_protocol_error_ends_the_session() -> None:
    def on_hold(frame: Frame, size: int) -> bool:
        raise ProtocolError("transaction too large", log_detail="over the bound")

    session = StompSession(server_name="t", on_hold=on_hold)
    session.receive_data(b"CONNECT\naccept-version:1.2\nhost:h\n\n\x00")
    session.accept_connect(session_id="s", user_name="u")
    session.data_to_send()
    session.receive_data(b"BEGIN\ntransaction:t\n\n\x00SEND\ndestination:/q\ntransaction:t\n\nx\x00")
    assert session.closed and session.close_reason == "transaction too large"
    assert session.transaction_bytes == 0


def test_holding_a_frame_costs_its_body_headers_and_64_bytes() -> None:
    """What the per-user byte bound (max_transaction_bytes) counts."""
    assert held_size(Frame("SEND", {"destination": "/q"}, b"x" * 10)) == 10 + len("destination") + len("/q") + 64
