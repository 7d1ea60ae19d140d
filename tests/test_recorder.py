"""The recorder: non-blocking submit, flush/shutdown, drops, failing and hung sinks."""

from __future__ import annotations

import errno
import logging
import threading
from pathlib import Path
from typing import List, Sequence

import pytest

import auditora
from auditora import _emit, _recorder
from auditora.records import Event, Record
from auditora.sinks import JSONLSink, MemorySink, Sink


def _event(i: int = 0) -> Event:
    return Event(f"e{i}", i, None, {"i": i}, None, None, None)


def _produce(n: int) -> None:
    for i in range(n):
        _emit.emit(_event(i))


class BlockingSink(Sink):
    """Blocks in export until released (or 20 s pass)."""

    name = "blocking"

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.finished = False
        self.count = 0

    def export(self, batch: Sequence[Record]) -> None:
        self.entered.set()
        self.release.wait(20)
        self.count += len(batch)
        self.finished = True


class RaisingSink(Sink):
    """Raises the given exception on every export."""

    name = "raising"

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc
        self.calls = 0

    def export(self, batch: Sequence[Record]) -> None:
        self.calls += 1
        raise self.exc


def test_flush_delivers_everything_and_counts() -> None:
    """After flush() every record is in the sink and stats() counts it as exported."""
    sink = MemorySink()
    auditora.configure(sinks=[sink])
    _produce(500)
    assert auditora.flush(10) is True
    stats = auditora.stats()
    assert (len(sink), stats["received"], stats["dropped"]) == (500, 500, {})
    assert stats["sinks"]["memory"] == {
        "queued": 0,
        "exported": 500,
        "failed_batches": 0,
        "dropped": {},
        "busy": False,
        "hangs": 0,
    }


def test_worker_starts_lazily_on_first_record() -> None:
    """configure() starts no thread; the first record starts the worker."""
    auditora.configure(sinks=[MemorySink()])
    names = {t.name for t in threading.enumerate()}
    assert ("auditora-recorder" in names, auditora.stats()["running"]) == (False, False)
    _produce(1)
    assert auditora.flush(10) is True
    assert auditora.stats()["running"] is True


def test_records_from_instrumented_code_arrive_in_order() -> None:
    """Records produced by @sentinel code reach the sink in production order."""
    sink = MemorySink()
    auditora.configure(sinks=[sink], console=False)

    @auditora.sentinel()
    def work() -> None:
        auditora.report.info("one")
        auditora.monitor.track("two")

    work()
    auditora.flush(10)
    assert [r.kind for r in sink.records][:3] == ["log", "event", "run"]


def test_queue_full_drops_new_records_and_counts(caplog: pytest.LogCaptureFixture) -> None:
    """Beyond queue_size new records are dropped, counted, and logged once."""
    auditora.configure(sinks=[MemorySink()], queue_size=5, overflow="drop")
    pipeline = _recorder._pipeline
    assert pipeline is not None
    pipeline.worker = threading.Thread()  # a never-started stand-in: nothing drains
    with caplog.at_level(logging.WARNING, logger="auditora"):
        _produce(12)
    stats = auditora.stats()
    assert (stats["queued"], stats["dropped"]) == (5, {"queue_full": 7})
    assert [r.message for r in caplog.records].count(
        "auditora: dropping records (reason: queue_full); further drops are only counted "
        "(auditora.stats())"
    ) == 1


def test_sampler_drops_are_counted() -> None:
    """A sampler returning False drops the record, counted as 'sampled'."""
    sink = MemorySink()
    auditora.configure(sinks=[sink], sampler=lambda r: r.name != "e1")  # type: ignore[attr-defined]
    _produce(3)
    auditora.flush(10)
    assert ([r.name for r in sink.records], auditora.stats()["dropped"]) == (  # type: ignore[attr-defined]
        ["e0", "e2"],
        {"sampled": 1},
    )
    auditora.configure(sampler=None)
    _produce(2)
    auditora.flush(10)
    assert len(sink) == 4


