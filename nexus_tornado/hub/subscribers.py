"""What the hub delivers to, and the stand-ins it puts in a subscriber's place.

A :class:`Subscriber` is one subscription of one connection. While a subscription's
history is read, :class:`CatchUp` takes its live messages; right after, :class:`Floor`
drops the live ones the history already held; :class:`MarkFirst` marks the first
message a subscriber gets (``seq-reset``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Dict, Mapping, Optional

from ..stomp import MessageTemplate
from .templates import after

if TYPE_CHECKING:
    from .hub import Hub

__all__ = ["CatchUp", "Floor", "MarkFirst", "Subscriber"]


class Subscriber:
    """What the hub delivers to: one subscription of one connection.

    ``deliver`` must not block and should not raise; the hub logs and skips a
    subscriber that does.
    """

    __slots__ = ()

    def deliver(self, template: MessageTemplate) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def congested(self) -> bool:
        """Whether output already waits for this subscriber's client: a replay then
        waits for :meth:`drained` before writing more (by default, never)."""
        return False

    async def drained(self) -> None:
        """Return once the client has taken most of what waits for it."""


class CatchUp(Subscriber):
    """Stands in for a subscriber while its history is read: buffers live messages."""

    __slots__ = ("buffer", "overflows", "limit", "limit_bytes", "bytes", "abandoned")

    def __init__(self, limit: int, limit_bytes: int) -> None:
        self.buffer: Dict[int, MessageTemplate] = {}
        self.overflows = 0
        self.limit = limit
        self.limit_bytes = limit_bytes
        self.bytes = 0
        #: Set when the subscriber unsubscribed (or its connection closed) meanwhile.
        self.abandoned = False

    def deliver(self, template: MessageTemplate) -> None:
        if len(self.buffer) >= self.limit or self.bytes + len(template.body) > self.limit_bytes:
            # Everything buffered is persisted already: drop it and read it from the
            # store instead (the catch-up loop notices the overflow and reads again).
            self.clear()
            self.overflows += 1
        self.buffer[template.seq] = template
        self.bytes += len(template.body)

    def clear(self) -> None:
        self.buffer.clear()
        self.bytes = 0


class Floor(Subscriber):
    """Stands in for a subscriber right after its catch-up, dropping live messages it
    already got from the store.

    A message becomes readable in the store a moment before its publisher broadcasts
    it, so a replay can deliver a message whose broadcast is still to come. The floor
    drops those and hands over to the subscriber itself at the first newer message.
    """

    __slots__ = ("hub", "destination", "subscriber", "target", "floor", "gaps")

    def __init__(
        self,
        hub: "Hub",
        destination: str,
        subscriber: Subscriber,
        target: Subscriber,
        floor: int,
        gaps: bool,
    ) -> None:
        self.hub = hub
        self.destination = destination
        self.subscriber = subscriber
        self.target = target
        self.floor = floor
        #: Mark the first live message with the gap before it (resumed subscriptions).
        self.gaps = gaps

    def deliver(self, template: MessageTemplate) -> None:
        if template.seq <= self.floor:
            return
        self.hub._replace(self.destination, self.subscriber, self.subscriber)
        self.target.deliver(after(template, self.floor) if self.gaps else template)


class MarkFirst(Subscriber):
    """Adds ``headers`` to the first message delivered to ``subscriber`` (its own copy)."""

    __slots__ = ("subscriber", "headers")

    def __init__(self, subscriber: Subscriber, headers: Mapping[str, str]) -> None:
        self.subscriber = subscriber
        self.headers: Optional[Mapping[str, str]] = headers

    def deliver(self, template: MessageTemplate) -> None:
        if self.headers is not None:
            merged = dict(template.headers)
            merged.update(self.headers)
            template, self.headers = MessageTemplate(merged, template.body, template.seq), None
        self.subscriber.deliver(template)

    def congested(self) -> bool:
        return self.subscriber.congested()

    async def drained(self) -> None:
        await self.subscriber.drained()
