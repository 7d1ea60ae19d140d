"""The adat contract (``auditora.typing``): a subclass of the defaults and an adat written
from scratch both work under ``@sentinel`` and ``bifrost_sync``, and the core calls only
the methods the protocols name."""

from __future__ import annotations

import asyncio
import logging
from contextlib import contextmanager
from typing import Any, Dict, Iterator, List, Optional, Union

import pytest

import auditora
from auditora import (
    DefaultMonitor,
    DefaultReport,
    DefaultSession,
    bifrost_async,
    bifrost_sync,
    monitor,
    report,
    sentinel,
    session,
)
from auditora.agents import send_message
from auditora.records import MetricSnapshot, Record, Run, SessionRecord
from auditora.testing import capture
from auditora.typing import Monitor, Report, Session


class CountingMonitor:
    """A monitor from scratch: counts into a dict, keeps no events, inherits nothing."""

    def __init__(self) -> None:
        self.counts: Dict[str, float] = {}
        self.snapshots = 0

    def increment_metric(self, name: str, value: float = 1.0) -> None:
        self.counts[name] = self.counts.get(name, 0.0) + value

    def track(self, event: str, duration: Optional[float] = None, **metadata: Any) -> None:
        self.increment_metric(f"event.{event}")

    @contextmanager
    def timer(self, name: str, **metadata: Any) -> Iterator[None]:
        yield
        self.increment_metric(f"timer.{name}")

    def snapshot(self, run: Run) -> Optional[Record]:
        self.snapshots += 1
        return MetricSnapshot(dict(self.counts), 0, run.run_id, run.trace_id, run.session_id)


class ListSession:
    """A session from scratch: a dict and an id."""

    def __init__(self, session_id: str) -> None:
        self.session_id = session_id
        self.state: Dict[str, Any] = {}

    def get(self, key: str, default: Any = None) -> Any:
        return self.state.get(key, default)

    def set(self, key: str, value: Any) -> None:
        self.state[key] = value

    def snapshot(self, run: Run) -> Optional[Record]:
        return None


class ListReport:
    """A report from scratch: every message and record in lists."""

    def __init__(self) -> None:
        self.lines: List[str] = []
        self.kept: List[Record] = []
        self.errors: List[str] = []

    def log(self, message: str, level: Union[str, int] = "INFO", **fields: Any) -> None:
        self.lines.append(f"{level} {message}")

    def debug(self, message: str, **fields: Any) -> None:
        self.log(message, "DEBUG")

    def info(self, message: str, **fields: Any) -> None:
        self.log(message, "INFO")

    def warning(self, message: str, **fields: Any) -> None:
        self.log(message, "WARNING")

    def error(self, message: str, **fields: Any) -> None:
        self.log(message, "ERROR")

    def keep(self, record: Record) -> None:
        self.kept.append(record)

    def record_error(self, run: Run, exc: BaseException) -> None:
        self.errors.append(f"{run.name}: {run.error_type}")


def test_the_defaults_and_the_scratch_adats_implement_the_protocols() -> None:
    """The default adats, their subclasses and the scratch classes satisfy the
    runtime-checkable protocols; an object without the methods does not."""
    assert isinstance(DefaultSession(), Session)
    assert isinstance(DefaultMonitor(), Monitor)
    assert isinstance(DefaultReport(echo=False), Report)
    assert isinstance(ListSession("s"), Session)
    assert isinstance(CountingMonitor(), Monitor)
    assert isinstance(ListReport(), Report)
    assert not isinstance(object(), Monitor)
    assert auditora.typing.Monitor is Monitor


def test_the_seed_custom_session_subclass_works_through_the_proxy() -> None:
    """The seed's ``CustomSession(DefaultSession)``: its own method and attribute are
    reached through ``session``; its snapshot reaches the sinks with its id."""

    class CustomSession(DefaultSession):
        def __init__(self, session_id: Optional[str] = None) -> None:
            super().__init__(session_id)
            self.custom_counter = 0

        def increment_counter(self) -> None:
            self.custom_counter += 1

    @sentinel(session=CustomSession("custom_session"), report=DefaultReport(echo=False))
    def custom_evaluation() -> int:
        session.increment_counter()
        session.set("count", session.custom_counter)
        report.info(f"Counter: {session.custom_counter}")
        counter: int = session.custom_counter
        return counter

    with capture() as records:
        assert custom_evaluation() == 1
        assert custom_evaluation() == 2
    assert [r.session_id for r in records.runs] == ["custom_session"] * 2
    assert [s.state for s in records.of(SessionRecord)] == [{"count": 1}, {"count": 2}]
    assert [log.message for log in records.logs] == ["Counter: 1", "Counter: 2"]


