"""STOMP frames and their serialization (STOMP 1.2 "STOMP Frames").

A frame is a command, headers and a body::

    COMMAND EOL *( header EOL ) EOL *OCTET NULL

:func:`serialize` writes one for a given protocol version (escaping per
:mod:`nexus_tornado.stomp.escaping`). :class:`MessageTemplate` is the broadcast hot
path: one publish is rendered for many subscribers, so the part every subscriber
shares is encoded once per escaping dialect and only the ``subscription`` (and
``ack``) header is added per subscriber.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Dict, List, Mapping, Optional, Tuple

from .escaping import RAW, dialect_for, escape, escape_name

SUPPORTED_VERSIONS = ("1.0", "1.1", "1.2")

#: Commands a client sends (STOMP 1.2 "Client Frames", plus CONNECT/STOMP).
CLIENT_COMMANDS = frozenset(
    {
        "CONNECT",
        "STOMP",
        "SEND",
        "SUBSCRIBE",
        "UNSUBSCRIBE",
        "ACK",
        "NACK",
        "BEGIN",
        "COMMIT",
        "ABORT",
        "DISCONNECT",
    }
)
#: Commands a server sends (STOMP 1.2 "Server Frames", plus CONNECTED).
SERVER_COMMANDS = frozenset({"CONNECTED", "MESSAGE", "RECEIPT", "ERROR"})
COMMANDS = CLIENT_COMMANDS | SERVER_COMMANDS

#: Header names whose values are secret: never shown by ``repr``.
SECRET_HEADERS = frozenset({"passcode", "authorization"})

# Escaping dialect of a MESSAGE frame per version (MESSAGE is always escaped from 1.1).
_MESSAGE_DIALECTS: Dict[str, str] = {"1.0": RAW, "1.1": "1.1", "1.2": "1.2"}
# Headers a template never carries in its shared part: they are per subscriber or
# computed.
_PER_RENDER_HEADERS = frozenset({"subscription", "ack", "content-length"})
#: Distinct (dialect, subscription id) frames one template keeps. Templates outlive
#: their broadcast (pending ACKs, catch-up buffers, the hub's recent templates), so the
#: cache is bounded, in number and in bytes (:func:`render_cache_budget`).
RENDER_CACHE_SIZE = 8
#: Bytes per template counted for its object, dicts and bookkeeping (see ``footprint``).
TEMPLATE_OVERHEAD = 1024


def render_cache_budget(body_length: int, header_bytes: int) -> int:
    """Bytes of cached frames one template may keep: about two complete frames, so a
    large message costs at most its body and two copies however many distinct
    subscription ids its subscribers chose (small messages still keep several)."""
    return 2 * (body_length + 2 * header_bytes + 256)
#: Escaped, encoded ``subscription`` header values kept across templates: a
#: subscription's id is the same in every MESSAGE it gets. Emptied when full.
SUBSCRIPTION_CACHE_SIZE = 4096
_subscription_bytes: Dict[Tuple[str, str], bytes] = {}


def _escaped_subscription(key: Tuple[str, str]) -> bytes:
    """The ``subscription`` header value for ``(dialect, id)``, escaped and encoded."""
    value = _subscription_bytes.get(key)
    if value is None:
        if len(_subscription_bytes) >= SUBSCRIPTION_CACHE_SIZE:
            _subscription_bytes.clear()
        value = _subscription_bytes[key] = escape(key[1], key[0]).encode("utf-8")
    return value


def _redacted(headers: Mapping[str, str]) -> Dict[str, str]:
    return {
        name: ("<redacted>" if name.lower() in SECRET_HEADERS else value)
        for name, value in headers.items()
    }


@dataclass
class Frame:
    """One STOMP frame: a command, its headers (first value of each name) and a body."""

    command: str
    headers: Dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def __repr__(self) -> str:
        # CONNECT frames carry credentials (passcode, Authorization): keep them out of
        # logs and tracebacks.
        return (
            f"Frame(command={self.command!r}, headers={_redacted(self.headers)!r}, "
            f"body={self.body!r})"
        )


def _check_version(version: str) -> None:
    if version not in SUPPORTED_VERSIONS:
        raise ValueError(f"unsupported STOMP version {version!r}")


def serialize(frame: Frame, version: str = "1.2") -> bytes:
    """Encode ``frame`` for a peer speaking ``version``.

    Headers are escaped per version (none for 1.0 and for CONNECT/STOMP/CONNECTED).
    ``content-length`` is always written by this function, from the body, when the
    body is non-empty or the frame names one (STOMP 1.2 "Header content-length":
    SHOULD be included on frames with a body); any value already in ``headers`` is
    replaced so it can never disagree with the body.
    """
    _check_version(version)
    dialect = dialect_for(frame.command, version)
    parts: List[str] = [frame.command, "\n"]
    for name, value in frame.headers.items():
        if name == "content-length":
            continue
        parts.append(escape_name(name, dialect))
        parts.append(":")
        parts.append(escape(value, dialect))
        parts.append("\n")
    body = frame.body
    if body or "content-length" in frame.headers:
        parts.append(f"content-length:{len(body)}\n")
    parts.append("\n")
    return b"".join(("".join(parts).encode("utf-8"), body, b"\x00"))


def is_utf8(data: bytes) -> bool:
    """Whether ``data`` is UTF-8 text (a body that can travel in a text message)."""
    if data.isascii():
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


class MessageTemplate:
    """A MESSAGE shared by all subscribers of one publish.

    The shared headers (``destination``, ``message-id``, ``seq``, ``content-type``,
    ...) and ``content-length`` are encoded once per escaping dialect and cached;
    :meth:`render` adds only ``subscription`` (and ``ack`` when given) for each
    subscriber. ``headers`` is a read-only snapshot.

    ``seq`` is the message's number in its destination as an ``int``, carried beside
    the frame so nobody parses it back from the ``seq`` header (which the caller
    writes, from the same number); 0 for a message outside any numbering (such as a
    presence snapshot).
    """

    __slots__ = ("headers", "body", "seq", "binary", "_prefixes", "_rendered", "_cached", "_budget", "_header_bytes")

    def __init__(self, headers: Mapping[str, str], body: bytes, seq: int = 0) -> None:
        self.headers: Mapping[str, str] = MappingProxyType(dict(headers))
        self.body: bytes = bytes(body)
        self.seq: int = seq
        #: True when the body is not UTF-8: the frame can only travel as binary data
        #: (a WebSocket binary message), never as text.
        self.binary: bool = not is_utf8(self.body)
        self._prefixes: Dict[str, bytes] = {}
        # Complete frames without ``ack``, per (dialect, subscription id): clients of
        # one library tend to pick the same ids (stompjs: "sub-0"), so most subscribers
        # of a publish get the very same bytes object.
        self._rendered: Dict[Tuple[str, str], bytes] = {}
        self._cached = 0
        self._header_bytes = sum(len(n) + len(v) + 2 for n, v in self.headers.items()) + 64
        self._budget = render_cache_budget(len(self.body), self._header_bytes)

    def footprint(self) -> int:
        """The most bytes this template can come to hold, however it is rendered: the
        body, the headers, one encoded prefix per escaping dialect (escaping at most
        doubles a header) and the cached frames (:func:`render_cache_budget`). Fixed
        at construction, so a cache can account for templates by it."""
        return len(self.body) + 8 * self._header_bytes + self._budget + TEMPLATE_OVERHEAD

    def __repr__(self) -> str:
        return f"MessageTemplate(headers={dict(self.headers)!r}, body={self.body!r}, seq={self.seq!r})"

    def _build_prefix(self, dialect: str) -> bytes:
        parts: List[str] = ["MESSAGE\n"]
        for name, value in self.headers.items():
            if name in _PER_RENDER_HEADERS:
                continue
            parts.append(escape_name(name, dialect))
            parts.append(":")
            parts.append(escape(value, dialect))
            parts.append("\n")
        if self.body:
            parts.append(f"content-length:{len(self.body)}\n")
        parts.append("subscription:")
        prefix = "".join(parts).encode("utf-8")
        self._prefixes[dialect] = prefix
        return prefix

    def render(
        self, subscription_id: str, version: str = "1.2", ack_id: Optional[str] = None
    ) -> bytes:
        """The complete MESSAGE frame for one subscription.

        ``ack_id`` adds the STOMP 1.2 ``ack`` header; callers pass it only for 1.2
        sessions with a client acknowledgement mode.
        """
        try:
            dialect = _MESSAGE_DIALECTS[version]
        except KeyError:
            raise ValueError(f"unsupported STOMP version {version!r}") from None
        key = (dialect, subscription_id)
        if ack_id is None:
            frame = self._rendered.get(key)
            if frame is not None:
                return frame
        prefix = self._prefixes.get(dialect)
        if prefix is None:
            prefix = self._build_prefix(dialect)
        sub = _subscription_bytes.get(key) or _escaped_subscription(key)
        if ack_id is None:
            frame = b"".join((prefix, sub, b"\n\n", self.body, b"\x00"))
            if len(self._rendered) < RENDER_CACHE_SIZE and self._cached + len(frame) <= self._budget:
                self._rendered[key] = frame
                self._cached += len(frame)
            return frame
        ack = escape(ack_id, dialect).encode("utf-8")
        return b"".join((prefix, sub, b"\nack:", ack, b"\n\n", self.body, b"\x00"))


class FrameCounts:
    """Frames received (by command) and sent (CONNECTED, RECEIPT, ERROR) by sessions.

    One instance may be shared by every session of a server, for its metrics. MESSAGE
    frames are not counted here: a server counts its deliveries per publish, not per
    subscriber.
    """

    __slots__ = ("received", "sent")

    def __init__(self) -> None:
        self.received: Dict[str, int] = {}
        self.sent: Dict[str, int] = {}

    def count_sent(self, command: str) -> None:
        self.sent[command] = self.sent.get(command, 0) + 1
