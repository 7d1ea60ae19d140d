"""The views computed from a store: run trees, aggregates and distributions."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest

from auditora.store import open_store, write_batch
from auditora.store._schema import connect_writer
from auditora.viewer import _model
from auditora.viewer._source import StoreSource


class FakeSource:
    """An in-memory :class:`auditora.viewer._model.Source`, without the store's aggregates.

    Its session rows carry no aggregate columns, so the views total them from
    the runs and records; :meth:`summary` gives what those records add up to.
    """

    def __init__(
        self, runs: List[Dict[str, Any]], records: Dict[str, List[Dict[str, Any]]]
    ) -> None:
        self._runs = runs
        self._records = records

    def sessions(self) -> List[Dict[str, Any]]:
        """One row per session id of the runs."""
        ids = dict.fromkeys(r["session_id"] for r in self._runs)
        return [{"session_id": s} for s in ids]

    def session(self, session_id: str) -> Optional[Dict[str, Any]]:
        """The row of :meth:`sessions` with that id, or None."""
        return next((s for s in self.sessions() if s["session_id"] == session_id), None)

    def trace_count(self, session_id: str) -> int:
        """How many distinct traces the session's runs belong to."""
        return len({r["trace_id"] for r in self.runs(session_id=session_id)})

    def summary(self) -> Dict[str, Any]:
        """Totals over every run and record, keyed as ``Store.summary()`` (plus failures)."""
        calls = self._records.get("llm_call", [])
        evals = self._records.get("evaluation", [])
        known = [c["cost"] for c in calls if isinstance(c.get("cost"), (int, float))]
        tokens_in = sum(int(c.get("input_tokens") or 0) for c in calls)
        tokens_out = sum(int(c.get("output_tokens") or 0) for c in calls)
        passed = sum(1 for e in evals if e.get("status") == "PASS")
        return {
            "sessions": len(self.sessions()),
            "runs": len(self._runs),
            "traces": len({r["trace_id"] for r in self._runs}),
            "errors": sum(1 for r in self._runs if r.get("status") == "error"),
            "first_ns": min((r["start_ns"] for r in self._runs), default=None),
            "last_ns": max((r["end_ns"] for r in self._runs), default=None),
            "llm_calls": len(calls),
            "llm_failures": sum(1 for c in calls if not c.get("success")),
            "input_tokens": tokens_in,
            "output_tokens": tokens_out,
            "total_tokens": tokens_in + tokens_out,
            "cost": sum(known) if known else None,
            "evaluations": len(evals),
            "evaluations_passed": passed,
            "eval_pass_rate": passed / len(evals) if evals else None,
        }

    def runs(
        self, *, session_id: Optional[str] = None, trace_id: Optional[str] = None
    ) -> List[Dict[str, Any]]:
        """Runs filtered by session and trace."""
        return [
            r
            for r in self._runs
            if (session_id is None or r["session_id"] == session_id)
            and (trace_id is None or r["trace_id"] == trace_id)
        ]

    def run(self, run_id: str) -> Optional[Dict[str, Any]]:
        """The run with that id, or None."""
        return next((r for r in self._runs if r["run_id"] == run_id), None)

    def records(
        self,
        kind: str,
        *,
        session_id: Optional[str] = None,
        trace_id: Optional[str] = None,
        run_id: Optional[str] = None,
    ) -> List[Dict[str, Any]]:
        """Records of ``kind`` matching every id given."""
        ids = {"session_id": session_id, "trace_id": trace_id, "run_id": run_id}
        return [
            r
            for r in self._records.get(kind, [])
            if all(v is None or r.get(k) == v for k, v in ids.items())
        ]

    def newest(
        self, kind: str, limit: int, *, session_id: Optional[str] = None
    ) -> List[Dict[str, Any]]:
        """The last ``limit`` records of ``kind`` (of the session)."""
        return self.records(kind, session_id=session_id)[-limit:]

    def llm_models(self, session_id: Optional[str] = None) -> List[Dict[str, Any]]:
        """Totals per model of the calls, as ``Store.llm_models()`` keys them."""
        out = []
        calls = self.records("llm_call", session_id=session_id)
        for model in sorted({c.get("model") for c in calls}, key=str):
            group = [c for c in calls if c.get("model") == model]
            costs = [c["cost"] for c in group if c.get("cost") is not None]
            tin = sum(c.get("input_tokens") or 0 for c in group)
            tout = sum(c.get("output_tokens") or 0 for c in group)
            out.append(
                {
                    "model": model,
                    "provider": None,
                    "calls": len(group),
                    "failures": sum(1 for c in group if not c.get("success")),
                    "input_tokens": tin,
                    "output_tokens": tout,
                    "tokens": tin + tout,
                    "cost": sum(costs) if costs else None,
                    "mean_latency": None,
                    "p95_latency": None,
                }
            )
        return out

    def evaluation_metrics(self, session_id: Optional[str] = None) -> List[Dict[str, Any]]:
        """Counts per metric (no value statistics: the store's tests pin those)."""
        evals = self.records("evaluation", session_id=session_id)
        names = sorted({e.get("metric_name") for e in evals}, key=str)
        return [
            {"metric_name": n, "count": sum(1 for e in evals if e.get("metric_name") == n)}
            for n in names
        ]

    def metric_totals(self, session_id: Optional[str], bins: int) -> List[Dict[str, Any]]:
        """None: the in-memory source has no metric snapshots."""
        return []

    def timer_stats(self, session_id: Optional[str], bins: int) -> List[Dict[str, Any]]:
        """None: the store's tests pin the timer statistics."""
        return []


