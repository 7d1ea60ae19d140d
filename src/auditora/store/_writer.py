"""Writing serialized records into a store: one transaction per batch.

The input is what :func:`auditora._serialize.to_jsonable` returns (plain,
JSON-ready dicts with a ``kind``); records are grouped by kind and inserted
with ``executemany``. The whole batch commits or nothing does, so a reader (or
a process killed mid-write) never sees half a batch.
"""

from __future__ import annotations

import json
import sqlite3
from itertools import compress, islice, repeat
from math import isfinite
from operator import is_
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from .._serialize import TEXT_FIELDS
from ..redaction import redact_texts

__all__ = [
    "Prepared",
    "prepare_dicts",
    "prepare_records",
    "write_batch",
    "write_prepared",
    "write_records",
]

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

#: kind -> [(field, stored as JSON text)], for building rows from record objects.
_SPECS: Dict[str, List[Tuple[str, bool]]] = {
    kind: [(name, conv is _json) for name, conv in cols] for kind, (_t, cols) in _TABLES.items()
}


def _column_reader(names: Sequence[str]) -> Callable[[Sequence[Any]], List[List[Any]]]:
    """A function returning ``[[r.<name> for r in items] for each name]``.

    Written out as one comprehension per field because CPython 3.11+
    specializes an attribute load on a known class inside a loop: ~19 ns per
    value, against ~52 ns through ``map(attrgetter(name), items)``. The names
    are the record classes' own fields, never user input.
    """
    for name in names:
        if not name.isidentifier():
            raise ValueError(f"not a field name: {name!r}")
    body = ", ".join(f"[r.{name} for r in items]" for name in names)
    namespace: Dict[str, Any] = {}
    exec(f"def read_columns(items):\n    return [{body}]\n", namespace)
    reader: Callable[[Sequence[Any]], List[List[Any]]] = namespace["read_columns"]
    return reader


#: kind -> (its columns' reader, JSON column positions, other positions).
_PLANS: Dict[
    str, Tuple[Callable[[Sequence[Any]], List[List[Any]]], Tuple[int, ...], Tuple[int, ...]]
] = {
    kind: (
        _column_reader([name for name, _ in spec]),
        tuple(i for i, (_, is_json) in enumerate(spec) if is_json),
        tuple(i for i, (_, is_json) in enumerate(spec) if not is_json),
    )
    for kind, spec in _SPECS.items()
}

