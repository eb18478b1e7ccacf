"""Serialization of STOMP frames and MessageTemplate rendering (nexus_tornado.stomp.frame)."""

from __future__ import annotations

from typing import Dict, Optional

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nexus_tornado.stomp.frame import (
    RENDER_CACHE_SIZE,
    SUPPORTED_VERSIONS,
    Frame,
    MessageTemplate,
    render_cache_budget,
    serialize,
)

# (frame, version, expected bytes). Escapes per STOMP 1.2 "Value Encoding" and STOMP
# 1.1 "Value Encoding"; STOMP 1.0 has none.
SERIALIZE_CASES = [
    # No body: no content-length.
    (Frame("RECEIPT", {"receipt-id": "77"}), "1.2", b"RECEIPT\nreceipt-id:77\n\n\x00"),
    # 1.2 escapes CR, LF, colon and backslash.
    (
        Frame("MESSAGE", {"a:b": "c\r\nd\\e"}),
        "1.2",
        b"MESSAGE\na\\cb:c\\r\\nd\\\\e\n\n\x00",
    ),
    # 1.1 escapes LF, colon and backslash, not CR.
    (
        Frame("MESSAGE", {"a:b": "c\r\nd\\e"}),
        "1.1",
        b"MESSAGE\na\\cb:c\r\\nd\\\\e\n\n\x00",
    ),
    # 1.0 has no escaping: a line break in a value becomes a space (never a new header).
    (
        Frame("MESSAGE", {"x": "1\nevil:2", "p": "a\\b:c"}),
        "1.0",
        b"MESSAGE\nx:1 evil:2\np:a\\b:c\n\n\x00",
    ),
    # CONNECTED is never escaped, whatever the version.
    (
        Frame("CONNECTED", {"server": "n:t\\x", "version": "1.2"}),
        "1.2",
        b"CONNECTED\nserver:n:t\\x\nversion:1.2\n\n\x00",
    ),
    # A body gets content-length; NULs inside the body are fine.
    (
        Frame("ERROR", {"message": "bad"}, b"a\x00b"),
        "1.2",
        b"ERROR\nmessage:bad\ncontent-length:3\n\na\x00b\x00",
    ),
    # A stale content-length is replaced by the body's real length.
    (
        Frame("SEND", {"content-length": "99", "destination": "/q"}, b"hi"),
        "1.2",
        b"SEND\ndestination:/q\ncontent-length:2\n\nhi\x00",
    ),
    # An explicit content-length with an empty body is kept (as 0).
    (
        Frame("SEND", {"destination": "/q", "content-length": "5"}),
        "1.2",
        b"SEND\ndestination:/q\ncontent-length:0\n\n\x00",
    ),
    # Non-ASCII header values are UTF-8.
    (Frame("SEND", {"destination": "/q/é"}), "1.1", "SEND\ndestination:/q/é\n\n\x00".encode()),
]


@pytest.mark.parametrize("frame,version,expected", SERIALIZE_CASES)
def test_serialize_table(frame: Frame, version: str, expected: bytes) -> None:
    assert serialize(frame, version) == expected


def test_serialize_rejects_unknown_version() -> None:
    with pytest.raises(ValueError):
        serialize(Frame("SEND", {}), "2.0")


def test_repr_hides_credentials() -> None:
    frame = Frame("CONNECT", {"login": "ann", "passcode": "s3cret", "Authorization": "Bearer tok"})
    text = repr(frame)
    assert "s3cret" not in text
    assert "tok" not in text
    assert "ann" in text


# MessageTemplate.render must produce what serialize would for the same MESSAGE.
def _expected_message(
    headers: Dict[str, str], body: bytes, sub: str, version: str, ack: Optional[str]
) -> Frame:
    merged = {
        k: v for k, v in headers.items() if k not in ("subscription", "ack", "content-length")
    }
    merged["subscription"] = sub
    if ack is not None:
        merged["ack"] = ack
    return Frame("MESSAGE", merged, body)


RENDER_CASES = [
    ({"destination": "/topic/a", "message-id": "m1", "seq": "1"}, b"{}", "sub-0", "1.2", None),
    ({"destination": "/topic/a", "message-id": "m1"}, b"", "s:1", "1.2", "7"),
    ({"destination": "/topic/a\nb", "message-id": "m1"}, b"x", "s\\1", "1.1", None),
    ({"destination": "/topic/a", "message-id": "m1"}, b"x\x00y", "s1", "1.0", None),
    # A template's own subscription/ack/content-length never leak into the output.
    ({"destination": "/d", "subscription": "other", "content-length": "9"}, b"ab", "s", "1.2", None),
]


@pytest.mark.parametrize("headers,body,sub,version,ack", RENDER_CASES)
def test_render_matches_serialize(
    headers: Dict[str, str], body: bytes, sub: str, version: str, ack: Optional[str]
) -> None:
    rendered = MessageTemplate(headers, body).render(sub, version, ack)
    # serialize puts content-length after the other headers; compare as parsed sets.
    expected = serialize(_expected_message(headers, body, sub, version, ack), version)
    assert sorted(rendered.split(b"\n\n", 1)[0].split(b"\n")) == sorted(
        expected.split(b"\n\n", 1)[0].split(b"\n")
    )
    assert rendered.split(b"\n\n", 1)[1] == expected.split(b"\n\n", 1)[1]


