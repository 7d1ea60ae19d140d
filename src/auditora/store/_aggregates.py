"""Totals the viewer's summary pages show, computed by the database, not in Python.

The LLM page's totals per model, the Evaluations page's per metric and the
Metrics page's per metric and per timer. Over the whole store they are read
from the roll-ups the writers keep (``store/_rollups.py``), a few rows per
model, metric and hour; for one session, from its records (the session
indexes make that a short range). A quantile is one ``ORDER BY ... LIMIT 1
OFFSET k`` per group (for the LLM latency, a walk down an index from its end);
a histogram or time series is one ``GROUP BY`` over bucket numbers. So a page
over a million records moves a few dozen rows out of the database.

Each function takes the :class:`~._reader.Store` and an optional session id,
and uses only ``Store._query`` (portable SQL with ``?`` placeholders), so both
backends run the same queries. ``Store`` exposes them as methods.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Tuple

if TYPE_CHECKING:
    from ._reader import Store

__all__ = ["evaluation_metrics", "llm_models", "metric_totals", "quantile_offset", "timer_stats"]

Row = Dict[str, Any]

#: Bars of a histogram, and points of a time series, unless asked otherwise.
BINS = 12


def quantile_offset(count: int, q: float) -> int:
    """The 0-based rank of the ``q`` quantile of ``count`` sorted values (nearest rank)."""
    return min(count - 1, max(0, math.ceil(q * count) - 1))


def _same(column: str, key: Any) -> Tuple[str, List[Any]]:
    """Rows whose ``column`` is the group's ``key``. A roll-up keeps a NULL key as
    ``''``, and ``= NULL`` matches nothing."""
    if key is None or key == "":
        return f"({column} IS NULL OR {column} = '')", []
    return f"{column} = ?", [key]


def _rolled(store: Store, session_id: Optional[str]) -> bool:
    """Whether to read the roll-ups: for the whole store, once it has them (version 4;
    a read-only reader of an older store totals its records instead)."""
    return session_id is None and store.schema_version() >= 4


def _scope(store: Store, table: str, session_id: Optional[str]) -> Tuple[str, str, List[Any]]:
    """(FROM clause, extra WHERE, params) of ``table``'s records of one session or all."""
    if session_id is None:
        return table, "", []
    # The session index, not the model or metric one: a session is a short range of it.
    hint = store.dialect.indexed_by(f"{table}_session")
    return f"{table}{hint}", " AND session_id = ?", [session_id]


def _nth(
    store: Store, source: str, value: str, where: str, params: Sequence[Any], rank: int, count: int
) -> Optional[float]:
    """The ``rank``-th smallest ``value`` (0-based) of the ``count`` non-NULL ones
    matching ``where``; read from the nearer end, so a p95 walks 5 % of them."""
    order, offset = ("", rank) if rank < count / 2 else (" DESC", count - 1 - rank)
    rows = store._query(
        f"SELECT {value} AS v FROM {source} WHERE {where} AND {value} IS NOT NULL"
        f" ORDER BY {value}{order} LIMIT 1 OFFSET ?",
        [*params, offset],
    )
    return rows[0]["v"] if rows else None