#: kind -> positions of free-text columns masked by pattern (see _serialize.TEXT_FIELDS).
_TEXT_POS: Dict[str, Tuple[int, ...]] = {
    kind: tuple(i for i, (name, _) in enumerate(spec) if name in TEXT_FIELDS)
    for kind, spec in _SPECS.items()
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


def _dict_columns(kind: str, records: Sequence[Mapping[str, Any]]) -> List[List[Any]]:
    return [
        [r.get(name) if conv is None else conv(r.get(name)) for r in records]
        for name, conv in _TABLES[kind][1]
    ]


def _span(spans: Dict[str, List[int]], sid: Any, start: Any, end: Any) -> None:
    if not isinstance(sid, str) or not isinstance(start, int):
        return
    end = end if isinstance(end, int) else start
    span = spans.get(sid)
    if span is None:
        spans[sid] = [start, end]
    else:
        span[0] = min(span[0], start)
        span[1] = max(span[1], end)


class Prepared:
    """Rows for one transaction, built before taking the write lock.

    A table's rows are kept as columns (one list per column, in the table's
    column order), not as a tuple per row: nothing per record is allocated
    that the garbage collector would track and scan while the batch waits for
    the writer, and the statements' parameters are laid out from the columns
    with slice assignments (see :func:`_insert`).
    """

    __slots__ = ("count", "metrics", "sessions", "spans", "tables")

    def __init__(self) -> None:
        #: kind -> the table's columns, all of one length.
        self.tables: Dict[str, List[List[Any]]] = {}
        self.metrics: List[Tuple[Any, ...]] = []
        self.sessions: List[Tuple[Any, ...]] = []
        self.spans: Dict[str, List[int]] = {}
        #: Records represented (unknown kinds are not counted).
        self.count = 0

    def merge(self, other: Prepared) -> None:
        """Add ``other``'s rows to these."""
        for kind, columns in other.tables.items():
            mine = self.tables.get(kind)
            if mine is None:
                self.tables[kind] = columns
            else:
                for column, more in zip(mine, columns):
                    column.extend(more)
        self.metrics.extend(other.metrics)
        self.sessions.extend(other.sessions)
        for sid, (a, b) in other.spans.items():
            _span(self.spans, sid, a, b)
        self.count += other.count


def prepare_dicts(records: Sequence[Mapping[str, Any]]) -> Prepared:
    """Rows for serialized records (:func:`auditora._serialize.to_jsonable` dicts)."""
    out = Prepared()
    groups: Dict[str, List[Mapping[str, Any]]] = {}
    for r in records:
        groups.setdefault(str(r.get("kind")), []).append(r)
    for kind, items in groups.items():
        if kind in _SQL:
            out.tables[kind] = _dict_columns(kind, items)
        elif kind == "metric":
            for r in items:
                values = r.get("metrics")
                ids = tuple(r.get(k) for k in ("time_ns", "run_id", "trace_id", "session_id"))
                if isinstance(values, dict):
                    out.metrics.extend((str(k), v, *ids) for k, v in values.items())
        elif kind == "session":
            out.sessions.extend(
                (
                    r.get("session_id"),
                    r.get("name"),
                    _json(r.get("tags")),
                    _json(r.get("state")),
                    r.get("time_ns"),
                )
                for r in items
            )
        else:
            continue
        out.count += len(items)
    for r in groups.get("run", ()):
        _span(out.spans, r.get("session_id"), r.get("start_ns"), r.get("end_ns"))
    return out


_NoneType = type(None)
_TEXT_TYPES = frozenset({str, _NoneType})
_INT_TYPES = frozenset({int, bool, _NoneType})
_NUMBER_TYPES = frozenset({int, bool, float, _NoneType})


def _scalar_column(values: List[Any], max_string: int) -> List[Any]:
    """``values`` for a typed column: kept when every one is already a plain
    primitive (the common case, checked with C-level loops), else each through
    :func:`auditora._serialize.scalar`."""
    types = set(map(type, values))
    if types <= _TEXT_TYPES:
        first = values[0] if values else None
        if str not in types:
            plain = True
        elif first.__class__ is str and values.count(first) == len(values):
            # One string throughout (ids, names): list.count's identity check
            # makes this ~50x cheaper than measuring every string.
            plain = len(first) <= max_string
        else:
            plain = max(map(len, filter(None, values))) <= max_string
    else:
        # ints and bools as they are; floats when finite (NaN becomes "NaN").
        plain = types <= _INT_TYPES or (
            types <= _NUMBER_TYPES and all(map(isfinite, filter(None, values)))
        )
    if plain:
        return values
    from .._serialize import scalar

    return list(map(scalar, values))


def _record_classes() -> Dict[type, str]:
    from .. import records as r

    return {
        r.Run: "run",
        r.Event: "event",
        r.Log: "log",
        r.LLMCall: "llm_call",
        r.Evaluation: "evaluation",
        r.AgentMessage: "agent_message",
    }


_CLASSES: Optional[Dict[type, str]] = None


def _table_columns(
    kind: str, items: Sequence[Any], max_string: int, limits: Tuple[int, int]
) -> List[List[Any]]:
    """Columns of one table: every read, check and conversion is one C-level
    pass over a whole column instead of Python work per record, and no tuple is
    made per record."""
    from .._serialize import json_texts

    read_columns, json_pos, scalar_pos = _PLANS[kind]
    text_pos = _TEXT_POS[kind]
    try:
        columns = read_columns(items)
    except AttributeError:
        columns = [[getattr(r, name, None) for r in items] for name, _ in _SPECS[kind]]
    for i in text_pos:
        texts = redact_texts(columns[i])
        columns[i] = texts if texts.__class__ is list else list(texts)
    for i in scalar_pos:
        columns[i] = _scalar_column(columns[i], max_string)
    for i in json_pos:
        columns[i] = json_texts(columns[i], limits)
    return columns


def _run_spans(
    spans: Dict[str, List[int]], sids: Sequence[Any], starts: Sequence[Any], ends: Sequence[Any]
) -> None:
    """Each session's earliest start and latest end among these runs."""
    first = sids[0]
    if (
        first.__class__ is str
        and set(sids) == {first}
        and set(map(type, starts)) == {int}
        and set(map(type, ends)) == {int}
    ):
        _span(spans, first, min(starts), max(ends))
        return
    for sid, start, end in zip(sids, starts, ends):
        _span(spans, sid, start, end)


def prepare_records(records: Sequence[Any]) -> Prepared:
    """Rows built straight from :class:`~auditora.records.Record` objects.

    Gives the same rows as ``prepare_dicts([to_jsonable(r) for r in records])``
    but redacts, sanitizes and encodes each user field once, with no
    intermediate dicts, a column at a time. Records of other classes go through
    ``to_jsonable``.
    """
    global _CLASSES
    from .._config import settings
    from .._serialize import json_text, quick_limits, scalar, to_jsonable

    classes = _CLASSES
    if classes is None:
        classes = _CLASSES = _record_classes()
    limits = quick_limits()
    max_string = int(settings.max_string_length)
    out = Prepared()
    # Records of the known classes, by class (each table keeps its order);
    # C-level passes over the batch rather than Python work per record.
    types = list(map(type, records))
    distinct = set(types)
    rest: List[Any] = []
    if len(distinct) == 1:
        cls = types[0] if types else None
        if cls in classes:
            groups = {cls: records}
        else:
            rest = list(records)
            groups = {}
    else:
        groups = {
            cls: list(compress(records, map(is_, types, repeat(cls))))
            for cls in sorted(distinct, key=types.index)
            if cls in classes
        }
        if len(groups) < len(distinct):
            rest = [r for r, t in zip(records, types) if t not in classes]
    for cls, items in groups.items():
        kind = classes[cls]
        columns = _table_columns(kind, items, max_string, limits)
        out.tables[kind] = columns
        out.count += len(items)
        if kind == "run":
            _run_spans(out.spans, columns[4], columns[5], columns[6])
    others: List[Mapping[str, Any]] = []
    for r in rest:
        other = getattr(r, "kind", None)
        if other == "metric":
            ids = (scalar(r.time_ns), scalar(r.run_id), scalar(r.trace_id), scalar(r.session_id))
            try:
                pairs = list(dict(r.metrics).items())
            except Exception:
                pairs = []
            out.metrics.extend((scalar(str(k)), scalar(v), *ids) for k, v in pairs)
        elif other == "session":
            out.sessions.append(
                (
                    scalar(r.session_id),
                    scalar(r.name),
                    json_text(r.tags, True, limits),
                    json_text(r.state, True, limits),
                    scalar(r.time_ns),
                )
            )
        else:
            others.append(to_jsonable(r))
            continue
        out.count += 1
    if others:
        out.merge(prepare_dicts(others))
    return out


#: Most rows per INSERT statement: one statement of many ``VALUES`` rows is
#: bound in one call and run in one step (which releases the GIL), instead of a
#: Python round trip and a GIL hand-over per row as with ``executemany``.
_CHUNK = 512
_DEFAULT_VARIABLES = 32_766 if sqlite3.sqlite_version_info >= (3, 32, 0) else 999

#: How a column of one statement is written (see :func:`_insert_chunk`).
_NULL, _ONCE, _EACH = 0, 1, 2
#: (INSERT, rows, column ways) -> that statement's text.
_STATEMENTS: Dict[Tuple[str, int, Tuple[int, ...]], str] = {}


def _statement(sql: str, rows: int, ways: Tuple[int, ...]) -> str:
    """``sql`` (an ``INSERT ... VALUES (?, ...)``) inserting ``rows`` rows at once,
    each column as ``ways`` says: the ``NULL`` literal, one parameter shared by
    every row (numbered first), or a parameter per row."""
    key = (sql, rows, ways)
    text = _STATEMENTS.get(key)
    if text is not None:
        return text
    once = ways.count(_ONCE)
    each = ways.count(_EACH)
    shared = iter(range(1, once + 1))
    cells = ("NULL" if w == _NULL else f"?{next(shared)}" if w == _ONCE else "?{}" for w in ways)
    row = "(" + ",".join(cells) + ")"
    head = sql.rpartition(" VALUES ")[0]
    numbers = iter(range(once + 1, once + rows * each + 1))
    values = ",".join(row.format(*islice(numbers, each)) for _ in range(rows))
    text = f"{head} VALUES {values}"
    if len(_STATEMENTS) >= 256:
        _STATEMENTS.clear()  # bound the texts kept; the common ones come back first
    _STATEMENTS[key] = text
    return text


def _variables(conn: sqlite3.Connection) -> int:
    """How many ``?`` parameters one statement may have on this connection."""
    getlimit = getattr(conn, "getlimit", None)  # Python 3.11+
    if getlimit is not None:
        try:
            return int(getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER))  # type: ignore[attr-defined,unused-ignore]
        except Exception:
            pass
    return _DEFAULT_VARIABLES


