"""What one connection may make the server hold, and how fast it is written to.

Kept out of :mod:`.connection` (the STOMP glue) as three small pieces:

- :class:`TransactionHold`: the bytes a connection holds in uncommitted transactions,
  reported to its user's account (``Settings.max_transaction_bytes``, all of the
  user's connections together); a SEND counts toward the SEND rate as it is held.
- :class:`PacedOutput`: the slow-consumer judgement that does not count the server's
  own batching, and the ``congested``/``drained`` pair a replay paces itself with.
- :func:`parse_last_seq`: the ``last-seq`` header of a SUBSCRIBE, ASCII digits only.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any, Mapping, Optional

from ..errors import ProtocolError, Rejection, RejectionCode
from ..stomp import Frame
from ..transport.output_limit import push_output, unsent_bytes, wait_drained

if TYPE_CHECKING:  # pragma: no cover
    from .connection import StompConnection

log = logging.getLogger("nexus_tornado.glue.connection")

#: A ``last-seq`` header value: 1 to 19 ASCII digits (a seq fits in a signed 64-bit int).
_LAST_SEQ = re.compile(r"[0-9]{1,19}")


def parse_last_seq(headers: Mapping[str, str]) -> Optional[int]:
    """The ``last-seq`` of a SUBSCRIBE: ASCII decimal digits only (no sign, space,
    ``_`` or other scripts' digits, which ``int()`` would take), at most 19 of them."""
    value = headers.get("last-seq")
    if value is None:
        return None
    if _LAST_SEQ.fullmatch(value) is None:
        problem = "must be a non-negative integer in ASCII decimal digits (at most 19)"
        raise Rejection(
            RejectionCode.INVALID_MESSAGE, "invalid message: last-seq: " + problem, {"errors": {"last-seq": [problem]}}
        )
    return int(value)


class TransactionHold:
    """The frames one connection holds in transactions, on its user's account."""

    __slots__ = ("connection", "reported")

    def __init__(self, connection: "StompConnection") -> None:
        self.connection = connection
        #: What the session held when last reported to the account.
        self.reported = 0

    def admit(self, frame: Frame, size: int) -> bool:
        """The session's ``on_hold`` hook: one user holds at most
        ``max_transaction_bytes`` over all connections (beyond it: ERROR ``transaction
        too large``), and a SEND counts toward the SEND rate now (``RATE_LIMITED``
        leaves it out, the transaction goes on without it; its COMMIT counts it no more)."""
        connection = self.connection
        principal = connection.principal
        if principal is None:  # the session holds frames only once CONNECTED
            raise RuntimeError("frame held before CONNECT was accepted")
        self.report()
        account = connection.services.transaction_bytes
        if not account.admits(principal.user_id, size):
            log.info("closing %s: over %d bytes in open transactions", connection._who(), account.limit)
            raise ProtocolError(
                "transaction too large", log_detail="at most %d bytes in open transactions per user" % account.limit
            )
        if frame.command == "SEND":
            try:
                connection.services.guard.count_send(principal)
            except Rejection as rejection:
                connection.reject(rejection, frame.headers.get("receipt"))
                return False
        return True

    def report(self) -> None:
        """Tell the user's account what the session's transactions hold now."""
        connection = self.connection
        now = connection.stomp.transaction_bytes
        if now != self.reported and connection.principal is not None:
            connection.services.transaction_bytes.adjust(connection.principal.user_id, now - self.reported)
            self.reported = now

    def release(self) -> None:
        """The connection closed: whatever it held leaves the account."""
        connection = self.connection
        if connection.principal is not None and self.reported:
            connection.services.transaction_bytes.adjust(connection.principal.user_id, -self.reported)
        self.reported = 0


class PacedOutput:
    """Output bounds of one connection's SockJS (or raw WebSocket) session."""

    __slots__ = ("session", "limit")

    def __init__(self, session: Any, limit: int) -> None:
        self.session = session
        #: ``max_pending_output``: past it, the client is a slow consumer.
        self.limit = limit

    def over_limit(self) -> bool:
        """Whether the client leaves more than ``limit`` bytes untaken. What the server
        batched itself (a WebSocket's frames of this IOLoop iteration) is pushed to the
        socket first: only what the socket would not take counts."""
        session = self.session
        if unsent_bytes(session) <= self.limit:
            return False
        push_output(session)
        return unsent_bytes(session) > self.limit

    def congested(self) -> bool:
        """Whether half the bound already waits for the client: a replay pauses then
        (:meth:`drained`), so a reader catching up is never cut off."""
        session = self.session
        return not session.is_closed and unsent_bytes(session) > self.limit // 2

    async def drained(self) -> None:
        """Return once the client took its output down to a quarter of the bound."""
        await wait_drained(self.session, self.limit // 4)
