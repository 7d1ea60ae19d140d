"""Copying one store into another: SQLite into PostgreSQL, back, or between two of a kind.

``auditora migrate SRC DST`` runs :func:`migrate_store` (``docs/store.md``, *Moving a
store*). Every table of :data:`~auditora.store._schema.TABLES` is copied, its columns
as the declaration lists them, row by row as stored:

- the source is opened read-only (SQLite ``mode=ro``; PostgreSQL read-only
  transactions) and never changed. A source of an older schema version is read as it
  is (the columns it lacks are NULL); a newer one is refused;
- the destination is created or migrated by the store's own code
  (:func:`~auditora.store._schema.connect_writer`, :func:`~auditora.store._postgres.migrate`);
- rows are read in insertion order by a keyset on the source's ``rowid`` (SQLite) or
  ``id`` (PostgreSQL; ``runs`` and ``sessions``, which have none there, by their key),
  ``batch`` at a time; each batch is one transaction in the destination. The
  destination gives the rows their own ``id`` (in the same order), so a store can be
  copied into one that already holds rows: runs are upserted by ``run_id`` (the copy
  replaces the run), sessions by ``session_id`` (merged as the writers merge them);
- values are converted as the writers of the destination would store them: into
  PostgreSQL by the PostgreSQL writer's rules (NUL becomes U+FFFD, integers clamp to
  64 bits, JSON text becomes JSONB); into SQLite, JSONB becomes compact JSON text and
  a real ``NaN`` or infinity the text SQLite's writer keeps (``"NaN"``, ``"Infinity"``);
- the progress (the last source key copied, per table) is kept in the destination's
  ``meta`` table under ``migrate:<source>``, written in the transaction of each batch:
  a migration killed at any point resumes where its last batch ended, and never copies
  a row twice. Running it again after it finished copies only rows added since.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Sequence, Tuple, Type, Union

from . import _rollups
from ._schema import BY_NAME, SCHEMA_VERSION, TABLES, StoreError, Table
from ._schema import connect_writer as sqlite_writer
from ._schema import read_version as sqlite_version
from ._url import StoreURL, mask, parse_store
from ._writer import _encode

if TYPE_CHECKING:
    import psycopg

__all__ = ["MigrateResult", "Progress", "migrate_store"]

#: ``progress(table, copied, total)``: called once per table before its first batch
#: (``copied`` 0) and after each batch committed. ``total`` counts the rows the table
#: had left to copy when it started.
Progress = Callable[[str, int, int], None]

#: The ``meta`` key prefix of a migration's progress (``migrate:<source>``).
META_PREFIX = "migrate:"

_Row = Tuple[Any, ...]

#: The two tables without an insertion-order id, keyed by their ids instead.
_SESSIONS, _RUNS = BY_NAME["sessions"], BY_NAME["runs"]


@dataclass
class MigrateResult:
    """What :func:`migrate_store` copied."""

    #: The source and destination as they may be shown (passwords masked).
    source: str
    destination: str
    #: Table -> rows copied by this call (every table of the schema, 0 included).
    tables: Dict[str, int] = field(default_factory=dict)
    #: Table -> rows copied by earlier calls that were interrupted or finished.
    earlier: Dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def rows(self) -> int:
        """Rows copied by this call."""
        return sum(self.tables.values())

    @property
    def resumed(self) -> bool:
        """Whether an earlier call had copied rows already (this one went on from there)."""
        return any(self.earlier.values())

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> Dict[str, Any]:
        return {
            "source": self.source,
            "destination": self.destination,
            "tables": dict(self.tables),
            "rows": self.rows,
            "earlier": dict(self.earlier),
            "resumed": self.resumed,
            "seconds": round(self.seconds, 3),
            "rows_per_second": round(self.rows_per_second, 1),
        }


def _declared_key(table: Table) -> str:
    """The ``PRIMARY KEY`` column of a table without an insertion-order ``id``."""
    return next(c.name for c in table.columns if "PRIMARY KEY" in c.constraint)


def _key_column(table: Table, backend: str) -> str:
    """The column ordering ``table``'s rows in a source: insertion order where kept."""
    if backend == "sqlite":
        return "rowid"
    return "id" if table.serial else _declared_key(table)


