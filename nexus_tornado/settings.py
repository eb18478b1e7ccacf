"""One settings object, validated once at start-up.

Every field has a documented default. The command line builds it from ``--options``, a
config file and ``NEXUS_*`` environment variables (see :mod:`nexus_tornado.cli`); a host
app builds it directly::

    Settings(jwt_secret="...", prefix="/stomp")
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Tuple

from .errors import ConfigError

#: Algorithms PyJWT may verify with; ``none`` is never accepted.
SUPPORTED_ALGORITHMS = ("HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384")


def _opt(default: Any, help: str) -> Any:
    """A settings field with its ``--help`` text (the single place it is written)."""
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class Settings:
    """Configuration of one :class:`~nexus_tornado.server.plugin.NexusPlugin`."""

    jwt_secret: str = _opt("", "Shared secret for HS* tokens, or the PEM public key for RS*/ES* tokens.")
    jwt_algorithms: Tuple[str, ...] = _opt(("HS256",), "Algorithms a token may be signed with (HS256 by default).")
    jwt_issuer: Optional[str] = _opt(None, "Required ``iss`` claim, when set.")
    jwt_audience: Optional[str] = _opt(None, "Required ``aud`` claim, when set.")
    jwt_leeway: float = _opt(30.0, "Clock skew tolerated on ``exp``/``nbf``/``iat``, seconds.")
    jwt_signing_key: str = _opt("", "Key the plugin signs the tokens it issues with (token handler, service tokens): empty means jwt_secret, which suits HS*; for RS*/ES* the PEM private key.")
    token_ttl: float = _opt(900.0, "Lifetime of the tokens the token handler issues for logged-in users, seconds.")
    service_role: str = _opt("service", "Role a token needs for the HTTP publishing API ({prefix}/api/publish, /api/notify); empty turns the API off.")
    prefix: str = _opt("/stomp", "URL prefix of the SockJS endpoint; the raw WebSocket is at ``{prefix}/websocket``.")
    disabled_transports: Tuple[str, ...] = _opt((), "SockJS transports to turn off, e.g. ``(\"jsonp\", \"htmlfile\")``.")
    sockjs_url: str = _opt("", "Where the SockJS iframe page loads sockjs-client from; use the page's own copy (empty: sockjs-client 1.6.1 from jsDelivr; the demo serves its vendored copy).")
    allowed_origins: Tuple[str, ...] = _opt(("*",), "Origins allowed to open the WebSocket / load the SockJS iframe (``\"*\"``: any).")
    max_frame_size: int = _opt(64 * 1024, "Largest STOMP frame accepted, bytes (wire contract: 64 KiB).")
    sends_per_minute: int = _opt(100, "SENDs per minute per user, over all of that user's connections.")
    idle_timeout: float = _opt(300.0, "Close a connection with no inbound traffic for this long, seconds.")
    connect_timeout: float = _opt(10.0, "Close a connection that sends no CONNECT within this long, seconds.")
    heartbeat: Tuple[int, int] = _opt((10_000, 10_000), "Heart-beat intervals the server offers (send, expect), milliseconds.")
    max_subscriptions: int = _opt(100, "Most subscriptions one connection may hold.")
    max_header_bytes: int = _opt(8192, "Largest header block of a STOMP frame, bytes.")
    max_headers: int = _opt(64, "Most header lines in one STOMP frame.")
    max_queued_frames: int = _opt(1000, "Frames one connection may have waiting to be handled (a client pipelining faster is cut off).")
    max_connecting_frames: int = _opt(32, "Frames a client may send after CONNECT before CONNECTED.")
    max_transactions: int = _opt(10, "Open transactions per connection.")
    max_transaction_frames: int = _opt(100, "Frames one transaction may hold.")
    max_pending_acks: int = _opt(1000, "Messages awaiting ACK per subscription (ack:client / client-individual); the oldest is forgotten beyond it.")
    max_connections_per_user: int = _opt(20, "Most simultaneous connections of one user.")
    max_pending_output: int = _opt(1024 * 1024, "Unsent output per connection beyond which it is closed as a slow consumer, bytes.")
    max_transaction_bytes: int = _opt(1024 * 1024, "Bytes of frames one user may hold in uncommitted transactions, over all of their connections.")
    http_header_timeout: float = _opt(10.0, "Longest an HTTP request's headers may take to arrive (also the keep-alive idle time), seconds.")
    http_body_timeout: float = _opt(30.0, "Longest an HTTP request's body (an xhr_send, a jsonp_send) may take to arrive, seconds.")
    presence_grace_seconds: float = _opt(5.0, "How long after a user's last connection closes OFFLINE is published (back within it: nothing is), seconds (0: at once).")
    recent_cache_bytes: int = _opt(32 * 1024 * 1024, "Bytes of encoded MESSAGE frames the hub keeps for broadcasts and replays (newest first).")
    mongo_uri: str = _opt("", "MongoDB URI; empty means the in-memory store.")
    mongo_database: str = _opt("", "Database to use; empty means the one the URI names, else 'nexus'.")
    mongo_timeout: float = _opt(5.0, "Longest a MongoDB operation may take before the client gets UNAVAILABLE, seconds.")
    retention_count: int = _opt(10_000, "Messages kept per destination (0: no limit).")
    retention_seconds: float = _opt(7 * 24 * 3600.0, "Age after which messages are dropped, seconds (0: no limit).")
    handler_timeout: float = _opt(10.0, "Longest a message handler or after-store listener may run, seconds (then SERVER_ERROR, or a logged failure).")
    listener_backlog: int = _opt(10_000, "After-store listener calls that may wait to run; beyond that, publishing waits for them.")
    memory_store_bytes: int = _opt(256 * 1024 * 1024, "In-memory store only: bytes all destinations together may hold; past it the oldest messages go first (0: no limit).")

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the first invalid field."""
        if not self.jwt_secret:
            raise ConfigError("jwt_secret is required (a shared secret or a PEM public key)")
        algorithms = tuple(self.jwt_algorithms)
        if not algorithms:
            raise ConfigError("jwt_algorithms must name at least one algorithm")
        for alg in algorithms:
            if alg not in SUPPORTED_ALGORITHMS:
                raise ConfigError(
                    "jwt_algorithms: %r is not supported (choose from %s)"
                    % (alg, ", ".join(SUPPORTED_ALGORITHMS))
                )
        families = {alg[:2] for alg in algorithms}
        if "HS" in families and len(families) > 1:
            # A public key must never double as an HMAC secret (key-confusion attack).
            raise ConfigError("jwt_algorithms cannot mix HS* with RS*/ES* algorithms")
        if "HS" in families:
            # RFC 7518 section 3.2: an HMAC key at least as long as the hash output.
            needed = max(int(alg[2:]) // 8 for alg in algorithms)
            if len(self.jwt_secret.encode("utf-8")) < needed:
                raise ConfigError(
                    "jwt_secret must be at least %d bytes for %s (RFC 7518 section 3.2)"
                    % (needed, ", ".join(algorithms))
                )
        if not self.prefix.startswith("/") or self.prefix.endswith("/"):
            raise ConfigError("prefix must start with '/' and not end with '/'")
        for name in (
            "max_frame_size",
            "sends_per_minute",
            "max_subscriptions",
            "max_connections_per_user",
            "max_pending_output",
            "listener_backlog",
            "max_transaction_bytes",
            "recent_cache_bytes",
            "max_header_bytes",
            "max_headers",
            "max_queued_frames",
            "max_connecting_frames",
            "max_transactions",
            "max_transaction_frames",
            "max_pending_acks",
        ):
            if getattr(self, name) <= 0:
                raise ConfigError("%s must be positive" % name)
        for name in ("idle_timeout", "connect_timeout", "mongo_timeout", "handler_timeout", "token_ttl",
                     "http_header_timeout", "http_body_timeout"):
            if not getattr(self, name) > 0:  # NaN too
                raise ConfigError("%s must be positive" % name)
        if len(self.heartbeat) != 2 or min(self.heartbeat) < 0:
            raise ConfigError("heartbeat must be two non-negative integers (ms)")
        if self.retention_count < 0 or self.retention_seconds < 0:
            raise ConfigError("retention_count and retention_seconds must be >= 0")
        if self.presence_grace_seconds < 0:
            raise ConfigError("presence_grace_seconds must be >= 0")
        if self.memory_store_bytes < 0:
            raise ConfigError("memory_store_bytes must be >= 0")

    def replace(self, **changes: Any) -> "Settings":
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def public_dict(self) -> Dict[str, Any]:
        """The settings with secrets masked, fit for a log line."""
        values = dataclasses.asdict(self)
        for secret in ("jwt_secret", "jwt_signing_key"):
            if values.get(secret):
                values[secret] = "***"
        if values.get("mongo_uri") and "@" in values["mongo_uri"]:
            values["mongo_uri"] = "***"
        return values

