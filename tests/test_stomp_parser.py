"""The incremental STOMP frame parser (nexus_tornado.stomp.parser).

Codec cases are tables taken from the STOMP 1.0/1.1/1.2 specifications; properties
check that parsing what ``serialize`` wrote gives the frame back, however the byte
stream is cut into pieces.
"""

from __future__ import annotations

from typing import Dict, List, Tuple, Union

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nexus_tornado.errors import FrameTooLarge, ProtocolError
from nexus_tornado.stomp.frame import COMMANDS, SUPPORTED_VERSIONS, Frame, serialize
from nexus_tornado.stomp.parser import FrameParser, Oversized
from support.parsing import CollectingParser

Event = Union[Frame, Oversized]


def parse(data: bytes, version: str = "1.2", **limits: int) -> List[Event]:
    parser = CollectingParser(**limits)
    parser.version = version
    parser.receive_data(data)
    return parser.events_received()


def parse_one(data: bytes, version: str = "1.2") -> Frame:
    events = parse(data, version)
    assert len(events) == 1
    assert isinstance(events[0], Frame)
    return events[0]


# (version, wire bytes, expected frame): what each specification's text says.
VALID_CASES = [
    # STOMP 1.2 "Value Encoding": \r \n \c \\ are the escapes.
    ("1.2", b"MESSAGE\nk:a\\r\\n\\c\\\\b\n\n\x00", Frame("MESSAGE", {"k": "a\r\n:\\b"})),
    # Names are escaped too.
    ("1.2", b"SEND\nx\\cy:1\n\n\x00", Frame("SEND", {"x:y": "1"})),
    # STOMP 1.1 "Value Encoding": \n \c \\ (no \r); EOL is LF only, so a CR is data.
    ("1.1", b"SEND\nk:a\\n\\c\\\\\r\n\n\x00", Frame("SEND", {"k": "a\n:\\\r"})),
    # STOMP 1.0: no escaping at all; a backslash is just a backslash.
    ("1.0", b"SEND\nk:a\\tb\\c\n\n\x00", Frame("SEND", {"k": "a\\tb\\c"})),
    # CONNECT/STOMP/CONNECTED headers are never unescaped (1.2 "Value Encoding").
    ("1.2", b"CONNECT\nlogin:a\\cb\n\n\x00", Frame("CONNECT", {"login": "a\\cb"})),
    ("1.2", b"STOMP\npasscode:x\\ty\n\n\x00", Frame("STOMP", {"passcode": "x\\ty"})),
    ("1.1", b"CONNECTED\nserver:a\\b\n\n\x00", Frame("CONNECTED", {"server": "a\\b"})),
    # Values keep their colons and spaces (1.2: not trimmed).
    ("1.2", b"SEND\ndestination: /a:b \n\n\x00", Frame("SEND", {"destination": " /a:b "})),
    # 1.2 "Repeated Header Entries": the first value wins.
    (
        "1.2",
        b"MESSAGE\nfoo:World\nfoo:Hello\n\n\x00",
        Frame("MESSAGE", {"foo": "World"}),
    ),
    # 1.2 "Header content-length": the body may contain NULs.
    (
        "1.2",
        b"SEND\ncontent-length:5\n\na\x00b\x00c\x00",
        Frame("SEND", {"content-length": "5"}, b"a\x00b\x00c"),
    ),
    ("1.2", b"SEND\ncontent-length:0\n\n\x00", Frame("SEND", {"content-length": "0"})),
    # The first content-length wins.
    (
        "1.2",
        b"SEND\ncontent-length:2\ncontent-length:9\n\nab\x00",
        Frame("SEND", {"content-length": "2"}, b"ab"),
    ),
    # Without content-length the body ends at the first NUL.
    ("1.2", b"SEND\n\nhello\x00", Frame("SEND", {}, b"hello")),
    # 1.2: EOL may be CR LF, everywhere.
    (
        "1.2",
        b"SEND\r\ndestination:/q\r\nreceipt:1\r\n\r\nbody\r\n\x00",
        Frame("SEND", {"destination": "/q", "receipt": "1"}, b"body\r\n"),
    ),
    # Empty header name and value are still name:value.
    ("1.2", b"SEND\n:\n\n\x00", Frame("SEND", {"": ""})),
    # UTF-8 headers.
    ("1.2", "SEND\ndestination:/q/ü\n\n\x00".encode(), Frame("SEND", {"destination": "/q/ü"})),
]


