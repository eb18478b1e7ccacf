"""What a :class:`~nexus_tornado.stomp.session.StompSession` reports to its driver.

Frozen dataclasses named after the STOMP verbs that caused them. Each carries what
the driver needs to act (authenticate, subscribe, publish, acknowledge) and the
``receipt`` the client asked for, if any: the driver sends that RECEIPT once the work
is done (STOMP 1.2 "Header receipt").

Credentials never appear in a ``repr``: ``Connect.passcode`` and the raw CONNECT
headers (which hold ``passcode`` and ``Authorization``) are left out of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Optional, Tuple, Union

from .frame import MessageTemplate


@dataclass(frozen=True)
class Connect:
    """A CONNECT or STOMP frame: the driver authenticates, then calls
    ``accept_connect`` or ``reject_connect``.

    ``accept_versions`` is what the client offered (``("1.0",)`` when it sent no
    ``accept-version``); ``version`` is the one negotiated; ``heartbeat`` the client's
    ``heart-beat`` header as (cx, cy) in milliseconds.
    """

    headers: Mapping[str, str] = field(repr=False)
    accept_versions: Tuple[str, ...]
    host: Optional[str]
    login: Optional[str]
    passcode: Optional[str] = field(repr=False)
    version: str = "1.2"
    heartbeat: Tuple[int, int] = (0, 0)


@dataclass(frozen=True)
class Subscribe:
    """A SUBSCRIBE, already recorded by the session (the driver calls
    ``drop_subscription`` if it refuses it). ``ack`` is ``auto``, ``client`` or
    ``client-individual``; ``headers`` carries extensions such as ``last-seq``."""

    subscription_id: str
    destination: str
    ack: str
    headers: Mapping[str, str]
    receipt: Optional[str]


@dataclass(frozen=True)
class Unsubscribe:
    """An UNSUBSCRIBE of a known subscription (already removed from the session)."""

    subscription_id: str
    destination: str
    receipt: Optional[str]


@dataclass(frozen=True)
class Send:
    """A SEND (outside a transaction, or released by its COMMIT: then ``transaction``
    names it, and the driver already saw the SEND when it was held)."""

    destination: str
    body: bytes
    headers: Mapping[str, str]
    receipt: Optional[str]
    transaction: Optional[str] = None


@dataclass(frozen=True)
class _Settlement:
    """What ACK and NACK share: the subscription and the messages, oldest first."""

    subscription_id: str
    messages: Tuple[MessageTemplate, ...]
    receipt: Optional[str]


@dataclass(frozen=True)
class Ack(_Settlement):
    """An ACK, resolved to the messages it acknowledges, oldest first.

    Under ``ack:client`` an ACK is cumulative (every earlier pending message of the
    subscription too); under ``client-individual`` it is just the one (STOMP 1.2
    "SUBSCRIBE ack Header").
    """


@dataclass(frozen=True)
class Nack(_Settlement):
    """A NACK, resolved like :class:`Ack` (a NACK is not an ACK: neither is the other)."""


@dataclass(frozen=True)
class TooLarge:
    """A frame whose body exceeded the size limit; its body was skipped, the
    connection stays open. ``content_length`` is the declared length, if any."""

    command: str
    headers: Mapping[str, str] = field(repr=False)
    receipt: Optional[str] = None
    content_length: Optional[int] = None


@dataclass(frozen=True)
class ReceiptRequested:
    """A frame the session handled itself (BEGIN, COMMIT, ABORT, or an ACK of an
    already settled message) asked for a receipt; send it after what came before."""

    receipt_id: str


@dataclass(frozen=True)
class Disconnect:
    """A DISCONNECT: send the receipt (if any) after prior work, then close.

    The session ignores anything the client sends after it."""

    receipt: Optional[str]


Event = Union[
    Connect, Subscribe, Unsubscribe, Send, Ack, Nack, TooLarge, ReceiptRequested, Disconnect
]
