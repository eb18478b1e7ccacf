"""Open transactions of one STOMP session (STOMP 1.2 "BEGIN", "COMMIT", "ABORT").

Frames naming a transaction are held until its COMMIT (then handled as if they arrived
right then) or its ABORT (then dropped). What a session may hold is bounded three ways:
the number of open transactions, the frames per transaction, and, through the driver's
``on_hold`` hook, whatever the driver decides for each frame before it is held (nexus
bounds the bytes one *user* holds over all of their connections, and counts a held
SEND toward the SEND rate there). :attr:`Transactions.held_bytes` is what this session
holds now, by :func:`held_size`.
"""

from __future__ import annotations

from typing import Callable, Dict, List, Optional, Tuple

from ..errors import ProtocolError
from .frame import Frame

#: ``on_hold(frame, size)``: True to hold the frame, False when the driver refused it
#: (and told the client); raising ``ProtocolError`` ends the session with an ERROR.
HoldHook = Callable[[Frame, int], bool]

#: Bytes counted per held frame beyond its body and headers.
FRAME_OVERHEAD = 64


def held_size(frame: Frame) -> int:
    """What holding ``frame`` costs: its body, its headers and a little bookkeeping."""
    headers = sum(len(name) + len(value) for name, value in frame.headers.items())
    return len(frame.body) + headers + FRAME_OVERHEAD


class Transactions:
    """The open transactions of one session and the frames each holds."""

    __slots__ = ("max_transactions", "max_frames", "on_hold", "_open", "held_bytes")

    def __init__(self, max_transactions: int, max_frames: int, on_hold: Optional[HoldHook] = None) -> None:
        self.max_transactions = max_transactions
        self.max_frames = max_frames
        self.on_hold = on_hold
        self._open: Dict[str, List[Tuple[Frame, int]]] = {}
        #: Bytes (:func:`held_size`) of every frame held now, over all transactions.
        self.held_bytes = 0

    def __len__(self) -> int:
        return len(self._open)

    def begin(self, name: str) -> None:
        if name in self._open:
            raise ProtocolError("duplicate transaction", log_detail=f"transaction {name!r} is already open")
        if len(self._open) >= self.max_transactions:
            raise ProtocolError(
                "too many transactions", log_detail=f"at most {self.max_transactions} open transactions"
            )
        self._open[name] = []

    def hold(self, name: str, frame: Frame) -> None:
        """Hold ``frame`` in transaction ``name`` (unless the driver's hook refuses it)."""
        frames = self._open.get(name)
        if frames is None:
            raise ProtocolError("unknown transaction", log_detail=f"transaction {name!r} was not begun")
        if len(frames) >= self.max_frames:
            raise ProtocolError(
                "transaction too large", log_detail=f"at most {self.max_frames} frames per transaction"
            )
        size = held_size(frame)
        if self.on_hold is not None and not self.on_hold(frame, size):
            return
        frames.append((frame, size))
        self.held_bytes += size

    def end(self, name: str) -> List[Frame]:
        """Close transaction ``name`` (COMMIT or ABORT); return the frames it held."""
        entries = self._open.pop(name, None)
        if entries is None:
            raise ProtocolError("unknown transaction", log_detail=f"transaction {name!r} was not begun")
        self.held_bytes -= sum(size for _, size in entries)
        return [frame for frame, _ in entries]

    def clear(self) -> None:
        """Drop every open transaction (DISCONNECT, or the session ended)."""
        self._open.clear()
        self.held_bytes = 0
