"""Reading a store: sessions, runs, trace trees, records, aggregates, errors.

The reader's tests run on both backends (``store_url``: SQLite and PostgreSQL) and
expect the very same answers; the file-specific ones (a corrupt file, a reader's
lock) and the PostgreSQL-specific ones (no schema yet, a read-only transaction,
an unreachable server) say which backend they are about.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any, Dict, List

import pytest

from _backends import is_postgres, pg_server, pg_url, store_url
from _backends import write as write_to
from auditora.store import SCHEMA_VERSION, StoreError, open_store, write_batch

_ = (pg_server, pg_url, store_url)  # fixtures

T = "t" * 32


def _run(run_id: str, parent: Any, start: int, end: int, status: str = "ok", sid: str = "s1"):
    return {
        "kind": "run",
        "run_id": run_id,
        "trace_id": T,
        "parent_id": parent,
        "name": f"r{run_id[0]}",
        "session_id": sid,
        "start_ns": start,
        "end_ns": end,
        "duration_ns": end - start,
        "status": status,
        "run_kind": "function",
        "attributes": {"a": 1},
    }


RECORDS: List[Dict[str, Any]] = [
    _run("a" * 16, None, 10, 100),
    _run("b" * 16, "a" * 16, 20, 50, "error"),
    _run("c" * 16, "a" * 16, 60, 90),
    _run("d" * 16, "b" * 16, 25, 30),
    _run("e" * 16, "z" * 16, 5, 6, sid="s2"),
    {
        "kind": "event",
        "name": "step",
        "time_ns": 21,
        "metadata": {"k": [1]},
        "session_id": "s1",
        "run_id": "b" * 16,
        "trace_id": T,
    },
    {
        "kind": "log",
        "level": "ERROR",
        "message": "boom",
        "fields": {},
        "time_ns": 22,
        "session_id": "s1",
        "run_id": "b" * 16,
        "trace_id": T,
    },
    {
        "kind": "llm_call",
        "model": "gpt-4",
        "input_tokens": 10,
        "output_tokens": 5,
        "success": False,
        "cost": 0.25,
        "request": {"temperature": 0},
        "time_ns": 23,
        "session_id": "s1",
        "run_id": "c" * 16,
        "trace_id": T,
    },
    {
        "kind": "evaluation",
        "metric_name": "coh",
        "value": 0.9,
        "threshold": 0.5,
        "status": "PASS",
        "time_ns": 24,
        "session_id": "s1",
    },
    {
        "kind": "evaluation",
        "metric_name": "coh",
        "value": 0.1,
        "threshold": 0.5,
        "status": "FAIL",
        "time_ns": 25,
        "session_id": "s1",
    },
    {
        "kind": "agent_message",
        "sender": "a",
        "recipient": "b",
        "message_kind": "handoff",
        "content": {"text": "hi"},
        "time_ns": 26,
        "session_id": "s1",
    },
    {"kind": "metric", "metrics": {"m": 1.0}, "time_ns": 30, "session_id": "s1"},
    {"kind": "metric", "metrics": {"m": 2.0, "n": 5}, "time_ns": 40, "session_id": "s1"},
    {
        "kind": "session",
        "session_id": "s1",
        "name": "first",
        "tags": ["x"],
        "state": {"k": "v"},
        "time_ns": 200,
    },
    {
        "kind": "session",
        "session_id": "s1",
        "name": "older",
        "tags": [],
        "state": {},
        "time_ns": 150,
    },
    {"kind": "mystery", "value": 1},
]


@pytest.fixture
def store_path(store_url: str) -> str:
    """RECORDS in a store of each backend (created by ``open_store(readonly=False)``)."""
    open_store(store_url, readonly=False).close()
    assert write_to(store_url, RECORDS) == len(RECORDS) - 1
    return store_url


@pytest.fixture
def sqlite_path(tmp_path: Path) -> Path:
    """RECORDS in a SQLite file (for the tests about files)."""
    path = tmp_path / "a.db"
    with open_store(path, readonly=False) as writer:
        assert write_batch(writer._conn, RECORDS) == len(RECORDS) - 1
    return path


def test_sessions_with_aggregates(store_path: str) -> None:
    """sessions() lists every session with its counts, tokens, cost and pass rate."""
    with open_store(store_path) as store:
        by_id = {s["session_id"]: s for s in store.sessions()}
    s1 = by_id["s1"]
    assert sorted(by_id) == ["s1", "s2"]
    assert (s1["name"], s1["tags"], s1["state"]) == ("first", ["x"], {"k": "v"})
    assert (s1["run_count"], s1["error_count"], s1["error_logs"]) == (4, 1, 1)
    assert (s1["first_ns"], s1["last_ns"], s1["duration_ns"]) == (10, 100, 90)
    assert (s1["llm_calls"], s1["total_tokens"], s1["cost"]) == (1, 15, 0.25)
    assert (s1["evaluations"], s1["evaluations_passed"], s1["eval_pass_rate"]) == (2, 1, 0.5)
    assert (by_id["s2"]["eval_pass_rate"], by_id["s2"]["state"]) == (None, {})


def test_session_lookup(store_path: str) -> None:
    """session(id) returns one session or None."""
    with open_store(store_path) as store:
        assert (store.session("s2")["run_count"], store.session("nope")) == (1, None)


def test_runs_and_run(store_path: str) -> None:
    """runs() filters by session, trace and status; run() finds one by id."""
    with open_store(store_path) as store:
        assert [r["name"] for r in store.runs(session_id="s1")] == ["ra", "rb", "rd", "rc"]
        assert [r["name"] for r in store.runs(status="error")] == ["rb"]
        assert len(store.runs(trace_id=T, limit=2)) == 2
        assert store.run("b" * 16)["attributes"] == {"a": 1}
        assert store.run("0" * 16) is None


def test_trace_tree_nests_children(store_path: str) -> None:
    """trace_tree() nests runs under their parents; an orphan is a root."""

    def shape(nodes: List[Dict[str, Any]]) -> list:
        return [(n["name"], shape(n["children"])) for n in nodes]

    with open_store(store_path) as store:
        tree = store.trace_tree(T)
    assert shape(tree) == [("re", []), ("ra", [("rb", [("rd", [])]), ("rc", [])])]


def test_traces_listing(store_path: str) -> None:
    """traces() summarises each trace with its root name and error count."""
    with open_store(store_path) as store:
        assert store.traces() == [
            {
                "trace_id": T,
                "start_ns": 5,
                "end_ns": 100,
                "run_count": 5,
                "error_count": 1,
                "root_name": "re",
            }
        ]


def test_record_queries(store_path: str) -> None:
    """events, logs, llm_calls, evaluations, agent_messages and metrics decode JSON columns."""
    with open_store(store_path) as store:
        assert [e["metadata"] for e in store.events(run_id="b" * 16)] == [{"k": [1]}]
        assert [x["message"] for x in store.logs(level="ERROR")] == ["boom"]
        call = store.llm_calls(model="gpt-4")[0]
        assert (call["success"], call["request"]) == (False, {"temperature": 0})
        assert [e["status"] for e in store.evaluations(metric_name="coh")] == ["PASS", "FAIL"]
        assert store.evaluations(status="FAIL")[0]["value"] == 0.1
        assert store.agent_messages()[0]["content"] == {"text": "hi"}
        assert [(m["name"], m["value"]) for m in store.metrics("s1", name="m")] == [
            ("m", 1.0),
            ("m", 2.0),
        ]
        assert store.latest_metrics("s1") == {"m": 2.0, "n": 5.0}


def test_summary(store_path: str) -> None:
    """summary() gives store-wide totals."""
    with open_store(store_path) as store:
        s = store.summary()
    assert (s["sessions"], s["runs"], s["traces"], s["errors"]) == (2, 5, 1, 1)
    assert (s["llm_calls"], s["total_tokens"], s["eval_pass_rate"]) == (1, 15, 0.5)
    assert (s["metrics"], s["schema_version"]) == (3, SCHEMA_VERSION)


def test_missing_file_raises_store_error(tmp_path: Path) -> None:
    """Opening a missing store read-only raises StoreError and creates nothing."""
    with pytest.raises(StoreError):
        open_store(tmp_path / "missing.db")
    assert list(tmp_path.iterdir()) == []


def test_corrupt_file_raises_store_error(tmp_path: Path) -> None:
    """A file that is not SQLite raises StoreError."""
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"not a database at all" * 100)
    with pytest.raises(StoreError):
        open_store(bad)


def test_foreign_database_raises_store_error(tmp_path: Path) -> None:
    """A SQLite database without Auditora's meta table raises StoreError."""
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError):
        open_store(other)


