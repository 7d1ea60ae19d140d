"""The SQLite sink writes batches into a real store file."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from auditora.records import Event, Log
from auditora.sinks import RecordBatch, SinkWriteError, SQLiteSink
from auditora.store import SCHEMA_VERSION, open_store


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
    """The store uses WAL and records the current schema version."""
    path = tmp_path / "s.db"
    sink = SQLiteSink(path)
    sink.export([Log("INFO", "m", {}, 1, None, None, None)])
    sink.close(1.0)
    conn = sqlite3.connect(path)
    mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    version = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0]
    conn.close()
    assert (mode, version) == ("wal", str(SCHEMA_VERSION)) == ("wal", "6")


def test_store_failure_rolls_the_whole_batch_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure of the store itself (here: a missing table) mid-batch leaves nothing of
    the batch in the store and raises, so the recorder counts the whole batch as lost.
    (Written in this process: the patch would not reach a writer process.)"""
    path = tmp_path / "s.db"
    sink = SQLiteSink(path, process=False)
    sink.export([Log("INFO", "first", {}, 1, None, None, None)])
    from auditora.store import _writer

    # The event insert fails inside the transaction, after the log row went in.
    real = _writer._statement
    monkeypatch.setattr(
        _writer,
        "_statement",
        lambda kind, *rest: (
            "INSERT INTO nowhere VALUES (?)" if kind == "event" else real(kind, *rest)
        ),
    )
    batch = [
        Log("INFO", "second", {}, 2, None, None, None),
        Event("e", 2, None, {}, None, None, None),
    ]
    with pytest.raises(SinkWriteError, match="OperationalError") as lost:
        sink.export(batch)
    assert (lost.value.records_lost, lost.value.reason) == (2, "sink_error")
    sink.close(1.0)
    with open_store(path) as store:
        assert ([r["message"] for r in store.logs()], store.events()) == (["first"], [])


def test_unstorable_record_costs_only_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A record SQLite refuses is left out alone: its neighbours are stored, the loss is
    raised as SinkWriteError(reason="unstorable") and counted by kind in stats()."""
    path = tmp_path / "s.db"
    sink = SQLiteSink(path, process=False)  # the patch would not reach a writer process
    from auditora.store import _writer

    real = _writer._typed_column

    def refuse_poison(values: list) -> list:
        # A value the sqlite3 module cannot bind.
        return [object() if v == "poison" else v for v in real(values)]

    monkeypatch.setattr(_writer, "_typed_column", refuse_poison)
    batch = [Log("INFO", f"m{i}", {}, i, None, None, None) for i in range(7)]
    batch.insert(3, Event("poison", 3, None, {}, None, None, None))
    with pytest.raises(SinkWriteError) as failure:
        sink.export(batch)
    sink.close(1.0)
    assert (failure.value.records_lost, failure.value.reason) == (1, "unstorable")
    assert sink.stats()["unstorable"] == {"event": 1}
    with open_store(path) as store:
        assert [r["message"] for r in store.logs()] == [f"m{i}" for i in range(7)]


class _BadRepr:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")


def test_hostile_values_are_stored_truncated(tmp_path: Path) -> None:
    """Through the recorder into a real store: a lock, a cycle, 10 MB, 10,000 keys,
    500-deep nesting and a raising __repr__ are stored as documented, nothing raised."""
    import threading

    import auditora
    from auditora import _config

    cyclic: dict = {"name": "loop"}
    cyclic["self"] = cyclic
    deep: list = []
    node = deep
    for _ in range(500):
        node.append([])
        node = node[0]
    auditora.configure(store=tmp_path / "h.db", console=False)

    @auditora.sentinel(session_id="hostile")
    def work() -> None:
        auditora.monitor.track(
            "hostile",
            lock=threading.Lock(),
            cyclic=cyclic,
            big="x" * 10_000_000,
            wide={f"k{i}": i for i in range(10_000)},
            deep=deep,
            bad=_BadRepr(),
        )

    work()
    assert auditora.flush(30) is True
    with open_store(tmp_path / "h.db") as store:
        meta = store.events(name="hostile")[0]["metadata"]
    limit = _config.settings.max_string_length
    depth = 0
    node = meta["deep"]
    while isinstance(node, list):
        node, depth = node[0], depth + 1
    assert meta["lock"].startswith("<unlocked _thread.lock object")
    assert meta["cyclic"] == {"name": "loop", "self": "<cycle>"}
    assert meta["big"] == "x" * limit + f"…[+{10_000_000 - limit} chars]"
    assert (len(meta["wide"]), meta["wide"]["…"]) == (1001, "+9000 items")
    assert (depth, node) == (_config.settings.max_depth - 1, "<max depth>")
    assert meta["bad"] == "<unrepresentable _BadRepr>"
