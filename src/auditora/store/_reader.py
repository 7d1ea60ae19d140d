"""Reading a store: the query API used by the CLI, the viewer and users.

Every method returns plain dicts and lists (JSON columns decoded), ready for
``json.dumps``. A read-only SQLite store opens the file with ``mode=ro`` and
never takes a write lock, so it does not block processes writing the same file.

One set of queries serves both backends: they are written in SQLite's SQL with
``?`` placeholders, and the store's :class:`~._dialect.Dialect` supplies the
fragments PostgreSQL spells differently and translates the placeholders
(:meth:`Store._query` does so for every caller, other modules' too). A read-only
PostgreSQL store runs every query in a read-only transaction.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

from . import _aggregates
from ._dialect import POSTGRES, SQLITE, Dialect
from ._schema import (
    JSON_COLUMNS,
    SCHEMA_VERSION,
    StoreError,
    connect_writer,
    duration_bucket,
    entry,
    read_version,
)
from ._url import mask, parse_store

__all__ = ["AmbiguousId", "NotFound", "Page", "Store", "open_store"]


_DEFAULT_LIMIT = 1000


#: The largest page a ``find_*`` method returns (no answer is unbounded).
MAX_PAGE = 1000

#: Counting the matches of a filter stops here (``Page.total_exact`` says so).
COUNT_CAP = 10_000

#: Traces with a minimum duration: up to this many matches are read through the
#: duration index and sorted; more, and the newest roots are walked instead.
_SORT_MATCHES_UP_TO = 2_000

#: Free text is searched over the newest this-many rows of each table (runs,
#: logs, LLM calls), or of the given time range, plus every failed run: a LIKE
#: scan of a bounded candidate set keeps a search on a million runs under a
#: second without a full-text index the writer would have to keep.
TEXT_SCAN_ROWS = 100_000

# A run's roll-up: its subtree's LLM totals, kept in its attributes when it ends
# (``llm/rollups.py``); a root run's are its trace's.
_COST_KEY = "llm.cost_usd"
_TOKENS_KEY = "llm.total_tokens"


def _rollups(d: Dialect) -> str:
    """The select list's ``cost`` and ``total_tokens`` of a run ``r`` (its roll-up)."""
    cost, tokens = (
        d.json_value("r.attributes", _COST_KEY),
        d.json_value("r.attributes", _TOKENS_KEY),
    )
    return f"{cost} AS cost, {tokens} AS total_tokens"


def _entry_points(where: _Where) -> None:
    """Keep the runs ``r`` where a trace enters a service: its roots, and the runs whose
    parent is another process's span, unless that parent is in the store (then the
    trace is listed by its own root). The first term is the entry-point indexes' own
    predicate (``_schema.ENTRY``), so they serve the lists."""
    where.add(entry("r."))
    where.add(
        "(r.remote_parent IS NULL OR NOT EXISTS"
        " (SELECT 1 FROM runs p WHERE p.run_id = r.parent_id))"
    )


def _run_sorts(d: Dialect, errors: str) -> Dict[str, str]:
    """The sort keys of runs ``r`` (``errors``: the expression putting failures first)."""
    return {
        "start": "r.start_ns",
        "duration": "r.duration_ns",
        "cost": d.json_number("r.attributes", _COST_KEY),
        "tokens": d.json_number("r.attributes", _TOKENS_KEY),
        "errors": errors,
    }


#: SQL counting a table's failed runs (a sum of booleans is not portable).
_ERRORS = "coalesce(sum(CASE WHEN status = 'error' THEN 1 ELSE 0 END), 0)"


class NotFound(LookupError):
    """No session, trace or run id matches (:meth:`Store.resolve_id`)."""


class AmbiguousId(LookupError):
    """An id prefix matches several ids; ``candidates`` lists ``(kind, id)`` pairs."""

    def __init__(self, prefix: str, candidates: Sequence[Tuple[str, str]]) -> None:
        self.prefix = prefix
        self.candidates = list(candidates)
        listed = ", ".join(f"{kind} {id_}" for kind, id_ in self.candidates)
        super().__init__(f"the id prefix {prefix!r} is ambiguous: {listed}")


@dataclass
class Page:
    """One page of a ``find_*`` answer: ``rows`` (dicts), the ``total`` matching, and
    the ``limit`` and ``offset`` used."""

    rows: List[Dict[str, Any]]
    total: int
    limit: int
    offset: int
    #: False when more than :data:`COUNT_CAP` rows match (``total`` is then the cap).
    total_exact: bool = True
    #: For a free-text search: how many of the newest rows of each table it read
    #: (:data:`TEXT_SCAN_ROWS`; failed runs are searched whatever their age), so an
    #: answer can say that older records were not searched. None otherwise.
    searched: Optional[int] = None

    def to_dict(self) -> Dict[str, Any]:
        """The page as a JSON-ready dict (``searched`` only for a free-text search)."""
        out: Dict[str, Any] = {
            "rows": self.rows,
            "total": self.total,
            "total_exact": self.total_exact,
            "limit": self.limit,
            "offset": self.offset,
        }
        if self.searched is not None:
            out["searched"] = self.searched
        return out

    def _search(self, text: Optional[str]) -> Page:
        """This page, saying it comes from a free-text search when ``text`` was given."""
        if text:
            self.searched = TEXT_SCAN_ROWS
        return self


class _Where:
    """A WHERE clause built from optional filters (a filter given None is left out)."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self.parts: List[str] = []
        self.params: List[Any] = []

    def add(self, sql: str, *params: Any) -> None:
        self.parts.append(sql)
        self.params.extend(params)

    def eq(self, column: str, value: Any) -> None:
        if value is not None:
            self.add(f"{column} = ?", value)

    def cmp(self, column: str, op: str, value: Any) -> None:
        if value is not None:
            self.add(f"{column} {op} ?", value)

    def like(self, column: str, value: Optional[str]) -> None:
        if value:
            self.add(f"{column} {self.dialect.like} ? ESCAPE '\\'", _pattern(value))

    def sql(self) -> str:
        return " WHERE " + " AND ".join(self.parts) if self.parts else ""

    def unindexed(self, column: str) -> _Where:
        """The same filters, with the terms on ``column`` hidden from the planner's
        index choice (``+column``: same value, but no index is used for it)."""
        out = _Where(self.dialect)
        out.parts = [f"+{p}" if p.startswith(f"{column} ") else p for p in self.parts]
        out.params = list(self.params)
        return out


def _pattern(text: str) -> str:
    """A LIKE pattern matching ``text`` anywhere (ASCII case-insensitive, as LIKE is)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _bounds(limit: int, offset: int) -> Tuple[int, int]:
    limit, offset = int(limit), int(offset)
    if limit < 0 or offset < 0:
        raise ValueError(f"limit and offset must be 0 or more (got {limit}, {offset})")
    return min(limit, MAX_PAGE), offset


