"""A FrameParser that collects every frame of what it is fed, for tests and test clients.

The product drives :class:`~nexus_tornado.stomp.parser.FrameParser` one frame at a
time (``feed``, then ``next_event`` until ``None``), as the session does; tests mostly
want all frames of some bytes at once.
"""

from __future__ import annotations

from typing import List, Union

from nexus_tornado.stomp import Frame, FrameParser, Oversized

Parsed = Union[Frame, Oversized]


class CollectingParser(FrameParser):
    """``receive_data`` feeds bytes and parses every complete frame; ``events_received``
    hands them over. A ``ProtocolError`` propagates; frames before it are kept."""

    def __init__(self, *args: int, **limits: int) -> None:
        super().__init__(*args, **limits)
        self._collected: List[Parsed] = []

    def receive_data(self, data: bytes) -> None:
        self.feed(data)
        while True:
            event = self.next_event()
            if event is None:
                return
            self._collected.append(event)

    def events_received(self) -> List[Parsed]:
        events, self._collected = self._collected, []
        return events
