"""Cost per call as nesting depth, live sessions and threads grow."""

from __future__ import annotations

import threading
from itertools import cycle, islice, repeat
from time import perf_counter_ns
from typing import Any, Callable, Dict, List, Optional, Sequence

from harness import Case, Runner, timed
from ours import bare, quiet_report

from auditora import DefaultMonitor, DefaultSession, sentinel

DEPTHS = (1, 2, 5, 10, 20, 50)
SESSIONS = (1, 10, 100, 1_000, 10_000, 100_000)
THREADS = (1, 2, 4, 8)


def chain(depth: int, wrap: Optional[Callable[[Callable[[], Any]], Callable[[], Any]]]) -> Runner:
    """``depth`` nested functions; ns per call = time of the outer call / depth."""
    fn: Callable[[], Any] = bare
    for _ in range(depth):
        inner = fn

        def step(inner: Callable[[], Any] = inner) -> Any:
            return inner()

        fn = wrap(step) if wrap is not None else step
    top = fn

    def run(n: int) -> int:
        calls = max(1, n // depth)
        t0 = perf_counter_ns()
        for _ in repeat(None, calls):
            top()
        # Scale back to n operations so the harness's per-op division holds.
        return (perf_counter_ns() - t0) * n // (calls * depth)

    return run


def depth_cases(depths: Sequence[int], otel_tracer: Any = None) -> List[Case]:
    report = quiet_report()
    mon = DefaultMonitor()
    cases = []
    for d in depths:
        cases.append(Case(f"depth {d}", "bare", chain(d, None), baseline=True))
        cases.append(
            Case(
                f"depth {d}", "auditora", chain(d, sentinel(report=report, monitor=mon)), ours=True
            )
        )
        if otel_tracer is not None:
            cases.append(
                Case(
                    f"depth {d}",
                    "opentelemetry",
                    chain(d, otel_tracer.start_as_current_span("step")),
                )
            )
    return cases


def session_cases(counts: Sequence[int]) -> List[Case]:
    """K live sessions (one per decorated function), called round-robin."""
    report = quiet_report()
    mon = DefaultMonitor()
    cases = []
    for k in counts:
        fns = [
            sentinel(session=DefaultSession(session_id=f"s{i}"), monitor=mon, report=report)(bare)
            for i in range(k)
        ]
        bares = [bare] * k

        def make(targets: List[Callable[[], Any]]) -> Runner:
            def loop(n: int) -> None:
                for f in islice(cycle(targets), n):
                    f()

            return timed(loop)

        cases.append(Case(f"sessions {k}", "bare", make(bares), baseline=True))
        cases.append(Case(f"sessions {k}", "auditora", make(fns), ours=True))
    return cases


def threaded(threads: int, fn: Callable[[], Any]) -> Runner:
    """Wall-clock ns per call with ``threads`` threads sharing ``n`` calls."""

    def run(n: int) -> int:
        per = max(1, n // threads)
        gate = threading.Barrier(threads + 1)

        def work() -> None:
            gate.wait()
            for _ in repeat(None, per):
                fn()

        workers = [threading.Thread(target=work) for _ in range(threads)]
        for w in workers:
            w.start()
        gate.wait()
        t0 = perf_counter_ns()
        for w in workers:
            w.join()
        return (perf_counter_ns() - t0) * n // (per * threads)

    return run


def thread_cases(counts: Sequence[int]) -> List[Case]:
    """One shared decorated function called from 1..8 threads at once."""
    watched = sentinel(report=quiet_report())(bare)
    cases = []
    for t in counts:
        cases.append(Case(f"threads {t}", "bare", threaded(t, bare), baseline=True))
        cases.append(Case(f"threads {t}", "auditora", threaded(t, watched), ours=True))
    return cases


def series(cases: List[Case], prefix: str, name: str) -> Dict[int, float]:
    """{x: median ns} for the cases of one implementation in one scaling run."""
    return {
        int(c.group.split()[-1]): c.median
        for c in cases
        if c.group.startswith(prefix) and c.name == name
    }


def plot(cases: List[Case], path_prefix: str) -> List[str]:
    """Write bench_depth.png, bench_sessions.png and bench_threads.png; return the paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    specs = (
        ("depth", "nesting depth", "ns per call", False),
        ("sessions", "live sessions", "ns per call", True),
        ("threads", "threads", "wall-clock ns per call (all threads)", False),
    )
    for prefix, xlabel, ylabel, logx in specs:
        names = sorted({c.name for c in cases if c.group.startswith(prefix)})
        if not names:
            continue
        fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=100)
        for name in names:
            data = series(cases, prefix, name)
            xs = sorted(data)
            ax.plot(xs, [data[x] for x in xs], marker="o", label=name)
        if logx:
            ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_title(f"Cost per call vs {xlabel}")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(loc="center right")
        fig.tight_layout()
        path = f"{path_prefix}bench_{prefix}.png"
        fig.savefig(path)
        plt.close(fig)
        written.append(path)
    return written
