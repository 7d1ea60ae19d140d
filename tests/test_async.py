"""@sentinel and bifrost_async with asyncio: per-task isolation, cancellation."""

from __future__ import annotations

import asyncio
import inspect
from typing import List, Tuple

import pytest

from auditora import DefaultReport, Paragon, bifrost_async, monitor, sentinel, session
from auditora.testing import capture


def test_coroutine_function_is_still_a_coroutine_function() -> None:
    """inspect.iscoroutinefunction answers True for a watched coroutine function."""

    @sentinel()
    async def job() -> int:
        return 1

    assert inspect.iscoroutinefunction(job)
    assert asyncio.run(job()) == 1


def test_concurrent_tasks_are_isolated() -> None:
    """Many tasks of different sessions interleave without seeing each other's frame."""

    def make(i: int):
        @sentinel(session_id=f"s{i}")
        async def job() -> Tuple[str, str]:
            first = session.session_id
            await asyncio.sleep(0.001 * (i % 3))
            return first, session.session_id

        return job

    jobs = [make(i) for i in range(20)]

    async def main() -> List[Tuple[str, str]]:
        return list(await asyncio.gather(*(job() for job in jobs)))

    results = asyncio.run(main())
    assert results == [(f"s{i}", f"s{i}") for i in range(20)]


def test_tasks_and_to_thread_inherit_the_context() -> None:
    """Tasks created inside a run and asyncio.to_thread see its frame; runs nest, and a
    sentinel given no adats joins the caller's session from the thread too."""

    @sentinel()
    def in_thread() -> str:
        return session.session_id

    @sentinel(session_id="parent")
    async def parent() -> Tuple[str, str]:
        async def child() -> str:
            monitor.increment_metric("child")
            return session.session_id

        task_sid = await asyncio.create_task(child())
        thread_sid = await asyncio.to_thread(in_thread)
        return task_sid, thread_sid

    with capture() as records:
        task_sid, thread_sid = asyncio.run(parent())
    assert task_sid == "parent"
    assert thread_sid == "parent"
    assert parent._monitor.get_metrics() == {"child": 1.0}
    thread_run, parent_run = records.runs
    assert thread_run.parent_id == parent_run.run_id


def test_cancellation_ends_the_run_cancelled_and_propagates() -> None:
    """A cancelled coroutine's run ends with status cancelled; CancelledError propagates."""
    started = asyncio.Event

    @sentinel(report=DefaultReport(echo=False))
    async def slow() -> None:
        await asyncio.sleep(10)

    async def main() -> None:
        task = asyncio.create_task(slow())
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    assert started is not None
    with capture() as records:
        asyncio.run(main())
    [run] = records.runs
    assert (run.status, run.error_type) == ("cancelled", "CancelledError")
    assert slow._report.get_records() == []


def test_bifrost_async_block_is_a_run_private_to_its_task() -> None:
    """async with bifrost_async(...) sets the frame for its task only and restores it."""

    async def main() -> Tuple[str, object]:
        async with bifrost_async(session_id="blk", name="block") as run:
            sid = session.session_id
            other = await asyncio.get_running_loop().run_in_executor(None, Paragon.current)
            assert Paragon.current() is run
        return sid, other

    with capture() as records:
        sid, other_thread_frame = asyncio.run(main())
    assert sid == "blk"
    assert other_thread_frame is None
    [run] = records.runs
    assert (run.name, run.run_kind, run.status) == ("block", "block", "ok")
