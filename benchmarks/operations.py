"""Per-operation budgets of issue 14: ``report.log_llm_call`` by depth, ``report.info`` by threads.

Run from the repository root::

    python benchmarks/operations.py              # about a minute
    python benchmarks/operations.py --quick      # smoke run: seconds, rough figures
    python benchmarks/operations.py --json out.json

Printed, in ns per operation (median of interleaved rounds, ± half the
interquartile range):

* ``report.log_llm_call`` at nesting depth 1, 10 and 50, and a bare call of the
  same shape that reads a ``ContextVar`` and calls a no-op method (what the
  ``report`` proxy does before the report's own work) — with the ratios;
* ``report.info`` from one thread and from 8 threads sharing one report
  (wall-clock ns per call, all threads together), and their ratio.

The cases of one section are measured in the same rounds, in a freshly shuffled
order each round (see ``harness.measure``): on a shared machine compare the
ratios printed by one run, and repeat the run before believing a figure.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from contextlib import ExitStack
from contextvars import ContextVar
from itertools import repeat
from time import perf_counter_ns
from typing import Any, Callable, Dict, List, Optional

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import Case, Runner, measure, timed

import auditora
from auditora import DefaultMonitor, DefaultReport, bifrost_sync, report

DEPTHS = (1, 10, 50)
THREADS = 8
#: A thread case's sample is this many times as long as the others'.
THREAD_SAMPLE_FACTOR = 10

#: The budgets of issue 14: log_llm_call in ns, and 8 threads / 1 thread for report.info.
LLM_CALL_TARGET_NS = 3_000.0
THREADS_RATIO_TARGET = 1.5


class _NoopReport:
    def log_llm_call(self, model: str, *args: Any, **fields: Any) -> None:
        return None


_bare_var: ContextVar[Any] = ContextVar("bench_bare")
_bare_var.set(_NoopReport())


def bare_llm_call(
    model: str,
    prompt_tokens: Optional[int] = None,
    completion_tokens: Optional[int] = None,
    response_time: Optional[float] = None,
    **fields: Any,
) -> None:
    """A ContextVar read and a no-op method call with log_llm_call's arguments."""
    _bare_var.get().log_llm_call(model, prompt_tokens, completion_tokens, response_time, **fields)


def in_nested_runs(depth: int, body: Callable[[int], None]) -> Runner:
    """Time ``body(n)`` inside ``depth`` nested runs sharing one quiet report and monitor."""

    def run(n: int) -> int:
        with ExitStack() as stack:
            stack.enter_context(bifrost_sync(monitor=DefaultMonitor(), report=quiet_report()))
            for _ in range(depth - 1):
                stack.enter_context(bifrost_sync())  # a child run that joins the adats above
            t0 = perf_counter_ns()
            body(n)
            return perf_counter_ns() - t0

    return run


def quiet_report() -> DefaultReport:
    return DefaultReport(echo=False)


def llm_calls(n: int) -> None:
    for _ in repeat(None, n):
        report.log_llm_call("gpt-4o-mini", 120, 30, 0.4, provider="openai")


def bare_llm_calls(n: int) -> None:
    for _ in repeat(None, n):
        bare_llm_call("gpt-4o-mini", 120, 30, 0.4, provider="openai")


def infos(n: int) -> None:
    for _ in repeat(None, n):
        report.info("request handled", user="u1")


def info_threads(threads: int) -> Runner:
    """``report.info`` from ``threads`` threads in one run (one shared report):
    wall-clock time from the first thread's start to the last one's end."""

    def run(n: int) -> int:
        per_thread = max(1, n // threads)
        starts: List[int] = []
        ends: List[int] = []
        ready = threading.Barrier(threads)

        def work() -> None:
            ready.wait()
            starts.append(perf_counter_ns())
            infos(per_thread)
            ends.append(perf_counter_ns())

        with bifrost_sync(monitor=DefaultMonitor(), report=quiet_report()):
            pool = [threading.Thread(target=auditora.bind(work)) for _ in range(threads)]
            for t in pool:
                t.start()
            for t in pool:
                t.join()
        # Scaled back to n operations so the harness's per-operation division holds.
        return (max(ends) - min(starts)) * n // (per_thread * threads)

    return run


def llm_cases() -> List[Case]:
    cases = [Case("llm_call", "bare ContextVar wrapper", timed(bare_llm_calls), baseline=True)]
    for depth in DEPTHS:
        cases.append(
            Case(
                "llm_call",
                f"log_llm_call depth {depth}",
                in_nested_runs(depth, llm_calls),
                ours=True,
                target_ns=LLM_CALL_TARGET_NS,
            )
        )
    return cases


def thread_cases() -> List[Case]:
    return [
        Case("info_threads", "report.info 1 thread", in_nested_runs(1, infos), ours=True),
        Case(
            "info_threads",
            f"report.info {THREADS} threads, one report",
            info_threads(THREADS),
            ours=True,
        ),
    ]


def _line(case: Case, base: Optional[Case], extra: str = "") -> str:
    ratio = f"{case.median / base.median:7.1f}x bare" if base is not None else ""
    return (
        f"  {case.name:<36} {case.median:10.1f} ns/op  ±{case.spread * 100:4.1f}%  {ratio}{extra}"
    )


def report_llm(cases: List[Case]) -> Dict[str, float]:
    base = cases[0]
    print("\n[llm_call]  (ns per call)")
    print(_line(base, None))
    for c in cases[1:]:
        met = "met" if c.median <= LLM_CALL_TARGET_NS else "missed"
        print(_line(c, base, f"  target 3 µs: {met}"))
    deepest, shallowest = cases[-1], cases[1]
    flat = deepest.median / shallowest.median
    print(f"  {'depth 50 / depth 1':<36} {flat:10.2f} x")
    return {"depth_50_over_1": flat}


def report_threads(cases: List[Case]) -> Dict[str, float]:
    one, many = cases
    ratio = many.median / one.median
    print("\n[info_threads]  (wall-clock ns per call, all threads together)")
    print(_line(one, None))
    print(_line(many, None))
    met = "met" if ratio <= THREADS_RATIO_TARGET else "missed"
    print(f"  {f'{THREADS} threads / 1 thread':<36} {ratio:10.2f} x      target 1.5x: {met}")
    return {"threads_over_one": ratio}


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: seconds, rough figures")
    parser.add_argument("--repeats", type=int, help="interleaved rounds (default 11, quick 3)")
    parser.add_argument("--sample-ms", type=float, help="length of one sample in ms")
    parser.add_argument("--json", metavar="PATH", help="write every figure as JSON")
    args = parser.parse_args(argv)
    repeats = args.repeats or (3 if args.quick else 11)
    sample_ms = args.sample_ms or (3.0 if args.quick else 40.0)
    auditora.configure(console=False)

    llm = llm_cases()
    measure(llm, repeats, sample_ms)
    ratios = report_llm(llm)
    threads = thread_cases()
    # Long samples: each thread must run through many of the interpreter's
    # 5 ms switch intervals, or the threads would mostly run one after another.
    measure(threads, repeats, sample_ms * THREAD_SAMPLE_FACTOR)
    ratios.update(report_threads(threads))

    if args.json:
        out = {
            "cases": [
                {
                    "group": c.group,
                    "name": c.name,
                    "median_ns": c.median,
                    "spread": c.spread,
                    "samples_ns": c.samples,
                    "n": c.n,
                }
                for c in llm + threads
            ],
            "ratios": ratios,
        }
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
