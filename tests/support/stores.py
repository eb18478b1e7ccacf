"""Stores for tests that watch what reaches the store."""

from __future__ import annotations

from typing import List, Mapping, Sequence, Tuple, Union

from nexus_tornado.errors import StoreUnavailable
from nexus_tornado.hub.memory import MemoryStore
from nexus_tornado.hub.store import StoredMessage


class RecordingStore(MemoryStore):
    """The in-memory store (it numbers appends as they are called), recording how many
    chat messages each ``append_many`` and ``append`` call carried (the server's own
    presence announcements aside); ``down`` refuses them."""

    ordered_appends = True

    def __init__(self) -> None:
        super().__init__()
        self.calls: List[int] = []
        self.down = False
        #: Bodies holding one of these are refused (as a store refuses one message).
        self.refuse: List[bytes] = []
        #: A bug: append_many raises.
        self.broken = False

    async def append(self, destination: str, body: bytes, headers: Mapping[str, str]) -> StoredMessage:
        self._record([destination])
        if self.down:
            raise StoreUnavailable("store down")
        return await super().append(destination, body, headers)

    async def append_many(
        self, messages: Sequence[Tuple[str, bytes, Mapping[str, str]]]
    ) -> List[Union[StoredMessage, StoreUnavailable]]:
        self._record([destination for destination, _, _ in messages])
        if self.broken:
            raise RuntimeError("a bug in the store")
        return [
            StoreUnavailable("store down") if self.down or any(r in message[1] for r in self.refuse)
            else await super(RecordingStore, self).append(*message)
            for message in messages
        ]

    def _record(self, destinations: List[str]) -> None:
        chats = [d for d in destinations if d.startswith("/topic/chat/")]
        if chats:
            self.calls.append(len(chats))