def test_raising_sampler_keeps_the_record() -> None:
    """A sampler that raises never breaks the app; the record is kept and counted."""

    def bad(record: Record) -> bool:
        raise RuntimeError("sampler bug")

    sink = MemorySink()
    auditora.configure(sinks=[sink], sampler=bad)
    _produce(2)
    auditora.flush(10)
    assert (len(sink), auditora.stats()["dropped"]) == (2, {"sampler_error_kept": 2})


def test_blocked_sink_does_not_slow_the_app_or_other_sinks() -> None:
    """While one sink blocks, app calls return, the other sink gets everything,
    and shutdown(timeout) gives up (returns False) before the sink finishes."""
    blocking, memory = BlockingSink(), MemorySink()
    auditora.configure(sinks=[blocking, memory], console=False)

    @auditora.sentinel()
    def work(i: int) -> int:
        auditora.monitor.track("step", i=i)
        return i

    work(0)
    assert blocking.entered.wait(10)
    results = [work(i) for i in range(1, 1001)]
    # Every call returned while the sink was still stuck in its first export.
    assert (results[-1], blocking.finished) == (1000, False)
    assert auditora.flush(0.5) is False
    events = [r for r in memory.records if r.kind == "event"]
    assert len(events) == 1001
    assert auditora.stats()["sinks"]["blocking"]["busy"] is True
    assert auditora.shutdown(0.3) is False
    assert blocking.finished is False
    blocking.release.set()


