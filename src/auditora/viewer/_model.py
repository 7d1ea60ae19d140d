"""What the CLI, the viewer and the HTML report show, computed from a store.

Every function takes a *source* (see :class:`Source`) and returns plain,
JSON-ready dicts and lists: the viewer serves them as its JSON API, the static
report embeds them, and the CLI prints them as tables or ``--json``. User
content is passed through untouched here; escaping is the renderer's job.
"""

from __future__ import annotations

from typing import Any, Dict, Iterable, List, Optional, Protocol, Sequence

__all__ = [
    "KINDS",
    "NotFound",
    "Source",
    "evaluations_table",
    "llm_table",
    "metrics_view",
    "overview",
    "run_detail",
    "session_detail",
    "sessions",
    "trace_detail",
]

#: At most this many rows of one list (runs of a waterfall, LLM calls,
#: evaluations, logs...) are sent to a page; totals always cover every row.
#: The page says when a list was cut (``<list>_total`` holds the full count).
MAX_ROWS = 2000

#: The per-run record kinds a source can list.
KINDS = ("event", "log", "llm_call", "evaluation", "metric", "agent_message")

Row = Dict[str, Any]


class Source(Protocol):
    """The reading interface the views need: everything they call, and nothing else.

    :class:`~._source.StoreSource` implements it over an open
    :class:`auditora.store.Store` (the CLI, the viewer and the report use it).
    Rows are plain dicts with the field names of ``docs/records.md`` and JSON
    columns decoded; lists are in time order.

    Session rows and :meth:`summary` may carry the store's aggregate columns
    (``run_count``, ``error_count``, ``llm_calls``, ``input_tokens``,
    ``output_tokens``, ``total_tokens``, ``cost``, ``evaluations``,
    ``evaluations_passed``, ``eval_pass_rate``); an aggregate present wins over
    the sum the views would compute from the records.
    """

    def sessions(self) -> List[Row]:
        """Every session: ``session_id``, ``name``, ``tags``, ``state``, ``first_ns``...

        A row with ``run_count`` is listed from its aggregates alone (plus
        :meth:`trace_count`); a row without is totalled from the session's runs
        and records.
        """

    def session(self, session_id: str) -> Optional[Row]:
        """One session row (as :meth:`sessions` gives it), or None for an unknown id."""

    def trace_count(self, session_id: str) -> int:
        """How many traces have a run in the session (0 for an unknown id)."""

    def summary(self) -> Row:
        """Totals over the whole source, keyed as ``Store.summary()``.

        ``sessions`` is required; the others (``runs``, ``traces``, ``errors``,
        ``first_ns``, ``last_ns``, ``llm_failures`` and the aggregates above)
        are shown when present.
        """

    def runs(
        self, *, session_id: Optional[str] = None, trace_id: Optional[str] = None
    ) -> List[Row]:
        """Runs (all, of one session, or of one trace), by start time."""

    def run(self, run_id: str) -> Optional[Row]:
        """One run, or None."""

    def records(
        self,
        kind: str,
        *,
        session_id: Optional[str] = None,
        trace_id: Optional[str] = None,
        run_id: Optional[str] = None,
    ) -> List[Row]:
        """Records of one kind (see :data:`KINDS`), optionally filtered."""

    def newest(self, kind: str, limit: int, *, session_id: Optional[str] = None) -> List[Row]:
        """The newest ``limit`` LLM calls or evaluation results (of one session, or
        all), oldest first."""

    def llm_models(self, session_id: Optional[str] = None) -> List[Row]:
        """LLM calls totalled per model, keyed as ``Store.llm_models()``."""

    def evaluation_metrics(self, session_id: Optional[str] = None) -> List[Row]:
        """Evaluation results per metric, keyed as ``Store.evaluation_metrics()``."""

    def metric_totals(self, session_id: Optional[str], bins: int) -> List[Row]:
        """Metrics per name over the sessions' latest values (``Store.metric_totals()``)."""

    def timer_stats(self, session_id: Optional[str], bins: int) -> List[Row]:
        """Timed events per name (``Store.timer_stats()``)."""


