"""The data of the viewer's Experiments and Comparison pages (plain JSON-ready dicts).

Pure functions over an open :class:`~auditora.store.Store`; the server maps them to
``GET /api/experiments`` and ``GET /api/compare?base=...&candidate=...``:

* :func:`experiments_view`: every experiment run with its per-metric means, grouped
  by dataset, and per dataset the trend of each metric across its runs;
* :func:`comparison_view`: metric deltas with their intervals, and the item table
  (sorted by change, worst first) with both outputs, a text diff and trace links.
"""

from __future__ import annotations

import difflib
import json
from typing import Any, Dict, List, Optional
from urllib.parse import quote

from ..experiments import compare, list_experiments
from ._model import NotFound

__all__ = ["CHANGE_ORDER", "comparison_view", "experiments_view", "text_diff"]

#: The item table's order: what needs a look first.
CHANGE_ORDER = {"regressed": 0, "improved": 1, "unchanged": 2}
#: Outputs longer than this are diffed on their start only (the page shows them whole).
DIFF_LIMIT = 20_000


def experiments_view(store: Any) -> Dict[str, Any]:
    """``{"experiments": [...], "datasets": [...], "metrics": [...]}``.

    Each experiment is a row of :func:`auditora.experiments.list_experiments`
    (``id, name, dataset, items, trials, errors, metrics, cost, duration_s, ...``),
    newest first. Each dataset is ``{"dataset", "experiments": [ids, oldest
    first], "trend": {metric: [{"id", "name", "started_ns", "value"}, ...]}}``:
    the points of a line chart of each metric across the runs on that dataset.
    """
    rows = list_experiments(store)
    datasets: Dict[str, Dict[str, Any]] = {}
    metrics: Dict[str, None] = {}
    for row in rows:  # oldest first: the trend's order
        group = datasets.setdefault(
            str(row["dataset"]), {"dataset": row["dataset"], "experiments": [], "trend": {}}
        )
        group["experiments"].append(row["id"])
        for name, value in row["metrics"].items():
            metrics.setdefault(name, None)
            group["trend"].setdefault(name, []).append(
                {
                    "id": row["id"],
                    "name": row["name"],
                    "started_ns": row["started_ns"],
                    "value": value,
                }
            )
    return {
        "experiments": list(reversed(rows)),
        "datasets": list(datasets.values()),
        "metrics": list(metrics),
    }


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=repr)
    except ValueError:  # a circular value
        return repr(value)


def text_diff(base: Any, candidate: Any) -> List[Dict[str, str]]:
    """A line diff of two outputs (JSON values pretty-printed first): a list of
    ``{"op": "equal" | "delete" | "insert", "text": line}``, base lines deleted and
    candidate lines inserted. For one-line outputs the diff is by words."""
    a, b = _as_text(base)[:DIFF_LIMIT], _as_text(candidate)[:DIFF_LIMIT]
    one_line = "\n" not in a and "\n" not in b
    left = a.split(" ") if one_line else a.splitlines()
    right = b.split(" ") if one_line else b.splitlines()
    out: List[Dict[str, str]] = []
    matcher = difflib.SequenceMatcher(None, left, right, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            out += [{"op": "equal", "text": t} for t in left[i1:i2]]
            continue
        out += [{"op": "delete", "text": t} for t in left[i1:i2]]
        out += [{"op": "insert", "text": t} for t in right[j1:j2]]
    return out


def _link(trace_id: Optional[str], run_id: Optional[str]) -> Optional[str]:
    """The viewer's hash route of a trace (and its item run), as its pages link them."""
    if not trace_id:
        return None
    link = "#/trace/" + quote(trace_id, safe="")
    return link + "/" + quote(run_id, safe="") if run_id else link


def comparison_view(
    store: Any,
    base: str,
    candidate: str,
    *,
    confidence: float = 0.95,
    sort: str = "change",
) -> Dict[str, Any]:
    """The comparison of ``candidate`` with ``base`` (names or ids) for the page.

    :meth:`auditora.experiments.Comparison.to_dict` (``metrics`` with ``delta``,
    ``ci_low``, ``ci_high``, ``significant``; ``counts``; ``cost`` and
    ``latency``; ``only_base``/``only_candidate``), with each item also carrying
    ``diff`` (:func:`text_diff` of the two outputs) and ``base_link`` /
    ``candidate_link`` (``#/trace/<trace>/<run>``). Items are sorted by
    ``sort``: ``"change"`` (regressed first, worst first, then improved, then
    unchanged) or ``"item"`` (by id). Raises :class:`NotFound` for an unknown
    experiment and ``ValueError`` for a bad ``sort`` or ``confidence``.
    """
    if sort not in ("change", "item"):
        raise ValueError(f"sort must be 'change' or 'item', not {sort!r}")
    try:
        result = compare(store, base, candidate, confidence=confidence)
    except LookupError as exc:
        raise NotFound(exc.args[0] if exc.args else str(exc)) from None
    body = result.to_dict()
    base_runs = {r.item_id: r for r in reversed(result.base.items)}
    cand_runs = {r.item_id: r for r in reversed(result.candidate.items)}
    for item in body["items"]:
        b, c = base_runs.get(item["item"]), cand_runs.get(item["item"])
        item["diff"] = text_diff(item["base_output"], item["candidate_output"])
        item["base_link"] = _link(item["base_trace"], b.run_id if b else None)
        item["candidate_link"] = _link(item["candidate_trace"], c.run_id if c else None)
    if sort == "change":
        body["items"].sort(key=lambda i: (CHANGE_ORDER[i["change"]], -i["severity"], i["item"]))
    else:
        body["items"].sort(key=lambda i: i["item"])
    return body
