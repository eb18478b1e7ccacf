"""Polling transports (xhr-polling, iframe-xhr-polling, jsonp-polling) and the send
endpoints every HTTP transport posts to (``xhr_send``, ``jsonp_send``).

Fixed against sockjs-tornado 1.0.7:

- A polling response carries exactly one frame, its Content-Length counted in bytes;
  a second frame (a close right after a message or after the open frame) waits for the
  next poll instead of overrunning the Content-Length (``HTTPOutputError``).
- jsonp-polling accepts only a dotted-identifier callback and prefixes ``/**/``
  (SockJS protocol 0.3.3+) and ``X-Content-Type-Options: nosniff``.
- The send endpoints refuse a body beyond ``max_send_body_size`` from its
  Content-Length, before reading it (413), stream the body otherwise (413 as soon as a
  chunked body passes the limit; see :mod:`.body_limit`), and refuse any one message beyond
  ``max_message_size``. The offending session is closed with 1009; others are untouched.
"""

from __future__ import annotations

from typing import Any, List, Optional
from urllib.parse import parse_qs


from .base import HandlerMixin, log
from .close_codes import ERROR_CLOSE, TOO_BIG_CLOSE
from .sockjs_compat import proto, sockjs_transports


class OneFramePollingMixin(HandlerMixin):
    """Writes exactly one frame per response, then finishes it."""

    #: Read by ``NexusSession.close``: a second frame must wait for the next poll.
    one_frame_per_response = True

    active: bool
    session: Any

    def attach_and_wait(self, session_id: str) -> None:
        """Attach to (or open) the session; answer now if anything is pending."""
        if not self._attach_session(session_id, False):
            return
        # Closing in on_open already answered (with the open frame) and detached.
        if not self.session:
            return
        if not self.session.send_queue:
            self.session.start_heartbeat()
        else:
            self.session.flush()

    def frame_body(self, message: str) -> bytes:
        raise NotImplementedError

    def send_pack(self, message: str, binary: bool = False) -> None:
        if binary:
            raise ValueError("binary frames are not supported by polling transports")
        if not self.active or self._finished:
            # The one frame of this response is already out; only a heartbeat can get
            # here (the session queues everything else), and it is not needed now.
            return
        self.active = False
        body = self.frame_body(message)
        try:
            self.set_header("Content-Length", str(len(body)))
            self.write(body)
            self.flush().add_done_callback(self.send_complete)
        except OSError:
            # The client went away: close its session rather than raise into the caller.
            if self.session is not None:
                self.session.delayed_close()


class XhrPollingTransport(OneFramePollingMixin, sockjs_transports.XhrPollingTransport):
    """xhr-polling (and iframe-xhr-polling, the same requests from the iframe page)."""

    def post(self, session_id: str) -> None:
        self.keep_open()
        self.preflight()
        self.handle_session_cookie()
        self.disable_cache()
        self.set_header("Content-Type", "application/javascript; charset=UTF-8")
        self.attach_and_wait(session_id)

    def frame_body(self, message: str) -> bytes:
        return (message + "\n").encode("utf-8")


class JSONPTransport(OneFramePollingMixin, sockjs_transports.JSONPTransport):
    """jsonp-polling: each frame is a call of the page's callback."""

    callback: Optional[str] = None

    def get(self, session_id: str) -> None:
        self.handle_session_cookie()
        self.disable_cache()
        callback = self.script_callback()
        if callback is None:
            return
        self.callback = callback
        self.keep_open()
        self.set_header("Content-Type", "application/javascript; charset=UTF-8")
        self.set_header("X-Content-Type-Options", "nosniff")
        self.attach_and_wait(session_id)

    def frame_body(self, message: str) -> bytes:
        # "/**/" keeps the response from starting with bytes the page chose (the
        # Rosetta Flash attack); the SockJS protocol asks for it.
        return ("/**/%s(%s);\r\n" % (self.callback, proto.json_encode(message))).encode("utf-8")