class NotFound(LookupError):
    """An id that is not in the store (message says which)."""


# -- small helpers -----------------------------------------------------------
def _tokens(call: Row) -> int:
    return int(call.get("input_tokens") or 0) + int(call.get("output_tokens") or 0)


def _cost(calls: Iterable[Row]) -> Optional[float]:
    """Total cost, or None when no call has a known cost."""
    known = [c["cost"] for c in calls if isinstance(c.get("cost"), (int, float))]
    return sum(known) if known else None


def _pass_rate(evals: Sequence[Row]) -> Optional[float]:
    if not evals:
        return None
    return sum(1 for e in evals if e.get("status") == "PASS") / len(evals)


def _span(runs: Sequence[Row]) -> tuple[Optional[int], Optional[int]]:
    starts = [r["start_ns"] for r in runs if isinstance(r.get("start_ns"), int)]
    ends = [
        r.get("end_ns") if isinstance(r.get("end_ns"), int) else r.get("start_ns")
        for r in runs
        if isinstance(r.get("start_ns"), int)
    ]
    if not starts:
        return None, None
    return min(starts), max(e for e in ends if isinstance(e, int))


def _seconds(ns: Optional[int]) -> Optional[float]:
    return None if ns is None else ns / 1e9


def _summary(runs: Sequence[Row], calls: Sequence[Row], evals: Sequence[Row]) -> Row:
    start, end = _span(runs)
    return {
        "runs": len(runs),
        "traces": len({r.get("trace_id") for r in runs}),
        "errors": sum(1 for r in runs if r.get("status") == "error"),
        "start_ns": start,
        "end_ns": end,
        "duration": None if start is None or end is None else (end - start) / 1e9,
        "llm_calls": len(calls),
        "llm_failures": sum(1 for c in calls if not c.get("success")),
        "input_tokens": sum(int(c.get("input_tokens") or 0) for c in calls),
        "output_tokens": sum(int(c.get("output_tokens") or 0) for c in calls),
        "tokens": sum(_tokens(c) for c in calls),
        "cost": _cost(calls),
        "evaluations": len(evals),
        "passed": sum(1 for e in evals if e.get("status") == "PASS"),
        "pass_rate": _pass_rate(evals),
    }


# Summary key -> the store's aggregate column. Where the store gives a total, it
# wins over the sum computed here, so every page shows exactly the store's
# numbers (float sums in another order can differ in the last digit).
_STORE_TOTALS = {
    "runs": "run_count",
    "errors": "error_count",
    "llm_calls": "llm_calls",
    "input_tokens": "input_tokens",
    "output_tokens": "output_tokens",
    "tokens": "total_tokens",
    "cost": "cost",
    "evaluations": "evaluations",
    "passed": "evaluations_passed",
    "pass_rate": "eval_pass_rate",
}


def _prefer_store(summary: Row, store_row: Row) -> Row:
    for ours, theirs in _STORE_TOTALS.items():
        if theirs in store_row:
            summary[ours] = store_row[theirs]
    return summary


def _with_run_duration(run: Row) -> Row:
    out = dict(run)
    out["duration"] = _seconds(run.get("duration_ns"))
    return out


def _tree(runs: Sequence[Row]) -> List[Row]:
    """Runs in depth-first order, each with ``depth`` (0 for roots in this set)."""
    ids = {r["run_id"] for r in runs}
    children: Dict[Optional[str], List[Row]] = {}
    for r in runs:
        parent = r.get("parent_id") if r.get("parent_id") in ids else None
        children.setdefault(parent, []).append(r)
    for kids in children.values():
        kids.sort(key=lambda r: (r.get("start_ns") or 0, r["run_id"]))
    out: List[Row] = []
    stack = [(r, 0) for r in reversed(children.get(None, []))]
    while stack:
        run, depth = stack.pop()
        row = _with_run_duration(run)
        row["depth"] = depth
        row["children"] = len(children.get(run["run_id"], []))
        out.append(row)
        stack.extend((k, depth + 1) for k in reversed(children.get(run["run_id"], [])))
    return out


