"""Memory a client can make the server hold: bounded in bytes, measured deterministically.

Through a real server on loopback, with a bystander throughout. Sizes are read from the
server's own structures (byte accounting, or the bytes objects they hold), never from
wall-clock behaviour.
"""

from __future__ import annotations

import concurrent.futures
import json
import socket
from pathlib import Path
from typing import Any, List

from nexus_tornado.stomp import MessageTemplate
from support.clients import RawWsClient, read_until_closed
from support.command import CommandServer
from support.nexus import NexusServer, running_nexus

KIB = 1024
MIB = 1024 * KIB


def board_update(size: int) -> bytes:
    return json.dumps(
        {
            "type": "BOARD_UPDATE",
            "timestamp": "2026-11-25T10:00:00Z",
            "senderId": "srv",
            "payload": {"boardId": "b", "action": "add", "data": {"text": "x" * size}},
        }
    ).encode()


def publish(nexus: NexusServer, destination: str, bodies: List[bytes]) -> None:
    async def run() -> None:
        for body in bodies:
            await nexus.plugin.publish(destination, body)

    nexus.run(run)


def held(template: MessageTemplate) -> int:
    """Bytes a template holds now: its body, encoded prefixes and cached frames."""
    return (
        len(template.body)
        + sum(len(p) for p in template._prefixes.values())
        + sum(len(f) for f in template._rendered.values())
    )


def recent_held(nexus: NexusServer, destination: str) -> List[int]:
    def measure() -> List[int]:
        recent = nexus.plugin.hub._recent
        return [held(t) for (d, _), t in recent.items() if d == destination]

    return list(nexus.handle.call(measure))


# -- the recent-message cache -------------------------------------------------------------


def test_distinct_subscription_ids_do_not_multiply_cached_copies_and_the_cache_is_bounded() -> None:
    with running_nexus(recent_cache_bytes=4 * MIB) as nexus:
        calm = nexus.bystander()
        clients: List[RawWsClient] = []
        try:
            for n in range(16):
                client = RawWsClient(nexus.ws_url)
                client.connect(nexus.token("watcher%d" % n, boards=["same", "mixed"]))
                clients.append(client)
                # The first 8 all pick "sub-0" (as stompjs does); the others choose
                # an id each.
                destination = "/topic/board/same" if n < 8 else "/topic/board/mixed"
                client.subscribe("sub-0" if n < 8 else "id-%d" % n, destination)
            for destination in ("/topic/board/same", "/topic/board/mixed"):
                publish(nexus, destination, [board_update(60 * KIB) for _ in range(8)])
                for client in clients[:8] if destination.endswith("same") else clients[8:]:
                    for seq in range(1, 9):
                        assert client.expect("MESSAGE").headers["seq"] == str(seq)
            same = recent_held(nexus, "/topic/board/same")
            mixed = recent_held(nexus, "/topic/board/mixed")
            assert same and mixed
            per_same, per_mixed = sum(same) / len(same), sum(mixed) / len(mixed)
            # One id: the body and one frame. Eight ids: at most one more frame.
            assert per_mixed <= 1.6 * per_same, (per_mixed, per_same)
            # More large messages: the cache stays within its bytes, not its count.
            publish(nexus, "/topic/board/mixed", [board_update(60 * KIB) for _ in range(40)])
            for client in clients[8:]:
                for seq in range(9, 49):
                    assert client.expect("MESSAGE").headers["seq"] == str(seq)
            total = sum(recent_held(nexus, "/topic/board/mixed")) + sum(recent_held(nexus, "/topic/board/same"))
            assert total <= 4 * MIB
            accounted = nexus.handle.call(lambda: nexus.plugin.hub.recent_bytes)
            assert total <= accounted <= 4 * MIB
            calm.check()
        finally:
            for client in clients:
                client.close()
            calm.close()


# -- the in-memory store across destinations ----------------------------------------------


