"""Work per SEND to one chat room, counted in function calls (deterministic).

    python bench/sendcost.py [--members 26] [--sends 50] [--top 30]

Starts the plugin on a free loopback port (the tests' ``running_nexus``), connects
``--members`` subscribers of one room and a publisher (a member of 200 rooms, as the
benchmark's publishers are), and sends valid ``CHAT_MESSAGE`` bodies one at a time,
each waiting for its RECEIPT. While they are handled, ``cProfile`` runs in the server's
thread: the output is the number of calls (Python functions and C functions alike) the
server made per SEND, everything included (STOMP parse, guard, store, the deliveries and
their writes), and the functions called most. Unlike CPU time it does not move with
the machine's load, so it shows what a change to the path did.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests"))

from support.clients import RawWsClient, chat_envelope  # noqa: E402
from support.nexus import running_nexus  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=26, help="subscribers of the room (the benchmark's mean)")
    parser.add_argument("--sends", type=int, default=50)
    parser.add_argument("--top", type=int, default=30, help="functions to list")
    args = parser.parse_args()
    destination = "/topic/chat/room"
    with running_nexus(sends_per_minute=1_000_000) as nexus:
        members = []
        for i in range(args.members):
            client = RawWsClient(nexus.ws_url)
            client.connect(nexus.token("u%d" % i, chats=["room"]))
            client.subscribe("s%d" % i, destination)
            members.append(client)
        publisher = RawWsClient(nexus.ws_url)
        publisher.connect(nexus.token("pub", chats=["room"] + ["r%d" % i for i in range(199)]))

        def send(k: int) -> None:
            body = chat_envelope("pub", "room", "message %d " % k + "x" * 150)
            publisher.send_frame("SEND", {"destination": destination, "receipt": "r%d" % k}, body)
            publisher.expect("RECEIPT", receipt_id="r%d" % k)

        for k in range(5):  # warm-up: caches, compiled patterns
            send(k)
        profile = cProfile.Profile()
        nexus.handle.call(profile.enable)
        for k in range(100, 100 + args.sends):
            send(k)
        for client in members:
            for _ in range(5 + args.sends):
                client.expect("MESSAGE")
        nexus.handle.call(profile.disable)
        stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
        total = sum(row[1] for row in stats.values())
        print("calls per SEND to a room of %d: %.0f" % (args.members, total / args.sends))
        rows = sorted(stats.items(), key=lambda kv: -kv[1][1])
        for (path, line, name), row in rows[: args.top]:
            print("%8.1f  %s:%s %s" % (row[1] / args.sends, os.path.basename(path), line, name))
        for client in members + [publisher]:
            client.close()


if __name__ == "__main__":
    main()
