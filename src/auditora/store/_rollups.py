"""Totals the writers keep as they write, so summary pages never scan the records.

Five tables (declared in :data:`~auditora.store._schema.ROLLUPS` and
:data:`~auditora.store._schema.TRACE_ROLLUP`):

- ``llm_rollup``: the LLM calls per model and hour (calls, failures, tokens,
  cost, latency sum);
- ``evaluation_rollup``: the evaluation results per metric and hour (results,
  passes, fails, value sum, minimum, maximum);
- ``metric_latest``: each session's latest value of each metric (the last
  snapshot written);
- ``timer_rollup``: the timed events (a ``duration``) per name and hour (timings,
  duration sum, minimum, maximum);
- ``trace_rollup`` (version 5): one row per trace, its earliest run start and
  latest run end (idempotent: a re-sent run changes neither).

Every writer (SQLite, PostgreSQL, ``auditora migrate``) adds the rows it
inserts through :func:`upserts`, in the same transaction, so the totals and the
records never disagree; a store of an older schema gets them filled from its
records by the migration to version 4 (:data:`~auditora.store._schema.BACKFILL`).
A key that is NULL in the records (a call without a model) is ``''`` here,
because a primary key cannot hold NULL.

The values are counted as SQL's aggregates count them: a number (a bool is 0
or 1) is added, anything else (NULL, text) is not; ``success`` other than 1 is
a failure. Only LLM call ``cost`` may be absent from every call of a group: then
``priced`` is 0 and the reader says the cost is unknown, not zero.
"""

from __future__ import annotations

import math
from typing import Any, Dict, List, Sequence, Tuple

__all__ = ["HOUR_NS", "hour", "upserts"]

#: The width of a roll-up's time bucket.
HOUR_NS = 3_600_000_000_000

Key = Tuple[str, int]


def hour(time_ns: Any) -> int:
    """The start of the hour ``time_ns`` falls in, as SQL's integer division gives it
    (truncated toward zero); 0 for a time that is not an integer."""
    if type(time_ns) is not int:
        return 0
    whole = time_ns // HOUR_NS if time_ns >= 0 else -(-time_ns // HOUR_NS)
    return whole * HOUR_NS


_NUMERIC = frozenset({int, float, bool})


def _numbers(values: Sequence[Any]) -> List[Any]:
    """The values SQL's ``sum`` adds: the numbers (a bool is 0 or 1), finite."""
    found = [v for v in values if type(v) in _NUMERIC]
    if math.isfinite(sum(found)):  # one NaN or infinity makes the sum so
        return found
    return [v for v in found if math.isfinite(v)]


def _key(value: Any) -> str:
    return "" if value is None else value if type(value) is str else str(value)


def _hours(times: Sequence[Any]) -> List[int]:
    """:func:`hour` of each time; a batch usually falls within one hour."""
    if times and all(type(t) is int for t in times):
        first, last = hour(min(times)), hour(max(times))
        if first == last:
            return [first] * len(times)
    return list(map(hour, times))


def _grouped(
    keys: List[Key], columns: Sequence[Sequence[Any]]
) -> List[Tuple[Key, List[Sequence[Any]]]]:
    """Each key (in order) with its rows' values of each column. A batch usually has
    one key (a model, an hour): then the columns are taken whole, not row by row."""
    if keys.count(keys[0]) == len(keys):
        return [(keys[0], list(columns))]
    rows: Dict[Key, List[int]] = {}
    for i, key in enumerate(keys):
        rows.setdefault(key, []).append(i)
    return [(key, [[c[i] for i in rows[key]] for c in columns]) for key in sorted(rows)]


def _keep(table: str, column: str, op: str) -> str:
    """The upsert's ``column = …`` keeping the smaller (``op`` ``<``) or the larger (``>``)
    of the stored and the new value; a NULL stored value gives way to the new one."""
    mine, new = f"{table}.{column}", f"excluded.{column}"
    return f"{column} = CASE WHEN {mine} IS NULL OR {new} {op} {mine} THEN {new} ELSE {mine} END"


_LLM = f"""
INSERT INTO llm_rollup (model, hour_ns, provider, calls, failures, input_tokens,
    output_tokens, cost, priced, latency_sum, timed)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (model, hour_ns) DO UPDATE SET
    {_keep("llm_rollup", "provider", ">")},
    calls = llm_rollup.calls + excluded.calls,
    failures = llm_rollup.failures + excluded.failures,
    input_tokens = llm_rollup.input_tokens + excluded.input_tokens,
    output_tokens = llm_rollup.output_tokens + excluded.output_tokens,
    cost = llm_rollup.cost + excluded.cost,
    priced = llm_rollup.priced + excluded.priced,
    latency_sum = llm_rollup.latency_sum + excluded.latency_sum,
    timed = llm_rollup.timed + excluded.timed
"""

_EVALUATION = f"""
INSERT INTO evaluation_rollup (metric_name, hour_ns, results, passed, failed,
    value_sum, valued, min_value, max_value)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (metric_name, hour_ns) DO UPDATE SET
    results = evaluation_rollup.results + excluded.results,
    passed = evaluation_rollup.passed + excluded.passed,
    failed = evaluation_rollup.failed + excluded.failed,
    value_sum = evaluation_rollup.value_sum + excluded.value_sum,
    valued = evaluation_rollup.valued + excluded.valued,
    {_keep("evaluation_rollup", "min_value", "<")},
    {_keep("evaluation_rollup", "max_value", ">")}
"""

_METRIC = """
INSERT INTO metric_latest (name, session_id, value, time_ns) VALUES (?, ?, ?, ?)
ON CONFLICT (name, session_id) DO UPDATE SET
    value = excluded.value, time_ns = excluded.time_ns
"""


