"""The trace roll-up (schema version 5): one row per trace, kept by every writer, whose
row count is the store's trace count.

Each test runs on both backends; the expected rows are worked out from the runs written.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any, Dict, List, Tuple

from _backends import is_postgres, pg_server, store_url
from _backends import write as write_to
from auditora.store import SCHEMA_VERSION, open_store

_ = (pg_server, store_url)  # fixtures


def _run(trace: int, i: int, start: Any, end: Any, status: str = "ok") -> Dict[str, Any]:
    return {
        "kind": "run", "run_id": f"{trace:08x}{i:08x}", "trace_id": f"{trace:032x}",
        "parent_id": None if i == 0 else f"{trace:08x}{0:08x}", "name": f"r{i}",
        "session_id": "s", "start_ns": start, "end_ns": end, "status": status,
    }  # fmt: skip


def _rollup(store: Any) -> List[Tuple[Any, ...]]:
    rows = store._query("SELECT trace_id, start_ns, end_ns FROM trace_rollup ORDER BY trace_id")
    return [(r["trace_id"], r["start_ns"], r["end_ns"]) for r in rows]


def _from_runs(store: Any) -> List[Tuple[Any, ...]]:
    rows = store._query(
        "SELECT trace_id, min(start_ns) AS a, max(end_ns) AS b FROM runs"
        " GROUP BY trace_id ORDER BY trace_id"
    )
    return [(r["trace_id"], r["a"], r["b"]) for r in rows]


def test_the_trace_rollup_equals_its_runs_across_batches(store_url: str) -> None:
    """A trace's runs arriving in several batches (children first, as runs end) widen
    its one row; the summary's trace count is its row count."""
    write_to(store_url, [_run(1, 2, 150, 160), _run(2, 1, 500, 600)])
    write_to(store_url, [_run(1, 1, 120, 190), _run(3, 0, 900, None)])
    write_to(store_url, [_run(1, 0, 100, 200), _run(2, 0, 400, 700)])
    with open_store(store_url) as store:
        expected = [
            (f"{t:032x}", a, b) for t, a, b in ((1, 100, 200), (2, 400, 700), (3, 900, None))
        ]
        assert _rollup(store) == _from_runs(store) == expected
        assert store.summary()["traces"] == 3


def test_a_re_sent_run_changes_nothing(store_url: str) -> None:
    """A run sent twice (a retried batch) replaces itself, and its trace is counted once."""
    runs = [_run(1, 0, 100, 200), _run(1, 1, 110, 190, "error")]
    write_to(store_url, runs)
    write_to(store_url, runs)
    with open_store(store_url) as store:
        assert _rollup(store) == [(f"{1:032x}", 100, 200)]
        assert (store.summary()["traces"], store.summary()["runs"]) == (1, 2)


def test_runs_without_times_are_counted_with_unknown_times(store_url: str) -> None:
    """A run whose times are missing still makes its trace count; its row's times stay
    unknown until a run of the trace has them."""
    write_to(store_url, [_run(1, 1, None, None)])
    with open_store(store_url) as store:
        assert _rollup(store) == [(f"{1:032x}", None, None)]
    write_to(store_url, [_run(1, 0, 100, 200)])
    with open_store(store_url) as store:
        assert _rollup(store) == [(f"{1:032x}", 100, 200)]


def test_a_version_4_store_gets_its_trace_rollup_filled_from_its_runs(tmp_path: Path) -> None:
    """Opening a store of version 4 for writing runs migration 5: the roll-up is filled
    from the runs already there, and later runs add to it."""
    from auditora.store._schema import connect_writer

    path = str(tmp_path / "v4.db")
    write_to(path, [_run(1, 0, 100, 200), _run(1, 1, 90, 250), _run(2, 0, 300, 400)])
    legacy = sqlite3.connect(path)  # back to version 4: no trace roll-up
    legacy.execute("DROP TABLE trace_rollup")
    legacy.execute("UPDATE meta SET value = '4' WHERE key = 'schema_version'")
    legacy.commit()
    legacy.close()
    with open_store(path) as old:  # read-only: counted from the runs
        assert (old.schema_version(), old.summary()["traces"]) == (4, 2)
    connect_writer(path).close()
    write_to(path, [_run(3, 0, 500, 600)])
    with open_store(path) as store:
        assert store.schema_version() == SCHEMA_VERSION
        assert _rollup(store) == _from_runs(store)
        assert [r[1:] for r in _rollup(store)] == [(90, 250), (300, 400), (500, 600)]
        assert store.summary()["traces"] == 3


def test_migrating_a_store_carries_its_trace_rollup(tmp_path: Path, store_url: str) -> None:
    """``auditora migrate`` keeps the roll-up of the runs it copies."""
    from auditora.store._migrate import migrate_store

    source = str(tmp_path / "source.db")
    write_to(source, [_run(t, i, 100 * t + i, 100 * t + 50) for t in range(1, 4) for i in range(3)])
    target = store_url if is_postgres(store_url) else str(tmp_path / "copy.db")
    migrate_store(source, target)
    with open_store(source) as a, open_store(target) as b:
        assert _rollup(b) == _rollup(a) == _from_runs(a)
        assert b.summary()["traces"] == 3
