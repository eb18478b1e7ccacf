"""Slow and numerous HTTP clients: header and body timeouts, descriptor exhaustion.

The header timeout and the accept loop belong to the HTTP server the command runs
(``nexus_tornado.http_server``), so those tests run the command as a process; the send
endpoints' body timeout holds under any server, so that one runs in-process. No
assertion depends on how long anything took: each waits for the server to act (close
a socket, answer) with a bound far above the configured timeouts.
"""

from __future__ import annotations

import select
import socket
import time
import uuid
from pathlib import Path
from typing import Iterator, List

import pytest

from support.clients import Bystander, XhrPollingClient, chat_envelope
from support.command import CommandServer
from support.nexus import make_token, running_nexus

#: Far above every timeout configured here: only a server that never acts reaches it.
PATIENCE = 30.0


def closed_by_server(sock: socket.socket, trickle: bytes = b"") -> bool:
    """Send ``trickle`` a byte at a time (5 a second) until the server closes ``sock``;
    True once it did, False if it never did within ``PATIENCE``."""
    sock.settimeout(0.2)
    deadline = time.monotonic() + PATIENCE
    position = 0
    while time.monotonic() < deadline:
        try:
            if position < len(trickle):
                sock.send(trickle[position : position + 1])
                position += 1
            if sock.recv(4096) == b"":
                return True
        except socket.timeout:
            continue
        except (ConnectionError, BrokenPipeError):
            return True
    return False


@pytest.fixture
def command(tmp_path: Path) -> Iterator[CommandServer]:
    server = CommandServer(tmp_path, ["--no-demo", "--http-header-timeout", "1", "--http-body-timeout", "1"])
    server.start()
    try:
        yield server
    finally:
        server.stop()


def bystander_of(server: CommandServer) -> Bystander:
    chat = "calm-" + uuid.uuid4().hex[:8]
    token = make_token("bystander", secret=server.secret or "", chats=[chat])
    return Bystander(server.ws_url, token, chat=chat)


def test_requests_whose_headers_never_finish_are_dropped(command: CommandServer) -> None:
    calm = bystander_of(command)
    assert command.port is not None
    sockets: List[socket.socket] = []
    try:
        for _ in range(50):
            sock = socket.create_connection(("127.0.0.1", command.port))
            sock.sendall(b"GET /stomp/info HTTP/1.1\r\nHost: x\r\n")  # and nothing more
            sockets.append(sock)
        trickler = socket.create_connection(("127.0.0.1", command.port))
        sockets.append(trickler)
        # One header byte at a time, for ever: a deadline on the whole header block
        # (not on the pause between bytes) ends it.
        assert closed_by_server(trickler, b"GET /stomp/info HTTP/1.1\r\n" + b"X-Slow: " + b"a" * 1000)
        assert all(closed_by_server(sock) for sock in sockets[:50])
        calm.check()
        assert command.request("GET", "/stomp/info")[0] == 200
    finally:
        for sock in sockets:
            sock.close()
        calm.close()
    assert "Traceback" not in command.output()


def test_a_send_body_trickled_in_is_dropped_and_the_session_lives_on() -> None:
    with running_nexus(http_body_timeout=1.0) as nexus:
        calm = nexus.bystander()
        poller = XhrPollingClient(nexus.base_url)
        try:
            poller.connect(nexus.token("trickler", chats=["t"]))
            path = poller.url.replace(nexus.base_url, "") + "/xhr_send"
            sock = socket.create_connection(("127.0.0.1", nexus.port))
            try:
                sock.sendall(b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n" % path.encode())
                assert closed_by_server(sock, b'["' + b"x" * 998)  # one byte every 0.2 s
            finally:
                sock.close()
            poller.send_frame("SEND", {"destination": "/topic/chat/t", "receipt": "ok"}, chat_envelope("trickler", "t"))
            poller.expect("RECEIPT", receipt_id="ok")
            calm.check()
        finally:
            calm.close()


def answers_of(socks: List[socket.socket]) -> List[bytes]:
    """What the server sent on each socket and then closed it with, or ``b"(open)"``
    for each it has neither written to nor closed (read without waiting)."""
    answers = []
    for sock in socks:
        sock.setblocking(False)
        received = b""
        try:
            while True:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                received += chunk
        except BlockingIOError:
            received = received or b"(open)"
        except ConnectionResetError:
            pass
        answers.append(received)
    return answers


def test_out_of_descriptors_it_keeps_what_it_holds_and_refuses_the_rest_at_once(tmp_path: Path) -> None:
    server = CommandServer(tmp_path, ["--no-demo", "--http-header-timeout", "60"], max_descriptors=64)
    server.start()
    hogs: List[socket.socket] = []
    calm = bystander_of(server)
    try:
        assert server.port is not None
        for _ in range(80):  # more than the process may open: accept() fails with EMFILE
            hogs.append(socket.create_connection(("127.0.0.1", server.port)))
        # Each hog is either held (the header timeout is 60 s: the server says nothing)
        # or refused at once with a 503, not left waiting in the listen backlog.
        select.select([hogs[-1]], [], [], PATIENCE)  # the last one is refused, surely
        time.sleep(1.0)
        answers = answers_of(hogs)
        held = [sock for sock, answer in zip(hogs, answers) if answer == b"(open)"]
        refused = [answer for answer in answers if answer != b"(open)"]
        assert held and refused, answers
        assert all(answer.startswith(b"HTTP/1.1 503 ") and b"Retry-After: 1" in answer for answer in refused), refused
        calm.check()  # connections already open are served throughout
        # and none of those it held was dropped (one refused late would show its 503)
        assert not [answer for answer in answers_of(held) if not answer.startswith((b"(open)", b"HTTP/1.1 503 "))]
        for sock in hogs:
            sock.close()
        hogs.clear()
        # It accepts again once descriptors are free.
        deadline = time.monotonic() + PATIENCE
        while True:
            try:
                if server.request("GET", "/stomp/info")[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the server never accepted again"
            time.sleep(0.1)
        output = server.output()
        assert "Traceback" not in output
        warnings = [line for line in output.splitlines() if "cannot accept connections" in line]
        assert len(warnings) == 1, output[-3000:]
        assert "accepting connections again (%d refused" % len(refused) in output, output[-3000:]
    finally:
        for sock in hogs:
            sock.close()
        calm.close()
        server.stop()
