"""MESSAGE templates: which headers a published message keeps and passes on, the
frame every subscriber of a message shares, and the gap marks one recipient gets."""

from __future__ import annotations

from typing import Dict, Mapping, Tuple

from ..stomp import MessageTemplate
from .store import StoredMessage


#: Default content type of stored bodies (the wire contract's JSON envelopes).
JSON = "application/json"

#: Headers the server sets itself on the frames it sends (wire contract, and
#: docs/protocol.md): a published message's own headers of these names, in any case,
#: are not stored or passed on, so no client can make a MESSAGE look like the server's
#: (a presence ``snapshot``, an error report's ``receipt-id``, a ``seq``).
SERVER_HEADERS = frozenset(
    {
        "destination",
        "message-id",
        "subscription",
        "seq",
        "epoch",
        "ack",
        "gap-from",
        "gap-to",
        "seq-reset",
        "snapshot",
        "receipt-id",
        "content-length",
        "receipt",
        "transaction",
    }
)
#: Credentials are never passed on to other users, whatever their case.
CREDENTIAL_HEADERS = frozenset({"authorization", "passcode"})


def relayed_headers(headers: Mapping[str, str]) -> Dict[str, str]:
    """The headers of a SEND (or host-app publish) that every MESSAGE carries on:
    everything but :data:`SERVER_HEADERS` and credentials (STOMP 1.2 "MESSAGE": user
    headers of the SEND are passed through, ``content-type`` included)."""
    return {
        name: value
        for name, value in headers.items()
        if name.lower() not in SERVER_HEADERS and name.lower() not in CREDENTIAL_HEADERS
    }


def template_for(message: StoredMessage) -> MessageTemplate:
    """The MESSAGE frame shared by every subscriber of ``message``."""
    stored = message.headers
    headers = {
        "destination": message.destination,
        "message-id": message.message_id,
        "seq": str(message.seq),
        "content-type": stored.get("content-type") or JSON,
    }
    if message.epoch:
        headers["epoch"] = message.epoch
    for name, value in stored.items():
        if name not in headers and name.lower() not in SERVER_HEADERS:
            headers[name] = value
    return MessageTemplate(headers, message.body, message.seq)


def with_gap(template: MessageTemplate, gap: Tuple[int, int]) -> MessageTemplate:
    """A copy of ``template`` telling its one recipient which range it can no longer get."""
    headers = dict(template.headers)
    headers["gap-from"], headers["gap-to"] = str(gap[0]), str(gap[1])
    return MessageTemplate(headers, template.body, template.seq)


def after(template: MessageTemplate, previous: int) -> MessageTemplate:
    """``template``, marked with the gap before it when it does not follow ``previous``
    (and without the mark of a gap its recipient does not have)."""
    seq = template.seq
    if seq > previous + 1:
        return with_gap(template, (previous + 1, seq - 1))
    if "gap-from" in template.headers:
        headers = {k: v for k, v in template.headers.items() if k not in ("gap-from", "gap-to")}
        return MessageTemplate(headers, template.body, template.seq)
    return template
