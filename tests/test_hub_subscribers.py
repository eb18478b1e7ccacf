"""The stand-ins the hub puts in a subscriber's place while it replays history."""

from __future__ import annotations

from typing import List

from nexus_tornado.hub.subscribers import CatchUp, Floor, MarkFirst, Subscriber
from nexus_tornado.stomp import MessageTemplate


class Collect(Subscriber):
    def __init__(self) -> None:
        self.got: List[MessageTemplate] = []

    def deliver(self, template: MessageTemplate) -> None:
        self.got.append(template)


class Hub:
    """What :class:`Floor` uses of the hub: putting the subscriber back in its place."""

    def __init__(self) -> None:
        self.replaced: List[tuple] = []

    def _replace(self, destination: str, subscriber: Subscriber, target: Subscriber) -> None:
        self.replaced.append((destination, subscriber, target))


def message(seq: int, body: bytes = b"{}") -> MessageTemplate:
    return MessageTemplate({"destination": "/topic/chat/1", "seq": str(seq)}, body, seq)


def test_catch_up_keeps_live_messages_by_seq() -> None:
    catch_up = CatchUp(limit=10, limit_bytes=1000)
    for seq in (3, 1, 2):
        catch_up.deliver(message(seq))
    assert sorted(catch_up.buffer) == [1, 2, 3]
    assert catch_up.bytes == 6 and catch_up.overflows == 0


def test_catch_up_over_its_count_or_bytes_starts_again_and_says_so() -> None:
    by_count = CatchUp(limit=2, limit_bytes=1000)
    for seq in (1, 2, 3):
        by_count.deliver(message(seq))
    assert list(by_count.buffer) == [3] and by_count.overflows == 1
    by_bytes = CatchUp(limit=100, limit_bytes=10)
    by_bytes.deliver(message(1, b"x" * 8))
    by_bytes.deliver(message(2, b"y" * 8))
    assert list(by_bytes.buffer) == [2] and by_bytes.bytes == 8 and by_bytes.overflows == 1


def test_floor_drops_what_the_history_held_then_hands_over() -> None:
    hub, subscriber = Hub(), Collect()
    floor = Floor(hub, "/topic/chat/1", subscriber, subscriber, floor=5, gaps=False)  # type: ignore[arg-type]
    floor.deliver(message(4))
    floor.deliver(message(5))
    assert subscriber.got == [] and hub.replaced == []
    floor.deliver(message(6))
    assert [m.seq for m in subscriber.got] == [6]
    assert hub.replaced == [("/topic/chat/1", subscriber, subscriber)]


def test_mark_first_marks_only_the_first_message_and_leaves_the_template_alone() -> None:
    subscriber = Collect()
    first, second = message(1), message(2)
    marker = MarkFirst(subscriber, {"seq-reset": "true"})
    marker.deliver(first)
    marker.deliver(second)
    assert subscriber.got[0].headers["seq-reset"] == "true"
    assert "seq-reset" not in first.headers  # shared with other subscribers: not changed
    assert subscriber.got[1] is second
