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
- ``postgres``: one process writing into PostgreSQL (through its writer process);
- ``pg in-process``: the same with ``PostgresSink(url, process=False)``, the
  transactions run in the app's process;
- ``postgres x4``: 4 processes writing one database at once (their records / the
  wall time from the first start to the last flush).

Beside each rate: the CPU time per record of the writing processes (all their
threads: the app's calls, the recorder, serialization, the sink, and the store's
writer process) and, for the PostgreSQL variants on the temporary cluster, of
the server (its processes, live and exited). CPU per record moves far less with
the machine's load than a rate does, and says which side a change made cheaper.

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

from _proc import cpu_seconds  # this directory is the script's: first on sys.path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the tests' throwaway PostgreSQL server

#: The issue's budget: records persisted per second into PostgreSQL.
RATE_TARGET = 50_000.0
WRITERS = 4
#: A store argument's prefix for the PostgreSQL sink writing in the app's process.
IN_PROCESS = "in-process:"


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
    elif store.startswith(IN_PROCESS):
        from auditora.sinks.postgres import PostgresSink

        sink = PostgresSink(store[len(IN_PROCESS) :], process=False)
        auditora.configure(sinks=[sink], console=False)
    else:
        auditora.configure(store=store, console=False)
    root = _auditora_root()
    for i in range(WARMUP):
        root(i)
    assert auditora.flush(timeout=600)
    print("warm", flush=True)  # the parent reads the server's CPU time, then says go
    sys.stdin.readline()
    before = _exported()
    gc.collect()
    cpu = time.process_time() + _writer_cpu()
    start = time.perf_counter()
    for i in range(n):
        root(i)
    ok = auditora.flush(timeout=600)
    elapsed = time.perf_counter() - start
    cpu = time.process_time() + _writer_cpu() - cpu
    stats = auditora.stats()
    print(
        json.dumps(
            {
                "ok": ok and not stats.get("dropped"),
                "records": _exported() - before,
                "seconds": elapsed,
                "cpu": cpu,
                "start": time.time() - elapsed,
                "end": time.time(),
            }
        )
    )


def _writer_cpu() -> float:
    """CPU seconds used so far by the store's writer process (a process of its own, so
    not in this one's ``process_time``); 0 when it writes in process or off Linux."""
    import auditora

    pids = [s.get("writer_pid") for s in auditora.stats().get("sinks", {}).values()]
    return sum(cpu_seconds(pid, children=False) for pid in pids if pid)


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
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def _go(procs: List[subprocess.Popen[str]]) -> None:
    """Start the timed part of every child at once, once all are warm."""
    for proc in procs:
        assert proc.stdout is not None and proc.stdin is not None
        if proc.stdout.readline().strip() != "warm":
            raise SystemExit("a benchmark child failed while warming up")
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()


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


def _server_cpu(server: Any) -> float:
    """CPU seconds the temporary cluster has used: the postmaster, its live children
    and (through the postmaster's counts of them) its exited ones, the backends."""
    tick = os.sysconf("SC_CLK_TCK")
    root = server.proc.pid
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        pid, ppid = int(stat.parent.name), int(fields[1])
        if pid == root:
            total += sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
        elif ppid == root:
            total += int(fields[11]) + int(fields[12])
    return total / tick


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
    variants = ["noop", "sqlite", "postgres", "pg in-process", f"postgres x{WRITERS}"]
    rates: Dict[str, List[float]] = {k: [] for k in variants}
    #: Variant -> CPU microseconds per record of the writers, and of the server.
    client: Dict[str, List[float]] = {k: [] for k in variants}
    served: Dict[str, List[float]] = {k: [] for k in variants}

    def measure(name: str, store: str, writers: int = 1) -> None:
        procs = [_spawn(store, args.n) for _ in range(writers)]
        _go(procs)  # the store created and migrated, warm: the server's work from here
        before = _server_cpu(server) if server is not None else 0.0
        results = _results(procs)
        records = sum(r["records"] for r in results)
        rates[name].append(_rate(results))
        client[name].append(sum(r["cpu"] for r in results) / records * 1e6)
        if server is not None and name.startswith(("postgres", "pg ")):
            served[name].append((_server_cpu(server) - before) / records * 1e6)

    try:
        with tempfile.TemporaryDirectory() as tmp:
            for round_ in range(args.repeats):
                measure("noop", "noop")
                measure("sqlite", str(Path(tmp) / f"r{round_}.db"))
                measure("postgres", _database(server, args.url))
                measure("pg in-process", IN_PROCESS + _database(server, args.url))
                measure(f"postgres x{WRITERS}", _database(server, args.url), WRITERS)
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
        cpu = f"CPU/record: writers {statistics.median(client[name]):5.1f} us"
        if served[name]:
            cpu += f", server {statistics.median(served[name]):5.1f} us"
        print(f"  {name:<14} {rate:>10,.0f}/s   ({spread:<17})  {cpu}")
    ratio = median["postgres"] / median["sqlite"]
    verdict = "meets" if median["postgres"] >= RATE_TARGET else "MISSES"
    print(f"  postgres / sqlite: {ratio:.2f}; budget {RATE_TARGET:,.0f}/s: {verdict}")


if __name__ == "__main__":
    main()
