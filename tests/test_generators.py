"""@sentinel on generators and async generators: the frame is active only inside
the body's steps, and the run ends exactly once however the generator ends."""

from __future__ import annotations

import asyncio
import gc
import inspect
import threading
import warnings
from typing import Any, AsyncIterator, Iterator, List, Optional

import pytest

from auditora import DefaultReport, Paragon, bifrost_sync, sentinel, session
from auditora.testing import capture


def _quiet() -> DefaultReport:
    return DefaultReport(echo=False)


def test_generator_kind_is_kept_and_values_flow() -> None:
    """A watched generator function is still a generator function and yields/returns."""

    @sentinel()
    def gen(n: int) -> Iterator[int]:
        for i in range(n):
            yield i * 10
        return None

    assert inspect.isgeneratorfunction(gen)
    with capture() as records:
        assert list(gen(3)) == [0, 10, 20]
    [run] = records.runs
    assert (run.status, run.run_kind) == ("ok", "generator")


def test_context_is_active_only_inside_the_body() -> None:
    """Between two yields the caller sees its own frame, never the generator's."""
    seen: List[Optional[str]] = []

    @sentinel(session_id="gen-session")
    def gen() -> Iterator[None]:
        seen.append(session.session_id)
        yield
        seen.append(session.session_id)
        yield

    it = gen()
    next(it)
    assert Paragon.current() is None
    with bifrost_sync(session_id="caller", report=_quiet()):
        assert session.session_id == "caller"
        next(it)
        assert session.session_id == "caller"
    assert seen == ["gen-session", "gen-session"]
    it.close()


def test_send_and_throw_reach_the_body() -> None:
    """send() values and throw()n exceptions are delivered to the wrapped generator."""
    got: List[Any] = []

    @sentinel()
    def echo() -> Iterator[Any]:
        while True:
            try:
                got.append((yield len(got)))
            except KeyError as exc:
                got.append(f"caught {exc.args[0]}")

    it = echo()
    assert next(it) == 0
    assert it.send("a") == 1
    assert it.throw(KeyError("k")) == 2
    it.close()
    assert got == ["a", "caught k"]


def test_return_value_is_kept() -> None:
    """The generator's return value reaches `yield from`."""

    @sentinel()
    def inner() -> Iterator[int]:
        yield 1
        return 42

    def outer() -> Iterator[int]:
        result = yield from inner()
        yield result

    assert list(outer()) == [1, 42]


@pytest.mark.parametrize("how", ["exhausted", "closed", "break", "garbage-collected"])
def test_run_ends_exactly_once(how: str) -> None:
    """Exhaustion, close(), breaking out of a loop and GC each end the run once, status ok."""

    @sentinel()
    def gen() -> Iterator[int]:
        yield 1
        yield 2

    with capture() as records:
        if how == "exhausted":
            list(gen())
        elif how == "closed":
            it = gen()
            next(it)
            it.close()
            it.close()
        elif how == "break":
            for _ in gen():
                break
        else:
            it = gen()
            next(it)
            del it
            gc.collect()
    assert [r.status for r in records.runs] == ["ok"]


def test_generator_never_started_creates_no_run() -> None:
    """A generator that is created but never iterated produces no run."""

    @sentinel()
    def gen() -> Iterator[int]:
        yield 1

    with capture() as records:
        it = gen()
        del it
        gc.collect()
    assert records.runs == []


def test_error_inside_generator_is_recorded_and_propagates() -> None:
    """An exception raised by the body propagates unchanged and ends the run in error."""
    boom = RuntimeError("inside")

    @sentinel(report=_quiet())
    def gen() -> Iterator[int]:
        yield 1
        raise boom

    it = gen()
    with capture() as records:
        next(it)
        with pytest.raises(RuntimeError) as info:
            next(it)
    assert info.value is boom
    [run] = records.runs
    assert (run.status, run.error_type) == ("error", "RuntimeError")