def test_render_exact_bytes() -> None:
    template = MessageTemplate(
        {"destination": "/topic/chat/1", "message-id": "m-9", "seq": "9", "content-type": "application/json"},
        b'{"a":1}',
    )
    assert template.render("sub-0") == (
        b"MESSAGE\ndestination:/topic/chat/1\nmessage-id:m-9\nseq:9\n"
        b"content-type:application/json\ncontent-length:7\nsubscription:sub-0\n\n"
        b'{"a":1}\x00'
    )
    assert template.render("s:1", "1.2", ack_id="42") == (
        b"MESSAGE\ndestination:/topic/chat/1\nmessage-id:m-9\nseq:9\n"
        b"content-type:application/json\ncontent-length:7\nsubscription:s\\c1\nack:42\n\n"
        b'{"a":1}\x00'
    )


def test_render_caches_per_dialect_and_versions_differ() -> None:
    template = MessageTemplate({"destination": "/a:b"}, b"")
    assert template.render("s", "1.2") == b"MESSAGE\ndestination:/a\\cb\nsubscription:s\n\n\x00"
    assert template.render("s", "1.0") == b"MESSAGE\ndestination:/a:b\nsubscription:s\n\n\x00"
    # Served from the cache the second time, and still right.
    assert template.render("t", "1.2") == b"MESSAGE\ndestination:/a\\cb\nsubscription:t\n\n\x00"


def test_template_headers_are_a_snapshot() -> None:
    source = {"destination": "/a"}
    template = MessageTemplate(source, b"")
    source["destination"] = "/b"
    assert template.headers["destination"] == "/a"
    with pytest.raises(TypeError):
        template.headers["x"] = "y"  # type: ignore[index]


def test_template_uses_slots() -> None:
    template = MessageTemplate({}, b"")
    assert not hasattr(template, "__dict__")


def test_render_rejects_unknown_version() -> None:
    with pytest.raises(ValueError):
        MessageTemplate({}, b"").render("s", "0.9")


_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)


@given(
    headers=st.dictionaries(_text, _text, max_size=5),
    body=st.binary(max_size=40),
    sub=_text,
    version=st.sampled_from(SUPPORTED_VERSIONS),
    ack=st.one_of(st.none(), _text),
)
def test_render_equals_serialize_property(
    headers: Dict[str, str], body: bytes, sub: str, version: str, ack: Optional[str]
) -> None:
    rendered = MessageTemplate(headers, body).render(sub, version, ack)
    expected = serialize(_expected_message(headers, body, sub, version, ack), version)
    head_r, _, body_r = rendered.partition(b"\n\n")
    head_e, _, body_e = expected.partition(b"\n\n")
    assert sorted(head_r.split(b"\n")) == sorted(head_e.split(b"\n"))
    assert body_r == body_e


def test_render_shares_one_frame_per_subscription_id() -> None:
    """Subscribers with the same subscription id get the same bytes object."""
    template = MessageTemplate({"destination": "/topic/a", "message-id": "1"}, b"hi")
    first = template.render("sub-0")
    assert template.render("sub-0") is first
    assert template.render("sub-0", "1.1") == first
    assert template.render("sub-0", "1.0") == first
    # With an ack id the frame is the subscriber's own, never a shared one.
    assert b"\nack:7\n" in template.render("sub-0", "1.2", ack_id="7")
    assert template.render("sub-0") is first


def test_render_past_the_cache_still_renders_each_id() -> None:
    template = MessageTemplate({"destination": "/topic/a", "message-id": "1"}, b"hi")
    for i in range(3 * RENDER_CACHE_SIZE):
        frame = template.render("s:%d" % i)
        assert b"\nsubscription:s\\c%d\n" % i in frame
        assert template.render("s:%d" % i) == frame


@pytest.mark.parametrize(
    "body,binary",
    [(b"", False), (b'{"a":1}', False), ("é ✓ 𝄞".encode(), False), (b"\xff", True),
     (b"\xc3", True), ("é".encode("latin-1"), True), (b"\xed\xa0\x80", True)],  # the last: a surrogate
)
def test_template_knows_whether_its_body_can_travel_as_text(body: bytes, binary: bool) -> None:
    assert MessageTemplate({"destination": "/a"}, body).binary is binary


def _cached_bytes(template: MessageTemplate) -> int:
    return sum(len(frame) for frame in template._rendered.values())


def test_a_large_message_keeps_at_most_two_cached_frames_whatever_the_ids() -> None:
    template = MessageTemplate({"destination": "/d", "message-id": "m", "seq": "1"}, b"x" * 60_000, 1)
    frames = [template.render("id-%d" % i) for i in range(RENDER_CACHE_SIZE)]
    assert all(len(frame) > 60_000 for frame in frames)
    assert 1 <= len(template._rendered) <= 2
    held = len(template.body) + _cached_bytes(template) + sum(len(p) for p in template._prefixes.values())
    assert held <= template.footprint()


