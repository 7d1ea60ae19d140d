"""Finding runs and ids in a store for the CLI: filtered, sorted, paged run lists with their
total, and unique id prefixes.

Queries run on their own read-only connection (as ``tail`` and ``export`` do),
and use the store's indexes: a prefix is a range scan of a primary key (or of
the ``runs(trace_id, start_ns)`` index), never a ``LIKE`` over the table.
"""

from __future__ import annotations

import sqlite3
from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Tuple

from . import _export

__all__ = ["SORTS", "AmbiguousId", "Page", "find_runs", "resolve_id"]

#: ``--sort`` key -> the runs column it orders by.
SORTS = {
    "start": "start_ns",
    "end": "end_ns",
    "duration": "duration_ns",
    "name": "name",
    "status": "status",
}

#: Candidates listed for an ambiguous prefix (the count is always exact).
MAX_CANDIDATES = 20


class Page(NamedTuple):
    """One page of a listing: its rows, and how many rows match in all."""

    rows: List[Dict[str, Any]]
    total: int
    limit: int
    offset: int


class AmbiguousId(LookupError):
    """A prefix of several ids: ``candidates`` lists ``(kind, id)`` (at most MAX_CANDIDATES),
    ``count`` how many there are."""

    def __init__(self, prefix: str, candidates: Sequence[Tuple[str, str]], count: int) -> None:
        super().__init__(f"id prefix {prefix!r} is ambiguous: {count} ids start with it")
        self.prefix = prefix
        self.candidates = list(candidates)
        self.count = count


def find_runs(
    conn: sqlite3.Connection,
    *,
    status: Optional[str] = None,
    name: Optional[str] = None,
    kind: Optional[str] = None,
    agent: Optional[str] = None,
    model: Optional[str] = None,
    session_id: Optional[str] = None,
    trace_id: Optional[str] = None,
    since_ns: Optional[int] = None,
    sort: str = "start",
    descending: bool = True,
    limit: int = 200,
    offset: int = 0,
) -> Page:
    """Runs matching every given filter, ordered by ``sort`` (then run id), one page of them.

    ``kind`` is the run type (``function``, ``agent``, ``tool``, ``llm``...);
    ``model`` keeps runs that made an LLM call to that model; ``since_ns``
    runs started at or after it."""
    where: List[str] = []
    params: List[Any] = []
    for column, value in (
        ("status", status),
        ("name", name),
        ("run_type", kind),
        ("agent", agent),
        ("session_id", session_id),
        ("trace_id", trace_id),
    ):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    if model is not None:
        where.append("run_id IN (SELECT run_id FROM llm_calls WHERE model = ?)")
        params.append(model)
    if since_ns is not None:
        where.append("start_ns >= ?")
        params.append(int(since_ns))
    clause = (" WHERE " + " AND ".join(where)) if where else ""
    (total,) = conn.execute(f"SELECT count(*) FROM runs{clause}", params).fetchone()
    order = "DESC" if descending else "ASC"
    cur = conn.execute(
        f"SELECT * FROM runs{clause} ORDER BY {SORTS[sort]} {order}, run_id {order} "
        "LIMIT ? OFFSET ?",
        [*params, int(limit), int(offset)],
    )
    names = [d[0] for d in cur.description]
    rows = [_export.decoded(names, r) for r in cur.fetchall()]
    return Page(rows, int(total), limit, offset)


def _upper(prefix: str) -> str:
    # Ids in [prefix, prefix with its last character incremented) start with it.
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


_PREFIX_SQL = {
    "session": "SELECT session_id FROM sessions WHERE session_id >= ? AND session_id < ? "
    "ORDER BY session_id LIMIT ?",
    "trace": "SELECT DISTINCT trace_id FROM runs WHERE trace_id >= ? AND trace_id < ? "
    "ORDER BY trace_id LIMIT ?",
    "run": "SELECT run_id FROM runs WHERE run_id >= ? AND run_id < ? ORDER BY run_id LIMIT ?",
}

_COUNT_SQL = {
    "session": "SELECT count(*) FROM sessions WHERE session_id >= ? AND session_id < ?",
    "trace": "SELECT count(DISTINCT trace_id) FROM runs WHERE trace_id >= ? AND trace_id < ?",
    "run": "SELECT count(*) FROM runs WHERE run_id >= ? AND run_id < ?",
}


def resolve_id(
    conn: sqlite3.Connection, prefix: str, kinds: Sequence[str] = ("session", "trace", "run")
) -> Tuple[str, str]:
    """``(kind, full id)`` of the one id of ``kinds`` that is ``prefix`` or starts with it.

    An exact id wins (in the order of ``kinds``), so an id that is also the
    prefix of a longer one still names itself. Raises :class:`AmbiguousId` for
    a prefix of several ids, LookupError for none."""
    if not prefix:
        raise LookupError("an empty id")
    bounds = (prefix, _upper(prefix))
    found: List[Tuple[str, str]] = []
    count = 0
    for kind in kinds:
        ids = [
            row[0]
            for row in conn.execute(_PREFIX_SQL[kind], (*bounds, MAX_CANDIDATES + 1)).fetchall()
        ]
        if prefix in ids:
            return kind, prefix
        if len(ids) > MAX_CANDIDATES:
            count += int(conn.execute(_COUNT_SQL[kind], bounds).fetchone()[0])
        else:
            count += len(ids)
        found += [(kind, i) for i in ids]
    if count == 1:
        return found[0]
    if count == 0:
        raise LookupError(f"no id starts with {prefix!r}")
    raise AmbiguousId(prefix, found[:MAX_CANDIDATES], count)
