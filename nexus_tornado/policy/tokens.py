"""Issuing tokens: the other half of :mod:`.auth`, for tokens the plugin signs itself.

A host app whose users log in with its own cookie sessions needs no JWT code: the
plugin's token handler (:mod:`nexus_tornado.host.token_handler`) asks a
:class:`TokenIssuer` for a short-lived token for the logged-in user, and backend
services get long-lived *service tokens* (the ``service`` role) from the same issuer.
The key never leaves the server.

The key is ``jwt_signing_key`` when set (the PEM private key for RS*/ES*), else
``jwt_secret`` (a shared HS* secret); the algorithm is the first of ``jwt_algorithms``.
Tokens carry what :class:`~.auth.TokenVerifier` requires: ``sub``, ``exp``, ``iat``,
a fresh ``jti``, and ``iss``/``aud`` when the settings require them.
"""

from __future__ import annotations

import time
import uuid
from typing import Any, Callable, Dict, Mapping, NamedTuple, Optional

import jwt

from ..errors import ConfigError

__all__ = ["IssuedToken", "RESERVED_CLAIMS", "SigningUnavailable", "TokenIssuer"]

#: Claims the issuer sets itself; a host callback may not supply them.
RESERVED_CLAIMS = frozenset({"exp", "iat", "nbf", "iss", "aud", "jti"})


class SigningUnavailable(ConfigError):
    """No key to sign with: RS*/ES* settings hold only the public key."""


class IssuedToken(NamedTuple):
    """A signed token and when it expires (seconds since the epoch)."""

    token: str
    expires_at: int


class TokenIssuer:
    """Signs tokens the plugin's own verifier accepts."""

    def __init__(
        self,
        key: str,
        algorithm: str,
        *,
        issuer: Optional[str] = None,
        audience: Optional[str] = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not key:
            raise SigningUnavailable("no signing key")
        self._key = key
        self.algorithm = algorithm
        self._issuer = issuer
        self._audience = audience
        self._clock = clock

    @classmethod
    def from_settings(cls, settings: Any, clock: Callable[[], float] = time.time) -> "TokenIssuer":
        """The issuer of a :class:`~nexus_tornado.settings.Settings`.

        Raises :class:`SigningUnavailable` for RS*/ES* without ``jwt_signing_key``.
        """
        algorithm = settings.jwt_algorithms[0]
        key = settings.jwt_signing_key
        if not key:
            if not algorithm.startswith("HS"):
                raise SigningUnavailable(
                    "issuing %s tokens needs jwt_signing_key (the private key); "
                    "jwt_secret holds only the public key" % algorithm
                )
            key = settings.jwt_secret
        return cls(key, algorithm, issuer=settings.jwt_issuer, audience=settings.jwt_audience, clock=clock)

    def issue(self, subject: str, claims: Optional[Mapping[str, Any]] = None, *, ttl: float) -> IssuedToken:
        """A token for ``subject`` valid ``ttl`` seconds, carrying ``claims``
        (``roles``, ``chats``, ``boards``, ``calendars``, anything of the host's)."""
        if not isinstance(subject, str) or not subject:
            raise ValueError("a token needs a non-empty subject")
        extra = dict(claims or {})
        reserved = sorted(RESERVED_CLAIMS & set(extra))
        if reserved:
            raise ValueError("claims %s are set by the issuer" % ", ".join(reserved))
        if ttl <= 0:
            raise ValueError("ttl must be positive")
        now = int(self._clock())
        payload: Dict[str, Any] = {**extra, "sub": subject, "iat": now, "exp": now + int(ttl), "jti": uuid.uuid4().hex}
        if self._issuer:
            payload["iss"] = self._issuer
        if self._audience:
            payload["aud"] = self._audience
        return IssuedToken(jwt.encode(payload, self._key, algorithm=self.algorithm), payload["exp"])
