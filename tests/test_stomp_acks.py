"""nexus_tornado.stomp.acks: messages awaiting ACK/NACK, bounded; driven directly.

How the session uses it (ack modes, versions, receipts, transactions) is tested through
the session in tests/test_stomp_session.py.
"""

from __future__ import annotations

from typing import List

from nexus_tornado.stomp.acks import PendingAcks
from nexus_tornado.stomp.frame import MessageTemplate


def message(n: int) -> MessageTemplate:
    return MessageTemplate({"destination": "/topic/a", "message-id": "m%d" % n, "seq": str(n)}, b"x", seq=n)


def seqs(messages: List[MessageTemplate]) -> List[int]:
    return [m.seq for m in messages]


def test_ack_ids_are_unique_in_the_session_and_name_their_subscription() -> None:
    acks = PendingAcks(10)
    ids = [acks.new_ack_id("a"), acks.new_ack_id("b"), acks.new_ack_id("a")]
    assert len(set(ids)) == 3
    assert [acks.subscription_of(i) for i in ids] == ["a", "b", "a"]
    assert acks.subscription_of("nope") is None


def test_individual_take_settles_just_that_message() -> None:
    acks = PendingAcks(10)
    for n in (1, 2, 3):
        acks.add("s", "k%d" % n, message(n))
    assert seqs(acks.take("s", "k2", cumulative=False)) == [2]
    assert acks.is_settled("k2") and not acks.is_pending("s", "k2")
    assert acks.is_pending("s", "k1") and acks.is_pending("s", "k3")


def test_cumulative_take_settles_every_earlier_message_oldest_first() -> None:
    acks = PendingAcks(10)
    for n in (1, 2, 3):
        acks.add("s", "k%d" % n, message(n))
    assert seqs(acks.take("s", "k2", cumulative=True)) == [1, 2]
    assert acks.is_settled("k1") and acks.is_settled("k2")
    assert acks.is_pending("s", "k3")


def test_pending_messages_per_subscription_are_bounded() -> None:
    acks = PendingAcks(2)
    for n in (1, 2, 3):
        acks.add("s", "k%d" % n, message(n))
    assert not acks.is_pending("s", "k1") and acks.is_settled("k1")  # forgotten
    assert acks.is_pending("s", "k2") and acks.is_pending("s", "k3")


def test_a_key_added_again_moves_to_the_end() -> None:
    acks = PendingAcks(2)
    acks.add("s", "k1", message(1))
    acks.add("s", "k2", message(2))
    acks.add("s", "k1", message(1))  # redelivered (1.0/1.1 keys are message ids)
    acks.add("s", "k3", message(3))
    assert acks.is_pending("s", "k1") and not acks.is_pending("s", "k2")


def test_remembered_settled_keys_are_bounded_oldest_forgotten_first() -> None:
    acks = PendingAcks(2)
    for n in (1, 2, 3):
        key = acks.new_ack_id("s")
        acks.add("s", key, message(n))
        acks.take("s", key, cumulative=False)
    assert [acks.is_settled(k) for k in ("1", "2", "3")] == [False, True, True]
    assert acks.subscription_of("3") is None  # a settled id no longer names its subscription


def test_a_key_settled_again_counts_as_the_newest() -> None:
    """STOMP 1.0/1.1 keys are message ids: two subscriptions can settle the same one;
    the second settling must not leave it first in line to be forgotten."""
    acks = PendingAcks(2)
    for subscription, key in (("a", "k"), ("a", "j"), ("b", "k"), ("a", "i")):
        acks.add(subscription, key, message(1))
        acks.take(subscription, key, cumulative=False)
    assert [acks.is_settled(k) for k in ("j", "k", "i")] == [False, True, True]


def test_closing_a_subscription_settles_what_it_had_pending() -> None:
    acks = PendingAcks(10)
    acks.add("s", "k1", message(1))
    acks.add("t", "k2", message(2))
    acks.close("s")
    acks.close("s")  # twice is fine
    assert acks.is_settled("k1") and not acks.is_pending("s", "k1")
    assert acks.subscription_holding("k2") == "t"
    assert acks.subscription_holding("k1") is None
    assert not acks.is_pending(None, "k2")
