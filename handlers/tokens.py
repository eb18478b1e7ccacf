"""Demo-only login: anyone may have a token for any demo user.

The demo's token endpoint is the plugin's own token handler
(:mod:`nexus_tornado.host.token_handler`, what a real host app mounts on top of its
cookie sessions), with a "session" that believes whoever the request names. The demo
holds no JWT code: the plugin signs (``jwt_signing_key``, else an HS* ``jwt_secret``;
with RS*/ES* keys and no signing key the endpoint answers 501).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Tuple

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


def clamp_ttl(ttl: Any) -> int:
    """A requested lifetime, bounded to [MIN_TTL, MAX_TTL]; DEFAULT_TTL when absent."""
    if ttl is None:
        return DEFAULT_TTL
    if isinstance(ttl, bool) or not isinstance(ttl, (int, float)):
        raise ValueError("ttl must be a number of seconds")
    return int(min(MAX_TTL, max(MIN_TTL, ttl)))


def claims_for(handler: Any, user: DemoUser) -> Optional[Dict[str, Any]]:
    """The claims callback of the token handler: the wire contract's ``sub``,
    ``roles``, ``chats``, ``boards``, ``calendars`` of a demo user."""
    return {"sub": user.user_id, **user.claims()}


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