def _set_version(target: str, version: int) -> None:
    if is_postgres(target):
        import psycopg

        with psycopg.connect(target, autocommit=True) as pg:
            pg.execute("UPDATE meta SET value = %s WHERE key = 'schema_version'", (str(version),))
        return
    conn = sqlite3.connect(target)
    conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(version),))
    conn.commit()
    conn.close()


def test_newer_schema_is_refused(store_path: str) -> None:
    """A store from a newer Auditora is refused for reading and writing."""
    _set_version(store_path, 99)
    with pytest.raises(StoreError, match="schema version 99"):
        open_store(store_path)
    with pytest.raises(StoreError, match="schema version 99"):
        open_store(store_path, readonly=False)


def test_migration_is_idempotent(store_path: str) -> None:
    """Opening an up-to-date store for writing again keeps its data."""
    with open_store(store_path, readonly=False) as store:
        assert (store.schema_version(), store.summary()["runs"]) == (SCHEMA_VERSION, 5)


def test_reader_does_not_block_writer(sqlite_path: Path) -> None:
    """A read-only store with an open read transaction does not block a writer."""
    reader = open_store(sqlite_path)
    reader._conn.execute("BEGIN")
    reader._conn.execute("SELECT count(*) FROM runs").fetchone()
    writer = sqlite3.connect(sqlite_path, timeout=0.5)
    writer.execute("INSERT INTO logs (level, message) VALUES ('INFO', 'while reading')")
    writer.commit()
    writer.close()
    reader._conn.execute("COMMIT")
    assert [x["message"] for x in reader.logs(level="INFO")] == ["while reading"]
    reader.close()


