"""The store's reader on PostgreSQL next to SQLite: the same ~100,000 runs in both, the
same queries timed on each.

Run from the repository root::

    python benchmarks/postgres_reader.py                     # 10,000 traces x 10 runs
    python benchmarks/postgres_reader.py --traces 1000 --repeats 3
    python benchmarks/postgres_reader.py --url postgresql://user@host/db   # an existing server

Each backend's own writer stores the same serialized records (``write_batch`` into
a SQLite file, :class:`~auditora.store._postgres.PostgresWriter` into PostgreSQL):
``--traces`` traces of one root and 9 children, each root with an LLM call and a
log, one trace in 50 failing, and one failing run whose error message holds a
needle. Then both are opened read-only with :func:`auditora.store.open_store` and
each query is run ``--repeats`` times (after one warm-up): the median and the
worst, in milliseconds. Without ``--url`` a temporary cluster is started on
127.0.0.1 (``tests/pg_server.py``, the tests' fixture, ``fsync=off``). Both
databases get ``ANALYZE`` before the reads (PostgreSQL's autovacuum would do it
a little later; SQLite's planner needs no statistics for these queries).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the tests' throwaway PostgreSQL server

NEEDLE = "needle-40c2: the upstream reset the connection"
BATCH = 5_000


def _records(traces: int) -> List[Dict[str, Any]]:
    """Serialized records of ``traces`` traces (10 runs each), newest last."""
    t0 = 1_760_000_000_000_000_000
    out: List[Dict[str, Any]] = []
    for i in range(traces):
        sid, tid = f"sess-{i // 4:07d}", f"{t0 // 10**9 + i:016x}{i:016x}"
        root = f"{i:08x}00000000"
        start = t0 + i * 10**7
        failing = i % 50 == 7
        for j in range(10):
            rid = root if j == 0 else f"{i:08x}{j:08x}"
            failed = failing and j == 5
            out.append(
                {
                    "kind": "run",
                    "run_id": rid,
                    "trace_id": tid,
                    "parent_id": None if j == 0 else root,
                    "name": "answer question" if j == 0 else f"step {j}",
                    "session_id": sid,
                    "start_ns": start + j * 1000,
                    "end_ns": start + 10**6 - j,
                    "duration_ns": 10**6 - j * 1001,
                    "status": "error" if failed or (failing and j == 0) else "ok",
                    "error_type": "ConnectionError" if failed else None,
                    "error_message": (NEEDLE if i == traces // 3 else "reset") if failed else None,
                    "run_kind": "function",
                    "run_type": "llm" if j == 1 else "function",
                    "attributes": (
                        {"llm.cost_usd": 0.0001 * (i % 100), "llm.total_tokens": 300 + i % 50}
                        if j == 0
                        else {"step": j}
                    ),
                    "inputs": {"question": f"what about item {i}?"} if j == 0 else None,
                    "output": f"answer {i}" if j == 0 else None,
                }
            )
        out.append(
            {
                "kind": "llm_call",
                "model": ("gpt-4o-mini", "claude-x")[i % 2],
                "input_tokens": 250,
                "output_tokens": 50 + i % 50,
                "response_time": 0.4,
                "success": True,
                "cost": 0.0001 * (i % 100),
                "input": [{"role": "user", "content": f"what about item {i}?"}],
                "output": [{"role": "assistant", "content": f"answer {i}"}],
                "time_ns": start + 2000,
                "session_id": sid,
                "trace_id": tid,
                "run_id": f"{i:08x}{1:08x}",
            }
        )
        out.append(
            {
                "kind": "log",
                "level": "INFO",
                "message": f"answered item {i}",
                "fields": {"i": i},
                "time_ns": start + 3000,
                "session_id": sid,
                "trace_id": tid,
                "run_id": root,
            }
        )
    return out


def _build_sqlite(path: str, records: List[Dict[str, Any]]) -> float:
    from auditora.store import write_batch
    from auditora.store._schema import connect_writer

    began = time.perf_counter()
    conn = connect_writer(path)
    try:
        for i in range(0, len(records), BATCH):
            write_batch(conn, records[i : i + BATCH])
        conn.execute("ANALYZE")
    finally:
        conn.close()
    return time.perf_counter() - began


def _build_postgres(url: str, records: List[Dict[str, Any]]) -> float:
    import psycopg

    from auditora.store._postgres import PostgresWriter
    from auditora.store._writer import parts_of_rows

    began = time.perf_counter()
    writer = PostgresWriter(url)
    try:
        for i in range(0, len(records), BATCH):
            writer.write(parts_of_rows(records[i : i + BATCH]))
    finally:
        writer.close()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ANALYZE")
    return time.perf_counter() - began


def _queries(traces: int) -> List[Tuple[str, Callable[[Any], Any]]]:
    return [
        ("find_traces() default page", lambda s: s.find_traces()),
        ("find_runs() default page", lambda s: s.find_runs()),
        ("find_traces(text=needle)", lambda s: s.find_traces(text="needle-40c2")),
        ("find_runs(text=needle)", lambda s: s.find_runs(text="needle-40c2")),
        ("find_runs(text=no match)", lambda s: s.find_runs(text="nothing matches this")),
        ("find_traces(status=error)", lambda s: s.find_traces(status="error")),
        ("find_traces(sort=cost)", lambda s: s.find_traces(sort="cost")),
        ("find_sessions() default page", lambda s: s.find_sessions()),
        ("find_llm_calls() default page", lambda s: s.find_llm_calls()),
        ("resolve_id(a run id)", lambda s: s.resolve_id(f"{traces // 2:08x}00000005")),
    ]


def _time(store: Any, call: Callable[[Any], Any], repeats: int) -> Tuple[float, float, Any]:
    answer = call(store)  # warm-up (and the answer compared across backends)
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        call(store)
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times), max(times), answer


def _shape(answer: Any) -> Any:
    """What must be equal across backends (the ids the backends number apart)."""
    if hasattr(answer, "to_dict"):
        page = answer.to_dict()
        return (page["total"], [r.get("run_id") or r.get("session_id") for r in page["rows"]])
    return answer


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--traces", type=int, default=10_000, help="traces of 10 runs (10,000)")
    parser.add_argument("--repeats", type=int, default=10, help="timed runs per query (10)")
    parser.add_argument("--url", default=None, help="an existing PostgreSQL database to fill")
    args = parser.parse_args()

    from auditora.store import open_store

    records = _records(args.traces)
    runs = sum(1 for r in records if r["kind"] == "run")
    server = None
    url = args.url
    if url is None:
        from pg_server import PgServer

        server = PgServer()
        server.start()
        url = server.create_database(f"bench_{uuid.uuid4().hex[:8]}")
    directory = tempfile.mkdtemp(prefix="auditora-reader-")
    path = os.path.join(directory, "bench.db")
    try:
        built = {
            "sqlite": _build_sqlite(path, records),
            "postgresql": _build_postgres(url, records),
        }
        print(f"{runs:,} runs, {len(records):,} records in each store")
        for name, seconds in built.items():
            print(f"  built {name} in {seconds:.1f} s ({len(records) / seconds:,.0f} records/s)")
        print()
        print(f"{'query':32} {'SQLite p50':>11} {'max':>8} {'PostgreSQL p50':>15} {'max':>8}  same")
        with open_store(path) as lite, open_store(url) as pg:
            for label, call in _queries(args.traces):
                a50, amax, a = _time(lite, call, args.repeats)
                b50, bmax, b = _time(pg, call, args.repeats)
                same = "yes" if _shape(a) == _shape(b) else "NO"
                print(f"{label:32} {a50:9.1f}ms {amax:6.1f}ms {b50:13.1f}ms {bmax:6.1f}ms  {same}")
    finally:
        if server is not None:
            server.close()
        for name in os.listdir(directory):
            os.remove(os.path.join(directory, name))
        os.rmdir(directory)
    return 0


if __name__ == "__main__":
    sys.exit(main())
