"""nexus_tornado.stomp.escaping: header escaping per version (STOMP 1.2 "Value Encoding")."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nexus_tornado.errors import ProtocolError
from nexus_tornado.stomp.escaping import RAW, dialect_for, escape, escape_name, unescape


@pytest.mark.parametrize(
    "command, version, dialect",
    [
        ("SEND", "1.2", "1.2"),
        ("MESSAGE", "1.1", "1.1"),
        ("MESSAGE", "1.0", RAW),
        # CONNECT, STOMP and CONNECTED are never escaped, to stay readable by 1.0 peers.
        ("CONNECT", "1.2", RAW),
        ("STOMP", "1.1", RAW),
        ("CONNECTED", "1.2", RAW),
        ("ERROR", "1.2", "1.2"),
    ],
)
def test_dialect_for(command: str, version: str, dialect: str) -> None:
    assert dialect_for(command, version) == dialect


@pytest.mark.parametrize(
    "text, dialect, escaped",
    [
        ("a\\b\nc:d\re", "1.2", "a\\\\b\\nc\\cd\\re"),
        # 1.1 has no \r escape: CR passes as it is.
        ("a\\b\nc:d\re", "1.1", "a\\\\b\\nc\\cd\re"),
        # Unescaped frames cannot carry a line break: it becomes a space.
        ("a\\b\nc:d\re", RAW, "a\\b c:d e"),
        ("plain", "1.2", "plain"),
        ("", "1.2", ""),
    ],
)
def test_escape(text: str, dialect: str, escaped: str) -> None:
    assert escape(text, dialect) == escaped


def test_a_raw_header_name_cannot_hold_a_colon_or_line_break() -> None:
    assert escape_name("a:b\nc\rd", RAW) == "a b c d"
    assert escape_name("a:b", "1.2") == "a\\cb"
    assert escape_name("a:b", "1.1") == "a\\cb"


@pytest.mark.parametrize(
    "text, dialect, plain",
    [
        ("a\\\\b\\nc\\cd\\re", "1.2", "a\\b\nc:d\re"),
        ("a\\\\b\\nc\\cd", "1.1", "a\\b\nc:d"),
        ("no escapes", "1.2", "no escapes"),
        # Raw frames are taken as they are, backslashes and all.
        ("a\\tb\\", RAW, "a\\tb\\"),
    ],
)
def test_unescape(text: str, dialect: str, plain: str) -> None:
    assert unescape(text, dialect) == plain


@pytest.mark.parametrize(
    "text, dialect, shown",
    [
        ("a\\tb", "1.2", "'\\\\t'"),
        ("a\\rb", "1.1", "'\\\\r'"),  # \r is 1.2 only
        ("trailing\\", "1.2", "end of header"),
        ("\\x", "1.1", "'\\\\x'"),
    ],
)
def test_an_undefined_escape_is_a_fatal_protocol_error(text: str, dialect: str, shown: str) -> None:
    with pytest.raises(ProtocolError) as raised:
        unescape(text, dialect)
    assert raised.value.message == "invalid header escape"
    assert raised.value.log_detail == "undefined escape sequence %s in a header" % shown


@given(text=st.text(), dialect=st.sampled_from(["1.1", "1.2"]))
def test_unescape_undoes_escape(text: str, dialect: str) -> None:
    if dialect == "1.1":
        text = text.replace("\r", "")  # 1.1 cannot escape CR; the parser keeps it raw
    assert unescape(escape(text, dialect), dialect) == text
    assert "\n" not in escape(text, dialect)
