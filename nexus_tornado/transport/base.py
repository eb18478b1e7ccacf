"""What every fixed SockJS transport shares: settings, origin policy, sessions, helpers.

sockjs-tornado 1.0.7's handlers are subclassed (see ``transport_*.py``) rather than
forked; this module holds the pieces they have in common:

- ``TransportSettings``: our keys in the SockJS ``user_settings`` dict, validated once.
- ``OriginPolicy``: which page origins may use the endpoint (WebSocket handshakes,
  CORS requests, and who may frame the iframe page).
- ``NexusSession`` / ``NexusRawSession``: sessions whose ``close()`` never writes a
  second frame into a polling response that already carries one, that send queued
  messages before the close frame, and whose close frame is valid JSON.
- ``HandlerMixin``: the HTTP-side helpers (cache headers, CORS, origin check, keeping a
  response open without the removed ``@asynchronous``, the request body limit).
"""

from __future__ import annotations

import json
import logging
import re
from typing import TYPE_CHECKING, Any, Dict, FrozenSet, Iterable, List, Mapping, Optional, Tuple
from urllib.parse import urlsplit

from tornado.web import RequestHandler

from ..errors import ConfigError
from .body_limit import DEFAULT_BODY_LIMIT, BodyLimitMixin
from .close_codes import CloseCode, is_sendable
from .sockjs_compat import proto as sockjs_proto
from .sockjs_compat import session as sockjs_session

if TYPE_CHECKING:  # pragma: no cover
    # Mixins see the handler they are mixed into (untyped sockjs-tornado: Any to mypy).
    from sockjs.tornado.basehandler import PreflightHandler as MixinBase

    from .router import NexusRouter
else:
    MixinBase = object

log = logging.getLogger("nexus_tornado.transport")

#: Room beyond the application's own payload limit for one message's framing: the
#: SockJS JSON array and string quoting around it, and the payload's own headers.
MESSAGE_SLACK = 16 * 1024


def message_limit(payload_limit: int) -> int:
    """The ``max_message_size`` for an application whose payloads may be up to
    ``payload_limit`` bytes.

    Larger inbound messages are refused by the transport (close 1009) before they are
    buffered; the application answers payloads between its own limit and this one
    itself (nexus-tornado: ``TOO_LARGE``, the connection stays).
    """
    return payload_limit + MESSAGE_SLACK


#: For a 64 KiB payload limit (the default STOMP frame size): 80 KiB.
DEFAULT_MAX_MESSAGE_SIZE = message_limit(64 * 1024)

#: Default ``max_send_body_size`` as a multiple of ``max_message_size``: sockjs-client
#: batches the messages queued while a send request is in flight into one body, and the
#: jsonp sender form-encodes it (up to 3x), so one message's limit is too tight there.
SEND_BODY_FACTOR = 4

#: The sockjs-client build the iframe page loads. It must be the same version as the
#: one the application's pages load (sockjs-client refuses a mismatch).
DEFAULT_SOCKJS_URL = "https://cdn.jsdelivr.net/npm/sockjs-client@1.6.1/dist/sockjs.min.js"

#: Our additions to sockjs-tornado's DEFAULT_SETTINGS (see docs/transports.md).
NEXUS_DEFAULTS: Dict[str, Any] = {
    # Page origins ("scheme://host[:port]") allowed to use the endpoint; "*" = any.
    "allowed_origins": ["*"],
    # Largest inbound SockJS / WebSocket message, in bytes.
    "max_message_size": DEFAULT_MAX_MESSAGE_SIZE,
    # Largest xhr_send / jsonp_send request body; None = SEND_BODY_FACTOR x the above.
    "max_send_body_size": None,
    # Largest request body of every other endpoint (none of which reads one), bytes.
    "max_request_body": DEFAULT_BODY_LIMIT,
    "sockjs_url": DEFAULT_SOCKJS_URL,
    # WebSocket subprotocols the raw endpoint accepts, most preferred first.
    "websocket_subprotocols": ["v12.stomp", "v11.stomp", "v10.stomp"],
    # Longest an xhr_send / jsonp_send body may take to arrive, seconds (None: the
    # HTTP server's own body_timeout, which Tornado leaves unbounded by default).
    "send_body_timeout": None,
}

#: A JavaScript callback name as sockjs-client builds them (``_jp.a1b2c3``): dotted
#: identifiers only, so nothing but a property lookup and a call can be injected.
CALLBACK_RE = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*(?:\.[A-Za-z_$][A-Za-z0-9_$]*)*$")
CALLBACK_MAX_LENGTH = 128