# -- the views -----------------------------------------------------------------
def _totals_from_store(row: Row) -> Row:
    """A summary made only of a store row's aggregates (no record is loaded)."""
    first, last = row.get("first_ns"), row.get("last_ns")
    out: Row = {
        "runs": row.get("run_count", row.get("runs")),
        "errors": row.get("error_count", row.get("errors")),
        "start_ns": first,
        "end_ns": last,
        "duration": None if first is None or last is None else (last - first) / 1e9,
        "llm_failures": row.get("llm_failures"),
    }
    if "traces" in row:
        out["traces"] = row["traces"]
    return _prefer_store(out, row)


def sessions(src: Source) -> List[Row]:
    """Every session with counts, duration, tokens, cost and evaluation pass rate (newest first).

    With a store, everything comes from its aggregate queries (one per session
    for the trace count), so the list stays fast on large stores. Rows without
    the store's aggregates are totalled from their runs and records.
    """
    out = []
    for s in src.sessions():
        sid = s["session_id"]
        row = {
            "session_id": sid,
            "name": s.get("name"),
            "tags": s.get("tags") or [],
        }
        if "run_count" in s:
            row.update(_totals_from_store(s))
            row["traces"] = src.trace_count(sid)
            out.append(row)
            continue
        row.update(
            _prefer_store(
                _summary(
                    src.runs(session_id=sid),
                    src.records("llm_call", session_id=sid),
                    src.records("evaluation", session_id=sid),
                ),
                s,
            )
        )
        if row["start_ns"] is None:
            row["start_ns"] = s.get("first_ns")
        out.append(row)
    out.sort(key=lambda r: r.get("start_ns") or 0, reverse=True)
    return out


def overview(src: Source) -> Row:
    """Totals over the whole store, from the source's :meth:`~Source.summary`."""
    row = src.summary()
    out = _totals_from_store(row)
    out["sessions"] = row["sessions"]
    return out


def session_detail(src: Source, session_id: str) -> Row:
    """One session: its state, summary, traces, runs as a tree, LLM calls and evaluations."""
    s = src.session(session_id)
    if s is None:
        raise NotFound(f"no session {session_id!r} in this store")
    runs = src.runs(session_id=session_id)
    calls = src.records("llm_call", session_id=session_id)
    evals = src.records("evaluation", session_id=session_id)
    traces = []
    for tid in dict.fromkeys(r["trace_id"] for r in runs):
        truns = [r for r in runs if r["trace_id"] == tid]
        roots = [r for r in _tree(truns) if r["depth"] == 0]
        summary = _summary(
            truns,
            [c for c in calls if c.get("trace_id") == tid],
            [e for e in evals if e.get("trace_id") == tid],
        )
        summary.update({"trace_id": tid, "root": roots[0]["name"] if roots else None})
        summary["status"] = (
            "error"
            if any(r.get("status") == "error" for r in roots)
            else (roots[0].get("status") if roots else None)
        )
        traces.append(summary)
    return {
        "session": {
            "session_id": session_id,
            "name": s.get("name"),
            "tags": s.get("tags") or [],
            "state": s.get("state") or {},
        },
        "summary": _prefer_store(_summary(runs, calls, evals), s),
        "traces": traces,
        "runs": _tree(runs)[:MAX_ROWS],
        "runs_total": len(runs),
        "llm_calls": calls[-MAX_ROWS:],
        "llm_calls_total": len(calls),
        "evaluations": evals[-MAX_ROWS:],
        "evaluations_total": len(evals),
        "agent_messages": src.records("agent_message", session_id=session_id),
        "metrics": latest_metrics(src.records("metric", session_id=session_id)),
    }