# -- sources --------------------------------------------------------------------------


class _Source:
    backend: str
    display: str
    #: A stable name of the source for the progress key (no password).
    name: str

    def version(self) -> int:
        raise NotImplementedError

    def created_ns(self) -> Optional[str]:
        raise NotImplementedError

    def present(self, table: Table) -> Optional[List[str]]:
        """The columns ``table`` has in the source (None: the source lacks the table)."""
        raise NotImplementedError

    def rows(self, table: Table, select: str, after: Any, limit: int) -> List[_Row]:
        raise NotImplementedError

    def remaining(self, table: Table, after: Any) -> int:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


def _lenient(data: bytes) -> str:
    return data.decode("utf-8", "replace")


class _SqliteSource(_Source):
    backend = "sqlite"

    def __init__(self, path: str) -> None:
        if not os.path.exists(path):
            raise StoreError(f"no store at {path}: the file does not exist")
        if os.path.isdir(path):
            raise StoreError(f"{path} is a directory, not a store file")
        self.display = path
        self.name = os.path.realpath(path)
        # "file://" and an absolute path: an empty authority, whatever the path begins with.
        uri = "file://" + urllib.parse.quote(os.path.abspath(path)) + "?mode=ro"
        try:
            self.conn = sqlite3.connect(uri, uri=True, timeout=30, check_same_thread=False)
            self.conn.execute("PRAGMA busy_timeout = 30000")
            self._version = sqlite_version(self.conn)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read the store {path}: {exc}") from None

    def version(self) -> int:
        return self._version

    def created_ns(self) -> Optional[str]:
        row = self.conn.execute("SELECT value FROM meta WHERE key = 'created_ns'").fetchone()
        return None if row is None else str(row[0])

    def present(self, table: Table) -> Optional[List[str]]:
        names = [r[1] for r in self.conn.execute(f"PRAGMA table_info({table.name})")]
        return names or None

    def rows(self, table: Table, select: str, after: Any, limit: int) -> List[_Row]:
        where = "" if after is None else "WHERE rowid > ? "
        sql = f"SELECT rowid, {select} FROM {table.name} {where}ORDER BY rowid LIMIT ?"
        params = (limit,) if after is None else (after, limit)
        try:
            return self.conn.execute(sql, params).fetchall()
        except sqlite3.OperationalError as exc:
            if "decode" not in str(exc):
                raise
            # Text that is not UTF-8 (written by something else than Auditora): kept
            # with U+FFFD for the bad bytes rather than stopping the copy.
            self.conn.text_factory = _lenient
            try:
                return self.conn.execute(sql, params).fetchall()
            finally:
                self.conn.text_factory = str

    def remaining(self, table: Table, after: Any) -> int:
        if after is None:
            row = self.conn.execute(f"SELECT count(*) FROM {table.name}").fetchone()
        else:
            row = self.conn.execute(
                f"SELECT count(*) FROM {table.name} WHERE rowid > ?", (after,)
            ).fetchone()
        return int(row[0])

    def close(self) -> None:
        self.conn.close()