def _run(
    rid: str, parent: Optional[str], start: int, end: int, status: str = "ok"
) -> Dict[str, Any]:
    return {
        "run_id": rid,
        "parent_id": parent,
        "trace_id": "t",
        "session_id": "s",
        "name": rid,
        "start_ns": start,
        "end_ns": end,
        "duration_ns": end - start,
        "status": status,
    }


@pytest.fixture()
def src() -> FakeSource:
    """root -> (b -> c), a ; records on a and c."""
    runs = [
        _run("root", None, 0, 100),
        _run("b", "root", 30, 90, "error"),
        _run("a", "root", 10, 20),
        _run("c", "b", 40, 50),
    ]
    calls = [
        {
            "run_id": "a",
            "trace_id": "t",
            "session_id": "s",
            "model": "m1",
            "input_tokens": 10,
            "output_tokens": 5,
            "cost": 0.5,
            "success": True,
            "response_time": 1.0,
        },
        {
            "run_id": "c",
            "trace_id": "t",
            "session_id": "s",
            "model": "m1",
            "input_tokens": 1,
            "output_tokens": 1,
            "cost": None,
            "success": False,
            "response_time": 3.0,
        },
    ]
    evals = [
        {
            "run_id": "a",
            "trace_id": "t",
            "session_id": "s",
            "metric_name": "f",
            "value": 0.9,
            "threshold": 0.5,
            "status": "PASS",
        },
        {
            "run_id": "c",
            "trace_id": "t",
            "session_id": "s",
            "metric_name": "f",
            "value": 0.1,
            "threshold": 0.5,
            "status": "FAIL",
        },
    ]
    events = [
        {"run_id": "a", "session_id": "s", "trace_id": "t", "name": "timer", "duration": d}
        for d in (1.0, 2.0, 3.0, 4.0)
    ]
    return FakeSource(runs, {"llm_call": calls, "evaluation": evals, "event": events})


def test_tree_is_depth_first_by_start_time(src: FakeSource) -> None:
    """Children follow their parent, siblings by start time, each with its depth."""
    runs = _model.trace_detail(src, "t")["runs"]
    assert [(r["run_id"], r["depth"]) for r in runs] == [("root", 0), ("a", 1), ("b", 1), ("c", 2)]