_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def normalize_origin(origin: str) -> Optional[str]:
    """``scheme://host[:port]`` in lower case without a default port, or None."""
    try:
        parts = urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if not scheme or not host:
        return None
    if ":" in host:  # IPv6 literal
        host = "[%s]" % host
    if port is None or port == _DEFAULT_PORTS.get(scheme):
        return "%s://%s" % (scheme, host)
    return "%s://%s:%d" % (scheme, host, port)


def callback_is_valid(callback: str) -> bool:
    """True for a JSONP / htmlfile callback name that is safe to echo into a script."""
    return len(callback) <= CALLBACK_MAX_LENGTH and CALLBACK_RE.match(callback) is not None


def close_frame(code: int, reason: str) -> str:
    """The SockJS close frame ``c[code,"reason"]`` as valid JSON whatever ``reason`` holds."""
    return "c" + json.dumps([int(code), str(reason)], separators=(",", ":"))


def websocket_close_args(code: int, reason: str) -> Tuple[int, str]:
    """A code and reason a WebSocket close frame may carry (RFC 6455 sections 5.5.1, 7.4).

    Codes outside 1000-1003, 1007-1011 and 3000-4999 become 1000; the reason is cut to
    the 123 bytes a close frame has room for.
    """
    code = int(code)
    if not is_sendable(code):
        code = CloseCode.NORMAL_CLOSURE
    data = str(reason).encode("utf-8")[:123]
    return code, data.decode("utf-8", "ignore")


class OriginPolicy:
    """Which page origins may use the SockJS endpoint.

    Requests without an ``Origin`` header (non-browser clients, navigations, script
    tags) and same-origin requests are always allowed. Authentication travels in the
    STOMP CONNECT frame, not in cookies, so a foreign page gains nothing by reaching the
    endpoint; the list exists so an operator can still keep other sites from using it.
    """

    def __init__(self, allowed: Iterable[str]) -> None:
        names = list(allowed)
        self.any = "*" in names
        self.origins: FrozenSet[str] = frozenset(
            o for o in (normalize_origin(n) for n in names if n != "*") if o is not None
        )

    def allows(self, origin: Optional[str], host: Optional[str] = None) -> bool:
        """May a page at ``origin`` use an endpoint reached through ``host``?"""
        if origin is None or self.any:
            return True
        normalized = normalize_origin(origin)
        if normalized is None:  # "null" (sandboxed or file: pages) and garbage
            return False
        if host is not None and urlsplit(normalized).netloc == _strip_default_port(host):
            return True
        return normalized in self.origins

    def sockjs_origins(self) -> List[str]:
        """The ``origins`` of ``/info`` in the SockJS protocol's own form, ``host:port``
        patterns: ``["*:*"]`` for any origin, else each allowed origin's host and port
        (the form has no scheme; the endpoint's own origin is allowed besides)."""
        if self.any:
            return ["*:*"]
        patterns = set()
        for origin in self.origins:  # normalized: scheme://host[:port], no default port
            scheme, netloc = origin.split("://", 1)
            port = urlsplit(origin).port
            host = netloc.rsplit(":", 1)[0] if port is not None else netloc
            if port is None:
                port = _DEFAULT_PORTS.get(scheme)
            patterns.add("%s:%s" % (host, "*" if port is None else port))
        return sorted(patterns)

    def frame_ancestors(self) -> Optional[str]:
        """The CSP ``frame-ancestors`` value for the iframe page, or None for any."""
        if self.any:
            return None
        return " ".join(["'self'"] + sorted(self.origins))


def _strip_default_port(host: str) -> str:
    host = host.lower()
    for suffix in (":80", ":443"):
        if host.endswith(suffix):
            return host[: -len(suffix)]
    return host