def _order(sort: str, descending: bool, keys: Dict[str, str], tie: str) -> str:
    if sort not in keys:
        raise ValueError(f"cannot sort by {sort!r}; use one of {', '.join(keys)}")
    return f"{keys[sort]} {'DESC' if descending else 'ASC'} NULLS LAST, {tie}"


#: The runs' columns free text is matched against (read alone: a third faster
#: than whole rows for the 100,000 scanned).
_SEARCHED = "run_id, name, error_message, inputs, output"


def _text_runs(
    d: Dialect, text: str, since_ns: Optional[int], until_ns: Optional[int]
) -> Tuple[str, List[Any]]:
    """SQL selecting the ids of the runs free text matches, and its parameters.

    Matches a run's name, error message, inputs or output, a log message of the
    run, or an LLM call's input, output or system instructions, among the newest
    :data:`TEXT_SCAN_ROWS` of each table (or of the time range); failed runs are
    always searched (the runs_status index finds them, however old).
    """
    p = _pattern(text)
    like = f"{d.like} ? ESCAPE '\\'"
    js = d.json_text
    if since_ns is None and until_ns is None:
        newest_runs = f"SELECT {_SEARCHED} FROM runs ORDER BY {d.newest_runs} LIMIT ?"
        run_params: List[Any] = [TEXT_SCAN_ROWS]
    else:
        newest_runs = (
            f"SELECT {_SEARCHED} FROM runs WHERE start_ns >= ? AND start_ns < ?"
            " ORDER BY start_ns DESC NULLS LAST LIMIT ?"
        )
        run_params = [since_ns or 0, until_ns if until_ns is not None else 2**63 - 1]
        run_params.append(TEXT_SCAN_ROWS)
    # (The ids of logs and LLM calls are their insertion order: "newest" is only the
    # scan's bound, so PostgreSQL's identity order, close to it, serves as well.)
    sql = (
        f"SELECT run_id FROM ({newest_runs}) nr WHERE name {like} OR error_message {like}"
        f" OR {js('inputs')} {like} OR {js('output')} {like}"
        f" UNION SELECT run_id FROM runs WHERE status = 'error'"
        f" AND (error_message {like} OR traceback {like})"
        f" UNION SELECT run_id FROM (SELECT run_id, message FROM logs ORDER BY id DESC LIMIT ?) nl"
        f" WHERE message {like}"
        " UNION SELECT run_id FROM (SELECT run_id, input, output, system_instructions"
        f" FROM llm_calls ORDER BY id DESC LIMIT ?) nc WHERE {js('input')} {like}"
        f" OR {js('output')} {like} OR {js('system_instructions')} {like}"
    )
    params = [*run_params, p, p, p, p, p, p, TEXT_SCAN_ROWS, p, TEXT_SCAN_ROWS, p, p, p]
    return sql, params


def _bins(bins: int) -> int:
    if isinstance(bins, bool) or not isinstance(bins, int) or not 1 <= bins <= 1000:
        raise ValueError(f"bins must be a whole number from 1 to 1000, not {bins!r}")
    return bins


