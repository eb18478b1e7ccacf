"""Demo-only login: anyone may have a token for any demo user.

The demo's token endpoint is the plugin's own token handler
(:mod:`nexus_tornado.server.token_handler`, what a real host app mounts on top of its
cookie sessions), with a "session" that believes whoever the request names. The demo
holds no JWT code: the plugin signs (``jwt_signing_key``, else an HS* ``jwt_secret``;
with RS*/ES* keys and no signing key the endpoint answers 501).
"""

from __future__ import annotations

from typing import Any, Dict, Optional

from .users import DemoUser

#: Token lifetime when the page does not ask for another, seconds.
DEFAULT_TTL = 15 * 60
#: Shortest and longest lifetime a caller may ask for, seconds.
MIN_TTL = 30
MAX_TTL = 3600


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