def _pg_name(url: str) -> str:
    """``postgresql://user@host:port/db`` of ``url``: the database, without secrets."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        info = conninfo_to_dict(url)
    except Exception:  # malformed: connect() reports it
        return mask(url)
    user = f"{info['user']}@" if info.get("user") else ""
    host, port = info.get("host") or "localhost", info.get("port") or "5432"
    return f"postgresql://{user}{host}:{port}/{info.get('dbname') or ''}"


def _identity(conn: psycopg.Connection[Any]) -> Tuple[Any, ...]:
    """What tells one PostgreSQL database from another (the same on any connection to it)."""
    row = conn.execute(
        "SELECT current_database(), pg_postmaster_start_time(), current_setting('port')"
    ).fetchone()
    return tuple(row or ())


class _PgSource(_Source):
    backend = "postgresql"

    def __init__(self, url: str) -> None:
        from ._postgres import connect_reader

        self.display = mask(url)
        self.name = _pg_name(url)
        # Autocommit, every transaction read-only; a database with no store, or a newer
        # one, is a StoreError naming it masked.
        self.conn = connect_reader(url, readonly=True)

    def version(self) -> int:
        from ._postgres import read_version

        return read_version(self.conn)

    def created_ns(self) -> Optional[str]:
        row = self.conn.execute("SELECT value FROM meta WHERE key = 'created_ns'").fetchone()
        return None if row is None else str(row[0])

    def present(self, table: Table) -> Optional[List[str]]:
        names = [
            r[0]
            for r in self.conn.execute(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = current_schema() AND table_name = %s",
                (table.name,),
            )
        ]
        return names or None

    def rows(self, table: Table, select: str, after: Any, limit: int) -> List[_Row]:
        key = _key_column(table, self.backend)
        where = "" if after is None else f"WHERE {key} > %s "
        sql = f"SELECT {key}, {select} FROM {table.name} {where}ORDER BY {key} LIMIT %s"
        params = (limit,) if after is None else (after, limit)
        return list(self.conn.execute(sql, params).fetchall())

    def remaining(self, table: Table, after: Any) -> int:
        key = _key_column(table, self.backend)
        if after is None:
            row = self.conn.execute(f"SELECT count(*) FROM {table.name}").fetchone()
        else:
            row = self.conn.execute(
                f"SELECT count(*) FROM {table.name} WHERE {key} > %s", (after,)
            ).fetchone()
        return int(row[0]) if row else 0

    def close(self) -> None:
        self.conn.close()


# -- destinations ---------------------------------------------------------------------


class _Conflict(StoreError):
    """The progress changed under this migration: another one runs into the same store."""


def _session_upsert(lo: str, hi: str, rows: str) -> str:
    """Insert sessions (``rows``: a ``VALUES`` or ``SELECT`` of every column), merging one
    already there as the writers do: the newest state wins (by ``state_ns``), first and
    last times widen (NULLs ignored). ``lo``/``hi``: the dialect's two-argument min/max."""
    newer = (
        "(excluded.state_ns >= sessions.state_ns OR sessions.state_ns IS NULL AND "
        "(excluded.state_ns IS NOT NULL OR sessions.name IS NULL AND sessions.tags IS NULL "
        "AND sessions.state IS NULL))"
    )
    sets = [
        f"{c} = CASE WHEN {newer} THEN excluded.{c} ELSE sessions.{c} END"
        for c in ("name", "tags", "state", "state_ns")
    ]
    sets += [
        f"{c} = {fn}(coalesce(sessions.{c}, excluded.{c}), coalesce(excluded.{c}, sessions.{c}))"
        for c, fn in (("first_ns", lo), ("last_ns", hi))
    ]
    return (
        f"INSERT INTO sessions ({', '.join(_names(_SESSIONS))}) {rows} "
        f"ON CONFLICT (session_id) DO UPDATE SET {', '.join(sets)}"
    )


def _run_upsert(rows: str) -> str:
    """Insert runs (``rows``: a ``VALUES`` or ``SELECT`` of every column), a run already
    there replaced whole by the copy."""
    names = _names(_RUNS)
    sets = ", ".join(f"{c} = excluded.{c}" for c in names if c != "run_id")
    return f"INSERT INTO runs ({', '.join(names)}) {rows} ON CONFLICT (run_id) DO UPDATE SET {sets}"


def _names(table: Table) -> List[str]:
    return [c.name for c in table.columns]