@pytest.mark.parametrize("version,data,expected", VALID_CASES)
def test_valid_frames(version: str, data: bytes, expected: Frame) -> None:
    assert parse_one(data, version) == expected


# (version, wire bytes, error type): malformed input is fatal (ProtocolError).
INVALID_CASES = [
    # 1.2 "Value Encoding": undefined escape sequences are a fatal protocol error.
    ("1.2", b"SEND\nk:a\\tb\n\n\x00", ProtocolError),
    ("1.2", b"SEND\nk:ab\\\n\n\x00", ProtocolError),
    ("1.1", b"SEND\nk:a\\rb\n\n\x00", ProtocolError),
    ("1.2", b"SEND\nk\\x:v\n\n\x00", ProtocolError),
    # A header line needs a colon.
    ("1.2", b"SEND\ndestination\n\n\x00", ProtocolError),
    # Headers are UTF-8.
    ("1.2", b"SEND\nk:\xff\xfe\n\n\x00", ProtocolError),
    # Not a STOMP command.
    ("1.2", b"HELLO\n\n\x00", ProtocolError),
    ("1.2", b"send\n\n\x00", ProtocolError),
    ("1.2", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", ProtocolError),
    # 1.1 has no CR LF: the CR makes the command unknown.
    ("1.1", b"SEND\r\n\r\n\x00", ProtocolError),
    # content-length must be a non-negative decimal.
    ("1.2", b"SEND\ncontent-length:-1\n\n\x00", ProtocolError),
    ("1.2", b"SEND\ncontent-length:x\n\n\x00", ProtocolError),
    ("1.2", "SEND\ncontent-length:\u0663\n\n\x00".encode(), ProtocolError),
    # The octet after content-length bytes must be NUL.
    ("1.2", b"SEND\ncontent-length:1\n\nab\x00", ProtocolError),
    # A CR between frames must be followed by LF.
    ("1.2", b"\rSEND\n\n\x00", ProtocolError),
]


@pytest.mark.parametrize("version,data,error", INVALID_CASES)
def test_invalid_frames(version: str, data: bytes, error: type) -> None:
    with pytest.raises(error):
        parse(data, version)


# (version, chunks fed in turn, parser limits, ERROR message, detail): what the client
# reads in the ERROR frame (message header, body) for each fault.
ERROR_DETAIL_CASES = [
    ("1.2", [b"x" * 20], {}, "malformed frame", "no STOMP command at the start of the frame"),
    ("1.2", [b"HELLO\n\n\x00"], {}, "malformed frame", "unknown command b'HELLO'"),
    ("1.2", [b"\rSEND\n\n\x00"], {}, "malformed frame", "stray CR between frames"),
    ("1.2", [b"SEND\ndestination\n\n\x00"], {}, "malformed frame", "header line without ':'"),
    ("1.2", [b"SEND\nk:\xff\n\n\x00"], {}, "malformed frame", "header is not valid UTF-8"),
    ("1.2", [b"SEND\ncontent-length:x\n\n\x00"], {}, "malformed frame", "invalid content-length 'x'"),
    (
        "1.2",
        [b"SEND\ncontent-length:1\n\nab\x00"],
        {},
        "malformed frame",
        "frame not terminated by NUL after content-length octets",
    ),
    # The same check on an oversized body, skipped as it streams in.
    (
        "1.2",
        [b"SEND\ncontent-length:3\n\nabc", b"X"],
        {"max_frame_size": 2},
        "malformed frame",
        "frame not terminated by NUL after content-length octets",
    ),
    ("1.2", [b"SEND\nk:a\\tb\n\n\x00"], {}, "invalid header escape", "undefined escape sequence '\\\\t' in a header"),
    ("1.2", [b"SEND\nk:" + b"v" * 200 + b"\n\n\x00"], {"max_header_bytes": 100}, "frame too large",
     "header block exceeds the size limit"),
    ("1.2", [b"SEND\na:1\nb:2\nc:3\n\n\x00"], {"max_headers": 2}, "frame too large", "more than 2 headers"),
]


@pytest.mark.parametrize("version,chunks,limits,message,detail", ERROR_DETAIL_CASES)
def test_error_message_and_detail(
    version: str, chunks: List[bytes], limits: Dict[str, int], message: str, detail: str
) -> None:
    parser = CollectingParser(**limits)
    parser.version = version
    with pytest.raises(ProtocolError) as info:
        for chunk in chunks:
            parser.receive_data(chunk)
    assert (info.value.message, info.value.log_detail) == (message, detail)


def test_garbage_is_refused_without_waiting_for_a_newline() -> None:
    parser = CollectingParser()
    with pytest.raises(ProtocolError):
        parser.receive_data(b"x" * 20)


def test_parser_stays_failed() -> None:
    parser = CollectingParser()
    with pytest.raises(ProtocolError):
        parser.receive_data(b"NOPE\n\n\x00")
    with pytest.raises(ProtocolError):
        parser.receive_data(b"SEND\n\n\x00")


def test_frames_before_an_error_are_kept() -> None:
    parser = CollectingParser()
    with pytest.raises(ProtocolError):
        parser.receive_data(b"SEND\n\na\x00BAD\n\n\x00")
    assert parser.events_received() == [Frame("SEND", {}, b"a")]


# Heart-beats (1.2 "Heart-beating"): EOLs between frames, LF or CR LF.
HEARTBEAT_CASES = [
    (b"\n", 1, []),
    (b"\r\n\r\n\n", 3, []),
    (b"\nSEND\n\n\x00\n\n", 3, [Frame("SEND", {})]),
    (b"SEND\n\n\x00\r\nSEND\n\nx\x00", 1, [Frame("SEND", {}), Frame("SEND", {}, b"x")]),
]


@pytest.mark.parametrize("data,beats,frames", HEARTBEAT_CASES)
def test_heartbeats_between_frames(data: bytes, beats: int, frames: List[Frame]) -> None:
    parser = CollectingParser()
    parser.receive_data(data)
    assert parser.heartbeats_received == beats
    assert parser.events_received() == frames


@pytest.mark.parametrize("first,before", [(b"\r", 0), (b"\n\r", 1)], ids=["alone", "after-a-heartbeat"])
def test_crlf_heartbeat_split_between_chunks(first: bytes, before: int) -> None:
    # The CR waits for its LF; a heart-beat before it in the chunk counts once.
    parser = CollectingParser()
    parser.receive_data(first)
    assert parser.heartbeats_received == before
    parser.receive_data(b"\n")
    assert parser.heartbeats_received == before + 1


def test_packed_frames_in_one_chunk() -> None:
    data = b"SEND\ndestination:/a\n\n1\x00SEND\ndestination:/b\ncontent-length:1\n\n2\x00\n"
    assert parse(data) == [
        Frame("SEND", {"destination": "/a"}, b"1"),
        Frame("SEND", {"destination": "/b", "content-length": "1"}, b"2"),
    ]


@pytest.mark.parametrize(
    "data",
    [
        b"SEND\r\ndestination:/a\r\n\r\nxyz\x00",
        b"SEND\ndestination:/a\ncontent-length:4\n\nx\x00yz\x00",
        b"CONNECT\naccept-version:1.2\n\n\x00",
    ],
)
def test_one_frame_split_byte_by_byte(data: bytes) -> None:
    parser = CollectingParser()
    for i in range(len(data) - 1):
        parser.receive_data(data[i : i + 1])
        assert parser.events_received() == []
    parser.receive_data(data[-1:])
    assert parser.events_received() == parse(data)


def test_many_crlf_frames_packed_in_one_chunk() -> None:
    frame = b"SEND\r\ndestination:/q\r\nreceipt:%d\r\n\r\nx\x00"
    data = b"".join(frame % i for i in range(2000))
    events = parse(data)
    assert [e.headers["receipt"] for e in events] == [str(i) for i in range(2000)]


def test_header_limit_counts_crlf_lines() -> None:
    data = b"SEND\r\nk:" + b"v" * 50 + b"\r\n\r\n\x00"
    head = len(b"SEND\r\nk:") + 50 + 1  # through the CR ending the last header
    assert len(parse(data, max_header_bytes=head)) == 1
    with pytest.raises(FrameTooLarge):
        parse(data, max_header_bytes=head - 1)


def test_events_are_drained() -> None:
    parser = CollectingParser()
    parser.receive_data(b"SEND\n\n\x00")
    assert len(parser.events_received()) == 1
    assert parser.events_received() == []


def test_version_is_settable_and_validated() -> None:
    parser = CollectingParser()
    assert parser.version == "1.2"
    parser.version = "1.0"
    parser.receive_data(b"SEND\nk:a\\tb\n\n\x00")
    assert parser.events_received() == [Frame("SEND", {"k": "a\\tb"})]
    with pytest.raises(ValueError):
        parser.version = "3"


def test_next_event_lets_the_version_change_between_frames() -> None:
    parser = CollectingParser()
    parser.feed(b"CONNECT\n\n\x00SEND\nk:a\\tb\n\n\x00")
    assert parser.next_event() == Frame("CONNECT", {})
    parser.version = "1.0"  # negotiated by the CONNECT, before the next frame is parsed
    assert parser.next_event() == Frame("SEND", {"k": "a\\tb"})
    assert parser.next_event() is None


# -- limits ----------------------------------------------------------------------------


def test_header_block_over_limit() -> None:
    with pytest.raises(FrameTooLarge):
        parse(b"SEND\nk:" + b"v" * 200 + b"\n\n\x00", max_header_bytes=100)


def test_header_block_over_limit_detected_before_it_ends() -> None:
    parser = CollectingParser(max_header_bytes=100)
    parser.receive_data(b"SEND\nk:")
    with pytest.raises(FrameTooLarge):
        for _ in range(100):
            parser.receive_data(b"v" * 10)


def test_header_block_at_limit_is_fine() -> None:
    data = b"SEND\nk:" + b"v" * 50 + b"\n\n\x00"
    assert parse(data, max_header_bytes=len(b"SEND\nk:") + 50) == [Frame("SEND", {"k": "v" * 50})]


def test_too_many_headers() -> None:
    headers = b"".join(b"h%d:v\n" % i for i in range(5))
    with pytest.raises(FrameTooLarge):
        parse(b"SEND\n" + headers + b"\n\x00", max_headers=4)
    assert len(parse(b"SEND\n" + headers + b"\n\x00", max_headers=5)[0].headers) == 5  # type: ignore[union-attr]


def test_body_at_limit_is_a_frame() -> None:
    assert parse(b"SEND\n\n" + b"x" * 10 + b"\x00", max_frame_size=10) == [Frame("SEND", {}, b"x" * 10)]
    assert parse(b"SEND\ncontent-length:10\n\n" + b"x" * 10 + b"\x00", max_frame_size=10)[0] == Frame(
        "SEND", {"content-length": "10"}, b"x" * 10
    )


@pytest.mark.parametrize("with_length", [True, False])
def test_oversized_body_is_skipped_without_buffering(with_length: bool) -> None:
    limit = 1000
    size = 200_000
    head = b"SEND\ndestination:/q\nreceipt:r1\n"
    if with_length:
        head += b"content-length:%d\n" % size
    parser = CollectingParser(max_frame_size=limit)
    parser.receive_data(head + b"\n")
    events: List[Event] = []
    sent = 0
    chunk = b"y" * 997
    while sent < size:
        piece = chunk[: size - sent]
        parser.receive_data(piece)
        sent += len(piece)
        events += parser.events_received()
        # Never more than a limit's worth (plus one chunk) held.
        assert parser.buffered_bytes <= limit + len(chunk)
    parser.receive_data(b"\x00\nSEND\ndestination:/next\n\nok\x00")
    events += parser.events_received()
    assert len(events) == 2
    oversized, after = events
    assert isinstance(oversized, Oversized)
    assert oversized.command == "SEND"
    assert oversized.headers["receipt"] == "r1"
    assert oversized.content_length == (size if with_length else None)
    assert after == Frame("SEND", {"destination": "/next"}, b"ok")
    assert parser.heartbeats_received == 1


def test_oversized_by_declared_length_is_reported_at_once() -> None:
    parser = CollectingParser(max_frame_size=10)
    parser.receive_data(b"SEND\ncontent-length:11\n\n")
    assert parser.events_received() == [Oversized("SEND", {"content-length": "11"}, 11)]


def test_oversized_counted_body_must_end_with_nul() -> None:
    parser = CollectingParser(max_frame_size=2)
    parser.receive_data(b"SEND\ncontent-length:3\n\nabc")
    with pytest.raises(ProtocolError):
        parser.receive_data(b"X")


@pytest.mark.parametrize("head", [b"SEND\n\n", b"SEND\ncontent-length:500\n\n"])
def test_an_oversized_body_is_dropped_as_it_is_fed_never_buffered(head: bytes) -> None:
    parser = FrameParser(max_frame_size=10)
    parser.feed(head + b"x" * 11)
    assert isinstance(parser.next_event(), Oversized)
    assert parser.next_event() is None
    parser.feed(b"y" * 100)
    assert parser.buffered_bytes == 0
    parser.feed(b"y" * 389 + b"\x00SEND\n\nok\x00")  # 11 + 100 + 389: the declared 500
    assert parser.next_event() == Frame("SEND", {}, b"ok")


def test_oversized_body_in_the_same_chunk_as_the_next_frame() -> None:
    data = b"SEND\n\n" + b"z" * 50 + b"\x00RECEIPT\nreceipt-id:1\n\n\x00"
    events = parse(data, max_frame_size=10)
    assert events == [Oversized("SEND", {}), Frame("RECEIPT", {"receipt-id": "1"})]


def test_oversized_repr_hides_credentials() -> None:
    assert "s3cret" not in repr(Oversized("CONNECT", {"passcode": "s3cret"}))


def test_large_frame_fed_byte_by_byte() -> None:
    # Linear work per byte: a 20 KB frame fed one byte at a time completes.
    body = bytes(range(1, 256)) * 80
    data = serialize(Frame("SEND", {"destination": "/q"}, body)).replace(b"content-length", b"x-length")
    parser = CollectingParser()
    for i in range(len(data)):
        parser.receive_data(data[i : i + 1])
    assert parser.events_received() == [Frame("SEND", {"destination": "/q", "x-length": str(len(body))}, body)]


# -- chunk and limit boundaries --------------------------------------------------------
# Where a chunk ends or a limit falls exactly on a delimiter: one byte either way decides.


def refusal(chunks: List[bytes], **limits: int) -> Tuple[str, str]:
    """The ERROR message and detail the chunks, fed in turn, are refused with."""
    parser = CollectingParser(**limits)
    with pytest.raises(ProtocolError) as info:
        for chunk in chunks:
            parser.receive_data(chunk)
    return info.value.message, info.value.log_detail


def test_the_longest_command_line_may_end_a_chunk() -> None:
    parser = CollectingParser()
    parser.receive_data(b"UNSUBSCRIBE\r")  # 12 bytes, without its LF: may still be a command
    assert parser.events_received() == []
    parser.receive_data(b"\nid:1\r\n\r\n\x00")
    assert parser.events_received() == [Frame("UNSUBSCRIBE", {"id": "1"})]


@pytest.mark.parametrize("garbage", [b"x" * 13, b"GET / HTTP/1.1", b"x" * 100])
def test_the_command_line_search_stops_after_the_longest_command(garbage: bytes) -> None:
    # The LF is in the chunk, but beyond where a command line could end.
    assert refusal([garbage + b"\n\n\x00"]) == ("malformed frame", "no STOMP command at the start of the frame")


@pytest.mark.parametrize("extra", [94, 95])
def test_a_header_line_ending_just_past_the_limit_is_refused(extra: int) -> None:
    # Its LF is within the search (which leaves room for the blank line) but past the limit.
    data = b"SEND\nk:" + b"v" * extra + b"\n\n\x00"
    assert refusal([data], max_header_bytes=100) == ("frame too large", "header block exceeds the size limit")


def test_a_header_block_without_lf_is_refused_at_the_limit_plus_three_bytes() -> None:
    parser = FrameParser(max_header_bytes=100)
    parser.feed(b"SEND\nk:" + b"v" * 96)  # 103 bytes: no header line can end in them
    with pytest.raises(FrameTooLarge):
        parser.next_event()


def test_the_largest_content_length_allowed_is_an_oversized_frame() -> None:
    digits = "9" * 15
    parser = CollectingParser(max_frame_size=10)
    parser.receive_data(b"SEND\ncontent-length:%s\n\n" % digits.encode())
    assert parser.events_received() == [Oversized("SEND", {"content-length": digits}, int(digits))]


def test_a_long_invalid_content_length_is_quoted_by_its_first_20_characters() -> None:
    value = b"0123456789abcdefghijklmnopqrst"  # 30 characters
    assert refusal([b"SEND\ncontent-length:" + value + b"\n\n\x00"]) == (
        "malformed frame",
        "invalid content-length '0123456789abcdefghij'",
    )


def test_only_the_body_counts_against_the_frame_size_limit() -> None:
    head = b"SEND\nk:" + b"v" * 91 + b"\n\n"  # 100 bytes of command and headers
    parser = CollectingParser(max_frame_size=50)
    parser.receive_data(head + b"abc")
    assert parser.events_received() == []
    parser.receive_data(b"\x00")
    assert parser.events_received() == [Frame("SEND", {"k": "v" * 91}, b"abc")]


def test_a_body_at_the_limit_waiting_for_its_nul_is_a_frame() -> None:
    parser = CollectingParser(max_frame_size=10)
    parser.receive_data(b"SEND\n\n" + b"x" * 10)
    assert parser.events_received() == []
    parser.receive_data(b"\x00")
    assert parser.events_received() == [Frame("SEND", {}, b"x" * 10)]


def test_a_body_split_after_an_earlier_frame_in_the_same_chunk() -> None:
    parser = CollectingParser()
    parser.receive_data(b"SEND\n\na\x00SEND\n\nbc")
    assert parser.events_received() == [Frame("SEND", {}, b"a")]
    parser.receive_data(b"d\x00")
    assert parser.events_received() == [Frame("SEND", {}, b"bcd")]


def test_heartbeats_before_a_stray_cr_are_consumed() -> None:
    parser = CollectingParser()
    with pytest.raises(ProtocolError):
        parser.receive_data(b"\n\n\rX")
    assert parser.heartbeats_received == 2
    assert parser.buffered_bytes == 2  # from the stray CR on


# -- properties ------------------------------------------------------------------------

_ANY_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=10)
# Unescaped dialects (1.0; CONNECT/STOMP/CONNECTED) cannot carry line breaks, nor a
# colon in a name.
_RAW_VALUE = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"), max_size=10)
_RAW_NAME = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n:"), max_size=10)
_RAW_COMMANDS = {"CONNECT", "STOMP", "CONNECTED"}


