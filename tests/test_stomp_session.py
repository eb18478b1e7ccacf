"""The STOMP session state machine (nexus_tornado.stomp.session), driven directly.

Most cases are a table: a session brought to a state, some bytes from the client,
then the events it reports, the frames it queues and the state it ends in.
"""

from __future__ import annotations

from typing import Callable, Dict, List, Tuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from support.parsing import CollectingParser

from nexus_tornado.stomp import (
    Ack,
    Connect,
    Disconnect,
    Frame,
    FrameCounts,
    MessageTemplate,
    Nack,
    ReceiptRequested,
    Send,
    TRANSITIONS,
    SessionStateError,
    State,
    StompSession,
    Subscribe,
    Subscription,
    TooLarge,
    Unsubscribe,
    serialize,
)

CONNECT_12 = b"CONNECT\naccept-version:1.2\nhost:h\nlogin:ann\npasscode:pw\nheart-beat:5000,20000\n\n\x00"


def new_session(**limits: int) -> StompSession:
    return StompSession(server_name="nexus-tornado/test", heartbeat=(10000, 10000), **limits)


def fresh(**limits: int) -> StompSession:
    return new_session(**limits)


def connecting(version: str = "1.2", **limits: int) -> StompSession:
    session = new_session(**limits)
    session.receive_data(b"CONNECT\naccept-version:%s\nhost:h\n\n\x00" % version.encode())
    assert session.state is State.CONNECTING
    session.events_received()
    return session


def connected(version: str = "1.2", **limits: int) -> StompSession:
    session = connecting(version, **limits)
    session.accept_connect(session_id="s-1", user_name="ann")
    session.data_to_send()
    assert session.state is State.CONNECTED
    return session


def subscribed(ack: str = "auto", version: str = "1.2", **limits: int) -> StompSession:
    session = connected(version, **limits)
    session.receive_data(b"SUBSCRIBE\nid:0\ndestination:/topic/a\nack:%s\n\n\x00" % ack.encode())
    session.events_received()
    return session


def closed() -> StompSession:
    session = connected()
    session.send_error("bye")
    session.data_to_send()
    return session


def sent(session: StompSession) -> List[Frame]:
    """Parse what the session queued (each item is one frame or a heart-beat)."""
    frames: List[Frame] = []
    for item in session.data_to_send():
        if item == b"\n":
            frames.append(Frame("HEARTBEAT", {}))
            continue
        parser = CollectingParser()
        parser.version = session.version or "1.2"
        parser.receive_data(item)
        events = parser.events_received()
        assert len(events) == 1 and isinstance(events[0], Frame)
        frames.append(events[0])
    return frames


def out_summary(session: StompSession) -> List[Tuple[str, Dict[str, str]]]:
    """(command, headers without content-type/length) of each queued frame."""
    return [
        (f.command, {k: v for k, v in f.headers.items() if k not in ("content-type", "content-length")})
        for f in sent(session)
    ]


def error(message: str, **headers: str) -> Tuple[str, Dict[str, str]]:
    return ("ERROR", {"message": message, **{k.replace("_", "-"): v for k, v in headers.items()}})


SEND_A = b"SEND\ndestination:/topic/a\nreceipt:r1\n\nhi\x00"


def _connected_small_frames() -> StompSession:
    return connected(max_frame_size=4)


