"""Writing serialized records into a store, one transaction per batch, one record's loss at most.

The input is what :func:`auditora._serialize.to_jsonable` returns: plain,
JSON-ready dicts with a ``kind``, already redacted and bounded (the JSONL sink
writes the very same dicts, so both sinks keep the same records). Each record
becomes the rows of its table as :data:`~auditora.store._schema.TABLES`
declares them; there is no other way rows are built.

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
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

from ._schema import BY_KIND, Table

__all__ = ["Written", "write_batch", "write_records", "write_rows"]

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


def _json_cell(value: Any) -> Optional[str]:
    return None if value is None else _encode(value)


def _row(table: Table, data: Mapping[str, Any]) -> Tuple[Any, ...]:
    return tuple(
        _json_cell(data.get(c.name)) if c.json else _cell(data.get(c.name)) for c in table.columns
    )


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


def _insert(table: Table) -> str:
    names = [c.name for c in table.columns]
    # A re-sent run (a retried batch) replaces itself instead of duplicating.
    verb = "INSERT OR REPLACE" if table.kind == "run" else "INSERT"
    return f"{verb} INTO {table.name} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"


#: Record kind -> (the statement its rows go through, how a record becomes rows).
_STATEMENTS: Dict[str, str] = {
    kind: _SESSION_STATE if kind == "session" else _insert(table) for kind, table in BY_KIND.items()
}


class _Entry:
    """One record, turned into the rows it is stored as."""

    __slots__ = ("kind", "rows", "span")

    def __init__(self, kind: str, rows: List[Tuple[Any, ...]], span: Optional[Tuple]) -> None:
        self.kind = kind
        self.rows = rows
        #: ``(session_id, start_ns, end_ns)`` of a run, for the session's time span.
        self.span = span


def _rows(kind: str, data: Mapping[str, Any]) -> Iterator[Tuple[Any, ...]]:
    table = BY_KIND[kind]
    if kind == "session":
        yield (
            _cell(data.get("session_id")),
            _cell(data.get("name")),
            _json_cell(data.get("tags")),
            _json_cell(data.get("state")),
            _cell(data.get("time_ns")),
        )
    elif kind == "metric":
        values = data.get("metrics")
        if not isinstance(values, Mapping):
            raise TypeError(f"a metric record's metrics is a {type(values).__name__}, not a dict")
        for name, value in values.items():
            yield _row(table, {**data, "name": name, "value": value})
    else:
        yield _row(table, data)


def _entry(data: Mapping[str, Any]) -> _Entry:
    kind = data.get("kind")
    if not isinstance(kind, str) or kind not in BY_KIND:
        raise TypeError(f"no store table keeps records of kind {kind!r}")
    span = None
    if kind == "run":
        sid, start, end = data.get("session_id"), data.get("start_ns"), data.get("end_ns")
        if isinstance(sid, str) and type(start) is int:
            span = (sid, start, end if type(end) is int else start)
    return _Entry(kind, list(_rows(kind, data)), span)


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


def _commit(conn: sqlite3.Connection, entries: Sequence[_Entry]) -> None:
    """Write ``entries`` in one transaction (all or nothing)."""
    by_statement: Dict[str, List[Tuple[Any, ...]]] = {}
    spans: Dict[str, List[int]] = {}
    for e in entries:
        by_statement.setdefault(_STATEMENTS[e.kind], []).extend(e.rows)
        if e.span is not None:
            sid, start, end = e.span
            known = spans.get(sid)
            if known is None:
                spans[sid] = [start, end]
            else:
                known[0] = min(known[0], start)
                known[1] = max(known[1], end)
    conn.execute("BEGIN IMMEDIATE")
    try:
        for statement, rows in by_statement.items():
            conn.executemany(statement, rows)
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


def _write(conn: sqlite3.Connection, entries: Sequence[_Entry], out: Written) -> None:
    """Commit ``entries``; on a record's error, commit each half apart, down to that record."""
    if not entries:
        return
    try:
        _commit(conn, entries)
    except _RECORD_ERRORS as exc:
        if len(entries) == 1:
            out._lose(entries[0].kind, exc)
            return
        half = len(entries) // 2
        _write(conn, entries[:half], out)
        _write(conn, entries[half:], out)
        return
    out.stored += len(entries)


def write_rows(conn: sqlite3.Connection, records: Sequence[Mapping[str, Any]]) -> Written:
    """Store serialized ``records``; return what was stored and what could not be.

    A record that cannot be stored costs that record alone (see the module
    docstring). Raises :class:`sqlite3.Error` or ``OSError`` when the store
    itself fails, after rolling back: then nothing of the batch was written.
    """
    out = Written()
    entries: List[_Entry] = []
    for data in records:
        try:
            entries.append(_entry(data))
        except Exception as exc:
            kind = data.get("kind") if isinstance(data, Mapping) else None
            out._lose(str(kind), exc)
    _write(conn, entries, out)
    return out


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
    :func:`~auditora._serialize.to_jsonable`); return how many were stored."""
    from .._serialize import to_jsonable

    return write_batch(conn, [to_jsonable(r) for r in records])