class TransportSettings:
    """Our keys of the SockJS settings dict, validated (raises ``ConfigError``)."""

    def __init__(self, settings: Mapping[str, Any]) -> None:
        allowed = settings.get("allowed_origins", ["*"])
        if isinstance(allowed, str):
            allowed = [allowed]
        if not isinstance(allowed, (list, tuple, set, frozenset)) or not all(
            isinstance(o, str) for o in allowed
        ):
            raise ConfigError("allowed_origins must be a list of origins or \"*\"")
        bad = [o for o in allowed if o != "*" and normalize_origin(o) is None]
        if bad:
            raise ConfigError("allowed_origins: not an origin: %s" % ", ".join(sorted(bad)))
        self.origin_policy = OriginPolicy(allowed)

        size = settings.get("max_message_size", DEFAULT_MAX_MESSAGE_SIZE)
        if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
            raise ConfigError("max_message_size must be a positive integer")
        self.max_message_size: int = size

        body = settings.get("max_send_body_size")
        if body is None:
            body = SEND_BODY_FACTOR * size
        if isinstance(body, bool) or not isinstance(body, int) or body <= 0:
            raise ConfigError("max_send_body_size must be a positive integer")
        self.max_send_body_size: int = body

        small = settings.get("max_request_body", DEFAULT_BODY_LIMIT)
        if isinstance(small, bool) or not isinstance(small, int) or small < 0:
            raise ConfigError("max_request_body must be a non-negative integer")
        self.max_request_body: int = small

        url = settings.get("sockjs_url", DEFAULT_SOCKJS_URL)
        if not isinstance(url, str) or not url:
            raise ConfigError("sockjs_url must be a URL of sockjs-client's sockjs.min.js")
        self.sockjs_url: str = url

        timeout = settings.get("send_body_timeout")
        if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0):
            raise ConfigError("send_body_timeout must be a positive number of seconds")
        self.send_body_timeout: Optional[float] = None if timeout is None else float(timeout)

        protocols = settings.get("websocket_subprotocols", NEXUS_DEFAULTS["websocket_subprotocols"])
        if isinstance(protocols, str) or not all(isinstance(p, str) for p in protocols):
            raise ConfigError("websocket_subprotocols must be a list of subprotocol names")
        self.websocket_subprotocols: Tuple[str, ...] = tuple(protocols)


CLOSED = sockjs_session.CLOSED
#: The message :meth:`NexusSession.send_message` encoded last, and its encoding.
_last_encoded: Tuple[Any, str] = (None, "")
CLOSING = sockjs_session.CLOSING


class NexusSession(sockjs_session.Session):
    """A SockJS session (every transport but the raw WebSocket).

    Differences from sockjs-tornado's:

    - ``close()`` sends the close frame only where it fits: a polling response carries
      exactly one frame (its Content-Length is set from it), so when that response
      already holds a frame, or messages are queued, the close frame waits for the next
      poll (the session answers every later poll with it, as the SockJS protocol says).
      Streaming transports get the queued messages first, then the close frame.
    - The close frame is JSON-encoded, so any reason text is valid.
    """

    send_queue: str
    #: SockJS frames are JSON text: a message that is not UTF-8 cannot be sent.
    carries_binary = False

    def __init__(self, conn: Any, server: "NexusRouter", session_id: str, expiry: Any = None):
        super().__init__(conn, server, session_id, expiry)
        server.track_session(self)

    def send_message(self, msg: Any, stats: bool = True, binary: bool = False) -> None:
        """JSON-encode ``msg`` for the SockJS ``a[...]`` frame, once per broadcast.

        A broadcast hands every subscriber with the same subscription id the same
        rendered frame object, so the encoding of the last message is kept and reused
        when the very same object comes again.
        """
        global _last_encoded
        last, encoded = _last_encoded
        if msg is not last:
            if binary:
                raise ValueError("SockJS carries only text: binary messages cannot be sent")
            try:
                text = msg.decode("utf-8") if isinstance(msg, bytes) else msg
            except UnicodeDecodeError:
                raise ValueError("SockJS carries only text: the message is not UTF-8") from None
            encoded = sockjs_proto.json_encode(text)
            _last_encoded = (msg, encoded)
        self.send_jsonified(encoded, stats)

    def set_handler(self, handler: Any, start_heartbeat: bool = True) -> bool:
        if self.handler is None and self.state in (CLOSING, CLOSED) and not self.send_queue:
            handler.send_pack(close_frame(*self.get_close_reason()))
            return False
        return bool(super().set_handler(handler, start_heartbeat))

    def close(self, code: int = CloseCode.GO_AWAY, message: str = "Go away!") -> None:
        if self.state == CLOSED:
            return
        handler = self.handler
        if handler is not None:
            if getattr(handler, "one_frame_per_response", False):
                if handler.active:
                    if self.send_queue:
                        self.flush()
                    else:
                        handler.send_pack(close_frame(code, message))
            else:
                if self.send_queue:
                    # Streams take frames back to back; the queue must precede the close.
                    handler.send_pack("a[%s]" % self.send_queue)
                    self.send_queue = ""
                handler.send_pack(close_frame(code, message))
        sockjs_session.BaseSession.close(self, code, message)


class NexusRawSession(sockjs_session.BaseSession):
    """A raw WebSocket session: messages pass through without SockJS framing.

    ``send_message(data, binary=True)`` sends a WebSocket binary message (what a
    message that is not UTF-8 text needs); anything else goes as text.
    """

    carries_binary = True

    def __init__(self, conn: Any, server: "NexusRouter") -> None:
        super().__init__(conn, server)
        server.track_session(self)

    def send_message(self, msg: Any, stats: bool = True, binary: bool = False) -> None:
        if self.handler is not None:
            self.handler.send_pack(msg, binary)

    def on_message(self, msg: Any) -> None:
        if self.conn is not None:
            self.conn.on_message(msg)


