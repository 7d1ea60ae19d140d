"""Schema migrations: a store written by an older Auditora is upgraded on open."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import auditora
from auditora import sentinel
from auditora.store import SCHEMA_VERSION, open_store
from auditora.store._schema import MIGRATIONS, TABLES, connect_writer


def _columns(conn: sqlite3.Connection, table: str) -> list:
    return [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]


def test_a_version_1_store_is_upgraded_and_keeps_its_rows(tmp_path: Path) -> None:
    """A v1 file (as v1 wrote it) gains the v2 columns; old rows read back with them None."""
    path = tmp_path / "v1.db"
    conn = sqlite3.connect(path)
    for statement in MIGRATIONS[1]:
        conn.execute(statement)
    conn.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    conn.execute(
        "INSERT INTO runs (run_id, trace_id, name, status, run_kind) "
        "VALUES ('00000000000000aa', '000000000000000000000000000000bb', 'old', 'ok', 'function')"
    )
    conn.commit()
    conn.close()

    connect_writer(str(path)).close()
    conn = sqlite3.connect(path)
    version = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0]
    runs_columns = _columns(conn, "runs")
    conn.close()
    assert version == str(SCHEMA_VERSION) == "6"
    assert runs_columns == [c.name for c in TABLES[1].columns]
    with open_store(str(path)) as store:
        (run,) = store.runs()
    assert (run["name"], run["run_type"], run["traceback"]) == ("old", None, None)


def test_a_new_store_has_the_same_columns_as_an_upgraded_one(tmp_path: Path) -> None:
    """Built by the same migrations, a new store and an upgraded one match, table by table."""
    new = tmp_path / "new.db"
    auditora.configure(sinks=[f"sqlite:{new}"], console=False)
    sentinel()(lambda: None)()
    assert auditora.flush()
    auditora.shutdown()
    conn = sqlite3.connect(new)
    try:
        for table in TABLES:
            assert _columns(conn, table.name)[-len(table.columns) :] == [
                c.name for c in table.columns
            ]
    finally:
        conn.close()
