"""How :class:`~nexus_tornado.hub.mongo.MongoStore` lays out its documents.

Collections (``collection_prefix`` defaults to ``nexus_``)::

    nexus_messages  {_id: message_id, destination, seq, body: Binary, headers: {...},
                     timestamp: float seconds, delivered: bool}
                    unique (destination, seq); (destination, delivered, seq); (timestamp)
    nexus_counters  {_id: destination, seq: highest seq ever allocated}

A message document is built in one place (:func:`message_document`), both to check
that MongoDB can store it before a seq is spent on it (:func:`check_storable`) and to
insert it; :func:`stored_message` reads one back.
"""

from __future__ import annotations

from typing import Any, Dict, Mapping

import bson
from bson.binary import Binary
from bson.errors import BSONError

from ..errors import StoreUnavailable
from .store import StoredMessage

#: The largest document MongoDB stores (its default ``maxBsonObjectSize``).
MAX_DOCUMENT = 16 * 1024 * 1024

#: What the client may see when the store fails; the cause goes only to the log.
UNAVAILABLE = "message store unavailable"


def message_document(
    message_id: str,
    destination: str,
    seq: int,
    body: bytes,
    headers: Mapping[str, str],
    timestamp: float,
) -> Dict[str, Any]:
    """The ``messages`` document of one message (not yet delivered)."""
    return {
        "_id": message_id,
        "destination": destination,
        "seq": seq,
        "body": Binary(body),
        "headers": dict(headers),
        "timestamp": timestamp,
        "delivered": False,
    }


def check_storable(document: Mapping[str, Any]) -> None:
    """Refuse a document MongoDB could never store (a NUL in a header name, beyond the
    document size limit) with :class:`StoreUnavailable`, before a seq is allocated."""
    try:
        size = len(bson.encode(document))
    except (BSONError, ValueError) as exc:
        raise StoreUnavailable(UNAVAILABLE, log_detail="message cannot be stored: %s" % exc) from exc
    if size > MAX_DOCUMENT:
        raise StoreUnavailable(UNAVAILABLE, log_detail="message of %d bytes is too large to store" % size)


def stored_message(document: Mapping[str, Any]) -> StoredMessage:
    """The :class:`StoredMessage` a ``messages`` document holds."""
    return StoredMessage(
        document["destination"],
        int(document["seq"]),
        str(document["_id"]),
        bytes(document["body"]),
        dict(document.get("headers") or {}),
        float(document["timestamp"]),
    )
