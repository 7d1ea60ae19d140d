"""The SQLite store's schema (version 4), connection settings and migration.

One table per record kind, plus ``meta`` (``schema_version``), all declared
once in :data:`TABLES`. Columns mirror the record fields of
``docs/records.md``; values that are dicts or lists (tags, state, metadata,
fields, request, input, output, extra, content, attributes) are stored as JSON
text. Every table but ``runs`` and ``sessions`` has an ``id INTEGER PRIMARY
KEY`` giving insertion order.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Callable, Dict, List, NamedTuple, Tuple

__all__ = [
    "BACKFILL",
    "BY_KIND",
    "BY_NAME",
    "JSON_COLUMNS",
    "ROLLUPS",
    "SCHEMA_VERSION",
    "TABLES",
    "TRACE_ROLLUP",
    "Column",
    "StoreError",
    "Table",
    "close_writer",
    "connect_writer",
    "duration_bucket",
    "entry",
    "migrate",
]

#: The store schema version written to ``meta.schema_version``.
SCHEMA_VERSION = 6

#: How long a connection waits for another writer's lock before failing (ms).
BUSY_TIMEOUT_MS = 30_000


class StoreError(Exception):
    """The store file is missing, unreadable, corrupt, or from a newer Auditora."""


class Column(NamedTuple):
    """One column of a store table."""

    name: str
    #: The SQL type (its SQLite affinity decides how a value is kept).
    type: str
    #: Dicts and lists (any value, in fact) kept as JSON text, decoded on read.
    json: bool = False
    #: Constraint written after the type in the DDL (``PRIMARY KEY``, ``NOT NULL``).
    constraint: str = ""
    #: The schema version that added the column (a migration adds it to older stores).
    since: int = 1


class Table(NamedTuple):
    """One store table and the record kind kept in it."""

    name: str
    #: The ``kind`` of the records kept here (see ``docs/records.md``).
    kind: str
    columns: Tuple[Column, ...]
    #: Index name suffix -> the columns it covers (``{table}_{suffix}``).
    indexes: Tuple[Tuple[str, Tuple[str, ...]], ...] = ()
    #: An ``id INTEGER PRIMARY KEY`` column giving insertion order.
    serial: bool = True
    #: The columns of a composite primary key (the roll-up tables).
    key: Tuple[str, ...] = ()


def _ids() -> Tuple[Column, ...]:
    return (Column("run_id", "TEXT"), Column("trace_id", "TEXT"), Column("session_id", "TEXT"))


def _record_indexes(trace: bool = True) -> Tuple[Tuple[str, Tuple[str, ...]], ...]:
    # Every index costs each insert a b-tree update: only those the readers use
    # (the viewer reads a trace's records by trace_id; metrics by session or run).
    found = (("session", ("session_id", "time_ns")), ("run", ("run_id",)))
    return (*found, ("trace", ("trace_id",))) if trace else found


#: The whole schema, declared once: the DDL, the writer's INSERTs, the
#: reader's JSON columns and the CLI's table lists are all derived from it.
TABLES: Tuple[Table, ...] = (
    Table(
        "sessions",
        "session",
        (
            Column("session_id", "TEXT", constraint="PRIMARY KEY"),
            Column("name", "TEXT"),
            Column("tags", "TEXT", json=True),
            Column("state", "TEXT", json=True),
            Column("state_ns", "INTEGER"),
            Column("first_ns", "INTEGER"),
            Column("last_ns", "INTEGER"),
        ),
        serial=False,
    ),
    Table(
        "runs",
        "run",
        (
            Column("run_id", "TEXT", constraint="PRIMARY KEY"),
            Column("trace_id", "TEXT", constraint="NOT NULL"),
            Column("parent_id", "TEXT"),
            Column("name", "TEXT"),
            Column("session_id", "TEXT"),
            Column("start_ns", "INTEGER"),
            Column("end_ns", "INTEGER"),
            Column("duration_ns", "INTEGER"),
            Column("status", "TEXT"),
            Column("error_type", "TEXT"),
            Column("error_message", "TEXT"),
            Column("run_kind", "TEXT"),
            Column("agent", "TEXT"),
            Column("attributes", "TEXT", json=True),
            Column("run_type", "TEXT", since=2),
            Column("inputs", "TEXT", json=True, since=2),
            Column("output", "TEXT", json=True, since=2),
            Column("traceback", "TEXT", since=2),
            Column("remote_parent", "INTEGER", since=6),
        ),
        (
            ("session", ("session_id", "start_ns")),
            ("trace", ("trace_id", "start_ns")),
            ("start", ("start_ns",)),
        ),
        serial=False,
    ),
    Table(
        "events",
        "event",
        (
            Column("name", "TEXT"),
            Column("time_ns", "INTEGER"),
            Column("duration", "REAL"),
            Column("metadata", "TEXT", json=True),
            *_ids(),
        ),
        _record_indexes(),
    ),
    Table(
        "logs",
        "log",
        (
            Column("level", "TEXT"),
            Column("message", "TEXT"),
            Column("fields", "TEXT", json=True),
            Column("time_ns", "INTEGER"),
            *_ids(),
        ),
        _record_indexes(),
    ),
    Table(
        "llm_calls",
        "llm_call",
        (
            Column("model", "TEXT"),
            Column("provider", "TEXT"),
            Column("operation", "TEXT"),
            Column("input_tokens", "INTEGER"),
            Column("output_tokens", "INTEGER"),
            Column("cached_tokens", "INTEGER"),
            Column("reasoning_tokens", "INTEGER"),
            Column("response_time", "REAL"),
            Column("time_to_first_token", "REAL"),
            Column("success", "INTEGER"),
            Column("finish_reason", "TEXT"),
            Column("error", "TEXT"),
            Column("cost", "REAL"),
            Column("request", "TEXT", json=True),
            Column("input", "TEXT", json=True),
            Column("output", "TEXT", json=True),
            Column("extra", "TEXT", json=True),
            Column("time_ns", "INTEGER"),
            *_ids(),
            Column("request_model", "TEXT", since=2),
            Column("response_model", "TEXT", since=2),
            Column("response_id", "TEXT", since=2),
            Column("cache_write_tokens", "INTEGER", since=2),
            Column("error_type", "TEXT", since=2),
            Column("start_ns", "INTEGER", since=2),
            Column("system_instructions", "TEXT", json=True, since=2),
        ),
        # By model, then latency: the LLM page's p95 latency per model is one
        # short walk down this index from its end (schema version 4 added the latency).
        (*_record_indexes(), ("model", ("model", "response_time"))),
    ),
    Table(
        "evaluations",
        "evaluation",
        (
            Column("metric_name", "TEXT"),
            Column("value", "REAL"),
            Column("threshold", "REAL"),
            Column("status", "TEXT"),
            Column("direction", "TEXT"),
            Column("label", "TEXT"),
            Column("explanation", "TEXT"),
            Column("extra", "TEXT", json=True),
            Column("time_ns", "INTEGER"),
            *_ids(),
        ),
        (*_record_indexes(), ("metric", ("metric_name",))),
    ),
    Table(
        "agent_messages",
        "agent_message",
        (
            Column("sender", "TEXT"),
            Column("recipient", "TEXT"),
            Column("message_kind", "TEXT"),
            Column("content", "TEXT", json=True),
            Column("extra", "TEXT", json=True),
            Column("time_ns", "INTEGER"),
            *_ids(),
        ),
        _record_indexes(),
    ),
    # One row per metric of a snapshot record (its ``metrics`` mapping).
    Table(
        "metrics",
        "metric",
        (Column("name", "TEXT"), Column("value", "REAL"), Column("time_ns", "INTEGER"), *_ids()),
        _record_indexes(trace=False),
    ),
)


def _counts(*names: str) -> Tuple[Column, ...]:
    return tuple(Column(n, "INTEGER", constraint="NOT NULL") for n in names)


#: The totals the writers keep as they write (``store/_rollups.py``): not records,
#: so no CLI command or export lists them. Schema version 4 added them.
ROLLUPS: Tuple[Table, ...] = (
    Table(
        "llm_rollup",
        "",
        (
            Column("model", "TEXT", constraint="NOT NULL"),
            Column("hour_ns", "INTEGER", constraint="NOT NULL"),
            Column("provider", "TEXT"),
            *_counts("calls", "failures", "input_tokens", "output_tokens"),
            Column("cost", "REAL", constraint="NOT NULL"),
            *_counts("priced"),
            Column("latency_sum", "REAL", constraint="NOT NULL"),
            *_counts("timed"),
        ),
        serial=False,
        key=("model", "hour_ns"),
    ),
    Table(
        "evaluation_rollup",
        "",
        (
            Column("metric_name", "TEXT", constraint="NOT NULL"),
            Column("hour_ns", "INTEGER", constraint="NOT NULL"),
            *_counts("results", "passed", "failed"),
            Column("value_sum", "REAL", constraint="NOT NULL"),
            *_counts("valued"),
            Column("min_value", "REAL"),
            Column("max_value", "REAL"),
        ),
        serial=False,
        key=("metric_name", "hour_ns"),
    ),
    Table(
        "metric_latest",
        "",
        (
            Column("name", "TEXT", constraint="NOT NULL"),
            Column("session_id", "TEXT", constraint="NOT NULL"),
            Column("value", "REAL"),
            Column("time_ns", "INTEGER"),
        ),
        # A metric's histogram and time series are range counts over these (no sort).
        (("value", ("name", "value")), ("time", ("name", "time_ns", "value"))),
        serial=False,
        # By name first: a metric's sessions are one range of the key.
        key=("name", "session_id"),
    ),
    Table(
        "timer_rollup",
        "",
        (
            Column("name", "TEXT", constraint="NOT NULL"),
            Column("hour_ns", "INTEGER", constraint="NOT NULL"),
            *_counts("timings"),
            Column("duration_sum", "REAL", constraint="NOT NULL"),
            Column("min_duration", "REAL"),
            Column("max_duration", "REAL"),
        ),
        serial=False,
        key=("name", "hour_ns"),
    ),
)

#: Version 5's roll-up: one row per trace, its earliest run start and latest run end
#: (``store/_rollups.py``). Its row count is the store's trace count: counting the
#: distinct trace ids of a million runs took 126 ms in SQLite and 850 ms in PostgreSQL.
#: Only what a re-sent run leaves unchanged is kept (a run replaces itself: a count of
#: runs or errors per trace would count it twice).
TRACE_ROLLUP = Table(
    "trace_rollup",
    "",
    (
        Column("trace_id", "TEXT", constraint="NOT NULL"),
        Column("start_ns", "INTEGER"),
        Column("end_ns", "INTEGER"),
    ),
    serial=False,
    key=("trace_id",),
)

#: Fill the trace roll-up of a store written before version 5 from its runs.
BACKFILL_V5: List[str] = [
    "INSERT INTO trace_rollup (trace_id, start_ns, end_ns)"
    " SELECT trace_id, min(start_ns), max(end_ns) FROM runs GROUP BY trace_id",
]

_HOUR = "coalesce(time_ns / 3600000000000 * 3600000000000, 0)"

#: Fill the roll-ups of a store written before version 4 from its records (portable
#: SQL): the same totals the writers keep (``store/_rollups.py``).
BACKFILL: List[str] = [
    "INSERT INTO llm_rollup (model, hour_ns, provider, calls, failures, input_tokens,"
    " output_tokens, cost, priced, latency_sum, timed)"
    f" SELECT coalesce(model, ''), {_HOUR}, max(provider), count(*),"
    " sum(CASE WHEN success = 1 THEN 0 ELSE 1 END), coalesce(sum(input_tokens), 0),"
    " coalesce(sum(output_tokens), 0), coalesce(sum(cost), 0), count(cost),"
    " coalesce(sum(response_time), 0), count(response_time)"
    " FROM llm_calls GROUP BY 1, 2",
    "INSERT INTO evaluation_rollup (metric_name, hour_ns, results, passed, failed,"
    " value_sum, valued, min_value, max_value)"
    f" SELECT coalesce(metric_name, ''), {_HOUR}, count(*),"
    " sum(CASE WHEN status = 'PASS' THEN 1 ELSE 0 END),"
    " sum(CASE WHEN status = 'FAIL' THEN 1 ELSE 0 END),"
    " coalesce(sum(value), 0), count(value), min(value), max(value)"
    " FROM evaluations GROUP BY 1, 2",
    "INSERT INTO timer_rollup (name, hour_ns, timings, duration_sum, min_duration,"
    " max_duration)"
    f" SELECT coalesce(name, ''), {_HOUR}, count(*), sum(duration), min(duration),"
    " max(duration) FROM events WHERE duration IS NOT NULL GROUP BY 1, 2",
    "INSERT INTO metric_latest (name, session_id, value, time_ns)"
    " SELECT coalesce(name, ''), coalesce(session_id, ''), value, time_ns FROM metrics"
    " WHERE id IN (SELECT max(id) FROM metrics"
    " GROUP BY coalesce(session_id, ''), coalesce(name, ''))",
]

#: Version 4's indexes: LLM calls by model, then latency (see ``llm_calls``); the
#: timed events by name and duration, a partial index that other events do not pay
#: for (a timer's quantiles and histogram are read from it); and the root runs by
#: their trace's cost and tokens (the Traces page's sorts: 344 ms to 2 on a million
#: runs), partial too, so child runs pay nothing. Their expressions are the reader's
#: sort keys (``Dialect.json_number``) exactly, or the planner would not use them.
MODEL_INDEX_V4: List[str] = [
    "DROP INDEX IF EXISTS llm_calls_model",
    "CREATE INDEX llm_calls_model ON llm_calls (model, response_time)",
    "CREATE INDEX IF NOT EXISTS events_timed ON events (name, duration) WHERE duration IS NOT NULL",
    *(
        f"CREATE INDEX IF NOT EXISTS runs_root_{name} ON runs"
        f" (json_extract(attributes, '$.\"{key}\"')) WHERE parent_id IS NULL"
        for name, key in (("cost", "llm.cost_usd"), ("tokens", "llm.total_tokens"))
    ),
]

#: Record kind -> its table.
BY_KIND: Dict[str, Table] = {t.kind: t for t in TABLES}
#: Table name -> the table.
BY_NAME: Dict[str, Table] = {t.name: t for t in TABLES}
#: Every column kept as JSON text, in any table.
JSON_COLUMNS = frozenset(c.name for t in TABLES for c in t.columns if c.json)


def _definition(column: Column) -> str:
    return f"{column.name} {column.type}{' ' + column.constraint if column.constraint else ''}"


def create_statements(table: Table, version: int = SCHEMA_VERSION) -> List[str]:
    """The ``CREATE TABLE`` and ``CREATE INDEX`` statements of ``table`` as it is at
    schema ``version`` (the columns added later are left out)."""
    cols = [_definition(c) for c in table.columns if c.since <= version]
    if table.serial:
        cols.insert(0, "id INTEGER PRIMARY KEY")
    clustered = ""
    if table.key:
        cols.append(f"PRIMARY KEY ({', '.join(table.key)})")
        # Rows kept in key order: a metric's sessions are read as one contiguous range.
        clustered = " WITHOUT ROWID"
    body = ",\n    ".join(cols)
    out = [f"CREATE TABLE IF NOT EXISTS {table.name} (\n    {body}\n){clustered}"]
    for suffix, on in table.indexes:
        out.append(
            f"CREATE INDEX IF NOT EXISTS {table.name}_{suffix} ON {table.name} ({', '.join(on)})"
        )
    return out


def added_columns(version: int) -> List[str]:
    """The ``ALTER TABLE`` statements adding the columns schema ``version`` added."""
    return [
        f"ALTER TABLE {table.name} ADD COLUMN {_definition(c)}"
        for table in TABLES
        for c in table.columns
        if c.since == version
    ]


_V1: List[str] = [
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)",
    *(statement for table in TABLES for statement in create_statements(table, 1)),
]

#: Schema version reached -> statements that bring the previous version to it.
#: A new store runs them all, in order, so it is built the way an old one is
#: upgraded. Version 2 added the runs' type, inputs, output and traceback, and
#: the LLM calls' request and response models, response id, cache writes,
#: error type, start time and system instructions.
#: Version 3: the indexes the search queries (``Store.find_*``) need on a store of
#: a million runs. Each costs every insert of its table a b-tree update, so only
#: these: runs by status (the error list, and every trace's error count, reads it),
#: root runs by start (the traces list: a partial index, so child runs pay nothing),
#: sessions by last activity (the sessions list), and LLM calls and evaluations by
#: time (their newest-first lists). The ids' time-ordered layout keeps each insert
#: at the right-hand end of these b-trees (``docs/store.md``, *Insert rate*).
INDEXES_V3: List[str] = [
    "CREATE INDEX IF NOT EXISTS runs_status ON runs (status, start_ns)",
    "CREATE INDEX IF NOT EXISTS runs_roots ON runs (start_ns) WHERE parent_id IS NULL",
    "CREATE INDEX IF NOT EXISTS sessions_last ON sessions (last_ns)",
    "CREATE INDEX IF NOT EXISTS llm_calls_time ON llm_calls (time_ns)",
    "CREATE INDEX IF NOT EXISTS evaluations_time ON evaluations (time_ns)",
]

#: Version 4: the roll-ups (``ROLLUPS``), filled from the records, and the LLM calls'
#: model index extended by latency.
_V4: List[str] = [
    *(statement for table in ROLLUPS for statement in create_statements(table)),
    *MODEL_INDEX_V4,
    *BACKFILL,
]

#: Version 5: the root runs by duration (partial, so child runs pay nothing: the
#: Traces page's duration sort and minimum-duration filter, whose count read every
#: root: 356 ms to 4 on a million runs), and the failed LLM calls by cost (partial,
#: so a successful call pays nothing: the failed calls' list and its count read
#: 7,000 entries, not 700,000 calls: 280 ms to 2). Together they cost the writer
#: about 7 % of its rate. All runs by duration (the runs list's duration sort) would
#: cost it 45 %: durations are not time-ordered, so each batch rewrites pages all
#: over that b-tree; that sort stays a scan (``docs/store.md``, *Indexes*).
INDEXES_V5: List[str] = [
    "CREATE INDEX IF NOT EXISTS runs_root_duration ON runs (duration_ns) WHERE parent_id IS NULL",
    "CREATE INDEX IF NOT EXISTS llm_calls_failed ON llm_calls (cost) WHERE success = 0",
]


def duration_bucket(column: str) -> str:
    """The duration bucket of ``column`` (nanoseconds): its decimal digits and leading
    digit, ``10 * digits + leading`` (1.5 s is 101, 2 ms 72), 0 when not positive.

    Valid SQL in SQLite and PostgreSQL alike, and the same text in the index and
    in the runs list's duration sort (or the planner would not match them)."""
    text = f"CAST({column} AS TEXT)"
    return (
        f"(CASE WHEN {column} > 0 THEN length({text}) * 10"
        f" + CAST(substr({text}, 1, 1) AS INTEGER) ELSE 0 END)"
    )