class _Destination:
    backend: str
    display: str

    def progress(self, key: str) -> Optional[str]:
        raise NotImplementedError

    def write(
        self,
        table: Table,
        names: Sequence[str],
        rows: List[_Row],
        key: str,
        expected: Optional[str],
        value: str,
    ) -> None:
        """Store ``rows`` and set meta ``key`` to ``value`` in one transaction, provided
        ``key`` still holds ``expected`` (else :class:`_Conflict`)."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class _SqliteDestination(_Destination):
    backend = "sqlite"

    def __init__(self, path: str) -> None:
        self.display = path
        self.conn = sqlite_writer(path)  # creates or migrates (StoreError if newer)

    def progress(self, key: str) -> Optional[str]:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def _statement(self, table: Table, names: Sequence[str]) -> str:
        values = f"VALUES ({', '.join('?' * len(names))})"
        if table is _SESSIONS:
            return _session_upsert("min", "max", values)
        if table is _RUNS:
            return _run_upsert(values)
        return f"INSERT INTO {table.name} ({', '.join(names)}) {values}"

    def write(
        self,
        table: Table,
        names: Sequence[str],
        rows: List[_Row],
        key: str,
        expected: Optional[str],
        value: str,
    ) -> None:
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            if self.progress(key) != expected:
                raise _Conflict("")
            conn.executemany(self._statement(table, names), rows)
            for statement, rollup in _rollups.upserts(table.name, names, list(zip(*rows))):
                conn.executemany(statement, rollup)
            conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                try:
                    conn.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
            raise

    def close(self) -> None:
        self.conn.close()


class _PgDestination(_Destination):
    backend = "postgresql"

    def __init__(self, url: str, source: _Source) -> None:
        from . import _postgres

        psycopg = _postgres.psycopg_module()
        self.display = mask(url)
        try:
            self.conn = _postgres.connect(url)
        except psycopg.OperationalError as exc:
            raise StoreError(
                f"cannot reach the store {mask(url)}: {_postgres._line(exc)}"
            ) from None
        try:
            self.conn.autocommit = True
            # The identity check comes before migrating: DST == SRC must not touch SRC.
            if isinstance(source, _PgSource) and _identity(source.conn) == _identity(self.conn):
                raise StoreError(f"the destination {mask(url)} is the source: nothing to do")
            _postgres.migrate(self.conn)
            for table in TABLES:
                if not table.serial:
                    # COPY cannot upsert: keyed rows are copied here first.
                    self.conn.execute(
                        f"CREATE TEMP TABLE IF NOT EXISTS auditora_migrate_{table.name} "
                        f"(LIKE {table.name}) ON COMMIT DELETE ROWS"
                    )
        except BaseException:
            self.conn.close()
            raise

    def progress(self, key: str) -> Optional[str]:
        row = self.conn.execute("SELECT value FROM meta WHERE key = %s", (key,)).fetchone()
        return None if row is None else str(row[0])

    def write(
        self,
        table: Table,
        names: Sequence[str],
        rows: List[_Row],
        key: str,
        expected: Optional[str],
        value: str,
    ) -> None:
        conn = self.conn
        with conn.transaction(), conn.cursor() as cur:
            # Serializes migrations into this database (two at once would interleave).
            cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (key,))
            if self.progress(key) != expected:
                raise _Conflict("")
            into = table.name
            if not table.serial:
                into = f"auditora_migrate_{table.name}"
            with cur.copy(f"COPY {into} ({', '.join(names)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            rows_sql = f"SELECT {', '.join(names)} FROM {into}"
            if table is _SESSIONS:
                cur.execute(_session_upsert("LEAST", "GREATEST", rows_sql))
            elif table is _RUNS:
                cur.execute(_run_upsert(rows_sql))
            for statement, rollup in _rollups.upserts(table.name, names, list(zip(*rows)), "%s"):
                cur.executemany(statement, rollup)
            cur.execute(
                "INSERT INTO meta (key, value) VALUES (%s, %s) "
                "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                (key, value),
            )

    def close(self) -> None:
        self.conn.close()


# -- values -----------------------------------------------------------------------------

_NON_FINITE = {math.inf: "Infinity", -math.inf: "-Infinity"}


def _real_for_sqlite(value: Any) -> Any:
    # SQLite turns a bound NaN into NULL: its writer keeps the serializer's text instead.
    if type(value) is float and not math.isfinite(value):
        return "NaN" if math.isnan(value) else _NON_FINITE[value]
    return value


def _json_for_sqlite(value: Any) -> Any:
    return None if value is None else _encode(json.loads(value))


def _valid_json(value: Any) -> Any:
    """JSON text JSONB takes: text that is no JSON is kept as a JSON string of itself."""
    if value is None:
        return None
    text = value if isinstance(value, str) else str(value)
    try:
        json.loads(text)
    except ValueError:
        return _encode(text)
    return text


def _convert(
    table: Table,
    columns: Sequence[Tuple[str, bool, str]],
    rows: List[_Row],
    src: str,
    dst: str,
    clean: bool,
) -> List[_Row]:
    """``rows`` (the source's values, the key column first) as the destination stores them."""
    body = [r[1:] for r in rows]
    if src == dst or not body:
        return body
    cols: List[List[Any]] = [list(c) for c in zip(*body)]
    if dst == "postgresql":
        from ._postgres import _pg_columns

        names = [name for name, _, _ in columns]
        # The PostgreSQL writer's rules: integers clamped, reals parsed; with ``clean``
        # (a batch refused once) NUL and lone surrogates replaced in text and JSON.
        _pg_columns(table.kind, names, cols, clean)
        if clean:
            for i, (_, is_json, _) in enumerate(columns):
                if is_json:
                    cols[i] = [_valid_json(v) for v in cols[i]]
    else:
        for i, (_, is_json, sql_type) in enumerate(columns):
            if is_json:
                cols[i] = [_json_for_sqlite(v) for v in cols[i]]
            elif sql_type == "REAL":
                cols[i] = [_real_for_sqlite(v) for v in cols[i]]
    return list(zip(*cols))


# -- the copy ------------------------------------------------------------------------


def _open_source(store: StoreURL) -> _Source:
    if store.backend == "sqlite":
        return _SqliteSource(store.target)
    return _PgSource(store.target)


def _open_destination(store: StoreURL, source: _Source) -> _Destination:
    if store.backend == "sqlite":
        if isinstance(source, _SqliteSource) and (
            os.path.realpath(store.target) == source.name
            or (os.path.exists(store.target) and os.path.samefile(store.target, source.name))
        ):
            raise StoreError(f"the destination {store.target} is the source: nothing to do")
        return _SqliteDestination(store.target)
    return _PgDestination(store.target, source)


def _errors() -> Tuple[Type[BaseException], ...]:
    """Errors a destination's batch raises that are about its values (retried, cleaned)."""
    out: List[Type[BaseException]] = [ValueError, TypeError, OverflowError]
    try:
        import psycopg
    except ImportError:
        return tuple(out)
    return (*out, psycopg.DataError, psycopg.IntegrityError)


def _broken() -> Tuple[Type[BaseException], ...]:
    """Errors of a store itself (gone, full, locked), reported in one line."""
    out: List[Type[BaseException]] = [sqlite3.Error]
    try:
        import psycopg
    except ImportError:
        return tuple(out)
    return (*out, psycopg.Error)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return mask(f"{type(exc).__name__}: {text[0] if text else ''}")


def migrate_store(
    src: Union[str, os.PathLike[str]],
    dst: Union[str, os.PathLike[str]],
    *,
    batch: int = 5000,
    progress: Optional[Progress] = None,
) -> MigrateResult:
    """Copy every row of the store ``src`` into the store ``dst`` (a path, ``sqlite:///…``
    or ``postgresql://…`` each), resuming an earlier call that was interrupted.

    Returns the rows copied per table. Raises :class:`StoreError` (one line, passwords
    masked) for a missing source, an unknown scheme, a server that cannot be reached,
    ``dst`` naming ``src``, a source from a newer Auditora, or a store failing midway
    (what was committed stays; calling again goes on from there). ``KeyboardInterrupt``
    raised by ``progress`` or Ctrl+C stops it between or inside a batch, the same way.
    """
    if batch < 1:
        raise ValueError(f"batch must be at least 1, got {batch}")
    source_url, dest_url = parse_store(src), parse_store(dst)
    t0 = time.perf_counter()
    source = _open_source(source_url)
    try:
        version = source.version()
        if version == 0:
            raise StoreError(f"{source.display} is not an Auditora store (no schema version)")
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"the source {source.display} has schema version {version}; this Auditora "
                f"reads up to {SCHEMA_VERSION} (upgrade auditora)"
            )
        dest = _open_destination(dest_url, source)
        try:
            return _copy(source, dest, batch, progress, t0)
        finally:
            dest.close()
    except _broken() as exc:
        raise StoreError(
            f"migrating {source_url.display} to {dest_url.display} failed: {_one_line(exc)} "
            "(what was copied is kept: run it again to go on)"
        ) from None
    finally:
        source.close()


