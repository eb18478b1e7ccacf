"""CPU time and memory of processes, read from ``/proc``; CPU pinning.

The server under test may be a process tree (RabbitMQ: a shell wrapper, ``beam.smp``,
``epmd``), so samples sum over a process and its descendants.
"""

from __future__ import annotations

import os
from typing import Callable, Dict, Iterable, List, Optional, Set

_CLK_TCK = os.sysconf("SC_CLK_TCK")
_PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def children(pid: int) -> List[int]:
    """Direct children of ``pid`` (from ``/proc/<pid>/task/*/children``)."""
    out: List[int] = []
    try:
        for task in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/children" % (pid, task)) as f:
                out.extend(int(x) for x in f.read().split())
    except OSError:
        pass
    return out


def tree(pid: int) -> List[int]:
    """``pid`` and all its descendants."""
    seen: List[int] = []
    todo = [pid]
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.append(p)
        todo.extend(children(p))
    return seen


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process, seconds (0 when it is gone)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # Fields after "(comm)": state is index 0, utime 11, stime 12 (proc(5) 14 and 15).
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK


def rss_kb(pid: int) -> int:
    """Resident set size of one process, KiB (0 when it is gone)."""
    try:
        with open("/proc/%d/statm" % pid) as f:
            return int(f.read().split()[1]) * _PAGE_KB
    except OSError:
        return 0


def sample(pids: Iterable[int]) -> Dict[str, float]:
    """CPU seconds and RSS summed over ``pids`` and their descendants."""
    all_pids: Set[int] = set()
    for pid in pids:
        all_pids.update(tree(pid))
    return {
        "cpu": sum(cpu_seconds(p) for p in all_pids),
        "rss_kb": float(sum(rss_kb(p) for p in all_pids)),
    }


def pinner(cpus: Optional[Set[int]]) -> Optional[Callable[[], None]]:
    """A ``preexec_fn`` pinning a child (and whatever it starts) to ``cpus``."""
    if not cpus:
        return None
    frozen = set(cpus)
    return lambda: os.sched_setaffinity(0, frozen)


def parse_cpus(text: str) -> Set[int]:
    """``"0"``, ``"0,2"`` or ``"0-3"`` as a set of CPU numbers."""
    out: Set[int] = set()
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if "-" in part:
            lo, hi = part.split("-")
            out.update(range(int(lo), int(hi) + 1))
        else:
            out.add(int(part))
    return out


def cpu_busy(cpus: Optional[Set[int]]) -> float:
    """Busy seconds of ``cpus`` (user, nice, system, steal), from ``/proc/stat``.

    Minus the server's own CPU time over the same window, this is what other processes
    took from the server's core: the noise of a shared machine.
    """
    if not cpus:
        return 0.0
    total = 0
    with open("/proc/stat") as f:
        for line in f:
            if not line.startswith("cpu") or line.startswith("cpu "):
                continue
            name, *values = line.split()
            if int(name[3:]) in cpus:
                # user nice system idle iowait irq softirq steal: count user, nice,
                # system and steal.  Interrupt time is left out: loopback traffic the
                # server itself sends is processed in softirq on its CPU.
                ticks = [int(v) for v in values]
                total += ticks[0] + ticks[1] + ticks[2] + ticks[7]
    return total / _CLK_TCK


def listen_overflows() -> int:
    """Connections the kernel dropped because a listen queue was full (TcpExt, this netns).

    A server that accepts too slowly for its backlog makes clients wait for SYN
    retransmission (1 s, then 3 s, 7 s, ...): worth knowing when a storm is slow.
    """
    try:
        with open("/proc/net/netstat") as f:
            lines = f.read().splitlines()
    except OSError:
        return 0
    for names, values in zip(lines[::2], lines[1::2]):
        if names.startswith("TcpExt:"):
            table = dict(zip(names.split()[1:], values.split()[1:]))
            return int(table.get("ListenOverflows", 0))
    return 0
