"""Delivery you can trust: backpressure by default, every loss counted, flush() tells the truth.

With the default ``overflow="block"`` a program that produces records faster
than its sinks take them waits for room instead of losing them; with
``overflow="drop"`` the app never waits and every drop is counted and reported
by the next ``flush()``.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Sequence

import pytest

import auditora
from auditora import _emit, _recorder, monitor, report, sentinel, session
from auditora.records import Event, Record
from auditora.sinks import MemorySink, Sink
from auditora.store import open_store


class SlowSink(MemorySink):
    """A memory sink that takes ``delay`` seconds per batch: always behind."""

    name = "slow"

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay

    def export(self, batch: Sequence[Record]) -> None:
        time.sleep(self.delay)
        super().export(batch)


class StuckSink(Sink):
    """Never returns from its first export until released."""

    name = "stuck"

    def __init__(self) -> None:
        self.release = threading.Event()

    def export(self, batch: Sequence[Record]) -> None:
        self.release.wait(30)


def _event(i: int) -> Event:
    return Event(f"e{i}", i, None, None, None, None, "s")


def _produce(n: int) -> None:
    for i in range(n):
        _emit.emit(_event(i))


def _sixty_five_thousand_runs() -> None:
    """5,000 sessions x 13 runs, each with an LLM call and an evaluation: 65,000 runs."""

    @sentinel()
    def step(i: int) -> None:
        report.log_llm_call(model="gpt-4o-mini", prompt_tokens=10, completion_tokens=5)
        report.log_evaluation_result("quality", 0.8, threshold=0.5)

    for s in range(5_000):
        with auditora.bifrost_sync(session_id=f"session-{s}"):
            report.log_llm_call(model="gpt-4o-mini", prompt_tokens=10, completion_tokens=5)
            report.log_evaluation_result("quality", 0.8, threshold=0.5)
            for i in range(12):
                step(i)


def test_default_overflow_is_block() -> None:
    """Out of the box a full queue makes the producer wait; nothing is dropped for speed."""
    assert (auditora.stats()["overflow"], _recorder.settings.overflow) == ("block", "block")


def test_a_slow_sink_loses_nothing_under_backpressure() -> None:
    """Records produced far faster than a sink takes them all arrive: producers wait."""
    sink = SlowSink(0.01)
    auditora.configure(sinks=[sink], queue_size=100, sink_backlog=100, batch_size=50)
    _produce(3_000)
    assert auditora.flush(30) is True
    stats = auditora.stats()
    assert (len(sink), stats["dropped"], stats["lost"]) == (3_000, {}, 0)
    assert [r.name for r in sink.records] == [f"e{i}" for i in range(3_000)]  # type: ignore[attr-defined]


def test_producers_in_many_threads_all_deliver_under_backpressure() -> None:
    """Eight threads producing into a tiny queue all wait their turn; every record arrives."""
    sink = SlowSink(0.002)
    auditora.configure(sinks=[sink], queue_size=64, sink_backlog=64, batch_size=32)
    threads = [threading.Thread(target=_produce, args=(1_000,)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert auditora.flush(30) is True
    assert len(sink) == 8_000


def test_sixty_five_thousand_runs_with_llm_calls_all_reach_the_store(tmp_path: Path) -> None:
    """A plain loop writing 65,000 runs, each with an LLM call and an evaluation, as fast as
    it can, on the default settings: every run, call and evaluation is in the store."""
    path = tmp_path / "s.db"
    auditora.configure(store=path, console=False)
    _sixty_five_thousand_runs()
    assert auditora.flush(120) is True
    stats = auditora.stats()
    assert (stats["dropped"], stats["lost"]) == ({}, 0)
    auditora.shutdown(30)
    with open_store(path) as store:
        summary = store.summary()
    assert (summary["runs"], summary["llm_calls"], summary["evaluations"]) == (
        65_000,
        65_000,
        65_000,
    )
    # (step's own default session is the 5,001st: see the trace-story issue.)
    assert summary["sessions"] >= 5_000


def test_overflow_drop_counts_what_it_drops_and_flush_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """With overflow="drop" the loop never waits; what the store misses is exactly what
    stats() counts as dropped, and flush() returns False and logs how many were lost."""
    path = tmp_path / "s.db"
    auditora.configure(
        store=path, console=False, overflow="drop", queue_size=2_000, sink_backlog=2_048
    )
    with caplog.at_level(logging.WARNING, logger="auditora"):
        _sixty_five_thousand_runs()
        delivered = auditora.flush(120)
    stats = auditora.stats()
    dropped = sum(stats["dropped"].values()) + sum(stats["sinks"]["sqlite"]["dropped"].values())
    auditora.shutdown(30)
    with open_store(path) as store:
        s = store.summary()
    # Per run: the run, its LLM call, its evaluation, and the session's metric and state
    # records; everything received by the recorder is accounted for, nothing silently.
    stored = s["runs"] + s["llm_calls"] + s["evaluations"] + s["metrics"] + s["events"]
    assert dropped > 0 and delivered is False
    assert stats["lost"] == dropped
    assert s["runs"] < 65_000
    assert stored <= stats["received"]
    assert any("records were lost since the last flush" in r.message for r in caplog.records)
    # The next flush with nothing lost in between is True again.
    assert auditora.flush(10) is True


def test_flush_is_false_after_any_drop_then_true_again() -> None:
    """A drop since the previous flush makes flush() False once; the next clean flush is True."""
    sink = MemorySink()
    auditora.configure(sinks=[sink], overflow="drop", queue_size=5)
    pipeline = _recorder._pipeline
    assert pipeline is not None
    pipeline.worker = threading.Thread()  # a never-started stand-in: nothing drains yet
    _produce(8)
    pipeline.worker = None
    pipeline._start()  # the real worker now drains the five queued records
    assert auditora.stats()["dropped"] == {"queue_full": 3}
    assert auditora.flush(10) is False
    _produce(2)
    assert auditora.flush(10) is True
    assert len(sink) == 7


def test_a_stuck_sink_makes_producers_wait_only_a_bounded_time(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A sink that never returns cannot hang the app: the worker gives up on its backlog
    after export_timeout, producers after block_timeout, then they drop (counted) at once."""
    stuck = StuckSink()
    auditora.configure(
        sinks=[stuck],
        queue_size=50,
        sink_backlog=50,
        batch_size=25,
        export_timeout=0.3,
        block_timeout=0.5,
    )
    start = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="auditora"):
        _produce(2_000)
    took = time.monotonic() - start
    stats = auditora.stats()
    lost = sum(stats["dropped"].values()) + sum(stats["sinks"]["stuck"]["dropped"].values())
    stuck.release.set()
    assert took < 10
    assert lost > 0 and stats["lost"] == lost
    assert auditora.flush(10) is False


