"""One STOMP session over one SockJS (or raw WebSocket) connection.

The glue stays thin: a transport message goes into the sans-I/O
:class:`~nexus_tornado.stomp.StompSession`; the events it yields are dispatched, in
order, to the verifier, the guard and the hub; what the session queued is written back.
sockjs-tornado's callbacks are synchronous, so the events are worked off by one
coroutine per connection (started when there is work, gone when there is none).

Failures of ours never abort the transport silently: the client gets an ERROR frame or
a ``SERVER_ERROR`` on ``/user/queue/errors`` with a tracking id, and the stack trace
goes to the log under the same id.

Connection-level limits enforced here (the defaults are in :mod:`nexus_tornado.settings`):

- frame size: a body over ``max_frame_size`` is ``TOO_LARGE`` (the connection stays);
  one declared (``content-length``) beyond the transport's message limit
  (:func:`~nexus_tornado.transport.base.message_limit`: "far beyond" it) ends the
  connection with ERROR ``frame too large``;
- a flood: more than ``max_queued_frames`` frames waiting to be handled ends it
  with ERROR ``too many frames``;
- a slow consumer: output the client has not taken passing ``max_pending_output``
  ends it with ERROR ``slow consumer`` (see :mod:`.output_limit`);
- and, from the plugin's housekeeping tick, the CONNECT deadline, the idle and
  heart-beat timeouts and token expiry (:meth:`StompConnection.tick`).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
import uuid
from typing import Any, Deque, Dict, List, Optional, Set

from ..errors import AuthError, Rejection, RejectionCode, StoreUnavailable, tracking_id
from ..hub.subscribers import Subscriber
from ..policy.auth import token_from_connect
from ..policy.destinations import ERRORS_DESTINATION, PRESENCE_DESTINATION, notifications_for
from ..policy.principal import Principal
from ..stomp import (
    Ack,
    Connect,
    Disconnect,
    MessageTemplate,
    Nack,
    ReceiptRequested,
    Send,
    State,
    StompSession,
    Subscribe,
    TooLarge,
    Unsubscribe,
)
from ..transport.base import message_limit
from ..transport.close_codes import SHUTDOWN_CLOSE, CloseCode
from ..transport.sockjs_compat import SockJSConnection
from .documents import is_document, resume_point, submit_op
from .flow import PacedOutput, TransactionHold, parse_last_seq
from .keepalive import Keepalive
from .reports import Reports
from .sends import on_send, on_sends, send_run
from .services import CLOSE_REASONS, SERVICES_KEY, ServerStats, Services
from .shutdown import shutdown_close

log = logging.getLogger("nexus_tornado.glue.connection")

_monotonic = time.monotonic
_CLOSED = State.CLOSED

#: The default of ``Settings.max_queued_frames``: most frames waiting to be worked off
#: before the connection counts as flooding.
MAX_QUEUED_EVENTS = 1000
#: Frames still handled after the transport closed (what the client sent before the
#: close and expects done: a message accepted, an acknowledgement recorded), unless the
#: server ended the session with an ERROR.
_HANDLED_AFTER_CLOSE = (Send, Ack, Nack)


class _Subscription(Subscriber):
    """One subscription of one connection, as the hub sees it."""

    __slots__ = ("connection", "id", "destination", "tracked", "held")

    def __init__(self, connection: "StompConnection", sub_id: str, destination: str, tracked: bool) -> None:
        self.connection = connection
        self.id = sub_id
        self.destination = destination
        self.tracked = tracked
        #: Deliveries kept back until the presence snapshot is sent (``None``: none kept).
        self.held: Optional[List[MessageTemplate]] = None

    def deliver(self, template: MessageTemplate) -> None:
        if self.held is not None:
            self.held.append(template)
            return
        self.connection.deliver(self, template)

    def congested(self) -> bool:
        connection = self.connection
        return not connection._closed and connection.output.congested()

    async def drained(self) -> None:
        connection = self.connection
        if not connection._closed:
            await connection.output.drained()

    def __repr__(self) -> str:
        return "<subscription %s %s>" % (self.id, self.destination)


class StompConnection(Keepalive, Reports, SockJSConnection):
    """A sockjs-tornado connection class speaking STOMP; one instance per session.

    Its clocks (deadlines, heart-beats) are in :class:`~.keepalive.Keepalive`, how it
    reports refusals and failures in :class:`~.reports.Reports`."""

    def __init__(self, session: Any) -> None:
        super().__init__(session)
        self.services: Services = session.server.settings[SERVICES_KEY]
        settings = self.services.settings
        self._hold = TransactionHold(self)
        self.stomp = StompSession(
            server_name=self.services.server_name,
            heartbeat=settings.heartbeat,
            max_frame_size=settings.max_frame_size,
            max_subscriptions=settings.max_subscriptions,
            max_header_bytes=settings.max_header_bytes,
            max_headers=settings.max_headers,
            max_connecting_frames=settings.max_connecting_frames,
            max_transactions=settings.max_transactions,
            max_transaction_frames=settings.max_transaction_frames,
            max_pending_acks=settings.max_pending_acks,
            on_hold=self._hold.admit,
            counts=self.services.stats.frames,
        )
        #: Ties this connection's log lines together (and to what its client saw).
        self.conn_id = tracking_id()
        self._close_reason: Optional[str] = None
        self.output = PacedOutput(session, settings.max_pending_output)
        self.principal: Optional[Principal] = None
        self.remote_ip = ""
        self.transport = ""
        self._query_token: Optional[str] = None
        self._subscriptions: Dict[str, _Subscription] = {}
        #: Whether this connection is counted in the per-user count other processes share.
        self._counted = False
        self._errors_subscription: Optional[str] = None
        self._errors_seq = 0
        self._events: Deque[Any] = collections.deque()
        self._working = False
        self._closed = False
        self._heartbeat_timer: Optional[object] = None
        now = time.monotonic()
        self.opened_at = now
        self.last_inbound = now
        self.last_outbound = now

    @property
    def busy(self) -> bool:
        """Whether accepted frames are still being worked off."""
        return self._working or bool(self._events)

    # -- sockjs-tornado callbacks ---------------------------------------------------

    def on_open(self, info: Any) -> None:
        if self.services.closing:
            self.close_with(*shutdown_close(self.services.settings.reconnect_delay))
            return
        self.remote_ip = getattr(info, "ip", "") or ""
        self._query_token = info.get_argument("access_token") if info is not None else None
        self.transport = getattr(self.session, "transport_name", "") or ""
        self.services.connections[self] = None
        ServerStats.bump(self.services.stats.opened, self.transport or "unknown")

    def on_message(self, message: Any) -> None:
        if self._closed:
            return
        if self.services.closing:
            # Shutting down: no new frame is read (none gets a RECEIPT: the client sends
            # it again after reconnecting); those read before are handled and receipted,
            # then the connection closes. A client pipelining SENDs cannot keep it busy.
            return
        self.last_inbound = time.monotonic()
        if not isinstance(message, (str, bytes)):
            # A SockJS message is a JSON string; anything else ([1,1,...]) is malformed.
            # One ERROR and the close: the rest of its batch is never looked at.
            log.info("closing %s: a SockJS message is not a string", self._who())
            self.stomp.send_error("malformed message", "a SockJS message must be a JSON string")
            self._flush()
            return
        try:
            self.stomp.receive_data(message)
            self._take_events()
        except Exception:
            self._fail("frame handling failed")
        self._hold.report()
        self._flush()

    def on_close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.services.connections.pop(self, None)
        self._stop_heartbeat()
        reason = self._why_closed()
        ServerStats.bump(self.services.stats.closed, reason)
        log.info(
            "connection closed: %s after %.1f s (%s) [conn=%s]",
            self._who(), time.monotonic() - self.opened_at, reason, self.conn_id,
            extra=self._log_fields(event="close", reason=reason),
        )
        hub = self.services.hub
        for sub in self._subscriptions.values():
            hub.unsubscribe(sub.destination, sub)
        self._subscriptions.clear()
        # Frames received before the close are still handled (wire contract): the
        # worker goes on with them; shutdown waits for it. Unless the shutdown itself
        # closed the connection, out of time: what it had not begun then is dropped, as
        # it could only be stored without its RECEIPT (and be sent again: a duplicate).
        if self.services.closing and self._close_reason is not None:
            self._events.clear()
        if self.busy:
            self.services.draining[self] = None
        if self.principal is not None:
            self._hold.release()
            self.services.presence.disconnected(self.principal.user_id)
            if self._counted:
                self.services.release_connection(self.principal.user_id)

    # -- inbound --------------------------------------------------------------------

    def _take_events(self) -> None:
        events = self.stomp.events_received()
        if events:
            self._events.extend(events)
            if len(self._events) > self.services.settings.max_queued_frames:
                self._events.clear()
                self.stomp.send_error("too many frames", "frames arrive faster than they can be handled")
                return
            if not self._working:
                self._working = True
                # A task straight on the running loop (spawn_callback goes through a
                # callback, convert_yielded and add_future: a share of every SEND).
                task = asyncio.get_running_loop().create_task(self._work())
                _working.add(task)  # the loop holds tasks weakly
                task.add_done_callback(_finished)

    async def _work(self) -> None:
        """Handle queued events one at a time, in order (receipts follow their work)."""
        try:
            while self._events:
                event = self._events.popleft()
                if self._closed and (self.stomp.state is _CLOSED or not isinstance(event, _HANDLED_AFTER_CLOSE)):
                    continue  # after our ERROR nothing more is taken (no RECEIPT came)
                # SENDs waiting together are stored together, answered in order (.sends).
                run = send_run(self, event, self._events)
                try:
                    await (self._handle(event) if run is None else on_sends(self, run))
                except Exception:
                    self._fail("handling %s failed" % type(event).__name__, receipt=getattr(event, "receipt", None))
                self._flush()
        finally:
            self._working = False
            if self._closed:
                self.services.draining.pop(self, None)
            elif self.services.closing and not self._events:
                # Shutting down: close now that the work in hand is done (its receipts
                # are out), before the client's next frames arrive and keep us busy.
                self.close_with(*shutdown_close(self.services.settings.reconnect_delay))

    async def _handle(self, event: Any) -> None:
        if isinstance(event, Send):
            await (submit_op(self, event) if is_document(event.destination) else on_send(self, event))
        elif isinstance(event, Subscribe):
            await self._on_subscribe(event)
        elif isinstance(event, Unsubscribe):
            self._on_unsubscribe(event)
        elif isinstance(event, (Ack, Nack)):
            self._on_ack(event)
        elif isinstance(event, Connect):
            await self._on_connect(event)
        elif isinstance(event, ReceiptRequested):
            self.stomp.send_receipt(event.receipt_id)
        elif isinstance(event, TooLarge):
            self._on_too_large(event)
        elif isinstance(event, Disconnect):
            if event.receipt:
                self.stomp.send_receipt(event.receipt)
            self._flush()
            self.close_with(CloseCode.NORMAL_CLOSURE, "disconnect")

    def _on_too_large(self, event: TooLarge) -> None:
        """A body over the limit was discarded unread; refuse it, or end a far-off one."""
        limit = self.services.settings.max_frame_size
        declared = event.content_length
        if declared is not None and declared > message_limit(limit):
            log.info("closing %s: %s frame declares %d bytes", self._who(), event.command, declared)
            self.stomp.send_error(
                "frame too large", "content-length %d is far beyond the %d-byte limit" % (declared, limit)
            )
            return
        details: Dict[str, Any] = {"limit": limit, "command": event.command}
        self.reject(Rejection(RejectionCode.TOO_LARGE, "frame exceeds %d bytes" % limit, details), event.receipt)

    async def _on_connect(self, event: Connect) -> None:
        services = self.services
        token = token_from_connect(event.headers, self._query_token)
        try:
            principal = services.verifier.verify(token)
        except AuthError as exc:
            log.info(
                "CONNECT refused from %s: %s [conn=%s]", self.remote_ip, exc.log_detail, self.conn_id,
                extra=self._log_fields(event="refused"),
            )
            self.stomp.reject_connect(exc.message)
            return
        counted = await services.admit_connection(principal.user_id)
        if counted is None:
            limit = services.settings.max_connections_per_user
            log.info(
                "CONNECT refused for %s: %d connections open [conn=%s]", principal.user_id, limit, self.conn_id,
                extra=self._log_fields(event="refused", user=principal.user_id),
            )
            self.stomp.reject_connect("too many connections", "at most %d per user" % limit)
            return
        if self._closed:  # gone while it was being counted
            if counted:
                services.release_connection(principal.user_id)
            return
        self._counted = counted
        self.principal = principal
        self.stomp.accept_connect(session_id=uuid.uuid4().hex, user_name=principal.user_id)
        services.presence.connected(principal.user_id)
        self._schedule_heartbeat()
        log.info(
            "connection opened: %s over %s [conn=%s]", self._who(), self.transport or "?", self.conn_id,
            extra=self._log_fields(event="open"),
        )
        self._take_events()  # frames the client sent before CONNECTED

    async def _on_subscribe(self, event: Subscribe) -> None:
        principal = self._require_principal()
        destination = event.destination
        if destination == ERRORS_DESTINATION:
            self._errors_subscription = event.subscription_id
            self._receipt(event.receipt)
            return
        hub = self.services.hub
        try:
            await self.services.guard.authorize_subscribe(principal, destination)
            last_seq = parse_last_seq(event.headers)
            # Only the recipient's own deliveries and ACKs mark a notification delivered
            # (an admin watching /topic/notifications/bob must not take bob's).
            recipient = hub.tracks_delivery(destination) and destination == notifications_for(principal.user_id)
            sub = _Subscription(self, event.subscription_id, destination, recipient)
            self._subscriptions[sub.id] = sub
            if destination == PRESENCE_DESTINATION:
                if last_seq is None:
                    # Live: the snapshot is read once the subscription delivers, and sent
                    # first; what arrives meanwhile waits behind it.
                    sub.held = []
                else:
                    await self._send_presence_snapshot(sub)
            try:
                last_seq, epoch = await resume_point(self, sub, last_seq, event.headers)
                await hub.subscribe(destination, sub, last_seq, epoch=epoch, recipient=recipient)
            except BaseException as exc:
                self._subscriptions.pop(sub.id, None)
                if isinstance(exc, StoreUnavailable):
                    raise Rejection(
                        RejectionCode.UNAVAILABLE, "history is unavailable, try again shortly", {"destination": destination}
                    ) from None
                raise
        except Rejection as rejection:
            if self.stomp.state is State.CONNECTED and event.subscription_id in self.stomp.subscriptions:
                self.stomp.drop_subscription(event.subscription_id)
            rejection.details.setdefault("subscription", event.subscription_id)
            self.reject(rejection, event.receipt)
            return
        if self._closed:
            hub.unsubscribe(destination, sub)
            return
        if sub.held is not None:
            await self._send_presence_snapshot(sub)
        self._receipt(event.receipt)

    def _on_unsubscribe(self, event: Unsubscribe) -> None:
        if event.subscription_id == self._errors_subscription:
            self._errors_subscription = None
        sub = self._subscriptions.pop(event.subscription_id, None)
        if sub is not None:
            self.services.hub.unsubscribe(sub.destination, sub)
        self._receipt(event.receipt)

    def _on_ack(self, event: Any) -> None:
        if isinstance(event, Ack):
            sub = self._subscriptions.get(event.subscription_id)
            if sub is not None and sub.tracked:
                self.services.hub.mark_delivered(
                    sub.destination, [m.seq for m in event.messages]
                )
        self._receipt(event.receipt)

    def _end_subscription(self, sub: _Subscription) -> None:
        self._subscriptions.pop(sub.id, None)
        self.services.hub.unsubscribe(sub.destination, sub)
        if sub.id in self.stomp.subscriptions:
            self.stomp.drop_subscription(sub.id)

    def _require_principal(self) -> Principal:
        if self.principal is None:  # the session only yields these events once CONNECTED
            raise RuntimeError("frame before CONNECT was accepted")
        return self.principal

    # -- outbound -------------------------------------------------------------------

    def deliver(self, sub: _Subscription, template: MessageTemplate) -> None:
        """Hub → client: render one MESSAGE for ``sub`` and write it."""
        if self._closed or sub.id not in self._subscriptions:
            return
        stomp = self.stomp
        binary = template.binary
        if binary:
            if not self.session.carries_binary:
                self._refuse_binary(sub, template)
                return
            self._flush()  # what was queued before goes out as text
        stomp.send_message(sub.id, template)
        if sub.tracked and stomp.subscriptions[sub.id].ack == "auto":
            self.services.hub.mark_delivered(sub.destination, (template.seq,))
        self._flush(binary)

    def _refuse_binary(self, sub: _Subscription, template: MessageTemplate) -> None:
        """A body that is not UTF-8 cannot travel over SockJS (text only); the hub
        refuses those at publish while SockJS is on, but history written while it was
        off can hold one. The client is told on its error queue, never sent a broken
        frame."""
        tid = tracking_id()
        seq = str(template.seq)
        log.warning("message %s of %s is not UTF-8, not sent to %s over SockJS [trackingId=%s]",
                    seq, sub.destination, self._who(), tid)
        if self._errors_subscription is not None:
            rejection = Rejection(
                RejectionCode.INVALID_MESSAGE,
                "message is not UTF-8 text; SockJS carries only text",
                {"destination": sub.destination, "subscription": sub.id, "seq": seq},
            )
            self._error_message(rejection, None, tid)
            self._flush()

    async def _send_presence_snapshot(self, sub: _Subscription) -> None:
        """Send who is online, then what the subscription received meanwhile."""
        try:
            body = await self.services.presence.current_snapshot()
        finally:
            held, sub.held = sub.held, None
        if self._closed or sub.id not in self._subscriptions:
            return
        template = MessageTemplate(
            {
                "destination": PRESENCE_DESTINATION,
                "message-id": "presence-" + uuid.uuid4().hex,
                "content-type": "application/json",
                "snapshot": "true",
            },
            body,
        )
        self.stomp.send_message(sub.id, template)
        self.services.stats.messages_sent += 1
        for message in held or ():
            self.deliver(sub, message)
        self._flush()

    def _receipt(self, receipt: Optional[str]) -> None:
        if receipt:
            self.stomp.send_receipt(receipt)

    def _why_closed(self) -> str:
        """Why this connection ended, as one of :data:`CLOSE_REASONS`."""
        reason = self._close_reason
        if reason == "disconnect":
            return reason
        if reason is not None and reason.startswith(SHUTDOWN_CLOSE[1]):
            return "server shutting down"
        ended = self.stomp.close_reason
        if ended is None:
            return "client"
        if ended in CLOSE_REASONS:
            return ended
        return "connect refused" if self.principal is None and reason is not None else "protocol error"

    def _flush(self, binary: bool = False) -> None:
        """Write what the session queued (as binary data when ``binary``: a MESSAGE
        whose body is not UTF-8); close the transport once the session ended.

        A client that does not take its output (a reader that stopped reading, a poller
        that stopped polling) would make it pile up without bound: past
        ``max_pending_output`` unsent bytes it gets ERROR ``slow consumer`` and the
        connection closes (it reconnects with ``last-seq`` and loses nothing).
        """
        # The delivery hot path: one call per subscriber and message, so it reads each
        # attribute once and uses the state, not the ``closed`` property.
        stomp = self.stomp
        data = stomp.data_to_send()
        if data and not self._closed:
            self.last_outbound = _monotonic()
            session = self.session
            send = session.send_message
            if binary:
                for chunk in data:
                    send(chunk, binary=True)
            else:
                for chunk in data:
                    send(chunk)
            if stomp.state is not _CLOSED:
                output = self.output
                if output.over_limit():
                    limit = output.limit
                    log.warning("closing %s: slow consumer (over %d bytes unsent)", self._who(), limit)
                    stomp.send_error("slow consumer", "more than %d bytes of output not taken" % limit)
                    for chunk in stomp.data_to_send():
                        send(chunk)
        if stomp.state is _CLOSED and not self._closed:
            code = CloseCode.PROTOCOL_ERROR if self.principal is None else CloseCode.NORMAL_CLOSURE
            self.close_with(code, "stomp session ended")

    def close_with(self, code: int, reason: str) -> None:
        """Close the transport with a code/reason the client can see."""
        if self.session.is_closed:
            return
        if self._close_reason is None:
            self._close_reason = reason
        self.session.close(code, reason)

#: Connections' work tasks while they run (the event loop references tasks weakly).
_working: "Set[asyncio.Task[None]]" = set()


def _finished(task: "asyncio.Task[None]") -> None:
    """Forget a finished work task; log what escaped it (its own handler reports the rest)."""
    _working.discard(task)
    if not task.cancelled() and task.exception() is not None:
        log.error("connection work failed", exc_info=task.exception())

