"""Both store backends for the reader's tests (a helper module, not a test file).

``store_url`` is parametrized over ``sqlite`` and ``postgresql``: an empty store
target, a file path in the test's directory or a new database on the session's
PostgreSQL server (``pg_server.py``). The PostgreSQL case skips, with the reason,
only where the server binaries or psycopg are missing. A module imports the
fixtures it uses (``from _backends import pg_server, store_url``) so pytest
finds them. :func:`write` stores serialized record dicts in either backend,
through each backend's own writer.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any, Mapping, Sequence

import pytest

from auditora.store import write_batch
from auditora.store._schema import connect_writer
from auditora.store._url import parse_store
from pg_server import pg_server, pg_url

__all__ = ["BACKENDS", "fresh_store", "is_postgres", "pg_server", "pg_url", "store_url", "write"]

#: The backends every reader test runs on.
BACKENDS = ("sqlite", "postgresql")


def fresh_store(request: pytest.FixtureRequest, backend: str, directory: Path) -> str:
    """An empty store target of ``backend``: a path under ``directory`` or a new database."""
    if backend == "sqlite":
        return str(directory / "store.db")
    server = request.getfixturevalue("pg_server")
    return str(server.create_database(f"t_{uuid.uuid4().hex[:12]}"))


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty store on each backend in turn (a SQLite path, a PostgreSQL URL)."""
    return fresh_store(request, request.param, tmp_path)


def is_postgres(target: Any) -> bool:
    """Whether ``target`` names a PostgreSQL store."""
    return parse_store(str(target)).backend == "postgresql"


def write(target: str, records: Sequence[Mapping[str, Any]]) -> int:
    """Store serialized record dicts (``to_jsonable``) in ``target``; how many were stored."""
    if is_postgres(target):
        from auditora.store._postgres import PostgresWriter
        from auditora.store._writer import parts_of_rows

        writer = PostgresWriter(target)
        try:
            return writer.write(parts_of_rows(records)).stored
        finally:
            writer.close()
    conn = connect_writer(target)
    try:
        return write_batch(conn, records)
    finally:
        conn.close()


_ = (pg_server, pg_url)  # re-exported fixtures
