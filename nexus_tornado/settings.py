"""One settings object, validated once at start-up.

Every field has a documented default. The command line builds it from ``--options``, a
config file and ``NEXUS_*`` environment variables (see :mod:`nexus_tornado.cli`); a host
app builds it directly::

    Settings(jwt_secret="...", prefix="/stomp")
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
import os
import re
import typing
from typing import Any, Dict, Mapping, Optional, Tuple
from urllib.parse import urlsplit

from .errors import ConfigError

#: Algorithms PyJWT may verify with; ``none`` is never accepted.
SUPPORTED_ALGORITHMS = ("HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384")

#: ``disabled_transports``: every accepted name -> the server endpoint it turns off.
#: The server's names (sockjs-tornado's, plus ``rawwebsocket`` for ``{prefix}/websocket``)
#: and sockjs-client's (``jsonp-polling``, ...). One endpoint serves several
#: sockjs-client transports (``iframe-eventsource`` and ``eventsource`` both use
#: ``eventsource``), so turning off one of them turns off its siblings too.
TRANSPORT_NAMES: Dict[str, str] = {
    "websocket": "websocket",
    "xhr_streaming": "xhr_streaming",
    "xhr-streaming": "xhr_streaming",
    "xdr-streaming": "xhr_streaming",
    "eventsource": "eventsource",
    "iframe-eventsource": "eventsource",
    "htmlfile": "htmlfile",
    "iframe-htmlfile": "htmlfile",
    "xhr": "xhr",
    "xhr-polling": "xhr",
    "xdr-polling": "xhr",
    "iframe-xhr-polling": "xhr",
    "jsonp": "jsonp",
    "jsonp-polling": "jsonp",
    "rawwebsocket": "rawwebsocket",
    "raw-websocket": "rawwebsocket",
}

#: Environment variables that configure nexus-tornado start with this.
ENV_PREFIX = "NEXUS_"

_MONGO_SCHEMES = ("mongodb", "mongodb+srv")
_PATH_RE = re.compile(r"^/[A-Za-z0-9._~!$&'()*+,;=:@/-]*$")


#: The drivers the MongoDB store can be created with (``mongo_driver``).
MONGO_DRIVERS = ("pymongo", "motor")


def _opt(default: Any, help: str) -> Any:
    """A settings field with its ``--help`` text (the single place it is written)."""
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class Settings:
    """Configuration of one :class:`~nexus_tornado.host.plugin.NexusPlugin`."""

    jwt_secret: str = _opt("", "Shared secret for HS* tokens, or the PEM public key for RS*/ES* tokens.")
    jwt_algorithms: Tuple[str, ...] = _opt(("HS256",), "Algorithms a token may be signed with (HS256 by default).")
    jwt_issuer: Optional[str] = _opt(None, "Required ``iss`` claim, when set.")
    jwt_audience: Optional[str] = _opt(None, "Required ``aud`` claim, when set.")
    jwt_leeway: float = _opt(30.0, "Clock skew tolerated on ``exp``/``nbf``/``iat``, seconds.")
    jwt_signing_key: str = _opt("", "Key the plugin signs the tokens it issues with (token handler, service tokens): empty means jwt_secret, which suits HS*; for RS*/ES* the PEM private key.")
    token_ttl: float = _opt(900.0, "Lifetime of the tokens the token handler issues for logged-in users, seconds.")
    service_role: str = _opt("service", "Role a token needs for the HTTP publishing API ({prefix}/api/publish, /api/notify); empty turns the API off.")
    prefix: str = _opt("/stomp", "URL prefix of the SockJS endpoint; the raw WebSocket is at ``{prefix}/websocket``.")
    disabled_transports: Tuple[str, ...] = _opt((), "Transports to turn off, by the server's endpoint name (websocket, xhr_streaming, eventsource, htmlfile, xhr, jsonp, rawwebsocket) or sockjs-client's (jsonp-polling, xhr-polling, iframe-htmlfile, ...); e.g. ``jsonp,htmlfile``.")
    sockjs_url: str = _opt("", "Where the SockJS iframe page loads sockjs-client from; use the page's own copy (empty: sockjs-client 1.6.1 from jsDelivr; the demo serves its vendored copy).")
    allowed_origins: Tuple[str, ...] = _opt(("*",), "Origins allowed to open the WebSocket / load the SockJS iframe, each ``scheme://host[:port]`` (``*``: any); e.g. ``https://app.example.com,https://admin.example.com``.")
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
    document_max_length: int = _opt(100_000, "Most code points a shared document (/topic/doc/{docId}) may hold; an operation that would make it longer is refused (TOO_LARGE).")
    document_max_op_components: int = _opt(1000, "Most components (keeps, inserts, deletes) one document operation may have; more is refused (TOO_LARGE).")
    document_max_behind: int = _opt(1000, "Most versions a document operation may be behind the document (each one it is behind is a stored operation to transform it against); older ones are refused (INVALID_MESSAGE) and the client reads the document again.")
    document_ops_per_minute: int = _opt(1200, "Document operations (DOC_OP SENDs) per minute per user, counted apart from sends_per_minute (a typist sends many).")
    http_header_timeout: float = _opt(10.0, "Longest an HTTP request's headers may take to arrive (also the keep-alive idle time), seconds.")
    http_body_timeout: float = _opt(30.0, "Longest an HTTP request's body (an xhr_send, a jsonp_send) may take to arrive, seconds.")
    max_request_body: int = _opt(8 * 1024, "Largest request body of every endpoint that takes none or a small one (the SockJS greeting, info, iframe and receiving requests, the raw WebSocket handshake, the operations endpoints, the token endpoints, the command's other paths), bytes; a larger one is refused with 413 before it is read. The HTTP publishing API allows max_frame_size, the SockJS send requests four times (max_frame_size + 16 KiB).")
    presence_grace_seconds: float = _opt(5.0, "How long after a user's last connection closes OFFLINE is published (back within it: nothing is), seconds (0: at once).")
    recent_cache_bytes: int = _opt(32 * 1024 * 1024, "Bytes of encoded MESSAGE frames the hub keeps for broadcasts and replays (newest first).")
    mongo_uri: str = _opt("", "MongoDB URI; empty means the in-memory store.")
    mongo_database: str = _opt("", "Database to use; empty means the one the URI names, else 'nexus'.")
    mongo_timeout: float = _opt(5.0, "Longest a MongoDB operation may take before the client gets UNAVAILABLE, seconds.")
    mongo_driver: str = _opt("motor", "Driver of the MongoDB store the server creates: motor (the cheaper per write, measured in docs/benchmarks.md) or pymongo (PyMongo's own async client).")
    mongo_batch_count: int = _opt(1000, "Most messages the MongoDB store writes in one command (appends arriving while a write is in flight go together in the next).")
    mongo_batch_bytes: int = _opt(4 * 1024 * 1024, "Most bytes of messages (bodies, headers, destinations, 200 bytes each besides) the MongoDB store writes in one command; a larger message goes alone.")
    mongo_change_stream: bool = _opt(True, "Follow the messages other server processes store, through a MongoDB change stream (needs a replica set on MongoDB; turn off only for a single process on a standalone server, which then also keeps presence and per-user limits to itself).")
    sequencer_hold: float = _opt(0.1, "How long a message waits for an earlier number to arrive before the store is read for it, seconds.")
    clock_skew: float = _opt(1.0, "How far the clocks of the processes sharing one MongoDB may disagree, seconds (tells a final gap in the numbering from a message still being written).")
    cluster_interval: float = _opt(5.0, "Several processes on one MongoDB: how often each one renews its presence document and reads the others' (users and their connection counts), seconds.")
    cluster_send_slack: float = _opt(0.05, "Several processes on one MongoDB: the share of sends_per_minute a process may admit for a user locally before reporting it to MongoDB; a user spread over processes gets at most sends_per_minute plus this share (0 to 1; 0 reports every SEND).")
    cluster_ttl: float = _opt(15.0, "How long a process's presence document counts without renewal, seconds: a crashed process's users go offline within cluster_ttl + cluster_interval.")
    retention_count: int = _opt(10_000, "Messages kept per destination (0: no limit).")
    retention_seconds: float = _opt(7 * 24 * 3600.0, "Age after which messages are dropped, seconds (0: no limit).")
    handler_timeout: float = _opt(10.0, "Longest a message handler or after-store listener may run, seconds (then SERVER_ERROR, or a logged failure).")
    listener_backlog: int = _opt(10_000, "After-store listener calls that may wait to run; beyond that, publishing waits for them.")
    listener_backlog_bytes: int = _opt(32 * 1024 * 1024, "Bytes of stored messages the after-store listener calls waiting to run may hold (bodies and headers, however many calls); beyond that, publishing waits for them.")
    service_publishes_per_minute: int = _opt(600, "Messages per minute each backend service may publish through the HTTP publishing API (/api/publish and /api/notify together); more get 429 RATE_LIMITED (a service that needs more raises it).")
    memory_store_bytes: int = _opt(256 * 1024 * 1024, "In-memory store only: bytes all destinations together may hold; past it the oldest messages go first (0: no limit).")
    metrics_path: str = _opt("", "URL path of the Prometheus metrics (empty: not mounted; the command serves /metrics).")
    health_path: str = _opt("", "URL path of the liveness check, 200 while the IOLoop answers; never asks the store (empty: not mounted; the command serves /healthz).")
    readiness_path: str = _opt("", "URL path of the readiness check: 503 while the store cannot take writes or the server is shutting down, else 200 (empty: not mounted; the command serves /readyz).")
    status_path: str = _opt("", "URL path of the operator's page: connections, busiest destinations, rates, rejections (empty: not mounted; the command serves /status).")
    readiness_interval: float = _opt(2.0, "How often the store is probed with a write for the readiness check, seconds.")
    shutdown_timeout: float = _opt(30.0, "Longest a shutdown (SIGTERM, plugin.close()) waits for accepted work and store writes before closing every connection, seconds.")
    close_handshake_timeout: float = _opt(2.0, "Longest a shutdown waits, once every connection is closed, for WebSocket clients to answer the close frame (RFC 6455 closing handshake) before the process goes on to exit, seconds (within shutdown_timeout).")
    reconnect_delay: float = _opt(10.0, "Connections closed by a shutdown are told to reconnect after a random delay of up to this long, seconds (spreads the crowd over the restarted servers; 0: at once).")

    def __post_init__(self) -> None:
        # Frozen: normalise through object.__setattr__ (lists become tuples, transport
        # names the server's), then check everything.
        for name in ("jwt_algorithms", "disabled_transports", "allowed_origins", "heartbeat"):
            value = getattr(self, name)
            if isinstance(value, str) and name != "heartbeat":
                object.__setattr__(self, name, (value,))
            elif isinstance(value, (list, set, frozenset)):
                object.__setattr__(self, name, tuple(value))
        object.__setattr__(self, "disabled_transports", _transport_names(self.disabled_transports))
        self.validate()

    @classmethod
    def from_environ(cls, environ: Optional[Mapping[str, str]] = None, **overrides: Any) -> "Settings":
        """Settings from ``NEXUS_*`` environment variables (as the command reads them),
        with ``overrides`` on top; a missing or bad value raises :class:`ConfigError`
        naming the variable."""
        environ = os.environ if environ is None else environ
        kwargs: Dict[str, Any] = {}
        for name in FIELDS:
            variable = ENV_PREFIX + name.upper()
            if variable in environ:
                try:
                    kwargs[name] = convert_option(name, environ[variable], field_type(name))
                except ConfigError as exc:
                    raise ConfigError("%s (from %s)" % (exc.message, variable)) from None
        kwargs.update(overrides)
        if not kwargs.get("jwt_secret"):
            raise ConfigError(
                "jwt_secret is required: set %sJWT_SECRET (a shared secret of 32 bytes or more "
                "for HS256, or a PEM public key)" % ENV_PREFIX
            )
        return cls(**kwargs)

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the first invalid field."""
        _check_types(self)
        if not self.jwt_secret:
            raise ConfigError(
                "jwt_secret is required (a shared secret of 32 bytes or more for HS256, or a PEM public key)"
            )
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
            raise ConfigError("prefix: expected a URL path starting with '/' and not ending with one (e.g. /stomp), not %r" % (self.prefix,))
        for name in (
            "max_frame_size",
            "sends_per_minute",
            "max_subscriptions",
            "max_connections_per_user",
            "max_pending_output",
            "listener_backlog",
            "max_request_body",
            "listener_backlog_bytes",
            "service_publishes_per_minute",
            "max_transaction_bytes",
            "recent_cache_bytes",
            "max_header_bytes",
            "max_headers",
            "max_queued_frames",
            "max_connecting_frames",
            "max_transactions",
            "max_transaction_frames",
            "max_pending_acks",
            "mongo_batch_count",
            "mongo_batch_bytes",
            "document_max_length",
            "document_max_op_components",
            "document_max_behind",
            "document_ops_per_minute",
        ):
            if getattr(self, name) <= 0:
                raise ConfigError("%s: expected a positive number, not %r" % (name, getattr(self, name)))
        if not 0 < self.cluster_interval < self.cluster_ttl:
            raise ConfigError("cluster_interval must be positive and below cluster_ttl")
        if not 0 <= self.cluster_send_slack <= 1:
            raise ConfigError("cluster_send_slack must be between 0 and 1, not %r" % (self.cluster_send_slack,))
        if self.mongo_driver not in MONGO_DRIVERS:
            raise ConfigError("mongo_driver: expected one of %s, not %r" % (", ".join(MONGO_DRIVERS), self.mongo_driver))
        if self.sequencer_hold < 0 or self.clock_skew < 0:
            raise ConfigError("sequencer_hold and clock_skew must be >= 0")
        for name in ("idle_timeout", "connect_timeout", "mongo_timeout", "handler_timeout", "token_ttl",
                     "http_header_timeout", "http_body_timeout", "readiness_interval", "shutdown_timeout",
                     "close_handshake_timeout"):
            if not getattr(self, name) > 0:  # NaN too
                raise ConfigError("%s: expected a positive number, not %r" % (name, getattr(self, name)))
        if len(self.heartbeat) != 2 or min(self.heartbeat) < 0:
            raise ConfigError("heartbeat: expected two non-negative whole numbers SEND,EXPECT in milliseconds (e.g. 10000,10000; 0 turns one off), not %r" % (self.heartbeat,))
        if self.retention_count < 0 or self.retention_seconds < 0:
            raise ConfigError(
                "%s: expected 0 (no limit) or more"
                % ("retention_count" if self.retention_count < 0 else "retention_seconds")
            )
        if self.reconnect_delay < 0:
            raise ConfigError("reconnect_delay: expected 0 or more seconds, not %r" % (self.reconnect_delay,))
        if self.presence_grace_seconds < 0:
            raise ConfigError("presence_grace_seconds: expected 0 or more seconds, not %r" % (self.presence_grace_seconds,))
        if self.memory_store_bytes < 0:
            raise ConfigError("memory_store_bytes: expected 0 (no limit) or more, not %r" % (self.memory_store_bytes,))
        _check_values(self)

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