def _insert_chunk(
    conn: sqlite3.Connection, sql: str, columns: Sequence[List[Any]], start: int, rows: int
) -> None:
    """Insert rows ``start`` to ``start + rows`` with one statement.

    Binding a parameter costs far more than running the insert it feeds
    (``sqlite3`` adapts each ``None``, ~0.9 us here; copying a string costs
    ~0.2 us, an int ~0.05 us), and a column is usually uniform over a chunk:
    the same session, run and trace ids, the same event name, no error. So a
    column that is all ``None`` is written as ``NULL`` and one whose values are
    all the same string is bound once; only the others are bound per row,
    laid out row after row by one slice assignment per column.
    """
    ways: List[int] = []
    shared: List[Any] = []
    varying: List[List[Any]] = []
    end = start + rows
    for column in columns:
        part = column[start:end]
        first = part[0]
        if first is None:
            if part[-1] is None and part.count(None) == rows:
                ways.append(_NULL)
                continue
        # Only strings are shared: 1, 1.0 and True are equal but stored apart.
        elif first.__class__ is str and part[-1] == first and part.count(first) == rows:
            ways.append(_ONCE)
            shared.append(first)
            continue
        ways.append(_EACH)
        varying.append(part)
    width = len(varying)
    params = shared + [None] * (rows * width)
    base = len(shared)
    for j, part in enumerate(varying):
        params[base + j :: width] = part
    conn.execute(_statement(sql, rows, tuple(ways)), params)


