"""One trace is one session: a sentinel given no adats joins the enclosing run's
session, monitor and report, through every path a call can take."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Iterator, List

import pytest

import auditora
from auditora import monitor, report, sentinel, session
from auditora.testing import capture


@pytest.fixture(autouse=True)
def _quiet() -> Iterator[None]:
    auditora.configure(console=False)
    yield


@sentinel()
def _leaf() -> str:
    monitor.increment_metric("leaf")
    report.log_llm_call("gpt-4o-mini", 100, 20, 0.1)
    return session.session_id


def test_nested_sync_calls_share_the_roots_session_monitor_and_report() -> None:
    """Every run of the trace has the root's session id; metrics and LLM calls land
    in the root's monitor and report, and the root's session holds the tokens."""

    @sentinel()
    def middle() -> str:
        return _leaf()

    @sentinel()
    def root() -> List[str]:
        return [middle(), _leaf(), session.session_id]

    with capture() as records:
        seen = root()
    sid = root._session.session_id
    assert seen == [sid, sid, sid]
    assert {r.session_id for r in records.runs} == {sid}
    assert {c.session_id for c in records.llm_calls} == {sid}
    assert root._monitor.get_metrics()["leaf"] == 2.0
    assert root._monitor.get_metrics()["llm.total_tokens"] == 240.0
    assert len(root._report.get_llm_calls()) == 2
    assert _leaf._monitor.get_metrics() == {}
    assert _leaf._report.get_llm_calls() == []


def test_a_sentinel_called_at_the_root_uses_its_own_adats() -> None:
    """Called outside any run, a sentinel's runs use fn._session, as the seed shows."""
    with capture() as records:
        sid = _leaf()
    assert sid == _leaf._session.session_id == records.runs[0].session_id
    assert _leaf._monitor.get_metrics()["leaf"] >= 1.0


def test_a_sentinel_naming_its_session_opens_its_own_context() -> None:
    """session_id= (or session=, monitor=, report=) keeps the seed's nested example:
    the inner call runs in its own session, still a child run of the same trace."""

    @sentinel(session_id="inner")
    def inner() -> str:
        return session.session_id

    @sentinel(session_id="outer")
    def outer() -> List[str]:
        return [session.session_id, inner(), session.session_id]

    with capture() as records:
        assert outer() == ["outer", "inner", "outer"]
    inner_run, outer_run = records.runs
    assert (inner_run.session_id, outer_run.session_id) == ("inner", "outer")
    assert inner_run.parent_id == outer_run.run_id
    assert inner_run.trace_id == outer_run.trace_id


def test_async_tasks_join_the_session_of_the_run_that_created_them() -> None:
    """Coroutines awaited directly or run as tasks inside a run join its session."""

    @sentinel()
    async def step(i: int) -> str:
        await asyncio.sleep(0)
        monitor.increment_metric("steps")
        return session.session_id

    @sentinel()
    async def pipeline() -> List[str]:
        direct = await step(0)
        tasks = await asyncio.gather(*(asyncio.create_task(step(i)) for i in range(1, 5)))
        return [direct, *tasks]

    with capture() as records:
        seen = asyncio.run(pipeline())
    sid = pipeline._session.session_id
    assert seen == [sid] * 5
    assert {r.session_id for r in records.runs} == {sid}
    assert pipeline._monitor.get_metrics() == {"steps": 5.0}


def test_threads_started_with_bind_join_the_callers_session() -> None:
    """auditora.bind carries the run into pool threads and plain threads alike."""
    seen: List[str] = []

    @sentinel()
    def work() -> None:
        seen.append(session.session_id)

    @sentinel()
    def fan_out() -> None:
        bound = auditora.bind(work)
        with ThreadPoolExecutor(max_workers=3) as pool:
            list(pool.map(lambda _: bound(), range(6)))
        thread = threading.Thread(target=auditora.bind(work))
        thread.start()
        thread.join()

    with capture() as records:
        fan_out()
    sid = fan_out._session.session_id
    assert seen == [sid] * 7
    assert {r.session_id for r in records.runs} == {sid}


def test_generator_steps_join_the_consumers_session() -> None:
    """A decorated generator consumed inside a run joins that run's session, at every step."""

    @sentinel()
    def numbers() -> Iterator[str]:
        for _ in range(3):
            yield session.session_id

    @sentinel()
    def consume() -> List[str]:
        return list(numbers())

    with capture() as records:
        seen = consume()
    sid = consume._session.session_id
    assert seen == [sid] * 3
    assert {r.session_id for r in records.runs} == {sid}


def test_a_bifrost_block_and_a_sentinel_inside_it_share_one_session() -> None:
    """bifrost_sync() with no arguments and @sentinel() with none behave alike inside a run."""

    @sentinel()
    def root() -> List[str]:
        with auditora.bifrost_sync(name="block"):
            return [session.session_id, _leaf()]

    with capture() as records:
        seen = root()
    assert seen == [root._session.session_id] * 2
    assert len({r.session_id for r in records.runs}) == 1
