"""Streaming transports: xhr-streaming, eventsource (also iframe-eventsource) and
htmlfile (iframe-htmlfile).

Fixed against sockjs-tornado 1.0.7:

- HTTP/1.0: a streaming response has no Content-Length and cannot be chunked, so its
  end is the end of the connection. sockjs-tornado's attempt to turn keep-alive off
  sets an attribute Tornado 6 no longer reads, and Tornado answers a
  ``Connection: Keep-Alive`` request in kind and keeps the connection: the client never
  sees the response end. We answer without Keep-Alive and close the connection once
  the response is written.
- htmlfile accepts sockjs-client's callback names (``_jp.a1b2c3``; sockjs-tornado
  stripped ``_`` and ``.``, so iframe-htmlfile never connected) and refuses anything but
  a dotted identifier; each frame is escaped so message text cannot close the
  ``<script>`` element it travels in.
"""

from __future__ import annotations

from typing import Any

from .base import HandlerMixin
from .sockjs_compat import proto, sockjs_htmlfile, sockjs_transports


class StreamingMixin(HandlerMixin):
    """HTTP/1.0 handling and the common start of a streaming response."""

    one_frame_per_response = False

    def is_http10(self) -> bool:
        return bool(self.request.version == "HTTP/1.0")

    def start_stream(self) -> None:
        self.keep_open()
        if self.is_http10():
            # Tornado echoes "Connection: Keep-Alive" when the request asked for it;
            # this response can only end with the connection, so say so.
            self.request.headers["Connection"] = "close"
            self.set_header("Connection", "close")
        self.preflight()
        self.handle_session_cookie()
        self.disable_cache()

    def attach_stream(self, session_id: str, start_heartbeat: bool = True) -> None:
        """Send the prelude written so far, then attach the session: the messages it
        queued follow at once. An unknown or busy session ends the response."""
        self.flush()
        if not self._attach_session(session_id, start_heartbeat):
            self.safe_finish()
            return
        if self.session:
            self.session.flush()

    def finish(self, chunk: Any = None) -> Any:
        future = super().finish(chunk)
        if self.is_http10() and future is not None:
            connection = self.request.connection
            # Close once the last bytes are written: for HTTP/1.0 that ends the body.
            future.add_done_callback(lambda _: connection.close())
        return future


class XhrStreamingTransport(StreamingMixin, sockjs_transports.XhrStreamingTransport):
    """xhr-streaming: a 2 KiB prelude, then one frame per line."""

    def post(self, session_id: str) -> None:
        self.start_stream()
        self.set_header("Content-Type", "application/javascript; charset=UTF-8")
        self.write("h" * 2048 + "\n")
        self.attach_stream(session_id, start_heartbeat=False)


class EventSourceTransport(StreamingMixin, sockjs_transports.EventSourceTransport):
    """eventsource / iframe-eventsource: one ``data:`` event per frame."""

    def get(self, session_id: str) -> None:
        self.start_stream()
        # Exactly this: the SockJS protocol (and the EventSource spec) name no charset;
        # an event stream is always UTF-8.
        self.set_header("Content-Type", "text/event-stream")
        self.write("\r\n")
        self.attach_stream(session_id)


def script_safe_json(value: Any) -> str:
    """JSON for a value placed inside an HTML ``<script>`` element.

    ``<``, ``>`` and ``&`` become ``\\u003c`` etc., so ``</script>`` in a message cannot
    end the element and run what follows as markup.
    """
    return (
        proto.json_encode(value)
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
    )


class HtmlFileTransport(StreamingMixin, sockjs_transports.HtmlFileTransport):
    """htmlfile (iframe-htmlfile): an HTML page that calls ``parent.<callback>``."""

    def get(self, session_id: str) -> None:
        self.start_stream()
        self.set_header("Content-Type", "text/html; charset=UTF-8")
        callback = self.script_callback()
        if callback is None:
            return
        self.write(sockjs_htmlfile.HTMLFILE_HEAD % callback)
        self.attach_stream(session_id)

    def send_pack(self, message: str, binary: bool = False) -> None:
        if binary:
            raise ValueError("binary frames are not supported by htmlfile")
        self.active = False
        try:
            self.notify_sent(len(message))
            self.write("<script>\np(%s);\n</script>\r\n" % script_safe_json(message))
            self.flush().add_done_callback(self.send_complete)
        except OSError:
            if self.session is not None:
                self.session.delayed_close()
            self._detach()


__all__ = ["EventSourceTransport", "HtmlFileTransport", "XhrStreamingTransport"]
