"""Header value escaping, per STOMP version (STOMP 1.2 "Value Encoding").

STOMP 1.0 has no escaping at all. STOMP 1.1 escapes line feed (``\\n``), colon
(``\\c``) and backslash (``\\\\``); STOMP 1.2 adds carriage return (``\\r``).
An escape sequence the version does not define is a fatal protocol error
("Undefined escape sequences such as \\t MUST be treated as a fatal protocol
error"), so unescaping raises :class:`~nexus_tornado.errors.ProtocolError`.

CONNECT, STOMP and CONNECTED frames are never escaped, to stay readable by STOMP 1.0
peers (STOMP 1.2 "Value Encoding"); that choice is made by :func:`dialect_for`, the
one place both the serializer and the parser ask.

A value written in an unescaped dialect (1.0, or a CONNECT/CONNECTED frame) cannot
carry a line break, so :func:`escape` replaces CR and LF with a space there (and a
colon in a header name): a header can never smuggle another header or end the block.
"""

from __future__ import annotations

import re
from typing import Dict

from ..errors import ProtocolError

#: The escaping dialects: the STOMP version whose rules apply, or ``"raw"`` for frames
#: that are never escaped (and for STOMP 1.0, which has no escaping).
RAW = "raw"

#: Commands whose headers are never escaped or unescaped (STOMP 1.2 "Value Encoding").
UNESCAPED_COMMANDS = frozenset({"CONNECT", "STOMP", "CONNECTED"})

_ESCAPE_TABLES: Dict[str, Dict[int, str]] = {
    "1.1": {ord("\\"): "\\\\", ord("\n"): "\\n", ord(":"): "\\c"},
    "1.2": {ord("\\"): "\\\\", ord("\n"): "\\n", ord(":"): "\\c", ord("\r"): "\\r"},
    # Unescaped dialect: neutralise line breaks instead of escaping them.
    RAW: {ord("\n"): " ", ord("\r"): " "},
}
_RAW_NAME_TABLE: Dict[int, str] = {ord("\n"): " ", ord("\r"): " ", ord(":"): " "}

_UNESCAPE_TABLES: Dict[str, Dict[str, str]] = {
    "1.1": {"\\": "\\", "n": "\n", "c": ":"},
    "1.2": {"\\": "\\", "n": "\n", "c": ":", "r": "\r"},
}

# A backslash and the character after it (or nothing, at the end of the value).
_ESCAPE_RE = re.compile(r"\\(.?)", re.DOTALL)


def dialect_for(command: str, version: str) -> str:
    """The escaping dialect for ``command`` in a session speaking ``version``."""
    if version == "1.0" or command in UNESCAPED_COMMANDS:
        return RAW
    return "1.1" if version == "1.1" else "1.2"


def escape(text: str, dialect: str) -> str:
    """Escape a header value (or name) for ``dialect``."""
    return text.translate(_ESCAPE_TABLES[dialect])


def escape_name(text: str, dialect: str) -> str:
    """Escape a header name; in the raw dialect a colon cannot be written either."""
    if dialect == RAW:
        return text.translate(_RAW_NAME_TABLE)
    return text.translate(_ESCAPE_TABLES[dialect])


def unescape(text: str, dialect: str) -> str:
    """Undo :func:`escape`; an undefined escape sequence raises ``ProtocolError``."""
    if dialect == RAW or "\\" not in text:
        return text
    table = _UNESCAPE_TABLES[dialect]

    def replace(match: re.Match[str]) -> str:
        char = match.group(1)
        try:
            return table[char]
        except KeyError:
            shown = "end of header" if char == "" else repr("\\" + char)
            raise ProtocolError(
                "invalid header escape",
                log_detail=f"undefined escape sequence {shown} in a header",
            ) from None

    return _ESCAPE_RE.sub(replace, text)
