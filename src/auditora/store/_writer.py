"""Writing serialized records into a store, one transaction per batch, one record's loss at most.

The input is what :func:`auditora._serialize.serialize` returns: the records
of a batch a class at a time, a column per field, already redacted and bounded
(the JSONL sink writes the very same values, as dicts, so both sinks keep the
same records). Each record becomes the rows of its table as
:data:`~auditora.store._schema.TABLES` declares them, a column at a time;
there is no other way rows are built (serialized dicts are put in columns
first).

A batch is written in one transaction, so a reader (or a process killed
mid-write) never sees half a batch. When a record cannot be stored (a value
SQLite refuses to bind, a constraint it breaks) the transaction is rolled back
and the batch is written again in halves, down to that single record: it alone
is lost, counted in :attr:`Written.unstorable` by kind, with the first reason.
A failure of the store itself (locked, disk full, read-only) is not a record's
fault: it is raised for the whole batch.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from functools import lru_cache
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Type

from .._serialize import Part, serialize
from . import _rollups
from ._schema import BY_KIND

__all__ = [
    "Written",
    "parts_of_rows",
    "write_batch",
    "write_isolated",
    "write_parts",
    "write_records",
    "write_rows",
]

_encode = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, separators=(",", ":"), default=repr
).encode

#: Errors that one record's values cause: the batch is retried without it.
#: (``OperationalError`` - locked, full, read-only - is the store's, not a record's.)
_RECORD_ERRORS = (
    sqlite3.IntegrityError,
    sqlite3.InterfaceError,
    sqlite3.DataError,
    sqlite3.ProgrammingError,
    OverflowError,
    ValueError,  # includes UnicodeEncodeError
    TypeError,
)

_INT64 = (-(2**63), 2**63 - 1)


def _cell(value: Any) -> Any:
    """A serialized value for a typed column: what SQLite can bind, unchanged when it can.

    Integers beyond 64 bits become floats (SQLite's INTEGER is 64-bit); a
    container (a user value in a typed field) becomes its JSON text.
    """
    t = type(value)
    if t is str or t is float or value is None or t is bool:
        return value
    if t is int:
        return value if _INT64[0] <= value <= _INT64[1] else float(value)
    return _encode(value)


#: Types the sqlite3 module binds as they are.
_BINDABLE = frozenset({str, float, bool, type(None)})


def _typed_column(values: List[Any]) -> List[Any]:
    """``[_cell(v) for v in values]``, checked a whole column at a time: the column
    is usually all plain values already, and then it is kept as it is."""
    types = set(map(type, values))
    if types <= _BINDABLE:
        return values
    if types <= _BINDABLE | {int}:
        ints = [v for v in values if type(v) is int]
        if _INT64[0] <= min(ints) and max(ints) <= _INT64[1]:
            return values
    return list(map(_cell, values))


def _json_column(values: List[Any]) -> List[Optional[str]]:
    return [None if v is None else _encode(v) for v in values]


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


@lru_cache(maxsize=256)
def _statement(kind: str, names: Tuple[str, ...], rows: int) -> str:
    """The statement inserting ``rows`` rows of ``kind`` records' columns ``names``."""
    # A re-sent run (a retried batch) replaces itself instead of duplicating.
    verb = "INSERT OR REPLACE" if kind == "run" else "INSERT"
    row = f"({', '.join('?' * len(names))})"
    return f"{verb} INTO {BY_KIND[kind].name} ({', '.join(names)}) VALUES {','.join([row] * rows)}"


#: Most rows per INSERT statement. One statement of many rows is bound and run
#: in one call, which releases the interpreter lock once; ``executemany``
#: releases and retakes it for every row, and while the app and the recorder's
#: worker want the lock too each retake is a thread hand-over.
_CHUNK = 256


def _max_variables(conn: sqlite3.Connection) -> int:
    """How many ``?`` one statement may hold on this connection."""
    getlimit = getattr(conn, "getlimit", None)  # Python 3.11+
    if getlimit is not None:
        return int(getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER))  # type: ignore[attr-defined,unused-ignore]
    return 32_766 if sqlite3.sqlite_version_info >= (3, 32, 0) else 999


def _insert(
    conn: sqlite3.Connection, kind: str, names: Tuple[str, ...], columns: List[List[Any]]
) -> None:
    """Insert the rows held in ``columns`` (one list per column of ``names``).

    Statements hold up to :data:`_CHUNK` rows, in power-of-two sizes so that a
    few cached statements serve every batch size. A statement's parameters are
    laid out row after row from the columns by one slice assignment per column.
    """
    if kind == "session":
        conn.executemany(_SESSION_STATE, list(zip(*columns)))
        return
    n, width = len(columns[0]), len(columns)
    size = _CHUNK
    while size > 1 and size * width > _max_variables(conn):
        size //= 2
    start = 0
    while start < n:
        while size > n - start:
            size //= 2
        params: List[Any] = [None] * (size * width)
        for j, column in enumerate(columns):
            params[j::width] = column[start : start + size]
        conn.execute(_statement(kind, names, size), params)
        start += size