def test_records_made_inside_a_logging_handler_never_wait(tmp_path: Path) -> None:
    """The logging bridge holds its handler's lock: with the queue full, its records are
    dropped (counted) rather than the logging thread waiting for room."""
    from auditora.logging_bridge import AuditoraHandler

    auditora.configure(sinks=[MemorySink()], queue_size=1, block_timeout=30)
    pipeline = _recorder._pipeline
    assert pipeline is not None
    pipeline.worker = threading.Thread()  # nothing drains: the queue stays full
    logger = logging.getLogger("test_delivery.bridge")
    handler = AuditoraHandler()
    logger.addHandler(handler)
    try:
        with auditora.bifrost_sync(session_id="s"):
            _emit.emit(_event(0))  # fills the queue
            start = time.monotonic()
            logger.warning("from a handler")
            took = time.monotonic() - start
            pipeline.worker = None
            pipeline._start()  # drains, so the block's own run record finds room
    finally:
        logger.removeHandler(handler)
    assert took < 5
    assert auditora.stats()["dropped"].get("queue_full", 0) >= 1


def test_every_record_of_an_ordinary_job_reaches_every_sink(tmp_path: Path) -> None:
    """SQLite, JSONL and memory sinks at once, on default settings: each holds every record."""
    import json

    memory = MemorySink()
    jsonl = tmp_path / "r.jsonl"
    auditora.configure(sinks=[memory, f"jsonl:{jsonl}"], store=tmp_path / "s.db", console=False)

    @sentinel()
    def leaf(i: int) -> int:
        monitor.track("leaf", i=i)
        session.set("last", i)
        return i

    for i in range(2_000):
        leaf(i)
    assert auditora.flush(60) is True
    auditora.shutdown(30)
    lines = jsonl.read_text(encoding="utf-8").splitlines()
    runs_in_jsonl = [json.loads(line) for line in lines if json.loads(line)["kind"] == "run"]
    with open_store(tmp_path / "s.db") as store:
        stored_runs = store.summary()["runs"]
    runs_in_memory = [r for r in memory.records if r.kind == "run"]
    assert (len(runs_in_memory), len(runs_in_jsonl), stored_runs) == (2_000, 2_000, 2_000)