def test_summary_counts_tokens_cost_and_pass_rate(src: FakeSource) -> None:
    """Totals: errors, tokens, cost of the priced calls only, pass rate, duration."""
    s = _model.trace_detail(src, "t")["summary"]
    assert (
        s["errors"],
        s["tokens"],
        s["cost"],
        s["pass_rate"],
        s["duration"],
        s["llm_failures"],
    ) == (
        1,
        17,
        0.5,
        0.5,
        100 / 1e9,
        1,
    )


def test_unknown_ids_raise_not_found(src: FakeSource) -> None:
    """Unknown session, trace and run ids raise NotFound."""
    raised = []
    for view in (_model.session_detail, _model.trace_detail, _model.run_detail):
        with pytest.raises(_model.NotFound):
            view(src, "nope")
        raised.append(view.__name__)
    assert raised == ["session_detail", "trace_detail", "run_detail"]


def _stored(tmp_path: Path, src: FakeSource) -> StoreSource:
    """The fixture's runs and records written to a real SQLite store, read back."""
    rows = [{"kind": "run", **r} for r in src._runs]
    for kind, records in src._records.items():
        rows.extend({"kind": kind, "time_ns": i, **r} for i, r in enumerate(records))
    tmp_path.mkdir(exist_ok=True)
    path = str(tmp_path / "views.db")
    conn = connect_writer(path)
    assert write_batch(conn, rows) == len(rows)
    conn.close()
    return StoreSource(open_store(path))


def test_llm_totals_leave_unpriced_calls_out_of_the_cost(src: FakeSource, tmp_path: Path) -> None:
    """Per model and overall: a call without a cost adds nothing, and a model with no
    priced call at all has cost None, not 0."""
    stored = _stored(tmp_path, src)
    table = _model.llm_table(stored)
    (m1,) = table["by_model"]
    assert (m1["calls"], m1["failures"], m1["tokens"], m1["cost"]) == (2, 1, 17, 0.5)
    assert table["total"]["llm_calls"] == table["calls_total"] == len(table["calls"]) == 2
    assert "calls" not in _model.llm_table(stored, rows=0)
    unpriced = FakeSource(src._runs, {"llm_call": [{**src._records["llm_call"][1]}]})
    (only,) = _model.llm_table(_stored(tmp_path / "b", unpriced))["by_model"]
    assert only["cost"] is None


def test_evaluation_aggregates(src: FakeSource, tmp_path: Path) -> None:
    """Per metric: count, mean, min, max, pass rate."""
    m = _model.evaluations_table(_stored(tmp_path, src))["by_metric"][0]
    assert (m["count"], m["mean"], m["min"], m["max"], m["pass_rate"]) == (2, 0.5, 0.1, 0.9, 0.5)


def test_timer_distribution(src: FakeSource, tmp_path: Path) -> None:
    """Timed events give count, quantiles and a histogram whose counts add up."""
    t = _model.metrics_view(_stored(tmp_path, src), bins=3)["timers"][0]
    assert (t["count"], t["p50"], t["p95"], t["max"], [b["count"] for b in t["histogram"]]) == (
        4,
        2.0,
        4.0,
        4.0,
        [1, 1, 2],
    )


def test_long_lists_are_cut_but_totals_count_everything(
    src: FakeSource, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past MAX_ROWS a page gets the first runs / latest records, and the full counts."""
    monkeypatch.setattr(_model, "MAX_ROWS", 2)
    detail = _model.session_detail(src, "s")
    trace = _model.trace_detail(src, "t")
    assert (
        [r["run_id"] for r in detail["runs"]],
        detail["runs_total"],
        trace["runs_total"],
        trace["summary"]["runs"],
        [c["run_id"] for c in trace["llm_calls"]],
    ) == (["root", "a"], 4, 4, 4, ["a"])
