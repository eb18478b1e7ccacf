"""A message as a MongoDB document (nexus_tornado.hub.mongo_codec): bodies that are
UTF-8 text stored as strings, any other bytes as binary, exactly as given either way;
a change event's copy of the document believed only when it checks out."""

from __future__ import annotations

import zlib
from typing import Any, Dict

import bson
import pytest
from bson.binary import Binary

from nexus_tornado.hub.mongo_codec import body_bytes, from_event, message_document, to_message
from nexus_tornado.hub.store import StoredMessage

TEXT = '{"type":"CHAT","payload":{"content":"h\u00e9llo \\"q\\" \U0001f600 \x00 end"}}'.encode("utf-8")
BYTES = b'{"a":"\xc3\xa9"}\x00\xff\xfe'


def stored(content: bytes, **changed: Any) -> Dict[str, Any]:
    """The document as MongoDB keeps it and hands it back (a BSON round trip)."""
    document = message_document("m1", "/topic/chat/t", 7, "e1", content, {"content-type": "application/json"},
                                1765000000.25)
    return {**bson.decode(bson.encode(document)), **changed}


def message(body: bytes) -> StoredMessage:
    return StoredMessage("/topic/chat/t", 7, "m1", body, {"content-type": "application/json"}, 1765000000.25, "e1")


@pytest.mark.parametrize("body, kind", [(TEXT, str), (BYTES, bytes), (b"", str), (b"\xed\xa0\x80", bytes)])
def test_a_body_is_stored_as_text_when_it_is_utf8_and_reads_back_exactly(body: bytes, kind: type) -> None:
    document = stored(body)
    assert type(document["body"]) is kind  # a lone surrogate's encoding is not UTF-8
    assert document["crc"] == zlib.crc32(body) and document["delivered"] is False
    assert body_bytes(document["body"]) == body
    assert to_message(document) == message(body)


@pytest.mark.parametrize("body", [TEXT, BYTES, b"a", b"b"])
def test_an_event_document_that_checks_out_is_the_message(body: bytes) -> None:
    # CRC-32 of b"a" is over 2**31 (a BSON int64, decoded as Int64), of b"b" under it.
    assert (zlib.crc32(b"a") >= 2**31) != (zlib.crc32(b"b") >= 2**31)
    assert from_event(stored(body)) == message(body)


def test_an_event_document_is_not_believed_when_anything_differs_from_what_was_stored() -> None:
    """nx-27017 renders BSON binary as an object of its own; a server could change a
    string; any other type than the store writes: read the collection instead."""
    rendered = {"__neosqlite_binary__": True, "data": "eyJhIjoxfQ==", "subtype": 0}
    for changed in ({"body": rendered}, {"body": TEXT.decode() + " "}, {"body": TEXT.decode().upper()},
                    {"body": "\ud800"}, {"crc": None}, {"crc": 1}, {"timestamp": 1765000000},
                    {"headers": {"n": 1}}, {"headers": ["x"]}, {"_id": bson.ObjectId()}, {"epoch": 5},
                    {"epoch": None}, {"seq": "7"}, {"seq": True}):
        assert from_event(stored(TEXT, **changed)) is None, changed
    without_crc = stored(BYTES)
    del without_crc["crc"]
    assert from_event(without_crc) is None
    assert to_message({**without_crc, "body": Binary(BYTES)}) == message(BYTES)  # read: as stored
