"""The PostgreSQL store against a real server: DDL from the one schema declaration,
migrations on open, and the writer keeping what the SQLite store keeps, hostile values too."""

from __future__ import annotations

import json
import math
import sqlite3
import threading
from pathlib import Path
from typing import Any, Dict, List, Sequence

import pytest

import pg_server as _pg
from auditora import report, sentinel
from auditora._serialize import serialize
from auditora.agents import send_message
from auditora.records import (
    AgentMessage,
    Evaluation,
    Event,
    LLMCall,
    Log,
    MetricSnapshot,
    Record,
    SessionRecord,
)
from auditora.store import StoreError, write_records
from auditora.store._postgres import (
    MIGRATIONS_PG,
    PostgresWriter,
    connect,
    connect_writer,
    create_statements,
    pg_type,
    read_version,
)
from auditora.store._schema import BY_NAME, SCHEMA_VERSION, TABLES
from auditora.store._schema import connect_writer as sqlite_writer
from auditora.testing import capture

# The fixtures this module uses (a session's server, a fresh database per test).
pg_server, pg_url = _pg.pg_server, _pg.pg_url

_MB = "m" * 1_000_000


# -- DDL and migrations -------------------------------------------------------------


def test_the_ddl_maps_every_declared_column_to_a_postgres_type() -> None:
    """JSON columns are JSONB, integers BIGINT, reals DOUBLE PRECISION, text TEXT."""
    expected = {"TEXT": "TEXT", "INTEGER": "BIGINT", "REAL": "DOUBLE PRECISION"}
    for table in TABLES:
        ddl = create_statements(table)[0]
        for column in table.columns:
            want = "JSONB" if column.json else expected[column.type]
            assert pg_type(column) == want
            assert f"    {column.name} {want}" in ddl


def _columns(conn: Any) -> Dict[str, Dict[str, str]]:
    out: Dict[str, Dict[str, str]] = {}
    for table, column, kind in conn.execute(
        "SELECT table_name, column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = current_schema()"
    ):
        out.setdefault(table, {})[column] = kind
    return out


def test_opening_a_new_database_creates_the_schema_its_indexes_and_version(pg_url: str) -> None:
    """Every table and column of TABLES, every declared index, meta.schema_version."""
    with connect_writer(pg_url) as conn:
        assert read_version(conn) == SCHEMA_VERSION
        columns = _columns(conn)
        indexes = {r[0] for r in conn.execute("SELECT indexname FROM pg_indexes")}
    for table in TABLES:
        assert set(columns[table.name]) == {c.name for c in table.columns} | (
            {"id"} if table.serial else set()
        )
        for column in table.columns:
            assert columns[table.name][column.name] == pg_type(column).lower()
        for suffix, _ in table.indexes:
            assert f"{table.name}_{suffix}" in indexes
    assert columns["meta"] == {"key": "text", "value": "text"}


def test_a_version_1_store_is_upgraded_on_open(pg_url: str) -> None:
    """A store built by the version-1 statements gains version 2's columns, keeping its rows."""
    with connect(pg_url) as conn:
        for statement in MIGRATIONS_PG[1]:
            conn.execute(statement)
        conn.execute("INSERT INTO meta VALUES ('schema_version', '1')")
        conn.execute("INSERT INTO runs (run_id, trace_id, name) VALUES ('r1', 't1', 'old')")
        conn.commit()
        assert "traceback" not in _columns(conn)["runs"]
    with connect_writer(pg_url) as conn:
        assert read_version(conn) == SCHEMA_VERSION
        assert {"traceback", "inputs", "run_type"} <= set(_columns(conn)["runs"])
        assert conn.execute("SELECT name FROM runs").fetchall() == [("old",)]


def test_a_store_from_a_newer_auditora_is_refused(pg_url: str) -> None:
    with connect_writer(pg_url) as conn:
        conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
        conn.commit()
    with pytest.raises(StoreError, match="schema version 99"):
        connect_writer(pg_url).close()


