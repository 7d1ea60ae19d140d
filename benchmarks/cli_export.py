"""Peak memory of ``auditora export`` on a store of ~200,000 records.

Builds the store with the library itself (``@sentinel`` runs writing logs,
events, LLM calls and evaluations into ``configure(store=...)``), then runs
``python -m auditora export STORE -o /dev/null`` in a fresh process per case
and reads that process's peak resident set size (``ru_maxrss`` from
``os.wait4``). Two references run the same way: the interpreter with the CLI
imported (the floor), and a script that loads every record into one list, as
the export did before it streamed (the ceiling)::

    .venv/bin/python benchmarks/cli_export.py              # ~200,000 records
    .venv/bin/python benchmarks/cli_export.py --records 20000 --keep /tmp/x.db

Memory is deterministic enough for one sample per case; time is printed too,
but on a shared machine read it as a rough figure.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Tuple

import auditora
from auditora import DefaultReport, monitor, report, sentinel

#: Records written per call of the unit below: 1 run, 4 logs, 3 events, 1 LLM call,
#: 1 evaluation and 5 metric values (the run's roll-ups).
PER_CALL = 15

FLOOR = "import auditora.cli"
#: What ``export --kind all`` did before it streamed: every table's rows in one list.
MATERIALISED = """
import sys
from auditora.store import open_store
from auditora.store._schema import TABLES
with open_store(sys.argv[1]) as store:
    rows = []
    for t in TABLES:
        rows += store.sessions() if t.name == "sessions" else getattr(store, t.name)(limit=None)
print(len(rows))
"""


def build(path: str, records: int) -> Tuple[int, float]:
    """Write about ``records`` records to a new store at ``path``; (records, seconds)."""

    @sentinel(report=DefaultReport(echo=False))
    def unit(i: int) -> None:
        for n in range(4):
            report.info(f"step {n} of item {i}", item=i, detail="x" * 40)
        for n in range(3):
            monitor.track("cache", key=f"k{i}-{n}", hit=bool(n % 2))
        report.log_llm_call(
            "gpt-4o-mini",
            input_tokens=120 + i % 50,
            output_tokens=40,
            response_time=0.42,
            success=True,
            input=[{"role": "user", "content": f"question {i}"}],
            output=f"answer {i}",
        )
        report.log_evaluation_result("relevance", (i % 100) / 100, threshold=0.5)

    if os.path.exists(path):
        os.remove(path)
    t0 = time.perf_counter()
    auditora.configure(store=path, queue_size=200_000, sink_backlog=200_000)
    try:
        for i in range(max(1, records // PER_CALL)):
            unit(i)
        auditora.flush(timeout=600)
    finally:
        auditora.configure(sinks=[])
    from auditora.store import open_store

    with open_store(path) as store:
        s = store.summary()
    total = sum(
        s[k]
        for k in (
            "sessions",
            "runs",
            "events",
            "logs",
            "llm_calls",
            "evaluations",
            "metrics",
            "agent_messages",
        )
    )
    return total, time.perf_counter() - t0


def peak(argv: List[str]) -> Tuple[float, float]:
    """(peak RSS in MB, wall seconds) of a fresh ``python argv...`` process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, *argv], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{argv} exited {proc.returncode}")
    # ru_maxrss is in KiB on Linux (bytes on macOS).
    kib = usage.ru_maxrss / (1024 if sys.platform == "darwin" else 1)
    return kib / 1024, time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000, help="records (default 200000)")
    parser.add_argument("--keep", default=None, help="store path to reuse or keep (default: temp)")
    parser.add_argument("--build-only", metavar="PATH", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.build_only:
        n, seconds = build(args.build_only, args.records)
        print(f"built {args.build_only}: {n:,} records in {seconds:.1f} s")
        return
    tmp = tempfile.mkdtemp(prefix="auditora-export-")
    path = args.keep or os.path.join(tmp, "export.db")
    if args.keep and os.path.exists(path):
        print(f"reusing {path}")
    else:
        # In another process: a child forked from a big parent starts with the parent's
        # resident pages, and ru_maxrss would count them.
        script = os.path.abspath(__file__)
        subprocess.run(
            [sys.executable, script, "--records", str(args.records), "--build-only", path],
            check=True,
        )
    print(f"store file: {os.path.getsize(path) / 1e6:.0f} MB")
    cases: Dict[str, List[str]] = {
        "python + import auditora.cli (floor)": ["-c", FLOOR],
        "every record in one list (the old export)": ["-c", MATERIALISED, path],
    }
    for fmt in ("jsonl", "csv"):
        cases[f"auditora export --kind all --format {fmt}"] = [
            "-m",
            "auditora",
            "export",
            path,
            "--format",
            fmt,
            "-o",
            os.devnull,
        ]
    cases["auditora export --kind logs --format jsonl"] = [
        "-m",
        "auditora",
        "export",
        path,
        "--kind",
        "logs",
        "-o",
        os.devnull,
    ]
    width = max(len(k) for k in cases)
    try:
        for name, argv in cases.items():
            mb, seconds = peak(argv)
            print(f"{name:<{width}}  peak RSS {mb:7.1f} MB  {seconds:6.1f} s")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