def test_read_only_store_refuses_writes(store_path: str) -> None:
    """A read-only store cannot modify its file or database (PostgreSQL: every
    transaction is read-only), even through the query plumbing other modules use."""
    with open_store(store_path) as store:
        if is_postgres(store_path):
            import psycopg

            with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
                store._conn.execute("DELETE FROM runs")
        else:
            with pytest.raises(sqlite3.OperationalError):
                store._conn.execute("DELETE FROM runs")
        with pytest.raises(StoreError, match=r"read-only|readonly"):
            store._query("DELETE FROM logs WHERE level = ?", ["ERROR"])
    with open_store(store_path) as store:
        assert store.summary()["runs"] == 5 and store.logs(level="ERROR")


def test_query_takes_portable_sql_with_question_mark_placeholders(store_path: str) -> None:
    """Store._query translates ``?`` for the backend, leaves a ``?`` or ``%`` inside a
    literal alone, and returns ints as ints and JSON columns decoded."""
    with open_store(store_path) as store:
        rows = store._query(
            "SELECT run_id, attributes, start_ns, '?%' AS mark FROM runs"
            " WHERE session_id = ? AND name LIKE ? ORDER BY start_ns LIMIT ?",
            ["s1", "r%", 2],
        )
        total = store._query(
            "SELECT sum(start_ns) AS total, avg(start_ns) AS mean, count(*) AS n FROM runs"
        )
    assert [(r["run_id"], r["attributes"], r["mark"]) for r in rows] == [
        ("a" * 16, {"a": 1}, "?%"),
        ("b" * 16, {"a": 1}, "?%"),
    ]
    assert type(rows[0]["start_ns"]) is int
    assert total == [{"total": 120, "mean": 24.0, "n": 5}]
    assert type(total[0]["total"]) is int and type(total[0]["mean"]) is float


def test_a_store_answers_alike_on_both_backends(tmp_path: Path, pg_url: str) -> None:
    """The same records give equal answers from every reader method on SQLite and
    PostgreSQL (apart from the insertion ids, which each backend numbers itself)."""
    lite = str(tmp_path / "same.db")
    for target in (lite, pg_url):
        open_store(target, readonly=False).close()
        write_to(target, RECORDS)

    def answers(store: Any) -> List[Any]:
        return [
            store.sessions(),
            store.session("s1"),
            store.runs(),
            store.traces(),
            store.trace_tree(T),
            store.trace_outline(T),
            store.events(),
            store.logs(),
            store.llm_calls(),
            store.evaluations(),
            store.agent_messages(),
            store.metrics(),
            store.latest_metrics("s1"),
            {k: v for k, v in store.summary().items()},
            store.find_runs(sort="cost").to_dict(),
            store.find_runs(text="boom").to_dict(),
            store.find_traces(status="error").to_dict(),
            store.find_sessions(text="FIRST").to_dict(),
            store.find_llm_calls(status="error").to_dict(),
            store.find_evaluations(sort="value").to_dict(),
            store.resolve_id("aaaa"),
            store.sessions_by_prefix("s"),
        ]

    def without_ids(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: without_ids(v) for k, v in value.items() if k != "id"}
        if isinstance(value, list):
            return [without_ids(v) for v in value]
        return value

    with open_store(lite) as a, open_store(pg_url) as b:
        left, right = without_ids(answers(a)), without_ids(answers(b))
    for got, want in zip(right, left):
        assert got == want
        assert repr(got) == repr(want)  # the same types too (1 is not 1.0)


