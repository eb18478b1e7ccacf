"""The capacity model behind docs/capacity.md: measured unit costs, added up.

``python bench/capacity.py`` prints the tables of docs/capacity.md from the unit costs
below (``--write`` puts them into the page); ``bench/test_bench.py`` checks that the page
shows what this prints, so a unit cost that is measured again changes the page with it. Every cost names where it was
measured (docs/benchmarks.md, on the project's 2-core machine, one server core).

A process is one core running one ``nexus-tornado``. It is planned at ``UTILISATION``
of its core, at most ``DESCRIPTORS`` connections (the per-process descriptor limit of
the machines measured; raise ``ulimit -n`` to hold more) and ``MEMORY_GB`` of RSS.
"""

from __future__ import annotations

import os
import re
import sys
from typing import Dict, List, NamedTuple, Optional

#: Share of a core a process is planned at: the rest absorbs bursts and reconnect storms.
UTILISATION = 0.7
#: Connections one process may hold where the descriptor limit is 20,000 (as measured).
DESCRIPTORS = 19_000
#: RSS a process may use, GB.
MEMORY_GB = 4.0


class UnitCosts(NamedTuple):
    """What one thing costs a server process (CPU in microseconds of one core)."""

    #: RSS per idle heart-beating connection, KB (19,000 held: 22.4; 10,000: 23.4).
    kb_per_connection: float = 23.4
    #: CPU per connection per second for heart-beats at the default 10 s both ways
    #: (19,000 at 5 s took 43% of a core: 22.6 us per connection-second; half at 10 s).
    beat_us_per_connection_s: float = 11.3
    #: CPU per connect + subscribe (idle rows: 1.7 at 19,000, 2.9 at 10,000 quiet).
    connect_us: float = 2_900.0
    #: CPU per delivery to a subscriber (fan-out, N = 1,000, WebSocket: 17.6 CPU-ms/1k).
    delivery_us: float = 17.6
    #: CPU per receipted SEND taken and stored on MongoDB, many clients (group commit,
    #: a connection's waiting SENDs together: 139-176 us on nx-27017, 1.7-2.4x the
    #: in-memory store's; motor, the default driver, with 20 clients: 176).
    send_us: float = 176.0
    #: CPU per message of a destination a process has no subscriber for (interest-based
    #: fan-out: MongoDB filters, the process never sees it).
    foreign_us: float = 0.0
    #: CPU per message another process published, for each process with subscribers
    #: to it, besides its deliveries: its change event, the body taken from it (checked
    #: against its CRC-32). Counted as about 44 function calls beyond a local delivery's
    #: 137 (180-181 against 137, one subscriber); at the fan-out row's 17.6 us for a
    #: delivery of about 170 calls, about 5 us.
    remote_us: float = 5.0
    #: MongoDB writes per SEND (one insert, sent with others in one command).
    writes_per_send: float = 1.0
    #: MongoDB writes per connect and per close (the per-user connection count).
    writes_per_connect: float = 2.0


class Workload(NamedTuple):
    """What the connections do, per connection and second."""

    name: str
    #: SENDs per connection per second.
    sends: float
    #: Subscribers each SEND reaches.
    fanout: int
    #: Connects (each with a disconnect) per connection per second.
    churn: float


#: A chat-like load: one message a minute per user into a 10-member group, and each
#: connection reconnecting once an hour.
CHAT = Workload("chat: 1 SEND/min per user to 10, reconnect hourly", 1 / 60, 10, 1 / 3600)
#: Centrifugo's published million-connection run, expressed the same way: 1,000,000
#: connections on a personal and a 10-member group channel, 28 million deliveries a
#: minute (~467k/s, so ~46.7k publishes/s to groups of 10), 200k connects and
#: disconnects a minute.
CENTRIFUGO = Workload("Centrifugo's million-connection run", 28e6 / 60 / 10 / 1e6, 10, 200e3 / 60 / 1e6)


class Plan(NamedTuple):
    connections: int
    processes: int
    bound_by: str
    cpu_cores: float
    memory_gb: float
    mongo_writes_s: float
    stream_events_s: float


def cpu_us_per_second(
    costs: UnitCosts, load: Workload, connections: float, processes: int
) -> float:
    """CPU (microseconds per second, all processes) for ``connections`` doing ``load``.

    A SEND is taken and stored once; its ``fanout`` subscribers are spread over the
    processes at random, so :func:`remote_processes` others receive it as a remote
    message (each once, whatever number of its subscribers it serves there).
    """
    sends = connections * load.sends
    remote = remote_processes(processes, load.fanout)
    return (
        connections * costs.beat_us_per_connection_s
        + connections * load.churn * costs.connect_us
        + sends * costs.send_us
        + sends * load.fanout * costs.delivery_us
        + sends * remote * costs.remote_us
        + sends * (processes - 1 - remote) * costs.foreign_us
    )


