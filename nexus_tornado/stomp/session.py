"""The server side of one STOMP connection, as a state machine without I/O.

Bytes from the client go in through :meth:`StompSession.receive_data`; what the client
asked for comes out of :meth:`StompSession.events_received`; the frames to write come
out of :meth:`StompSession.data_to_send`. The driver answers events with the
``accept_connect`` / ``send_*`` / ``drop_subscription`` actions.

States (``State``), the client commands each accepts, the handler of each and the
state it leads to are data (``TRANSITIONS``, as in h11's ``_state.py``); any other
(state, command) pair is a protocol error. A protocol error never raises out of
``receive_data``: the session queues an ERROR frame whose ``message`` header says why
and whose body gives detail, and moves to CLOSED (STOMP 1.2 "ERROR": the server closes
the connection after sending it)::

    AWAIT_CONNECT --CONNECT/STOMP--> CONNECTING --accept_connect--> CONNECTED
          |                              |                              |
          +------ protocol error, reject_connect, send_error -----> CLOSED

While CONNECTING (the driver is authenticating) frames the client pipelined are held,
up to a bound, and handled after ``accept_connect``. Messages awaiting ACK/NACK are
kept by :class:`~.acks.PendingAcks`; heart-beat negotiation is :mod:`.heartbeat`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Callable, Dict, List, Mapping, NamedTuple, Optional, Tuple, Type, Union

from ..errors import NexusError, ProtocolError
from . import events
from .acks import PendingAcks
from .frame import SUPPORTED_VERSIONS, Frame, FrameCounts, MessageTemplate, serialize
from .escaping import dialect_for, escape
from .heartbeat import negotiate_heartbeat, parse_heartbeat
from .parser import FrameParser, Oversized
from .transactions import HoldHook, Transactions

#: STOMP 1.2 "SUBSCRIBE ack Header".
ACK_MODES = frozenset({"auto", "client", "client-individual"})


class State(enum.Enum):
    """Where a STOMP connection is in its life."""

    AWAIT_CONNECT = "await-connect"  # transport open, no CONNECT yet
    CONNECTING = "connecting"  # CONNECT received, the driver is authenticating
    CONNECTED = "connected"  # CONNECTED sent
    CLOSED = "closed"  # ERROR sent (or sending nothing more); close the transport


class SessionStateError(NexusError):
    """A server action was called in a state where it makes no sense (a driver bug)."""


@dataclass(frozen=True)
class Subscription:
    """A live subscription: its client-chosen ``id``, ``destination`` and ``ack`` mode."""

    id: str
    destination: str
    ack: str
    headers: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)


def _violation(message: str, detail: str = "") -> ProtocolError:
    return ProtocolError(message, log_detail=detail or message)


class _VersionMismatch(ProtocolError):
    """No protocol version in common: the ERROR lists the supported ones."""


def _refusal(state: State, command: str) -> str:
    """The ERROR ``message`` for a command the state does not accept."""
    if state is State.AWAIT_CONNECT:
        return "not connected"
    if command in ("CONNECT", "STOMP"):
        return "already connected"
    return "unexpected frame"


class StompSession:
    """One client's STOMP session, driven by bytes in and actions from the server.

    Limits are constructor parameters: frame body size (larger bodies become
    :class:`~nexus_tornado.stomp.events.TooLarge`), header block size and count,
    subscriptions, open transactions and the frames each may hold, messages awaiting
    an ACK per subscription, and frames held while CONNECTING.
    """

    # One per connection: no per-instance dict.
    __slots__ = (
        "server_name", "server_heartbeat", "max_subscriptions", "max_connecting_frames", "state", "version",
        "heartbeat", "client_heartbeat", "disconnecting", "close_reason", "close_detail",
        "_parser", "_events", "_out", "_subscriptions", "subscriptions", "_acks",
        "_transactions", "_committing", "_held", "_receipt", "_counts",
    )

    def __init__(
        self,
        *,
        server_name: str,
        heartbeat: Tuple[int, int] = (10000, 10000),
        max_frame_size: int = 65536,
        max_transaction_frames: int = 100,
        max_subscriptions: int = 100,
        max_transactions: int = 10,
        max_pending_acks: int = 1000,
        max_connecting_frames: int = 32,
        max_header_bytes: int = 8192,
        max_headers: int = 64,
        on_hold: Optional[HoldHook] = None,
        counts: Optional[FrameCounts] = None,
    ) -> None:
        if len(heartbeat) != 2 or min(heartbeat) < 0:
            raise ValueError("heartbeat must be two non-negative millisecond periods")
        self.server_name = server_name
        self.server_heartbeat: Tuple[int, int] = (int(heartbeat[0]), int(heartbeat[1]))
        self.max_subscriptions = max_subscriptions
        self.max_connecting_frames = max_connecting_frames

        self.state = State.AWAIT_CONNECT
        #: The negotiated STOMP version, once a CONNECT was received.
        self.version: Optional[str] = None
        #: (send_every_ms, expect_every_ms) negotiated in ``accept_connect``; 0 = off.
        self.heartbeat: Tuple[int, int] = (0, 0)
        #: The client's ``heart-beat`` header (cx, cy).
        self.client_heartbeat: Tuple[int, int] = (0, 0)
        #: True once a DISCONNECT was received: further input is ignored.
        self.disconnecting = False
        #: Why the session closed (the ERROR ``message``), and the detail (its body).
        self.close_reason: Optional[str] = None
        self.close_detail: Optional[str] = None

        self._parser = FrameParser(max_frame_size, max_header_bytes, max_headers)
        self._events: List[events.Event] = []
        self._out: List[bytes] = []
        self._subscriptions: Dict[str, Subscription] = {}
        self.subscriptions: Mapping[str, Subscription] = MappingProxyType(self._subscriptions)
        # Messages awaiting ACK/NACK, keyed by the ack id (1.2) or message-id (1.0/1.1).
        self._acks = PendingAcks(max_pending_acks)
        #: Open transactions; ``on_hold`` is asked before each frame is held in one.
        self._transactions = Transactions(max_transactions, max_transaction_frames, on_hold)
        self._committing: Optional[str] = None  # the transaction a COMMIT is releasing
        self._held: List[Union[Frame, Oversized]] = []
        self._receipt: Optional[str] = None  # receipt of the frame being handled
        #: Frames received and sent, by command (shared by the sessions of one server).
        self._counts = counts if counts is not None else FrameCounts()

    # -- properties ------------------------------------------------------------------

    @property
    def max_transactions(self) -> int:
        """Open transactions allowed at once (kept by the session's transactions)."""
        return self._transactions.max_transactions

    @property
    def max_transaction_frames(self) -> int:
        """Frames one transaction may hold."""
        return self._transactions.max_frames

    @property
    def max_pending_acks(self) -> int:
        """Messages awaiting an ACK per subscription (kept by the pending ACKs)."""
        return self._acks.limit

    @property
    def closed(self) -> bool:
        """True once the state is CLOSED: flush ``data_to_send`` then close."""
        return self.state is State.CLOSED

    @property
    def transaction_bytes(self) -> int:
        """Bytes of the frames held in open transactions now."""
        return self._transactions.held_bytes

    @property
    def heartbeats_received(self) -> int:
        """EOL heart-beats the client has sent between frames."""
        return self._parser.heartbeats_received

    # -- input -----------------------------------------------------------------------

    def receive_data(self, data: Union[str, bytes]) -> None:
        """Feed bytes from the client (a ``str`` is UTF-8 encoded first).

        Never raises for anything the client sent: a protocol violation queues an
        ERROR and closes the session. Input after CLOSED or DISCONNECT is ignored.
        """
        if self.state is State.CLOSED or self.disconnecting:
            return
        if isinstance(data, str):
            # Lone surrogates survive as bytes that fail UTF-8 checks downstream.
            data = data.encode("utf-8", "surrogatepass")
        try:
            self._parser.feed(data)
            while not self.closed and not self.disconnecting:
                event = self._parser.next_event()
                if event is None:
                    break
                self._dispatch(event)
        except ProtocolError as exc:
            self._fail(exc)

    def events_received(self) -> List[events.Event]:
        """Events since the last call, oldest first."""
        received, self._events = self._events, []
        return received

    # -- output ----------------------------------------------------------------------

    def data_to_send(self) -> List[bytes]:
        """Frames to write since the last call, one item per frame (or heart-beat)."""
        out, self._out = self._out, []
        return out

    # -- server actions --------------------------------------------------------------

    def accept_connect(
        self, *, session_id: str, user_name: str, extra_headers: Optional[Mapping[str, str]] = None
    ) -> None:
        """Answer the CONNECT with CONNECTED, then handle frames held meanwhile."""
        if self.state is State.CLOSED:
            return
        if self.state is not State.CONNECTING or self.version is None:
            raise SessionStateError(f"accept_connect in state {self.state.name}")
        version = self.version
        headers: Dict[str, str] = {"version": version}
        if version != "1.0":
            # STOMP 1.2 "Heart-beating": CONNECTED carries the server's (sx, sy).
            self.heartbeat = negotiate_heartbeat(self.client_heartbeat, self.server_heartbeat)
            headers["heart-beat"] = "%d,%d" % self.server_heartbeat
        headers["session"] = session_id
        headers["server"] = self.server_name
        headers["user-name"] = user_name
        if extra_headers:
            headers.update(extra_headers)
        self._out.append(serialize(Frame("CONNECTED", headers), version))
        self._counts.count_sent("CONNECTED")
        self.state = State.CONNECTED
        held, self._held = self._held, []
        try:
            for event in held:
                if self.state is State.CLOSED or self.disconnecting:
                    break
                self._dispatch(event)
        except ProtocolError as exc:
            self._fail(exc)

    def reject_connect(self, message: str, detail: str = "") -> None:
        """Refuse the CONNECT: ERROR (``message`` says why), then CLOSED."""
        self.send_error(message, detail)

    def send_receipt(self, receipt_id: str) -> None:
        """Queue a RECEIPT for ``receipt_id``."""
        if self.state is State.CLOSED:
            return
        # serialize(Frame("RECEIPT", {"receipt-id": receipt_id})), written out: one per SEND.
        value = escape(receipt_id, dialect_for("RECEIPT", self.version or "1.2"))
        self._out.append(b"RECEIPT\nreceipt-id:" + value.encode("utf-8") + b"\n\n\x00")
        self._counts.count_sent("RECEIPT")

    def send_error(
        self, message: str, detail: str = "", receipt_id: Optional[str] = None, *,
        headers: Optional[Mapping[str, str]] = None, content_type: str = "text/plain;charset=utf-8",
    ) -> None:
        """Queue an ERROR (body ``detail`` of ``content_type``, plus ``headers``) and
        close (STOMP 1.2 "ERROR")."""
        if self.state is State.CLOSED:
            return
        self._close_with_error(message, detail, receipt_id, headers, content_type)

    def send_message(self, subscription_id: str, template: MessageTemplate) -> None:
        """Deliver a published message on one subscription.

        Under ``client``/``client-individual`` acknowledgement the message is kept as
        pending until ACKed or NACKed: with STOMP 1.2 the MESSAGE carries an ``ack``
        header with a session-unique id; with 1.0/1.1 the client acknowledges by
        ``message-id``. At most ``max_pending_acks`` stay pending per subscription
        (the oldest is then forgotten). A subscription that no longer exists is
        skipped silently (it may have ended while the message was on its way).
        """
        if self.state is not State.CONNECTED or self.disconnecting:
            return
        subscription = self._subscriptions.get(subscription_id)
        if subscription is None:
            return
        version = self.version or "1.2"
        if subscription.ack == "auto":
            self._out.append(template.render(subscription_id, version))
            return
        if version == "1.2":
            key = self._acks.new_ack_id(subscription_id)
            data = template.render(subscription_id, version, key)
        else:
            key = template.headers.get("message-id", "")
            data = template.render(subscription_id, version)
        self._acks.add(subscription_id, key, template)
        self._out.append(data)

    def drop_subscription(self, subscription_id: str) -> None:
        """End a subscription from the server side (e.g. the ACL refused it).

        Nothing is sent to the client; the driver reports the reason its own way.
        """
        if self._subscriptions.pop(subscription_id, None) is not None:
            self._acks.close(subscription_id)

    def send_heartbeat(self) -> None:
        """Queue an EOL heart-beat (only once CONNECTED)."""
        if self.state is State.CONNECTED:
            self._out.append(b"\n")

    # -- dispatch --------------------------------------------------------------------

    def _dispatch(self, event: Union[Frame, Oversized]) -> None:
        received = self._counts.received
        received[event.command] = received.get(event.command, 0) + 1
        self._receipt = event.headers.get("receipt")
        if isinstance(event, Oversized):
            self._on_oversized(event)
            self._receipt = None
            return
        transition = TRANSITIONS[self.state].get(event.command)
        if transition is None:
            raise _violation(
                _refusal(self.state, event.command),
                f"{event.command} frame not allowed in state {self.state.name}",
            )
        transition.handler(self, event)
        self.state = transition.next_state
        # Handled: a later fault (say, malformed bytes) is not about this frame.
        self._receipt = None

    def _fail(self, exc: ProtocolError) -> None:
        extra: Dict[str, str] = {}
        if isinstance(exc, _VersionMismatch):
            extra["version"] = ",".join(SUPPORTED_VERSIONS)
        self._close_with_error(exc.message, exc.log_detail, self._receipt, extra)

    def _close_with_error(
        self,
        message: str,
        detail: str,
        receipt_id: Optional[str],
        extra: Optional[Mapping[str, str]] = None,
        content_type: str = "text/plain;charset=utf-8",
    ) -> None:
        headers: Dict[str, str] = {"message": message}
        if receipt_id is not None:
            headers["receipt-id"] = receipt_id
        if extra:
            headers.update(extra)
        body = detail.encode("utf-8", "replace")
        if body:
            headers["content-type"] = content_type
        self._out.append(serialize(Frame("ERROR", headers, body), self.version or "1.2"))
        self._counts.count_sent("ERROR")
        self.close_reason = message
        self.close_detail = detail
        self.state = State.CLOSED
        self._held.clear()
        self._transactions.clear()

    # -- handlers --------------------------------------------------------------------

    def _on_oversized(self, event: Oversized) -> None:
        if self.state is State.AWAIT_CONNECT:
            raise _violation("frame too large", f"{event.command} frame body over the size limit")
        if self.state is State.CONNECTING:
            self._hold(event)
            return
        self._events.append(
            events.TooLarge(event.command, event.headers, event.headers.get("receipt"), event.content_length)
        )

    def _on_connect(self, frame: Frame) -> None:
        headers = frame.headers
        # STOMP 1.2 "Protocol Negotiation": no accept-version means 1.0.
        raw = headers.get("accept-version")
        offered = tuple(v.strip() for v in raw.split(",") if v.strip()) if raw is not None else ("1.0",)
        common = [v for v in SUPPORTED_VERSIONS if v in offered]
        if not common:
            raise _VersionMismatch(
                "unsupported protocol version",
                log_detail=f"supported versions are {','.join(SUPPORTED_VERSIONS)}",
            )
        version = common[-1]
        client_heartbeat = (0, 0)
        beat = headers.get("heart-beat")
        if version != "1.0" and beat is not None:
            try:
                client_heartbeat = parse_heartbeat(beat)
            except ValueError as exc:
                raise _violation("invalid heart-beat", str(exc)) from None
        self.version = version
        self._parser.version = version
        self.client_heartbeat = client_heartbeat
        self._events.append(
            events.Connect(
                headers=headers,
                accept_versions=offered,
                host=headers.get("host"),
                login=headers.get("login"),
                passcode=headers.get("passcode"),
                version=version,
                heartbeat=client_heartbeat,
            )
        )

    def _on_pipelined(self, frame: Frame) -> None:
        self._hold(frame)

    def _hold(self, event: Union[Frame, Oversized]) -> None:
        if len(self._held) >= self.max_connecting_frames:
            raise _violation(
                "too many frames before CONNECTED",
                f"at most {self.max_connecting_frames} frames may follow CONNECT before CONNECTED",
            )
        self._held.append(event)

    def _in_transaction(self, frame: Frame) -> bool:
        """Hold ``frame`` if it names a transaction; True if it was (or was refused)."""
        name = frame.headers.get("transaction")
        if name is None:
            return False
        self._transactions.hold(name, frame)
        return True

    def _on_send(self, frame: Frame) -> None:
        destination = self._required(frame, "destination")
        if self._in_transaction(frame):
            return
        self._events.append(events.Send(destination, frame.body, frame.headers, self._receipt, self._committing))

    def _on_subscribe(self, frame: Frame) -> None:
        headers = frame.headers
        destination = self._required(frame, "destination")
        subscription_id = headers.get("id")
        if not subscription_id:
            if self.version != "1.0":
                raise _violation("missing header", "SUBSCRIBE needs an 'id' header")
            subscription_id = destination  # STOMP 1.0: id is optional
        ack = headers.get("ack", "auto")
        if ack not in ACK_MODES:
            raise _violation("invalid ack mode", f"ack must be one of {', '.join(sorted(ACK_MODES))}")
        if subscription_id in self._subscriptions:
            raise _violation("duplicate subscription", f"subscription id {subscription_id!r} is in use")
        if len(self._subscriptions) >= self.max_subscriptions:
            raise _violation(
                "too many subscriptions", f"at most {self.max_subscriptions} subscriptions per session"
            )
        self._subscriptions[subscription_id] = Subscription(subscription_id, destination, ack, headers)
        self._events.append(events.Subscribe(subscription_id, destination, ack, headers, self._receipt))

    def _on_unsubscribe(self, frame: Frame) -> None:
        subscription_id = frame.headers.get("id")
        if not subscription_id and self.version == "1.0":
            # STOMP 1.0 may unsubscribe by destination.
            destination = frame.headers.get("destination")
            for candidate in self._subscriptions.values():
                if candidate.destination == destination:
                    subscription_id = candidate.id
                    break
        if not subscription_id:
            raise _violation("missing header", "UNSUBSCRIBE needs an 'id' header")
        subscription = self._subscriptions.pop(subscription_id, None)
        if subscription is None:
            raise _violation("unknown subscription", f"no subscription with id {subscription_id!r}")
        self._acks.close(subscription_id)
        self._events.append(events.Unsubscribe(subscription_id, subscription.destination, self._receipt))

    def _on_ack(self, frame: Frame) -> None:
        self._acknowledge(frame, events.Ack)

    def _on_nack(self, frame: Frame) -> None:
        self._acknowledge(frame, events.Nack)

    def _acknowledge(self, frame: Frame, kind: Union[Type[events.Ack], Type[events.Nack]]) -> None:
        self._required(frame, "id" if self.version == "1.2" else "message-id")
        if self._in_transaction(frame):
            return
        headers = frame.headers
        subscription_id: Optional[str]
        acks = self._acks
        if self.version == "1.2":
            key = self._required(frame, "id")
            subscription_id = acks.subscription_of(key)
        else:
            key = self._required(frame, "message-id")
            subscription_id = headers.get("subscription")
            if subscription_id is None:
                if self.version == "1.1":
                    raise _violation("missing header", f"{frame.command} needs a 'subscription' header")
                # STOMP 1.0 ACK names only the message.
                subscription_id = acks.subscription_holding(key)
        if subscription_id is None or not acks.is_pending(subscription_id, key):
            if acks.is_settled(key):
                # Already settled (by a cumulative ACK, or forgotten): nothing to do.
                self._receipt_only()
                return
            raise _violation("unknown ack id", f"{frame.command} of a message that is not pending")
        # ack:client is cumulative: this message and every earlier one of the subscription.
        cumulative = self._subscriptions[subscription_id].ack == "client"
        messages = acks.take(subscription_id, key, cumulative)
        self._events.append(kind(subscription_id, tuple(messages), self._receipt))

    def _on_begin(self, frame: Frame) -> None:
        self._transactions.begin(self._required(frame, "transaction"))
        self._receipt_only()

    def _on_commit(self, frame: Frame) -> None:
        frames = self._end_transaction(frame)
        receipt = self._receipt
        self._committing = frame.headers["transaction"]
        for held in frames:
            # Handle each as if it arrived now, outside the transaction.
            headers = {k: v for k, v in held.headers.items() if k != "transaction"}
            released = Frame(held.command, headers, held.body)
            self._receipt = headers.get("receipt")
            TRANSITIONS[State.CONNECTED][released.command].handler(self, released)
        self._committing = None
        self._receipt = receipt
        self._receipt_only()

    def _on_abort(self, frame: Frame) -> None:
        self._end_transaction(frame)
        self._receipt_only()

    def _end_transaction(self, frame: Frame) -> List[Frame]:
        return self._transactions.end(self._required(frame, "transaction"))

    def _on_disconnect(self, frame: Frame) -> None:
        # STOMP 1.2 "DISCONNECT": open transactions end with the connection.
        self._transactions.clear()
        self.disconnecting = True
        self._events.append(events.Disconnect(self._receipt))

    # -- helpers ---------------------------------------------------------------------

    def _required(self, frame: Frame, name: str) -> str:
        value = frame.headers.get(name)
        if not value:
            raise _violation("missing header", f"{frame.command} needs a '{name}' header")
        return value

    def _receipt_only(self) -> None:
        if self._receipt is not None:
            self._events.append(events.ReceiptRequested(self._receipt))


class Transition(NamedTuple):
    """What a client command does in a state: run ``handler``, then be in ``next_state``."""

    handler: Callable[[StompSession, Frame], None]
    next_state: State


#: Commands a client may pipeline after CONNECT: held until CONNECTED.
_CLIENT_ONLY = ("SEND", "SUBSCRIBE", "UNSUBSCRIBE", "ACK", "NACK", "BEGIN", "COMMIT", "ABORT", "DISCONNECT")

#: state -> {client command -> Transition}. A command absent from its state's table is
#: a protocol error whose ERROR message comes from ``_refusal``; CLOSED accepts
#: nothing. The server actions move the session too: ``accept_connect`` from
#: CONNECTING to CONNECTED, ``reject_connect`` / ``send_error`` (and any protocol error)
#: to CLOSED.
TRANSITIONS: Mapping[State, Mapping[str, Transition]] = MappingProxyType(
    {
        State.AWAIT_CONNECT: {
            "CONNECT": Transition(StompSession._on_connect, State.CONNECTING),
            "STOMP": Transition(StompSession._on_connect, State.CONNECTING),
        },
        State.CONNECTING: {
            command: Transition(StompSession._on_pipelined, State.CONNECTING) for command in _CLIENT_ONLY
        },
        State.CONNECTED: {
            "SEND": Transition(StompSession._on_send, State.CONNECTED),
            "SUBSCRIBE": Transition(StompSession._on_subscribe, State.CONNECTED),
            "UNSUBSCRIBE": Transition(StompSession._on_unsubscribe, State.CONNECTED),
            "ACK": Transition(StompSession._on_ack, State.CONNECTED),
            "NACK": Transition(StompSession._on_nack, State.CONNECTED),
            "BEGIN": Transition(StompSession._on_begin, State.CONNECTED),
            "COMMIT": Transition(StompSession._on_commit, State.CONNECTED),
            "ABORT": Transition(StompSession._on_abort, State.CONNECTED),
            # DISCONNECT keeps the state; ``disconnecting`` stops further input.
            "DISCONNECT": Transition(StompSession._on_disconnect, State.CONNECTED),
        },
        State.CLOSED: {},
    }
)