#: Record kind -> (the serialized field each parameter of its statement is read from,
#: kept as JSON text or not). A session record's time is its state's time.
_FIELDS: Dict[str, List[Tuple[str, bool]]] = {
    kind: [(c.name, c.json) for c in table.columns] for kind, table in BY_KIND.items()
}
_FIELDS["session"] = [
    ("session_id", False),
    ("name", False),
    ("tags", True),
    ("state", True),
    ("time_ns", False),
]


def _statement_columns(part: Part) -> Tuple[Tuple[str, ...], List[List[Any]]]:
    """The statement's column names and values for the records of ``part``.

    A metric record (a snapshot of many metrics) is one row per metric. A column
    that is None in every row is left out of the statement (it is NULL by
    default): the sqlite3 module binds a None ~3.5x slower than an int, and
    most of a record's optional fields are None throughout a batch.
    """
    kind, n = part.kind, len(part.where)
    fields = dict(zip(part.names, part.columns))
    if kind == "metric":
        # Each record's mapping becomes rows; its other fields repeat per row.
        counts = [len(m) for m in fields["metrics"]]
        exploded = {
            "name": [k for m in fields["metrics"] for k in m],
            "value": [v for m in fields["metrics"] for v in m.values()],
        }
        for name, values in fields.items():
            if name not in ("metrics", "name", "value"):
                exploded[name] = [v for v, c in zip(values, counts) for _ in range(c)]
        fields, n = exploded, sum(counts)
    names: List[str] = []
    columns: List[List[Any]] = []
    for name, is_json in _FIELDS[kind]:
        found = fields.get(name)
        values = [None] * n if found is None else found  # None: a field they lack
        if kind != "session" and values.count(None) == n and columns:
            continue
        names.append(name)
        columns.append((_json_column if is_json else _typed_column)(values))
    return tuple(names), columns


def _storable(part: Part, out: Written) -> Optional[Part]:
    """``part`` without the records no table can keep (each counted in ``out``)."""
    if part.kind not in BY_KIND:
        for _ in part.where:
            out._lose(part.kind, TypeError(f"no store table keeps records of kind {part.kind!r}"))
        return None
    if part.kind != "metric":
        return part
    metrics = part.columns[part.names.index("metrics")]
    keep = [i for i, m in enumerate(metrics) if isinstance(m, Mapping)]
    for _ in range(len(metrics) - len(keep)):
        out._lose("metric", TypeError("a metric record's metrics is not a dict"))
    if len(keep) == len(metrics):
        return part
    return Part(
        part.kind,
        part.names,
        [[c[i] for i in keep] for c in part.columns],
        [part.where[i] for i in keep],
    )


def _slice(part: Part, start: int, stop: int) -> Part:
    return Part(
        part.kind, part.names, [c[start:stop] for c in part.columns], part.where[start:stop]
    )


def _halves(parts: Sequence[Part]) -> Tuple[List[Part], List[Part]]:
    """``parts`` cut in two with half of their records in each."""
    half = sum(len(p.where) for p in parts) // 2
    first: List[Part] = []
    second: List[Part] = []
    for part in parts:
        n = len(part.where)
        if half >= n:
            first.append(part)
        elif half <= 0:
            second.append(part)
        else:
            first.append(_slice(part, 0, half))
            second.append(_slice(part, half, n))
        half -= n
    return first, second


class Written:
    """What :func:`write_rows` did with a batch."""

    __slots__ = ("reasons", "stored", "unstorable")

    def __init__(self) -> None:
        #: Records stored.
        self.stored = 0
        #: Record kind -> records that could not be stored.
        self.unstorable: Dict[str, int] = {}
        #: Record kind -> the first reason one of them could not be.
        self.reasons: Dict[str, str] = {}

    @property
    def lost(self) -> int:
        """Records that could not be stored, of every kind."""
        return sum(self.unstorable.values())

    def _lose(self, kind: str, reason: BaseException) -> None:
        self.unstorable[kind] = self.unstorable.get(kind, 0) + 1
        self.reasons.setdefault(kind, f"{type(reason).__name__}: {reason}")


