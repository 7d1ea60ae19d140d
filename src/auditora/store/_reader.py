"""Reading a store: the query API used by the CLI, the viewer and users.

Every method returns plain dicts and lists (JSON columns decoded), ready for
``json.dumps``. A read-only store opens the file with ``mode=ro`` and never
takes a write lock, so it does not block processes writing the same file.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from typing import Any, Dict, List, Optional, Sequence, Union

from ._schema import JSON_COLUMNS, SCHEMA_VERSION, StoreError, connect_writer, read_version

__all__ = ["Store", "open_store"]


#: Columns a caller may filter a record table by (besides the ids).
_DEFAULT_LIMIT = 1000


def _decode(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


class Store:
    """An open store file. Create it with :func:`open_store`; close it with :meth:`close`.

    Usable as a context manager. Methods may be called from several threads
    (one connection, serialized by a lock).
    """

    def __init__(self, conn: sqlite3.Connection, path: str, readonly: bool) -> None:
        self._conn = conn
        self._lock = threading.Lock()
        #: The store file's path.
        self.path = path
        #: True when the store was opened read-only.
        self.readonly = readonly

    # -- plumbing ----------------------------------------------------------
    def _query(self, sql: str, params: Sequence[Any] = ()) -> List[Dict[str, Any]]:
        try:
            with self._lock:
                cur = self._conn.execute(sql, tuple(params))
                names = [d[0] for d in cur.description]
                rows = cur.fetchall()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot read the store {self.path!r}: {exc}") from exc
        out = []
        for row in rows:
            item = {}
            for name, value in zip(names, row):
                item[name] = _decode(value) if name in JSON_COLUMNS else value
            if "success" in item and item["success"] is not None:
                item["success"] = bool(item["success"])
            out.append(item)
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

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def schema_version(self) -> int:
        """The schema version recorded in the file."""
        with self._lock:
            return read_version(self._conn)

    # -- sessions ----------------------------------------------------------
    _SESSION_SQL = """
        SELECT s.session_id, s.name, s.tags, s.state, s.first_ns, s.last_ns,
          (SELECT count(*) FROM runs r WHERE r.session_id = s.session_id) AS run_count,
          (SELECT count(*) FROM runs r WHERE r.session_id = s.session_id
             AND r.status = 'error') AS error_count,
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
        sql = self._SESSION_SQL + " ORDER BY coalesce(s.last_ns, s.first_ns) DESC, s.session_id"
        params: List[Any] = []
        if limit is not None:
            sql += " LIMIT ? OFFSET ?"
            params = [int(limit), int(offset)]
        return [self._finish_session(r) for r in self._query(sql, params)]

    def session(self, session_id: str) -> Optional[Dict[str, Any]]:
        """One session with its aggregates (as in :meth:`sessions`), or None."""
        rows = self._query(self._SESSION_SQL + " WHERE s.session_id = ?", [session_id])
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
            "count(*) AS run_count, sum(status = 'error') AS error_count, "
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
        """Store-wide totals: counts per table, errors, tokens, cost, eval pass rate, time span."""
        row = self._query(
            """SELECT
              (SELECT count(*) FROM sessions) AS sessions,
              (SELECT count(*) FROM runs) AS runs,
              (SELECT count(DISTINCT trace_id) FROM runs) AS traces,
              (SELECT count(*) FROM runs WHERE status = 'error') AS errors,
              (SELECT count(*) FROM events) AS events,
              (SELECT count(*) FROM logs) AS logs,
              (SELECT count(*) FROM llm_calls) AS llm_calls,
              (SELECT coalesce(sum(input_tokens), 0) FROM llm_calls) AS input_tokens,
              (SELECT coalesce(sum(output_tokens), 0) FROM llm_calls) AS output_tokens,
              (SELECT sum(cost) FROM llm_calls) AS cost,
              (SELECT count(*) FROM evaluations) AS evaluations,
              (SELECT count(*) FROM evaluations WHERE status = 'PASS') AS evaluations_passed,
              (SELECT count(*) FROM agent_messages) AS agent_messages,
              (SELECT count(*) FROM metrics) AS metrics,
              (SELECT min(start_ns) FROM runs) AS first_ns,
              (SELECT max(end_ns) FROM runs) AS last_ns"""
        )[0]
        row["total_tokens"] = row["input_tokens"] + row["output_tokens"]
        n = row["evaluations"]
        row["eval_pass_rate"] = row["evaluations_passed"] / n if n else None
        row["schema_version"] = self.schema_version()
        return row

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
    """Open the store at ``path``.

    ``readonly=True`` (the default) requires an existing store and never writes
    or locks it. ``readonly=False`` creates the file if needed and migrates it
    to the current schema. Raises :class:`StoreError` when the file is missing
    (read-only), not a database, not an Auditora store, or from a newer schema.
    """
    path = os.fspath(path)
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
