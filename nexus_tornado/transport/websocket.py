"""WebSocket transports: SockJS-framed (``/<server>/<session>/websocket``) and raw
(``{prefix}/websocket``, one application message per WebSocket message).

Fixed against sockjs-tornado 1.0.7:

- The handshake's Origin is checked against ``allowed_origins`` (403 otherwise).
- Inbound messages beyond ``max_message_size`` make Tornado close the connection with
  1009 before the message is buffered (instead of Tornado's 10 MiB default).
- A handshake request with a body over ``max_request_body`` is refused (413) before
  the body is read (:mod:`.body_limit`).
- When the session closes, the WebSocket close frame carries the session's code and
  reason (the raw endpoint sent neither, so clients saw 1005 "no status").
- The raw endpoint answers the STOMP subprotocols (``v12.stomp``, ``v11.stomp``,
  ``v10.stomp``) that @stomp/stompjs offers: a browser fails a handshake that offered
  subprotocols and got none back.
- Output is framed here and written once per connection and IOLoop iteration
  (:mod:`.websocket_writer`), not with a Task and a system call per message.
- The handshake's method and header checks are made here and Tornado's ``_execute``
  awaited directly: sockjs-tornado's ``gen.coroutine`` wrapper kept a second task alive
  for every open connection.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, List, Optional

from tornado.web import RequestHandler

from .base import NexusRawSession, log, websocket_close_args
from .body_limit import BodyLimitMixin
from .close_codes import BROKEN_FRAMING_CLOSE, CloseCode
from .sockjs_compat import proto, sockjs_transports
from .websocket_writer import BatchedWriterMixin

if TYPE_CHECKING:  # pragma: no cover
    # The mixin sees the handler it is mixed into (untyped sockjs-tornado: Any to mypy).
    from sockjs.tornado.websocket import SockJSWebSocketHandler as WebSocketBase
else:
    WebSocketBase = object


class WebSocketMixin(BodyLimitMixin, BatchedWriterMixin, WebSocketBase):
    """Origin check, message size limit, batched output and coded close for both
    endpoints."""

    server: Any
    request: Any
    session: Any

    def request_body_limit(self) -> int:
        # A handshake has no body: one beyond the small limit is refused unread (413).
        return int(self.server.transport_settings.max_request_body)

    def check_origin(self, origin: str) -> bool:
        allowed = bool(self.server.origin_policy.allows(origin, self.request.host))
        if not allowed:
            log.info("refused WebSocket handshake to %s from origin %r", self.request.path, origin)
        return allowed

    async def _execute(self, transforms: Any, *args: Any, **kwargs: Any) -> None:
        """Refuse what is not a WebSocket handshake, then hand over to Tornado.

        - Any method but GET gets a bare 405 and ``Allow: GET`` (sockjs-tornado sent a
          text body with Tornado's default HTML content type; the SockJS protocol asks
          for no body and no content type).
        - A GET without ``Upgrade: websocket`` and ``Connection: upgrade`` (a proxy
          rewrote them) gets 400, ``Connection: close``, as sockjs-tornado answers.

        Then Tornado's own ``RequestHandler._execute`` runs, awaited in this one task.
        sockjs-tornado's ``_execute`` (a ``gen.coroutine`` around it) would keep a
        generator, its runner and a second task alive for as long as the connection
        is open.
        """
        request = self.request
        if request.method != "GET":
            self._transforms = transforms
            self.set_status(405)
            self.set_header("Allow", "GET")
            self.clear_header("Content-Type")
            self.finish()
            return
        headers = request.headers
        refusal: Optional[str] = None
        if headers.get("Upgrade", "").lower() != "websocket":
            refusal = 'Can "Upgrade" only to "WebSocket".'
        elif "upgrade" not in (s.strip().lower() for s in headers.get("Connection", "").split(",")):
            refusal = '"Connection" must be "Upgrade".'
        if refusal is not None:
            self._transforms = transforms
            self.set_status(400)
            self.set_header("Connection", "Close")
            self.finish(refusal)
            return
        await RequestHandler._execute(self, transforms, *args, **kwargs)

    @property
    def max_message_size(self) -> int:
        return int(self.server.transport_settings.max_message_size)

    def get_compression_options(self) -> Optional[dict]:
        # No permessage-deflate: keeps max_message_size a bound on what is buffered.
        return None

    def session_closed(self) -> None:
        """The session was closed by the application: close the socket with its code."""
        session = self.session
        code, reason = session.get_close_reason() if session is not None else (CloseCode.NORMAL_CLOSURE, "")
        try:
            self.flush_output()  # what the session sent last goes before the close frame
            self.close(*websocket_close_args(code, reason))
        except OSError:
            pass
        finally:
            self._detach()


class WebSocketTransport(WebSocketMixin, sockjs_transports.WebSocketTransport):
    """The SockJS ``websocket`` transport (frames ``o``, ``a[...]``, ``h``, ``c[...]``)."""

    one_frame_per_response = False

    def on_message(self, message: Any) -> None:
        """Decode one WebSocket message: a JSON string or an array of them.

        What is not JSON (or nests too deep for the decoder) closes the session, as
        the SockJS protocol does, with one log line and no trace: it is the client's
        mistake. Values that are not strings reach the connection, which refuses them.
        """
        session = self.session
        if not message or session is None:
            return  # SockJS: empty messages are ignored
        if isinstance(message, bytes):
            message = message.decode("utf-8", "replace")
        try:
            decoded = proto.json_decode(message)
        except (ValueError, RecursionError):
            log.info("closing SockJS session %s: a message is not JSON", getattr(session, "session_id", "?"))
            # The SockJS protocol ends such a connection abruptly: no "c" frame, only
            # the WebSocket close (which still carries the code and reason).
            self._detach()
            session.close(*BROKEN_FRAMING_CLOSE)
            try:
                self.close(*websocket_close_args(*BROKEN_FRAMING_CLOSE))
            except OSError:
                pass
            return
        session.on_messages(decoded if isinstance(decoded, list) else (decoded,))


class RawWebSocketTransport(WebSocketMixin, sockjs_transports.RawWebSocketTransport):
    """``{prefix}/websocket``: no SockJS framing, for STOMP clients that speak WebSocket."""

    def select_subprotocol(self, subprotocols: List[str]) -> Optional[str]:
        """The first of ``websocket_subprotocols`` (our preference) the client offers."""
        for name in self.server.transport_settings.websocket_subprotocols:
            if name in subprotocols:
                return str(name)
        return None

    def open(self) -> None:
        self.server.stats.on_conn_opened()
        if self.server.settings["disable_nagle"]:
            self.set_nodelay(True)
        self.session = NexusRawSession(self.server.get_connection_class(), self.server)
        self.session.set_handler(self)
        self.session.verify_state()


__all__ = ["RawWebSocketTransport", "WebSocketTransport"]
