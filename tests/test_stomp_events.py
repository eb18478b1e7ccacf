"""nexus_tornado.stomp.events: the events a session reports, frozen and free of secrets."""

from __future__ import annotations

import dataclasses
import typing

import pytest

from nexus_tornado.stomp import events
from nexus_tornado.stomp.events import (
    Ack,
    Connect,
    Disconnect,
    Nack,
    ReceiptRequested,
    Send,
    Subscribe,
    TooLarge,
    Unsubscribe,
)
from nexus_tornado.stomp.frame import MessageTemplate

ALL = (Connect, Subscribe, Unsubscribe, Send, Ack, Nack, TooLarge, ReceiptRequested, Disconnect)


def test_event_names_every_event() -> None:
    assert set(typing.get_args(events.Event)) == set(ALL)


@pytest.mark.parametrize("kind", ALL)
def test_events_are_frozen_dataclasses(kind: type) -> None:
    assert dataclasses.is_dataclass(kind)
    assert kind.__dataclass_params__.frozen  # type: ignore[attr-defined]


def test_connect_repr_never_shows_credentials() -> None:
    event = Connect(
        headers={"passcode": "s3cret-token", "Authorization": "Bearer s3cret-token"},
        accept_versions=("1.2",),
        host="h",
        login="ann",
        passcode="s3cret-token",
    )
    assert "s3cret" not in repr(event)
    assert "ann" in repr(event)
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.login = "bob"  # type: ignore[misc]


def test_too_large_repr_leaves_the_headers_out() -> None:
    event = TooLarge("SEND", {"destination": "/topic/a", "passcode": "s3cret"}, "r1", 70000)
    assert "s3cret" not in repr(event)
    assert event.content_length == 70000


def test_acks_carry_the_templates_they_settle() -> None:
    template = MessageTemplate({"destination": "/topic/a", "message-id": "m1", "seq": "1"}, b"x", seq=1)
    ack = Ack("sub-0", (template,), "r")
    assert [m.seq for m in ack.messages] == [1]
    assert ack == Ack("sub-0", (template,), "r")
    assert ack != Nack("sub-0", (template,), "r")


def test_an_ack_is_not_a_nack_nor_the_other_way() -> None:
    template = MessageTemplate({"destination": "/topic/a", "message-id": "m1", "seq": "1"}, b"x", seq=1)
    assert not isinstance(Nack("s", (template,), None), Ack)
    assert not isinstance(Ack("s", (template,), None), Nack)
    assert repr(Nack("s", (), None)).startswith("Nack(subscription_id='s'")
