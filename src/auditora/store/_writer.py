"""Writing serialized records into a store: one transaction per batch.

The input is what :func:`auditora._serialize.to_jsonable` returns (plain,
JSON-ready dicts with a ``kind``); records are grouped by kind and inserted
with ``executemany``. The whole batch commits or nothing does, so a reader (or
a process killed mid-write) never sees half a batch.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

__all__ = ["write_batch"]

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=repr).encode


def _json(value: Any) -> Optional[str]:
    return None if value is None else _dumps(value)


def _bool(value: Any) -> Any:
    return int(value) if isinstance(value, bool) else value


_IDS = ("run_id", "trace_id", "session_id")

# kind -> (table, [(column, converter or None)])
_Columns = List[Tuple[str, Optional[Callable[[Any], Any]]]]
_TABLES: Dict[str, Tuple[str, _Columns]] = {
    "run": (
        "runs",
        [
            ("run_id", None),
            ("trace_id", None),
            ("parent_id", None),
            ("name", None),
            ("session_id", None),
            ("start_ns", None),
            ("end_ns", None),
            ("duration_ns", None),
            ("status", None),
            ("error_type", None),
            ("error_message", None),
            ("run_kind", None),
            ("agent", None),
            ("attributes", _json),
        ],
    ),
    "event": (
        "events",
        [("name", None), ("time_ns", None), ("duration", None), ("metadata", _json)],
    ),
    "log": ("logs", [("level", None), ("message", None), ("fields", _json), ("time_ns", None)]),
    "llm_call": (
        "llm_calls",
        [
            ("model", None),
            ("provider", None),
            ("operation", None),
            ("input_tokens", None),
            ("output_tokens", None),
            ("cached_tokens", None),
            ("reasoning_tokens", None),
            ("response_time", None),
            ("time_to_first_token", None),
            ("success", _bool),
            ("finish_reason", None),
            ("error", None),
            ("cost", None),
            ("request", _json),
            ("input", _json),
            ("output", _json),
            ("extra", _json),
            ("time_ns", None),
        ],
    ),
    "evaluation": (
        "evaluations",
        [
            ("metric_name", None),
            ("value", None),
            ("threshold", None),
            ("status", None),
            ("direction", None),
            ("label", None),
            ("explanation", None),
            ("extra", _json),
            ("time_ns", None),
        ],
    ),
    "agent_message": (
        "agent_messages",
        [
            ("sender", None),
            ("recipient", None),
            ("message_kind", None),
            ("content", _json),
            ("extra", _json),
            ("time_ns", None),
        ],
    ),
}
for _kind, (_table, _cols) in _TABLES.items():
    if _kind != "run":
        _cols.extend((name, None) for name in _IDS)

_SQL = {
    kind: (
        f"INSERT {'OR REPLACE ' if kind == 'run' else ''}INTO {table} "
        f"({', '.join(c for c, _ in cols)}) VALUES ({', '.join('?' for _ in cols)})"
    )
    for kind, (table, cols) in _TABLES.items()
}

_SESSION_STATE = """
INSERT INTO sessions (session_id, name, tags, state, state_ns)
VALUES (?, ?, ?, ?, ?)
ON CONFLICT (session_id) DO UPDATE SET
    name = excluded.name, tags = excluded.tags, state = excluded.state,
    state_ns = excluded.state_ns
WHERE sessions.state_ns IS NULL OR excluded.state_ns >= sessions.state_ns
"""

_SESSION_SPAN = """
INSERT INTO sessions (session_id, first_ns, last_ns) VALUES (?, ?, ?)
ON CONFLICT (session_id) DO UPDATE SET
    first_ns = min(coalesce(sessions.first_ns, excluded.first_ns), excluded.first_ns),
    last_ns = max(coalesce(sessions.last_ns, excluded.last_ns), excluded.last_ns)
"""

_METRIC_SQL = (
    "INSERT INTO metrics (name, value, time_ns, run_id, trace_id, session_id) "
    "VALUES (?, ?, ?, ?, ?, ?)"
)


def _rows(kind: str, records: Iterable[Mapping[str, Any]]) -> List[Tuple[Any, ...]]:
    cols = _TABLES[kind][1]
    return [
        tuple(r.get(name) if conv is None else conv(r.get(name)) for name, conv in cols)
        for r in records
    ]


def write_batch(conn: sqlite3.Connection, records: Sequence[Mapping[str, Any]]) -> int:
    """Insert serialized ``records`` in one transaction; return how many were stored.

    Records of an unknown kind are skipped. Runs are keyed by ``run_id`` (a
    re-sent run replaces itself, so a retried batch does not duplicate runs).
    Raises :class:`sqlite3.Error` (or ``OSError``) on failure, after rolling back.
    """
    groups: Dict[str, List[Mapping[str, Any]]] = {}
    for r in records:
        groups.setdefault(str(r.get("kind")), []).append(r)
    spans: Dict[str, List[int]] = {}
    for r in groups.get("run", ()):
        sid = r.get("session_id")
        if not isinstance(sid, str):
            continue
        start = r.get("start_ns")
        end = r.get("end_ns", start)
        if not isinstance(start, int):
            continue
        end = end if isinstance(end, int) else start
        span = spans.get(sid)
        if span is None:
            spans[sid] = [start, end]
        else:
            span[0] = min(span[0], start)
            span[1] = max(span[1], end)
    stored = 0
    conn.execute("BEGIN IMMEDIATE")
    try:
        for kind, items in groups.items():
            sql = _SQL.get(kind)
            if sql is not None:
                conn.executemany(sql, _rows(kind, items))
                stored += len(items)
            elif kind == "metric":
                rows: List[Tuple[Any, ...]] = []
                for r in items:
                    values = r.get("metrics")
                    ids = tuple(r.get(k) for k in ("time_ns", "run_id", "trace_id", "session_id"))
                    if isinstance(values, dict):
                        rows.extend((str(k), v, *ids) for k, v in values.items())
                conn.executemany(_METRIC_SQL, rows)
                stored += len(items)
            elif kind == "session":
                conn.executemany(
                    _SESSION_STATE,
                    [
                        (
                            r.get("session_id"),
                            r.get("name"),
                            _json(r.get("tags")),
                            _json(r.get("state")),
                            r.get("time_ns"),
                        )
                        for r in items
                    ],
                )
                stored += len(items)
        if spans:
            conn.executemany(_SESSION_SPAN, [(sid, a, b) for sid, (a, b) in spans.items()])
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
        raise
    return stored
