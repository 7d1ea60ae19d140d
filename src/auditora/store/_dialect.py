"""The SQL that differs between the SQLite and the PostgreSQL store, behind one small object.

The reader keeps one set of queries, written for SQLite with ``?`` placeholders;
each backend's :class:`Dialect` supplies the few fragments that differ and runs
a statement on its connection:

- placeholders: ``?`` becomes ``%s`` for psycopg, and a literal ``%`` is doubled
  (LIKE patterns are always parameters, so they are never rewritten);
- a JSON field: ``json_extract(col, '$."k"')`` in SQLite, ``(col -> 'k')`` in
  PostgreSQL (a JSONB value, which psycopg decodes as ``json_extract`` does: an
  int stays an int); as a number to compare or sort, a ``double precision``
  cast, guarded so that a non-numeric value is NULL instead of an error;
- a JSON column searched as text: ``col::text`` in PostgreSQL;
- case-insensitive substring match: ``LIKE`` (SQLite's is ASCII case-insensitive)
  or ``ILIKE``;
- the scalar minimum and maximum of values: ``min(a, b)`` or ``LEAST(a, b)``;
- ``INDEXED BY`` planner hints, which only SQLite has;
- the newest rows of ``runs`` (no insertion-order id in PostgreSQL): SQLite's
  ``rowid``, PostgreSQL's ``start_ns``.

String order needs nothing here: the PostgreSQL store's text columns are
``COLLATE "C"`` (byte order, as SQLite's ``BINARY``), see ``_postgres.py``.
"""

from __future__ import annotations

import sqlite3
from functools import lru_cache
from typing import Any, List, Sequence, Tuple, Type

__all__ = ["POSTGRES", "SQLITE", "Dialect", "PostgresDialect", "to_pyformat"]


class Dialect:
    """SQLite's SQL (the reader's queries are written in it)."""

    #: ``sqlite`` or ``postgresql``.
    name = "sqlite"
    #: The case-insensitive substring operator.
    like = "LIKE"
    #: The order of ``runs`` newest-inserted first.
    newest_runs = "rowid DESC"
    #: Whether JSON columns come back as text to decode (False: already decoded).
    decodes_json = True

    def sql(self, text: str) -> str:
        """``text`` (``?`` placeholders) as this backend's driver takes it."""
        return text

    def json_value(self, column: str, key: str) -> str:
        """The value of the JSON object ``column``'s field ``key``, as SQLite's
        ``json_extract`` returns it (a number, text, or NULL)."""
        return f"json_extract({column}, '$.\"{key}\"')"

    def json_number(self, column: str, key: str) -> str:
        """The field ``key`` of ``column`` as a number to compare or sort by."""
        return self.json_value(column, key)

    def json_text(self, column: str) -> str:
        """A JSON column as text, for LIKE."""
        return column

    def indexed_by(self, index: str) -> str:
        """A planner hint naming the index to use (only SQLite has them)."""
        return f" INDEXED BY {index}"

    def least(self, *values: str) -> str:
        """The smallest of several values (NULL when any is NULL in SQLite: coalesce them)."""
        return f"min({', '.join(values)})"

    def greatest(self, *values: str) -> str:
        """The largest of several values (NULL when any is NULL in SQLite: coalesce them)."""
        return f"max({', '.join(values)})"

    def errors(self) -> Tuple[Type[BaseException], ...]:
        """The driver's errors a failed statement raises."""
        return (sqlite3.DatabaseError,)

    def broken(self, conn: Any) -> bool:
        """Whether ``conn`` was lost and should be reopened (a file connection never is)."""
        return False

    def version(self, conn: Any) -> int:
        """The schema version recorded in the store (0 for none)."""
        from ._schema import read_version

        return read_version(conn)

    def fetch(self, conn: Any, sql: str, params: Sequence[Any]) -> Tuple[List[str], List[Any]]:
        """Run ``sql`` (``?`` placeholders) on ``conn``: (column names, rows)."""
        cur = conn.execute(self.sql(sql), tuple(params))
        names = [d[0] for d in cur.description] if cur.description else []
        return names, cur.fetchall()


class PostgresDialect(Dialect):
    """PostgreSQL's SQL, through psycopg 3."""

    name = "postgresql"
    like = "ILIKE"
    newest_runs = "start_ns DESC NULLS LAST"  # (the runs_start index's order)
    decodes_json = False

    def sql(self, text: str) -> str:
        return to_pyformat(text)

    def json_value(self, column: str, key: str) -> str:
        return f"({column} -> '{key}')"

    def json_number(self, column: str, key: str) -> str:
        field = f"{column} -> '{key}'"
        return (
            f"(CASE WHEN jsonb_typeof({field}) = 'number'"
            f" THEN ({column} ->> '{key}')::double precision END)"
        )

    def json_text(self, column: str) -> str:
        return f"{column}::text"

    def indexed_by(self, index: str) -> str:
        return ""

    def least(self, *values: str) -> str:
        return f"LEAST({', '.join(values)})"

    def greatest(self, *values: str) -> str:
        return f"GREATEST({', '.join(values)})"

    def errors(self) -> Tuple[Type[BaseException], ...]:
        from ._postgres import psycopg_module

        return (psycopg_module().Error,)

    def broken(self, conn: Any) -> bool:
        """Whether ``conn`` was lost (a server restart, a network cut): reopen it."""
        return bool(conn.broken or conn.closed)

    def version(self, conn: Any) -> int:
        from ._postgres import read_version

        return read_version(conn)


@lru_cache(maxsize=1024)
def to_pyformat(text: str) -> str:
    """SQL with ``?`` placeholders as psycopg takes it: ``?`` becomes ``%s`` and ``%``
    becomes ``%%``, outside quoted literals and identifiers (which are left as they are)."""
    out: List[str] = []
    quote = ""
    for ch in text:
        if quote:
            if ch == "%":
                out.append("%%")  # psycopg parses the whole text, literals too
                continue
            if ch == quote:
                quote = ""
            out.append(ch)
        elif ch in ("'", '"'):
            quote = ch
            out.append(ch)
        elif ch == "?":
            out.append("%s")
        elif ch == "%":
            out.append("%%")
        else:
            out.append(ch)
    return "".join(out)


#: The dialects, one instance each.
SQLITE = Dialect()
POSTGRES = PostgresDialect()