class HandlerMixin(BodyLimitMixin, MixinBase):
    """HTTP-side behaviour shared by our SockJS handlers (mix in before sockjs's).

    Request bodies are streamed and refused beyond ``max_request_body`` (413) before
    they are read; the send endpoints allow ``max_send_body_size``.
    """

    server: "NexusRouter"
    request: Any

    #: Whether the connection statistics counted this request (sockjs-tornado's
    #: ``prepare`` sets it; a body refused before that leaves it False).
    logged = False

    #: False for handlers whose ``prepare`` must not refuse foreign origins (the iframe
    #: page is governed by ``frame-ancestors`` instead).
    check_origin_header = True

    def keep_open(self) -> None:
        """Do not finish the response when the verb method returns.

        This is what sockjs-tornado's copy of the removed ``@asynchronous`` did.
        """
        self._auto_finish = False

    def request_body_limit(self) -> int:
        return self.server.transport_settings.max_request_body

    def prepare(self) -> None:
        super().prepare()  # body limit, connection statistics
        if self._finished:
            return
        if self.check_origin_header and not self.origin_allowed():
            origin = self.request.headers.get("Origin")
            log.info("refused %s %s from origin %r", self.request.method, self.request.path, origin)
            self.set_status(403)
            self.set_header("Content-Type", "text/plain; charset=UTF-8")
            self.finish("Origin not allowed.")

    def script_callback(self) -> Optional[str]:
        """The JSONP / htmlfile callback name ``c``, or None after answering 500 (as
        SockJS says) when it is missing or unsafe.

        The name is echoed into a script: anything but a dotted identifier would let the
        URL inject code (``c=alert(document.domain)//``).
        """
        # Unstripped: "c=%20" is an invalid name, not a missing one.
        callback = self.get_argument("c", None, strip=False)
        if callback and callback_is_valid(callback):
            return callback
        self.set_status(500)
        self.set_header("Content-Type", "text/plain; charset=UTF-8")
        self.finish('"callback" parameter required' if not callback else 'invalid "callback" parameter')
        return None

    def origin_allowed(self) -> bool:
        origin = self.request.headers.get("Origin")
        return self.server.origin_policy.allows(origin, self.request.host)

    def check_trusted_origin(self, origin: str) -> bool:
        """Tornado's ``cross_origin_protection`` setting asks this; answer with our list."""
        return self.server.origin_policy.allows(origin, self.request.host)

    def verify_origin(self) -> bool:
        return self.origin_allowed()

    def preflight(self) -> None:
        """CORS headers: echo an allowed Origin (with credentials), or ``*`` without one."""
        origin = self.request.headers.get("Origin")
        if origin is None:
            self.set_header("Access-Control-Allow-Origin", "*")
        elif self.origin_allowed():
            self.set_header("Access-Control-Allow-Origin", origin)
            self.set_header("Access-Control-Allow-Credentials", "true")
            self.set_header("Vary", "Origin")
        else:
            return
        headers = self.request.headers.get("Access-Control-Request-Headers")
        if headers:
            self.set_header("Access-Control-Allow-Headers", headers)

    def options(self, *args: Any, **kwargs: Any) -> None:
        """CORS preflight (sockjs-tornado's version uses the removed ``@asynchronous``)."""
        self.enable_cache()
        self.handle_session_cookie()
        self.preflight()
        allowed_methods = getattr(self, "access_methods", "OPTIONS, POST")
        self.set_header("Access-Control-Allow-Methods", allowed_methods)
        self.set_header("Allow", allowed_methods)
        self.set_status(204)

    def disable_cache(self) -> None:
        # The SockJS protocol asks for no-transform, so proxies do not rewrite frames.
        self.set_header("Cache-Control", "no-store, no-cache, no-transform, must-revalidate, max-age=0")

    def compute_etag(self) -> Optional[str]:
        # Transport responses are flushed piecemeal; Tornado must not add an ETag (or
        # answer 304) when it finishes them.
        return None

    def finish(self, chunk: Any = None) -> Any:
        """Finish and return Tornado's flush future (sockjs-tornado's drops it)."""
        self._log_disconnect()
        return RequestHandler.finish(self, chunk)

    def safe_finish(self) -> None:
        if self._finished:
            return
        try:
            self.finish()
        except OSError:
            log.debug("client went away before the response finished")