def test_the_in_memory_store_is_bounded_across_destinations_and_replay_reports_the_gap() -> None:
    with running_nexus(memory_store_bytes=512 * KIB) as nexus:
        calm = nexus.bystander()
        try:
            for rounds in range(15):  # 15 x 40 rooms x 1.7 KB: about 1 MB, twice the bound
                for room in range(40):
                    publish(nexus, "/topic/board/room%d" % room, [board_update(1500)])
            store: Any = nexus.plugin.store
            assert nexus.handle.call(lambda: store.bytes_held) <= 512 * KIB
            calm.check()
            client = RawWsClient(nexus.ws_url)
            try:
                client.connect(nexus.token("reader", boards=["room0"]))
                client.subscribe("r", "/topic/board/room0", last_seq="0")
                first = client.expect("MESSAGE")
                # The oldest messages went first; the replay says which it cannot give.
                assert first.headers["gap-from"] == "1"
                gap_to = int(first.headers["gap-to"])
                assert int(first.headers["seq"]) == gap_to + 1
                rest = [int(client.expect("MESSAGE").headers["seq"]) for _ in range(15 - gap_to - 1)]
                assert rest == list(range(gap_to + 2, 16))
            finally:
                client.close()
            calm.check()
        finally:
            calm.close()


# -- uncommitted transactions ------------------------------------------------------------------


def tx_send(chat: str, tx: str, receipt: str, size: int) -> str:
    body = '{"type":"CHAT_MESSAGE","pad":"%s"}' % ("x" * size)
    return "SEND\ndestination:/topic/chat/%s\ntransaction:%s\nreceipt:%s\n\n%s\x00" % (chat, tx, receipt, body)


def test_what_one_user_holds_in_open_transactions_is_bounded_over_all_connections() -> None:
    with running_nexus(max_transaction_bytes=512 * KIB, sends_per_minute=100_000) as nexus:
        calm = nexus.bystander()
        clients = [RawWsClient(nexus.ws_url) for _ in range(3)]
        held = lambda: nexus.handle.call(lambda: nexus.plugin.services.transaction_bytes.held("hoarder"))  # noqa: E731
        try:
            for client in clients:
                client.connect(nexus.token("hoarder", chats=["h"]))
                client.subscribe_errors()  # the committed SENDs are refused: reported, not fatal
            # Each connection holds 3 x 60 KB: 540 KB in all is over 512 KiB.
            for i, client in enumerate(clients[:2]):
                client.send_frame("BEGIN", {"transaction": "t", "receipt": "b"})
                client.expect("RECEIPT", receipt_id="b")
                for n in range(3):
                    client.send_raw(tx_send("h", "t", "s%d" % n, 60 * KIB))
                client.send_frame("SUBSCRIBE", {"id": "p", "destination": "/topic/presence", "receipt": "sync"})
                client.expect("RECEIPT", receipt_id="sync")
            assert 360 * KIB < held() <= 512 * KIB
            third = clients[2]
            third.send_frame("BEGIN", {"transaction": "t"})
            for n in range(3):
                third.send_raw(tx_send("h", "t", "s%d" % n, 60 * KIB))
            error = third.expect("ERROR")
            assert error.headers["message"] == "transaction too large"
            third.wait_closed()
            assert held() <= 512 * KIB
            # Committing frees the bytes; closing a connection frees what it held.
            clients[0].send_frame("COMMIT", {"transaction": "t", "receipt": "c"})
            clients[0].expect("RECEIPT", receipt_id="c")
            clients[1].close()
            deadline = 100
            while held() and deadline:
                deadline -= 1
                clients[0].send_frame("SUBSCRIBE", {"id": "q%d" % deadline, "destination": "/topic/presence",
                                                    "receipt": "r%d" % deadline})
                clients[0].expect("RECEIPT", receipt_id="r%d" % deadline)
            assert held() == 0
            calm.check()
        finally:
            for client in clients:
                client.close()
            calm.close()


