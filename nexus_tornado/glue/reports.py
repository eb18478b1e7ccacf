"""How a connection tells its client, and the log, that something was refused or failed.

A refusal (:class:`~nexus_tornado.errors.Rejection`) goes to the client's
``/user/queue/errors`` subscription and the connection stays; without that
subscription STOMP has only ERROR, and the close (wire contract, "Errors"). A failure of
ours gets a ``SERVER_ERROR`` with a tracking id; its stack trace goes to the log under
the same id, never to the client. Every report is one log line carrying the connection
id and the user, never a token.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any, Dict, Optional

from ..errors import Rejection, RejectionCode, tracking_id
from ..policy.destinations import ERRORS_DESTINATION
from ..stomp import MessageTemplate, State
from .services import ServerStats

if TYPE_CHECKING:
    from ..policy.principal import Principal
    from ..stomp import StompSession
    from .services import Services

log = logging.getLogger("nexus_tornado.glue.connection")

__all__ = ["Reports", "error_body"]


def error_body(rejection: Rejection, tid: str) -> bytes:
    """The JSON body of an error report (wire contract)."""
    return json.dumps(
        {"error": rejection.code, "message": rejection.message, "details": rejection.details, "trackingId": tid},
        separators=(",", ":"),
    ).encode()


class Reports:
    """The reporting half of :class:`~.connection.StompConnection` (what it uses of
    the connection is declared here)."""

    services: "Services"
    stomp: "StompSession"
    conn_id: str
    principal: "Optional[Principal]"
    transport: str
    remote_ip: str
    _errors_subscription: Optional[str]
    _errors_seq: int

    def reject(self, rejection: Rejection, receipt: Optional[str]) -> None:
        """Report a refused frame on ``/user/queue/errors``; the connection stays open."""
        tid = tracking_id()
        ServerStats.bump(self.services.stats.rejections, str(rejection.code))
        log.warning(
            "rejected %s for %s: %s [trackingId=%s conn=%s]",
            rejection.code, self._who(), rejection.log_detail, tid, self.conn_id,
            extra=self._log_fields(event="rejection", code=str(rejection.code), trackingId=tid),
        )
        self._report(rejection, receipt, tid)

    def _report(self, rejection: Rejection, receipt: Optional[str], tid: str) -> None:
        """Tell the client: a MESSAGE on its ``/user/queue/errors`` subscription, the
        connection staying open; without that subscription, what STOMP says: ERROR
        (with the same code, details and tracking id), then the close."""
        if self.stomp.state is not State.CONNECTED:
            return
        if self._errors_subscription is None:
            self.stomp.send_error(
                rejection.message,
                error_body(rejection, tid).decode(),
                receipt,
                headers={"code": rejection.code, "tracking-id": tid},
                content_type="application/json",
            )
            return
        self._error_message(rejection, receipt, tid)

    def _error_message(self, rejection: Rejection, receipt: Optional[str], tid: str) -> None:
        assert self._errors_subscription is not None
        self._errors_seq += 1
        self.services.stats.messages_sent += 1
        headers = {
            "destination": ERRORS_DESTINATION,
            "message-id": "error-" + tid,
            "content-type": "application/json",
            "seq": str(self._errors_seq),
        }
        if receipt:
            headers["receipt-id"] = receipt
        body = error_body(rejection, tid)
        self.stomp.send_message(self._errors_subscription, MessageTemplate(headers, body, self._errors_seq))

    def _fail(self, what: str, receipt: Optional[str] = None, error: Optional[BaseException] = None) -> None:
        """An unexpected failure of ours (``error``, or the one being handled): log the
        trace, tell the client only an id."""
        tid = tracking_id()
        log.error(
            "%s for %s [trackingId=%s conn=%s]", what, self._who(), tid, self.conn_id,
            exc_info=error if error is not None else True,
            extra=self._log_fields(event="failure", trackingId=tid),
        )
        if self.stomp.state is State.CONNECTED:
            ServerStats.bump(self.services.stats.rejections, RejectionCode.SERVER_ERROR.value)
            # Not a protocol fault: the connection stays (wire contract, SERVER_ERROR).
            self._report(Rejection(RejectionCode.SERVER_ERROR, "internal error", {"trackingId": tid}), receipt, tid)
        elif not self.stomp.closed:
            self.stomp.send_error("internal error", "trackingId: %s" % tid, receipt)

    def _log_fields(self, **fields: Any) -> Dict[str, Any]:
        """``extra`` of a log record: what a JSON log line carries besides the message."""
        fields.setdefault("user", self.principal.user_id if self.principal is not None else None)
        fields.update(conn=self.conn_id, transport=self.transport, ip=self.remote_ip)
        return {"nexus": fields}

    def _who(self) -> str:
        """Who this connection is, for log lines (never the token)."""
        user = self.principal.user_id if self.principal is not None else "-"
        return "%s@%s" % (user, self.remote_ip or "?")