#: A trace's entry points in a service: its root runs, and the runs whose parent is
#: another process's span (``remote_parent``, a continued ``traceparent``). The
#: Traces list reads them; the partial indexes below are on them. The reader
#: leaves out an entry point whose parent is in the store after all (many services
#: writing one store): that trace is listed by its root.
def entry(alias: str = "") -> str:
    """The entry-point predicate, on the columns of table ``alias`` (``"r."``) if given."""
    return f"({alias}parent_id IS NULL OR {alias}remote_parent = 1)"


ENTRY = entry()

#: The partial indexes on the entry points (they were on the root runs alone before
#: version 6): the traces list by start, duration, cost and tokens.
ENTRY_LISTS: List[str] = [
    f"CREATE INDEX IF NOT EXISTS runs_roots ON runs (start_ns) WHERE {ENTRY}",
    f"CREATE INDEX IF NOT EXISTS runs_root_duration ON runs (duration_ns) WHERE {ENTRY}",
]
ENTRY_INDEXES: List[str] = [
    *ENTRY_LISTS,
    *(
        f"CREATE INDEX IF NOT EXISTS runs_root_{name} ON runs"
        f" (json_extract(attributes, '$.\"{key}\"')) WHERE {ENTRY}"
        for name, key in (("cost", "llm.cost_usd"), ("tokens", "llm.total_tokens"))
    ),
]