FIELDS = {f.name: f for f in dataclasses.fields(Settings)}


def field_type(name: str) -> Any:
    """The declared type of field ``name`` (``int``, ``Tuple[str, ...]``, ...)."""
    return typing.get_type_hints(Settings)[name]


def type_syntax(kind: Any) -> str:
    """How a value of ``kind`` is written in an option, variable or config file."""
    if typing.get_origin(kind) is tuple:
        return "LIST"
    if typing.get_origin(kind) is typing.Union:
        return "TEXT"
    return {int: "INTEGER", float: "SECONDS", bool: "BOOL", str: "TEXT"}.get(kind, "TEXT")


def convert_option(name: str, value: Any, kind: Any) -> Any:
    """Turn option text into the field's type (lists are comma-separated)."""
    if not isinstance(value, str):
        return value
    origin = typing.get_origin(kind)
    if origin is tuple:
        item = typing.get_args(kind)[0]
        parts = [p.strip() for p in value.split(",") if p.strip()]
        try:
            return tuple(item(p) for p in parts)
        except ValueError:
            raise ConfigError(
                "%s: expected a comma-separated list of %s, not %r"
                % (name, "whole numbers" if item is int else item.__name__, value)
            ) from None
    if origin is typing.Union:  # Optional[str]
        return value or None
    if kind is bool:
        lowered = value.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ConfigError("%s: expected true or false, not %r" % (name, value))
    try:
        return kind(value)
    except ValueError:
        expected = {int: "a whole number", float: "a number"}.get(kind, kind.__name__)
        raise ConfigError("%s: expected %s, not %r" % (name, expected, value)) from None


