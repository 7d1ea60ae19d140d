"""The runs list sorted by duration (schema version 6): read through the duration-bucket
index, in exactly the order a full sort gives, on both backends."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest

from _backends import is_postgres, pg_server, store_url
from _backends import write as write_to
from auditora.store import SCHEMA_VERSION, open_store
from auditora.store._schema import connect_writer, duration_bucket

_ = (pg_server, store_url)  # fixtures

#: Durations across buckets: equal ones, one leading digit apart, powers of ten, none,
#: zero and a negative one (a collected span whose clocks disagree).
DURATIONS: List[Optional[int]] = [
    5, 9, 10, 19, 20, 99, 100, 1_000, 1_999, 2_000, 2_000, 15_000_000, 150_000_000,
    1_500_000_000, 9_999_999_999, 10**12, 0, -7, None, None, 42, 4_200,
]  # fmt: skip


def _runs() -> List[Dict[str, Any]]:
    return [
        {
            "kind": "run",
            "run_id": f"{i:016x}",
            "trace_id": f"{i:032x}",
            "name": f"r{i}",
            "session_id": "s",
            "start_ns": 1_000 + i,
            "duration_ns": d,
            "end_ns": None if d is None else 1_000 + i + d,
            "status": "ok",
        }
        for i, d in enumerate(DURATIONS)
    ]


def _expected(descending: bool) -> List[str]:
    """Run ids by duration, then newest first. Slowest first, unknown durations come
    last (what a sort of every run gives); fastest first, they come right after the
    durations of zero or less, in the bucket they share."""
    runs = sorted(_runs(), key=lambda r: (-r["start_ns"], r["run_id"]))
    positive = [r for r in runs if (r["duration_ns"] or 0) > 0]
    others = [r for r in runs if r["duration_ns"] is not None and r["duration_ns"] <= 0]
    unknown = [r for r in runs if r["duration_ns"] is None]
    positive.sort(key=lambda r: r["duration_ns"], reverse=descending)
    others.sort(key=lambda r: r["duration_ns"], reverse=descending)
    order = positive + others + unknown if descending else others + unknown + positive
    return [r["run_id"] for r in order]


@pytest.mark.parametrize("descending", [True, False])
def test_runs_by_duration_are_in_full_sort_order_page_after_page(
    store_url: str, descending: bool
) -> None:
    """Every page of the duration sort, either way, is the full sort's slice."""
    write_to(store_url, _runs())
    got: List[str] = []
    with open_store(store_url) as store:
        for offset in range(0, len(DURATIONS), 5):
            page = store.find_runs(sort="duration", descending=descending, limit=5, offset=offset)
            got += [r["run_id"] for r in page.rows]
            assert page.total == len(DURATIONS)
    assert got == _expected(descending)


def test_the_bucket_orders_like_the_duration(tmp_path: Path) -> None:
    """Buckets never disagree with durations: a longer duration's bucket is never lower."""
    conn = sqlite3.connect(tmp_path / "b.db")
    values = sorted({d for d in DURATIONS if d is not None} | {1, 11, 2**62, 3 * 10**17})
    buckets = [conn.execute(f"SELECT {duration_bucket('?1')}", (v,)).fetchone()[0] for v in values]
    conn.close()
    assert buckets == sorted(buckets)
    assert buckets[values.index(1_500_000_000)] == 101 and buckets[values.index(0)] == 0


def test_sqlite_reads_the_slowest_runs_through_the_bucket_index(tmp_path: Path) -> None:
    """The plan walks runs_duration_bucket and sorts only within buckets: no scan and
    sort of every run."""
    path = tmp_path / "s.db"
    write_to(str(path), _runs())
    with open_store(path) as store:
        store.find_runs(sort="duration", limit=1)  # compiles; the plan is read below
    conn = sqlite3.connect(path)
    order = f"{duration_bucket('r.duration_ns')} DESC, r.duration_ns DESC NULLS LAST"
    plan = " / ".join(
        row[3]
        for row in conn.execute(f"EXPLAIN QUERY PLAN SELECT * FROM runs r ORDER BY {order} LIMIT 5")
    )
    conn.close()
    assert "USING INDEX runs_duration_bucket" in plan and "RIGHT PART OF ORDER BY" in plan


def test_a_version_5_store_gets_the_bucket_index_on_open(store_url: str) -> None:
    """Opening a version-5 store for writing runs migration 6: the index is created and
    the version recorded."""
    write_to(store_url, _runs())
    if is_postgres(store_url):
        import psycopg

        with psycopg.connect(store_url, autocommit=True) as conn:
            conn.execute("DROP INDEX runs_duration_bucket")
            conn.execute("UPDATE meta SET value = '5' WHERE key = 'schema_version'")
        from auditora.store._postgres import connect_writer as connect_pg

        connect_pg(store_url).close()
        with psycopg.connect(store_url) as conn:
            names = {r[0] for r in conn.execute("SELECT indexname FROM pg_indexes")}
    else:
        conn = sqlite3.connect(store_url)
        conn.execute("DROP INDEX runs_duration_bucket")
        conn.execute("UPDATE meta SET value = '5' WHERE key = 'schema_version'")
        conn.commit()
        conn.close()
        connect_writer(store_url).close()
        conn = sqlite3.connect(store_url)
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
        conn.close()
    assert "runs_duration_bucket" in names
    with open_store(store_url) as store:
        assert store.schema_version() == SCHEMA_VERSION == 6
        assert [r["run_id"] for r in store.find_runs(sort="duration", limit=3).rows] == (
            _expected(True)[:3]
        )