@st.composite
def frames(draw: st.DrawFn, version: str) -> Frame:
    command = draw(st.sampled_from(sorted(COMMANDS)))
    raw = version == "1.0" or command in _RAW_COMMANDS
    names, values = (_RAW_NAME, _RAW_VALUE) if raw else (_ANY_TEXT, _ANY_TEXT)
    headers = draw(st.dictionaries(names, values, max_size=6))
    body = draw(st.binary(max_size=64))
    return Frame(command, headers, body)


def as_parsed(frame: Frame) -> Frame:
    """What a parser returns for ``serialize(frame)``: content-length is added."""
    headers: Dict[str, str] = {k: v for k, v in frame.headers.items() if k != "content-length"}
    if frame.body or "content-length" in frame.headers:
        headers["content-length"] = str(len(frame.body))
    return Frame(frame.command, headers, frame.body)


@given(st.sampled_from(SUPPORTED_VERSIONS).flatmap(lambda v: st.tuples(st.just(v), frames(v))))
def test_round_trip(case: tuple) -> None:
    version, frame = case
    assert parse(serialize(frame, version), version) == [as_parsed(frame)]


@st.composite
def streams(draw: st.DrawFn) -> tuple:
    version = draw(st.sampled_from(SUPPORTED_VERSIONS))
    sequence = draw(st.lists(frames(version), min_size=1, max_size=5))
    eols = b"\r\n" if version == "1.2" else b"\n"
    parts = []
    for frame in sequence:
        parts.append(eols * draw(st.integers(0, 2)))
        parts.append(serialize(frame, version))
    data = b"".join(parts)
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=12)))
    return version, sequence, data, cuts