def _llm_rows(col: Dict[str, Sequence[Any]], n: int) -> List[Tuple[Any, ...]]:
    none = [None] * n
    keys = list(zip(map(_key, col.get("model", none)), _hours(col.get("time_ns", none))))
    fields = ("provider", "success", "input_tokens", "output_tokens", "cost", "response_time")
    out = []
    for key, (providers, success, tin, tout, cost, latency) in _grouped(
        keys, [col.get(f, none) for f in fields]
    ):
        named = [p for p in providers if type(p) is str]
        priced, timed = _numbers(cost), _numbers(latency)
        out.append(
            (
                *key,
                max(named) if named else None,
                len(success),
                len(success) - list(success).count(1),  # not a success unless exactly 1
                sum(_numbers(tin)),
                sum(_numbers(tout)),
                float(sum(priced)),
                len(priced),
                float(sum(timed)),
                len(timed),
            )
        )
    return out


def _evaluation_rows(col: Dict[str, Sequence[Any]], n: int) -> List[Tuple[Any, ...]]:
    none = [None] * n
    keys = list(zip(map(_key, col.get("metric_name", none)), _hours(col.get("time_ns", none))))
    out = []
    for key, (status, value) in _grouped(keys, [col.get("status", none), col.get("value", none)]):
        values = _numbers(value)
        statuses = list(status)
        out.append(
            (
                *key,
                len(statuses),
                statuses.count("PASS"),
                statuses.count("FAIL"),
                float(sum(values)),
                len(values),
                min(values) if values else None,
                max(values) if values else None,
            )
        )
    return out


def _metric_rows(col: Dict[str, Sequence[Any]], n: int) -> List[Tuple[Any, ...]]:
    none = [None] * n
    latest: Dict[Tuple[str, str], Tuple[Any, Any]] = {}
    for sid, name, value, t in zip(
        col.get("session_id", none),
        col.get("name", none),
        col.get("value", none),
        col.get("time_ns", none),
    ):
        latest[(_key(name), _key(sid))] = (value, t)  # the last written wins
    return [(*key, *vt) for key, vt in sorted(latest.items())]


_TIMER = """
INSERT INTO timer_rollup (name, hour_ns, timings, duration_sum, min_duration, max_duration)
VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (name, hour_ns) DO UPDATE SET
    timings = timer_rollup.timings + excluded.timings,
    duration_sum = timer_rollup.duration_sum + excluded.duration_sum,
    min_duration = CASE WHEN excluded.min_duration < timer_rollup.min_duration
        THEN excluded.min_duration ELSE timer_rollup.min_duration END,
    max_duration = CASE WHEN excluded.max_duration > timer_rollup.max_duration
        THEN excluded.max_duration ELSE timer_rollup.max_duration END
"""


def _timer_rows(col: Dict[str, Sequence[Any]], n: int) -> List[Tuple[Any, ...]]:
    none = [None] * n
    durations = col.get("duration", none)
    timed = [i for i, d in enumerate(durations) if type(d) in _NUMERIC]
    if not timed:
        return []  # no timings (events without a duration): the usual batch
    names, times = col.get("name", none), col.get("time_ns", none)
    keys = list(zip((_key(names[i]) for i in timed), _hours([times[i] for i in timed])))
    out = []
    for key, (found,) in _grouped(keys, [[durations[i] for i in timed]]):
        values = _numbers(found)
        if values:
            out.append((*key, len(values), float(sum(values)), min(values), max(values)))
    return out


_TRACE = f"""
INSERT INTO trace_rollup (trace_id, start_ns, end_ns) VALUES (?, ?, ?)
ON CONFLICT (trace_id) DO UPDATE SET
    {_keep("trace_rollup", "start_ns", "<")},
    {_keep("trace_rollup", "end_ns", ">")}
"""


def _span(known: List[Any], start: Any, end: Any) -> None:
    """Widen ``known`` (``[start, end]``, either None) to hold a run's integer times."""
    if type(start) is int and (known[0] is None or start < known[0]):
        known[0] = start
    if type(end) is int and (known[1] is None or end > known[1]):
        known[1] = end


def _trace_rows(col: Dict[str, Sequence[Any]], n: int) -> List[Tuple[Any, ...]]:
    none = [None] * n
    spans: Dict[str, List[Any]] = {}
    for trace_id, start, end in zip(
        col.get("trace_id", none), col.get("start_ns", none), col.get("end_ns", none)
    ):
        if type(trace_id) is str:  # (NOT NULL in runs: a row without one is not stored)
            _span(spans.setdefault(trace_id, [None, None]), start, end)
    return [(trace_id, *span) for trace_id, span in sorted(spans.items())]


_ROLLUPS = {
    "runs": (_TRACE, _trace_rows),
    "events": (_TIMER, _timer_rows),
    "llm_calls": (_LLM, _llm_rows),
    "evaluations": (_EVALUATION, _evaluation_rows),
    "metrics": (_METRIC, _metric_rows),
}


def upserts(
    table: str, names: Sequence[str], columns: Sequence[Sequence[Any]], placeholder: str = "?"
) -> List[Tuple[str, List[Tuple[Any, ...]]]]:
    """The roll-up statements and their rows for rows just inserted into ``table``
    (``columns`` holds one sequence per name of ``names``); the statements take
    ``placeholder`` (``?`` for sqlite3, ``%s`` for psycopg: they hold no other ``?``).
    Empty for a table without a roll-up. The rows are sorted by key, so concurrent
    PostgreSQL writers lock them in one order (no deadlock)."""
    found = _ROLLUPS.get(table)
    if found is None or not columns:
        return []
    statement, rows = found
    return [(statement.replace("?", placeholder), rows(dict(zip(names, columns)), len(columns[0])))]
