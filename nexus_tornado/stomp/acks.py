"""Messages awaiting acknowledgement, per subscription (STOMP 1.2 "SUBSCRIBE ack
Header", "ACK", "NACK").

Under ``client`` and ``client-individual`` acknowledgement a delivered MESSAGE stays
*pending* until the client ACKs or NACKs it. With STOMP 1.2 the MESSAGE carries an
``ack`` header whose id is unique in the session (:meth:`PendingAcks.new_ack_id`);
with 1.0/1.1 the client names the ``message-id``. Either is the message's *key* here.

Memory stays bounded: at most ``limit`` messages are pending per subscription (the
oldest is forgotten when a newer one arrives), and at most ``limit`` keys of settled
messages (acknowledged, or forgotten) are remembered, so that a late ACK of one is
answered quietly rather than taken for a protocol error.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Dict, List, Optional

from .frame import MessageTemplate


class PendingAcks:
    """The pending messages of one session's subscriptions, and the settled keys.

    One per connection, so it stays small: a subscription gets its record with its
    first pending message (``ack: auto`` ones never do)."""

    __slots__ = ("limit", "_pending", "_subscription_of", "_ack_ids", "_settled")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        # Per subscription, in delivery order: key -> message.
        self._pending: Dict[str, "OrderedDict[str, MessageTemplate]"] = {}
        self._subscription_of: Dict[str, str] = {}  # 1.2 ack id -> subscription id
        self._ack_ids = 0
        #: Recently settled keys, oldest first (a dict keeps insertion order).
        self._settled: Dict[str, None] = {}

    def close(self, subscription_id: str) -> None:
        """Stop tracking a subscription; its pending messages count as settled."""
        pending = self._pending.pop(subscription_id, None)
        if pending:
            for key in pending:
                self._settle(key)

    def new_ack_id(self, subscription_id: str) -> str:
        """A session-unique STOMP 1.2 ``ack`` id for a message of ``subscription_id``."""
        self._ack_ids += 1
        key = str(self._ack_ids)
        self._subscription_of[key] = subscription_id
        return key

    def add(self, subscription_id: str, key: str, message: MessageTemplate) -> None:
        """Record ``message`` as pending under ``key``; beyond ``limit``, the oldest
        pending message of the subscription is forgotten (settled)."""
        pending = self._pending.get(subscription_id)
        if pending is None:
            pending = self._pending[subscription_id] = OrderedDict()
        pending.pop(key, None)
        pending[key] = message
        if len(pending) > self.limit:
            old_key, _ = pending.popitem(last=False)
            self._settle(old_key)

    def subscription_of(self, ack_id: str) -> Optional[str]:
        """The subscription a pending STOMP 1.2 ``ack`` id belongs to."""
        return self._subscription_of.get(ack_id)

    def subscription_holding(self, key: str) -> Optional[str]:
        """The subscription with ``key`` pending (STOMP 1.0 ACKs name only the message)."""
        return next((s for s, pending in self._pending.items() if key in pending), None)

    def is_pending(self, subscription_id: Optional[str], key: str) -> bool:
        pending = self._pending.get(subscription_id) if subscription_id is not None else None
        return pending is not None and key in pending

    def is_settled(self, key: str) -> bool:
        """Whether ``key`` was acknowledged or forgotten (and is still remembered)."""
        return key in self._settled

    def take(self, subscription_id: str, key: str, cumulative: bool) -> List[MessageTemplate]:
        """Settle the pending message ``key`` and return it; ``cumulative`` (``ack:
        client``) settles every earlier pending message of the subscription too,
        oldest first. ``key`` must be pending (:meth:`is_pending`)."""
        pending = self._pending[subscription_id]
        if not cumulative:
            message = pending.pop(key)
            self._settle(key)
            return [message]
        messages: List[MessageTemplate] = []
        while True:
            old_key, message = pending.popitem(last=False)
            self._settle(old_key)
            messages.append(message)
            if old_key == key:
                return messages

    def _settle(self, key: str) -> None:
        self._subscription_of.pop(key, None)
        settled = self._settled
        settled.pop(key, None)  # re-settled: now the newest
        settled[key] = None
        while len(settled) > self.limit:
            del settled[next(iter(settled))]
