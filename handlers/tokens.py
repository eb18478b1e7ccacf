"""Demo-only login: anyone may ask for a token of any demo user.

This exists only when the demo app is mounted (the ``nexus-tornado`` command without
``--no-demo``). It signs tokens with the plugin's own ``jwt_secret``, so it needs an
HS* algorithm (a shared secret); with RS*/ES* keys the server only holds the public
key and the endpoint answers 501. A real host app issues tokens from its own login.
"""

from __future__ import annotations

import os
import secrets
import time
import uuid
from pathlib import Path
from typing import Any, Dict, Mapping, Tuple

import jwt

from nexus_tornado.settings import Settings

from .users import DemoUser

#: Token lifetime when the page does not ask for another, seconds.
DEFAULT_TTL = 15 * 60
#: Shortest and longest lifetime a caller may ask for, seconds.
MIN_TTL = 30
MAX_TTL = 3600


#: Shortest demo secret accepted from the secret file (HS256 wants 32 bytes or more).
MIN_SECRET_LENGTH = 32
#: The secret file's name under the user's state directory.
SECRET_FILE = os.path.join("nexus-tornado", "demo-jwt-secret")


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


def default_secret_path(environ: Mapping[str, str]) -> Path:
    """Where the demo keeps its secret when none is configured:
    ``$XDG_STATE_HOME/nexus-tornado/demo-jwt-secret``, by default under
    ``~/.local/state``."""
    state = environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(state) / SECRET_FILE


def stable_secret(path: Path) -> Tuple[str, bool]:
    """The demo secret kept in ``path``, made (random, mode 0600) the first time.

    Returns ``(secret, created)``. With the same secret after a restart, the tokens
    that open pages hold stay valid, so they reconnect without a new login. Raises
    ``OSError`` when the file can be neither read nor made, ``ValueError`` when it holds
    fewer than ``MIN_SECRET_LENGTH`` characters.
    """
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        secret = secrets.token_hex(32)
        try:
            fd = os.open(str(path), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another server made it meanwhile: use theirs
            return stable_secret(path)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(secret + "\n")
        return secret, True
    if len(text) < MIN_SECRET_LENGTH:
        raise ValueError(
            "the demo secret file %s holds fewer than %d characters: delete it to get a new one"
            % (path, MIN_SECRET_LENGTH)
        )
    return text, False