def test_raising_sink_is_counted_logged_once_and_isolated(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A sink that raises loses only its own batches (counted, logged once)."""
    bad, good = RaisingSink(RuntimeError("sink bug")), MemorySink()
    auditora.configure(sinks=[bad, good])
    with caplog.at_level(logging.ERROR, logger="auditora"):
        _produce(10)
        ok1 = auditora.flush(10)
        _produce(10)
        ok2 = auditora.flush(10)
    stats = auditora.stats()["sinks"]
    assert (ok1, ok2, len(good)) == (False, False, 20)
    assert stats["raising"]["dropped"] == {"sink_error": 20}
    assert stats["raising"]["failed_batches"] == bad.calls
    assert sum("sink raising failed" in r.message for r in caplog.records) == 1


def test_disk_full_is_counted_and_the_app_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A JSONL sink writing to /dev/full (ENOSPC) is counted and logged once."""
    if not Path("/dev/full").exists():
        pytest.skip("needs /dev/full")
    full, good = JSONLSink("/dev/full"), MemorySink()
    auditora.configure(sinks=[full, good])
    with caplog.at_level(logging.ERROR, logger="auditora"):
        _produce(5)
        delivered = auditora.flush(10)
    assert (delivered, len(good)) == (False, 5)
    assert auditora.stats()["sinks"]["jsonl"]["dropped"] == {"sink_error": 5}
    messages = [r.message for r in caplog.records if "sink jsonl failed" in r.message]
    assert len(messages) == 1
    assert f"[Errno {errno.ENOSPC}]" in messages[0]


def test_logging_from_a_sink_cannot_loop_back() -> None:
    """Records emitted from the recorder's own threads (e.g. a logging bridge) are dropped."""

    class Bridge(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            _emit.emit(_event(999))

    class LoggingSink(MemorySink):
        def export(self, batch: Sequence[Record]) -> None:
            logging.getLogger("auditora.test").warning("exporting %d", len(batch))
            super().export(batch)

    handler = Bridge()
    logger = logging.getLogger("auditora.test")
    logger.addHandler(handler)
    try:
        sink = LoggingSink()
        auditora.configure(sinks=[sink])
        _produce(3)
        assert auditora.flush(10) is True
    finally:
        logger.removeHandler(handler)
    assert (
        [r.name for r in sink.records],
        auditora.stats()["dropped"].keys() == {"reentrant"},
    ) == (  # type: ignore[attr-defined]
        ["e0", "e1", "e2"],
        True,
    )


def test_sink_never_runs_concurrently_with_itself() -> None:
    """Many producer threads, one sink: export calls never overlap."""

    class Guarded(Sink):
        def __init__(self) -> None:
            self.active = 0
            self.overlap = 0
            self.count = 0

        def export(self, batch: Sequence[Record]) -> None:
            self.active += 1
            if self.active > 1:
                self.overlap += 1
            self.count += len(batch)
            self.active -= 1

    sink = Guarded()
    auditora.configure(sinks=[sink], batch_size=7)
    threads = [threading.Thread(target=_produce, args=(500,)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert auditora.flush(10) is True
    assert (sink.count, sink.overlap) == (2000, 0)


def test_shutdown_stops_recording_and_closes_sinks() -> None:
    """shutdown() delivers, closes the sinks, unregisters, and returns True."""
    closed: List[bool] = []

    class Closing(MemorySink):
        def close(self, timeout: float = 5.0) -> None:
            closed.append(True)

    sink = Closing()
    auditora.configure(sinks=[sink])
    _produce(3)
    assert auditora.shutdown(10) is True
    _produce(3)
    assert (len(sink), closed, _emit.targets, auditora.stats()["sinks"]) == (3, [True], (), {})
    assert auditora.shutdown(1) is True


def test_log_level_filters_log_records() -> None:
    """log_level keeps log records below it away from the sinks (counted as filtered)."""
    sink = MemorySink()
    auditora.configure(sinks=[sink], log_level="WARNING", console=False)

    # The report keeps INFO itself, so the recorder's own filter is what drops it.
    @auditora.sentinel(report=auditora.DefaultReport(log_level="INFO"))
    def work() -> None:
        auditora.report.info("quiet")
        auditora.report.warning("loud")

    work()
    auditora.flush(10)
    assert [r.message for r in sink.records if r.kind == "log"] == ["loud"]  # type: ignore[attr-defined]
    assert auditora.stats()["filtered"] == 1


def test_flush_and_shutdown_without_configuration() -> None:
    """Unconfigured, flush() and shutdown() return True at once."""
    assert (auditora.flush(0.1), auditora.shutdown(0.1)) == (True, True)


def test_hung_sink_is_counted_and_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    """A sink busy past export_timeout is reported once in the log and counted in stats."""
    blocking = BlockingSink()
    auditora.configure(sinks=[blocking], export_timeout=0.05, flush_interval=0.02)
    with caplog.at_level(logging.WARNING, logger="auditora"):
        _produce(1)
        assert blocking.entered.wait(10)
        _produce(1)  # wakes the worker, which notices the hang
        for _ in range(500):
            if auditora.stats()["sinks"]["blocking"]["hangs"]:
                break
            threading.Event().wait(0.01)
    blocking.release.set()
    assert auditora.stats()["sinks"]["blocking"]["hangs"] == 1
    assert sum("sink blocking has been busy" in r.message for r in caplog.records) == 1


def test_no_threads_at_shutdown_delivers_inline(monkeypatch: pytest.MonkeyPatch) -> None:
    """When threads cannot start (interpreter shutdown), queued records are delivered inline."""

    class NoThread(threading.Thread):
        def start(self) -> None:
            raise RuntimeError("can't create new thread at interpreter shutdown")

    sink = MemorySink()
    auditora.configure(sinks=[sink])
    monkeypatch.setattr(_recorder.threading, "Thread", NoThread)
    _produce(3)
    assert ([r.name for r in sink.records], auditora.stats()["running"]) == (  # type: ignore[attr-defined]
        ["e0"],
        False,
    )
    assert auditora.shutdown(1) is True


def test_a_failure_inside_submit_is_counted_and_never_raised() -> None:
    """submit is called without a guard, so it guards itself: a failure in it costs
    nothing but a count (``recorder_error``), never an exception in the app."""
    sink = MemorySink()
    auditora.configure(sinks=[sink])
    pipeline = _recorder._pipeline
    assert pipeline is not None

    def broken_start() -> None:
        raise RuntimeError("worker cannot start")

    pipeline._start = broken_start  # type: ignore[method-assign]
    _produce(2)  # the first record fails to start the worker, the second too
    assert auditora.stats()["dropped"].get("recorder_error") == 2
