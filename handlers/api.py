"""Tornado handlers of the demo app: its config, the demo-only login, system events.

``GET /demo/config``   the SockJS prefix and the demo users (no secrets)
``POST /demo/token``   ``{"user": id, "ttl": seconds?}`` -> ``{"token", "expiresAt", "user"}``;
                       demo only, see :mod:`.tokens`
``POST /demo/events``  a "system event" from the host app's side: with a demo user's
                       token in ``Authorization: Bearer``, ``{"kind": "notify", "to": id
                       or "*", "title", "message", "notificationType"?}`` sends a
                       NOTIFICATION through :meth:`NexusPlugin.notify` (stored for
                       users who are offline) -> ``{"sent": [{"to", "seq"}]}``
"""

from __future__ import annotations

import datetime
import json
import logging
import re
from typing import Any, Dict, List, Optional

import tornado.web

from nexus_tornado.errors import AuthError, StoreUnavailable
from nexus_tornado.policy.auth import TokenVerifier
from nexus_tornado.policy.principal import Principal

from . import tokens
from .users import DEMO_USERS, find_user, public_users

log = logging.getLogger("nexus_tornado.demo.api")

_NOTIFICATION_TYPE = re.compile(r"[A-Z][A-Z0-9_]{0,63}")
MAX_TITLE = 100
MAX_MESSAGE = 2000


def iso_now() -> str:
    """The current UTC time as the envelopes' ISO 8601 ``timestamp``."""
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class JsonHandler(tornado.web.RequestHandler):
    """JSON in, JSON out; errors as ``{"error": text}``; never cached."""

    def initialize(self, plugin: Any) -> None:
        self.plugin = plugin

    def set_default_headers(self) -> None:
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.set_header("Cache-Control", "no-store")

    def json_body(self) -> Dict[str, Any]:
        try:
            data = json.loads(self.request.body or b"{}")
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


class TokenHandler(JsonHandler):
    """Demo-only login: a signed token for the demo user named in the body."""

    def post(self) -> None:
        data = self.json_body()
        user = find_user(str(data.get("user", "")))
        if user is None:
            raise tornado.web.HTTPError(404, reason="no such demo user")
        try:
            ttl = tokens.clamp_ttl(data.get("ttl"))
        except ValueError as exc:
            raise tornado.web.HTTPError(400, reason=str(exc)) from None
        try:
            issued = tokens.issue_token(self.plugin.settings, user, ttl, tokens.now())
        except tokens.SigningUnavailable as exc:
            raise tornado.web.HTTPError(501, reason=str(exc)) from None
        log.info("demo login: issued a %d s token for %s", ttl, user.user_id)
        self.finish({**issued, "user": user.public()})


class EventsHandler(JsonHandler):
    """Server-side "system events" the page can trigger (notifications to users)."""

    def initialize(self, plugin: Any) -> None:
        super().initialize(plugin)
        settings = plugin.settings
        self.verifier = TokenVerifier(
            settings.jwt_secret,
            settings.jwt_algorithms,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            leeway=settings.jwt_leeway,
        )

    def principal(self) -> Principal:
        header = self.request.headers.get("Authorization", "")
        token: Optional[str] = header[7:].strip() if header[:7].lower() == "bearer " else None
        try:
            return self.verifier.verify(token)
        except AuthError as exc:
            raise tornado.web.HTTPError(401, reason=exc.message) from None

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
            "timestamp": iso_now(),
            "senderId": sender.user_id,
            "payload": {"notificationType": kind, "title": title, "message": message},
        }
