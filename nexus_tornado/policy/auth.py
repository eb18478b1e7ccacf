"""JWT verification: a token in, a :class:`Principal` out, or an :class:`AuthError`.

Per the wire contract: the signature is checked with the configured algorithms only
(never ``none``), ``exp`` is required, ``iss``/``aud`` when configured, with a small
leeway. The user id is ``sub``; roles come from the ``roles`` claim.

The client sees ``AuthError.message`` (``token expired``, ``invalid signature``, ...);
no message or log line ever contains the token.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Mapping, Optional, Sequence

import jwt

from ..errors import AuthError
from .principal import Principal

_BEARER = "bearer "


def bearer_token(authorization: str, *, bare: bool = False) -> Optional[str]:
    """The token of an ``Authorization: Bearer <token>`` value (the scheme in any case).

    A value without the ``Bearer`` scheme gives ``None``, or with ``bare`` the value
    itself (a CONNECT frame may carry the bare JWT); so does one with no token.
    """
    if authorization[: len(_BEARER)].lower() == _BEARER:
        return authorization[len(_BEARER) :].strip() or None
    return (authorization.strip() or None) if bare else None


def token_from_connect(
    headers: Mapping[str, str], query_token: Optional[str] = None
) -> Optional[str]:
    """The JWT a CONNECT frame carries, in the wire contract's order of precedence:
    ``Authorization: Bearer <jwt>``, then ``passcode``, then the URL's ``access_token``."""
    authorization = headers.get("Authorization") or headers.get("authorization")
    if authorization:
        return bearer_token(authorization, bare=True)
    passcode = headers.get("passcode")
    if passcode:
        return passcode
    return query_token or None


class TokenVerifier:
    """Verifies JWTs with one key and a fixed list of algorithms."""

    def __init__(
        self,
        key: str,
        algorithms: Sequence[str] = ("HS256",),
        *,
        issuer: Optional[str] = None,
        audience: Optional[str] = None,
        leeway: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        algorithms = tuple(a for a in algorithms if a.lower() != "none")
        if not algorithms:
            raise ValueError("at least one signing algorithm is required")
        self._key = key
        self._algorithms = list(algorithms)
        self._issuer = issuer
        self._audience = audience
        self._leeway = leeway
        self._clock = clock

    def verify(self, token: Optional[str]) -> Principal:
        """Return the token's principal or raise :class:`AuthError`."""
        if not token:
            raise AuthError("missing token")
        options: Any = {"require": ["exp", "sub"], "verify_aud": self._audience is not None}
        try:
            # PyJWT checks exp/nbf/iat against its own clock; check against ours too so
            # tests and long-lived sessions use one notion of time.
            claims = jwt.decode(
                token,
                self._key,
                algorithms=self._algorithms,
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._leeway,
                options=options,
            )
        except jwt.ExpiredSignatureError:
            raise AuthError("token expired") from None
        except jwt.ImmatureSignatureError:
            raise AuthError("token not yet valid") from None
        except jwt.InvalidSignatureError:
            raise AuthError("invalid signature") from None
        except jwt.InvalidAudienceError:
            raise AuthError("invalid audience") from None
        except jwt.InvalidIssuerError:
            raise AuthError("invalid issuer") from None
        except jwt.MissingRequiredClaimError as exc:
            raise AuthError("token lacks the %s claim" % exc.claim) from None
        except jwt.InvalidAlgorithmError:
            raise AuthError("algorithm not allowed") from None
        except jwt.InvalidKeyError:
            raise AuthError("invalid signature") from None
        except jwt.InvalidTokenError as exc:
            raise AuthError("invalid token", log_detail="invalid token: %s" % type(exc).__name__) from None
        return self.principal_from_claims(claims)

    def principal_from_claims(self, claims: Mapping[str, Any]) -> Principal:
        """Build the principal; reject tokens whose claims have the wrong shape."""
        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub:
            raise AuthError("invalid token", log_detail="sub is not a non-empty string")
        exp = claims.get("exp")
        if not isinstance(exp, (int, float)) or isinstance(exp, bool):
            raise AuthError("invalid token", log_detail="exp is not a number")
        if exp + self._leeway <= self._clock():
            raise AuthError("token expired")
        roles = claims.get("roles", [])
        # A list of strings, as the wire contract says; a lone string is refused, not
        # read as a list of one (nor searched as text: "nonadmin" contains "admin").
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise AuthError("invalid token", log_detail="roles is not a list of strings")
        return Principal(
            user_id=sub, roles=frozenset(roles), claims=dict(claims), expires_at=float(exp)
        )
