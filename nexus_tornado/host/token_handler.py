"""The host's login becomes a nexus token: a handler the host app mounts.

Legacy Tornado apps authenticate with their own cookie sessions
(``get_current_user``), not JWTs. The host mounts this handler on top of its own base
handler, so ``self.current_user`` is the host's logged-in user; it answers
``POST`` with a short-lived token for that user, signed on the server (the key never
leaves it), with claims from a host callback::

    async def claims_for(handler, user):           # the host's data
        return {"sub": user.id, "roles": user.roles, "chats": await chats_of(user)}

    app = tornado.web.Application(
        plugin.urls + [plugin.token_url(r"/nexus/token", claims_for, base=BaseHandler), ...],
        cookie_secret=..., xsrf_cookies=True)

``POST /nexus/token`` -> 200 ``{"token", "expiresAt", "userId"}``; 401 ``{"error":
"UNAUTHORIZED"}`` when nobody is logged in; 403 when the callback refuses (returns
``None``); 500 with a tracking id when it fails. The JS client fetches and refreshes it
there (``NexusClient.hostToken('/nexus/token')``, static/nexus-token.js). Requests from
other sites cannot read the answer, and with ``xsrf_cookies`` Tornado checks the
``X-XSRFToken`` header the client sends.
"""

from __future__ import annotations

import inspect
import json
import logging
from typing import Any, Awaitable, Callable, Dict, Mapping, Optional, Type, Union

import tornado.web

from ..errors import tracking_id
from ..policy.tokens import TokenIssuer
from ..transport.body_limit import BodyLimitMixin

__all__ = ["ClaimsCallback", "TokenHandlerMixin", "token_handler_class"]

log = logging.getLogger("nexus_tornado.host.token_handler")

#: ``claims(handler, current_user)`` -> the token's claims (``sub`` included), or
#: ``None`` to refuse; plain or async.
ClaimsCallback = Callable[[Any, Any], Union[Optional[Mapping[str, Any]], Awaitable[Optional[Mapping[str, Any]]]]]


class TokenHandlerMixin(BodyLimitMixin):
    """``POST``: a nexus token for ``self.current_user``. Mix it in before the host's
    own base handler (which supplies ``get_current_user``).

    The request body is refused over ``body_limit`` bytes (413, before it is read;
    ``plugin.token_url`` sets ``max_request_body``). Below it, it is read before
    ``post`` asks for ``current_user``, so ``request.body`` and form arguments (an
    ``_xsrf`` field too) are there as usual.
    """

    nexus_issuer: Optional[TokenIssuer]
    nexus_claims: ClaimsCallback
    nexus_ttl: float
    nexus_service_role: str
    _nexus_xsrf_deferred = False

    def initialize(self, issuer: Optional[TokenIssuer], claims: ClaimsCallback, ttl: float, service_role: str, **kwargs: Any) -> None:
        self.nexus_issuer = issuer
        self.nexus_claims = claims
        self.nexus_ttl = ttl
        self.nexus_service_role = service_role
        parent: Any = super()
        parent.initialize(**kwargs)

    def set_default_headers(self) -> None:
        parent: Any = super()
        parent.set_default_headers()
        handler: Any = self
        handler.set_header("Content-Type", "application/json; charset=utf-8")
        handler.set_header("Cache-Control", "no-store")

    def check_xsrf_cookie(self) -> None:
        """Tornado asks before the (streamed) body is read, where an ``_xsrf`` form
        field may be: the check is made in ``post``, once the body is in."""
        self._nexus_xsrf_deferred = True

    def nexus_token_issuer(self) -> TokenIssuer:
        """The issuer to sign with (override to choose per request)."""
        if self.nexus_issuer is None:
            raise RuntimeError("no token issuer")
        return self.nexus_issuer

    def nexus_token_ttl(self) -> float:
        """The lifetime of the token for this request, seconds (override to vary it)."""
        return self.nexus_ttl

    async def post(self) -> None:
        handler: Any = self
        self.read_body()
        if self._nexus_xsrf_deferred:
            parent: Any = super()
            parent.check_xsrf_cookie()
        user = handler.current_user
        if not user:
            self._nexus_answer(401, {"error": "UNAUTHORIZED", "message": "not logged in"})
            return
        ttl = self.nexus_token_ttl()
        try:
            result = self.nexus_claims(handler, user)
            claims = (await result) if inspect.isawaitable(result) else result
            if claims is None:
                self._nexus_answer(403, {"error": "FORBIDDEN", "message": "no token for this user"})
                return
            claims = dict(claims)
            subject = claims.pop("sub", None)
            if subject is None and isinstance(user, (str, bytes)):
                subject = user.decode() if isinstance(user, bytes) else user
            roles = claims.get("roles") or []
            if self.nexus_service_role and self.nexus_service_role in roles:
                raise ValueError("a user's token may not carry the %r role" % self.nexus_service_role)
            issued = self.nexus_token_issuer().issue(str(subject) if subject is not None else "", claims, ttl=ttl)
        except tornado.web.HTTPError:
            raise
        except Exception:
            tid = tracking_id()
            log.exception("issuing a token failed [trackingId=%s]", tid)
            self._nexus_answer(500, {"error": "SERVER_ERROR", "message": "internal error", "trackingId": tid})
            return
        log.info("issued a %g s token for %s", ttl, subject)
        self._nexus_answer(200, {"token": issued.token, "expiresAt": issued.expires_at, "userId": subject})

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Tornado's own refusals (a missing ``_xsrf``, 405) as JSON, never a trace."""
        handler: Any = self
        body: Dict[str, Any] = {"error": "FORBIDDEN" if status_code == 403 else "HTTP_%d" % status_code,
                                "message": handler._reason}
        if status_code >= 500:
            body["trackingId"] = tid = tracking_id()
            log.error("token handler failed [trackingId=%s]", tid, exc_info=kwargs.get("exc_info"))
        handler.finish(json.dumps(body, separators=(",", ":")))

    def _nexus_answer(self, status: int, body: Dict[str, Any]) -> None:
        handler: Any = self
        handler.set_status(status)
        handler.finish(json.dumps(body, separators=(",", ":")))


def token_handler_class(base: Type[tornado.web.RequestHandler] = tornado.web.RequestHandler) -> Type[Any]:
    """The token handler on top of the host's ``base`` handler class."""
    return type("NexusTokenHandler", (TokenHandlerMixin, base), {"__module__": __name__})