def _spans(parts: Sequence[Part]) -> Dict[str, List[int]]:
    """Each session's earliest run start and latest run end among ``parts``' runs."""
    spans: Dict[str, List[int]] = {}
    for part in parts:
        if part.kind != "run":
            continue
        fields = dict(zip(part.names, part.columns))
        n = len(part.where)
        starts, ends = fields.get("start_ns", [None] * n), fields.get("end_ns", [None] * n)
        for sid, start, end in zip(fields.get("session_id", [None] * n), starts, ends):
            if isinstance(sid, str) and type(start) is int:
                end = end if type(end) is int else start
                known = spans.get(sid)
                if known is None:
                    spans[sid] = [start, end]
                else:
                    known[0] = min(known[0], start)
                    known[1] = max(known[1], end)
    return spans


def _commit(conn: sqlite3.Connection, parts: Sequence[Part]) -> None:
    """Write ``parts`` (all storable) in one transaction (all or nothing)."""
    tables = [(p.kind, *_statement_columns(p)) for p in parts if p.where]
    spans = _spans(parts)
    conn.execute("BEGIN IMMEDIATE")
    try:
        for kind, names, columns in tables:
            _insert(conn, kind, names, columns)
        if spans:
            conn.executemany(_SESSION_SPAN, [(sid, a, b) for sid, (a, b) in spans.items()])
        for kind, names, columns in tables:
            for statement, rows in _rollups.upserts(BY_KIND[kind].name, names, columns):
                conn.executemany(statement, rows)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
        raise


def _write(
    commit: Callable[[Sequence[Part]], None],
    errors: Tuple[Type[BaseException], ...],
    parts: Sequence[Part],
    out: Written,
) -> None:
    """Commit ``parts``; on a record's error, commit each half apart, down to that record."""
    count = sum(len(p.where) for p in parts)
    if not count:
        return
    try:
        commit(parts)
    except errors as exc:
        if count == 1:
            out._lose(next(p.kind for p in parts if p.where), exc)
            return
        first, second = _halves(parts)
        _write(commit, errors, first, out)
        _write(commit, errors, second, out)
        return
    out.stored += count


def write_isolated(
    commit: Callable[[Sequence[Part]], None],
    errors: Tuple[Type[BaseException], ...],
    parts: Sequence[Part],
) -> Written:
    """Store ``parts`` with ``commit`` (one all-or-nothing transaction per call), keeping
    a record's loss to that record: when ``commit`` raises one of ``errors`` (a
    record's fault) the records are committed again in halves, down to the one
    that cannot be stored. Any other exception (the store's own failure) is
    raised. Every backend's writer goes through here, so they isolate alike."""
    out = Written()
    storable = [kept for kept in (_storable(p, out) for p in parts) if kept is not None]
    _write(commit, errors, storable, out)
    return out


def write_parts(conn: sqlite3.Connection, parts: Sequence[Part]) -> Written:
    """Store serialized records (:func:`auditora._serialize.serialize`'s parts); return
    what was stored and what could not be.

    A record that cannot be stored costs that record alone (see the module
    docstring). Raises :class:`sqlite3.Error` or ``OSError`` when the store
    itself fails, after rolling back: then nothing of the batch was written.
    """
    return write_isolated(lambda batch: _commit(conn, batch), _RECORD_ERRORS, parts)


def write_rows(conn: sqlite3.Connection, records: Sequence[Mapping[str, Any]]) -> Written:
    """:func:`write_parts` for serialized dicts (:func:`auditora._serialize.to_jsonable`)."""
    return write_parts(conn, parts_of_rows(records))


def parts_of_rows(records: Sequence[Mapping[str, Any]]) -> List[Part]:
    """Serialized dicts (:func:`auditora._serialize.to_jsonable`) as the parts
    :func:`write_parts` takes, one per kind."""
    groups: Dict[str, List[Mapping[str, Any]]] = {}
    for r in records:
        kind = r.get("kind") if isinstance(r, Mapping) else type(r).__name__
        groups.setdefault(str(kind), []).append(r if isinstance(r, Mapping) else {})
    parts = []
    for kind, group in groups.items():
        names = tuple(dict.fromkeys(name for r in group for name in r))
        columns = [[r.get(name) for r in group] for name in names]
        parts.append(Part(kind, names, columns, list(range(len(group)))))
    return parts


def write_batch(conn: sqlite3.Connection, records: Sequence[Mapping[str, Any]]) -> int:
    """Insert serialized ``records`` (:func:`auditora._serialize.to_jsonable`
    dicts); return how many were stored.

    Runs are keyed by ``run_id``: a re-sent run replaces itself, so a retried
    batch does not duplicate runs. Records that cannot be stored (including
    kinds no table keeps) are left out; :func:`write_rows` says which.
    """
    return write_rows(conn, records).stored


def write_records(conn: sqlite3.Connection, records: Sequence[Any]) -> int:
    """Insert :class:`~auditora.records.Record` objects (serialized with
    :func:`~auditora._serialize.serialize`); return how many were stored."""
    return write_parts(conn, serialize(records)).stored
