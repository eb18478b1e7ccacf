"""The glue of shared documents (``/topic/doc/{docId}``): operations in, snapshots out.

A SEND to a document is a ``DOC_OP``: it passes the ACL and the schema like any SEND,
is counted against ``document_ops_per_minute`` (not ``sends_per_minute``: a typist
sends many), and goes to :class:`~nexus_tornado.hub.documents.Documents`, which
transforms, stores and broadcasts it; the RECEIPT follows the store. A SUBSCRIBE to a
document without ``last-seq`` first gets a ``DOC_SNAPSHOT`` MESSAGE (the text, its
version as ``seq``, ``snapshot: true``), then every operation after that version: the
subscription starts at the snapshot's version, so nothing falls between the two.
"""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Mapping, Optional, Tuple

from ..errors import Rejection, RejectionCode, StoreUnavailable
from ..hub.documents import DOC_OP, DOC_SNAPSHOT, Documents, is_document
from ..policy.destinations import DOC, DestinationPattern
from ..stomp import MessageTemplate, Send

if TYPE_CHECKING:  # pragma: no cover
    from .connection import StompConnection, _Subscription

_DOC = DestinationPattern(DOC)

__all__ = ["is_document", "resume_point", "send_snapshot", "submit_op"]


def _documents(connection: "StompConnection", destination: str) -> Documents:
    documents = connection.services.documents
    if documents is None:
        raise Rejection(
            RejectionCode.UNAVAILABLE,
            "this server's store keeps no documents",
            {"destination": destination},
        )
    return documents


async def send_snapshot(connection: "StompConnection", sub: "_Subscription") -> Tuple[int, Optional[str]]:
    """Write the document's snapshot to ``sub``; return its version and epoch (where
    the subscription's operations start). Raises ``StoreUnavailable`` or ``Rejection``."""
    destination = sub.destination
    snapshot = await _documents(connection, destination).snapshot(destination)
    ids = _DOC.match(destination) or {}
    body = {
        "type": DOC_SNAPSHOT,
        "payload": {"docId": ids.get("docId"), "version": snapshot.version, "text": snapshot.text},
    }
    headers = {
        "destination": destination,
        "message-id": "snapshot-" + uuid.uuid4().hex,
        "content-type": "application/json",
        "snapshot": "true",
        "seq": str(snapshot.version),
    }
    if snapshot.epoch:
        headers["epoch"] = snapshot.epoch
    encoded = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    connection.stomp.send_message(sub.id, MessageTemplate(headers, encoded, snapshot.version))
    connection.services.stats.messages_sent += 1
    return snapshot.version, snapshot.epoch


async def resume_point(
    connection: "StompConnection", sub: "_Subscription", last_seq: Optional[int], headers: Mapping[str, str]
) -> Tuple[Optional[int], Optional[str]]:
    """Where ``sub`` starts: after ``last-seq`` in ``epoch``, as the client asked; for a
    document subscribed to without ``last-seq``, after the snapshot written to it first."""
    if last_seq is None and is_document(sub.destination):
        return await send_snapshot(connection, sub)
    return last_seq, headers.get("epoch") or None


async def submit_op(connection: "StompConnection", event: Send) -> None:
    """Admit, transform and store one ``DOC_OP`` SEND; RECEIPT or rejection."""
    principal = connection._require_principal()
    services = connection.services
    destination = event.destination
    try:
        if event.transaction is None:
            services.document_limiter.check(principal.user_id)
        message = await services.guard.admit_send(
            principal, destination, event.body, event.headers, counted=True
        )
        if message["type"] != DOC_OP:
            raise Rejection(
                RejectionCode.INVALID_MESSAGE,
                "a document takes only %s messages" % DOC_OP,
                {"destination": destination, "type": message["type"]},
            )
        try:
            await _documents(connection, destination).submit(destination, message, event.headers)
        except StoreUnavailable as exc:
            raise Rejection(
                RejectionCode.UNAVAILABLE,
                "message store unavailable, operation not accepted",
                {"destination": destination},
                log_detail="store unavailable: %s" % exc.log_detail,
            ) from None
    except Rejection as rejection:
        connection.reject(rejection, event.receipt)
        return
    connection._receipt(event.receipt)