def test_a_scratch_monitor_under_sentinel_counts_and_snapshots() -> None:
    """A monitor that only implements the protocol: the proxy resolves to it, its
    ``snapshot`` is called at each run end and its record reaches the sinks."""
    counting = CountingMonitor()

    @sentinel(monitor=counting, report=DefaultReport(echo=False))
    def job() -> None:
        monitor.increment_metric("calls")
        monitor.track("seen", key="k")
        with monitor.timer("block"):
            pass

    with capture() as records:
        job()
        job()
    assert counting.counts == {"calls": 2.0, "event.seen": 2.0, "timer.block": 2.0}
    assert counting.snapshots == 2
    assert [s.metrics["calls"] for s in records.of(MetricSnapshot)] == [1.0, 2.0]
    assert [(r.status, r.end_ns is not None) for r in records.runs] == [("ok", True)] * 2


def test_scratch_adats_in_a_bifrost_block_produce_and_end_runs() -> None:
    """All three adats from scratch in ``bifrost_sync``: runs nest, end once, carry the
    session's id; the report gets the core's records through ``keep``."""
    ses, mon, rep = ListSession("scratch"), CountingMonitor(), ListReport()
    outer_block = bifrost_sync(session=ses, monitor=mon, report=rep, name="outer")
    with capture() as records, outer_block as outer:
        session.set("answer", 42)
        report.info("hello")
        with bifrost_sync(name="inner") as inner:
            assert inner is not None and outer is not None
            assert inner.parent_id == outer.run_id
            assert session.get("answer") == 42
            send_message("critic", "draft")
    assert ses.state == {"answer": 42}
    assert rep.lines == ["INFO hello"]
    assert [type(r).__name__ for r in rep.kept] == ["AgentMessage"]
    assert mon.counts == {"agents.messages": 1.0}
    assert [(r.name, r.status, r.session_id) for r in records.runs] == [
        ("inner", "ok", "scratch"),
        ("outer", "ok", "scratch"),
    ]
    assert len(records.of(type(rep.kept[0]))) == 1  # the core sent it to the sinks


def test_a_scratch_report_gets_record_error_and_llm_calls() -> None:
    """An exception ending a run calls ``record_error`` once (innermost run); an LLM
    call recorded for the run is sent to the sinks and handed to ``keep``."""
    from auditora.llm._calls import record_llm_call

    rep = ListReport()

    @sentinel(report=rep, name="inner")
    def inner() -> None:
        record_llm_call(rep, auditora.current_run(), "gpt-4o", 10, 5, 0.1, True, {}, {})
        raise ValueError("boom")

    @sentinel(report=rep, name="outer")
    def outer() -> None:
        inner()

    with capture() as records, pytest.raises(ValueError):
        outer()
    assert rep.errors == ["inner: ValueError"]
    assert [r.model for r in records.llm_calls] == ["gpt-4o"]
    assert [type(r).__name__ for r in rep.kept] == ["LLMCall"]
    assert [r.status for r in records.runs] == ["error", "error"]


def test_a_scratch_monitor_under_an_async_sentinel() -> None:
    """Coroutine and async-generator wrappers resolve to the scratch monitor too."""
    counting = CountingMonitor()

    @sentinel(monitor=counting, report=DefaultReport(echo=False))
    async def coro() -> None:
        monitor.increment_metric("coro")

    @sentinel(monitor=counting, report=DefaultReport(echo=False))
    async def agen() -> Any:
        monitor.increment_metric("agen")
        yield 1

    async def main() -> None:
        await coro()
        async for _ in agen():
            pass
        async with bifrost_async(monitor=counting):
            monitor.increment_metric("block")

    with capture() as records:
        asyncio.run(main())
    assert counting.counts == {"coro": 1.0, "agen": 1.0, "block": 1.0}
    assert [r.run_kind for r in records.runs] == ["coroutine", "async_generator", "block"]


def test_a_failing_snapshot_hook_breaks_no_run_and_is_logged_once(caplog) -> None:
    """A ``snapshot`` that raises never reaches the caller: the run is recorded, the
    failure logged once for the class."""

    class Broken(CountingMonitor):
        def snapshot(self, run: Run) -> Optional[Record]:
            raise RuntimeError("nope")

    @sentinel(monitor=Broken(), report=DefaultReport(echo=False))
    def job() -> str:
        return "done"

    with capture() as records, caplog.at_level(logging.ERROR, logger="auditora"):
        assert job() == "done"
        assert job() == "done"
    assert [r.status for r in records.runs] == ["ok", "ok"]
    failures = [r for r in caplog.records if "Broken.snapshot() failed" in r.getMessage()]
    assert len(failures) == 1


def test_the_default_report_keeps_core_records_at_or_above_its_level() -> None:
    """``DefaultReport.keep`` keeps an INFO record at level INFO and not at ERROR; the
    sinks get it either way."""
    info, quiet = DefaultReport(echo=False), DefaultReport(echo=False, log_level="ERROR")
    with capture() as records:
        for rep in (info, quiet):
            with bifrost_sync(report=rep):
                send_message("b", sender="a")
    assert len(info.get_records()) == 1
    assert quiet.get_records() == []
    assert len(records.of(type(info.get_records()[0]))) == 2