def test_a_small_message_still_caches_several_ids_and_stays_within_its_footprint() -> None:
    template = MessageTemplate({"destination": "/d", "message-id": "m", "seq": "1"}, b"{}", 1)
    for version in SUPPORTED_VERSIONS:
        for i in range(RENDER_CACHE_SIZE):
            template.render("sub-%d" % i, version)
    assert len(template._rendered) >= 4
    held = len(template.body) + _cached_bytes(template) + sum(len(p) for p in template._prefixes.values())
    assert held <= template.footprint()


# A template of one header, destination:/d, counts 11 + 2 + 2 header bytes plus 64 of
# its own: 79. With a 1000-byte body its render cache may keep
# 2 * (1000 + 2 * 79 + 256) = 2828 bytes of frames, each 1059 bytes plus its
# subscription id ("MESSAGE", destination, content-length, "subscription:", the blank
# line, body, NUL).
def test_the_render_cache_takes_frames_up_to_exactly_its_budget() -> None:
    assert render_cache_budget(1000, 79) == 2828
    for second_id, cached in (("b" * 355, True), ("b" * 356, False)):
        template = MessageTemplate({"destination": "/d"}, b"x" * 1000)
        first = template.render("a" * 355)
        second = template.render(second_id)
        assert len(first) + len(second) == 2828 + (not cached)
        assert template.render("a" * 355) is first
        assert (template.render(second_id) is second) is cached, second_id


def test_a_templates_footprint_is_fixed_by_its_body_and_headers() -> None:
    # body + 8 * header bytes (the headers and an escaped prefix per dialect) + the
    # render cache budget + 1024 for the object: 1000 + 632 + 2828 + 1024. The hub's
    # recent-template bound counts templates by it.
    template = MessageTemplate({"destination": "/d"}, b"x" * 1000)
    assert template.footprint() == 5484
    for version in SUPPORTED_VERSIONS:
        for i in range(RENDER_CACHE_SIZE):
            template.render("s%d" % i, version)
    assert template.footprint() == 5484


def test_escaped_subscription_ids_are_shared_across_templates_and_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    from nexus_tornado.stomp import frame as frame_module

    monkeypatch.setattr(frame_module, "SUBSCRIPTION_CACHE_SIZE", 3)
    monkeypatch.setattr(frame_module, "_subscription_bytes", {})
    for n in range(10):
        template = MessageTemplate({"destination": "/a"}, b"x")
        for version, escaped in (("1.2", "s\\c%d" % n), ("1.0", "s:%d" % n)):
            rendered = template.render("s:%d" % n, version)
            assert ("\nsubscription:%s\n" % escaped).encode() in rendered
        assert len(frame_module._subscription_bytes) <= 3


def test_repr_shows_redacted_in_place_of_a_secret() -> None:
    frame = Frame("CONNECT", {"passcode": "s3cret", "AUTHORIZATION": "Bearer tok", "host": "h"})
    assert "'passcode': '<redacted>'" in repr(frame)
    assert "'AUTHORIZATION': '<redacted>'" in repr(frame)
    assert "'host': 'h'" in repr(frame)


def test_per_subscriber_headers_in_a_template_are_skipped_not_the_rest() -> None:
    # subscription/ack/content-length are written per render; headers after them stay.
    template = MessageTemplate(
        {"subscription": "old", "ack": "9", "content-length": "1", "destination": "/topic/a", "seq": "3"}, b"hi", 3
    )
    frame = template.render("s1")
    assert frame == b"MESSAGE\ndestination:/topic/a\nseq:3\ncontent-length:2\nsubscription:s1\n\nhi\x00"


def test_render_keeps_at_most_the_cache_size_of_frames() -> None:
    template = MessageTemplate({"destination": "/topic/a", "message-id": "1"}, b"hi")
    frames = [template.render("s%d" % i) for i in range(RENDER_CACHE_SIZE + 1)]
    # The first RENDER_CACHE_SIZE ids are cached (the same object comes back); the next is not.
    assert all(template.render("s%d" % i) is frames[i] for i in range(RENDER_CACHE_SIZE))
    assert template.render("s%d" % RENDER_CACHE_SIZE) is not frames[RENDER_CACHE_SIZE]


def test_an_unknown_version_is_named() -> None:
    with pytest.raises(ValueError, match="unsupported STOMP version '0.9'"):
        MessageTemplate({}, b"").render("s", "0.9")
    with pytest.raises(ValueError, match="unsupported STOMP version '2.0'"):
        serialize(Frame("SEND"), "2.0")


def test_a_template_carries_its_seq() -> None:
    assert MessageTemplate({"seq": "5"}, b"", 5).seq == 5
    assert MessageTemplate({}, b"").seq == 0
    assert repr(MessageTemplate({"seq": "5"}, b"x", 5)) == "MessageTemplate(headers={'seq': '5'}, body=b'x', seq=5)"
