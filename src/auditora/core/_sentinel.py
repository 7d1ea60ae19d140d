"""Sentinel: the decorator that runs each call of a function as a run.

The function's kind is inspected once, at decoration time, and one of four
wrappers is chosen: plain, coroutine, generator or async generator.

Generators are the subtle case. A generator's frame is suspended at every
``yield`` and may be resumed from another task or thread, or closed by the
garbage collector. If the wrapper held a ContextVar token across a ``yield``,
the context would leak into the caller between two steps, and resetting the
token later (from another Context) would raise ``ValueError``. So the wrapper
drives the wrapped generator step by step and activates the frame only around
each ``send``/``throw``/``close``: set, step, reset, within one Context.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, AsyncGenerator, Callable, Generator, Optional, TypeVar, overload

from .._config import settings
from ._bifrost import resolve_adats
from ._paragon import pop, push
from ._runs import end_run, start_run

__all__ = ["sentinel"]

F = TypeVar("F", bound=Callable[..., Any])
_METHOD_WRAPPERS = (classmethod, staticmethod)
_set = push
_reset = pop


@overload
def sentinel(func: F) -> F: ...


@overload
def sentinel(
    func: None = None,
    *,
    session: Any = None,
    monitor: Any = None,
    report: Any = None,
    session_id: Optional[str] = None,
    name: Optional[str] = None,
    agent: Optional[str] = None,
) -> Callable[[F], F]: ...


def sentinel(
    func: Optional[Callable[..., Any]] = None,
    *,
    session: Any = None,
    monitor: Any = None,
    report: Any = None,
    session_id: Optional[str] = None,
    name: Optional[str] = None,
    agent: Optional[str] = None,
) -> Any:
    """Watch a function: every call runs as a run inside an Auditora context.

    Use as ``@sentinel`` or ``@sentinel(...)``. The session, monitor and report
    (defaults unless given; ``session_id`` names the default session) are
    created once, here, and shared by every call; they are exposed as
    ``fn._session``, ``fn._monitor`` and ``fn._report``. ``name`` names the runs
    (default: the function's qualified name); ``agent`` tags them with an agent
    name (nested runs inherit it).

    Works on functions, coroutine functions, generator and async generator
    functions, methods, classmethods and staticmethods. Exceptions propagate
    unchanged; the run records them.
    """
    if func is not None and not callable(func) and not isinstance(func, _METHOD_WRAPPERS):
        raise TypeError(
            "sentinel() takes keyword arguments only (session=, monitor=, report=, "
            f"session_id=, name=, agent=); got a positional {type(func).__name__}"
        )
    if name is not None and not isinstance(name, str):
        raise TypeError(f"name must be a str, not {type(name).__name__}")
    if agent is not None and not isinstance(agent, str):
        raise TypeError(f"agent must be a str, not {type(agent).__name__}")
    adats = resolve_adats(session, monitor, report, session_id)

    def decorate(fn: Any) -> Any:
        if isinstance(fn, (classmethod, staticmethod)):
            return type(fn)(_wrap(fn.__func__, adats, name, agent))
        if not callable(fn):
            raise TypeError(f"@sentinel can only decorate callables, not {type(fn).__name__}")
        return _wrap(fn, adats, name, agent)

    if func is not None:
        return decorate(func)
    return decorate


def _wrap(func: Callable[..., Any], adats: Any, name: Optional[str], agent: Optional[str]) -> Any:
    session, monitor, report = adats
    run_name = name or getattr(func, "__qualname__", None) or repr(func)
    if settings.disabled:
        wrapper = _disabled(func)
    elif inspect.isasyncgenfunction(func):
        wrapper = _wrap_async_gen(func, session, monitor, report, run_name, agent)
    elif inspect.iscoroutinefunction(func):
        wrapper = _wrap_coroutine(func, session, monitor, report, run_name, agent)
    elif inspect.isgeneratorfunction(func):
        wrapper = _wrap_gen(func, session, monitor, report, run_name, agent)
    else:
        wrapper = _wrap_function(func, session, monitor, report, run_name, agent)
    wrapper._session = session
    wrapper._monitor = monitor
    wrapper._report = report
    return wrapper


def _disabled(func: Callable[..., Any]) -> Any:
    # AUDITORA_DISABLED: one extra call frame, nothing else.
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return func(*args, **kwargs)

    if inspect.iscoroutinefunction(func) or inspect.isasyncgenfunction(func):
        return _async_passthrough(func)
    return wrapper


def _async_passthrough(func: Callable[..., Any]) -> Any:
    """A wrapper that keeps the async kind of ``func`` without adding work."""
    if inspect.isasyncgenfunction(func):

        @functools.wraps(func)
        async def agen(*args: Any, **kwargs: Any) -> Any:
            async for item in func(*args, **kwargs):
                yield item

        return agen

    @functools.wraps(func)
    async def coro(*args: Any, **kwargs: Any) -> Any:
        return await func(*args, **kwargs)

    return coro


def _wrap_function(
    func: Callable[..., Any], session: Any, monitor: Any, report: Any, name: str, agent: Any
) -> Any:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        run = start_run(session, monitor, report, name, "function", agent)
        token = _set(run)
        try:
            result = func(*args, **kwargs)
        except BaseException as exc:
            _reset(token)
            end_run(run, exc)
            raise
        _reset(token)
        end_run(run)
        return result

    return wrapper


def _wrap_coroutine(
    func: Callable[..., Any], session: Any, monitor: Any, report: Any, name: str, agent: Any
) -> Any:
    @functools.wraps(func)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        run = start_run(session, monitor, report, name, "coroutine", agent)
        # The token is held across awaits, which is safe: a task runs in one
        # Context from start to end, and other tasks cannot see this one's.
        token = _set(run)
        try:
            result = await func(*args, **kwargs)
        except BaseException as exc:
            _reset(token)
            end_run(run, exc)
            raise
        _reset(token)
        end_run(run)
        return result

    return wrapper


def _wrap_gen(
    func: Callable[..., Any], session: Any, monitor: Any, report: Any, name: str, agent: Any
) -> Any:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
        # Runs on the first next(): the body of a generator starts there too.
        run = start_run(session, monitor, report, name, "generator", agent)
        gen = func(*args, **kwargs)
        sent: Any = None
        thrown: Optional[BaseException] = None
        try:
            while True:
                token = _set(run)
                try:
                    if thrown is not None:
                        exc, thrown = thrown, None
                        item = gen.throw(exc)
                    else:
                        item = gen.send(sent)
                except StopIteration as stop:
                    _reset(token)
                    end_run(run)
                    return stop.value
                except BaseException as exc:
                    _reset(token)
                    end_run(run, exc)
                    raise
                _reset(token)
                try:
                    sent = yield item
                except GeneratorExit as exc:
                    # close() or garbage collection: close the inner generator
                    # inside the frame, in whatever Context is closing us.
                    token = _set(run)
                    try:
                        gen.close()
                    except BaseException as inner:
                        _reset(token)
                        end_run(run, inner)
                        raise
                    _reset(token)
                    end_run(run, exc)
                    raise
                except BaseException as exc:
                    thrown = exc
        finally:
            end_run(run)  # no-op unless an unexpected path skipped the end

    return wrapper


def _wrap_async_gen(
    func: Callable[..., Any], session: Any, monitor: Any, report: Any, name: str, agent: Any
) -> Any:
    @functools.wraps(func)
    async def wrapper(*args: Any, **kwargs: Any) -> AsyncGenerator[Any, Any]:
        run = start_run(session, monitor, report, name, "async_generator", agent)
        agen = func(*args, **kwargs)
        sent: Any = None
        thrown: Optional[BaseException] = None
        try:
            while True:
                token = _set(run)
                try:
                    if thrown is not None:
                        exc, thrown = thrown, None
                        item = await agen.athrow(exc)
                    else:
                        item = await agen.asend(sent)
                except StopAsyncIteration:
                    _reset(token)
                    end_run(run)
                    return
                except BaseException as exc:
                    _reset(token)
                    end_run(run, exc)
                    raise
                _reset(token)
                try:
                    sent = yield item
                except GeneratorExit as exc:
                    token = _set(run)
                    try:
                        await agen.aclose()
                    except BaseException as inner:
                        _reset(token)
                        end_run(run, inner)
                        raise
                    _reset(token)
                    end_run(run, exc)
                    raise
                except BaseException as exc:
                    thrown = exc
        finally:
            end_run(run)

    return wrapper
