"""A parent process and its pool workers write one trace tree into one SQLite store."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, Dict, List

import pytest

import auditora
from auditora import bifrost_sync, report, sentinel
from auditora.propagation import carry
from auditora.store import open_store


def configure_worker(db: str) -> None:
    """Pool initializer: each worker records into the shared store."""
    auditora.configure(store=db, console=False)


@sentinel(session_id="worker-session")
def score(i: int) -> int:
    """The work done in a worker: a sentinel run with a log line."""
    report.info("scored", i=i)
    return i * i


def shape(node: Dict[str, Any]) -> Any:
    """A run tree as (name, sorted children shapes)."""
    return (node["name"], sorted(shape(c) for c in node["children"]))


@pytest.mark.parametrize("method", ["spawn", "fork"])
def test_pool_workers_join_the_parent_trace_in_one_store(tmp_path: Path, method: str) -> None:
    """Runs in pool workers are children of the submitting run: one tree, one trace."""
    if method not in multiprocessing.get_all_start_methods():
        pytest.skip(f"no {method} start method here")
    db = str(tmp_path / "auditora.db")
    auditora.configure(store=db, console=False)
    context = multiprocessing.get_context(method)
    with bifrost_sync(name="batch", session_id="parent-session") as parent:
        task = carry(score, name="task")
        with ProcessPoolExecutor(
            max_workers=2, mp_context=context, initializer=configure_worker, initargs=(db,)
        ) as pool:
            results = list(pool.map(task, range(4)))
    assert auditora.flush(10.0)
    auditora.shutdown(10.0)
    with open_store(db) as store:
        roots: List[Dict[str, Any]] = store.trace_tree(parent.trace_id)
        logs = store.logs(trace_id=parent.trace_id)
    assert results == [0, 1, 4, 9]
    assert [shape(r) for r in roots] == [
        ("batch", [("task", [("score", [])])] * 4),
    ]
    tasks = roots[0]["children"]
    assert {t["session_id"] for t in tasks} == {"parent-session"}
    assert {t["parent_id"] for t in tasks} == {parent.run_id}
    assert sorted(log["fields"]["i"] for log in logs) == [0, 1, 2, 3]