def test_a_database_with_no_schema_is_refused_read_only_and_created_for_writing(
    pg_url: str,
) -> None:
    """Read-only, an empty PostgreSQL database is a StoreError (and stays empty);
    readonly=False creates the schema, and then it reads as an empty store."""
    import psycopg

    with pytest.raises(StoreError, match="no Auditora store at postgresql://"):
        open_store(pg_url)
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT to_regclass('meta')").fetchone() == (None,)
    with open_store(pg_url, readonly=False) as store:
        assert (store.schema_version(), store.sessions(), store.backend) == (
            SCHEMA_VERSION,
            [],
            "postgresql",
        )
    with open_store(pg_url) as store:
        assert store.summary()["runs"] == 0 and store.readonly


def test_a_postgres_password_never_shows_in_errors_or_repr(pg_url: str) -> None:
    """The password is masked in the store's repr and path, and in the error of a
    server that cannot be reached."""
    from pg_server import free_port

    secret = "s3cr3t-pw"
    url = pg_url.replace("postgres@", f"postgres:{secret}@")  # (trust: any password goes)
    open_store(url, readonly=False).close()
    with open_store(url) as store:
        assert secret not in repr(store) and secret not in store.path
        assert "***" in store.path
    dead = f"postgresql://ann:{secret}@127.0.0.1:{free_port()}/db?connect_timeout=2"
    with pytest.raises(StoreError) as caught:
        open_store(dead)
    assert secret not in str(caught.value) and "postgresql://ann:***@" in str(caught.value)


def test_an_unknown_store_scheme_is_an_error_not_a_file(tmp_path: Path) -> None:
    """mysql://... is refused, and no file or directory is created for it."""
    import os

    here = os.getcwd()
    os.chdir(tmp_path)
    try:
        with pytest.raises(StoreError, match="unknown store scheme"):
            open_store("mysql://u@h/db")
        assert list(tmp_path.iterdir()) == []
    finally:
        os.chdir(here)


def test_a_sqlite_url_opens_the_file(sqlite_path: Path) -> None:
    """sqlite:///abs/path names the same store as the path."""
    with open_store(f"sqlite://{sqlite_path}") as store:  # sqlite:///tmp/...
        assert store.summary()["runs"] == 5 and store.backend == "sqlite"


def test_record_rows_match_serialized_rows(tmp_path: Path) -> None:
    """Rows built from record objects equal rows built from their to_jsonable dicts."""
    import math

    from auditora._serialize import to_jsonable
    from auditora.records import Evaluation, Event, LLMCall, Log, MetricSnapshot, SessionRecord
    from auditora.store import write_records

    records = [
        Event("e", 1, 0.5, {"k": [1, 2], "bad": math.nan, "o": object}, "r" * 16, T, "s"),
        Log("INFO", "m" * 20_000, {"x": {1: "a"}}, 2, None, None, "s"),
        LLMCall("gpt", 1, 2, 0.1, True, 3, None, None, "s", cost=math.inf, request={"t": 0}),
        Evaluation("coh", math.nan, 0.5, "FAIL", 4, None, None, "s"),
        MetricSnapshot({"m": 1.5}, 5, None, None, "s"),
        SessionRecord("s", "name", ["t"], {"state": [1]}, 6),
    ]
    dumps = []
    for name, write in (
        ("objects.db", lambda c: write_records(c, records)),
        ("dicts.db", lambda c: write_batch(c, [to_jsonable(r) for r in records])),
    ):
        with open_store(tmp_path / name, readonly=False) as store:
            assert write(store._conn) == len(records)
            dumps.append(
                [
                    store.events(),
                    store.logs(),
                    store.llm_calls(),
                    store.evaluations(),
                    store.metrics(),
                    store.sessions(),
                ]
            )
    assert dumps[0] == dumps[1]


def test_a_lost_postgres_connection_is_reopened() -> None:
    """A server stopped and restarted under an open store: the query that meets the
    dead connection is a StoreError while the server is down, then the store reconnects
    by itself and answers as before (the viewer keeps serving). (A fast shutdown: after a
    kill -9 a backend may outlive its postmaster for a moment and answer once more.)"""
    import pg_server as _pg

    if _pg.skip_reason():
        pytest.skip(_pg.skip_reason() or "")
    server = _pg.PgServer()
    try:
        server.start()
        url = server.create_database("lost")
        open_store(url, readonly=False).close()
        write_to(url, RECORDS)
        with open_store(url) as store:
            assert store.summary()["runs"] == 5
            server.stop()
            with pytest.raises(StoreError) as caught:
                store.sessions()
            assert "cannot" in str(caught.value)
            server.start()
            assert store.summary()["runs"] == 5
            assert store.readonly and store.find_runs(status="error").total == 1
    finally:
        server.close()