def _insert(conn: sqlite3.Connection, sql: str, columns: Sequence[List[Any]]) -> None:
    """Insert the rows held in ``columns`` with statements of up to ``_CHUNK``
    rows, in power-of-two sizes (so a handful of cached statements serve every
    batch size)."""
    n = len(columns[0]) if columns else 0
    if n == 0:
        return
    size = _CHUNK
    limit = _variables(conn) if n > 1 else 1
    while size > 1 and size * len(columns) > limit:
        size //= 2
    i = 0
    while i < n:
        while n - i < size:
            size //= 2
        if size == 1:
            conn.execute(sql, [column[i] for column in columns])
        else:
            _insert_chunk(conn, sql, columns, i, size)
        i += size


def _transpose(rows: Sequence[Sequence[Any]]) -> List[List[Any]]:
    return [list(column) for column in zip(*rows)]


def write_prepared(conn: sqlite3.Connection, prepared: Prepared) -> int:
    """Write ``prepared`` in one transaction (all or nothing); return its record count.

    Raises :class:`sqlite3.Error` (or ``OSError``) on failure, after rolling back.
    """
    p = prepared
    if not (p.tables or p.metrics or p.sessions or p.spans):
        return p.count
    conn.execute("BEGIN IMMEDIATE")
    try:
        for kind, columns in p.tables.items():
            _insert(conn, _SQL[kind], columns)
        if p.metrics:
            _insert(conn, _METRIC_SQL, _transpose(p.metrics))
        if p.sessions:
            conn.executemany(_SESSION_STATE, p.sessions)
        if p.spans:
            conn.executemany(_SESSION_SPAN, [(sid, a, b) for sid, (a, b) in p.spans.items()])
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
        raise
    return p.count


def write_batch(conn: sqlite3.Connection, records: Sequence[Mapping[str, Any]]) -> int:
    """Insert serialized ``records`` in one transaction; return how many were stored.

    ``records`` are :func:`auditora._serialize.to_jsonable` dicts. Records of an
    unknown kind are skipped. Runs are keyed by ``run_id`` (a re-sent run
    replaces itself, so a retried batch does not duplicate runs). Raises
    :class:`sqlite3.Error` (or ``OSError``) on failure, after rolling back.
    """
    return write_prepared(conn, prepare_dicts(records))


def write_records(conn: sqlite3.Connection, records: Sequence[Any]) -> int:
    """Insert :class:`~auditora.records.Record` objects in one transaction (see
    :func:`prepare_records`); return how many were stored."""
    return write_prepared(conn, prepare_records(records))
