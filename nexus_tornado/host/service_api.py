"""HTTP publishing for backend services outside the Tornado process.

``POST {prefix}/api/publish`` and ``POST {prefix}/api/notify`` take a JSON body and a
*service token* (``Authorization: Bearer <jwt>``, a JWT of this server whose ``roles``
hold ``service_role``; a user's token is refused). The message is validated like any
SEND (schema and business rules; ``senderId`` may name anyone), passes the host app's
handlers, is stored and broadcast; the answer carries its ``seq``::

    POST /stomp/api/publish  {"destination": "/topic/chat/general", "message": {...}}
    POST /stomp/api/notify   {"userId": "bob", "message": {...}}
    200 {"destination": "...", "seq": 7, "messageId": "..."}

Errors are JSON ``{"error": CODE, "message": text, "details": {...}}``, never a trace:
401 ``UNAUTHORIZED`` (no or bad token), 403 ``FORBIDDEN`` (not a service token, or a
destination that does not exist), 400 ``INVALID_MESSAGE``, 413 ``TOO_LARGE``,
429 ``RATE_LIMITED`` (more than ``service_publishes_per_minute`` from one service,
with ``retryAfter`` and a ``Retry-After`` header), 405 for another method, 503 ``UNAVAILABLE`` (the store), 500 ``SERVER_ERROR`` with a
``trackingId`` that is in the log. See docs/handlers.md.
"""

from __future__ import annotations

import json
import logging
import math
from typing import Any, Dict, List, Optional, Union

import tornado.web

from ..errors import AuthError, Rejection, RejectionCode, StoreUnavailable, tracking_id
from ..policy.destinations import is_valid_id, notifications_for
from ..policy.limits import SendRateLimiter
from ..policy.principal import Principal
from ..policy.validation import MAX_REPORTED_UNKNOWN
from ..pipeline import encode
from ..glue.services import Services
from ..transport.body_limit import BodyLimitMixin

__all__ = ["ServiceApiHandler", "service_api_urls"]

log = logging.getLogger("nexus_tornado.host.service_api")

#: HTTP status of each error code (the wire contract's, and UNAUTHORIZED for a missing
#: or refused service token).
STATUS: Dict[str, int] = {
    RejectionCode.INVALID_MESSAGE.value: 400,
    "UNAUTHORIZED": 401,
    RejectionCode.FORBIDDEN.value: 403,
    RejectionCode.TOO_LARGE.value: 413,
    RejectionCode.RATE_LIMITED.value: 429,
    RejectionCode.SERVER_ERROR.value: 500,
    RejectionCode.UNAVAILABLE.value: 503,
}


class _Refused(Exception):
    def __init__(self, code: Union[RejectionCode, str], message: str, details: Optional[Dict[str, Any]] = None) -> None:
        super().__init__(message)
        self.code = str(code)
        self.message = message
        self.details = details or {}


