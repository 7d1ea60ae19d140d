"""The SQLite sink writes batches into a real store file."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from auditora.records import Event, Log
from auditora.sinks import RecordBatch, SinkWriteError, SQLiteSink
from auditora.store import open_store


def test_file_is_created_lazily(tmp_path: Path) -> None:
    """Creating the sink touches nothing; the first batch creates and migrates the file."""
    path = tmp_path / "s.db"
    sink = SQLiteSink(path)
    assert not path.exists()
    sink.export(RecordBatch([Event("e", 1, None, {"a": [1, 2]}, "r" * 16, "t" * 32, "s")]))
    sink.close(1.0)
    with open_store(path) as store:
        assert [(e["name"], e["metadata"], e["session_id"]) for e in store.events()] == [
            ("e", {"a": [1, 2]}, "s")
        ]


def test_wal_mode_and_schema_version(tmp_path: Path) -> None:
    """The store uses WAL and records schema version 1."""
    path = tmp_path / "s.db"
    sink = SQLiteSink(path)
    sink.export([Log("INFO", "m", {}, 1, None, None, None)])
    sink.close(1.0)
    conn = sqlite3.connect(path)
    mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    version = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0]
    conn.close()
    assert (mode, version) == ("wal", "1")


def test_failed_batch_is_rolled_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch that fails half-way leaves nothing of itself in the store and is reported
    (with the number of records lost) by the next flush."""
    path = tmp_path / "s.db"
    sink = SQLiteSink(path)
    sink.export([Log("INFO", "first", {}, 1, None, None, None)])
    from auditora.store import _writer

    # The event insert fails inside the transaction, after the log row went in.
    monkeypatch.setitem(_writer._SQL, "event", "INSERT INTO nowhere VALUES (?)")
    batch = [
        Log("INFO", "second", {}, 2, None, None, None),
        Event("e", 2, None, {}, None, None, None),
    ]
    sink.export(batch)
    with pytest.raises(SinkWriteError) as failure:
        sink.flush(10)
    sink.close(1.0)
    assert failure.value.records_lost == 2
    with open_store(path) as store:
        assert ([r["message"] for r in store.logs()], store.events()) == (["first"], [])


def test_writes_inline_when_no_thread_can_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At interpreter shutdown (no new threads) the sink commits the batch itself."""
    import threading

    from auditora.sinks import sqlite as sqlite_module

    class NoThread(threading.Thread):
        def start(self) -> None:
            raise RuntimeError("can't create new thread at interpreter shutdown")

    monkeypatch.setattr(sqlite_module.threading, "Thread", NoThread)
    sink = SQLiteSink(tmp_path / "s.db")
    sink.export([Log("INFO", "late", {}, 1, None, None, None)])
    sink.close(1.0)
    with open_store(tmp_path / "s.db") as store:
        assert [r["message"] for r in store.logs()] == ["late"]
