"""The PostgreSQL sink: the SQLite sink's contract over a real server, lazy connection,
credentials never shown, and the install hint when psycopg is missing."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

import auditora
import pg_server as _pg
from auditora import report, sentinel
from auditora.sinks import SinkWriteError
from auditora.sinks.postgres import PostgresSink
from auditora.store import StoreError
from auditora.store._postgres import PostgresWriter, connect

pg_server, pg_url = _pg.pg_server, _pg.pg_url

SECRET = "Tr0ub4dor-secret"
ROOT = Path(__file__).resolve().parent.parent


def test_configure_store_writes_into_postgresql(pg_url: str) -> None:
    """configure(store="postgresql://...") keeps the records there; stats() names the store."""
    auditora.configure(store=pg_url, console=False)

    @sentinel(name="hello")
    def hello() -> None:
        report.info("hi")

    hello()
    assert auditora.flush(timeout=30)
    with connect(pg_url) as conn:
        assert conn.execute("SELECT name FROM runs").fetchall() == [("hello",)]
        assert conn.execute("SELECT message FROM logs").fetchall() == [("hi",)]
    stats = auditora.stats()["sinks"]["postgres"]
    assert stats["store"] == pg_url
    assert stats["exported"] >= 2 and stats["unstorable"] == {} and stats["unreachable"] == 0


def test_the_sink_connects_on_its_first_batch_only() -> None:
    """Building the sink (configure time) opens nothing: an unreachable server is fine then."""
    sink = PostgresSink("postgresql://nobody@127.0.0.1:9/none")
    assert sink.stats()["reconnects"] == 0
    sink.close()


def test_a_record_the_store_refuses_costs_that_record_alone(
    pg_url: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run without a trace id (NOT NULL) is left out, counted, logged once, masked."""
    import auditora.sinks._store as module
    from auditora.store._writer import parts_of_rows

    url = pg_url.replace("postgres@", f"postgres:{SECRET}@")  # trust auth ignores it
    sink = PostgresSink(url)
    rows = [{"kind": "log", "message": f"m{i}", "time_ns": i} for i in range(4)]
    rows.insert(2, {"kind": "run", "run_id": "r", "trace_id": None, "name": "bad"})
    # The recorder never makes such a run: the batch's serialization is given as rows.
    monkeypatch.setattr(module, "serialized", lambda batch: parts_of_rows(rows))
    with (
        caplog.at_level(logging.WARNING, logger="auditora"),
        pytest.raises(SinkWriteError) as caught,
    ):
        sink.export([None] * 5)  # type: ignore[list-item]
        sink.flush()  # the writer process's answer
    assert caught.value.records_lost == 1 and caught.value.reason == "unstorable"
    assert sink.stats()["unstorable"] == {"run": 1}
    assert "cannot keep a run record" in caplog.text
    for shown in (
        str(caught.value),
        caplog.text,
        repr(sink.stats()),
        repr(sink),
        repr(PostgresWriter(url)),
    ):
        assert SECRET not in shown
    with connect(pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM logs").fetchone() == (4,)
    sink.close()


def test_credentials_are_never_shown_when_the_server_is_unreachable(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Errors, the recorder's log line, stats() and repr all show the URL masked."""
    url = f"postgresql://ann:{SECRET}@127.0.0.1:{_pg.free_port()}/db"
    sink = PostgresSink(url, retry_for=0.3, connect_timeout=1)
    auditora.configure(sinks=[sink], console=False)

    @sentinel(name="lost")
    def lost() -> None:
        pass

    with caplog.at_level(logging.DEBUG, logger="auditora"):
        lost()
        assert not auditora.flush(timeout=30)
    stats = auditora.stats()
    # The run and its session's record (a session's first run brings one).
    assert stats["sinks"]["postgres"]["dropped"] == {"unreachable": 2}
    assert stats["sinks"]["postgres"]["store"] == url.replace(SECRET, "***")
    assert "failed to export" in caplog.text
    for shown in (caplog.text, repr(stats), repr(sink), repr(PostgresWriter(url))):
        assert SECRET not in shown, shown
    assert "ann:***@127.0.0.1" in caplog.text


def test_a_non_postgresql_url_is_refused() -> None:
    with pytest.raises(StoreError, match="not a postgresql:// URL"):
        PostgresSink("/tmp/a.db")


def test_a_missing_psycopg_gives_the_install_hint(tmp_path: Path) -> None:
    """With psycopg blocked (sys.modules['psycopg'] = None), configure and the store say
    pip install 'auditora[postgres]'; importing auditora still works (core: stdlib only)."""
    code = (
        "import sys\n"
        "sys.modules['psycopg'] = None\n"
        "import auditora\n"
        "from auditora.store import StoreError\n"
        "from auditora.store._postgres import psycopg_module\n"
        "for attempt in (lambda: auditora.configure(store='postgresql://u:pw@127.0.0.1/d'),\n"
        "                psycopg_module):\n"
        "    try:\n"
        "        attempt()\n"
        "    except StoreError as exc:\n"
        "        print(exc)\n"
        "print('psycopg' in sys.modules and sys.modules['psycopg'] is not None)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 3
    assert all("pip install 'auditora[postgres]'" in line for line in lines[:2])
    assert "pw" not in lines[0]
    assert lines[2] == "False"


def test_import_auditora_does_not_import_psycopg() -> None:
    """The extra is imported lazily: not by import auditora, nor by building the sink."""
    code = (
        "import sys, auditora\n"
        "from auditora.sinks.postgres import PostgresSink\n"
        "PostgresSink('postgresql://u@127.0.0.1:9/d')\n"
        "print('psycopg' in sys.modules)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.stdout.strip() == "False", done.stderr


@pytest.mark.parametrize("process", [True, False], ids=["writer-process", "in-process"])
def test_a_forked_child_writes_over_its_own_connection(pg_url: str, process: bool) -> None:
    """After fork, the child forgets the parent's writer process or connection (never
    touching it) and starts its own; both processes' records are stored."""
    if not hasattr(os, "fork"):
        pytest.skip("no fork here")
    auditora.configure(sinks=[PostgresSink(pg_url, process=process)], console=False)

    @sentinel(name="step")
    def step(who: str) -> None:
        report.info(who)

    step("parent-before")
    assert auditora.flush(timeout=30)
    pid = os.fork()
    if pid == 0:  # the child
        try:
            step("child")
            os._exit(0 if auditora.flush(timeout=30) else 1)
        except BaseException:
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    step("parent-after")
    assert auditora.flush(timeout=30)
    with connect(pg_url) as conn:
        messages = sorted(r[0] for r in conn.execute("SELECT message FROM logs"))
    assert messages == ["child", "parent-after", "parent-before"]


def test_a_malformed_url_is_a_masked_store_error() -> None:
    """libpq's complaint about a bad URL can quote it: the error shows it masked."""
    with pytest.raises(StoreError) as caught:
        connect(f"postgresql://ann:{SECRET}@127.0.0.1:5432/db?bogus_option=1")
    assert SECRET not in str(caught.value)
    assert "ann:***@" in str(caught.value)
