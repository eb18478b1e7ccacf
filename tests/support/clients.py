"""Small blocking STOMP clients for tests: raw WebSocket, SockJS-over-WebSocket, xhr-polling.

They frame and parse with nexus_tornado's own codec only where a test needs raw bytes;
interoperability is proven with third-party clients (stomp.py, @stomp/stompjs) elsewhere.
"""

from __future__ import annotations

import contextlib
import json
import socket
import time
import urllib.request
import uuid
import weakref
from typing import Any, Dict, Iterator, List, Optional, Tuple

import websocket  # websocket-client

from nexus_tornado.stomp import Frame, serialize

from .parsing import CollectingParser

TIMEOUT = 10.0

#: WebSocket clients not yet closed (see ``close_all_clients``).
_open_clients: "weakref.WeakSet[Any]" = weakref.WeakSet()


@contextlib.contextmanager
def closing_new_clients() -> Iterator[None]:
    """Close the WebSocket clients opened inside the block that are still open: a teardown
    for tests that may fail midway (a socket left to the garbage collector becomes a
    ResourceWarning in some later test). Clients opened before the block are left alone."""
    before = set(_open_clients)
    try:
        yield
    finally:
        for client in list(_open_clients):
            if client not in before:
                client.close()


def frame_bytes(command: str, headers: Optional[Dict[str, str]] = None, body: bytes = b"") -> bytes:
    return serialize(Frame(command, dict(headers or {}), body))