def remote_processes(processes: int, fanout: int) -> float:
    """Processes other than the publisher's with a subscriber of a message, on average,
    when ``fanout`` subscribers sit on ``processes`` processes at random."""
    if processes <= 1:
        return 0.0
    hosting = processes * (1 - (1 - 1 / processes) ** fanout)
    return max(hosting - 1, 0.0)


def plan(costs: UnitCosts, load: Workload, connections: int) -> Plan:
    """The fewest processes that carry ``connections`` doing ``load``."""
    processes = 1
    while True:
        cpu = cpu_us_per_second(costs, load, connections, processes) / 1e6
        per_process = connections / processes
        memory = per_process * costs.kb_per_connection / 1024 / 1024
        limits = {
            "CPU": cpu / processes <= UTILISATION,
            "descriptors": per_process <= DESCRIPTORS,
            "memory": memory <= MEMORY_GB,
        }
        if all(limits.values()):
            break
        processes += 1
    # What bound it: the limit that fails with one process fewer.
    fewer = max(processes - 1, 1)
    bound = "one process"
    if processes > 1:
        cpu_fewer = cpu_us_per_second(costs, load, connections, fewer) / 1e6
        if cpu_fewer / fewer > UTILISATION:
            bound = "CPU"
        elif connections / fewer > DESCRIPTORS:
            bound = "descriptors"
        else:
            bound = "memory"
    sends = connections * load.sends
    return Plan(
        connections=connections,
        processes=processes,
        bound_by=bound,
        cpu_cores=cpu,
        memory_gb=connections * costs.kb_per_connection / 1024 / 1024,
        mongo_writes_s=sends * costs.writes_per_send + connections * load.churn * costs.writes_per_connect,
        # every process's change stream looks at every write of the collection
        stream_events_s=sends * processes,
    )


def table(costs: UnitCosts, load: Workload, sizes: List[int]) -> str:
    rows = ["| connections | processes | bound by | CPU cores in all | RSS in all, GB "
            "| MongoDB writes/s | change-stream events examined/s |",
            "| --- | --- | --- | --- | --- | --- | --- |"]
    for n in sizes:
        p = plan(costs, load, n)
        rows.append("| {:,} | {} | {} | {:.1f} | {:.1f} | {:,.0f} | {:,.0f} |".format(
            p.connections, p.processes, p.bound_by, p.cpu_cores, p.memory_gb, p.mongo_writes_s, p.stream_events_s))
    return "\n".join(rows)


def breakdown(costs: UnitCosts, load: Workload, connections: int, processes: int) -> Dict[str, float]:
    """Cores each kind of work takes for ``connections`` over ``processes``."""
    sends = connections * load.sends
    remote = remote_processes(processes, load.fanout)
    return {
        "heart-beats": connections * costs.beat_us_per_connection_s / 1e6,
        "connects": connections * load.churn * costs.connect_us / 1e6,
        "SENDs taken and stored": sends * costs.send_us / 1e6,
        "deliveries": sends * load.fanout * costs.delivery_us / 1e6,
        "remote messages": sends * remote * costs.remote_us / 1e6,
    }


def render(costs: Optional[UnitCosts] = None) -> str:
    costs = costs or UnitCosts()
    out = ["### %s" % CHAT.name, "", table(costs, CHAT, [10_000, 100_000, 1_000_000]), ""]
    big = plan(costs, CENTRIFUGO, 1_000_000)
    out += ["### %s" % CENTRIFUGO.name, "", table(costs, CENTRIFUGO, [1_000_000]), ""]
    out += ["| work | cores |", "| --- | --- |"]
    out += ["| %s | %.1f |" % (k, v) for k, v in breakdown(costs, CENTRIFUGO, 1_000_000, big.processes).items()]
    return "\n".join(out) + "\n"


PAGE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs", "capacity.md")
MARKED = re.compile(r"(<!-- capacity:begin[^>]*-->\n)(.*?)(<!-- capacity:end -->)", re.S)


def on_page(text: str) -> str:
    """The tables as docs/capacity.md shows them."""
    match = MARKED.search(text)
    return match.group(2) if match else ""


def main() -> int:
    if sys.argv[1:] == ["--write"]:
        with open(PAGE) as f:
            text = f.read()
        with open(PAGE, "w") as f:
            f.write(MARKED.sub(lambda m: m.group(1) + "\n" + render() + "\n" + m.group(3), text))
        return 0
    sys.stdout.write(render())
    return 0


if __name__ == "__main__":
    sys.exit(main())