def _copy(
    source: _Source,
    dest: _Destination,
    batch: int,
    progress: Optional[Progress],
    t0: float,
) -> MigrateResult:
    key = META_PREFIX + source.name
    created = source.created_ns()
    stored = dest.progress(key)
    try:
        state: Dict[str, Any] = json.loads(stored) if stored else {}
    except ValueError:  # not ours (a meta row written by hand): start over
        state = {}
    if not isinstance(state, dict) or "after" not in state or state.get("created_ns") != created:
        # Nothing copied yet, or another store now sits at the source's place: start over.
        state = {"source": source.display, "created_ns": created, "after": {}, "rows": {}}
    result = MigrateResult(source.display, dest.display)
    result.earlier = {t.name: int(state["rows"].get(t.name, 0)) for t in TABLES}
    record_errors = _errors()
    for table in TABLES:
        result.tables[table.name] = 0
        present = source.present(table)
        if present is None:  # a table a later schema version added
            if progress:
                progress(table.name, 0, 0)
            continue
        columns = [(c.name, c.json, c.type) for c in table.columns]
        select = ", ".join(_select(source.backend, c.name, c.json, present) for c in table.columns)
        names = [c.name for c in table.columns]
        after = state["after"].get(table.name)
        total = source.remaining(table, after)
        if progress:
            progress(table.name, 0, total)
        while True:
            rows = source.rows(table, select, after, batch)
            if not rows:
                break
            last = rows[-1][0]
            new_state = {
                **state,
                "after": {**state["after"], table.name: last},
                "rows": {**state["rows"], table.name: state["rows"].get(table.name, 0) + len(rows)},
            }
            value = json.dumps(new_state, sort_keys=True)
            for clean in (False, True):
                converted = _convert(table, columns, rows, source.backend, dest.backend, clean)
                try:
                    dest.write(table, names, converted, key, stored, value)
                    break
                except _Conflict:
                    raise StoreError(
                        f"another migration from {source.display} into {dest.display} "
                        "changed its progress meanwhile: run one at a time"
                    ) from None
                except record_errors as exc:
                    if clean:
                        raise StoreError(
                            f"the destination refused a row of {table.name} (source "
                            f"{_key_column(table, source.backend)} after {after!r}, up to "
                            f"{last!r}): {_one_line(exc)}"
                        ) from None
            state, stored, after = new_state, value, last
            result.tables[table.name] += len(rows)
            result.seconds = time.perf_counter() - t0
            if progress:
                progress(table.name, result.tables[table.name], total)
    result.seconds = time.perf_counter() - t0
    return result


def _select(backend: str, name: str, is_json: bool, present: Sequence[str]) -> str:
    if name not in present:
        return f"NULL AS {name}"  # an older schema's store: the column came later
    if backend == "postgresql" and is_json:
        return f"{name}::text AS {name}"  # JSON text, for COPY or SQLite alike
    return name