def test_sends_held_in_a_transaction_count_toward_the_rate_limit_once() -> None:
    with running_nexus(sends_per_minute=5) as nexus:
        calm = nexus.bystander()
        client = RawWsClient(nexus.ws_url)
        try:
            client.connect(nexus.token("batcher", chats=["b"]))
            client.subscribe_errors()
            client.send_frame("BEGIN", {"transaction": "t"})
            for n in range(3):
                client.send_raw(tx_send("b", "t", "s%d" % n, 10))
            client.send_frame("ABORT", {"transaction": "t", "receipt": "aborted"})
            client.expect("RECEIPT", receipt_id="aborted")
            # Three SENDs never committed still spent three of the five.
            client.send_frame("BEGIN", {"transaction": "u"})
            for n in range(3):
                client.send_raw(tx_send("b", "u", "u%d" % n, 10))
            frame, body = client.rejection()
            assert (frame.headers["receipt-id"], body["error"]) == ("u2", "RATE_LIMITED")
            client.send_frame("COMMIT", {"transaction": "u", "receipt": "committed"})
            # The two held SENDs are handled at COMMIT without being counted again
            # (refused by validation: the test's bodies are not whole envelopes).
            for receipt in ("u0", "u1"):
                frame, body = client.rejection()
                assert (frame.headers["receipt-id"], body["error"]) == (receipt, "INVALID_MESSAGE")
            client.expect("RECEIPT", receipt_id="committed")
            calm.check()
        finally:
            client.close()
            calm.close()


# -- HTTP request bodies ------------------------------------------------------------------


def _peak_rss(pid: int) -> int:
    """The highest resident set size process ``pid`` has had so far, bytes (memory
    buffered and freed again counts)."""
    with open("/proc/%d/status" % pid) as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * KIB
    raise AssertionError("no VmHWM")


def _post_big_body(port: int, path: str, size: int, chunked: bool) -> bytes:
    """POST ``size`` bytes to ``path`` (as far as the server reads them); its answer."""
    piece = b"x" * MIB
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        if chunked:
            sock.sendall(b"POST %s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" % path.encode())
            frame = b"%x\r\n%s\r\n" % (len(piece), piece)
        else:
            sock.sendall(b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (path.encode(), size))
            frame = piece
        sent = 0
        try:
            while sent < size:
                sock.sendall(frame)
                sent += len(piece)
            if chunked:
                sock.sendall(b"0\r\n\r\n")
        except OSError:  # refused and closed: the rest is never read
            pass
        return read_until_closed(sock)


def test_large_http_bodies_do_not_grow_the_command_s_memory(tmp_path: Path) -> None:
    """90 MB bodies (under Tornado's own 100 MB limit) to the publish API, without a
    token, and to /healthz, chunked or announced, three at once: the command's peak
    resident memory must not grow by anything like their size."""
    command = CommandServer(tmp_path)
    command.start()
    try:
        pid = command.pid
        assert command.port is not None
        port = command.port
        for path in ("/stomp/api/publish", "/healthz"):  # warm both paths up
            command.request("GET", path)
        before = _peak_rss(pid)
        size = 90 * MIB
        jobs = [("/stomp/api/publish", False), ("/stomp/api/publish", True), ("/healthz", True)]
        with concurrent.futures.ThreadPoolExecutor(len(jobs)) as pool:
            answers = list(pool.map(lambda job: _post_big_body(port, job[0], size, job[1]), jobs))
        grown = _peak_rss(pid) - before
        assert grown < 16 * MIB, "the command's peak memory grew by %d MiB" % (grown // MIB)
        for answer in answers:
            # A reset may cost the client the answer; what it got is a 413.
            assert answer == b"" or answer.startswith(b"HTTP/1.1 413 "), answer[:200]
        assert any(answer.startswith(b"HTTP/1.1 413 ") for answer in answers)
        assert command.request("GET", "/healthz")[0] == 200
    finally:
        command.stop()
