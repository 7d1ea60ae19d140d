"""Rows per second copied by ``auditora migrate``: SQLite -> PostgreSQL, back, and SQLite -> SQLite.

Run from the repository root::

    python benchmarks/migrate.py                       # 50,000 requests: 100,000 runs
    python benchmarks/migrate.py --requests 2000       # a smoke run
    python benchmarks/migrate.py --store /tmp/m.db --reuse
    python benchmarks/migrate.py --url postgresql://user@host/db   # an existing server

The source store is written the way an app writes one (the recorder and the SQLite
sink): each request is a root run and one child run, with a log line, an LLM call
and an event in the child, and a metric per root, in 100 sessions: 100,000 runs and
about 250,000 other rows for the default 50,000 requests. Each copy is a fresh
destination, timed from the call to :func:`migrate_store` to its return (opening,
migrating and every batch); figures are rows copied per second.

Without ``--url`` a temporary cluster is started on 127.0.0.1 (``tests/pg_server.py``,
the tests' fixture; ``fsync=off``). Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Dict, List, Optional

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the tests' throwaway PostgreSQL server

import auditora  # noqa: E402
from auditora import monitor, report, sentinel  # noqa: E402
from auditora.store._migrate import migrate_store  # noqa: E402


def build(path: str, requests: int) -> Dict[str, Any]:
    """Write the source store through the recorder and the SQLite sink."""
    auditora.configure(store=path, console=False)

    @sentinel(name="answer", kind="llm")
    def answer(i: int) -> str:
        report.info("answering", request=i, words=["a", "b"])
        report.log_llm_call("gpt-4o-mini", 200 + i % 300, 50, 0.3, finish_reason="stop")
        monitor.track("retrieved", duration=0.01, docs=i % 7)
        return "ok"

    t0 = time.perf_counter()
    for i in range(requests):

        @sentinel(name="handle", session_id=f"sess-{i % 100:03d}")
        def handle(i: int = i) -> None:
            answer(i)
            monitor.increment_metric("requests")

        handle()
        if i % 10_000 == 9_999:
            auditora.flush()
            print(f"  built {i + 1:,} requests, {time.perf_counter() - t0:.0f} s", flush=True)
    ok = auditora.flush()
    auditora.shutdown()
    return {"seconds": time.perf_counter() - t0, "flushed": ok, "bytes": os.path.getsize(path)}


def _database(server: Any, base_url: Optional[str]) -> str:
    name = f"bench_{uuid.uuid4().hex[:10]}"
    if server is not None:
        return str(server.create_database(name))
    import psycopg

    with psycopg.connect(base_url or "", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return (base_url or "").rsplit("/", 1)[0] + "/" + name


def _copy(label: str, src: str, dst: str, batch: int) -> Dict[str, Any]:
    result = migrate_store(src, dst, batch=batch)
    row = {"copy": label, **result.as_dict()}
    print(
        f"  {label:<22} {result.rows:>9,} rows  {result.seconds:>6.1f} s  "
        f"{result.rows_per_second:>9,.0f} rows/s   (runs {result.tables['runs']:,})",
        flush=True,
    )
    return row


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--requests", type=int, default=50_000, help="root calls (2 runs each)")
    parser.add_argument("--store", help="the source store to build (default: a temporary file)")
    parser.add_argument("--reuse", action="store_true", help="use --store as it is")
    parser.add_argument("--batch", type=int, default=5000, help="rows per transaction")
    parser.add_argument("--url", help="an existing PostgreSQL server's URL (a database is added)")
    args = parser.parse_args(argv)

    server = None
    if not args.url:
        from pg_server import PgServer, skip_reason

        reason = skip_reason()
        if reason:
            raise SystemExit(reason)
        server = PgServer()
        server.start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            src = args.store or str(Path(tmp) / "source.db")
            if not args.reuse:
                if os.path.exists(src):
                    raise SystemExit(f"{src} exists: remove it or pass --reuse")
                built = build(src, args.requests)
                print(
                    f"source: {args.requests:,} requests in {built['seconds']:.0f} s, "
                    f"{built['bytes'] / 1e6:.0f} MB",
                    flush=True,
                )
            print(f"copies (batch {args.batch:,}):")
            pg = _database(server, args.url)
            _copy("sqlite -> postgresql", src, pg, args.batch)
            _copy("postgresql -> sqlite", pg, str(Path(tmp) / "back.db"), args.batch)
            _copy("sqlite -> sqlite", src, str(Path(tmp) / "copy.db"), args.batch)
            _copy("postgresql -> pg", pg, _database(server, args.url), args.batch)
            again = migrate_store(src, pg, batch=args.batch)
            print(f"  run again: {again.rows} rows copied in {again.seconds:.2f} s")
    finally:
        if server is not None:
            server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
