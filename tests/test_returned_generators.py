"""A function that returns a generator keeps its run open until the generator ends."""

from __future__ import annotations

import asyncio
import gc
from typing import Any, AsyncIterator, Iterator, List

import pytest

import auditora
from auditora import current_run, sentinel
from auditora.testing import capture


@pytest.fixture(autouse=True)
def _quiet() -> Iterator[None]:
    auditora.configure(console=False)
    yield


@sentinel()
def _inner(i: int) -> int:
    return i


def _numbers(n: int) -> Iterator[int]:
    for i in range(n):
        yield _inner(i)


@sentinel()
def stream(n: int) -> Iterator[int]:
    """A plain function returning a generator (not a generator function)."""
    return _numbers(n)


def test_the_run_stays_open_while_the_returned_generator_is_consumed() -> None:
    """Work done while consuming the returned generator nests under the run, and
    the run ends only when the generator is exhausted."""
    with capture() as records:
        gen = stream(3)
        assert records.runs == []  # still open
        assert list(gen) == [0, 1, 2]
    *inner, outer = records.runs
    assert outer.name.endswith("stream") and outer.status == "ok"
    assert [r.parent_id for r in inner] == [outer.run_id] * 3
    assert all(outer.start_ns <= r.start_ns and r.end_ns <= outer.end_ns for r in inner)


def test_the_run_is_not_active_between_steps() -> None:
    """Between two items the consumer's context is its own: the run is only active
    while the generator runs."""
    seen: List[Any] = []

    def body() -> Iterator[int]:
        seen.append(current_run())
        yield 1
        seen.append(current_run())
        yield 2

    @sentinel()
    def f() -> Iterator[int]:
        return body()

    with capture():
        gen = f()
        next(gen)
        between = current_run()
        next(gen)
        list(gen)
    assert between is None
    assert seen[0] is not None and seen[0] is seen[1]


def test_closing_the_returned_generator_ends_its_run_once() -> None:
    """close() after one item ends the run (status ok) exactly once."""
    with capture() as records:
        gen = stream(10)
        next(gen)
        gen.close()
        gen.close()
    outer = [r for r in records.runs if r.name.endswith("stream")]
    assert len(outer) == 1 and outer[0].status == "ok"


def test_an_abandoned_generator_ends_its_run_when_collected() -> None:
    """Started or never started, a returned generator dropped without being
    exhausted ends its run when it is garbage-collected."""
    with capture() as records:
        started = stream(5)
        next(started)
        unstarted = stream(5)
        del started, unstarted
        gc.collect()
    outer = [r for r in records.runs if r.name.endswith("stream")]
    assert len(outer) == 2
    assert {r.status for r in outer} == {"ok"}


def test_an_error_while_consuming_fails_the_run() -> None:
    """An exception raised by the returned generator ends its run as an error."""

    def broken() -> Iterator[int]:
        yield 1
        raise ValueError("bad item")

    @sentinel()
    def f() -> Iterator[int]:
        return broken()

    with capture() as records, pytest.raises(ValueError, match="bad item"):
        list(f())
    (run,) = records.runs
    assert (run.status, run.error_type, run.error_message) == ("error", "ValueError", "bad item")


def test_send_and_throw_reach_the_returned_generator() -> None:
    """send() values and thrown exceptions are forwarded to the inner generator."""

    def echo() -> Iterator[Any]:
        got = None
        while True:
            try:
                got = yield got
            except KeyError:
                got = "caught"

    @sentinel()
    def f() -> Iterator[Any]:
        return echo()

    with capture() as records:
        gen = f()
        next(gen)
        assert gen.send(5) == 5
        assert gen.throw(KeyError("k")) == "caught"
        gen.close()
    assert records.runs[0].status == "ok"


def test_a_returned_async_generator_keeps_its_run_open() -> None:
    """Async generators returned by a plain function or a coroutine get the same
    treatment; LLM calls made while streaming land in the run."""

    async def tokens() -> AsyncIterator[str]:
        for t in ("a", "b"):
            await asyncio.sleep(0)
            auditora.report.log_llm_call("gpt-4o-mini", 1, 1, 0.01)
            yield t

    @sentinel(capture=True)
    def from_function() -> AsyncIterator[str]:
        return tokens()

    @sentinel()
    async def from_coroutine() -> AsyncIterator[str]:
        return tokens()

    async def main() -> List[str]:
        first = [t async for t in from_function()]
        second = [t async for t in await from_coroutine()]
        return first + second

    with capture() as records:
        assert asyncio.run(main()) == ["a", "b", "a", "b"]
    runs = {r.name.rsplit(".", 1)[-1]: r for r in records.runs}
    assert runs["from_function"].output == {"yielded": 2, "text": "ab"}
    calls = records.llm_calls
    assert [c.run_id for c in calls] == [runs["from_function"].run_id] * 2 + [
        runs["from_coroutine"].run_id
    ] * 2


def test_an_abandoned_async_generator_ends_its_run_when_collected() -> None:
    """A returned async generator never iterated ends its run when collected."""

    async def tokens() -> AsyncIterator[int]:
        yield 1

    @sentinel()
    def f() -> AsyncIterator[int]:
        return tokens()

    with capture() as records:
        agen = f()
        del agen
        gc.collect()
    assert [r.status for r in records.runs] == ["ok"]
