"""A connection's clocks: the CONNECT deadline, the idle and heart-beat timeouts, token
expiry, and the heart-beats the server owes its client.

The deadlines are checked by the plugin's housekeeping tick (one pass over all
connections, :meth:`Keepalive.tick`); the outgoing heart-beat is a timer per connection,
so it keeps whatever interval the client negotiated, however short (STOMP 1.2
"Heart-beating").
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Optional

from tornado.ioloop import IOLoop

from ..policy.destinations import TOKEN_DESTINATION
from ..stomp import State

if TYPE_CHECKING:
    from ..policy.principal import Principal
    from ..stomp import StompSession
    from .services import Services

__all__ = ["HEARTBEAT_SHARE", "Keepalive"]

_monotonic = time.monotonic

#: A heart-beat goes out once the connection has sent nothing for this share of the
#: negotiated interval, so the client gets one within every interval even when the
#: IOLoop runs the timer late.
HEARTBEAT_SHARE = 0.9


class Keepalive:
    """The timing half of :class:`~.connection.StompConnection` (what it uses of the
    connection is declared here)."""

    services: "Services"
    stomp: "StompSession"
    principal: "Optional[Principal]"
    opened_at: float
    last_inbound: float
    last_outbound: float
    _closed: bool
    _heartbeat_timer: Optional[object]

    def _flush(self, binary: bool = False) -> None:
        raise NotImplementedError

    def tick(self, now: float, wall: float) -> None:
        """Connect deadline, idle timeout, token expiry and the client's heart-beats."""
        settings = self.services.settings
        stomp = self.stomp
        if stomp.state is State.AWAIT_CONNECT or stomp.state is State.CONNECTING:
            if now - self.opened_at > settings.connect_timeout:
                stomp.send_error("connect timeout", "no CONNECT within %g s" % settings.connect_timeout)
                self._flush()
            return
        if stomp.state is not State.CONNECTED:
            return
        if now - self.last_inbound > settings.idle_timeout:
            stomp.send_error("idle timeout", "no traffic for %g s" % settings.idle_timeout)
        elif self.principal is not None and wall > self.principal.expires_at + settings.jwt_leeway:
            stomp.send_error("token expired", "refresh the token on %s before it expires" % TOKEN_DESTINATION)
        else:
            expect_every = stomp.heartbeat[1]
            if expect_every and now - self.last_inbound > 2 * expect_every / 1000.0:
                stomp.send_error("heart-beat timeout", "no heart-beat for %d ms" % (2 * expect_every))
        self._flush()

    def _schedule_heartbeat(self) -> None:
        """Wake up when the connection will have been quiet for its heart-beat period."""
        send_every = self.stomp.heartbeat[0]
        if not send_every or self._closed:
            return
        period = send_every / 1000.0 * HEARTBEAT_SHARE
        delay = max(0.0, self.last_outbound + period - _monotonic())
        self._heartbeat_timer = IOLoop.current().call_later(delay, self._heartbeat)

    def _heartbeat(self) -> None:
        """Send an EOL heart-beat unless something else went out meanwhile (any frame
        counts), and re-arm: STOMP 1.2 "Heart-beating", at least every interval."""
        self._heartbeat_timer = None
        stomp = self.stomp
        if self._closed or stomp.state is not State.CONNECTED:
            return
        period = stomp.heartbeat[0] / 1000.0 * HEARTBEAT_SHARE
        # The loop may run a timer up to its clock resolution early: allow 1%.
        if _monotonic() - self.last_outbound >= period * 0.99:
            stomp.send_heartbeat()
            self._flush()
        self._schedule_heartbeat()

    def _stop_heartbeat(self) -> None:
        if self._heartbeat_timer is not None:
            IOLoop.current().remove_timeout(self._heartbeat_timer)
            self._heartbeat_timer = None
