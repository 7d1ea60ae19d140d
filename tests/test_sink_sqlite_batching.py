"""The SQLite sink merges batches that wait for its writer, and loses none."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, List

import pytest

from auditora.records import Event
from auditora.sinks import SQLiteSink
from auditora.sinks import sqlite as sqlite_module
from auditora.sinks.sqlite import SinkWriteError
from auditora.store import open_store


def _batch(start: int, n: int) -> List[Event]:
    return [Event(f"e{i}", i, None, {"i": i}, None, None, "s") for i in range(start, start + n)]


class _Gate:
    """Wraps write_prepared: the first call waits for ``release``; counts per call."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, fail_first: bool = False) -> None:
        self.release = threading.Event()
        self.entered = threading.Event()
        self.counts: List[int] = []
        self.fail_first = fail_first
        self._write = sqlite_module.write_prepared
        monkeypatch.setattr(sqlite_module, "write_prepared", self)

    def __call__(self, conn: Any, prepared: Any) -> int:
        first = not self.counts
        self.counts.append(prepared.count)
        if first:
            self.entered.set()
            assert self.release.wait(10)
            if self.fail_first:
                raise OSError("disk full")
        return int(self._write(conn, prepared))


def _names(path: Path) -> List[str]:
    with open_store(path) as store:
        return [e["name"] for e in store.events(limit=None)]


def test_batches_waiting_for_the_writer_share_a_transaction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = _Gate(monkeypatch)
    sink = SQLiteSink(tmp_path / "s.db")
    sink.export(_batch(0, 2))
    assert gate.entered.wait(10)
    for k in range(1, 5):
        sink.export(_batch(2 * k, 2))  # the writer is busy: these merge
    gate.release.set()
    assert sink.flush(10)
    sink.close(5)
    assert gate.counts == [2, 8]
    assert _names(tmp_path / "s.db") == [f"e{i}" for i in range(10)]


def test_a_merged_transaction_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    gate = _Gate(monkeypatch)
    monkeypatch.setattr(SQLiteSink, "MAX_TRANSACTION", 4)
    sink = SQLiteSink(tmp_path / "s.db")
    sink.export(_batch(0, 2))
    assert gate.entered.wait(10)
    sink.export(_batch(2, 2))
    sink.export(_batch(4, 2))
    # A third waiting batch would exceed the bound: export waits for the writer.
    late = threading.Thread(target=sink.export, args=(_batch(6, 2),))
    late.start()
    time.sleep(0.1)
    assert late.is_alive()
    gate.release.set()
    late.join(10)
    assert sink.flush(10)
    sink.close(5)
    assert max(gate.counts) <= 4 and sum(gate.counts) == 8
    assert _names(tmp_path / "s.db") == [f"e{i}" for i in range(8)]


def test_a_batch_after_a_failed_one_is_still_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = _Gate(monkeypatch, fail_first=True)
    sink = SQLiteSink(tmp_path / "s.db")
    sink.export(_batch(0, 3))
    assert gate.entered.wait(10)
    gate.release.set()
    deadline = time.monotonic() + 10
    while sink._error is None and time.monotonic() < deadline:
        time.sleep(0.01)
    with pytest.raises(SinkWriteError) as failure:
        sink.export(_batch(3, 2))  # handed over, then the earlier loss is reported
    assert failure.value.records_lost == 3
    assert sink.flush(10)
    sink.close(5)
    assert _names(tmp_path / "s.db") == ["e3", "e4"]
