"""The cost of input/output capture: a decorated call with capture on against the
same call with capture off, for small arguments (issue 14's budget: at most 2x).

Run from the repository root::

    python benchmarks/capture.py              # 25 rounds
    python benchmarks/capture.py --quick      # a smoke run, rough figures

Each round times every case once, in a shuffled order, so the load of this
shared machine spreads over all of them; figures are medians over rounds, and
ratios are taken between medians of the same run.
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import auditora
from auditora import sentinel


def _cases() -> Dict[str, Callable[[int], Any]]:
    def plain(x: int, y: int = 2) -> int:
        return x

    def text(question: str, model: str = "m") -> str:
        return question

    def bare(i: int) -> int:
        return plain(i, y=3)

    off = sentinel(capture=False)(plain)
    on = sentinel(capture=True)(plain)
    text_off = sentinel(capture=False)(text)
    text_on = sentinel(capture=True)(text)
    return {
        "bare call": bare,
        "ints, capture off": lambda i: off(i, y=3),
        "ints, capture on": lambda i: on(i, y=3),
        "short str, capture off": lambda i: text_off("what is the capital of France?", model="m"),
        "short str, capture on": lambda i: text_on("what is the capital of France?", model="m"),
    }


def _time(fn: Callable[[int], Any], n: int) -> float:
    start = time.perf_counter_ns()
    for i in range(n):
        fn(i)
    return (time.perf_counter_ns() - start) / n


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few rounds, short samples")
    parser.add_argument("--rounds", type=int, default=25)
    parser.add_argument("--n", type=int, default=20_000, help="calls per sample")
    args = parser.parse_args(argv)
    rounds, n = (3, 500) if args.quick else (args.rounds, args.n)
    auditora.configure(console=False)  # no sink: the capture itself is measured
    cases = _cases()
    samples: Dict[str, List[float]] = {name: [] for name in cases}
    for fn in cases.values():
        _time(fn, n)  # warm-up
    gc.collect()
    for _ in range(rounds):
        order = list(cases.items())
        random.shuffle(order)
        for name, fn in order:
            samples[name].append(_time(fn, n))
    med = {name: statistics.median(v) for name, v in samples.items()}
    print(f"{'case':<26} {'ns/call':>9}")
    for name, value in med.items():
        print(f"{name:<26} {value:>9,.0f}")
    for kind in ("ints", "short str"):
        ratio = med[f"{kind}, capture on"] / med[f"{kind}, capture off"]
        print(f"capture on / off, {kind}: {ratio:.2f}x (budget <= 2x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
