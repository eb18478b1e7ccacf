"""nexus_tornado.hub.mongo_documents: the MongoDB document of a message, and back."""

from __future__ import annotations

import bson
import pytest

from nexus_tornado.errors import StoreUnavailable
from nexus_tornado.hub.mongo_documents import (
    MAX_DOCUMENT,
    UNAVAILABLE,
    check_storable,
    message_document,
    stored_message,
)
from nexus_tornado.hub.store import StoredMessage


def test_a_message_round_trips_through_its_document() -> None:
    document = message_document("m1", "/topic/a", 7, b"\x00\xffbody", {"content-type": "application/json"}, 12.5)
    assert document["delivered"] is False
    assert document["_id"] == "m1"
    decoded = bson.decode(bson.encode(document))  # as MongoDB hands it back
    assert stored_message(decoded) == StoredMessage(
        "/topic/a", 7, "m1", b"\x00\xffbody", {"content-type": "application/json"}, 12.5
    )


def test_a_document_without_headers_reads_back_with_none() -> None:
    document = message_document("m1", "/topic/a", 1, b"", {}, 1.0)
    del document["headers"]
    assert stored_message(document).headers == {}


def test_a_storable_document_passes() -> None:
    check_storable(message_document("m1", "/topic/a", 0, b"x" * 1000, {"k": "v"}, 1.0))


def test_a_header_name_with_nul_is_not_storable() -> None:
    with pytest.raises(StoreUnavailable) as raised:
        check_storable(message_document("m1", "/topic/a", 0, b"x", {"bad\x00name": "v"}, 1.0))
    assert raised.value.message == UNAVAILABLE
    assert raised.value.log_detail.startswith("message cannot be stored")


def test_a_document_beyond_the_size_limit_is_not_storable() -> None:
    with pytest.raises(StoreUnavailable) as raised:
        check_storable(message_document("m1", "/topic/a", 0, b"x" * MAX_DOCUMENT, {}, 1.0))
    assert raised.value.message == UNAVAILABLE
    assert "too large to store" in raised.value.log_detail