class SendMixin(HandlerMixin):
    """Body limits and message decoding for ``xhr_send`` / ``jsonp_send``."""

    def request_body_limit(self) -> int:
        return self.server.transport_settings.max_send_body_size

    def prepare(self) -> None:
        super().prepare()  # the body limit (413 from Content-Length), the origin
        if self._finished:
            return
        timeout = self.server.transport_settings.send_body_timeout
        set_timeout = getattr(self.request.connection, "set_body_timeout", None)
        if timeout is not None and set_timeout is not None:
            # A body trickled in (slowloris) must not hold the connection for ever.
            set_timeout(timeout)

    def refuse_body(self, limit: int) -> None:
        self.refuse_too_large("a body over %d bytes" % limit)

    def refuse_too_large(self, what: str) -> None:
        """Answer 413 and close the session the body was for (1009)."""
        log.info("refused %s for session %s: %s over the limit", self.request.path,
                 self.path_kwargs.get("session_id"), what)
        self.preflight()
        self.disable_cache()
        self.set_status(413)
        self.set_header("Content-Type", "text/plain; charset=UTF-8")
        self.finish("Message too big.")
        session = self._get_session(self.path_kwargs.get("session_id", ""))
        if session is not None and not session.is_closed:
            session.close(*TOO_BIG_CLOSE)

    def open_session(self, session_id: str) -> Any:
        """The live session this send is for, or None after answering (404, 413)."""
        if self._finished:
            return None
        self.preflight()
        self.handle_session_cookie()
        self.disable_cache()
        session = self._get_session(session_id)
        if session is None or session.is_closed:
            self.set_status(404)
            return None
        return session

    def decode(self, data: str) -> Optional[List[Any]]:
        """The list of messages in ``data``, or None after answering 500 as the SockJS
        protocol says (plain text, no trace logged: it is the client's mistake)."""
        if not data:
            self.refuse_payload("Payload expected.")
            return None
        try:
            messages = proto.json_decode(data)
        except (ValueError, RecursionError):  # RecursionError: nested too deep to decode
            self.refuse_payload("Broken JSON encoding.")
            return None
        if not isinstance(messages, list) or not all(isinstance(m, str) for m in messages):
            self.refuse_payload("Broken JSON encoding.")
            return None
        return messages

    def refuse_payload(self, text: str) -> None:
        log.info("refused %s for session %s: %s", self.request.path, self.path_kwargs.get("session_id"), text)
        self.set_status(500)
        self.set_header("Content-Type", "text/plain; charset=UTF-8")
        self.write(text)

    def deliver(self, session: Any, messages: List[Any]) -> bool:
        """Hand ``messages`` to the session; False after answering an error."""
        limit = self.server.transport_settings.max_message_size
        for message in messages:
            # surrogatepass: JSON may carry a lone surrogate ("\ud800"); it is the
            # application's to refuse, not a reason for this handler to fail.
            if len(message.encode("utf-8", "surrogatepass")) > limit:
                self.refuse_too_large("a message")
                return False
        try:
            session.on_messages(messages)
        except Exception:
            log.exception("%s: the connection failed on a message", self.request.path)
            session.close(*ERROR_CLOSE)
            self.set_status(500)
            self.write("Message handler failed.")
            return False
        return True


class XhrSendHandler(SendMixin, sockjs_transports.XhrSendHandler):
    """``xhr_send``: a JSON array of messages in the body; 204 when taken."""

    def post(self, session_id: str) -> None:
        session = self.open_session(session_id)
        if session is None:
            return
        messages = self.decode(self.body.decode("utf-8", "replace"))
        if messages is None or not self.deliver(session, messages):
            return
        self.set_status(204)
        self.set_header("Content-Type", "text/plain; charset=UTF-8")

    def flush(self, include_footers: bool = False) -> Any:
        """Keep ``Content-Type`` on the 204.

        Tornado drops the representation headers of a 204 in ``finish()``; the SockJS
        protocol wants ``text/plain`` there all the same (Firefox otherwise takes the
        empty body for XML and reports a parse error). ``finish()`` calls this right
        after dropping them, before the headers are written.
        """
        if self.get_status() == 204:
            self.set_header("Content-Type", "text/plain; charset=UTF-8")
        return super().flush(include_footers)


class JSONPSendHandler(SendMixin, sockjs_transports.JSONPSendHandler):
    """``jsonp_send``: a form field ``d`` (or a raw body) holding the JSON array."""

    def post(self, session_id: str) -> None:
        session = self.open_session(session_id)
        if session is None:
            return
        data = self.body.decode("utf-8", "replace")
        ctype = self.request.headers.get("Content-Type", "").lower()
        if ctype.startswith("application/x-www-form-urlencoded"):
            values = parse_qs(data, keep_blank_values=True).get("d")
            data = values[0] if values else ""
        messages = self.decode(data)
        if messages is None or not self.deliver(session, messages):
            return
        self.set_header("Content-Type", "text/plain; charset=UTF-8")
        self.write("ok")


__all__ = [
    "JSONPSendHandler",
    "JSONPTransport",
    "XhrPollingTransport",
    "XhrSendHandler",
]