def _transport_names(names: Any) -> Tuple[str, ...]:
    """The server's endpoint names for ``names`` (either spelling), in order, once each."""
    if not isinstance(names, tuple) or not all(isinstance(n, str) for n in names):
        raise ConfigError("disabled_transports: expected a list of transport names")
    result = []
    for name in names:
        canonical = TRANSPORT_NAMES.get(name.strip().lower())
        if canonical is None:
            raise ConfigError(
                "disabled_transports: unknown transport %r (accepted: %s)"
                % (name, ", ".join(TRANSPORT_NAMES))
            )
        if canonical not in result:
            result.append(canonical)
    return tuple(result)


def _check_types(settings: Settings) -> None:
    """Each field holds a value of its type (a host app may pass anything)."""
    for f in dataclasses.fields(settings):
        kind = field_type(f.name)
        value = getattr(settings, f.name)
        if kind in (int, float) and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise ConfigError("%s: expected a number, not %r" % (f.name, value))
        if kind is int and not isinstance(value, int):
            raise ConfigError("%s: expected a whole number, not %r" % (f.name, value))
        if kind is str and not isinstance(value, str):
            raise ConfigError("%s: expected text, not %r" % (f.name, value))


def _check_values(settings: Settings) -> None:
    """The checks of the values a typo most often breaks (URIs, origins, paths)."""
    uri = settings.mongo_uri
    if uri:
        scheme = uri.split("://", 1)[0].lower() if "://" in uri else ""
        try:
            host = urlsplit(uri).netloc.rsplit("@", 1)[-1] if scheme else ""
        except ValueError:
            host = ""
        if scheme not in _MONGO_SCHEMES or not host.strip(",/"):
            shown = "***" if "@" in uri else repr(uri)
            raise ConfigError(
                "mongo_uri: expected mongodb://host[:port][,host...]/[database][?options] or "
                "mongodb+srv://host/..., not %s (empty: the in-memory store)" % shown
            )
    for origin in settings.allowed_origins:
        if origin == "*":
            continue
        parts = urlsplit(origin.strip()) if "://" in origin else None
        try:
            parts.port if parts is not None else None
        except ValueError:
            parts = None
        if parts is None or not parts.hostname or parts.path not in ("", "/") or parts.query or parts.fragment:
            raise ConfigError(
                "allowed_origins: %r is not an origin; expected scheme://host[:port] such as "
                "https://app.example.com, or * for any" % origin
            )
    for name in PATH_FIELDS:
        path = getattr(settings, name)
        if path and (not _PATH_RE.match(path) or path.endswith("/")):
            raise ConfigError(
                "%s: expected a URL path such as /metrics (starting with '/', not ending "
                "with one), or empty to leave it unmounted, not %r" % (name, path)
            )


#: Fields naming a URL path the plugin mounts an operations endpoint at ("" = none).
PATH_FIELDS: Tuple[str, ...] = ("metrics_path", "health_path", "readiness_path", "status_path")
