"""The experiment harness's own overhead per item: 1,000 items x 3 scorers, a no-op task.

Each case runs the same work — the task and three cheap scorers on every item —
and the overhead is its time minus the bare loop's, per item. Cases:

* ``bare loop``: the task and the scorers called in a plain loop (the baseline);
* ``run, no sink``: ``experiments.run`` with nothing configured (runs and
  evaluation records are built, not emitted);
* ``run, memory sink``: with a configured sink (every record goes to the recorder);
* ``run, store=``: writing the experiment to a SQLite store as it goes;
* ``run, 4 threads``: ``concurrency=4``, no sink.

Rounds are interleaved (every case once per round) and medians reported, so
background load on a shared machine spreads over all cases. Budget: 200 us per
item. Run: ``python benchmarks/experiments.py [--items N] [--rounds R]``.

``--big N`` then times listing, loading and comparing two stored experiments in a
store that also holds N unrelated runs in N/10 sessions (inserted with SQL, the
way a busy production store looks), against the same store without them: the
reads go through the sessions' primary key and the session_id indexes, so they
should not grow with N.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from typing import Any, Callable, Dict, List

import auditora
from auditora import experiments, scorers
from auditora.experiments import Dataset
from auditora.testing import reset

BUDGET_US = 200.0


def task(x: Any) -> Any:
    return x


SCORERS = [scorers.exact_match, scorers.contains, scorers.regex_match("item")]


def _bare(data: Dataset) -> float:
    t0 = time.perf_counter()
    for item in data:
        out = task(item.input)
        for s in SCORERS:
            s(out, item)
    return time.perf_counter() - t0


def _run(data: Dataset, **kw: Any) -> Callable[[], float]:
    def go() -> float:
        t0 = time.perf_counter()
        experiments.run("bench", data, task, SCORERS, progress=False, **kw)
        return time.perf_counter() - t0

    return go


def _with_sink(data: Dataset) -> float:
    auditora.configure(sinks=["memory"], console=False)
    try:
        elapsed = _run(data)()
        auditora.flush()
        return elapsed
    finally:
        reset()


def _filler(path: str, n: int) -> None:
    """``n`` unrelated runs in ``n // 10`` sessions, written straight with SQL."""
    import sqlite3

    from auditora.store import open_store

    open_store(path, readonly=False).close()  # the schema
    conn = sqlite3.connect(path)
    with conn:
        conn.executemany(
            "INSERT INTO sessions (session_id, first_ns, last_ns) VALUES (?, ?, ?)",
            ((f"job-{i:08d}", i, i + 1) for i in range(max(1, n // 10))),
        )
        conn.executemany(
            "INSERT INTO runs (run_id, trace_id, session_id, name, start_ns, end_ns, status) "
            "VALUES (?, ?, ?, 'work', ?, ?, 'ok')",
            ((f"{i:016x}", f"{i:032x}", f"job-{i // 10:08d}", i, i + 5) for i in range(n)),
        )
    conn.close()


def _reads(path: str, rounds: int) -> Dict[str, float]:
    """Median seconds of listing, loading one run and comparing two, in the store at path."""
    from auditora.store import open_store

    out: Dict[str, List[float]] = {"list": [], "load": [], "compare": []}
    with open_store(path) as store:
        for _ in range(rounds):
            t0 = time.perf_counter()
            experiments.list_experiments(store)
            t1 = time.perf_counter()
            experiments.load_experiment(store, "big-a")
            t2 = time.perf_counter()
            experiments.compare(store, "big-a", "big-b")
            t3 = time.perf_counter()
            out["list"].append(t1 - t0)
            out["load"].append(t2 - t1)
            out["compare"].append(t3 - t2)
    return {k: statistics.median(v) for k, v in out.items()}


def big_store(n: int, items: int, rounds: int) -> None:
    tmp = tempfile.mkdtemp(prefix="auditora-bench-big-")
    data = Dataset([{"input": f"item {i}", "expected": f"item {i}"} for i in range(items)])
    figures = {}
    for label, filler in (("empty", 0), (f"{n:,} other runs", n)):
        path = os.path.join(tmp, f"{filler}.db")
        if filler:
            t0 = time.perf_counter()
            _filler(path, filler)
            print(f"(wrote {filler:,} filler runs in {time.perf_counter() - t0:.1f} s)")
        for name in ("big-a", "big-b"):
            experiments.run(name, data, task, SCORERS, store=path, progress=False)
        figures[label] = _reads(path, rounds)
    print(f"\nreads of two {items}-item experiments (median of {rounds}), in ms")
    print(f"{'store':<22} {'list':>8} {'load':>8} {'compare':>8}")
    for label, f in figures.items():
        print(
            f"{label:<22} {f['list'] * 1e3:>8.2f} {f['load'] * 1e3:>8.2f} "
            f"{f['compare'] * 1e3:>8.2f}"
        )


def main(argv: List[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--big", type=int, default=0, help="also time reads next to N runs")
    args = parser.parse_args(argv)
    data = Dataset([{"input": f"item {i}", "expected": f"item {i}"} for i in range(args.items)])
    tmp = tempfile.mkdtemp(prefix="auditora-bench-")
    counter = [0]

    def stored() -> float:
        counter[0] += 1
        return _run(data, store=os.path.join(tmp, f"exp{counter[0]}.db"))()

    cases: Dict[str, Callable[[], float]] = {
        "bare loop": lambda: _bare(data),
        "run, no sink": _run(data),
        "run, memory sink": lambda: _with_sink(data),
        "run, store=": stored,
        "run, 4 threads": _run(data, concurrency=4),
    }
    reset()
    for fn in cases.values():  # warm up (imports, first store creation)
        fn()
    samples: Dict[str, List[float]] = {name: [] for name in cases}
    for _ in range(args.rounds):
        for name, fn in cases.items():
            samples[name].append(fn())
    bare = statistics.median(samples["bare loop"])
    print(f"experiment harness overhead, {args.items} items x {len(SCORERS)} scorers, no-op task")
    print(f"(median of {args.rounds} interleaved rounds; budget {BUDGET_US:.0f} us per item)\n")
    print(f"{'case':<20} {'total ms':>10} {'per item us':>12} {'overhead us':>12}  budget")
    worst = 0.0
    for name, values in samples.items():
        total = statistics.median(values)
        per_item = total / args.items * 1e6
        overhead = (total - bare) / args.items * 1e6
        verdict = "" if name == "bare loop" else ("ok" if overhead <= BUDGET_US else "OVER")
        if name != "bare loop":
            worst = max(worst, overhead)
        print(f"{name:<20} {total * 1e3:>10.1f} {per_item:>12.1f} {overhead:>12.1f}  {verdict}")
    print(f"\nworst overhead: {worst:.1f} us per item ({worst / BUDGET_US:.0%} of the budget)")
    if args.big:
        big_store(args.big, args.items, max(3, args.rounds // 2))
    return 0 if worst <= BUDGET_US else 1


if __name__ == "__main__":
    sys.exit(main())
