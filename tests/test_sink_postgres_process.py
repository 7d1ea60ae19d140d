"""The PostgreSQL sink's writer process: batches written by a child that was handed the
URL down a pipe (never on its command line), nothing lost when it dies."""

from __future__ import annotations

import os
from pathlib import Path
from typing import List

import pytest

import auditora
import pg_server as _pg
from auditora import monitor, sentinel
from auditora.records import Log, Record
from auditora.sinks import SinkWriteError
from auditora.sinks.postgres import PostgresSink
from auditora.store._postgres import connect
from auditora.store._writer_process import AT_ONCE

pg_server, pg_url = _pg.pg_server, _pg.pg_url

pytestmark = pytest.mark.skipif(os.name != "posix", reason="the writer process is POSIX only")

SECRET = "Tr0ub4dor-secret"


def _logs(n: int, start: int = 0) -> List[Record]:
    return [Log("INFO", f"m{i}", {}, i, None, None, "s") for i in range(start, start + n)]


def _messages(url: str) -> List[str]:
    with connect(url) as conn:
        rows = conn.execute("SELECT message FROM logs ORDER BY time_ns").fetchall()
    return [row[0] for row in rows]


def _writer_pid(sink: PostgresSink) -> int:
    pid = sink.stats()["writer_pid"]
    assert isinstance(pid, int)
    return pid


def test_batches_are_written_by_a_child_process(pg_url: str) -> None:
    """By default a child process writes the database; after flush() every record is there."""
    sink = PostgresSink(pg_url)
    sink.export(_logs(100))
    assert sink.flush() is True
    pid = _writer_pid(sink)
    assert pid != os.getpid()
    stats = sink.stats()
    assert stats["writer"] == "process" and stats["writer_exits"] == 0
    assert stats["unstorable"] == {} and stats["unreachable"] == 0 and stats["reconnects"] == 0
    assert _messages(pg_url) == [f"m{i}" for i in range(100)]
    sink.close()


def test_the_password_is_never_on_the_writers_command_line(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``ps`` shows a process's argv to every user: the URL goes down the pipe instead, and
    AUDITORA_STORE (which may hold it) is not passed to the child's environment."""
    url = pg_url.replace("postgres@", f"postgres:{SECRET}@")  # trust auth ignores it
    monkeypatch.setenv("AUDITORA_STORE", url)
    sink = PostgresSink(url)
    sink.export(_logs(3))
    sink.flush()
    pid = _writer_pid(sink)
    argv = Path(f"/proc/{pid}/cmdline").read_bytes()
    environ = Path(f"/proc/{pid}/environ").read_bytes()
    assert b"_writer_process" in argv
    assert SECRET.encode() not in argv and SECRET.encode() not in environ
    assert SECRET not in repr(sink) and SECRET not in repr(sink.stats())
    assert _messages(pg_url) == ["m0", "m1", "m2"]
    sink.close()


def test_the_child_holds_several_batches_and_answers_them_in_order(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Up to AT_ONCE batches are in flight; each answer is the answer of its own batch:
    the one record refused in the second of three batches is reported as 1 of 3."""
    import auditora.sinks._store as module
    from auditora.store._writer import parts_of_rows

    sink = PostgresSink(pg_url)
    sink.export(_logs(1))
    sink.flush()
    batches = [
        [{"kind": "log", "message": f"b{k}-{i}", "time_ns": 10 * k + i} for i in range(k + 2)]
        for k in range(3)
    ]
    batches[1][1] = {"kind": "run", "run_id": "r", "trace_id": None, "name": "bad"}
    handed = iter(batches)
    monkeypatch.setattr(module, "serialized", lambda batch: parts_of_rows(next(handed)))
    for batch in batches:
        sink.export([None] * len(batch))  # type: ignore[list-item]
    assert [count for _, count in sink._in_flight] == [2, 3, 4][-min(AT_ONCE["postgresql"], 3) :]
    with pytest.raises(SinkWriteError, match="1 of 3 records could not be stored") as caught:
        sink.flush()
    assert caught.value.records_lost == 1 and caught.value.reason == "unstorable"
    sink.close()
    assert len(_messages(pg_url)) == 1 + 2 + 2 + 4


def test_a_writer_killed_holding_batches_has_them_written_here(pg_url: str) -> None:
    """The child is stopped, handed two batches, then killed: the parent writes both, in
    order, and the next batch goes to a new child."""
    from test_sink_sqlite_process import hand_over_and_kill

    sink = PostgresSink(pg_url)
    sink.export(_logs(5))
    sink.flush()
    pid = hand_over_and_kill(sink, _logs(5, start=5), _logs(5, start=10))
    assert sink.flush() is True
    assert sink.stats()["writer_exits"] == 1
    sink.export(_logs(5, start=15))
    sink.flush()
    assert _writer_pid(sink) not in (pid, os.getpid())
    sink.close()
    assert _messages(pg_url) == [f"m{i}" for i in range(20)]


def test_process_false_writes_in_this_process(pg_url: str) -> None:
    """process=False: no child; stats() says the batches are written here."""
    sink = PostgresSink(pg_url, process=False)
    sink.export(_logs(4))
    assert sink.flush() is True
    assert sink.stats()["writer"] == "in-process" and sink.stats()["writer_pid"] is None
    assert repr(sink).endswith("process=False)")
    sink.close()
    assert _messages(pg_url) == ["m0", "m1", "m2", "m3"]
    with pytest.raises(TypeError, match="process must be True or False"):
        PostgresSink(pg_url, process="yes")  # type: ignore[arg-type]


def test_the_writer_through_the_recorder_keeps_every_record(pg_url: str) -> None:
    """configure(store=URL): a thousand runs with their events all reach the database."""
    auditora.configure(store=pg_url, console=False)

    @sentinel(name="work")
    def work(i: int) -> None:
        monitor.track("step", i=i)

    for i in range(1000):
        work(i)
    assert auditora.flush(timeout=60)
    stats = auditora.stats()
    assert not stats.get("dropped"), stats
    assert stats["sinks"]["postgres"]["writer"] == "process"
    with connect(pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM runs").fetchone() == (1000,)
        assert conn.execute("SELECT count(*) FROM events").fetchone() == (1000,)


def test_an_app_and_its_writer_exit_cleanly_and_silently(pg_url: str) -> None:
    """A normal exit closes the writer's connections without a word on stderr."""
    from test_sink_sqlite_process import _run_quietly

    _run_quietly(pg_url, "postgres")
    with connect(pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM runs").fetchone() == (3000,)