def chat_envelope(user: str, chat: str, content: str = "hi", **fields: Any) -> bytes:
    """A valid CHAT_MESSAGE body from ``user`` to ``chat`` (``fields`` replace envelope keys)."""
    document: Dict[str, Any] = {
        "type": "CHAT_MESSAGE",
        "timestamp": "2026-11-25T10:00:00Z",
        "senderId": user,
        "payload": {"chatId": chat, "content": content, "contentType": "TEXT"},
    }
    document.update(fields)
    return json.dumps(document).encode()


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the peer sends on ``sock`` until it closes it (a reset ends it too)."""
    data = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return data
            data += chunk
    except ConnectionResetError:
        return data


class _FrameClient:
    """Collects frames from any transport that yields text messages."""

    def __init__(self) -> None:
        self.parser = CollectingParser(max_frame_size=16 * 1024 * 1024)
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

    def subscribe(self, sub_id: str, destination: str, **headers: str) -> Frame:
        """SUBSCRIBE with a receipt and wait for the RECEIPT."""
        h = {"id": sub_id, "destination": destination, "receipt": "sub-" + sub_id}
        h.update({k.replace("_", "-"): v for k, v in headers.items()})
        self.send_frame("SUBSCRIBE", h)
        return self.expect("RECEIPT", receipt_id="sub-" + sub_id)

    def subscribe_errors(self, sub_id: str = "errors") -> None:
        """Subscribe to ``/user/queue/errors`` (as clients do right after CONNECTED)."""
        self.subscribe(sub_id, "/user/queue/errors")

    def rejection(self, sub_id: str = "errors", timeout: float = TIMEOUT) -> Tuple[Frame, Dict[str, Any]]:
        """The next error MESSAGE on the errors subscription, and its JSON body."""
        frame = self.expect("MESSAGE", timeout=timeout, subscription=sub_id)
        return frame, json.loads(frame.body)

    def send_raw(self, text: str) -> None:  # pragma: no cover - interface
        raise NotImplementedError


class RawWsClient(_FrameClient):
    """STOMP over the raw WebSocket endpoint: one frame per WebSocket message."""

    def __init__(self, url: str, **options: Any) -> None:
        super().__init__()
        self.ws = websocket.create_connection(url, timeout=TIMEOUT, **options)
        _open_clients.add(self)
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
        _open_clients.discard(self)
        self.ws.close()
        self.ws.shutdown()


class SockJsWsClient(_FrameClient):
    """STOMP over SockJS framing on the SockJS websocket transport."""

    def __init__(self, base_url: str, prefix: str = "/stomp", **options: Any) -> None:
        super().__init__()
        url = base_url.replace("http://", "ws://") + "%s/000/%s/websocket" % (prefix, uuid.uuid4().hex[:8])
        self.ws = websocket.create_connection(url, timeout=TIMEOUT, **options)
        _open_clients.add(self)
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

    def wait_closed(self, timeout: float = TIMEOUT) -> List[Any]:
        """Read until the SockJS close frame; return ``[code, reason]``."""
        deadline = time.monotonic() + timeout
        try:
            while self.closed is None:
                if time.monotonic() > deadline:
                    raise AssertionError("server did not close the session")
                text = self._receive_text()
                if text:
                    self._feed(text)
            return self.closed
        finally:
            self.close()

    def close(self) -> None:
        # close() skips releasing the socket once the server has closed: shutdown() does.
        _open_clients.discard(self)
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

    def wait_closed(self, timeout: float = TIMEOUT) -> List[Any]:
        """Poll until the SockJS close frame; return ``[code, reason]``."""
        deadline = time.monotonic() + timeout
        while self.closed is None:
            if time.monotonic() > deadline:
                raise AssertionError("server did not close the session")
            text = self._receive_text()
            if text:
                self._feed(text)
        return self.closed

    def close(self) -> None:
        """Nothing to release: every request is its own connection."""


class Bystander:
    """A well-behaved client connected throughout a test: it must keep getting everything.

    It subscribes to a chat of its own; :meth:`check` sends a few messages there (with
    receipts) and asserts each comes back, in order, with the next ``seq``.
    """

    def __init__(self, ws_url: str, token: str, user: str = "bystander", chat: str = "calm") -> None:
        """``token`` must be for ``user`` and list ``chat`` in its ``chats`` claim."""
        self.user = user
        self.chat = chat
        self.client = RawWsClient(ws_url)
        self.client.connect(token)
        self.client.subscribe("calm", "/topic/chat/" + chat)
        self.seq = 0

    def check(self, count: int = 3) -> None:
        user = self.user
        for _ in range(count):
            self.seq += 1
            self.client.send_frame(
                "SEND",
                {"destination": "/topic/chat/" + self.chat, "receipt": "b%d" % self.seq},
                chat_envelope(user, self.chat, "still here %d" % self.seq),
            )
        first = self.seq - count + 1
        for seq in range(first, self.seq + 1):
            self.client.expect("RECEIPT", receipt_id="b%d" % seq)
            message = self.client.expect("MESSAGE", subscription="calm")
            assert message.headers["seq"] == str(seq), "the bystander missed a message"
            assert json.loads(message.body)["payload"]["content"] == "still here %d" % seq

    def close(self) -> None:
        self.client.close()


class XhrStreamingClient(_FrameClient):
    """STOMP over SockJS framing on the xhr-streaming transport: one long HTTP response
    carries the frames; each send is an ``xhr_send`` request."""

    def __init__(self, base_url: str, prefix: str = "/stomp") -> None:
        super().__init__()
        import http.client
        from urllib.parse import urlsplit

        parts = urlsplit(base_url)
        self.path = "%s/000/%s" % (prefix, uuid.uuid4().hex[:8])
        self.base_url = base_url
        self.conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=TIMEOUT)
        self.conn.request("POST", self.path + "/xhr_streaming", body=b"")
        self.response = self.conn.getresponse()
        assert self.response.status == 200
        self.closed: Optional[List[Any]] = None
        assert self._line() == "h" * 2048  # the prelude
        assert self._line() == "o"

    def _line(self) -> str:
        return self.response.readline().decode("utf-8").rstrip("\n")

    def send_raw(self, text: str) -> None:
        request = urllib.request.Request(
            self.base_url + self.path + "/xhr_send", data=json.dumps([text]).encode("utf-8"), method="POST"
        )
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            response.read()

    def _receive_text(self) -> Optional[str]:
        message = self._line()
        if message.startswith("a"):
            return "".join(json.loads(message[1:]))
        if message.startswith("c") or not message:
            self.closed = json.loads(message[1:]) if message else [1006, "ended"]
            return None
        return ""

    def close(self) -> None:
        self.conn.close()
