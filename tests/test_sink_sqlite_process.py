"""The SQLite sink's writer process: batches written by a child, nothing lost when it dies."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any, List

import pytest

import auditora
from auditora.records import Log, MetricSnapshot, Record
from auditora.sinks import SinkWriteError, SQLiteSink
from auditora.store import open_store

pytestmark = pytest.mark.skipif(os.name != "posix", reason="the writer process is POSIX only")


def _logs(n: int, start: int = 0) -> List[Record]:
    return [Log("INFO", f"m{i}", {}, i, None, None, "s") for i in range(start, start + n)]


def _messages(path: Path) -> List[str]:
    with open_store(path) as store:
        return [r["message"] for r in store.logs(limit=None)]


def _writer_pid(sink: Any) -> int:
    pid = sink.stats()["writer_pid"]
    assert isinstance(pid, int)
    return pid


def _gone(pid: int, within: float = 10.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.02)
    return False


def test_batches_are_written_by_a_child_process(tmp_path: Path) -> None:
    """By default a child process writes the store; after flush() every record is there."""
    sink = SQLiteSink(tmp_path / "s.db")
    sink.export(_logs(100))
    assert sink.flush() is True
    pid = _writer_pid(sink)
    assert pid != os.getpid()
    assert sink.stats() == {
        "unstorable": {},
        "writer": "process",
        "writer_pid": pid,
        "writer_exits": 0,
    }
    assert _messages(tmp_path / "s.db") == [f"m{i}" for i in range(100)]
    sink.close()
    assert _gone(pid)


def test_export_returns_before_the_batch_is_answered_and_flush_waits(tmp_path: Path) -> None:
    """One batch is in flight after export(); the next export or flush() waits for it."""
    sink = SQLiteSink(tmp_path / "s.db")
    sink.export(_logs(10))
    assert [count for _, count in sink._in_flight] == [10]
    sink.export(_logs(7, start=10))  # answers for the first, hands over the second
    assert [count for _, count in sink._in_flight] == [7]
    sink.flush()
    assert not sink._in_flight
    assert _messages(tmp_path / "s.db") == [f"m{i}" for i in range(17)]
    sink.close()


def test_a_record_the_child_cannot_store_is_reported_by_flush(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The child's batch isolation reaches the parent: the record alone is lost, counted
    by kind, logged once with the reason, and raised as SinkWriteError(unstorable)."""
    sink = SQLiteSink(tmp_path / "s.db")
    batch = _logs(5)
    batch.insert(2, MetricSnapshot([1], 2, None, None, "s"))  # type: ignore[arg-type]
    with caplog.at_level(logging.WARNING, logger="auditora"):
        sink.export(batch)
        with pytest.raises(SinkWriteError) as lost:
            sink.flush()
    sink.close()
    assert (lost.value.records_lost, lost.value.reason) == (1, "unstorable")
    assert sink.stats()["unstorable"] == {"metric": 1}
    assert [r.message for r in caplog.records if "cannot keep" in r.message] == [
        f"auditora: the store {tmp_path / 's.db'} cannot keep a metric record (TypeError: "
        "a metric record's metrics is not a dict); it is left out, the rest of its batch "
        "is stored; further ones are counted (auditora.stats())"
    ]
    assert _messages(tmp_path / "s.db") == [f"m{i}" for i in range(5)]


def test_a_store_the_child_cannot_open_loses_the_batch_loudly(tmp_path: Path) -> None:
    """A file that is not a store: the whole batch is lost, with the store's reason."""
    path = tmp_path / "not-a-store.db"
    path.write_bytes(b"this is not SQLite" * 100)
    sink = SQLiteSink(path)
    sink.export(_logs(3))
    with pytest.raises(SinkWriteError) as lost:
        sink.flush()
    sink.close()
    assert (lost.value.records_lost, lost.value.reason) == (3, "sink_error")
    assert "StoreError" in str(lost.value) and "not a usable Auditora store" in str(lost.value)


