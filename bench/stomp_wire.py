"""A minimal, fast STOMP 1.2 client codec for the load generator.

The load generator must not be the bottleneck, so this codec does only what the
benchmark needs and nothing the server under test would notice: it builds client frames
(CONNECT, SUBSCRIBE, SEND, DISCONNECT) and splits server frames into command, headers
and body.  It is deliberately not the server's parser (``nexus_tornado.stomp``), which
validates everything; here frames come from a server we trust to be well formed, and a
header is decoded only when a caller asks for it.

Frame layout (STOMP 1.2, "STOMP Frames")::

    COMMAND EOL *( header EOL ) EOL body NUL

Heart-beats are bare EOLs between frames ("Heart-beating"); they are skipped.
Header values are escaped per "Value Encoding" when we build frames (CONNECT frames
excepted, as the spec says) and unescaped on request when we read them.
"""

from __future__ import annotations

from typing import Dict, Iterator, List, Optional, Tuple

#: STOMP 1.2 "Value Encoding": what a header value escapes, in frames other than CONNECT.
_ESCAPE = {"\\": "\\\\", "\r": "\\r", "\n": "\\n", ":": "\\c"}
_UNESCAPE = {"\\\\": "\\", "\\r": "\r", "\\n": "\n", "\\c": ":"}


def escape(value: str) -> str:
    """Escape a header value (STOMP 1.2 "Value Encoding")."""
    if not any(c in value for c in "\\\r\n:"):
        return value
    return "".join(_ESCAPE.get(c, c) for c in value)


def unescape(value: str) -> str:
    """Undo :func:`escape`; unknown escapes are left as they are (the server is trusted)."""
    if "\\" not in value:
        return value
    out: List[str] = []
    i = 0
    while i < len(value):
        pair = value[i : i + 2]
        if pair in _UNESCAPE:
            out.append(_UNESCAPE[pair])
            i += 2
        else:
            out.append(value[i])
            i += 1
    return "".join(out)


def encode(command: str, headers: Optional[Dict[str, str]] = None, body: str = "") -> str:
    """Serialize one frame as text (the form a WebSocket text message carries).

    CONNECT/STOMP headers are not escaped (STOMP 1.2 "Value Encoding" exempts them).
    ``content-length`` is not added: bodies here never contain NUL.
    """
    lines = [command]
    if headers:
        if command in ("CONNECT", "STOMP"):
            lines.extend("%s:%s" % (k, v) for k, v in headers.items())
        else:
            lines.extend("%s:%s" % (escape(k), escape(v)) for k, v in headers.items())
    return "\n".join(lines) + "\n\n" + body + "\x00"


def connect(host: str, login: str = "", passcode: str = "", heart_beat: str = "0,0") -> str:
    """A STOMP 1.2 CONNECT frame; the JWT (or password) travels in ``passcode``."""
    headers = {"accept-version": "1.2", "host": host, "heart-beat": heart_beat}
    if login:
        headers["login"] = login
    if passcode:
        headers["passcode"] = passcode
    return encode("CONNECT", headers)


def subscribe(
    sub_id: str, destination: str, receipt: Optional[str] = None, last_seq: Optional[int] = None
) -> str:
    """A SUBSCRIBE frame (``ack:auto``), optionally with a receipt and ``last-seq``."""
    headers = {"id": sub_id, "destination": destination, "ack": "auto"}
    if last_seq is not None:
        headers["last-seq"] = str(last_seq)
    if receipt is not None:
        headers["receipt"] = receipt
    return encode("SUBSCRIBE", headers)


def send(destination: str, body: str, receipt: Optional[str] = None) -> str:
    """A SEND frame carrying a JSON body, optionally asking for a RECEIPT."""
    headers = {"destination": destination, "content-type": "application/json"}
    if receipt is not None:
        headers["receipt"] = receipt
    return encode("SEND", headers, body)


def split_frames(text: str) -> Iterator[Tuple[str, str, str]]:
    """Yield ``(command, raw_header_block, body)`` for each frame in ``text``.

    ``text`` holds whole frames (a WebSocket message, or one string of a SockJS array).
    Heart-beat EOLs before a frame are skipped.  The header block is returned raw,
    starting and ending with ``"\n"``; :func:`header` finds one header in it without
    building a dict.
    """
    start = 0
    end = len(text)
    while start < end:
        # Skip heart-beat EOLs (STOMP 1.2 "Heart-beating").
        while start < end and text[start] in "\r\n":
            start += 1
        if start >= end:
            return
        nul = text.find("\x00", start)
        if nul < 0:
            nul = end
        eol = text.find("\n", start, nul)
        if eol < 0:
            yield text[start:nul].rstrip("\r"), "\n", ""
        else:
            command = text[start:eol].rstrip("\r")
            blank = text.find("\n\n", eol, nul)
            if blank >= 0:
                yield command, text[eol : blank + 1], text[blank + 2 : nul]
            else:
                crlf = text.find("\r\n\r\n", eol, nul)
                if crlf >= 0:
                    yield command, text[eol : crlf + 2], text[crlf + 4 : nul]
                else:
                    yield command, text[eol:nul] + "\n", ""
        start = nul + 1


def header(block: str, name: str) -> Optional[str]:
    """The first value of header ``name`` in a raw header block, unescaped.

    STOMP 1.2 "Repeated Header Entries": the first occurrence wins.
    """
    key = "\n" + name + ":"
    i = block.find(key)
    if i < 0:
        return None
    j = i + len(key)
    k = block.find("\n", j)
    return unescape(block[j:k].rstrip("\r"))


def headers(block: str) -> Dict[str, str]:
    """All headers of a raw header block as a dict (first occurrence wins)."""
    out: Dict[str, str] = {}
    for line in block.split("\n"):
        line = line.rstrip("\r")
        if not line:
            continue
        key, _, value = line.partition(":")
        key = unescape(key)
        if key not in out:
            out[key] = unescape(value)
    return out
