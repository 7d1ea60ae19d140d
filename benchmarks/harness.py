"""Timing machinery: calibrated batches, interleaved repeats, medians and spread.

Every case is a callable ``run(n) -> elapsed_ns`` that performs ``n`` operations
and times only them (setup stays outside the timed region). ``measure`` sizes
``n`` per case so one sample lasts about ``sample_ms``, then takes ``repeats``
samples of every case in a shuffled order each round: on a shared 2-core
machine, background load then spreads over all cases instead of biasing one,
and ratios taken from the same run stay meaningful.
"""

from __future__ import annotations

import gc
import random
import statistics
from dataclasses import dataclass, field
from time import perf_counter_ns
from typing import Callable, Dict, List, Optional

Runner = Callable[[int], int]


@dataclass
class Case:
    """One measured operation."""

    group: str  #: operations compared with each other, e.g. "call.sync"
    name: str  #: implementation, e.g. "auditora" or "opentelemetry (batch)"
    run: Runner
    baseline: bool = False  #: the bare operation the group's ratios are taken to
    ours: bool = False  #: an Auditora figure (checked by the smoke test)
    target_ns: Optional[float] = None
    note: str = ""
    n: int = 0
    samples: List[float] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.group}/{self.name}"

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def spread(self) -> float:
        """Half the interquartile range, relative to the median (0.05 = ±5 %)."""
        s = sorted(self.samples)
        if len(s) < 4:
            return (s[-1] - s[0]) / 2 / self.median if self.median else 0.0
        q = statistics.quantiles(s, n=4)
        return (q[2] - q[0]) / 2 / self.median if self.median else 0.0


def calibrate(run: Runner, sample_ms: float, start: int = 64, cap: int = 5_000_000) -> int:
    """The number of operations that makes one sample last about ``sample_ms``."""
    n = start
    goal = sample_ms * 1e6
    while True:
        elapsed = max(run(n), 1)
        if elapsed >= goal / 4 or n >= cap:
            return max(1, min(cap, int(n * goal / elapsed)))
        n *= 4


def measure(
    cases: List[Case],
    repeats: int,
    sample_ms: float,
    seed: int = 1,
    progress: Optional[Callable[[str], None]] = None,
) -> None:
    """Fill every case's ``samples`` (ns per operation), interleaving the cases."""
    # Collect the setup's garbage first: otherwise the collector's first full
    # passes over it land inside the first samples (seen as a 2x slowdown).
    gc.collect()
    for case in cases:
        case.run(max(16, case.n // 10 if case.n else 16))  # warm up caches and lazy imports
        if not case.n:
            case.n = calibrate(case.run, sample_ms)
        case.run(case.n)  # one full untimed sample: adaptive specialisation settles
    gc.collect()
    rng = random.Random(seed)
    order = list(cases)
    for r in range(repeats):
        rng.shuffle(order)
        for case in order:
            case.samples.append(case.run(case.n) / case.n)
        if progress is not None:
            progress(f"round {r + 1}/{repeats}")


def timed(loop: Callable[[int], None]) -> Runner:
    """Wrap ``loop(n)`` (which performs n operations) into a timed runner."""

    def run(n: int) -> int:
        t0 = perf_counter_ns()
        loop(n)
        return perf_counter_ns() - t0

    return run


def fmt_ns(ns: float) -> str:
    """A duration in ns, µs or ms with three significant digits."""
    if ns >= 1e6:
        return f"{ns / 1e6:.3g} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.3g} µs"
    return f"{ns:.3g} ns"


def group_cases(cases: List[Case]) -> Dict[str, List[Case]]:
    """Cases by group, in first-seen order."""
    groups: Dict[str, List[Case]] = {}
    for case in cases:
        groups.setdefault(case.group, []).append(case)
    return groups