def _decode(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _run_filters(
    where: _Where,
    name: Optional[str],
    kind: Optional[str],
    agent: Optional[str],
    session_id: Optional[str],
    trace_id: Optional[str],
    since_ns: Optional[int],
    until_ns: Optional[int],
    min_duration_ns: Optional[int],
    min_cost: Optional[float],
) -> None:
    """The filters on a run ``r`` that ``find_runs`` and ``find_traces`` (on the root) share."""
    where.like("r.name", name)
    where.eq("r.run_type", kind)
    where.eq("r.agent", agent)
    where.eq("r.session_id", session_id)
    where.eq("r.trace_id", trace_id)
    where.cmp("r.start_ns", ">=", since_ns)
    where.cmp("r.start_ns", "<", until_ns)
    where.cmp("r.duration_ns", ">=", min_duration_ns)
    where.cmp(where.dialect.json_number("r.attributes", _COST_KEY), ">=", min_cost)


class Store:
    """An open store: a SQLite file or a PostgreSQL database. Create it with
    :func:`open_store`; close it with :meth:`close`.

    Usable as a context manager. Methods may be called from several threads
    (one connection, serialized by a lock). Both backends give the same answers:
    the same keys, types and orders.
    """

    def __init__(
        self,
        conn: Any,
        path: str,
        readonly: bool,
        dialect: Dialect = SQLITE,
        reopen: Optional[Callable[[], Any]] = None,
        target: Optional[str] = None,
    ) -> None:
        self._conn = conn
        self._lock = threading.Lock()
        self._reopen = reopen
        #: The store file's path, or the PostgreSQL URL with its password masked.
        self.path = path
        #: True when the store was opened read-only.
        self.readonly = readonly
        #: The SQL this store's backend speaks (``dialect.name``: sqlite or postgresql).
        self.dialect = dialect
        # What opens this store again, password included (``path`` is the masked
        # form): for code that writes where an open store points (experiments).
        self._target = target if target is not None else path

    @property
    def target(self) -> str:
        """What opens this store again: its path, or its PostgreSQL URL *with* the
        password (never print it; :attr:`path` is the form to show)."""
        return self._target

    @property
    def backend(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self.dialect.name

    def __repr__(self) -> str:
        return f"Store({self.path!r}, backend={self.backend!r}, readonly={self.readonly})"

    # -- plumbing ----------------------------------------------------------
    def _fetch(self, sql: str, params: Sequence[Any]) -> Tuple[List[str], List[Any]]:
        """(column names, rows) of ``sql`` (``?`` placeholders, any backend)."""
        return self._on_connection(lambda conn: self.dialect.fetch(conn, sql, params))

    def _on_connection(self, read: Callable[[Any], Any]) -> Any:
        """``read(connection)``. A lost PostgreSQL connection (a server restart) is
        reopened once and ``read`` run again; a driver error is a :class:`StoreError`."""
        errors = self.dialect.errors()
        try:
            with self._lock:
                try:
                    return read(self._conn)
                except errors:
                    if self._reopen is None or not self.dialect.broken(self._conn):
                        raise
                    self._conn = self._reopen()
                    return read(self._conn)
        except StoreError:
            raise
        except errors as exc:
            raise StoreError(f"cannot read the store {self.path!r}: {mask(str(exc))}") from exc

    def _query(self, sql: str, params: Sequence[Any] = ()) -> List[Dict[str, Any]]:
        """Rows of ``sql`` as dicts, JSON columns decoded and ``success`` a bool.

        ``sql`` is portable SQL with ``?`` placeholders (SQLite's), translated for the
        store's backend: other modules may call this with their own queries.
        """
        names, rows = self._fetch(sql, params)
        out = [dict(zip(names, row)) for row in rows]
        # Then only the columns that need it, a column at a time: most answers have
        # none, and a dict built per row and per column cost a 20,000-run trace
        # outline 108 ms where zip takes 20.
        if self.dialect.decodes_json:
            for name in JSON_COLUMNS.intersection(names):
                for item in out:
                    item[name] = _decode(item[name])
        if "success" in names:
            for item in out:
                if item["success"] is not None:
                    item["success"] = bool(item["success"])
        return out

    def _records(
        self,
        table: str,
        filters: Dict[str, Any],
        limit: Optional[int],
        offset: int = 0,
        order: str = "time_ns, id",
    ) -> List[Dict[str, Any]]:
        where = []
        params: List[Any] = []
        for column, value in filters.items():
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        sql = f"SELECT * FROM {table}"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += f" ORDER BY {order}"
        if limit is not None:
            sql += " LIMIT ? OFFSET ?"
            params += [int(limit), int(offset)]
        return self._query(sql, params)

    def close(self) -> None:
        """Close the connection (idempotent)."""
        with self._lock:
            self._conn.close()
            self._reopen = None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def schema_version(self) -> int:
        """The schema version recorded in the file."""
        version: int = self._on_connection(self.dialect.version)
        return version

    # -- sessions ----------------------------------------------------------
    # INDEXED BY: a session's few runs, not every failed run of the store (which
    # the planner would otherwise pick runs_status for).
    _SESSION_SQL = """
        SELECT s.session_id, s.name, s.tags, s.state, s.first_ns, s.last_ns,
          (SELECT count(*) FROM runs r WHERE r.session_id = s.session_id) AS run_count,
          (SELECT count(*) FROM runs r{runs_session}
             WHERE r.session_id = s.session_id AND r.status = 'error') AS error_count,
          (SELECT count(*) FROM logs l WHERE l.session_id = s.session_id
             AND l.level IN ('ERROR', 'CRITICAL')) AS error_logs,
          (SELECT count(*) FROM llm_calls c WHERE c.session_id = s.session_id) AS llm_calls,
          (SELECT coalesce(sum(c.input_tokens), 0) FROM llm_calls c
             WHERE c.session_id = s.session_id) AS input_tokens,
          (SELECT coalesce(sum(c.output_tokens), 0) FROM llm_calls c
             WHERE c.session_id = s.session_id) AS output_tokens,
          (SELECT sum(c.cost) FROM llm_calls c WHERE c.session_id = s.session_id) AS cost,
          (SELECT count(*) FROM evaluations e WHERE e.session_id = s.session_id) AS evaluations,
          (SELECT count(*) FROM evaluations e WHERE e.session_id = s.session_id
             AND e.status = 'PASS') AS evaluations_passed
        FROM sessions s
    """

    def _session_sql(self) -> str:
        return self._SESSION_SQL.format(runs_session=self.dialect.indexed_by("runs_session"))

    @staticmethod
    def _finish_session(row: Dict[str, Any]) -> Dict[str, Any]:
        first, last = row.get("first_ns"), row.get("last_ns")
        row["duration_ns"] = last - first if first is not None and last is not None else None
        row["total_tokens"] = (row["input_tokens"] or 0) + (row["output_tokens"] or 0)
        n = row["evaluations"]
        row["eval_pass_rate"] = row["evaluations_passed"] / n if n else None
        if row.get("tags") is None:
            row["tags"] = []
        if row.get("state") is None:
            row["state"] = {}
        return row

    def sessions(self, limit: Optional[int] = None, offset: int = 0) -> List[Dict[str, Any]]:
        """Every session, most recently active first, with its aggregates.

        Each dict has ``session_id, name, tags, state, first_ns, last_ns,
        duration_ns, run_count, error_count, error_logs, llm_calls,
        input_tokens, output_tokens, total_tokens, cost, evaluations,
        evaluations_passed, eval_pass_rate``.
        """
        sql = self._session_sql() + " ORDER BY coalesce(s.last_ns, s.first_ns) DESC, s.session_id"
        params: List[Any] = []
        if limit is not None:
            sql += " LIMIT ? OFFSET ?"
            params = [int(limit), int(offset)]
        return [self._finish_session(r) for r in self._query(sql, params)]

    def session(self, session_id: str) -> Optional[Dict[str, Any]]:
        """One session with its aggregates (as in :meth:`sessions`), or None."""
        rows = self._query(self._session_sql() + " WHERE s.session_id = ?", [session_id])
        return self._finish_session(rows[0]) if rows else None

    # -- runs --------------------------------------------------------------
    def runs(
        self,
        session_id: Optional[str] = None,
        trace_id: Optional[str] = None,
        *,
        status: Optional[str] = None,
        name: Optional[str] = None,
        limit: Optional[int] = _DEFAULT_LIMIT,
        offset: int = 0,
    ) -> List[Dict[str, Any]]:
        """Runs, oldest first, optionally of one session, trace, status or name."""
        return self._records(
            "runs",
            {"session_id": session_id, "trace_id": trace_id, "status": status, "name": name},
            limit,
            offset,
            order="start_ns, run_id",
        )

    def run(self, run_id: str) -> Optional[Dict[str, Any]]:
        """One run by id, or None."""
        rows = self._query("SELECT * FROM runs WHERE run_id = ?", [run_id])
        return rows[0] if rows else None

    def traces(
        self, session_id: Optional[str] = None, limit: Optional[int] = _DEFAULT_LIMIT
    ) -> List[Dict[str, Any]]:
        """One dict per trace: ``trace_id, start_ns, end_ns, run_count, error_count``.

        Most recent first; ``root_name`` is the name of its earliest run.
        """
        where = ""
        params: List[Any] = []
        if session_id is not None:
            where = " WHERE trace_id IN (SELECT trace_id FROM runs WHERE session_id = ?)"
            params.append(session_id)
        sql = (
            "SELECT trace_id, min(start_ns) AS start_ns, max(end_ns) AS end_ns, "
            f"count(*) AS run_count, {_ERRORS} AS error_count, "
            "(SELECT r2.name FROM runs r2 WHERE r2.trace_id = runs.trace_id "
            " ORDER BY r2.start_ns LIMIT 1) AS root_name "
            f"FROM runs{where} GROUP BY trace_id ORDER BY start_ns DESC"
        )
        if limit is not None:
            sql += " LIMIT ?"
            params.append(int(limit))
        return self._query(sql, params)

    def trace_tree(self, trace_id: str) -> List[Dict[str, Any]]:
        """The runs of a trace as a forest: root runs, each with nested ``children``.

        A run whose parent is not in the store (a remote parent, or one not yet
        written) is a root. Siblings are ordered by start time.
        """
        runs = self.runs(trace_id=trace_id, limit=None)
        by_id = {r["run_id"]: r for r in runs}
        roots: List[Dict[str, Any]] = []
        for r in runs:
            r["children"] = []
        for r in runs:
            parent = by_id.get(r["parent_id"]) if r["parent_id"] else None
            (parent["children"] if parent is not None else roots).append(r)
        return roots

    # -- record tables -----------------------------------------------------
    def events(
        self,
        session_id: Optional[str] = None,
        run_id: Optional[str] = None,
        trace_id: Optional[str] = None,
        *,
        name: Optional[str] = None,
        limit: Optional[int] = _DEFAULT_LIMIT,
        offset: int = 0,
    ) -> List[Dict[str, Any]]:
        """Events, oldest first, filtered by any of the given ids or name."""
        filters = {"session_id": session_id, "run_id": run_id, "trace_id": trace_id, "name": name}
        return self._records("events", filters, limit, offset)

    def logs(
        self,
        session_id: Optional[str] = None,
        run_id: Optional[str] = None,
        trace_id: Optional[str] = None,
        *,
        level: Optional[str] = None,
        limit: Optional[int] = _DEFAULT_LIMIT,
        offset: int = 0,
    ) -> List[Dict[str, Any]]:
        """Log records, oldest first, filtered by ids or exact level name."""
        filters = {"session_id": session_id, "run_id": run_id, "trace_id": trace_id, "level": level}
        return self._records("logs", filters, limit, offset)

    def llm_calls(
        self,
        session_id: Optional[str] = None,
        run_id: Optional[str] = None,
        trace_id: Optional[str] = None,
        *,
        model: Optional[str] = None,
        limit: Optional[int] = _DEFAULT_LIMIT,
        offset: int = 0,
    ) -> List[Dict[str, Any]]:
        """LLM calls, oldest first (``success`` as a bool), filtered by ids or model."""
        filters = {"session_id": session_id, "run_id": run_id, "trace_id": trace_id, "model": model}
        return self._records("llm_calls", filters, limit, offset)

    def evaluations(
        self,
        session_id: Optional[str] = None,
        run_id: Optional[str] = None,
        trace_id: Optional[str] = None,
        *,
        metric_name: Optional[str] = None,
        status: Optional[str] = None,
        limit: Optional[int] = _DEFAULT_LIMIT,
        offset: int = 0,
    ) -> List[Dict[str, Any]]:
        """Evaluation results, oldest first, filtered by ids, metric or status."""
        filters = {
            "session_id": session_id,
            "run_id": run_id,
            "trace_id": trace_id,
            "metric_name": metric_name,
            "status": status,
        }
        return self._records("evaluations", filters, limit, offset)

    def agent_messages(
        self,
        session_id: Optional[str] = None,
        run_id: Optional[str] = None,
        trace_id: Optional[str] = None,
        *,
        limit: Optional[int] = _DEFAULT_LIMIT,
        offset: int = 0,
    ) -> List[Dict[str, Any]]:
        """Agent messages and hand-offs, oldest first, filtered by ids."""
        filters = {"session_id": session_id, "run_id": run_id, "trace_id": trace_id}
        return self._records("agent_messages", filters, limit, offset)

    def metrics(
        self,
        session_id: Optional[str] = None,
        run_id: Optional[str] = None,
        *,
        name: Optional[str] = None,
        limit: Optional[int] = _DEFAULT_LIMIT,
        offset: int = 0,
    ) -> List[Dict[str, Any]]:
        """Metric values, one row per metric per snapshot (``name, value, time_ns`` + ids)."""
        filters = {"session_id": session_id, "run_id": run_id, "name": name}
        return self._records("metrics", filters, limit, offset)

    def latest_metrics(self, session_id: str) -> Dict[str, Any]:
        """The most recent value of each metric of a session: ``{name: value}``."""
        rows = self._query(
            "SELECT name, value FROM metrics WHERE id IN (SELECT max(id) FROM metrics "
            "WHERE session_id = ? GROUP BY name) ORDER BY name",
            [session_id],
        )
        return {r["name"]: r["value"] for r in rows}

    # -- aggregates --------------------------------------------------------
    def summary(self) -> Dict[str, Any]:
        """Store-wide totals: counts per table, errors, tokens, cost, eval pass rate, time span.

        The LLM and evaluation totals come from the roll-ups (schema version 4), the
        trace count from the trace roll-up (version 5), the time span from the
        sessions' spans: none of it reads a table whole but for the row counts.
        """
        version = self.schema_version()
        # The trace roll-up's rows (version 5), or the distinct trace ids of every run.
        traces = (
            "FROM trace_rollup" if version >= 5 else "FROM (SELECT DISTINCT trace_id FROM runs) t"
        )
        if version >= 4:
            llm = "FROM llm_rollup"
            calls, failures = "coalesce(sum(calls), 0)", "coalesce(sum(failures), 0)"
            cost = "CASE WHEN sum(priced) > 0 THEN sum(cost) END"
            evals, passed = "coalesce(sum(results), 0)", "coalesce(sum(passed), 0)"
            evaluations, passes = "FROM evaluation_rollup", "FROM evaluation_rollup"
        else:  # an older store, read-only: from the records
            llm = "FROM llm_calls"
            calls, failures = (
                "count(*)",
                "coalesce(sum(CASE WHEN success = 1 THEN 0 ELSE 1 END), 0)",
            )
            cost = "sum(cost)"
            evals, passed = "count(*)", "count(*)"
            evaluations, passes = "FROM evaluations", "FROM evaluations WHERE status = 'PASS'"
        row = self._query(
            f"""SELECT
              (SELECT count(*) FROM sessions) AS sessions,
              (SELECT count(*) FROM runs) AS runs,
              (SELECT count(*) {traces}) AS traces,
              (SELECT count(*) FROM runs WHERE status = 'error') AS errors,
              (SELECT count(*) FROM events) AS events,
              (SELECT count(*) FROM logs) AS logs,
              (SELECT {calls} {llm}) AS llm_calls,
              (SELECT {failures} {llm}) AS llm_failures,
              (SELECT coalesce(sum(input_tokens), 0) {llm}) AS input_tokens,
              (SELECT coalesce(sum(output_tokens), 0) {llm}) AS output_tokens,
              (SELECT {cost} {llm}) AS cost,
              (SELECT {evals} {evaluations}) AS evaluations,
              (SELECT {passed} {passes}) AS evaluations_passed,
              (SELECT count(*) FROM agent_messages) AS agent_messages,
              (SELECT count(*) FROM metrics) AS metrics,
              (SELECT min(start_ns) FROM runs) AS first_ns,
              (SELECT max(last_ns) FROM sessions) AS session_end_ns,
              (SELECT max(end_ns) FROM runs WHERE session_id IS NULL) AS loose_end_ns"""
        )[0]
        # A session's last_ns is its latest run end, so the store's is the greatest of
        # them (by the sessions_last index), and of the few runs without a session.
        ends = [e for e in (row.pop("session_end_ns"), row.pop("loose_end_ns")) if e is not None]
        row["last_ns"] = max(ends) if ends else None
        for key in ("llm_calls", "llm_failures", "input_tokens", "output_tokens"):
            row[key] = int(row[key])
        row["evaluations"], row["evaluations_passed"] = (
            int(row["evaluations"]),
            int(row["evaluations_passed"]),
        )
        row["total_tokens"] = row["input_tokens"] + row["output_tokens"]
        n = row["evaluations"]
        row["eval_pass_rate"] = row["evaluations_passed"] / n if n else None
        row["schema_version"] = self.schema_version()
        return row

    def llm_models(self, session_id: Optional[str] = None) -> List[Dict[str, Any]]:
        """LLM calls totalled per model, by the database (of one session, or all):
        ``model, provider, calls, failures, input_tokens, output_tokens, tokens,
        cost, mean_latency, p95_latency``. ``cost`` is None when no call was priced."""
        return _aggregates.llm_models(self, session_id)

    def evaluation_metrics(self, session_id: Optional[str] = None) -> List[Dict[str, Any]]:
        """Evaluation results per metric: ``metric_name, count, passed, failed,
        pass_rate, mean, min, max, threshold, direction``."""
        return _aggregates.evaluation_metrics(self, session_id)

    def metric_totals(
        self, session_id: Optional[str] = None, bins: int = _aggregates.BINS
    ) -> List[Dict[str, Any]]:
        """Per metric name, over every session's latest value: ``name, sessions,
        total, mean, min, max, first_ns, last_ns``, a ``histogram`` of the
        sessions' values (``lo, hi, count``) and a time ``series`` (``start_ns,
        end_ns, count, total``: the values summed by when each was last written)."""
        return _aggregates.metric_totals(self, session_id, _bins(bins))

    def timer_stats(
        self, session_id: Optional[str] = None, bins: int = _aggregates.BINS
    ) -> List[Dict[str, Any]]:
        """Per name of the timed events (``monitor.timer``): ``name, count, mean,
        min, p50, p95, max``, a ``histogram`` of durations and a time ``series``."""
        return _aggregates.timer_stats(self, session_id, _bins(bins))

    # -- search (find_*) -----------------------------------------------------
    def _page(
        self,
        select: str,
        where: _Where,
        order: str,
        limit: int,
        offset: int,
        total: Optional[int] = None,
        *,
        count_in_page: bool = False,
    ) -> Page:
        """A page of ``select`` filtered by ``where``, with its capped count: ``total``
        when the caller has it; with ``count_in_page``, from the page's own query
        (``count(*) OVER ()``: a free-text search's candidates are scanned once, not
        again for the count, 424 ms to about half on a million runs); else a count."""
        limit, offset = _bounds(limit, offset)
        head, tail = select.split(" FROM ", 1)
        window = ", count(*) OVER () AS _matches" if count_in_page else ""
        rows = self._query(
            f"{head}{window} FROM {tail}{where.sql()} ORDER BY {order} LIMIT ? OFFSET ?",
            [*where.params, limit, offset],
        )
        if count_in_page and rows:
            total = rows[0]["_matches"]
            for row in rows:
                del row["_matches"]
        if total is None:  # (also a counted page past the end: it has no row to say)
            total = self._count(select, where)
        return Page(rows, min(total, COUNT_CAP), limit, offset, total <= COUNT_CAP)

    def _count(self, select: str, where: _Where) -> int:
        # The count of the same FROM and WHERE (the select list replaced), stopped
        # at COUNT_CAP + 1: past it a filtered count would read the whole table
        # where the page itself stops after a few rows.
        body = select[select.index(" FROM ") :]
        sql = f"SELECT count(*) FROM (SELECT 1{body}{where.sql()} LIMIT {COUNT_CAP + 1}) q"
        return int(self._scalar(sql, where.params) or 0)

    def _scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        rows = self._fetch(sql, params)[1]
        return rows[0][0] if rows else None

    def find_runs(
        self,
        *,
        status: Optional[str] = None,
        name: Optional[str] = None,
        kind: Optional[str] = None,
        agent: Optional[str] = None,
        model: Optional[str] = None,
        session_id: Optional[str] = None,
        trace_id: Optional[str] = None,
        parent_id: Optional[str] = None,
        since_ns: Optional[int] = None,
        until_ns: Optional[int] = None,
        min_duration_ns: Optional[int] = None,
        min_cost: Optional[float] = None,
        text: Optional[str] = None,
        roots_only: bool = False,
        sort: str = "start",
        descending: bool = True,
        limit: int = 50,
        offset: int = 0,
    ) -> Page:
        """A page of runs matching every given filter, sorted (newest first by default).

        ``name`` is a case-insensitive substring; ``kind`` the run type; ``model``
        keeps runs with an LLM call of that model; ``min_cost`` and the ``cost`` and
        ``tokens`` sorts use a run's roll-up (its whole subtree's LLM calls); ``text``
        searches names, error messages, inputs, outputs, log messages and LLM
        content (see ``docs/store.md``, *Search*). ``sort`` is one of ``start,
        duration, cost, tokens, errors`` (errors: failed runs first). By duration,
        runs of unknown duration come last slowest first, and right after those of
        zero duration fastest first (the order of the duration-bucket index,
        ``docs/store.md``, *Schema*).
        """
        d = self.dialect
        where = _Where(d)
        where.eq("r.status", status)
        where.eq("r.parent_id", parent_id)
        _run_filters(
            where, name, kind, agent, session_id, trace_id,
            since_ns, until_ns, min_duration_ns, min_cost,
        )  # fmt: skip
        if roots_only:
            _entry_points(where)
        if model is not None:
            where.add("r.run_id IN (SELECT run_id FROM llm_calls WHERE model = ?)", model)
        if text:
            sql, params = _text_runs(d, text, since_ns, until_ns)
            where.add(f"r.run_id IN ({sql})", *params)
        order = _order(
            sort,
            descending,
            _run_sorts(d, "(r.status = 'error')"),
            tie="r.start_ns DESC, r.run_id",
        )
        if sort == "duration":
            # The bucket index orders the buckets; only the first buckets' runs are
            # sorted by their exact duration (docs/store.md, *Indexes*). A bucket is
            # never NULL, so one index serves both directions.
            order = f"{duration_bucket('r.duration_ns')} {'DESC' if descending else 'ASC'}, {order}"
        select = f"SELECT r.*, {_rollups(d)} FROM runs r"
        page = self._page(select, where, order, limit, offset, count_in_page=bool(text))
        return page._search(text)

    def find_traces(
        self,
        *,
        status: Optional[str] = None,
        name: Optional[str] = None,
        kind: Optional[str] = None,
        agent: Optional[str] = None,
        model: Optional[str] = None,
        session_id: Optional[str] = None,
        trace_id: Optional[str] = None,
        since_ns: Optional[int] = None,
        until_ns: Optional[int] = None,
        min_duration_ns: Optional[int] = None,
        min_cost: Optional[float] = None,
        text: Optional[str] = None,
        sort: str = "start",
        descending: bool = True,
        limit: int = 50,
        offset: int = 0,
    ) -> Page:
        """A page of traces, one row per root run, newest first by default.

        Each row: ``trace_id, run_id`` (the root's), ``name, session_id, agent,
        run_type, start_ns, end_ns, duration_ns, status, run_count, error_count,
        total_tokens, cost``. A trace's ``status`` is ``error`` when any of its
        runs failed. ``name``, ``kind``, ``agent``, the time range, ``min_duration_ns``
        and ``min_cost`` apply to the root run (its cost and tokens are the whole
        trace's); ``status``, ``model`` and ``text`` to any run of the trace.
        ``sort``: ``start, duration, cost, tokens, errors``.
        """
        d = self.dialect
        where = _Where(d)
        _entry_points(where)
        _run_filters(
            where, name, kind, agent, session_id, trace_id,
            since_ns, until_ns, min_duration_ns, min_cost,
        )  # fmt: skip
        failed = "r.trace_id IN (SELECT trace_id FROM runs WHERE status = 'error')"
        if status == "error":
            where.add(failed)
        elif status is not None:
            where.add(f"NOT {failed} AND r.status = ?", status)
        if model is not None:  # probed per root through llm_calls_trace
            where.add(
                f"EXISTS (SELECT 1 FROM llm_calls c{d.indexed_by('llm_calls_trace')}"
                " WHERE c.trace_id = r.trace_id AND c.model = ?)",
                model,
            )
        if text:
            sql, params = _text_runs(d, text, since_ns, until_ns)
            where.add(f"r.trace_id IN (SELECT trace_id FROM runs WHERE run_id IN ({sql}))", *params)
        tie = "r.start_ns DESC, r.run_id"
        order = _order(sort, descending, _run_sorts(d, "e.n"), tie=tie)
        select = (
            "SELECT r.trace_id, r.run_id, r.name, r.session_id, r.agent, r.run_type,"
            " r.start_ns, r.end_ns, r.duration_ns, r.status,"
            f" {_rollups(d)} FROM runs r"
        )
        if sort == "errors":
            page = self._errors_first(select, where, failed, descending, limit, offset)
        elif sort == "start" and min_duration_ns is not None:
            # The root runs' duration index counts the matches. Few: the page reads
            # them through it and sorts them. Many: it walks the roots newest first
            # and skips the short ones, which stops soon, where sorting them all took
            # 416 ms on a million runs (a 5 ms minimum: 23 ms either way).
            total = self._count(select, where)
            if total > _SORT_MATCHES_UP_TO:
                where = where.unindexed("r.duration_ns")
            page = self._page(select, where, order, limit, offset, total)
        else:
            page = self._page(select, where, order, limit, offset, count_in_page=bool(text))
        # The page's traces counted in one query (one round trip to a server, not 50).
        ids = list(dict.fromkeys(row["trace_id"] for row in page.rows))
        counted = (
            {
                c["trace_id"]: c
                for c in self._query(
                    f"SELECT trace_id, count(*) AS runs, {_ERRORS} AS errors FROM runs"
                    f" WHERE trace_id IN ({', '.join('?' * len(ids))}) GROUP BY trace_id",
                    ids,
                )
            }
            if ids
            else {}
        )
        for row in page.rows:
            counts = counted.get(row["trace_id"], {"runs": 0, "errors": 0})
            row["run_count"], row["error_count"] = counts["runs"], counts["errors"]
            if counts["errors"]:
                row["status"] = "error"
        return page._search(text)

    def _errors_first(
        self,
        select: str,
        where: _Where,
        failed: str,
        descending: bool,
        limit: int,
        offset: int,
    ) -> Page:
        """A page of root runs ``r`` by their trace's failed runs (most first when
        ``descending``), then newest first.

        Two ordered parts read one after the other: the traces with a failure (few,
        found through the runs_status index, sorted by their count), and the rest by
        start (a walk of the runs_roots index). Joining the failure counts to every
        root and sorting them all took 326 ms on a million runs."""
        limit, offset = _bounds(limit, offset)
        counts = (
            " JOIN (SELECT trace_id, count(*) AS n FROM runs WHERE status = 'error'"
            " GROUP BY trace_id) e ON e.trace_id = r.trace_id"
        )
        way = "DESC" if descending else "ASC"
        with_errors = (f"{select}{counts}{where.sql()}", f"e.n {way}, r.start_ns DESC, r.run_id")
        clean = _Where(self.dialect)
        clean.parts, clean.params = [*where.parts, f"NOT {failed}"], list(where.params)
        without = (f"{select}{clean.sql()}", "r.start_ns DESC, r.run_id")
        rows: List[Dict[str, Any]] = []
        skip = offset
        for sql, order in (with_errors, without) if descending else (without, with_errors):
            if len(rows) >= limit:
                break
            got = self._query(
                f"{sql} ORDER BY {order} LIMIT ? OFFSET ?",
                [*where.params, limit - len(rows), skip],
            )
            if got or not skip:
                skip = 0
            else:  # the page starts past this part: skip it whole
                counted = self._scalar(f"SELECT count(*) FROM ({sql}) q", where.params)
                skip = max(0, skip - int(counted or 0))
            rows.extend(got)
        total = self._count(select, where)
        return Page(rows, min(total, COUNT_CAP), limit, offset, total <= COUNT_CAP)

    def find_sessions(
        self,
        *,
        text: Optional[str] = None,
        since_ns: Optional[int] = None,
        until_ns: Optional[int] = None,
        sort: str = "last",
        descending: bool = True,
        limit: int = 50,
        offset: int = 0,
    ) -> Page:
        """A page of sessions with their aggregates (as :meth:`sessions` gives them).

        ``text`` matches a session's id or name, or any of its runs (as in
        :meth:`find_runs`); the time range keeps sessions active in it. ``sort``:
        ``last`` (latest activity, the default), ``start``, ``duration``,
        ``errors``, ``cost``, ``tokens``.
        """
        d = self.dialect
        where = _Where(d)
        where.cmp("s.last_ns", ">=", since_ns)
        where.cmp("s.first_ns", "<", until_ns)
        if text:
            sql, params = _text_runs(d, text, since_ns, until_ns)
            pattern = _pattern(text)
            where.add(
                f"(s.session_id {d.like} ? ESCAPE '\\' OR s.name {d.like} ? ESCAPE '\\'"
                " OR s.session_id IN"
                f" (SELECT session_id FROM runs WHERE run_id IN ({sql})))",
                pattern,
                pattern,
                *params,
            )
        joins = {
            "errors": (
                "coalesce(x.n, 0)",
                " LEFT JOIN (SELECT session_id, count(*) AS n FROM runs WHERE status = 'error'"
                " GROUP BY session_id) x ON x.session_id = s.session_id",
            ),
            "cost": (
                "coalesce(x.n, 0)",
                " LEFT JOIN (SELECT session_id, sum(cost) AS n FROM llm_calls"
                " GROUP BY session_id) x ON x.session_id = s.session_id",
            ),
            "tokens": (
                "coalesce(x.n, 0)",
                " LEFT JOIN (SELECT session_id, sum(coalesce(input_tokens, 0)"
                " + coalesce(output_tokens, 0)) AS n FROM llm_calls"
                " GROUP BY session_id) x ON x.session_id = s.session_id",
            ),
        }
        join = joins.get(sort, ("", ""))[1]
        order = _order(
            sort,
            descending,
            {
                "last": "s.last_ns",  # set with the first run (sessions_last orders it)
                "start": "s.first_ns",
                "duration": "(s.last_ns - s.first_ns)",
                **{k: v[0] for k, v in joins.items()},
            },
            tie="s.session_id",
        )
        limit, offset = _bounds(limit, offset)
        ids = self._query(
            f"SELECT s.session_id FROM sessions s{join}{where.sql()} ORDER BY {order}"
            " LIMIT ? OFFSET ?",
            [*where.params, limit, offset],
        )
        total = int(self._scalar(f"SELECT count(*) FROM sessions s{where.sql()}", where.params))
        rows = [self.session(r["session_id"]) for r in ids]
        return Page([r for r in rows if r is not None], total, limit, offset)._search(text)

    def find_llm_calls(
        self,
        *,
        model: Optional[str] = None,
        status: Optional[str] = None,
        session_id: Optional[str] = None,
        trace_id: Optional[str] = None,
        text: Optional[str] = None,
        sort: str = "start",
        descending: bool = True,
        limit: int = 50,
        offset: int = 0,
    ) -> Page:
        """A page of LLM calls, newest first by default.

        ``status`` is ``ok`` or ``error``; ``text`` searches the input, output,
        system instructions and error of the newest calls (bounded as in
        ``docs/store.md``, *Search*). ``sort``: ``start, duration, cost, tokens``.
        """
        d = self.dialect
        where = _Where(d)
        where.eq("c.model", model)
        if status is not None:
            if status not in ("ok", "error"):
                raise ValueError(f"status must be ok or error, not {status!r}")
            # A literal, not a parameter: the planner uses the failed calls' partial
            # index only when it can see the query implies its WHERE.
            where.add(f"c.success = {1 if status == 'ok' else 0}")
        where.eq("c.session_id", session_id)
        where.eq("c.trace_id", trace_id)
        if text:
            pattern = _pattern(text)
            like = f"{d.like} ? ESCAPE '\\'"
            where.add(
                "c.id IN (SELECT id FROM (SELECT id, input, output, system_instructions, error"
                " FROM llm_calls ORDER BY time_ns DESC NULLS LAST LIMIT ?) nc"
                f" WHERE {d.json_text('input')} {like} OR {d.json_text('output')} {like}"
                f" OR {d.json_text('system_instructions')} {like} OR error {like})",
                TEXT_SCAN_ROWS,
                *[pattern] * 4,
            )
        order = _order(
            sort,
            descending,
            {
                "start": "c.time_ns",
                "duration": "c.response_time",
                "cost": "c.cost",
                "tokens": "(coalesce(c.input_tokens, 0) + coalesce(c.output_tokens, 0))",
            },
            tie="c.time_ns DESC, c.id",
        )
        page = self._page("SELECT c.* FROM llm_calls c", where, order, limit, offset)
        return page._search(text)

    def find_evaluations(
        self,
        *,
        metric: Optional[str] = None,
        status: Optional[str] = None,
        session_id: Optional[str] = None,
        trace_id: Optional[str] = None,
        sort: str = "start",
        descending: bool = True,
        limit: int = 50,
        offset: int = 0,
    ) -> Page:
        """A page of evaluation results, newest first by default.

        ``status`` is ``PASS`` or ``FAIL`` (any case). ``sort``: ``start``, ``value``.
        """
        where = _Where(self.dialect)
        where.eq("v.metric_name", metric)
        where.eq("v.status", status.upper() if status else None)
        where.eq("v.session_id", session_id)
        where.eq("v.trace_id", trace_id)
        order = _order(
            sort, descending, {"start": "v.time_ns", "value": "v.value"}, tie="v.time_ns DESC, v.id"
        )
        return self._page("SELECT v.* FROM evaluations v", where, order, limit, offset)

    def trace_outline(self, trace_id: str) -> List[Dict[str, Any]]:
        """Every run of a trace in a light form, by start time, for drawing its tree:
        ``run_id, parent_id, name, start_ns, end_ns, duration_ns, status, agent,
        run_type, cost, total_tokens`` (no inputs, outputs or attributes to decode,
        so a trace of 20,000 runs reads in tens of milliseconds)."""
        return self._query(
            "SELECT r.run_id, r.parent_id, r.name, r.start_ns, r.end_ns, r.duration_ns,"
            f" r.status, r.agent, r.run_type, r.session_id, {_rollups(self.dialect)}"
            " FROM runs r WHERE r.trace_id = ?"
            " ORDER BY r.start_ns, r.run_id",
            [trace_id],
        )

    def trace_size(self, trace_id: str) -> int:
        """How many runs of the trace are stored: a count of its entries in the runs'
        trace index, a few milliseconds for 20,000 runs (the viewer checks a tree it
        keeps against it)."""
        return int(self._scalar("SELECT count(*) FROM runs WHERE trace_id = ?", [trace_id]) or 0)

    def resolve_id(
        self, prefix: str, kinds: Sequence[str] = ("session", "trace", "run")
    ) -> Tuple[str, str]:
        """The ``(kind, full id)`` of the one session, trace or run whose id starts with
        ``prefix`` (case-insensitive for hex ids).

        Raises :class:`AmbiguousId` (listing up to 10 candidates) when several ids
        match, and :class:`NotFound` when none does. An exact id always wins.
        """
        prefix = prefix.strip()
        if not prefix:
            raise NotFound("an empty id matches nothing")
        sources = {
            "session": ("sessions", "session_id"),
            "trace": ("runs", "trace_id"),
            "run": ("runs", "run_id"),
        }
        found: List[Tuple[str, str]] = []
        for kind in kinds:
            if kind not in sources:
                raise ValueError(f"unknown id kind {kind!r}; use session, trace or run")
            table, column = sources[kind]
            for candidate in dict.fromkeys((prefix, prefix.lower())):
                # A range scan of the column's index: ids in [prefix, prefix + max char).
                rows = self._query(
                    f"SELECT DISTINCT {column} AS id FROM {table} WHERE {column} >= ?"
                    f" AND {column} < ? ORDER BY {column} LIMIT 11",
                    [candidate, candidate + "\U0010ffff"],
                )
                for r in rows:
                    if (kind, r["id"]) not in found:
                        found.append((kind, r["id"]))
        exact = [f for f in found if f[1] in (prefix, prefix.lower())]
        if len(exact) == 1:
            return exact[0]
        if len(found) == 1:
            return found[0]
        if not found:
            raise NotFound(f"no {' or '.join(kinds)} id starts with {prefix!r}")
        raise AmbiguousId(prefix, found[:10])

    # -- experiments --
    def sessions_by_prefix(self, prefix: str) -> List[Dict[str, Any]]:
        """Sessions whose id starts with ``prefix``, in id order: ``session_id, name, tags,
        state, first_ns, last_ns`` (no aggregates). A range scan of the primary key, so it
        stays fast however many sessions the store holds (experiments use it)."""
        if not prefix:
            raise ValueError("sessions_by_prefix needs a non-empty prefix")
        # Ids in [prefix, prefix with its last character incremented) start with it.
        upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        return self._query(
            "SELECT session_id, name, tags, state, first_ns, last_ns FROM sessions "
            "WHERE session_id >= ? AND session_id < ? ORDER BY session_id",
            [prefix, upper],
        )


def open_store(path: Union[str, os.PathLike[str]], readonly: bool = True) -> Store:
    """Open the store at ``path``: a SQLite file (a plain path or ``sqlite:///path``) or a
    PostgreSQL database (``postgresql://user:pass@host:5432/db``, needs
    ``pip install 'auditora[postgres]'``).

    ``readonly=True`` (the default) requires an existing store and never writes
    or locks it. ``readonly=False`` creates the store if needed and migrates it
    to the current schema. Raises :class:`StoreError` when the store is missing
    (read-only), not a database, not an Auditora store, from a newer schema, or
    (PostgreSQL) cannot be reached; a password never appears in the message.
    """
    target = parse_store(path)
    if target.backend == "postgresql":
        return _open_postgres(target.target, readonly)
    return _open_sqlite(target.target, readonly)


def _open_postgres(url: str, readonly: bool) -> Store:
    from ._postgres import connect_reader

    def reopen() -> Any:
        return connect_reader(url, readonly)

    return Store(reopen(), mask(url), readonly, POSTGRES, reopen, target=url)


def _open_sqlite(path: str, readonly: bool) -> Store:
    if not readonly:
        conn = connect_writer(path)
        return Store(conn, path, readonly=False)
    if not os.path.isfile(path):
        raise StoreError(f"no Auditora store at {path!r}")
    from urllib.parse import quote

    uri = "file:" + quote(os.path.abspath(path)) + "?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True, check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA busy_timeout = 5000")
        version = read_version(conn)
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path!r} is not a readable Auditora store: {exc}") from exc
    if version == 0:
        conn.close()
        raise StoreError(f"{path!r} is not an Auditora store (no schema version)")
    if version > SCHEMA_VERSION:
        conn.close()
        raise StoreError(
            f"{path!r} has schema version {version}; this Auditora reads up to {SCHEMA_VERSION}"
        )
    return Store(conn, path, readonly=True)
