"""Carrying the current context into threads.

``asyncio`` tasks and ``asyncio.to_thread`` copy the context by themselves.
``threading.Thread`` and ``concurrent.futures`` executors do not (before Python
3.14's ``thread_inherit_context``): their targets start in an empty context and
see no frame. :func:`bind` captures the caller's context and runs the target in
a *copy* of it at each call. The copy matters: one ``Context`` object cannot be
entered by two threads at once, and a bound function is often submitted many
times to a pool.
"""

from __future__ import annotations

import contextvars
import functools
from typing import Any, Callable, TypeVar

__all__ = ["bind"]

R = TypeVar("R")


def bind(func: Callable[..., R]) -> Callable[..., R]:
    """Return ``func`` bound to the current context, for other threads.

    Example::

        with ThreadPoolExecutor() as pool:
            results = list(pool.map(auditora.bind(score), items))

        threading.Thread(target=auditora.bind(worker)).start()

    Runs started inside the target become children of the run that was active
    when ``bind`` was called, in the same trace, with the same adats.
    """
    if not callable(func):
        raise TypeError(f"bind() needs a callable, not {type(func).__name__}")
    captured = contextvars.copy_context()

    @functools.wraps(func)
    def bound(*args: Any, **kwargs: Any) -> R:
        return captured.copy().run(func, *args, **kwargs)

    return bound