def test_a_writer_killed_while_idle_is_replaced_and_nothing_is_lost(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """kill -9 between batches: the next batch is written here, the one after by a new child."""
    sink = SQLiteSink(tmp_path / "s.db")
    sink.export(_logs(10))
    sink.flush()
    first = _writer_pid(sink)
    os.kill(first, signal.SIGKILL)
    sink._writer._proc.wait(10)  # type: ignore[union-attr]  # dead, not yet noticed
    with caplog.at_level(logging.WARNING, logger="auditora"):
        sink.export(_logs(10, start=10))
        sink.flush()
    assert sink.stats()["writer_exits"] == 1
    sink.export(_logs(10, start=20))
    sink.flush()
    assert _writer_pid(sink) != first
    assert sink.stats()["writer"] == "process"
    sink.close()
    assert _messages(tmp_path / "s.db") == [f"m{i}" for i in range(30)]
    assert any("writer process of the store" in r.message for r in caplog.records)


def hand_over_and_kill(sink: Any, *batches: List[Record]) -> int:
    """Stop the sink's writer, hand it ``batches`` (small enough to sit in the pipe's
    buffer: it cannot read them, let alone commit them), then kill it; its pid."""
    pid = _writer_pid(sink)
    os.kill(pid, signal.SIGSTOP)
    try:
        for batch in batches:
            sink.export(batch)
    finally:
        os.kill(pid, signal.SIGKILL)
    return pid


def test_a_writer_killed_holding_a_batch_has_that_batch_written_here(tmp_path: Path) -> None:
    """The child is stopped, handed a batch, then killed: the parent writes the batch."""
    sink = SQLiteSink(tmp_path / "s.db")
    sink.export(_logs(5))
    sink.flush()
    hand_over_and_kill(sink, _logs(5, start=5))
    assert sink.flush() is True
    sink.close()
    assert _messages(tmp_path / "s.db") == [f"m{i}" for i in range(10)]


def test_ctrl_c_reaching_the_writer_does_not_stop_it(tmp_path: Path) -> None:
    """SIGINT (what Ctrl+C sends the whole process group) is ignored by the writer."""
    sink = SQLiteSink(tmp_path / "s.db")
    sink.export(_logs(3))
    sink.flush()
    os.kill(_writer_pid(sink), signal.SIGINT)
    time.sleep(0.2)
    sink.export(_logs(3, start=3))
    sink.flush()
    assert sink.stats()["writer_exits"] == 0
    sink.close()
    assert len(_messages(tmp_path / "s.db")) == 6


def test_process_false_writes_in_this_process(tmp_path: Path) -> None:
    """SQLiteSink(path, process=False) starts no child and reports loss at once."""
    sink = SQLiteSink(tmp_path / "s.db", process=False)
    batch = _logs(3)
    batch.append(MetricSnapshot([1], 2, None, None, "s"))  # type: ignore[arg-type]
    with pytest.raises(SinkWriteError) as lost:
        sink.export(batch)
    assert lost.value.records_lost == 1
    assert (sink._writer, sink.stats()["writer"]) == (None, "in-process")
    sink.close()
    assert repr(sink).endswith(", process=False)")
    with pytest.raises(TypeError, match="process must be True or False"):
        SQLiteSink(tmp_path / "s.db", process="no")  # type: ignore[arg-type]


def test_no_interpreter_to_start_means_writing_here_logged_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """An embedding without a usable sys.executable still stores everything."""
    monkeypatch.setattr(sys, "executable", "")
    sink = SQLiteSink(tmp_path / "s.db")
    with caplog.at_level(logging.WARNING, logger="auditora"):
        sink.export(_logs(3))
        sink.export(_logs(3, start=3))
        sink.flush()
    sink.close()
    assert sink.stats()["writer"] is None  # closed
    assert sum("is written in this process" in r.message for r in caplog.records) == 1
    assert len(_messages(tmp_path / "s.db")) == 6


def test_a_frozen_app_or_an_embedding_host_is_never_started_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PyInstaller's or uWSGI's executable would run the app, not ``-c``: no child is
    started (nothing runs), and the store is written in this process."""
    started: List[Any] = []
    monkeypatch.setattr(subprocess, "Popen", lambda *a, **k: started.append(a))
    for frozen, executable in ((True, sys.executable), (False, "/usr/bin/uwsgi")):
        monkeypatch.setattr(sys, "frozen", frozen, raising=False)
        monkeypatch.setattr(sys, "executable", executable)
        path = tmp_path / f"{frozen}.db"
        sink = SQLiteSink(path)
        sink.export(_logs(2))
        sink.flush()
        assert sink.stats()["writer"] == "in-process"
        sink.close()
        assert len(_messages(path)) == 2
    assert started == []


#: An app recording into the store its first argument names, one run per step.
_STEPS = """
import os, sys
import auditora
auditora.configure(store=sys.argv[1], console=False)

@auditora.sentinel()
def step(i):
    auditora.report.info("step", i=i)
"""

_APP = (
    _STEPS
    + """
for i in range(200):
    step(i)
assert auditora.flush(30)
print(auditora.stats()["sinks"]["sqlite"]["writer_pid"], flush=True)
for i in range(200, 300):
    step(i)
os._exit(0)  # no atexit, no close: the writer is left to notice on its own
"""
)


def test_an_app_that_exits_abruptly_leaves_no_writer_behind(tmp_path: Path) -> None:
    """The writer ends when its parent's end of the pipe closes: no orphan process."""
    store = tmp_path / "app.db"
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_APP), str(store)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert _gone(int(out.stdout.split()[0]))
    with open_store(store) as reader:
        assert len(reader.runs(limit=None)) >= 200