#: Version 6: every run by its duration's bucket, for the runs list's duration sort
#: (bucket, then the exact duration of the bucket's runs only: 206 ms to 0.3 on a
#: million runs). An index on the duration itself would cost the writer 45 %: each
#: batch's durations land all over that b-tree. A bucket holds the runs of one
#: leading digit of one power of ten, in the order they were written, so each
#: batch's entries land at the ends of a few dozen buckets (about 4 % of the
#: writer's time on benchmarks/end_to_end.py's batches).
INDEXES_V6: List[str] = [
    f"CREATE INDEX IF NOT EXISTS runs_duration_bucket ON runs ({duration_bucket('duration_ns')})",
]

#: Version 6 marks the runs of an older store whose parent is not in it as entry
#: points (their parent was another process's, or has not been written yet: the
#: reader leaves those out once it is).
BACKFILL_V6: List[str] = [
    "UPDATE runs SET remote_parent = 1 WHERE parent_id IS NOT NULL"
    " AND parent_id NOT IN (SELECT run_id FROM runs)",
]

#: The entry-point indexes, made again on the entry points.
DROP_ROOT_INDEXES: List[str] = [
    f"DROP INDEX IF EXISTS {name}"
    for name in ("runs_roots", "runs_root_duration", "runs_root_cost", "runs_root_tokens")
]

