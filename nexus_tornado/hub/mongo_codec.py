"""A message as a MongoDB document, and back.

::

    {_id: message_id, destination, seq, epoch, body, crc, headers: {...},
     timestamp: float seconds, delivered: bool}

``body`` holds a body that is UTF-8 text (the wire contract's JSON envelopes: nearly
every message) as a BSON string, readable as it is in mongosh or Compass, and any other
bytes as BSON binary. Either way the bytes read back are the bytes stored.

``crc`` is the CRC-32 of the body's bytes. It lets a process check a copy of the
document it did not read from the collection: the ``fullDocument`` of a change event
(:mod:`.mongo_feed`) is taken as the message only when every field has the type the
store writes and the body matches ``crc``, so a server that renders documents its own
way (nx-27017 turns BSON binary into an object of its own) is never believed; the
message is read from the collection instead. A document without ``crc`` is always read.
"""

from __future__ import annotations

import zlib
from typing import Any, Dict, Mapping, Optional

from bson.binary import Binary

from .store import StoredMessage

__all__ = ["MESSAGE_FIELDS", "body_bytes", "from_event", "message_document", "to_message"]

#: The fields of a message document a reader needs (projections ask for these).
MESSAGE_FIELDS = ("_id", "destination", "seq", "epoch", "body", "crc", "headers", "timestamp")


def message_document(
    message_id: str,
    destination: str,
    seq: int,
    epoch: str,
    body: bytes,
    headers: Mapping[str, str],
    timestamp: float,
) -> Dict[str, Any]:
    """The document stored for a message (not yet delivered)."""
    stored: Any
    try:
        stored = body.decode("utf-8")  # strict: encodes back to exactly these bytes
    except UnicodeDecodeError:
        stored = Binary(body)
    return {
        "_id": message_id,
        "destination": destination,
        "seq": seq,
        "epoch": epoch,
        "body": stored,
        "crc": zlib.crc32(body),
        "headers": headers,
        "timestamp": timestamp,
        "delivered": False,
    }


def body_bytes(stored: Any) -> bytes:
    """The bytes of a stored ``body`` field (a string or binary)."""
    return stored.encode("utf-8") if isinstance(stored, str) else bytes(stored)


def to_message(document: Mapping[str, Any]) -> StoredMessage:
    """The message of a document read from the collection."""
    return StoredMessage(
        document["destination"],
        int(document["seq"]),
        str(document["_id"]),
        body_bytes(document["body"]),
        dict(document.get("headers") or {}),
        float(document["timestamp"]),
        str(document.get("epoch") or ""),
    )


def from_event(document: Mapping[str, Any]) -> Optional[StoredMessage]:
    """The message in a change event's ``fullDocument`` if it checks out (every field of
    the type the store writes, the body matching ``crc``); else None: read it."""
    body = document.get("body")
    if type(body) is str:
        try:
            data = body.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: not what was stored
            return None
    elif type(body) is bytes:
        data = body
    else:
        return None  # a server that renders documents its own way fails here
    crc, headers, message_id = document.get("crc"), document.get("headers"), document.get("_id")
    timestamp, epoch, seq = document.get("timestamp"), document.get("epoch", ""), document.get("seq")
    if not (
        isinstance(crc, int)  # an Int64 from a BSON int64 is one
        and not isinstance(crc, bool)
        and isinstance(seq, int)
        and not isinstance(seq, bool)
        and type(message_id) is str
        and type(timestamp) is float
        and type(epoch) is str
        and type(headers) is dict
        and all(type(k) is str and type(v) is str for k, v in headers.items())
        and crc == zlib.crc32(data)
    ):
        return None
    return StoredMessage(document["destination"], int(seq), message_id, data, headers, timestamp, epoch)