@given(streams())
def test_arbitrary_splitting_gives_the_same_frames(case: tuple) -> None:
    version, sequence, data, cuts = case
    parser = CollectingParser()
    parser.version = version
    bounds = [0, *cuts, len(data)]
    for lo, hi in zip(bounds, bounds[1:]):
        parser.receive_data(data[lo:hi])
    assert parser.events_received() == [as_parsed(f) for f in sequence]


@given(st.binary(max_size=200), st.sampled_from(SUPPORTED_VERSIONS))
def test_random_bytes_only_raise_protocol_error(data: bytes, version: str) -> None:
    parser = CollectingParser(max_frame_size=64, max_header_bytes=64, max_headers=4)
    parser.version = version
    try:
        parser.receive_data(data)
    except ProtocolError:
        pass
    for event in parser.events_received():
        assert isinstance(event, (Frame, Oversized))


def test_a_parser_without_limits_given_keeps_the_sessions_defaults() -> None:
    """64 KiB bodies, 8 KiB of header block, 64 headers (the defaults of Settings)."""

    def first(data: bytes) -> object:
        parser = FrameParser()
        parser.feed(data)
        return parser.next_event()

    assert first(b"SEND\n\n" + b"x" * 65536 + b"\x00") == Frame("SEND", {}, b"x" * 65536)
    assert isinstance(first(b"SEND\n\n" + b"x" * 65537 + b"\x00"), Oversized)
    headers = b"".join(b"h%d:v\n" % i for i in range(64))
    assert len(first(b"SEND\n" + headers + b"\n\x00").headers) == 64  # type: ignore[union-attr]
    with pytest.raises(ProtocolError):
        first(b"SEND\n" + headers + b"h64:v\n\n\x00")
    head = b"SEND\nk:"
    value = b"v" * (8192 - len(head))  # the command and header lines: 8192 bytes
    assert first(head + value + b"\n\n\x00") == Frame("SEND", {"k": value.decode()})
    with pytest.raises(ProtocolError):
        first(head + value + b"v\n\n\x00")
