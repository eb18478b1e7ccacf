"""Tornado handlers of the demo app: its config, the demo-only login, system events.

``GET /demo/config``   the SockJS prefix and the demo users (no secrets)
``POST /demo/token``   ``{"user": id, "ttl": seconds?}`` -> ``{"token", "expiresAt", "userId"}``;
                       demo only (the plugin's token handler), see :mod:`.tokens`
``GET /demo/board/id`` the board's current cards and the seq they reflect (members,
                       with their token in ``Authorization: Bearer``)
``POST /demo/events``  a "system event" from the host app's side: with a demo user's
                       token in ``Authorization: Bearer``, ``{"kind": "notify", "to": id
                       or "*", "title", "message", "notificationType"?}`` sends a
                       NOTIFICATION through :meth:`NexusPlugin.notify` (stored for
                       users who are offline) -> ``{"sent": [{"to", "seq"}]}``
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any, Dict, List, Optional

import tornado.web

from nexus_tornado.errors import AuthError, StoreUnavailable
from nexus_tornado.policy.auth import bearer_token
from nexus_tornado.policy.principal import Principal
from nexus_tornado.policy.tokens import SigningUnavailable, TokenIssuer
from nexus_tornado.host.token_handler import TokenHandlerMixin
from nexus_tornado.transport.body_limit import BodyLimitMixin
from nexus_tornado.policy.validation import iso_timestamp

from . import tokens
from .users import DEMO_USERS, DemoUser, find_user, public_users

log = logging.getLogger("nexus_tornado.demo.api")

_NOTIFICATION_TYPE = re.compile(r"[A-Z][A-Z0-9_]{0,63}")
MAX_TITLE = 100
MAX_MESSAGE = 2000


class JsonHandler(BodyLimitMixin, tornado.web.RequestHandler):
    """JSON in, JSON out; errors as ``{"error": text}``; never cached; a body over
    ``max_request_body`` is refused (413) before it is read."""

    def initialize(self, plugin: Any) -> None:
        self.plugin = plugin

    def set_default_headers(self) -> None:
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.set_header("Cache-Control", "no-store")

    def request_body_limit(self) -> int:
        limit: int = self.plugin.settings.max_request_body
        return limit

    def refuse_body(self, limit: int) -> None:
        self.set_status(413)
        self.finish({"error": "body over %d bytes" % limit})

    def json_body(self) -> Dict[str, Any]:
        try:
            data = json.loads(self.body or b"{}")
        except ValueError:
            raise tornado.web.HTTPError(400, reason="body is not JSON") from None
        if not isinstance(data, dict):
            raise tornado.web.HTTPError(400, reason="body must be a JSON object")
        return data

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self.finish({"error": self._reason})


class ConfigHandler(JsonHandler):
    """What the page needs to start: where the endpoint is and who can log in."""

    def get(self) -> None:
        self.finish({
            "prefix": self.plugin.settings.prefix,
            "users": public_users(),
            "defaultTtl": tokens.DEFAULT_TTL,
            "demo": True,
        })


class TokenHandler(TokenHandlerMixin, JsonHandler):
    """Demo-only login: the plugin's token handler, for the demo user the body names."""

    def initialize(self, plugin: Any) -> None:  # type: ignore[override]
        super().initialize(
            issuer=None, claims=tokens.claims_for, ttl=tokens.DEFAULT_TTL,
            service_role=plugin.settings.service_role, plugin=plugin,
        )

    def get_current_user(self) -> Optional[DemoUser]:
        user = find_user(str(self.json_body().get("user", "")))
        if user is None:
            raise tornado.web.HTTPError(404, reason="no such demo user")
        return user

    def nexus_token_issuer(self) -> TokenIssuer:
        try:
            issuer: TokenIssuer = self.plugin.token_issuer
            return issuer
        except SigningUnavailable as exc:
            raise tornado.web.HTTPError(501, reason=str(exc)) from None

    def nexus_token_ttl(self) -> float:
        try:
            return tokens.clamp_ttl(self.json_body().get("ttl"))
        except ValueError as exc:
            raise tornado.web.HTTPError(400, reason=str(exc)) from None


class TokenAuthHandler(JsonHandler):
    """A JSON endpoint for a demo user, who shows their nexus token (Bearer)."""

    def initialize(self, plugin: Any, **kwargs: Any) -> None:
        super().initialize(plugin)

    def principal(self) -> Principal:
        """The sender, from the token in ``Authorization: Bearer`` (the plugin's own
        verifier: the same checks as a CONNECT)."""
        token = bearer_token(self.request.headers.get("Authorization", ""))
        try:
            return self.plugin.verifier.verify(token)
        except AuthError as exc:
            raise tornado.web.HTTPError(401, reason=exc.message) from None


class EventsHandler(TokenAuthHandler):
    """Server-side "system events" the page can trigger (notifications to users)."""

    async def post(self) -> None:
        sender = self.principal()
        data = self.json_body()
        if data.get("kind") != "notify":
            raise tornado.web.HTTPError(400, reason="kind must be 'notify'")
        notification = self.notification(data, sender)
        target = str(data.get("to", ""))
        if target == "*":
            recipients = [user.user_id for user in DEMO_USERS]
        elif find_user(target) is not None:
            recipients = [target]
        else:
            raise tornado.web.HTTPError(404, reason="no such demo user")
        sent: List[Dict[str, Any]] = []
        try:
            for user_id in recipients:
                stored = await self.plugin.notify(user_id, notification)
                sent.append({"to": user_id, "seq": stored.seq})
        except StoreUnavailable:
            raise tornado.web.HTTPError(503, reason="the message store is unavailable") from None
        log.info("demo event: %s notified %s", sender.user_id, ", ".join(recipients))
        self.finish({"sent": sent})

    @staticmethod
    def notification(data: Dict[str, Any], sender: Principal) -> Dict[str, Any]:
        """A NOTIFICATION envelope (the seed's message type) from the request body."""
        title = data.get("title")
        message = data.get("message")
        kind = data.get("notificationType", "SYSTEM_EVENT")
        if not isinstance(title, str) or not title.strip() or len(title) > MAX_TITLE:
            raise tornado.web.HTTPError(400, reason="title: 1 to %d characters" % MAX_TITLE)
        if not isinstance(message, str) or not message.strip() or len(message) > MAX_MESSAGE:
            raise tornado.web.HTTPError(400, reason="message: 1 to %d characters" % MAX_MESSAGE)
        if not isinstance(kind, str) or _NOTIFICATION_TYPE.fullmatch(kind) is None:
            raise tornado.web.HTTPError(400, reason="notificationType: upper-case letters, digits, _")
        return {
            "type": "NOTIFICATION",
            "timestamp": iso_timestamp(),
            "senderId": sender.user_id,
            "payload": {"notificationType": kind, "title": title, "message": message},
        }


class BoardHandler(TokenAuthHandler):
    """``GET /demo/board/{boardId}``: the board as it is now, kept on the server
    (:class:`.business.Boards`), for its members: ``{"boardId", "seq", "cards"}``."""

    def initialize(self, plugin: Any, **kwargs: Any) -> None:
        super().initialize(plugin)
        self.boards = kwargs["boards"]

    async def get(self, board_id: str) -> None:
        principal = self.principal()
        if board_id not in (principal.claims.get("boards") or []):
            raise tornado.web.HTTPError(403, reason="not a member of this board")
        self.finish(await self.boards.state(board_id))