def test_many_openers_at_once_migrate_a_new_database_once(pg_url: str) -> None:
    """The advisory lock serializes concurrent migrations: none fails, one version row."""
    errors: List[BaseException] = []

    def open_it() -> None:
        try:
            connect_writer(pg_url).close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    with connect(pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM meta").fetchone() == (2,)


# -- the same records in both stores ------------------------------------------------


def _workload() -> List[Record]:
    """Real records of every kind the store keeps, from the public API."""
    with capture() as records:

        @sentinel(name="step")
        def step(i: int) -> int:
            report.info("step", i=i, nested={"a": [1, 2.5, None, True]})
            report.log_llm_call(
                "gpt-4o-mini", prompt_tokens=120, completion_tokens=30, response_time=0.42
            )
            report.log_evaluation_result("accuracy", 0.9, threshold=0.8)
            send_message("critic", {"draft": f"v{i}"}, sender="writer")
            return i

        @sentinel(name="fails")
        def fails() -> None:
            raise ValueError("bad input")

        @sentinel(name="root", session_id="s-round-trip")
        def root() -> None:
            for i in range(3):
                step(i)
            with pytest.raises(ValueError):
                fails()

        root()
    made = list(records)
    made += [
        Event("tick", 1_700_000_000_000_000_001, 0.25, {"k": "v"}, None, None, "s-round-trip"),
        MetricSnapshot({"latency": 0.5, "tokens": 7}, 1_700_000_000_000_000_002, None, None, "s1"),
        SessionRecord("s-round-trip", "round trip", ["a", "b"], {"n": 1}, 1_700_000_000_0),
    ]
    return made


def _hostile() -> List[Record]:
    """Values PostgreSQL refuses that SQLite takes, and other hostile ones."""
    t = 1_700_000_000_000_000_000
    nul = "before\x00after"
    no = (None, None, None)
    return [
        Log(
            "INFO", nul, {"k\x00ey": nul, "big": 2**70, "nan": math.nan, "esc": "a\\u0000b"}, t, *no
        ),
        Log("INFO", "lone \ud800 surrogate", {"s": "x\udfffy"}, t + 1, *no),
        Log("INFO", _MB, {"mb": _MB}, t + 2, *no),
        Event("nan", t + 3, math.nan, {"inf": math.inf, "-inf": -math.inf}, *no),
        Event("huge", t + 4, 2**70, {"neg": -(2**64) - 1}, *no),
        LLMCall(
            "m\x00odel",
            2**70,  # input tokens beyond 64 bits
            -(2**70),
            1.5,
            True,
            t + 9,
            None,
            None,
            None,
            provider="p",
            cost=math.nan,
            request={"messages": [{"role": "user", "content": "\x00"}]},
        ),
        Evaluation("score", math.nan, math.inf, "FAIL", t + 5, *no, explanation="\x00why"),
        AgentMessage("a\x00", "b", "chat", {"text": "\x00\ud83d"}, t + 6, *no),
        MetricSnapshot({"m\x00": 2**70, "nan": math.nan}, t + 7, *no),
        SessionRecord("s\x00id", "\x00name", ["\x00"], {"\x00": "\x00"}, t + 8),
    ]


def _order(table: str) -> str:
    return {"runs": "run_id", "sessions": "session_id"}.get(table, "id")


def _sqlite_rows(path: Path) -> Dict[str, List[Dict[str, Any]]]:
    conn = sqlite3.connect(path)
    out: Dict[str, List[Dict[str, Any]]] = {}
    try:
        for table in TABLES:
            names = [c.name for c in table.columns]
            rows = conn.execute(
                f"SELECT {', '.join(names)} FROM {table.name} ORDER BY {_order(table.name)}"
            ).fetchall()
            out[table.name] = [
                {
                    n: (json.loads(v) if c.json and v is not None else v)
                    for n, c, v in zip(names, table.columns, row)
                }
                for row in rows
            ]
    finally:
        conn.close()
    return out


def _pg_rows(url: str) -> Dict[str, List[Dict[str, Any]]]:
    out: Dict[str, List[Dict[str, Any]]] = {}
    with connect(url) as conn:
        for table in TABLES:
            names = [c.name for c in table.columns]
            rows = conn.execute(
                f"SELECT {', '.join(names)} FROM {table.name} ORDER BY {_order(table.name)}"
            ).fetchall()
            out[table.name] = [dict(zip(names, row)) for row in rows]
    return out


def _sanitised(value: Any) -> Any:
    """What PostgreSQL keeps of a value SQLite keeps (docs/store.md, "PostgreSQL")."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {_sanitised(k): _sanitised(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_sanitised(v) for v in value]
    return value


def _typed(value: Any, sql_type: str) -> Any:
    """A typed SQLite value as the PostgreSQL column holds it."""
    if sql_type == "REAL" and isinstance(value, str):
        return float(value)  # SQLite keeps the text "NaN" / "Infinity"
    if sql_type == "INTEGER" and isinstance(value, float):
        if math.isnan(value):
            return None
        return (
            max(min(round(value), 2**63 - 1), -(2**63))
            if math.isfinite(value)
            else (2**63 - 1 if value > 0 else -(2**63))
        )
    return _sanitised(value)


def _same(a: Any, b: Any) -> bool:
    """Equal, with NaN equal to itself and JSON numbers compared as numbers
    (JSONB keeps 1e300 as the integer it equals)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    numbers = (int, float)
    if isinstance(a, numbers) and isinstance(b, numbers) and type(a) is not bool:
        if isinstance(a, float) or isinstance(b, float):
            fa, fb = float(a), float(b)
            return (math.isnan(fa) and math.isnan(fb)) or fa == fb
        return bool(a == b)
    return bool(a == b and type(a) is type(b))


def _write_both(tmp_path: Path, url: str, records: Sequence[Record]) -> None:
    conn = sqlite_writer(str(tmp_path / "same.db"))
    try:
        assert write_records(conn, records) == sum(
            len(r.metrics) if isinstance(r, MetricSnapshot) else 1 for r in records
        ) - sum(len(r.metrics) - 1 for r in records if isinstance(r, MetricSnapshot))
    finally:
        conn.close()
    writer = PostgresWriter(url)
    try:
        written = writer.write(serialize(records))
    finally:
        writer.close()
    assert written.unstorable == {}
    assert written.stored == len(records)


def _compare(tmp_path: Path, url: str) -> int:
    lite, pg = _sqlite_rows(tmp_path / "same.db"), _pg_rows(url)
    compared = 0
    for table in TABLES:
        assert len(pg[table.name]) == len(lite[table.name]), table.name
        for expected, got in zip(lite[table.name], pg[table.name]):
            for column in table.columns:
                want = expected[column.name]
                want = _sanitised(want) if column.json else _typed(want, column.type)
                assert _same(want, got[column.name]), (table.name, column.name, want, got)
                compared += 1
    return compared


def test_every_record_kind_is_stored_as_the_sqlite_store_keeps_it(
    tmp_path: Path, pg_url: str
) -> None:
    """Real records of every kind: the same rows, column by column, in both stores."""
    records = _workload()
    assert {r.kind for r in records} >= {
        "run",
        "event",
        "log",
        "llm_call",
        "evaluation",
        "agent_message",
        "metric",
        "session",
    }
    _write_both(tmp_path, pg_url, records)
    assert _compare(tmp_path, pg_url) > 200
    tables = _pg_rows(pg_url)
    assert all(tables[t.name] for t in TABLES), "every table holds rows"


def test_hostile_values_are_stored_sanitised_never_lost(tmp_path: Path, pg_url: str) -> None:
    """NUL characters, lone surrogates, 1 MB strings, integers beyond 2**63, NaN and the
    infinities: every record stored; NUL becomes U+FFFD; integer columns clamp to 64 bits."""
    records = _hostile()
    _write_both(tmp_path, pg_url, records)
    _compare(tmp_path, pg_url)
    with connect(pg_url) as conn:
        logs = conn.execute("SELECT message, fields FROM logs ORDER BY id").fetchall()
        call = conn.execute(
            "SELECT model, input_tokens, output_tokens, cost FROM llm_calls"
        ).fetchone()
        duration = conn.execute("SELECT duration FROM events WHERE name = 'nan'").fetchone()
    assert logs[0][0] == "before\ufffdafter"
    assert logs[0][1]["big"] == 2**70  # JSONB numbers are exact
    assert logs[0][1]["esc"] == "a\\u0000b"  # an escaped backslash is no NUL
    assert logs[0][1]["nan"] == "NaN"  # as the serializer writes NaN, in both stores
    assert logs[1][0] == "lone \ufffd surrogate"
    # A 1 MB string is bounded by the serializer (max_string_length) for both stores alike.
    assert logs[2][0].startswith("m" * 10_000) and logs[2][1]["mb"].startswith("m" * 10_000)
    assert call[:3] == ("m\ufffdodel", 2**63 - 1, -(2**63))
    assert math.isnan(call[3]) and math.isnan(duration[0])


def test_one_hostile_record_costs_no_other_record(pg_url: str) -> None:
    """A batch mixing a NUL-laden record with plain ones is stored whole (sanitised)."""
    t = 1_700_000_000_000_000_000
    records: List[Record] = [
        Log("INFO", f"plain {i}", {}, t + i, None, None, None) for i in range(50)
    ]
    records.insert(25, Log("INFO", "\x00", {"\x00": 1}, t, None, None, None))
    writer = PostgresWriter(pg_url)
    try:
        written = writer.write(serialize(records))
    finally:
        writer.close()
    assert (written.stored, written.unstorable) == (51, {})
    with connect(pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM logs").fetchone() == (51,)


def test_a_run_whose_session_id_holds_nul_is_kept_with_its_session(pg_url: str) -> None:
    """A NUL in a run's session id (the session's span row is written too) costs nothing:
    the run, its neighbours and the session are stored, the NUL made U+FFFD."""
    from auditora.store._writer import parts_of_rows

    rows: List[Dict[str, Any]] = [
        {
            "kind": "run",
            "run_id": f"r{i}",
            "trace_id": "t",
            "session_id": "plain",
            "start_ns": 10 + i,
            "end_ns": 20 + i,
            "status": "ok",
        }
        for i in range(4)
    ]
    rows.insert(
        2,
        {
            "kind": "run",
            "run_id": "r-nul",
            "trace_id": "t",
            "session_id": "s\x00id",
            "start_ns": 5,
            "end_ns": 50,
            "status": "ok",
        },
    )
    writer = PostgresWriter(pg_url)
    try:
        written = writer.write(parts_of_rows(rows))
    finally:
        writer.close()
    assert (written.stored, written.unstorable) == (5, {})
    with connect(pg_url) as conn:
        runs = conn.execute("SELECT run_id, session_id FROM runs ORDER BY run_id").fetchall()
        sessions = conn.execute(
            "SELECT session_id, first_ns, last_ns FROM sessions ORDER BY session_id"
        ).fetchall()
    assert ("r-nul", "s\ufffdid") in runs and len(runs) == 5
    assert sessions == [("plain", 10, 23), ("s\ufffdid", 5, 50)]


def test_an_unstorable_record_is_isolated_and_counted_by_kind(pg_url: str) -> None:
    """A run without a trace id breaks NOT NULL in both stores: it alone is lost."""
    rows: List[Dict[str, Any]] = [
        {"kind": "event", "name": f"e{i}", "time_ns": i} for i in range(10)
    ]
    rows.insert(4, {"kind": "run", "run_id": "r-bad", "trace_id": None, "name": "bad"})
    from auditora.store._writer import parts_of_rows

    writer = PostgresWriter(pg_url)
    try:
        written = writer.write(parts_of_rows(rows))
    finally:
        writer.close()
    assert written.stored == 10
    assert written.unstorable == {"run": 1}
    assert "NotNullViolation" in written.reasons["run"]
    with connect(pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM events").fetchone() == (10,)


def test_a_retried_batch_never_duplicates_runs_and_sessions_keep_their_span(pg_url: str) -> None:
    """Runs are upserted by run_id (a re-sent run replaces itself); a session's first and
    last times widen over batches; its state is the latest."""
    from auditora.store._writer import parts_of_rows

    def run(rid: str, start: int, end: int, status: str) -> Dict[str, Any]:
        return {
            "kind": "run",
            "run_id": rid,
            "trace_id": "t",
            "session_id": "s",
            "start_ns": start,
            "end_ns": end,
            "status": status,
        }

    writer = PostgresWriter(pg_url)
    try:
        batch = [run("a", 10, 20, "ok"), run("b", 30, 40, "ok")]
        writer.write(parts_of_rows(batch))
        writer.write(parts_of_rows(batch))  # the same batch again
        writer.write(parts_of_rows([run("a", 5, 50, "error"), run("a", 5, 60, "error")]))
        writer.write(
            parts_of_rows(
                [
                    {"kind": "session", "session_id": "s", "name": "new", "time_ns": 2},
                    {"kind": "session", "session_id": "s", "name": "old", "time_ns": 1},
                ]
            )
        )
    finally:
        writer.close()
    with connect(pg_url) as conn:
        runs = conn.execute("SELECT run_id, end_ns, status FROM runs ORDER BY run_id").fetchall()
        session = conn.execute("SELECT name, first_ns, last_ns FROM sessions").fetchall()
    assert runs == [("a", 60, "error"), ("b", 40, "ok")]
    assert session == [("new", 5, 60)]


def test_the_same_columns_are_declared_for_both_backends() -> None:
    """The PostgreSQL DDL is generated from TABLES, not kept apart (no copy to drift)."""
    for name, table in BY_NAME.items():
        ddl = create_statements(table)[0]
        assert ddl.startswith(f"CREATE TABLE IF NOT EXISTS {name} (")
        assert ddl.count(",\n") == len(table.columns) - 1 + (1 if table.serial else 0)
