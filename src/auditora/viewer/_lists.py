"""The viewer's searchable lists and the windowed trace view, read through ``Store.find_*``.

Every answer is bounded: lists are pages (``rows, total, limit, offset``, at most
:data:`MAX_LIMIT` rows) and a trace comes as a window of its tree, so a store of a
million runs or a trace of 20,000 answers in small, fast pieces. The query
parameters are the URL's (``docs/viewer.md``, *Traces*); a bad one is a
:class:`BadRequest` with a one-line message.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections import OrderedDict
from typing import Any, Dict, List, Mapping, Optional, Sequence, Set, Tuple

__all__ = [
    "MAX_LIMIT",
    "TRACE_WINDOW",
    "BadRequest",
    "evaluations_page",
    "llm_calls_page",
    "run_page",
    "runs_page",
    "sessions_page",
    "trace_window",
    "traces_page",
]

#: The most rows a list answer holds.
MAX_LIMIT = 200
#: Rows of a trace's tree sent at once.
TRACE_WINDOW = 400

Query = Mapping[str, Sequence[str]]


class BadRequest(ValueError):
    """A query parameter the viewer cannot use (answered with HTTP 400)."""


def _str(query: Query, name: str) -> Optional[str]:
    values = query.get(name)
    value = values[0].strip() if values else ""
    return value or None


def _int(query: Query, name: str, default: Optional[int] = None, lo: int = 0) -> Optional[int]:
    raw = _str(query, name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be a whole number, not {raw!r}") from None
    if value < lo:
        raise BadRequest(f"{name} must be at least {lo}, not {value}")
    return value


def _float(query: Query, name: str) -> Optional[float]:
    raw = _str(query, name)
    if raw is None:
        return None
    try:
        return float(raw)
    except ValueError:
        raise BadRequest(f"{name} must be a number, not {raw!r}") from None


def _paging(query: Query) -> Dict[str, Any]:
    limit = _int(query, "limit", 50)
    return {
        "limit": min(MAX_LIMIT, limit if limit is not None else 50),
        "offset": _int(query, "offset", 0),
        "descending": _str(query, "order") != "asc",
    }


def _common(query: Query) -> Dict[str, Any]:
    """The run and trace filters: name, status, session, agent, kind, model, time, mins, q."""
    min_ms = _float(query, "min_duration_ms")
    return {
        "status": _str(query, "status"),
        "name": _str(query, "name"),
        "kind": _str(query, "kind"),
        "agent": _str(query, "agent"),
        "model": _str(query, "model"),
        "session_id": _str(query, "session"),
        "since_ns": _int(query, "since"),
        "until_ns": _int(query, "until"),
        "min_duration_ns": int(min_ms * 1e6) if min_ms is not None else None,
        "min_cost": _float(query, "min_cost"),
        "text": _str(query, "q"),
    }


def _call(method: Any, **kwargs: Any) -> Dict[str, Any]:
    try:
        return dict(method(**kwargs).to_dict())
    except ValueError as exc:  # an unknown sort or status, from the store
        raise BadRequest(str(exc)) from None


def traces_page(store: Any, query: Query) -> Dict[str, Any]:
    """A page of traces (``Store.find_traces``), filtered and sorted by the query."""
    return _call(
        store.find_traces, **_common(query), sort=_str(query, "sort") or "start", **_paging(query)
    )


def runs_page(store: Any, query: Query) -> Dict[str, Any]:
    """A page of runs (``Store.find_runs``); ``trace`` narrows to one trace."""
    return _call(
        store.find_runs,
        **_common(query),
        trace_id=_str(query, "trace"),
        sort=_str(query, "sort") or "start",
        **_paging(query),
    )


def sessions_page(store: Any, query: Query) -> Dict[str, Any]:
    """A page of sessions with their aggregates (``Store.find_sessions``)."""
    return _call(
        store.find_sessions,
        text=_str(query, "q"),
        since_ns=_int(query, "since"),
        until_ns=_int(query, "until"),
        sort=_str(query, "sort") or "last",
        **_paging(query),
    )


def llm_calls_page(store: Any, query: Query) -> Dict[str, Any]:
    """A page of LLM calls (``Store.find_llm_calls``)."""
    return _call(
        store.find_llm_calls,
        model=_str(query, "model"),
        status=_str(query, "status"),
        session_id=_str(query, "session"),
        text=_str(query, "q"),
        sort=_str(query, "sort") or "start",
        **_paging(query),
    )


def evaluations_page(store: Any, query: Query) -> Dict[str, Any]:
    """A page of evaluation results (``Store.find_evaluations``)."""
    return _call(
        store.find_evaluations,
        metric=_str(query, "metric"),
        status=_str(query, "status"),
        session_id=_str(query, "session"),
        sort=_str(query, "sort") or "start",
        **_paging(query),
    )


class _Tree:
    """A trace's runs in depth-first order, each with its ``depth``, ``children``,
    ``descendants`` and subtree ``errors``: what every window of the trace reads.
    Built once, then only read (several requests may share it)."""

    def __init__(self, runs: List[Dict[str, Any]]) -> None:
        self.runs = runs
        self.by_id = {r["run_id"]: r for r in runs}
        kids: Dict[Optional[str], List[Dict[str, Any]]] = {}
        for r in runs:  # by start time already: children stay in start order
            parent = r["parent_id"] if r["parent_id"] in self.by_id else None
            kids.setdefault(parent, []).append(r)
        self.roots = kids.get(None, [])
        # Subtree roll-ups, children before parents (reverse depth-first order).
        order: List[Dict[str, Any]] = []
        stack = [(r, 0) for r in reversed(self.roots)]
        while stack:
            run, depth = stack.pop()
            run["depth"] = depth
            order.append(run)
            stack.extend((k, depth + 1) for k in reversed(kids.get(run["run_id"], [])))
        for run in reversed(order):
            children = kids.get(run["run_id"], [])
            run["children"] = len(children)
            run["descendants"] = sum(1 + c["descendants"] for c in children)
            run["errors"] = (run["status"] == "error") + sum(c["errors"] for c in children)
        self.order = order
        self.first_error = next((r["run_id"] for r in order if r["status"] == "error"), None)
        errors = sum(r["errors"] for r in self.roots)
        costs = [r["cost"] for r in self.roots if r["cost"] is not None]
        tokens = [r["total_tokens"] for r in self.roots if r["total_tokens"] is not None]
        self.status = "error" if errors else (self.roots[0]["status"] if self.roots else None)
        self.summary = {
            "runs": len(runs),
            "errors": errors,
            "start_ns": min(r["start_ns"] for r in runs if r["start_ns"] is not None),
            "end_ns": max((r["end_ns"] or 0) for r in runs),
            "cost": sum(costs) if costs else None,
            "tokens": sum(tokens) if tokens else None,
        }
        self.sessions = list(dict.fromkeys(r["session_id"] for r in runs))


#: A kept tree: the trace's run count when read, the monotonic time it was read, the tree.
_Kept = Tuple[int, float, _Tree]


class _Trees:
    """The trees of the traces viewed lately, per store (a window of a 20,000-run
    trace is read whenever the page scrolls, collapses or follows a link: building
    its tree again each time took 230 to 400 ms, reading a kept one takes a count).

    A kept tree is used while the trace still has as many runs stored and for at
    most :data:`FRESH_S` seconds, so a run stored since, or one re-sent in place of
    another with the same id, shows within that time. The trees of a store hold at
    most :data:`MAX_RUNS` runs together (the newest tree is kept whatever its size)."""

    MAX_RUNS = 100_000
    FRESH_S = 10.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_store: weakref.WeakKeyDictionary[Any, OrderedDict[str, _Kept]] = (
            weakref.WeakKeyDictionary()
        )

    def get(self, store: Any, trace_id: str) -> Optional[_Tree]:
        """The tree of ``trace_id`` in ``store`` (None when it has no run)."""
        size = store.trace_size(trace_id)
        if not size:
            return None
        now = time.monotonic()
        with self._lock:
            kept = self._by_store.get(store)
            if kept is not None and trace_id in kept:
                count, read_at, tree = kept[trace_id]
                if count == size and now - read_at < self.FRESH_S:
                    kept.move_to_end(trace_id)
                    return tree
        runs = store.trace_outline(trace_id)
        if not runs:
            return None
        tree = _Tree(runs)
        with self._lock:
            kept = self._by_store.setdefault(store, OrderedDict())
            kept[trace_id] = (len(runs), now, tree)
            kept.move_to_end(trace_id)
            while len(kept) > 1 and sum(k[0] for k in kept.values()) > self.MAX_RUNS:
                kept.popitem(last=False)
        return tree


_trees = _Trees()


def trace_window(store: Any, trace_id: str, query: Query) -> Dict[str, Any]:
    """A window of a trace's tree, in depth-first order, with roll-ups on every row.

    Each row has ``depth``, ``children`` (direct), ``descendants``, ``errors``
    (failed runs in its subtree, itself included) and ``cost``/``total_tokens``
    (its subtree's, kept by the recorder). ``collapsed`` (run ids, comma
    separated) hides those runs' subtrees; ``focus`` (a run id) opens its
    ancestors and centres the window on it; else ``offset`` places it. The answer
    names the trace's ``first_error`` (the first failed run in tree order) so
    the page can jump to it, and its ``status`` is ``error`` if any run failed.
    """
    tree = _trees.get(store, trace_id)
    if tree is None:
        raise LookupError(f"no trace {trace_id!r} in this store")
    by_id = tree.by_id
    collapsed: Set[str] = set(filter(None, (_str(query, "collapsed") or "").split(",")))
    focus = _str(query, "focus")
    if focus is not None and focus not in by_id:
        raise LookupError(f"no run {focus!r} in trace {trace_id!r}")
    if focus is not None:  # a deep link opens the way to its run
        parent = by_id[focus]["parent_id"]
        while parent in by_id:
            collapsed.discard(parent)
            parent = by_id[parent]["parent_id"]
    visible: List[Dict[str, Any]] = []
    skip_depth: Optional[int] = None
    for run in tree.order:
        if skip_depth is not None and run["depth"] > skip_depth:
            continue
        skip_depth = run["depth"] if run["run_id"] in collapsed else None
        visible.append(run)
    limit = min(TRACE_WINDOW, _int(query, "limit", TRACE_WINDOW) or TRACE_WINDOW)
    offset = _int(query, "offset", 0) or 0
    if focus is not None:
        index = next(i for i, r in enumerate(visible) if r["run_id"] == focus)
        offset = max(0, index - limit // 2)
    offset = min(offset, max(0, len(visible) - limit))
    return {
        "trace_id": trace_id,
        "status": tree.status,
        "runs_total": len(tree.runs),
        "visible": len(visible),
        "offset": offset,
        "limit": limit,
        "collapsed": sorted(collapsed & set(by_id)),
        "first_error": tree.first_error,
        "summary": dict(tree.summary),
        "sessions": list(tree.sessions),
        "rows": visible[offset : offset + limit],
    }


def run_page(store: Any, run_id: str) -> Dict[str, Any]:
    """One run, its direct children (a page), and its logs, events, LLM calls and
    evaluations (each at most :data:`MAX_LIMIT`)."""
    run = store.run(run_id)
    if run is None:
        raise LookupError(f"no run {run_id!r} in this store")
    run["duration"] = run["duration_ns"] / 1e9 if run.get("duration_ns") is not None else None
    children = store.find_runs(
        trace_id=run["trace_id"], parent_id=run_id, sort="start", descending=False, limit=MAX_LIMIT
    )
    out: Dict[str, Any] = {"run": run, "children": children.to_dict()}
    for kind, read in (
        ("events", store.events),
        ("logs", store.logs),
        ("llm_calls", store.llm_calls),
        ("evaluations", store.evaluations),
        ("agent_messages", store.agent_messages),
    ):
        out[kind] = read(run_id=run_id, limit=MAX_LIMIT)
    return out