def trace_detail(src: Source, trace_id: str) -> Row:
    """One trace: its runs as a tree (across sessions) and every record of those runs."""
    runs = src.runs(trace_id=trace_id)
    if not runs:
        raise NotFound(f"no trace {trace_id!r} in this store")
    tree = _tree(runs)[:MAX_ROWS]
    out: Row = {"trace_id": trace_id, "runs": tree, "runs_total": len(runs)}
    shown = {r["run_id"] for r in tree}
    totals: Dict[str, List[Row]] = {}
    for kind in ("event", "log", "llm_call", "evaluation", "agent_message"):
        rows = src.records(kind, trace_id=trace_id)
        totals[kind] = rows
        # Only records of the runs shown; and at most MAX_ROWS per run.
        kept: List[Row] = []
        per_run: Dict[Any, int] = {}
        for r in rows:
            rid = r.get("run_id")
            if rid in shown and per_run.get(rid, 0) < MAX_ROWS:
                per_run[rid] = per_run.get(rid, 0) + 1
                kept.append(r)
        out[kind + "s"] = kept
    out["summary"] = _summary(runs, totals["llm_call"], totals["evaluation"])
    out["sessions"] = list(dict.fromkeys(r.get("session_id") for r in runs))
    return out


def run_detail(src: Source, run_id: str) -> Row:
    """One run with its children and its events, logs, LLM calls and evaluations."""
    run = src.run(run_id)
    if run is None:
        raise NotFound(f"no run {run_id!r} in this store")
    out: Row = {"run": _with_run_duration(run)}
    siblings = src.runs(trace_id=run["trace_id"])
    out["children"] = [_with_run_duration(r) for r in siblings if r.get("parent_id") == run_id]
    for kind in ("event", "log", "llm_call", "evaluation", "agent_message"):
        out[kind + "s"] = src.records(kind, run_id=run_id)
    return out


def llm_table(src: Source, session_id: Optional[str] = None, rows: int = MAX_ROWS) -> Row:
    """Totals per model (calls, failures, tokens, cost, latency) and over every model,
    and the newest ``rows`` calls with ``calls_total`` (none when ``rows`` is 0: the
    served viewer pages through the calls with ``/api/llm_calls`` instead)."""
    models = src.llm_models(session_id)
    costs = [m["cost"] for m in models if m["cost"] is not None]
    total: Row = {
        "llm_calls": sum(m["calls"] for m in models),
        "llm_failures": sum(m["failures"] for m in models),
        "input_tokens": sum(m["input_tokens"] for m in models),
        "output_tokens": sum(m["output_tokens"] for m in models),
        "tokens": sum(m["tokens"] for m in models),
        "cost": sum(costs) if costs else None,
    }
    out: Row = {"by_model": models, "total": total}
    if rows:
        out["calls"] = src.newest("llm_call", rows, session_id=session_id)
        out["calls_total"] = total["llm_calls"]
    return out


def evaluations_table(src: Source, session_id: Optional[str] = None, rows: int = MAX_ROWS) -> Row:
    """Per metric: count, passes, fails, pass rate, mean, min, max, threshold; and the
    newest ``rows`` results with ``evaluations_total`` (none when ``rows`` is 0)."""
    metrics = src.evaluation_metrics(session_id)
    out: Row = {"by_metric": metrics}
    if rows:
        out["evaluations"] = src.newest("evaluation", rows, session_id=session_id)
        out["evaluations_total"] = sum(m["count"] for m in metrics)
    return out


def latest_metrics(rows: Sequence[Row]) -> List[Row]:
    """The last value of each (session, metric name), from metric snapshot rows."""
    last: Dict[tuple[Any, Any], Row] = {}
    for r in rows:
        key = (r.get("session_id"), r.get("name"))
        prev = last.get(key)
        if prev is None or (r.get("time_ns") or 0) >= (prev.get("time_ns") or 0):
            last[key] = r
    return [
        {"session_id": k[0], "name": k[1], "value": v.get("value"), "time_ns": v.get("time_ns")}
        for k, v in sorted(last.items(), key=lambda kv: (str(kv[0][0]), str(kv[0][1])))
    ]


def metrics_view(src: Source, session_id: Optional[str] = None, bins: int = 12) -> Row:
    """Per metric, over every session's latest value: sessions, total, mean, min, max,
    a histogram and a time series; and per timer (events with a duration): count,
    mean, p50, p95, max, a histogram and a time series. Never a row per session."""
    return {
        "metrics": src.metric_totals(session_id, bins),
        "timers": src.timer_stats(session_id, bins),
    }
