"""auditora.testing.capture(): every record produced inside the block, by kind."""

from __future__ import annotations

import threading

from auditora import DefaultReport, monitor, report, sentinel, session
from auditora.testing import capture


def test_capture_collects_every_kind_and_stops_at_exit() -> None:
    """Runs, events, logs, LLM calls, evaluations, metrics and sessions are captured."""

    @sentinel(report=DefaultReport(echo=False), session_id="cap")
    def job() -> None:
        session.set("k", "v")
        monitor.increment_metric("m", 2)
        monitor.track("e", x=1)
        report.info("hello")
        report.log_llm_call("gpt-4o", 3, 4, 0.1)
        report.log_evaluation_result("acc", 0.9, threshold=0.8)

    with capture() as records:
        job()
    job()  # after the block: not captured
    assert [type(r).__name__ for r in records] == [
        "Event",
        "Log",
        "LLMCall",
        "Evaluation",
        "Run",
        "MetricSnapshot",
        "SessionRecord",
    ]
    assert records.metrics[0].metrics["m"] == 2.0
    assert records.sessions[0].state == {"k": "v"}
    assert records.sessions[0].session_id == "cap"
    assert [e.name for e in records.events] == ["e"]
    assert [log.message for log in records.logs] == ["hello"]


def test_capture_sees_records_from_other_threads() -> None:
    """Records produced in other threads while capturing are collected too."""

    @sentinel(report=DefaultReport(echo=False))
    def job() -> None:
        report.info("t")

    with capture() as records:
        threads = [threading.Thread(target=job) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert len(records.runs) == 4
    assert len(records.logs) == 4


def test_snapshots_are_sent_only_when_something_changed() -> None:
    """A second run that changes nothing emits no new metric or session snapshot."""

    @sentinel(report=DefaultReport(echo=False))
    def job(change: bool) -> None:
        if change:
            monitor.increment_metric("m")
            session.set("k", 1)

    with capture() as records:
        job(True)
        job(False)
        job(True)
    assert len(records.metrics) == 2
    assert len(records.sessions) == 2


def test_snapshots_of_subclassed_and_custom_adats(caplog) -> None:
    """A DefaultMonitor subclass snapshots like its base; a duck-typed monitor with its
    own ``snapshot`` is asked at every run end; one without breaks no run: the missing
    hook is logged once."""
    from auditora import DefaultMonitor, sentinel
    from auditora.records import MetricSnapshot

    class Counting(DefaultMonitor):
        pass

    asked: list = []

    class Custom:
        def snapshot(self, run: object) -> None:
            asked.append(run)

    class Bare:
        pass

    counting = Counting()

    @sentinel(monitor=counting)
    def with_subclass(change: bool) -> None:
        if change:
            counting.increment_metric("n")

    @sentinel(monitor=Custom())
    def with_custom() -> None:
        pass

    @sentinel(monitor=Bare())
    def with_bare() -> None:
        pass

    with capture() as records:
        with_subclass(False)
        with_subclass(True)
        with_subclass(False)
        with_custom()
        with_custom()
        with_bare()
        with_bare()
    snapshots = records.of(MetricSnapshot)
    assert [s.metrics for s in snapshots] == [{"n": 1}]
    assert len(asked) == 2
    assert [r.status for r in records.runs[-2:]] == ["ok", "ok"]
    missing = [r for r in caplog.records if "Bare.snapshot() failed" in r.getMessage()]
    assert len(missing) == 1
