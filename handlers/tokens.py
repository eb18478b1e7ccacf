"""Demo-only login: anyone may ask for a token of any demo user.

This exists only when the demo app is mounted (the ``nexus-tornado`` command without
``--no-demo``). It signs tokens with the plugin's own ``jwt_secret``, so it needs an
HS* algorithm (a shared secret); with RS*/ES* keys the server only holds the public
key and the endpoint answers 501. A real host app issues tokens from its own login.
"""

from __future__ import annotations

import time
import uuid
from typing import Any, Dict

import jwt

from nexus_tornado.settings import Settings

from .users import DemoUser

#: Token lifetime when the page does not ask for another, seconds.
DEFAULT_TTL = 15 * 60
#: Shortest and longest lifetime a caller may ask for, seconds.
MIN_TTL = 30
MAX_TTL = 3600


class SigningUnavailable(Exception):
    """The settings hold no shared secret to sign demo tokens with."""


def signing_algorithm(settings: Settings) -> str:
    """The HS* algorithm demo tokens are signed with (the first one configured)."""
    for algorithm in settings.jwt_algorithms:
        if algorithm.startswith("HS"):
            return algorithm
    raise SigningUnavailable("demo login needs an HS* algorithm and a shared jwt_secret")


def clamp_ttl(ttl: Any) -> int:
    """A requested lifetime, bounded to [MIN_TTL, MAX_TTL]; DEFAULT_TTL when absent."""
    if ttl is None:
        return DEFAULT_TTL
    if isinstance(ttl, bool) or not isinstance(ttl, (int, float)):
        raise ValueError("ttl must be a number of seconds")
    return int(min(MAX_TTL, max(MIN_TTL, ttl)))


def issue_token(settings: Settings, user: DemoUser, ttl: int, now: float) -> Dict[str, Any]:
    """Sign a token for ``user`` valid ``ttl`` seconds from ``now``.

    Returns ``{"token", "expiresAt"}``. The claims are the wire contract's: ``sub``,
    ``exp``, ``roles``, ``chats``, ``boards``, ``calendars``, plus ``iss``/``aud``
    when the settings require them.
    """
    issued = int(now)
    claims: Dict[str, Any] = {
        "sub": user.user_id,
        "iat": issued,
        "exp": issued + ttl,
        "jti": uuid.uuid4().hex,
        **user.claims(),
    }
    if settings.jwt_issuer:
        claims["iss"] = settings.jwt_issuer
    if settings.jwt_audience:
        claims["aud"] = settings.jwt_audience
    token = jwt.encode(claims, settings.jwt_secret, algorithm=signing_algorithm(settings))
    return {"token": token, "expiresAt": claims["exp"]}


def now() -> float:
    """The wall clock (a function so that tests can see where time comes from)."""
    return time.time()
