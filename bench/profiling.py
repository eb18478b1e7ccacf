"""Sampling profiles of the server under load, with py-spy (optional).

``python bench/run.py --profile`` attaches ``py-spy record`` to each nexus-tornado
server while a scenario runs (py-spy itself runs on the load generators' CPUs) and
writes the raw stacks plus a summary of the hottest frames to the log directory.
"""

from __future__ import annotations

import collections
import os
import re
import shutil
import signal
import subprocess
import sys
from typing import Dict, List, Optional, Set, Tuple

import procstat


def py_spy() -> Optional[str]:
    """The py-spy executable next to this Python, or on PATH."""
    local = os.path.join(os.path.dirname(sys.executable), "py-spy")
    return local if os.path.exists(local) else shutil.which("py-spy")


class Profiler:
    """``py-spy record --pid`` for as long as the ``with`` block lasts."""

    def __init__(self, pid: int, out: str, cpus: Optional[Set[int]], rate: int = 200) -> None:
        self.pid = pid
        self.out = out
        self.cpus = cpus
        self.rate = rate
        self.proc: Optional[subprocess.Popen] = None

    def __enter__(self) -> "Profiler":  # noqa: PYI034 - a plain class, not subclassed
        exe = py_spy()
        if exe is None:
            raise RuntimeError("py-spy is not installed (pip install py-spy)")
        self.proc = subprocess.Popen(
            [exe, "record", "--pid", str(self.pid), "--format", "raw", "--rate", str(self.rate),
             "--nonblocking", "--output", self.out],
            stdout=subprocess.DEVNULL,
            stderr=open(self.out + ".log", "w"),
            preexec_fn=procstat.pinner(self.cpus),
        )
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def summarize(raw: str, top: int = 25) -> str:
    """The hottest frames of a py-spy raw (collapsed stacks) file, as markdown."""
    own: Dict[str, int] = collections.Counter()
    inclusive: Dict[str, int] = collections.Counter()
    total = 0
    with open(raw) as f:
        for line in f:
            stack, _, count = line.rstrip().rpartition(" ")
            if not stack or not count.isdigit():
                continue
            n = int(count)
            total += n
            # "func (file.py:123)" -> "func (file.py)": one row per function, not per line.
            frames = [re.sub(r":\d+\)$", ")", frame) for frame in stack.split(";")]
            own[frames[-1]] += n
            for frame in set(frames):
                inclusive[frame] += n
    if not total:
        return "no samples\n"

    def rows(counter: Dict[str, int], keep: bool = True) -> List[Tuple[float, str]]:
        items = sorted(counter.items(), key=lambda kv: -kv[1])
        return [(100.0 * n / total, frame) for frame, n in items if keep][:top]

    ours = {f: n for f, n in inclusive.items() if "nexus_tornado/" in f}
    lines = ["%d samples" % total, "", "Self time:", ""]
    lines += ["- %5.1f%% %s" % row for row in rows(own)]
    lines += ["", "Inclusive time, nexus_tornado frames:", ""]
    lines += ["- %5.1f%% %s" % row for row in rows(ours)]
    return "\n".join(lines) + "\n"