def test_closing_from_another_thread_is_safe() -> None:
    """A generator started in one thread and closed in another raises nothing."""

    @sentinel()
    def gen() -> Iterator[int]:
        yield 1
        yield 2

    it = gen()
    next(it)
    errors: List[BaseException] = []

    def close() -> None:
        try:
            it.close()
        except BaseException as exc:  # pragma: no cover - the failure being tested
            errors.append(exc)

    with capture() as records:
        t = threading.Thread(target=close)
        t.start()
        t.join()
    assert errors == []
    assert [r.status for r in records.runs] == ["ok"]


def test_nested_runs_inside_generator_parent_to_its_run() -> None:
    """Runs started by the generator's body are children of the generator's run."""

    @sentinel()
    def child() -> None:
        pass

    @sentinel()
    def gen() -> Iterator[int]:
        child()
        yield 1
        child()

    with capture() as records:
        list(gen())
    c1, c2, g = records.runs
    assert c1.parent_id == c2.parent_id == g.run_id


def test_async_generator_kind_context_and_values() -> None:
    """An async generator stays one, yields its values, and keeps its frame private."""
    seen: List[str] = []

    @sentinel(session_id="agen")
    async def agen(n: int) -> AsyncIterator[int]:
        for i in range(n):
            seen.append(session.session_id)
            yield i
            await asyncio.sleep(0)

    assert inspect.isasyncgenfunction(agen)

    async def main() -> List[int]:
        out = []
        async for item in agen(3):
            out.append(item)
            assert Paragon.current() is None
        return out

    with capture() as records:
        assert asyncio.run(main()) == [0, 1, 2]
    assert seen == ["agen"] * 3
    [run] = records.runs
    assert (run.status, run.run_kind) == ("ok", "async_generator")


def test_async_generator_closed_from_another_task_ends_once() -> None:
    """aclose() from a different task ends the run once, with no Context error."""

    @sentinel()
    async def agen() -> AsyncIterator[int]:
        yield 1
        yield 2

    async def main() -> None:
        it = agen()
        await it.__anext__()
        await asyncio.get_running_loop().create_task(it.aclose())

    with capture() as records, warnings.catch_warnings():
        warnings.simplefilter("error")
        asyncio.run(main())
    assert [r.status for r in records.runs] == ["ok"]


def test_async_generator_break_and_asend_athrow() -> None:
    """asend/athrow reach the body; breaking out of `async for` ends the run once."""
    got: List[Any] = []

    @sentinel()
    async def agen() -> AsyncIterator[int]:
        while True:
            try:
                got.append((yield len(got)))
            except ValueError:
                got.append("caught")

    async def main() -> None:
        it = agen()
        assert await it.__anext__() == 0
        assert await it.asend("x") == 1
        assert await it.athrow(ValueError()) == 2
        await it.aclose()
        broken = agen()
        async for _ in broken:
            break
        await broken.aclose()
        async for _ in agen():
            break  # abandoned: the event loop's async-generator finalizer closes it

    with capture() as records:
        asyncio.run(main())
    assert got == ["x", "caught"]
    statuses = [r.status for r in records.runs]
    # The abandoned one is closed at loop shutdown, where asyncio may cancel the
    # closing task: it still ends exactly once.
    assert statuses[:2] == ["ok", "ok"]
    assert len(statuses) == 3 and statuses[2] in ("ok", "cancelled")


def test_async_generator_error_propagates() -> None:
    """An exception in an async generator's body propagates and is recorded."""

    @sentinel(report=_quiet())
    async def agen() -> AsyncIterator[int]:
        yield 1
        raise LookupError("gone")

    async def main() -> None:
        async for _ in agen():
            pass

    with capture() as records, pytest.raises(LookupError):
        asyncio.run(main())
    assert [(r.status, r.error_message) for r in records.runs] == [("error", "gone")]