class ServiceApiHandler(BodyLimitMixin, tornado.web.RequestHandler):
    """One endpoint: ``action`` is ``"publish"`` or ``"notify"``.

    A body over ``max_frame_size`` is refused (413 ``TOO_LARGE``) before it is read,
    from its ``Content-Length`` or as soon as a chunked body passes the limit, and
    before the token is looked at.
    """

    def initialize(self, services: Services, action: str, limiter: SendRateLimiter) -> None:
        self.services = services
        self.action = action
        self.limiter = limiter

    def set_default_headers(self) -> None:
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.set_header("Cache-Control", "no-store")

    def check_xsrf_cookie(self) -> None:
        """Authenticated by a bearer token, never by cookies: no cross-site risk."""

    def request_body_limit(self) -> int:
        return self.services.settings.max_frame_size

    def refuse_body(self, limit: int) -> None:
        self._answer(413, {"error": RejectionCode.TOO_LARGE.value, "message": "body exceeds %d bytes" % limit,
                           "details": {"limit": limit}})

    async def post(self) -> None:
        try:
            principal = self._authenticate()
            self._count(principal)
            destination, message = self._read()
            stored = await self._publish(principal, destination, _encoded(message))
        except _Refused as refused:
            self._answer(STATUS[refused.code], {"error": refused.code, "message": refused.message, "details": refused.details})
            return
        log.info("%s by service %s: %s seq %d", self.action, principal.user_id, destination, stored.seq)
        self._answer(200, {"destination": destination, "seq": stored.seq, "messageId": stored.message_id})

    def _authenticate(self) -> Principal:
        header = self.request.headers.get("Authorization", "")
        token = header[7:].strip() if header[:7].lower() == "bearer " else None
        try:
            principal = self.services.verifier.verify(token)
        except AuthError as exc:
            log.info("%s refused from %s: %s", self.action, self.request.remote_ip, exc.log_detail)
            raise _Refused("UNAUTHORIZED", exc.message) from None
        if self.services.settings.service_role not in principal.roles:
            log.warning("%s refused: %s's token is not a service token", self.action, principal.user_id)
            raise _Refused(RejectionCode.FORBIDDEN, "not a service token (needs the %r role)" % self.services.settings.service_role)
        return principal

    def _count(self, principal: Principal) -> None:
        """One more publish of this service within ``service_publishes_per_minute``."""
        try:
            self.limiter.check(principal.user_id)
        except Rejection as rejection:
            log.info("%s by service %s rate limited", self.action, principal.user_id)
            retry_after = rejection.details.get("retryAfter", 1)
            self.set_header("Retry-After", str(max(1, math.ceil(retry_after))))
            raise _Refused(rejection.code, rejection.message, rejection.details) from None

    def _read(self) -> "tuple[str, Dict[str, Any]]":
        try:
            data = json.loads(self.body or b"")
        except (ValueError, RecursionError):  # RecursionError: nested too deep to decode
            raise _Refused(RejectionCode.INVALID_MESSAGE, "body is not JSON", {"errors": {"body": ["must be a JSON document"]}}) from None
        if not isinstance(data, dict):
            raise _Refused(RejectionCode.INVALID_MESSAGE, "body must be a JSON object", {"errors": {"body": ["must be a JSON object"]}})
        destination: Any
        if self.action == "notify":
            user_id = data.get("userId")
            if not is_valid_id(user_id):
                raise _Refused(RejectionCode.INVALID_MESSAGE, "userId must be a user id", {"errors": {"userId": ["must be a user id"]}})
            destination = notifications_for(str(user_id))
            expected = ["message", "userId"]
        else:
            destination = data.get("destination")
            if not isinstance(destination, str):
                raise _Refused(RejectionCode.INVALID_MESSAGE, "destination is required", {"errors": {"destination": ["required field"]}})
            expected = ["destination", "message"]
        unknown: List[str] = sorted(set(data) - set(expected))
        if unknown:
            # At most MAX_REPORTED_UNKNOWN by name, the rest counted (as a SEND's are).
            errors = {k: ["unknown field"] for k in unknown[:MAX_REPORTED_UNKNOWN]}
            if len(unknown) > MAX_REPORTED_UNKNOWN:
                errors["body"] = ["%d more unknown fields" % (len(unknown) - MAX_REPORTED_UNKNOWN)]
            raise _Refused(RejectionCode.INVALID_MESSAGE, "unknown field %s" % json.dumps(unknown[0][:64]), {"errors": errors})
        message = data.get("message")
        if not isinstance(message, dict):
            raise _Refused(RejectionCode.INVALID_MESSAGE, "message must be a JSON object", {"errors": {"message": ["must be a JSON object"]}})
        if self.services.guard.acl.match(destination) is None:
            raise _Refused(RejectionCode.FORBIDDEN, "unknown destination", {"destination": destination})
        return destination, message

    async def _publish(self, principal: Principal, destination: str, body: bytes) -> Any:
        try:
            validated = self.services.guard.validator.validate(body, destination, None)
            return await self.services.pipeline.publish(principal, destination, validated)
        except RecursionError:  # parsed, but nested beyond what validation walks
            raise _Refused(RejectionCode.INVALID_MESSAGE, "message nests too deep",
                           {"errors": {"message": ["nests too deep"]}}) from None
        except Rejection as rejection:
            raise _Refused(str(rejection.code), rejection.message, rejection.details) from None
        except StoreUnavailable as exc:
            log.warning("%s to %s: store unavailable: %s", self.action, destination, exc.log_detail)
            raise _Refused(RejectionCode.UNAVAILABLE, "message store unavailable, message not accepted", {"destination": destination}) from None
        except Exception:  # HandlerFailed, or a failure of ours
            tid = tracking_id()
            log.exception("%s to %s by %s failed [trackingId=%s]", self.action, destination, principal.user_id, tid)
            raise _Refused(RejectionCode.SERVER_ERROR, "internal error", {"trackingId": tid}) from None

    def _answer(self, status: int, body: Dict[str, Any]) -> None:
        self.set_status(status)
        self.finish(json.dumps(body, separators=(",", ":")))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Tornado's own errors (405, 500 of ours) as JSON, never a trace."""
        code = {405: "METHOD_NOT_ALLOWED", 400: "INVALID_MESSAGE"}.get(status_code, "SERVER_ERROR")
        body: Dict[str, Any] = {"error": code, "message": self._reason, "details": {}}
        if status_code >= 500:
            tid = tracking_id()
            log.error("service API %s failed [trackingId=%s]", self.action, tid, exc_info=kwargs.get("exc_info"))
            body["details"] = {"trackingId": tid}
        self.finish(json.dumps(body, separators=(",", ":")))


def _encoded(message: Dict[str, Any]) -> bytes:
    """``message`` as the UTF-8 JSON a SEND would carry, or INVALID_MESSAGE for what
    has none: a lone surrogate (``"\\ud800"``, which JSON's escapes allow and UTF-8
    cannot hold), nesting too deep to encode."""
    try:
        return encode(message)
    except UnicodeEncodeError:
        raise _Refused(RejectionCode.INVALID_MESSAGE, "message is not Unicode text",
                       {"errors": {"message": ["must not hold a lone surrogate (\\ud800-\\udfff)"]}}) from None
    except RecursionError:
        raise _Refused(RejectionCode.INVALID_MESSAGE, "message nests too deep",
                       {"errors": {"message": ["nests too deep"]}}) from None


def service_api_urls(services: Services) -> List[Any]:
    """The URL specs of the service API (none when ``service_role`` is empty)."""
    if not services.settings.service_role:
        return []
    prefix = services.settings.prefix
    # One budget per service over both endpoints.
    limiter = SendRateLimiter(services.settings.service_publishes_per_minute)
    return [
        tornado.web.url(prefix + "/api/publish", ServiceApiHandler,
                        {"services": services, "action": "publish", "limiter": limiter}),
        tornado.web.url(prefix + "/api/notify", ServiceApiHandler,
                        {"services": services, "action": "notify", "limiter": limiter}),
    ]