def _buckets(
    store: Store, select: str, expr: str, lo: Any, hi: Any, bins: int, params: Sequence[Any]
) -> List[Row]:
    """``bins`` equal buckets of ``expr`` over [lo, hi]: ``lo, hi, count, total``
    (``total`` sums the query's ``v``). Integer bounds (times in nanoseconds, beyond
    a float's precision) give integer buckets, computed by integer division."""
    if hi <= lo:
        rows = store._query(f"SELECT count(*) AS n, sum(v) AS total FROM ({select}) q", params)
        return [{"lo": lo, "hi": hi, "count": int(rows[0]["n"]), "total": rows[0]["total"]}]
    if isinstance(lo, int) and isinstance(hi, int):
        width: Any = -(-(hi - lo) // bins)  # the ceiling: ``bins`` buckets cover [lo, hi]
    else:
        lo, hi = float(lo), float(hi)
        width = (hi - lo) / bins
    # The bucket number is floor((x - lo) / width), capped so ``hi`` falls in the last.
    bucket = store.dialect.least(store.dialect.floor_int(f"(({expr}) - ?) / ?"), "?")
    rows = store._query(
        f"SELECT {bucket} AS b, count(*) AS n, sum(v) AS total FROM ({select}) q GROUP BY 1",
        [lo, width, bins - 1, *params],
    )
    found = {int(r["b"]): r for r in rows}
    return [
        {
            "lo": lo + i * width,
            "hi": hi if i == bins - 1 else lo + (i + 1) * width,
            "count": int(found[i]["n"]) if i in found else 0,
            "total": found[i]["total"] if i in found else None,
        }
        for i in range(bins)
    ]


def _histogram(
    store: Store, select: str, lo: Any, hi: Any, bins: int, params: Sequence[Any]
) -> List[Row]:
    if lo is None or hi is None:
        return []
    return [
        {k: b[k] for k in ("lo", "hi", "count")}
        for b in _buckets(store, select, "v", float(lo), float(hi), bins, params)
    ]


def _series(
    store: Store, select: str, first_ns: Any, last_ns: Any, bins: int, params: Sequence[Any]
) -> List[Row]:
    """``start_ns, end_ns, count, total`` per equal slice of [first_ns, last_ns]."""
    if not isinstance(first_ns, int) or not isinstance(last_ns, int):
        return []
    return [
        {
            "start_ns": b["lo"],
            "end_ns": b["hi"],
            "count": b["count"],
            "total": b["total"],
        }
        for b in _buckets(store, select, "time_ns", first_ns, last_ns, bins, params)
    ]


# -- the LLM page ----------------------------------------------------------------
_LLM_ROLLUP = (
    "SELECT model, max(provider) AS provider, sum(calls) AS calls, sum(failures) AS failures,"
    " sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,"
    " sum(cost) AS cost, sum(priced) AS priced, sum(latency_sum) AS latency_sum,"
    " sum(timed) AS timed FROM llm_rollup GROUP BY model ORDER BY model"
)

_LLM_RECORDS = (
    "SELECT coalesce(model, '') AS model, max(provider) AS provider, count(*) AS calls,"
    " sum(CASE WHEN success = 1 THEN 0 ELSE 1 END) AS failures,"
    " coalesce(sum(input_tokens), 0) AS input_tokens,"
    " coalesce(sum(output_tokens), 0) AS output_tokens,"
    " coalesce(sum(cost), 0) AS cost, count(cost) AS priced,"
    " coalesce(sum(response_time), 0) AS latency_sum, count(response_time) AS timed"
    " FROM {source} WHERE 1 = 1{where} GROUP BY 1 ORDER BY 1"
)


def llm_models(store: Store, session_id: Optional[str] = None) -> List[Row]:
    """Per model: ``model, provider, calls, failures, input_tokens, output_tokens,
    tokens, cost, mean_latency, p95_latency`` (cost None when no call was priced)."""
    source, where, params = _scope(store, "llm_calls", session_id)
    if _rolled(store, session_id):
        groups = store._query(_LLM_ROLLUP)
    else:
        groups = store._query(_LLM_RECORDS.format(source=source, where=where), params)
    out = []
    for g in groups:
        same, same_params = _same("model", g["model"])
        timed, priced = int(g.pop("timed")), int(g.pop("priced"))
        latency_sum = g.pop("latency_sum")
        calls, tin, tout = int(g["calls"]), int(g["input_tokens"]), int(g["output_tokens"])
        out.append(
            {
                "model": g["model"] or None,
                "provider": g["provider"],
                "calls": calls,
                "failures": int(g["failures"]),
                "input_tokens": tin,
                "output_tokens": tout,
                "tokens": tin + tout,
                "cost": g["cost"] if priced else None,
                "mean_latency": latency_sum / timed if timed else None,
                "p95_latency": _nth(
                    store,
                    source,  # all: the (model, response_time) index, from its end
                    "response_time",
                    same + where,
                    [*same_params, *params],
                    quantile_offset(timed, 0.95),
                    timed,
                )
                if timed
                else None,
            }
        )
    return out


# -- the Evaluations page -----------------------------------------------------------
_EVALUATION_ROLLUP = (
    "SELECT metric_name, sum(results) AS count, sum(passed) AS passed, sum(failed) AS failed,"
    " sum(value_sum) AS value_sum, sum(valued) AS valued, min(min_value) AS min,"
    " max(max_value) AS max FROM evaluation_rollup GROUP BY metric_name ORDER BY metric_name"
)

_EVALUATION_RECORDS = (
    "SELECT coalesce(metric_name, '') AS metric_name, count(*) AS count,"
    " sum(CASE WHEN status = 'PASS' THEN 1 ELSE 0 END) AS passed,"
    " sum(CASE WHEN status = 'FAIL' THEN 1 ELSE 0 END) AS failed,"
    " coalesce(sum(value), 0) AS value_sum, count(value) AS valued,"
    " min(value) AS min, max(value) AS max"
    " FROM {source} WHERE 1 = 1{where} GROUP BY 1 ORDER BY 1"
)


def _first(
    store: Store, column: str, where: str, params: Sequence[Any], source: str
) -> Optional[Any]:
    rows = store._query(
        f"SELECT {column} AS v FROM {source} WHERE {where} AND {column} IS NOT NULL"
        " ORDER BY id LIMIT 1",
        params,
    )
    return rows[0]["v"] if rows else None


def evaluation_metrics(store: Store, session_id: Optional[str] = None) -> List[Row]:
    """Per metric: ``metric_name, count, passed, failed, pass_rate, mean, min, max,
    threshold, direction`` (the first threshold and direction recorded for it)."""
    source, where, params = _scope(store, "evaluations", session_id)
    if _rolled(store, session_id):
        groups = store._query(_EVALUATION_ROLLUP)
    else:
        groups = store._query(_EVALUATION_RECORDS.format(source=source, where=where), params)
    out = []
    for g in groups:
        same, same_params = _same("metric_name", g["metric_name"])
        scope, scope_params = same + where, [*same_params, *params]
        count, valued = int(g["count"]), int(g["valued"])
        out.append(
            {
                "metric_name": g["metric_name"] or None,
                "count": count,
                "passed": int(g["passed"]),
                "failed": int(g["failed"]),
                "pass_rate": int(g["passed"]) / count if count else None,
                "mean": g["value_sum"] / valued if valued else None,
                "min": g["min"],
                "max": g["max"],
                "threshold": _first(store, "threshold", scope, scope_params, source),
                "direction": _first(store, "direction", scope, scope_params, source) or "higher",
            }
        )
    return out


# -- the Metrics page ------------------------------------------------------------------
# Each session's latest value of each metric: its last snapshot (the one inserted last).
_LATEST = (
    "SELECT name, session_id, value, time_ns FROM metrics WHERE id IN"
    " (SELECT max(id) FROM metrics{where} GROUP BY session_id, name)"
)


def metric_totals(store: Store, session_id: Optional[str] = None, bins: int = BINS) -> List[Row]:
    """Per metric name, over each session's latest value: ``name, sessions, total,
    mean, min, max, first_ns, last_ns``, a ``histogram`` of the sessions' values
    and a time ``series`` (the values summed by when each was last written)."""
    if _rolled(store, session_id):
        latest, params = "metric_latest", []
    elif session_id is None:
        latest, params = f"({_LATEST.format(where='')})", []
    else:
        latest, params = f"({_LATEST.format(where=' WHERE session_id = ?')})", [session_id]
    groups = store._query(
        "SELECT name, count(*) AS sessions, sum(value) AS total, avg(value) AS mean,"
        " min(value) AS min, max(value) AS max, min(time_ns) AS first_ns,"
        f" max(time_ns) AS last_ns FROM {latest} m GROUP BY name ORDER BY name",
        params,
    )
    out = []
    for g in groups:
        named = f"SELECT value AS v, time_ns FROM {latest} m WHERE name = ?"
        named_params = [*params, g["name"]]
        g["sessions"] = int(g["sessions"])
        g["histogram"] = _histogram(store, named, g["min"], g["max"], bins, named_params)
        g["series"] = _series(store, named, g["first_ns"], g["last_ns"], bins, named_params)
        out.append(g)
    return out


def timer_stats(store: Store, session_id: Optional[str] = None, bins: int = BINS) -> List[Row]:
    """Per name of the timed events (those with a ``duration``): ``name, count, mean,
    min, p50, p95, max``, a ``histogram`` of the durations and a time ``series``."""
    source, where, params = _scope(store, "events", session_id)
    groups = store._query(
        "SELECT name, count(*) AS count, avg(duration) AS mean, min(duration) AS min,"
        " max(duration) AS max, min(time_ns) AS first_ns, max(time_ns) AS last_ns"
        f" FROM {source} WHERE duration IS NOT NULL{where} GROUP BY name ORDER BY name",
        params,
    )
    for g in groups:
        same, same_params = _same("name", g["name"])
        scope, scope_params = same + where, [*same_params, *params]
        count = g["count"] = int(g["count"])
        for label, q in (("p50", 0.5), ("p95", 0.95)):
            g[label] = _nth(
                store, source, "duration", scope, scope_params, quantile_offset(count, q), count
            )
        timed = (
            f"SELECT duration AS v, time_ns FROM {source} WHERE duration IS NOT NULL AND {scope}"
        )
        g["histogram"] = _histogram(store, timed, g["min"], g["max"], bins, scope_params)
        g["series"] = _series(store, timed, g["first_ns"], g["last_ns"], bins, scope_params)
    return groups
