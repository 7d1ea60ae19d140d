"""Records persisted per second into PostgreSQL, next to SQLite, with the end-to-end workload.

Run from the repository root::

    python benchmarks/postgres.py                    # N=10,000 root calls, 3 repeats
    python benchmarks/postgres.py --n 2000 --repeats 1
    python benchmarks/postgres.py --url postgresql://user@host/db   # an existing server

The workload is :mod:`end_to_end`'s (``N`` root calls, 3 nested calls, 2 events,
1 log, 1 LLM call, 1 evaluation each: 9 records and a session's), recorded with
``configure(store=..., console=False)`` and default settings. The timed part is
the calls plus the flush that makes them durable; each variant runs in a fresh
process, interleaved per round; figures are medians. Variants:

- ``noop``: a sink that keeps nothing (the ceiling the rest of the pipeline sets);
- ``sqlite``: a SQLite file (the reference, same run);
- ``postgres``: one process writing into PostgreSQL;
- ``postgres x4``: 4 processes writing one database at once (their records / the
  wall time from the first start to the last flush).

Without ``--url`` a temporary cluster is started on 127.0.0.1 (``tests/pg_server.py``,
the tests' fixture) with PostgreSQL's default durability except ``fsync=off``
(what a crash of the server keeps is unchanged; only a power loss could lose the
last commits). Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Dict, List, Optional

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the tests' throwaway PostgreSQL server

#: The issue's budget: records persisted per second into PostgreSQL.
RATE_TARGET = 50_000.0
WRITERS = 4


def _child(store: str, n: int) -> None:
    """One process: warm up, then time ``n`` root calls and the flush; print JSON."""
    import gc

    from end_to_end import WARMUP, _auditora_root

    import auditora

    if store == "noop":  # the same pipeline, into a sink that keeps nothing
        from auditora.sinks import Sink

        class Count(Sink):
            name = "count"

            def export(self, batch: Any) -> None:
                pass

        auditora.configure(sinks=[Count()], console=False)
    else:
        auditora.configure(store=store, console=False)
    root = _auditora_root()
    for i in range(WARMUP):
        root(i)
    assert auditora.flush(timeout=600)
    before = _exported()
    gc.collect()
    start = time.perf_counter()
    for i in range(n):
        root(i)
    ok = auditora.flush(timeout=600)
    elapsed = time.perf_counter() - start
    stats = auditora.stats()
    print(
        json.dumps(
            {
                "ok": ok and not stats.get("dropped"),
                "records": _exported() - before,
                "seconds": elapsed,
                "start": time.time() - elapsed,
                "end": time.time(),
            }
        )
    )


def _exported() -> int:
    import auditora

    return sum(s.get("exported", 0) for s in auditora.stats().get("sinks", {}).values())


def _spawn(store: str, n: int) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT / "benchmarks")]),
    }
    return subprocess.Popen(
        [sys.executable, __file__, "--child", store, "--n", str(n)],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )


def _results(procs: List[subprocess.Popen[str]]) -> List[Dict[str, Any]]:
    out = []
    for proc in procs:
        stdout, _ = proc.communicate(timeout=1200)
        if proc.returncode:
            raise SystemExit(f"a benchmark child failed ({proc.returncode})")
        out.append(json.loads(stdout.strip().splitlines()[-1]))
    if not all(r["ok"] for r in out):
        raise SystemExit("records were dropped: the figure would be wrong")
    return out


def _rate(results: List[Dict[str, Any]]) -> float:
    """Records of all processes / wall time from the first start to the last end."""
    wall = max(r["end"] for r in results) - min(r["start"] for r in results)
    return sum(r["records"] for r in results) / wall


def _database(server: Any, base_url: Optional[str]) -> str:
    name = f"bench_{uuid.uuid4().hex[:10]}"
    if server is not None:
        return str(server.create_database(name))
    import psycopg

    with psycopg.connect(base_url or "", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return (base_url or "").rsplit("/", 1)[0] + "/" + name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--n", type=int, default=10_000, help="root calls per process")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--url", help="an existing PostgreSQL server's URL (a database is added)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.n)
        return

    server = None
    if not args.url:
        from pg_server import PgServer, skip_reason

        reason = skip_reason()
        if reason:
            raise SystemExit(reason)
        server = PgServer()
        server.start()
    rates: Dict[str, List[float]] = {
        "noop": [],
        "sqlite": [],
        "postgres": [],
        f"postgres x{WRITERS}": [],
    }
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for round_ in range(args.repeats):
                rates["noop"].append(_rate(_results([_spawn("noop", args.n)])))
                sqlite = str(Path(tmp) / f"r{round_}.db")
                rates["sqlite"].append(_rate(_results([_spawn(sqlite, args.n)])))
                one = _database(server, args.url)
                rates["postgres"].append(_rate(_results([_spawn(one, args.n)])))
                many = _database(server, args.url)
                procs = [_spawn(many, args.n) for _ in range(WRITERS)]
                rates[f"postgres x{WRITERS}"].append(_rate(_results(procs)))
    finally:
        if server is not None:
            server.close()

    print(
        f"records persisted per second (N={args.n} root calls per process, "
        f"medians of {args.repeats})"
    )
    median = {k: statistics.median(v) for k, v in rates.items()}
    for name, rate in median.items():
        spread = f"{min(rates[name]):,.0f}..{max(rates[name]):,.0f}"
        print(f"  {name:<14} {rate:>10,.0f}/s   ({spread})")
    ratio = median["postgres"] / median["sqlite"]
    verdict = "meets" if median["postgres"] >= RATE_TARGET else "MISSES"
    print(f"  postgres / sqlite: {ratio:.2f}; budget {RATE_TARGET:,.0f}/s: {verdict}")


if __name__ == "__main__":
    main()