_QUIET_APP = (
    _STEPS
    + """
for i in range(3000):
    step(i)
print(auditora.flush(timeout=60), auditora.stats()["sinks"][sys.argv[2]]["writer"])
"""
)


def _run_quietly(store: str, sink: str) -> None:
    """An app recording through a writer process exits 0, and nothing (the writer's
    threads included) writes to its stderr."""
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_QUIET_APP), store, sink],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0 and out.stderr == "", out.stderr
    assert out.stdout.split() == ["True", "process"]


def test_an_app_and_its_writer_exit_cleanly_and_silently(tmp_path: Path) -> None:
    """A normal exit closes the writer (its checkpointer thread too) without a word."""
    _run_quietly(str(tmp_path / "quiet.db"), "sqlite")
    with open_store(tmp_path / "quiet.db") as reader:
        assert len(reader.runs(limit=None)) == 3000


def test_the_writer_through_the_recorder_keeps_every_record(tmp_path: Path) -> None:
    """configure(store=...) writes through the child; flush() is True and all is there."""
    auditora.configure(store=tmp_path / "r.db", console=False)

    @auditora.sentinel()
    def work(i: int) -> None:
        auditora.monitor.track("done", i=i)

    for i in range(2_000):
        work(i)
    assert auditora.flush(30) is True
    stats = auditora.stats()["sinks"]["sqlite"]
    assert (stats["writer"], stats["dropped"]) == ("process", {})
    with open_store(tmp_path / "r.db") as store:
        assert len(store.runs(limit=None)) == 2_000
        assert len(store.events(limit=None)) == 2_000


_INTERRUPTED = """
import sys, time
import auditora
auditora.configure(store=sys.argv[1], console=False)

@auditora.sentinel()
def step(i):
    auditora.report.info("step", i=i)

i = 0
try:
    while True:
        step(i)
        i += 1
        if i == 500:
            print("running", flush=True)
        time.sleep(0.0005)
except KeyboardInterrupt:
    assert auditora.flush(30)
    # The runs made, and whether the writer had to be replaced.
    print(i, auditora.stats()["sinks"]["sqlite"]["writer_exits"], flush=True)
"""


def test_ctrl_c_in_a_terminal_loses_nothing(tmp_path: Path) -> None:
    """SIGINT to the whole process group, as a terminal's Ctrl+C sends it: the app stops,
    its writer does not, and every run the app made is in the store after it exits."""
    store = tmp_path / "ctrl-c.db"
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(_INTERRUPTED), str(store)],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own group: the signal reaches it and its writer only
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "running"
        os.killpg(proc.pid, signal.SIGINT)
        made, exits = map(int, proc.stdout.readline().split())
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    with open_store(store) as reader:
        assert len(reader.runs(limit=None)) == made >= 500
    assert exits == 0
