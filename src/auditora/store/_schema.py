"""The SQLite store's schema (version 1), connection settings and migration.

One table per record kind, plus ``meta`` (``schema_version``). Columns mirror
the record fields of ``docs/records.md``; values that are dicts or lists (tags,
state, metadata, fields, request, input, output, extra, content, attributes)
are stored as JSON text. Every table but ``runs`` and ``sessions`` has an
``id INTEGER PRIMARY KEY`` giving insertion order.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Callable, Dict, List

__all__ = ["SCHEMA_VERSION", "StoreError", "connect_writer", "migrate"]

#: The store schema version written to ``meta.schema_version``.
SCHEMA_VERSION = 1

#: How long a connection waits for another writer's lock before failing (ms).
BUSY_TIMEOUT_MS = 30_000


class StoreError(Exception):
    """The store file is missing, unreadable, corrupt, or from a newer Auditora."""


_IDS = "run_id TEXT, trace_id TEXT, session_id TEXT"

_V1: List[str] = [
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)",
    """CREATE TABLE IF NOT EXISTS sessions (
        session_id TEXT PRIMARY KEY,
        name TEXT,
        tags TEXT,
        state TEXT,
        state_ns INTEGER,
        first_ns INTEGER,
        last_ns INTEGER
    )""",
    """CREATE TABLE IF NOT EXISTS runs (
        run_id TEXT PRIMARY KEY,
        trace_id TEXT NOT NULL,
        parent_id TEXT,
        name TEXT,
        session_id TEXT,
        start_ns INTEGER,
        end_ns INTEGER,
        duration_ns INTEGER,
        status TEXT,
        error_type TEXT,
        error_message TEXT,
        run_kind TEXT,
        agent TEXT,
        attributes TEXT
    )""",
    "CREATE INDEX IF NOT EXISTS runs_session ON runs (session_id, start_ns)",
    "CREATE INDEX IF NOT EXISTS runs_trace ON runs (trace_id, start_ns)",
    "CREATE INDEX IF NOT EXISTS runs_start ON runs (start_ns)",
    f"""CREATE TABLE IF NOT EXISTS events (
        id INTEGER PRIMARY KEY,
        name TEXT,
        time_ns INTEGER,
        duration REAL,
        metadata TEXT,
        {_IDS}
    )""",
    f"""CREATE TABLE IF NOT EXISTS logs (
        id INTEGER PRIMARY KEY,
        level TEXT,
        message TEXT,
        fields TEXT,
        time_ns INTEGER,
        {_IDS}
    )""",
    f"""CREATE TABLE IF NOT EXISTS llm_calls (
        id INTEGER PRIMARY KEY,
        model TEXT,
        provider TEXT,
        operation TEXT,
        input_tokens INTEGER,
        output_tokens INTEGER,
        cached_tokens INTEGER,
        reasoning_tokens INTEGER,
        response_time REAL,
        time_to_first_token REAL,
        success INTEGER,
        finish_reason TEXT,
        error TEXT,
        cost REAL,
        request TEXT,
        input TEXT,
        output TEXT,
        extra TEXT,
        time_ns INTEGER,
        {_IDS}
    )""",
    f"""CREATE TABLE IF NOT EXISTS evaluations (
        id INTEGER PRIMARY KEY,
        metric_name TEXT,
        value REAL,
        threshold REAL,
        status TEXT,
        direction TEXT,
        label TEXT,
        explanation TEXT,
        extra TEXT,
        time_ns INTEGER,
        {_IDS}
    )""",
    f"""CREATE TABLE IF NOT EXISTS agent_messages (
        id INTEGER PRIMARY KEY,
        sender TEXT,
        recipient TEXT,
        message_kind TEXT,
        content TEXT,
        extra TEXT,
        time_ns INTEGER,
        {_IDS}
    )""",
    f"""CREATE TABLE IF NOT EXISTS metrics (
        id INTEGER PRIMARY KEY,
        name TEXT,
        value REAL,
        time_ns INTEGER,
        {_IDS}
    )""",
]
# Every index costs each insert a b-tree update: each table gets only the indexes
# its readers use (the viewer reads a trace's records by trace_id; metrics are
# read by session or run only).
for _table in ("events", "logs", "llm_calls", "evaluations", "agent_messages", "metrics"):
    _V1.append(f"CREATE INDEX IF NOT EXISTS {_table}_session ON {_table} (session_id, time_ns)")
    _V1.append(f"CREATE INDEX IF NOT EXISTS {_table}_run ON {_table} (run_id)")
for _table in ("events", "logs", "llm_calls", "evaluations", "agent_messages"):
    _V1.append(f"CREATE INDEX IF NOT EXISTS {_table}_trace ON {_table} (trace_id)")
_V1.append("CREATE INDEX IF NOT EXISTS llm_calls_model ON llm_calls (model)")
_V1.append("CREATE INDEX IF NOT EXISTS evaluations_metric ON evaluations (metric_name)")

#: Schema version reached -> statements that bring the previous version to it.
MIGRATIONS: Dict[int, List[str]] = {1: _V1}


def _retry(what: Callable[[], object], attempts: int = 50) -> None:
    """Run ``what``, retrying while another process holds the database lock."""
    for i in range(attempts):
        try:
            what()
            return
        except sqlite3.OperationalError as exc:
            if ("locked" not in str(exc) and "busy" not in str(exc)) or i == attempts - 1:
                raise
            time.sleep(0.05)


def connect_writer(path: str) -> sqlite3.Connection:
    """Open (creating if needed) and migrate a store for writing, in WAL mode."""
    try:
        conn = sqlite3.connect(
            path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
        )
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open the store {path!r}: {exc}") from exc
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        _retry(lambda: conn.execute("PRAGMA journal_mode = WAL"))
        # NORMAL is durable against process crashes in WAL mode (only a power
        # loss can lose the last transactions) and much faster than FULL.
        conn.execute("PRAGMA synchronous = NORMAL")
        migrate(conn)
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise StoreError(f"{path!r} is not a usable Auditora store: {exc}") from exc
    except BaseException:
        conn.close()
        raise
    return conn


def read_version(conn: sqlite3.Connection) -> int:
    """The schema version recorded in the store (0 for an empty database)."""
    row = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'meta'"
    ).fetchone()
    if row is None:
        return 0
    row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    return int(row[0]) if row else 0


def migrate(conn: sqlite3.Connection) -> None:
    """Bring the store to :data:`SCHEMA_VERSION` in one write transaction.

    Safe when several processes open a new store at once: ``BEGIN IMMEDIATE``
    serializes them and the version is re-read under the lock.
    """

    def run() -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = read_version(conn)
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"the store has schema version {version}; this Auditora reads up to "
                    f"{SCHEMA_VERSION} (upgrade auditora)"
                )
            for target in range(version + 1, SCHEMA_VERSION + 1):
                for statement in MIGRATIONS[target]:
                    conn.execute(statement)
            if version != SCHEMA_VERSION:
                conn.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)",
                    (str(SCHEMA_VERSION),),
                )
                conn.execute(
                    "INSERT OR IGNORE INTO meta (key, value) VALUES ('created_ns', ?)",
                    (str(time.time_ns()),),
                )
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    _retry(run)
