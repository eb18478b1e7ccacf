"""Small blocking STOMP clients for tests: raw WebSocket, SockJS-over-WebSocket, xhr-polling.

They frame and parse with nexus_tornado's own codec only where a test needs raw bytes;
interoperability is proven with third-party clients (stomp.py, @stomp/stompjs) elsewhere.
"""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from typing import Any, Dict, List, Optional

import websocket  # websocket-client

from nexus_tornado.stomp import Frame, FrameParser, serialize

TIMEOUT = 10.0


def frame_bytes(command: str, headers: Optional[Dict[str, str]] = None, body: bytes = b"") -> bytes:
    return serialize(Frame(command, dict(headers or {}), body))


class _FrameClient:
    """Collects frames from any transport that yields text messages."""

    def __init__(self) -> None:
        self.parser = FrameParser(max_frame_size=16 * 1024 * 1024)
        self.frames: List[Frame] = []

    def _receive_text(self) -> Optional[str]:  # pragma: no cover - interface
        raise NotImplementedError

    def _feed(self, text: str) -> None:
        self.parser.receive_data(text.encode("utf-8"))
        for item in self.parser.events_received():
            if isinstance(item, Frame):
                self.frames.append(item)

    def expect(self, command: str, timeout: float = TIMEOUT, **match: str) -> Frame:
        """Wait for the next frame with ``command`` (and matching headers); take it out
        of the received frames, leaving the others for later ``expect`` calls."""
        deadline = time.monotonic() + timeout
        while True:
            for i, frame in enumerate(self.frames):
                if frame.command == command and all(
                    frame.headers.get(k.replace("_", "-")) == v for k, v in match.items()
                ):
                    del self.frames[i]
                    return frame
            if time.monotonic() > deadline:
                raise AssertionError("no %s frame within %gs; got %r" % (command, timeout, self.frames))
            text = self._receive_text()
            if text is None:
                if not any(f.command == command for f in self.frames):
                    raise AssertionError("connection closed before %s; got %r" % (command, self.frames))
            else:
                self._feed(text)

    def connect(self, token: str, **headers: str) -> Frame:
        h = {"accept-version": "1.2", "host": "localhost", "passcode": token, "heart-beat": "0,0"}
        h.update({k.replace("_", "-"): v for k, v in headers.items()})
        self.send_frame("CONNECT", h)
        return self.expect("CONNECTED")

    def send_frame(self, command: str, headers: Optional[Dict[str, str]] = None, body: bytes = b"") -> None:
        self.send_raw(frame_bytes(command, headers, body).decode("utf-8"))

    def send_raw(self, text: str) -> None:  # pragma: no cover - interface
        raise NotImplementedError


class RawWsClient(_FrameClient):
    """STOMP over the raw WebSocket endpoint: one frame per WebSocket message."""

    def __init__(self, url: str, **options: Any) -> None:
        super().__init__()
        self.ws = websocket.create_connection(url, timeout=TIMEOUT, **options)
        self.close_status: Optional[int] = None
        self.close_reason = ""

    def send_raw(self, text: str) -> None:
        self.ws.send(text)

    def _receive_text(self) -> Optional[str]:
        opcode, data = self.ws.recv_data(control_frame=True)
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            if len(data) >= 2:
                self.close_status = int.from_bytes(data[:2], "big")
                self.close_reason = data[2:].decode("utf-8", "replace")
            return None
        if opcode in (websocket.ABNF.OPCODE_TEXT, websocket.ABNF.OPCODE_BINARY):
            return data.decode("utf-8")
        return ""

    def wait_closed(self, timeout: float = TIMEOUT) -> int:
        """Read until the server closes; return the close code."""
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                try:
                    text = self._receive_text()
                except (websocket.WebSocketConnectionClosedException, ConnectionError):
                    return self.close_status or 1006
                if text is None:
                    return self.close_status or 1005
                self._feed(text)
            raise AssertionError("server did not close the connection")
        finally:
            self.close()

    def close(self) -> None:
        # close() skips releasing the socket once the server has closed: shutdown() does.
        self.ws.close()
        self.ws.shutdown()


class SockJsWsClient(_FrameClient):
    """STOMP over SockJS framing on the SockJS websocket transport."""

    def __init__(self, base_url: str, prefix: str = "/stomp") -> None:
        super().__init__()
        url = base_url.replace("http://", "ws://") + "%s/000/%s/websocket" % (prefix, uuid.uuid4().hex[:8])
        self.ws = websocket.create_connection(url, timeout=TIMEOUT)
        self.closed: Optional[List[Any]] = None
        assert self.ws.recv() == "o"

    def send_raw(self, text: str) -> None:
        self.ws.send(json.dumps([text]))

    def _receive_text(self) -> Optional[str]:
        message = self.ws.recv()
        if message.startswith("a"):
            return "".join(json.loads(message[1:]))
        if message.startswith("c"):
            self.closed = json.loads(message[1:])
            return None
        return ""  # "h" heart-beat

    def close(self) -> None:
        # close() skips releasing the socket once the server has closed: shutdown() does.
        self.ws.close()
        self.ws.shutdown()


class XhrPollingClient(_FrameClient):
    """STOMP over SockJS framing on the xhr-polling transport (plain HTTP requests)."""

    def __init__(self, base_url: str, prefix: str = "/stomp") -> None:
        super().__init__()
        self.url = base_url + "%s/000/%s" % (prefix, uuid.uuid4().hex[:8])
        self.closed: Optional[List[Any]] = None
        assert self._post("/xhr") == "o\n"

    def _post(self, path: str, body: bytes = b"") -> str:
        request = urllib.request.Request(self.url + path, data=body, method="POST")
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            return response.read().decode("utf-8")

    def send_raw(self, text: str) -> None:
        self._post("/xhr_send", json.dumps([text]).encode("utf-8"))

    def _receive_text(self) -> Optional[str]:
        message = self._post("/xhr").rstrip("\n")
        if message.startswith("a"):
            return "".join(json.loads(message[1:]))
        if message.startswith("c"):
            self.closed = json.loads(message[1:])
            return None
        return ""

    def close(self) -> None:
        """Nothing to release: every request is its own connection."""