# (start, client bytes, expected events, expected frames out, expected state)
TABLE: List[Tuple[Callable[[], StompSession], bytes, list, list, State]] = [
    # -- AWAIT_CONNECT ------------------------------------------------------------------
    (
        fresh,
        CONNECT_12,
        [
            Connect(
                {"accept-version": "1.2", "host": "h", "login": "ann", "passcode": "pw", "heart-beat": "5000,20000"},
                ("1.2",),
                "h",
                "ann",
                "pw",
                "1.2",
                (5000, 20000),
            )
        ],
        [],
        State.CONNECTING,
    ),
    (
        fresh,
        b"STOMP\naccept-version:1.0,1.1\nhost:h\n\n\x00",
        [Connect({"accept-version": "1.0,1.1", "host": "h"}, ("1.0", "1.1"), "h", None, None, "1.1")],
        [],
        State.CONNECTING,
    ),
    # STOMP 1.2 "Protocol Negotiation": no accept-version means 1.0.
    (fresh, b"CONNECT\n\n\x00", [Connect({}, ("1.0",), None, None, None, "1.0")], [], State.CONNECTING),
    # CONNECT headers are not unescaped.
    (
        fresh,
        b"CONNECT\naccept-version:1.2\nlogin:a\\cb\n\n\x00",
        [Connect({"accept-version": "1.2", "login": "a\\cb"}, ("1.2",), None, "a\\cb", None, "1.2")],
        [],
        State.CONNECTING,
    ),
    # No common version: ERROR with the supported versions, then close.
    (
        fresh,
        b"CONNECT\naccept-version:2.0,3.1\n\n\x00",
        [],
        [error("unsupported protocol version", version="1.0,1.1,1.2")],
        State.CLOSED,
    ),
    (fresh, b"CONNECT\naccept-version:1.2\nheart-beat:x\n\n\x00", [], [error("invalid heart-beat")], State.CLOSED),
    (fresh, b"CONNECT\naccept-version:1.2\nheart-beat:-1,0\n\n\x00", [], [error("invalid heart-beat")], State.CLOSED),
    # STOMP 1.0 has no heart-beating: its CONNECT's heart-beat header is not read at all.
    (
        fresh,
        b"CONNECT\nheart-beat:x\n\n\x00",
        [Connect({"heart-beat": "x"}, ("1.0",), None, None, None, "1.0", (0, 0))],
        [],
        State.CONNECTING,
    ),
    # Anything but CONNECT/STOMP first.
    (fresh, SEND_A, [], [error("not connected", receipt_id="r1")], State.CLOSED),
    (fresh, b"SUBSCRIBE\nid:1\ndestination:/a\n\n\x00", [], [error("not connected")], State.CLOSED),
    (fresh, b"GET / HTTP/1.1\r\n\r\n", [], [error("malformed frame")], State.CLOSED),
    (fresh, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" * 3, [], [error("malformed frame")], State.CLOSED),
    (fresh, b"CONNECT\nbad header\n\n\x00", [], [error("malformed frame")], State.CLOSED),
    (fresh, b"CONNECT\ncontent-length:70000\n\n", [], [error("frame too large")], State.CLOSED),
    (fresh, b"CONNECT\nh:" + b"x" * 9000, [], [error("frame too large")], State.CLOSED),
    # Heart-beats before CONNECT are harmless.
    (fresh, b"\n\r\n", [], [], State.AWAIT_CONNECT),
    # -- CONNECTING ---------------------------------------------------------------------
    (connecting, CONNECT_12, [], [error("already connected")], State.CLOSED),
    (connecting, SEND_A, [], [], State.CONNECTING),  # held until accept_connect
    (connecting, b"MESSAGE\n\n\x00", [], [error("unexpected frame")], State.CLOSED),
    # -- CONNECTED ----------------------------------------------------------------------
    (connected, SEND_A, [Send("/topic/a", b"hi", {"destination": "/topic/a", "receipt": "r1"}, "r1")], [], State.CONNECTED),
    (connected, b"SEND\nreceipt:r9\n\nhi\x00", [], [error("missing header", receipt_id="r9")], State.CLOSED),
    (connected, b"SEND\ndestination:\n\n\x00", [], [error("missing header")], State.CLOSED),
    (
        connected,
        b"SUBSCRIBE\nid:0\ndestination:/topic/a\nlast-seq:4\nreceipt:r2\n\n\x00",
        [Subscribe("0", "/topic/a", "auto", {"id": "0", "destination": "/topic/a", "last-seq": "4", "receipt": "r2"}, "r2")],
        [],
        State.CONNECTED,
    ),
    (connected, b"SUBSCRIBE\ndestination:/topic/a\n\n\x00", [], [error("missing header")], State.CLOSED),
    (connected, b"SUBSCRIBE\nid:0\n\n\x00", [], [error("missing header")], State.CLOSED),
    (connected, b"SUBSCRIBE\nid:0\ndestination:/a\nack:sometimes\n\n\x00", [], [error("invalid ack mode")], State.CLOSED),
    (subscribed, b"SUBSCRIBE\nid:0\ndestination:/topic/b\n\n\x00", [], [error("duplicate subscription")], State.CLOSED),
    (
        subscribed,
        b"UNSUBSCRIBE\nid:0\nreceipt:r3\n\n\x00",
        [Unsubscribe("0", "/topic/a", "r3")],
        [],
        State.CONNECTED,
    ),
    (subscribed, b"UNSUBSCRIBE\nid:7\n\n\x00", [], [error("unknown subscription")], State.CLOSED),
    (subscribed, b"UNSUBSCRIBE\n\n\x00", [], [error("missing header")], State.CLOSED),
    (connected, b"ACK\nid:99\n\n\x00", [], [error("unknown ack id")], State.CLOSED),
    (connected, b"ACK\n\n\x00", [], [error("missing header")], State.CLOSED),
    (connected, b"NACK\nid:1\n\n\x00", [], [error("unknown ack id")], State.CLOSED),
    # Transactions: held until COMMIT, in order; receipts of BEGIN/COMMIT in order.
    (
        connected,
        b"BEGIN\ntransaction:t\nreceipt:b\n\n\x00"
        b"SEND\ndestination:/q\ntransaction:t\n\n1\x00"
        b"SEND\ndestination:/q\ntransaction:t\nreceipt:s2\n\n2\x00"
        b"COMMIT\ntransaction:t\nreceipt:c\n\n\x00",
        [
            ReceiptRequested("b"),
            Send("/q", b"1", {"destination": "/q"}, None, "t"),
            Send("/q", b"2", {"destination": "/q", "receipt": "s2"}, "s2", "t"),
            ReceiptRequested("c"),
        ],
        [],
        State.CONNECTED,
    ),
    (
        connected,
        b"BEGIN\ntransaction:t\n\n\x00SEND\ndestination:/q\ntransaction:t\n\n1\x00ABORT\ntransaction:t\nreceipt:a\n\n\x00",
        [ReceiptRequested("a")],
        [],
        State.CONNECTED,
    ),
    # A SEND after the COMMIT is outside the transaction again.
    (
        connected,
        b"BEGIN\ntransaction:t\n\n\x00SEND\ndestination:/q\ntransaction:t\n\n1\x00"
        b"COMMIT\ntransaction:t\n\n\x00SEND\ndestination:/q\n\n2\x00",
        [Send("/q", b"1", {"destination": "/q"}, None, "t"), Send("/q", b"2", {"destination": "/q"}, None)],
        [],
        State.CONNECTED,
    ),
    (connected, b"COMMIT\ntransaction:t\n\n\x00", [], [error("unknown transaction")], State.CLOSED),
    (connected, b"ABORT\ntransaction:t\n\n\x00", [], [error("unknown transaction")], State.CLOSED),
    (connected, b"BEGIN\n\n\x00", [], [error("missing header")], State.CLOSED),
    (connected, b"SEND\ndestination:/q\ntransaction:nope\n\n\x00", [], [error("unknown transaction")], State.CLOSED),
    (
        connected,
        b"BEGIN\ntransaction:t\n\n\x00BEGIN\ntransaction:t\n\n\x00",
        [],
        [error("duplicate transaction")],
        State.CLOSED,
    ),
    # DISCONNECT: reported, and nothing after it is read.
    (connected, b"DISCONNECT\nreceipt:77\n\n\x00" + SEND_A, [Disconnect("77")], [], State.CONNECTED),
    # Heart-beats only.
    (connected, b"\n\n\r\n", [], [], State.CONNECTED),
    # A body over the limit: reported, skipped, the connection stays open.
    (
        connected,
        b"SEND\ndestination:/q\nreceipt:big\ncontent-length:70000\n\n" + b"x" * 70000 + b"\x00" + SEND_A,
        [
            TooLarge("SEND", {"destination": "/q", "receipt": "big", "content-length": "70000"}, "big", 70000),
            Send("/topic/a", b"hi", {"destination": "/topic/a", "receipt": "r1"}, "r1"),
        ],
        [],
        State.CONNECTED,
    ),
    # After an oversized frame its receipt is done with: a later fault does not carry it.
    (
        _connected_small_frames,
        b"SEND\ndestination:/q\nreceipt:big\n\ntoo long\x00BOGUS\n\n\x00",
        [TooLarge("SEND", {"destination": "/q", "receipt": "big"}, "big")],
        [error("malformed frame")],
        State.CLOSED,
    ),
    (connected, CONNECT_12, [], [error("already connected")], State.CLOSED),
    (connected, b"STOMP\n\n\x00", [], [error("already connected")], State.CLOSED),
    (connected, b"CONNECTED\n\n\x00", [], [error("unexpected frame")], State.CLOSED),
    (connected, b"RECEIPT\nreceipt-id:1\n\n\x00", [], [error("unexpected frame")], State.CLOSED),
    (connected, b"SEND\ndestination:/q\nk:\\t\n\n\x00", [], [error("invalid header escape")], State.CLOSED),
    # -- CLOSED: everything is ignored ---------------------------------------------------
    (closed, SEND_A, [], [], State.CLOSED),
    (closed, b"garbage", [], [], State.CLOSED),
]


@pytest.mark.parametrize("start,data,events,frames,state", TABLE)
def test_state_table(
    start: Callable[[], StompSession], data: bytes, events: list, frames: list, state: State
) -> None:
    session = start()
    session.receive_data(data)
    assert session.events_received() == events
    assert out_summary(session) == frames
    assert session.state is state
    assert session.closed is (state is State.CLOSED)


@pytest.mark.parametrize("start,data,events,frames,state", TABLE)
def test_state_table_byte_by_byte(
    start: Callable[[], StompSession], data: bytes, events: list, frames: list, state: State
) -> None:
    session = start()
    for i in range(len(data)):
        session.receive_data(data[i : i + 1])
    assert session.events_received() == events
    assert out_summary(session) == frames
    assert session.state is state


def test_the_transition_table_is_data() -> None:
    # Handlers are functions and next states are States: nothing is looked up by name.
    assert set(TRANSITIONS) == set(State)
    assert TRANSITIONS[State.CLOSED] == {}
    for state, commands in TRANSITIONS.items():
        for command, transition in commands.items():
            assert callable(transition.handler), (state, command)
            assert isinstance(transition.next_state, State), (state, command)
    assert TRANSITIONS[State.AWAIT_CONNECT]["CONNECT"].next_state is State.CONNECTING
    assert TRANSITIONS[State.AWAIT_CONNECT]["STOMP"].next_state is State.CONNECTING
    assert set(TRANSITIONS[State.CONNECTING]) == set(TRANSITIONS[State.CONNECTED])
    assert all(t.next_state is State.CONNECTED for t in TRANSITIONS[State.CONNECTED].values())


def _connected_10() -> StompSession:
    return connected("1.0")


def _subscribed_11() -> StompSession:
    return subscribed("client", version="1.1")


def _in_transaction() -> StompSession:
    session = connected(max_transactions=1, max_transaction_frames=1)
    session.receive_data(b"BEGIN\ntransaction:t\n\n\x00")
    session.events_received()
    return session


def _connecting_small() -> StompSession:
    return connecting(max_connecting_frames=1)


def _one_subscription() -> StompSession:
    return subscribed(max_subscriptions=1)


# What the ERROR body says (the detail a client developer reads), per violation.
DETAIL_TABLE: List[Tuple[Callable[[], StompSession], bytes, str, str]] = [
    (fresh, SEND_A, "not connected", "SEND frame not allowed in state AWAIT_CONNECT"),
    (connected, b"MESSAGE\n\n\x00", "unexpected frame", "MESSAGE frame not allowed in state CONNECTED"),
    (connected, b"SEND\n\n\x00", "missing header", "SEND needs a 'destination' header"),
    (connected, b"SUBSCRIBE\ndestination:/a\n\n\x00", "missing header", "SUBSCRIBE needs an 'id' header"),
    (subscribed, b"UNSUBSCRIBE\n\n\x00", "missing header", "UNSUBSCRIBE needs an 'id' header"),
    (subscribed, b"UNSUBSCRIBE\nid:9\n\n\x00", "unknown subscription", "no subscription with id '9'"),
    (subscribed, b"SUBSCRIBE\nid:0\ndestination:/b\n\n\x00", "duplicate subscription", "subscription id '0' is in use"),
    (_one_subscription, b"SUBSCRIBE\nid:1\ndestination:/b\n\n\x00", "too many subscriptions",
     "at most 1 subscriptions per session"),
    (connected, b"SUBSCRIBE\nid:1\ndestination:/b\nack:x\n\n\x00", "invalid ack mode",
     "ack must be one of auto, client, client-individual"),
    (connected, b"ACK\nid:7\n\n\x00", "unknown ack id", "ACK of a message that is not pending"),
    (connected, b"NACK\nid:7\n\n\x00", "unknown ack id", "NACK of a message that is not pending"),
    (_subscribed_11, b"ACK\nmessage-id:m1\n\n\x00", "missing header", "ACK needs a 'subscription' header"),
    (_in_transaction, b"BEGIN\ntransaction:t\n\n\x00", "duplicate transaction", "transaction 't' is already open"),
    (_in_transaction, b"BEGIN\ntransaction:u\n\n\x00", "too many transactions", "at most 1 open transactions"),
    (_in_transaction, b"SEND\ndestination:/q\ntransaction:t\n\n\x00SEND\ndestination:/q\ntransaction:t\n\n\x00",
     "transaction too large", "at most 1 frames per transaction"),
    (connected, b"COMMIT\ntransaction:x\n\n\x00", "unknown transaction", "transaction 'x' was not begun"),
    (connected, b"ABORT\ntransaction:x\n\n\x00", "unknown transaction", "transaction 'x' was not begun"),
    (connected, b"SEND\ndestination:/q\ntransaction:x\n\n\x00", "unknown transaction", "transaction 'x' was not begun"),
    (_connecting_small, SEND_A + SEND_A, "too many frames before CONNECTED",
     "at most 1 frames may follow CONNECT before CONNECTED"),
    (fresh, b"CONNECT\naccept-version:1.2\nheart-beat:x\n\n\x00", "invalid heart-beat", "invalid heart-beat 'x'"),
    (fresh, b"CONNECT\naccept-version:9.9\n\n\x00", "unsupported protocol version",
     "supported versions are 1.0,1.1,1.2"),
    (fresh, b"SEND\ncontent-length:70000\n\n", "frame too large", "SEND frame body over the size limit"),
    (fresh, b"CONNECT\nh:" + b"x" * 9000, "frame too large", "header block exceeds the size limit"),
]


@pytest.mark.parametrize("start,data,message,detail", DETAIL_TABLE)
def test_error_detail_table(start: Callable[[], StompSession], data: bytes, message: str, detail: str) -> None:
    session = start()
    session.receive_data(data)
    (frame,) = [f for f in sent(session) if f.command == "ERROR"]
    assert frame.headers["message"] == message
    assert frame.body.decode() == detail
    assert (session.close_reason, session.close_detail) == (message, detail)
    assert session.closed


def test_unsubscribe_by_destination_is_for_1_0_only() -> None:
    session = subscribed(version="1.0")
    session.receive_data(b"UNSUBSCRIBE\ndestination:/topic/a\n\n\x00")
    assert session.events_received() == [Unsubscribe("0", "/topic/a", None)]
    session = subscribed(version="1.2")
    session.receive_data(b"UNSUBSCRIBE\ndestination:/topic/a\n\n\x00")
    assert out_summary(session) == [error("missing header")]


def test_unsubscribe_by_id_in_1_0_does_not_search_destinations() -> None:
    session = subscribed(version="1.0")
    session.receive_data(b"SUBSCRIBE\nid:1\ndestination:/topic/a\n\n\x00")
    session.events_received()
    session.receive_data(b"UNSUBSCRIBE\nid:1\ndestination:/topic/a\n\n\x00")
    assert session.events_received() == [Unsubscribe("1", "/topic/a", None)]
    assert set(session.subscriptions) == {"0"}


def test_drop_subscription_of_an_unknown_id_keeps_the_others_pending() -> None:
    session = subscribed("client-individual")
    message = template(1)
    session.send_message("0", message)
    (frame,) = sent(session)
    session.drop_subscription("nope")
    session.receive_data(b"ACK\nid:%s\n\n\x00" % frame.headers["ack"].encode())
    assert session.events_received() == [Ack("0", (message,), None)]


def test_a_dropped_subscription_settles_its_pending_messages() -> None:
    session = subscribed("client-individual")
    session.send_message("0", template(1))
    (frame,) = sent(session)
    session.drop_subscription("0")
    session.receive_data(b"ACK\nid:%s\nreceipt:r\n\n\x00" % frame.headers["ack"].encode())
    assert session.events_received() == [ReceiptRequested("r")]
    assert session.state is State.CONNECTED


def test_1_0_and_1_1_messages_are_keyed_by_message_id() -> None:
    for version in ("1.0", "1.1"):
        session = subscribed("client-individual", version=version)
        message = template(1)
        session.send_message("0", message)
        (frame,) = sent(session)
        assert frame.headers["subscription"] == "0" and "ack" not in frame.headers
        ack = b"ACK\nsubscription:0\nmessage-id:m1\n\n\x00"
        session.receive_data(ack)
        assert session.events_received() == [Ack("0", (message,), None)], version


def test_a_receipt_before_connect_is_written_for_1_2() -> None:
    session = fresh()
    session.send_receipt("r0")
    (data,) = session.data_to_send()
    assert data == b"RECEIPT\nreceipt-id:r0\n\n\x00"


def test_a_receipt_in_1_0_is_not_escaped() -> None:
    session = connected("1.0")
    session.send_receipt("a:b")
    (data,) = session.data_to_send()
    assert data == b"RECEIPT\nreceipt-id:a:b\n\n\x00"


def test_error_frame_has_detail_body() -> None:
    session = connected()
    session.receive_data(b"SUBSCRIBE\nid:0\n\n\x00")
    (frame,) = sent(session)
    assert frame.headers["content-type"].startswith("text/plain")
    assert b"destination" in frame.body
    assert session.close_reason == "missing header"


def test_error_after_a_good_frame_does_not_carry_its_receipt() -> None:
    session = connected()
    session.receive_data(SEND_A + b"BOGUS\n\n\x00")
    assert len(session.events_received()) == 1
    assert out_summary(session) == [error("malformed frame")]


def test_error_message_is_escaped_for_the_session_version() -> None:
    session = connected("1.1")
    session.send_error("bad: thing\nhere", "detail")
    assert session.data_to_send() == [
        b"ERROR\nmessage:bad\\c thing\\nhere\ncontent-type:text/plain;charset=utf-8\ncontent-length:6\n\ndetail\x00"
    ]


# -- connecting ------------------------------------------------------------------------


def test_accept_connect_sends_connected() -> None:
    session = new_session()
    session.receive_data(CONNECT_12)
    session.accept_connect(session_id="sess-9", user_name="ann", extra_headers={"x-extra": "1"})
    assert sent(session) == [
        Frame(
            "CONNECTED",
            {
                "version": "1.2",
                "heart-beat": "10000,10000",
                "session": "sess-9",
                "server": "nexus-tornado/test",
                "user-name": "ann",
                "x-extra": "1",
            },
        )
    ]
    assert session.state is State.CONNECTED
    # Client (5000, 20000), server (10000, 10000): send every max(10000, 20000),
    # expect every max(5000, 10000).
    assert session.heartbeat == (20000, 10000)


def test_accept_connect_for_1_0_has_no_heartbeat() -> None:
    session = new_session()
    session.receive_data(b"CONNECT\nheart-beat:1000,1000\n\n\x00")
    session.accept_connect(session_id="s", user_name="u")
    (frame,) = sent(session)
    assert frame.headers["version"] == "1.0"
    assert "heart-beat" not in frame.headers
    assert session.heartbeat == (0, 0)


def test_pipelined_frames_are_released_after_accept() -> None:
    session = new_session()
    session.receive_data(
        CONNECT_12 + b"SUBSCRIBE\nid:0\ndestination:/a\n\n\x00" + SEND_A + b"DISCONNECT\nreceipt:d\n\n\x00"
    )
    (connect,) = session.events_received()
    assert isinstance(connect, Connect)
    assert sent(session) == []
    session.accept_connect(session_id="s", user_name="ann")
    assert [f.command for f in sent(session)] == ["CONNECTED"]
    assert session.events_received() == [
        Subscribe("0", "/a", "auto", {"id": "0", "destination": "/a"}, None),
        Send("/topic/a", b"hi", {"destination": "/topic/a", "receipt": "r1"}, "r1"),
        Disconnect("d"),
    ]


def test_pipelined_frames_use_the_negotiated_escaping() -> None:
    # CONNECT negotiates 1.0 (no escaping); the SEND in the same chunk is read as 1.0,
    # where "\\t" is two ordinary characters rather than a fatal escape.
    session = new_session()
    session.receive_data(b"CONNECT\n\n\x00SEND\ndestination:/a\\tb\n\n\x00")
    session.events_received()
    session.accept_connect(session_id="s", user_name="u")
    assert session.events_received() == [Send("/a\\tb", b"", {"destination": "/a\\tb"}, None)]


def test_pipelined_violation_surfaces_after_accept() -> None:
    session = connecting()
    session.receive_data(b"UNSUBSCRIBE\nid:nope\nreceipt:u\n\n\x00")
    assert session.state is State.CONNECTING
    session.accept_connect(session_id="s", user_name="u")
    assert [(f.command, f.headers.get("message"), f.headers.get("receipt-id")) for f in sent(session)] == [
        ("CONNECTED", None, None),
        ("ERROR", "unknown subscription", "u"),
    ]
    assert session.closed


def test_too_many_pipelined_frames() -> None:
    session = connecting(max_connecting_frames=2)
    session.receive_data(SEND_A * 2)
    assert session.state is State.CONNECTING
    session.receive_data(SEND_A)
    assert out_summary(session) == [error("too many frames before CONNECTED", receipt_id="r1")]
    assert session.closed
    # The driver finishing authentication afterwards is harmless.
    session.accept_connect(session_id="s", user_name="u")
    assert session.data_to_send() == []


def test_reject_connect() -> None:
    session = connecting()
    session.reject_connect("token expired", "the token's exp is in the past")
    (frame,) = sent(session)
    assert frame.command == "ERROR"
    assert frame.headers["message"] == "token expired"
    assert frame.body == b"the token's exp is in the past"
    assert session.closed


def test_accept_connect_out_of_turn_is_a_driver_error() -> None:
    with pytest.raises(SessionStateError, match="^accept_connect in state AWAIT_CONNECT$"):
        new_session().accept_connect(session_id="s", user_name="u")
    with pytest.raises(SessionStateError, match="^accept_connect in state CONNECTED$"):
        connected().accept_connect(session_id="s", user_name="u")


def test_connect_repr_hides_credentials() -> None:
    session = new_session()
    session.receive_data(b"CONNECT\naccept-version:1.2\npasscode:s3cret\nAuthorization:Bearer jwt.tok.en\n\n\x00")
    (event,) = session.events_received()
    assert isinstance(event, Connect)
    assert event.passcode == "s3cret"
    assert event.headers["Authorization"] == "Bearer jwt.tok.en"
    assert "s3cret" not in repr(event)
    assert "jwt.tok.en" not in repr(event)


def test_str_input_is_utf8() -> None:
    session = connected()
    session.receive_data("SEND\ndestination:/q/ü\n\nhé\x00")
    assert session.events_received() == [Send("/q/ü", "hé".encode(), {"destination": "/q/ü"}, None)]


def test_str_input_with_lone_surrogate_never_raises() -> None:
    session = connected()
    session.receive_data("SEND\ndestination:/q\ud800\n\n\x00")
    assert session.closed


# -- heart-beats -----------------------------------------------------------------------

def test_heartbeats_in_and_out() -> None:
    session = connected()
    session.receive_data(b"\n\r\n")
    assert session.heartbeats_received == 2
    session.send_heartbeat()
    assert session.data_to_send() == [b"\n"]


def test_no_heartbeat_before_connected() -> None:
    session = connecting()
    session.send_heartbeat()
    assert session.data_to_send() == []


# -- subscriptions and messages ----------------------------------------------------------


def template(n: int, destination: str = "/topic/a") -> MessageTemplate:
    return MessageTemplate({"destination": destination, "message-id": f"m{n}", "seq": str(n)}, b"{}")


def test_subscription_is_recorded() -> None:
    session = subscribed("client-individual")
    assert dict(session.subscriptions) == {"0": Subscription("0", "/topic/a", "client-individual")}
    # Its SUBSCRIBE headers too (Subscription equality leaves them out).
    assert session.subscriptions["0"].headers == {"id": "0", "destination": "/topic/a", "ack": "client-individual"}


def test_too_many_subscriptions() -> None:
    session = connected(max_subscriptions=2)
    session.receive_data(b"SUBSCRIBE\nid:1\ndestination:/a\n\n\x00SUBSCRIBE\nid:2\ndestination:/a\n\n\x00")
    assert len(session.subscriptions) == 2
    session.receive_data(b"SUBSCRIBE\nid:3\ndestination:/a\n\n\x00")
    assert out_summary(session) == [error("too many subscriptions")]


def test_drop_subscription_frees_the_slot_and_stops_delivery() -> None:
    session = subscribed()
    session.drop_subscription("0")
    assert dict(session.subscriptions) == {}
    session.send_message("0", template(1))
    assert session.data_to_send() == []
    session.receive_data(b"SUBSCRIBE\nid:0\ndestination:/topic/b\n\n\x00")
    assert session.state is State.CONNECTED
    session.drop_subscription("unknown")  # no-op


def test_send_message_auto() -> None:
    session = subscribed()
    session.send_message("0", template(1))
    assert sent(session) == [
        Frame(
            "MESSAGE",
            {"destination": "/topic/a", "message-id": "m1", "seq": "1", "content-length": "2", "subscription": "0"},
            b"{}",
        )
    ]


def test_send_message_to_unknown_subscription_is_skipped() -> None:
    session = connected()
    session.send_message("nope", template(1))
    assert session.data_to_send() == []


def _deliver(session: StompSession, *numbers: int) -> Dict[int, MessageTemplate]:
    templates = {n: template(n) for n in numbers}
    for n in numbers:
        session.send_message("0", templates[n])
    return templates


def _ack_ids(session: StompSession) -> List[str]:
    return [f.headers["ack"] for f in sent(session)]


def test_client_ack_is_cumulative_in_1_2() -> None:
    session = subscribed("client")
    t = _deliver(session, 1, 2, 3)
    ids = _ack_ids(session)
    assert len(set(ids)) == 3
    session.receive_data(b"ACK\nid:%s\nreceipt:k\n\n\x00" % ids[1].encode())
    assert session.events_received() == [Ack("0", (t[1], t[2]), "k")]
    session.receive_data(b"NACK\nid:%s\n\n\x00" % ids[2].encode())
    assert session.events_received() == [Nack("0", (t[3],), None)]


def test_client_individual_ack_is_just_that_message() -> None:
    session = subscribed("client-individual")
    t = _deliver(session, 1, 2, 3)
    ids = _ack_ids(session)
    session.receive_data(b"ACK\nid:%s\n\n\x00" % ids[1].encode())
    assert session.events_received() == [Ack("0", (t[2],), None)]
    session.receive_data(b"ACK\nid:%s\n\n\x00ACK\nid:%s\n\n\x00" % (ids[2].encode(), ids[0].encode()))
    assert session.events_received() == [Ack("0", (t[3],), None), Ack("0", (t[1],), None)]


def test_ack_of_settled_message_only_answers_the_receipt() -> None:
    session = subscribed("client")
    _deliver(session, 1, 2)
    ids = _ack_ids(session)
    session.receive_data(b"ACK\nid:%s\n\n\x00" % ids[1].encode())
    session.events_received()
    session.receive_data(b"ACK\nid:%s\nreceipt:late\n\n\x00" % ids[0].encode())
    assert session.events_received() == [ReceiptRequested("late")]
    assert session.state is State.CONNECTED


def test_pending_acks_are_bounded() -> None:
    session = subscribed("client-individual", max_pending_acks=2)
    t = _deliver(session, 1, 2, 3)
    ids = _ack_ids(session)
    # The oldest was forgotten: acknowledging it is not an error, but reports nothing.
    session.receive_data(b"ACK\nid:%s\n\n\x00" % ids[0].encode())
    assert session.events_received() == []
    session.receive_data(b"ACK\nid:%s\n\n\x00" % ids[2].encode())
    assert session.events_received() == [Ack("0", (t[3],), None)]
    assert session.state is State.CONNECTED


def test_remembered_settled_ack_ids_are_bounded() -> None:
    # A late ACK of a settled message is answered quietly only while the session still
    # remembers it; it remembers at most max_pending_acks ids, so memory stays bounded.
    session = subscribed("client-individual", max_pending_acks=2)
    ids: List[str] = []
    for n in (1, 2, 3, 4):
        _deliver(session, n)
        ids += _ack_ids(session)
        session.receive_data(b"ACK\nid:%s\n\n\x00" % ids[-1].encode())
        assert len(session.events_received()) == 1
    session.receive_data(b"ACK\nid:%s\nreceipt:late\n\n\x00" % ids[3].encode())
    assert session.events_received() == [ReceiptRequested("late")]
    session.receive_data(b"ACK\nid:%s\nreceipt:forgotten\n\n\x00" % ids[1].encode())
    assert out_summary(session) == [error("unknown ack id", receipt_id="forgotten")]


def test_ack_in_auto_mode_is_unknown() -> None:
    session = subscribed("auto")
    session.send_message("0", template(1))
    session.data_to_send()
    session.receive_data(b"ACK\nid:1\n\n\x00")
    assert out_summary(session) == [error("unknown ack id")]


def test_unsubscribe_settles_pending() -> None:
    session = subscribed("client")
    _deliver(session, 1)
    (ack_id,) = _ack_ids(session)
    session.receive_data(b"UNSUBSCRIBE\nid:0\n\n\x00ACK\nid:%s\nreceipt:z\n\n\x00" % ack_id.encode())
    assert session.events_received() == [Unsubscribe("0", "/topic/a", None), ReceiptRequested("z")]


def test_ack_in_1_1_uses_message_id_and_subscription() -> None:
    session = subscribed("client-individual", version="1.1")
    t = _deliver(session, 1, 2)
    assert all("ack" not in f.headers for f in sent(session))
    session.receive_data(b"ACK\nsubscription:0\nmessage-id:m2\n\n\x00")
    assert session.events_received() == [Ack("0", (t[2],), None)]
    session.receive_data(b"ACK\nmessage-id:m1\n\n\x00")
    assert out_summary(session) == [error("missing header")]


def test_ack_in_1_0_needs_only_message_id() -> None:
    session = subscribed("client", version="1.0")
    t = _deliver(session, 1, 2)
    session.data_to_send()
    session.receive_data(b"ACK\nmessage-id:m2\n\n\x00")
    assert session.events_received() == [Ack("0", (t[1], t[2]), None)]


def test_1_0_subscribe_and_unsubscribe_by_destination() -> None:
    session = connected("1.0")
    session.receive_data(b"SUBSCRIBE\ndestination:/topic/x\n\n\x00")
    assert session.events_received() == [Subscribe("/topic/x", "/topic/x", "auto", {"destination": "/topic/x"}, None)]
    session.receive_data(b"UNSUBSCRIBE\ndestination:/topic/x\n\n\x00")
    assert session.events_received() == [Unsubscribe("/topic/x", "/topic/x", None)]


def test_acks_in_a_transaction_resolve_at_commit() -> None:
    session = subscribed("client-individual")
    t = _deliver(session, 1)
    (ack_id,) = _ack_ids(session)
    session.receive_data(b"BEGIN\ntransaction:t\n\n\x00ACK\nid:%s\ntransaction:t\n\n\x00" % ack_id.encode())
    assert session.events_received() == []
    session.receive_data(b"COMMIT\ntransaction:t\n\n\x00")
    assert session.events_received() == [Ack("0", (t[1],), None)]


def test_transaction_size_is_bounded() -> None:
    session = connected(max_transaction_frames=2)
    session.receive_data(b"BEGIN\ntransaction:t\n\n\x00" + b"SEND\ndestination:/q\ntransaction:t\n\n\x00" * 2)
    assert session.state is State.CONNECTED
    session.receive_data(b"SEND\ndestination:/q\ntransaction:t\n\n\x00")
    assert out_summary(session) == [error("transaction too large")]


def test_open_transactions_are_bounded() -> None:
    session = connected(max_transactions=1)
    session.receive_data(b"BEGIN\ntransaction:a\n\n\x00BEGIN\ntransaction:b\n\n\x00")
    assert out_summary(session) == [error("too many transactions")]


def test_message_escaping_follows_the_session_version() -> None:
    session = subscribed(version="1.1")
    session.send_message("0", MessageTemplate({"destination": "/a:b"}, b""))
    assert session.data_to_send() == [b"MESSAGE\ndestination:/a\\cb\nsubscription:0\n\n\x00"]


# -- server actions --------------------------------------------------------------------


def test_send_receipt() -> None:
    session = connected()
    session.send_receipt("r1")
    assert sent(session) == [Frame("RECEIPT", {"receipt-id": "r1"})]


@pytest.mark.parametrize("version", ["1.0", "1.1", "1.2"])
def test_send_receipt_writes_what_serialize_writes(version: str) -> None:
    session = connected(version)
    receipt_id = "r:1\\n\né"
    session.send_receipt(receipt_id)
    assert session.data_to_send() == [serialize(Frame("RECEIPT", {"receipt-id": receipt_id}), version)]


def test_send_error_closes_and_silences() -> None:
    session = subscribed()
    session.send_error("slow consumer", "output bound exceeded", receipt_id="r")
    assert out_summary(session) == [error("slow consumer", receipt_id="r")]
    assert session.closed
    session.send_message("0", template(1))
    session.send_receipt("x")
    session.send_heartbeat()
    session.send_error("again")
    assert session.data_to_send() == []


def test_after_disconnect_nothing_more_is_delivered_but_the_receipt_is() -> None:
    session = subscribed()
    session.receive_data(b"DISCONNECT\nreceipt:bye\n\n\x00")
    assert session.events_received() == [Disconnect("bye")]
    assert session.disconnecting
    session.send_message("0", template(1))
    session.send_receipt("bye")
    assert sent(session) == [Frame("RECEIPT", {"receipt-id": "bye"})]


def test_drains() -> None:
    session = connected()
    session.receive_data(SEND_A)
    session.send_receipt("r1")
    assert len(session.events_received()) == 1
    assert session.events_received() == []
    assert len(session.data_to_send()) == 1
    assert session.data_to_send() == []


# -- robustness ------------------------------------------------------------------------

_FRAGMENTS = [
    CONNECT_12,
    SEND_A,
    b"SUBSCRIBE\nid:0\ndestination:/a\nack:client\n\n\x00",
    b"ACK\nid:1\n\n\x00",
    b"BEGIN\ntransaction:t\n\n\x00",
    b"COMMIT\ntransaction:t\n\n\x00",
    b"\n",
    b"\r\n",
    b"\x00",
    b":",
    b"\\",
    b"content-length:3\n",
]


@settings(max_examples=300)
@given(
    st.lists(st.one_of(st.binary(max_size=40), st.sampled_from(_FRAGMENTS)), max_size=12),
    st.booleans(),
)
def test_random_input_never_raises(chunks: List[bytes], accept: bool) -> None:
    session = new_session(max_frame_size=64)
    for chunk in chunks:
        session.receive_data(chunk)
        if accept and session.state is State.CONNECTING:
            session.accept_connect(session_id="s", user_name="u")
        session.events_received()
        for item in session.data_to_send():
            assert isinstance(item, bytes)
    assert isinstance(session.state, State)


@given(st.text(max_size=60))
def test_random_text_never_raises(text: str) -> None:
    session = connected()
    session.receive_data(text)
    session.events_received()
    session.data_to_send()


def test_send_error_with_headers_and_a_json_body() -> None:
    session = subscribed()
    session.send_error(
        "forbidden", '{"error":"FORBIDDEN"}', receipt_id="r",
        headers={"code": "FORBIDDEN", "tracking-id": "t1"}, content_type="application/json",
    )
    assert sent(session) == [
        Frame(
            "ERROR",
            {"message": "forbidden", "receipt-id": "r", "code": "FORBIDDEN", "tracking-id": "t1",
             "content-type": "application/json", "content-length": "21"},
            b'{"error":"FORBIDDEN"}',
        )
    ]
    assert session.closed


def test_a_rejected_or_failed_session_without_detail_sends_an_error_without_a_body() -> None:
    for act in (lambda s: s.reject_connect("token expired"), lambda s: s.send_error("bye")):
        session = connecting()
        act(session)
        (frame,) = sent(session)
        assert frame.command == "ERROR" and frame.body == b""
        assert "content-type" not in frame.headers


@pytest.mark.parametrize("ack", ["auto", "client-individual"])
@pytest.mark.parametrize("version", ["1.0", "1.1"])
def test_messages_are_escaped_for_the_sessions_version(ack: str, version: str) -> None:
    session = subscribed(ack, version=version)
    session.send_message("0", MessageTemplate({"destination": "/topic/a", "message-id": "m1", "x": "a:b"}, b"{}", 1))
    (data,) = session.data_to_send()
    assert b"\nx:a:b\n" in data if version == "1.0" else b"\nx:a\\cb\n" in data


def test_an_ack_of_an_unknown_message_on_a_known_subscription_is_an_error() -> None:
    session = subscribed("client-individual", version="1.1")
    session.receive_data(b"ACK\nsubscription:0\nmessage-id:nope\n\n\x00")
    assert out_summary(session) == [error("unknown ack id")]
    assert session.closed


# -- the session's own settings and state ------------------------------------------------


def test_a_new_session_has_negotiated_nothing_yet() -> None:
    session = StompSession(server_name="n")
    assert session.state is State.AWAIT_CONNECT
    assert session.version is None
    assert session.heartbeat == (0, 0)
    assert session.client_heartbeat == (0, 0)
    assert session.disconnecting is False
    # None, not "": the driver tells "the client went away" from "the session failed" by it.
    assert (session.close_reason, session.close_detail) == (None, None)
    assert (
        session.max_subscriptions,
        session.max_transactions,
        session.max_transaction_frames,
        session.max_pending_acks,
        session.max_connecting_frames,
    ) == (100, 10, 100, 1000, 32)


def test_the_limits_read_back_as_given() -> None:
    # One copy of each: the session reads them from the parts that enforce them.
    session = StompSession(server_name="n", max_transactions=3, max_transaction_frames=7, max_pending_acks=11)
    assert (session.max_transactions, session.max_transaction_frames, session.max_pending_acks) == (3, 7, 11)


@pytest.mark.parametrize("heartbeat", [(-1, 0), (0, -1), (1000, 1000, 1000), (1000,)])
def test_the_server_heartbeat_must_be_two_non_negative_periods(heartbeat: Tuple[int, ...]) -> None:
    with pytest.raises(ValueError) as info:
        StompSession(server_name="n", heartbeat=heartbeat)  # type: ignore[arg-type]
    assert str(info.value) == "heartbeat must be two non-negative millisecond periods"


@pytest.mark.parametrize("heartbeat,negotiated", [((0, 0), (0, 0)), ((1000, 2000), (20000, 5000))])
def test_connected_carries_the_servers_heartbeat_as_given(
    heartbeat: Tuple[int, int], negotiated: Tuple[int, int]
) -> None:
    # 0 turns a direction off; the two periods are (send, expect), in that order.
    session = StompSession(server_name="n", heartbeat=heartbeat)
    session.receive_data(CONNECT_12)  # client: heart-beat:5000,20000
    session.accept_connect(session_id="s", user_name="u")
    (frame,) = sent(session)
    assert frame.headers["heart-beat"] == "%d,%d" % heartbeat
    assert session.heartbeat == negotiated


def _subscribes(n: int) -> bytes:
    return b"".join(b"SUBSCRIBE\nid:%d\ndestination:/a\n\n\x00" % i for i in range(n))


def _begins(n: int) -> bytes:
    return b"".join(b"BEGIN\ntransaction:t%d\n\n\x00" % i for i in range(n))


def _held_sends(n: int) -> bytes:
    return b"BEGIN\ntransaction:t\n\n\x00" + b"SEND\ndestination:/q\ntransaction:t\n\n\x00" * n


def _pipelined_sends(n: int) -> bytes:
    return SEND_A * n


def _head_of(n: int) -> bytes:
    """A SEND whose command line and headers come to ``n`` bytes (without the last EOL)."""
    head = b"SEND\ndestination:/q\nk:"
    return head + b"v" * (n - len(head)) + b"\n\n\x00"


def _headers(n: int) -> bytes:
    return b"SEND\ndestination:/q\n" + b"".join(b"h%d:v\n" % i for i in range(n - 1)) + b"\n\x00"


# (limit, its default, a value to configure, how the session starts, client bytes
# reaching n, the ERROR beyond n)
LIMITS: List[Tuple[str, int, int, Callable[..., StompSession], Callable[[int], bytes], str]] = [
    ("max_subscriptions", 100, 3, connected, _subscribes, "too many subscriptions"),
    ("max_transactions", 10, 3, connected, _begins, "too many transactions"),
    ("max_transaction_frames", 100, 3, connected, _held_sends, "transaction too large"),
    ("max_connecting_frames", 32, 3, connecting, _pipelined_sends, "too many frames before CONNECTED"),
    ("max_header_bytes", 8192, 100, connected, _head_of, "frame too large"),
    ("max_headers", 64, 3, connected, _headers, "frame too large"),
]


@pytest.mark.parametrize("name,default,configured,start,reaching,message", LIMITS)
def test_each_limit_holds_exactly_at_its_default_and_as_configured(
    name: str,
    default: int,
    configured: int,
    start: Callable[..., StompSession],
    reaching: Callable[[int], bytes],
    message: str,
) -> None:
    for limits, n in (({}, default), ({name: configured}, configured)):
        session = start(**limits)
        session.receive_data(reaching(n))
        assert not session.closed, (limits, session.close_detail)
        session = start(**limits)
        session.receive_data(reaching(n + 1))
        assert session.close_reason == message, limits


def test_the_default_body_limit_is_64_kib() -> None:
    session = connected()
    session.receive_data(b"SEND\ndestination:/q\n\n" + b"x" * 65536 + b"\x00")
    session.receive_data(b"SEND\ndestination:/q\n\n" + b"x" * 65537 + b"\x00")
    assert [type(event) for event in session.events_received()] == [Send, TooLarge]


def test_by_default_1000_messages_stay_pending_per_subscription() -> None:
    session = subscribed("client-individual")
    t = _deliver(session, *range(1001))
    ids = _ack_ids(session)
    # The first of 1001 was forgotten: its ACK is answered quietly; the second is pending.
    session.receive_data(b"ACK\nid:%s\nreceipt:old\n\n\x00" % ids[0].encode())
    session.receive_data(b"ACK\nid:%s\n\n\x00" % ids[1].encode())
    assert session.events_received() == [ReceiptRequested("old"), Ack("0", (t[1],), None)]


def test_the_hold_hook_decides_what_a_transaction_holds() -> None:
    asked: List[bytes] = []

    def on_hold(frame: Frame, size: int) -> bool:
        asked.append(frame.body)
        return frame.body != b"refused"

    session = StompSession(server_name="n", on_hold=on_hold)
    session.receive_data(CONNECT_12)
    session.accept_connect(session_id="s", user_name="u")
    session.events_received()
    session.receive_data(
        b"BEGIN\ntransaction:t\n\n\x00SEND\ndestination:/q\ntransaction:t\n\nheld\x00"
        b"SEND\ndestination:/q\ntransaction:t\n\nrefused\x00COMMIT\ntransaction:t\n\n\x00"
    )
    assert asked == [b"held", b"refused"]
    assert session.events_received() == [Send("/q", b"held", {"destination": "/q"}, None, "t")]


def test_frames_are_counted_by_command_across_the_sessions_sharing_the_counts() -> None:
    counts = FrameCounts()
    for _ in range(2):
        session = StompSession(server_name="n", counts=counts)
        session.receive_data(CONNECT_12)
        session.accept_connect(session_id="s", user_name="u")
        session.receive_data(SEND_A + SEND_A + b"SUBSCRIBE\nid:0\ndestination:/topic/a\n\n\x00")
        session.send_receipt("r1")
        session.send_message("0", template(1))  # deliveries are counted per publish, not here
        session.receive_data(b"UNSUBSCRIBE\n\n\x00")
    assert counts.received == {"CONNECT": 2, "SEND": 4, "SUBSCRIBE": 2, "UNSUBSCRIBE": 2}
    assert counts.sent == {"CONNECTED": 2, "RECEIPT": 2, "ERROR": 2}


def test_an_oversized_frame_pipelined_after_connect_is_reported_once_connected() -> None:
    session = connecting(max_frame_size=4)
    session.receive_data(b"SEND\ndestination:/q\nreceipt:big\n\ntoo long\x00")
    assert session.events_received() == []
    session.accept_connect(session_id="s", user_name="u")
    assert session.events_received() == [TooLarge("SEND", {"destination": "/q", "receipt": "big"}, "big")]
    assert session.state is State.CONNECTED


@pytest.mark.parametrize(
    "pipelined,expected_events,expected_out",
    [
        # Nothing after a DISCONNECT is read, even if it came before CONNECTED.
        (b"DISCONNECT\nreceipt:d\n\n\x00" + SEND_A, [Disconnect("d")], ["CONNECTED"]),
        # A held frame that ends the session ends it once: one ERROR, the rest dropped.
        (b"UNSUBSCRIBE\nid:nope\n\n\x00" + SEND_A, [], ["CONNECTED", "ERROR"]),
    ],
)
def test_held_frames_after_one_that_ends_the_session_are_dropped(
    pipelined: bytes, expected_events: list, expected_out: List[str]
) -> None:
    session = connecting()
    session.receive_data(pipelined)
    session.accept_connect(session_id="s", user_name="u")
    assert session.events_received() == expected_events
    assert [f.command for f in sent(session)] == expected_out


@pytest.mark.parametrize(
    "version,data",
    [
        # 1.0 cannot escape: line breaks become spaces, the colon stays.
        ("1.0", b"ERROR\nmessage:a:b  c\n\n\x00"),
        ("1.1", b"ERROR\nmessage:a\\cb\r\\nc\n\n\x00"),
        ("1.2", b"ERROR\nmessage:a\\cb\\r\\nc\n\n\x00"),
    ],
)
def test_an_error_is_written_in_the_sessions_version(version: str, data: bytes) -> None:
    session = connected(version)
    session.send_error("a:b\r\nc")
    assert session.data_to_send() == [data]


def test_an_error_detail_that_cannot_be_utf8_is_sent_with_replacements() -> None:
    # A lone surrogate (say, from text the driver quotes) must not make send_error raise.
    session = connected()
    session.send_error("bad input", "id \ud800!")
    (frame,) = sent(session)
    assert frame.body == b"id ?!"
    assert session.closed
