"""What a benchmark reads of another process on Linux: CPU time and resident memory of a
process and its children (an app's store writer process, for one), from ``/proc``."""

from __future__ import annotations

import os
from typing import List


def family(pid: int) -> List[int]:
    """``pid`` and its child processes (the store's writer), whichever of its threads
    started them; just ``pid`` where ``/proc`` cannot tell."""
    members = [pid]
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                members += map(int, f.read().split())
    except OSError:
        pass
    return members


def cpu_seconds(pid: int, children: bool = True) -> float:
    """User plus system CPU time so far of process ``pid`` (all its threads) and, with
    ``children``, of its live child processes (``/proc/PID/stat``; a child that has
    exited counts in its parent's, once waited for). 0.0 off Linux."""
    total = 0.0
    for member in family(pid) if children else [pid]:
        try:
            with open(f"/proc/{member}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def rss_kib(pid: int) -> int:
    """The resident memory of process ``pid`` and its children."""
    total = 0
    for member in family(pid):
        try:
            with open(f"/proc/{member}/status") as f:
                total += next((int(line.split()[1]) for line in f if line.startswith("VmRSS:")), 0)
        except OSError:
            continue
    return total
