"""The viewer keeps the trees of the traces it shows: windows read a kept tree, and a
tree is read again when its trace gained a run, after ``FRESH_S``, or from a new store."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List

import pytest

from _backends import pg_server, store_url
from _backends import write as write_to
from auditora.store import open_store
from auditora.viewer import _lists

_ = (pg_server, store_url)  # fixtures

TRACE = "ab" * 16


def _run(i: int, parent: Any, status: str = "ok") -> Dict[str, Any]:
    return {
        "kind": "run", "run_id": f"{i:016x}", "trace_id": TRACE,
        "parent_id": None if parent is None else f"{parent:016x}", "name": f"r{i}",
        "session_id": "s", "start_ns": 1000 + i, "end_ns": 2000 + i, "duration_ns": 1000,
        "status": status,
    }  # fmt: skip


def _rows(window: Dict[str, Any]) -> List[str]:
    return [r["name"] for r in window["rows"]]


@pytest.fixture(autouse=True)
def _fresh_trees(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_lists, "_trees", _lists._Trees())


def test_a_run_stored_after_a_window_shows_in_the_next_one(store_url: str) -> None:
    """The kept tree is checked against the trace's run count on every request."""
    write_to(store_url, [_run(1, None), _run(2, 1)])
    with open_store(store_url) as store:
        assert _rows(_lists.trace_window(store, TRACE, {})) == ["r1", "r2"]
        write_to(store_url, [_run(3, 2, "error")])
        window = _lists.trace_window(store, TRACE, {})
        assert _rows(window) == ["r1", "r2", "r3"]
        assert (window["status"], window["first_error"]) == ("error", f"{3:016x}")
        assert window["rows"][0]["descendants"] == 2 and window["rows"][0]["errors"] == 1


def test_repeated_windows_read_the_outline_once(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Scrolling, collapsing and focusing a trace read its tree once, and every
    answer is what a freshly built tree gives."""
    write_to(store_url, [_run(1, None), *(_run(i, 1) for i in range(2, 12))])
    with open_store(store_url) as store:
        reads: List[str] = []
        outline = store.trace_outline

        def counted(trace_id: str) -> List[Dict[str, Any]]:
            reads.append(trace_id)
            return outline(trace_id)

        monkeypatch.setattr(store, "trace_outline", counted)
        queries: List[Dict[str, List[str]]] = [
            {},
            {"offset": ["4"], "limit": ["3"]},
            {"collapsed": [f"{1:016x}"]},
            {"focus": [f"{7:016x}"], "limit": ["3"]},
        ]
        kept = [_lists.trace_window(store, TRACE, q) for q in queries]
        assert reads == [TRACE]
        fresh = []
        for q in queries:
            monkeypatch.setattr(_lists, "_trees", _lists._Trees())
            fresh.append(_lists.trace_window(store, TRACE, q))
        assert kept == fresh
        assert _rows(kept[2]) == ["r1"] and _rows(kept[3]) == ["r6", "r7", "r8"]


def test_a_run_re_sent_in_place_shows_once_the_tree_is_no_longer_fresh(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run replaced by one with the same id leaves the count unchanged: the kept
    tree is used for at most FRESH_S seconds, then read again."""
    path = str(tmp_path / "s.db")
    write_to(path, [_run(1, None), _run(2, 1)])
    with open_store(path) as store:
        assert _lists.trace_window(store, TRACE, {})["status"] == "ok"
        write_to(path, [_run(2, 1, "error")])
        assert _lists.trace_window(store, TRACE, {})["status"] == "ok"  # kept, still fresh
        monkeypatch.setattr(_lists._Trees, "FRESH_S", 0.0)
        assert _lists.trace_window(store, TRACE, {})["status"] == "error"


def test_kept_trees_are_bounded_by_their_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past MAX_RUNS runs in all, the trees viewed longest ago are let go; the newest
    is kept whatever its size."""
    monkeypatch.setattr(_lists._Trees, "MAX_RUNS", 6)
    path = str(tmp_path / "s.db")
    traces = [f"{t:032x}" for t in range(1, 4)]
    rows = [
        {**_run(10 * t + i, None if i == 0 else 10 * t), "trace_id": tid}
        for t, tid in enumerate(traces)
        for i in range(3)
    ]
    write_to(path, rows)
    with open_store(path) as store:
        for tid in traces:
            _lists.trace_window(store, tid, {})
        (kept,) = _lists._trees._by_store.values()
        assert list(kept) == traces[1:]
        monkeypatch.setattr(_lists._Trees, "MAX_RUNS", 1)
        _lists.trace_window(store, traces[0], {})
        assert list(kept) == traces[:1]


def test_an_unknown_trace_is_not_found(store_url: str) -> None:
    """A trace with no run is a LookupError (the API's 404), and nothing is kept."""
    write_to(store_url, [_run(1, None)])
    with open_store(store_url) as store:
        with pytest.raises(LookupError):
            _lists.trace_window(store, "cd" * 16, {})
        assert not any(_lists._trees._by_store.values())
