"""Totals the viewer's summary pages show, computed by the database, not in Python.

The LLM page's totals per model, the Evaluations page's per metric and the
Metrics page's per metric and per timer. Over the whole store they are read
from the roll-ups the writers keep (``store/_rollups.py``), a few rows per
model, metric and hour; for one session, from its records (the session
indexes make that a short range). A quantile is one ``ORDER BY ... LIMIT 1
OFFSET k`` per group (a walk down an index from its nearer end); a histogram or
time series is one counting query per bucket, each a range of an index. So a
page over a million records moves a few dozen rows out of the database.

Each function takes the :class:`~._reader.Store` and an optional session id,
and uses only ``Store._query`` (portable SQL with ``?`` placeholders), so both
backends run the same queries. ``Store`` exposes them as methods.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Tuple

from ._rollups import HOUR_NS

if TYPE_CHECKING:
    from ._reader import Store

__all__ = ["evaluation_metrics", "llm_models", "metric_totals", "quantile_offset", "timer_stats"]

Row = Dict[str, Any]

_MAX_FLOAT = 1.7976931348623157e308

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


def _groups(
    store: Store, table: str, session_id: Optional[str], rollup: str, records: str
) -> Tuple[List[Row], bool, str, str, List[Any]]:
    """(the groups, read from the roll-up or not, and ``table``'s :func:`_scope`): the
    ``rollup`` query over the whole store once it has one, else the ``records`` query
    (``{source}`` and ``{where}`` filled in) over the records in scope."""
    source, where, params = _scope(store, table, session_id)
    if _rolled(store, session_id):
        return store._query(rollup), True, source, where, params
    groups = store._query(records.format(source=source, where=where), params)
    return groups, False, source, where, params


def _nth(
    store: Store, source: str, value: str, where: str, params: Sequence[Any], rank: int, count: int
) -> Optional[float]:
    """The ``rank``-th smallest ``value`` (0-based) of the ``count`` non-NULL ones
    matching ``where``; read from the nearer end, so a p95 walks 5 % of them."""
    order, offset = ("", rank) if rank < count / 2 else (" DESC", count - 1 - rank)
    # Numbers only: SQLite keeps a text value (a NaN serialized as "NaN") in a REAL
    # column and sorts it after every number, which the roll-up's count leaves out.
    rows = store._query(
        f"SELECT {value} AS v FROM {source} WHERE {where} AND {value} BETWEEN ? AND ?"
        f" ORDER BY {value}{order} LIMIT 1 OFFSET ?",
        [*params, -_MAX_FLOAT, _MAX_FLOAT, offset],
    )
    return rows[0]["v"] if rows else None


def _edges(lo: Any, hi: Any, bins: int) -> List[Any]:
    """The ``bins + 1`` edges of equal buckets over [lo, hi] (one bucket when hi <= lo).
    Integer bounds (times in nanoseconds, beyond a float's precision) give integer
    edges; the last edge is ``hi`` itself."""
    if hi <= lo:
        return [lo, hi]
    if isinstance(lo, int) and isinstance(hi, int):
        width: Any = -(-(hi - lo) // bins)  # the ceiling: ``bins`` buckets cover [lo, hi]
        edges = [min(hi, lo + i * width) for i in range(bins)]
    else:
        lo, hi = float(lo), float(hi)
        edges = [lo + i * (hi - lo) / bins for i in range(bins)]
    return [*edges, hi]


def _ranges(
    store: Store,
    source: str,
    column: str,
    where: str,
    params: Sequence[Any],
    edges: Sequence[Any],
    value: Optional[str] = None,
) -> List[Row]:
    """``lo, hi, count`` (and ``total`` and ``valued``, the sum and count of ``value``)
    of the rows whose ``column`` is in each [edges[i], edges[i + 1]) (the last closed).

    One counting query per bucket: over an index on (key, ``column``) each reads
    its own range, so a histogram reads every row once and sorts nothing (a
    ``GROUP BY`` of bucket numbers sorted them: 70 ms per metric of 100,000
    sessions, where the ranges take 10). The counts go as one ``UNION ALL``, one
    round trip to a server instead of one per bucket."""
    total = f", sum({value}) AS total, count({value}) AS valued" if value else ""
    parts: List[str] = []
    values: List[Any] = []
    for i in range(len(edges) - 1):
        below = "<=" if i == len(edges) - 2 else "<"
        parts.append(
            f"SELECT {i} AS bucket, count(*) AS n{total} FROM {source}"
            f" WHERE {where} AND {column} >= ? AND {column} {below} ?"
        )
        values += [*params, edges[i], edges[i + 1]]
    rows = store._query(f"{' UNION ALL '.join(parts)} ORDER BY bucket", values)
    out = []
    for row in rows:
        i = int(row["bucket"])
        bucket = {"lo": edges[i], "hi": edges[i + 1], "count": int(row["n"])}
        if value:
            bucket["total"], bucket["valued"] = row["total"], int(row["valued"])
        out.append(bucket)
    return out


def _series(points: List[Row]) -> List[Row]:
    """Buckets of time as a series: ``start_ns, end_ns, count, total``."""
    return [
        {"start_ns": p["lo"], "end_ns": p["hi"], "count": p["count"], "total": p.get("total")}
        for p in points
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
    groups, _, source, where, params = _groups(
        store, "llm_calls", session_id, _LLM_ROLLUP, _LLM_RECORDS
    )
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
    groups, _, source, where, params = _groups(
        store, "evaluations", session_id, _EVALUATION_ROLLUP, _EVALUATION_RECORDS
    )
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


def _one(store: Store, sql: str, params: Sequence[Any]) -> Any:
    rows = store._query(sql, params)
    return rows[0]["v"] if rows else None


def _names(store: Store, source: str, params: Sequence[Any]) -> List[Any]:
    """The distinct names of ``source``, in order: one ``min(name) > previous`` at a
    time, each a single step down the (name, ...) index, never a scan."""
    names: List[Any] = []
    while True:
        after, after_params = (" WHERE name > ?", [names[-1]]) if names else ("", [])
        found = _one(store, f"SELECT min(name) AS v FROM {source}{after}", [*after_params])
        if found is None:
            return names
        names.append(found)


def metric_totals(store: Store, session_id: Optional[str] = None, bins: int = BINS) -> List[Row]:
    """Per metric name, over each session's latest value: ``name, sessions, total,
    mean, min, max, first_ns, last_ns``, a ``histogram`` of the sessions' values
    and a time ``series`` (the values summed by when each was last written).

    Over the whole store every figure is read from ``metric_latest``'s (name,
    value) and (name, time_ns, value) indexes: minimum, maximum, first and last
    are one index step each, and the series' ranges add up to the totals."""
    if _rolled(store, session_id):
        source, params = "metric_latest", []
        names = _names(store, source, [])
    else:
        where = "" if session_id is None else " WHERE session_id = ?"
        source = f"({_LATEST.format(where=where)}) m"
        params = [] if session_id is None else [session_id]
        names = [
            r["name"]
            for r in store._query(f"SELECT DISTINCT name FROM {source} ORDER BY name", params)
        ]
    out = []
    for name in names:
        named = [*params, name]
        lo = _one(store, f"SELECT min(value) AS v FROM {source} WHERE name = ?", named)
        hi = _one(store, f"SELECT max(value) AS v FROM {source} WHERE name = ?", named)
        first = _one(store, f"SELECT min(time_ns) AS v FROM {source} WHERE name = ?", named)
        last = _one(store, f"SELECT max(time_ns) AS v FROM {source} WHERE name = ?", named)
        untimed = store._query(
            f"SELECT count(*) AS n, count(value) AS valued, sum(value) AS total FROM {source}"
            " WHERE name = ? AND time_ns IS NULL",
            named,
        )[0]
        sessions, valued, total = int(untimed["n"]), int(untimed["valued"]), untimed["total"]
        series: List[Row] = []
        if isinstance(first, int) and isinstance(last, int):
            points = _ranges(
                store, source, "time_ns", "name = ?", named, _edges(first, last, bins), "value"
            )
            series = _series(points)
            sessions += sum(p["count"] for p in points)
            valued += sum(p["valued"] for p in points)
            sums = [p["total"] for p in points if p["total"] is not None]
            if sums:
                total = (total or 0) + sum(sums)
        histogram: List[Row] = []
        if lo is not None and hi is not None:
            edges = _edges(float(lo), float(hi), bins)
            histogram = _ranges(store, source, "value", "name = ?", named, edges)
        out.append(
            {
                "name": name,
                "sessions": sessions,
                "total": total,
                "mean": total / valued if valued and total is not None else None,
                "min": lo,
                "max": hi,
                "first_ns": first,
                "last_ns": last,
                "histogram": histogram,
                "series": series,
            }
        )
    return out


# -- timers -----------------------------------------------------------------------------
_TIMER_ROLLUP = (
    "SELECT name, sum(timings) AS count, sum(duration_sum) AS total, min(min_duration) AS min,"
    " max(max_duration) AS max FROM timer_rollup GROUP BY name ORDER BY name"
)

_TIMER_RECORDS = (
    "SELECT coalesce(name, '') AS name, count(*) AS count, sum(duration) AS total,"
    " min(duration) AS min, max(duration) AS max"
    " FROM {source} WHERE duration IS NOT NULL{where} GROUP BY 1 ORDER BY 1"
)


def _hourly(store: Store, name: str, bins: int) -> List[Row]:
    """A timer's series from its roll-up: ``bins`` slices of whole hours."""
    hours = store._query(
        "SELECT hour_ns, timings, duration_sum FROM timer_rollup WHERE name = ? ORDER BY hour_ns",
        [name],
    )
    if not hours:
        return []
    first, last = int(hours[0]["hour_ns"]), int(hours[-1]["hour_ns"]) + HOUR_NS
    step = -(-(last - first) // HOUR_NS // bins) * HOUR_NS  # whole hours per slice
    slices: List[Row] = [
        {"start_ns": start, "end_ns": min(last, start + step), "count": 0, "total": None}
        for start in range(first, last, step)
    ]
    for h in hours:
        point = slices[(int(h["hour_ns"]) - first) // step]
        point["count"] += int(h["timings"])
        point["total"] = (point["total"] or 0.0) + h["duration_sum"]
    return slices


def timer_stats(store: Store, session_id: Optional[str] = None, bins: int = BINS) -> List[Row]:
    """Per name of the timed events (those with a ``duration``): ``name, count, mean,
    min, p50, p95, max``, a ``histogram`` of the durations and a time ``series``
    (for the whole store, slices of whole hours, from the roll-up; for a session,
    equal slices of its span)."""
    groups, rolled, source, where, params = _groups(
        store, "events", session_id, _TIMER_ROLLUP, _TIMER_RECORDS
    )
    out = []
    for g in groups:
        same, same_params = _same("name", g["name"])
        scope, scope_params = f"duration IS NOT NULL AND {same}{where}", [*same_params, *params]
        count = int(g["count"])
        row: Row = {
            "name": g["name"] or None,
            "count": count,
            "mean": g["total"] / count if count else None,
            "min": g["min"],
            "max": g["max"],
        }
        for label, q in (("p50", 0.5), ("p95", 0.95)):
            row[label] = _nth(
                store, source, "duration", scope, scope_params, quantile_offset(count, q), count
            )
        row["histogram"] = (
            _ranges(
                store,
                source,
                "duration",
                scope,
                scope_params,
                _edges(float(g["min"]), float(g["max"]), bins),
            )
            if g["min"] is not None
            else []
        )
        if rolled:
            row["series"] = _hourly(store, g["name"], bins)
        else:
            span = store._query(
                f"SELECT min(time_ns) AS a, max(time_ns) AS b FROM {source} WHERE {scope}",
                scope_params,
            )[0]
            row["series"] = (
                _series(
                    _ranges(
                        store,
                        source,
                        "time_ns",
                        scope,
                        scope_params,
                        _edges(span["a"], span["b"], bins),
                        value="duration",
                    )
                )
                if isinstance(span["a"], int) and isinstance(span["b"], int)
                else []
            )
        out.append(row)
    return out