MIGRATIONS: Dict[int, List[str]] = {
    1: _V1,
    2: added_columns(2),
    3: INDEXES_V3,
    4: _V4,
    5: [*create_statements(TRACE_ROLLUP), *INDEXES_V5, *BACKFILL_V5],
    6: [*added_columns(6), *BACKFILL_V6, *DROP_ROOT_INDEXES, *ENTRY_INDEXES, *INDEXES_V6],
}


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


def close_writer(conn: sqlite3.Connection) -> None:
    """Checkpoint the WAL (best effort: a reader may hold it) and close ``conn``."""
    try:
        conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
    except sqlite3.Error:
        pass
    conn.close()


def read_version(conn: sqlite3.Connection) -> int:
    """The schema version recorded in the store (0 for an empty database)."""
    row = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'meta'"
    ).fetchone()
    if row is None:
        return 0
    row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    return int(row[0]) if row else 0


def _adds_a_present_column(conn: sqlite3.Connection, statement: str) -> bool:
    """Whether ``statement`` adds a column the table already has (SQLite's ``ALTER
    TABLE … ADD COLUMN`` has no ``IF NOT EXISTS``; PostgreSQL's migrations use it)."""
    words = statement.split()
    if words[:2] != ["ALTER", "TABLE"] or words[3:5] != ["ADD", "COLUMN"]:
        return False
    present = {row[1] for row in conn.execute(f"PRAGMA table_info({words[2]})")}
    return words[5] in present


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
                    if not _adds_a_present_column(conn, statement):
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
