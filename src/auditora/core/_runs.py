"""Starting and ending runs: the per-call work shared by sentinel and bifrost.

This is the hot path. It avoids ``uuid4`` (ids are time-ordered ints from
``getrandbits``, see :mod:`auditora._ids`), formats nothing, and emits records
only when someone listens.
"""

from __future__ import annotations

import logging
import sys
from random import getrandbits as _bits
from time import perf_counter_ns, time_ns
from typing import Any, Callable, Optional, Set, Tuple

from .. import _emit
from .._ids import prefix as _prefix
from ..records import Run
from ._paragon import _frame

__all__ = ["after_end", "end_ok", "end_run", "root_ids", "run_status", "session_id_of", "start_run"]

_logger = logging.getLogger("auditora")
_get = _frame.get

#: Called for a root run (no enclosing run); returns ``(trace_id, parent_id)``
#: of a remote or foreign parent (OpenTelemetry span, extracted traceparent),
#: or None. Set by the propagation/OTel integrations.
remote_parent_hook: Optional[Callable[[], Optional[Tuple[str, Optional[str]]]]] = None

#: Called with every run once it has ended (used by integrations such as
#: budgets and roll-ups); failures are logged, never raised.
end_hooks: Tuple[Callable[[Run], None], ...] = ()


def start_run(
    session: Any,
    monitor: Any,
    report: Any,
    name: str,
    run_kind: str,
    agent: Optional[str] = None,
) -> Run:
    """Create the run (frame) for one call; the caller activates it.

    ``_sentinel._wrap_function``/``_wrap_coroutine`` inline this function and
    :func:`end_ok`; a change here must be made there too.
    """
    parent = _get()
    run = Run()  # cheaper than Run.__new__(Run): the type call takes a fast path
    if parent is not None:
        # Copy the parent's stored ids as they are (int or hex): formatting
        # waits until someone reads them.
        run._trace_id = parent._trace_id
        run._parent_id = parent._run_id
        run.agent = agent if agent is not None else parent.agent
    else:
        root_ids(run)
        run.agent = agent
    run._parent = parent
    run._run_id = _prefix[2] | _bits(48) or 1  # _ids.span_id_int
    run.name = name
    run.session = session
    run.monitor = monitor
    run.report = report
    run.session_id = session_id_of(session)
    run.run_kind = run_kind
    run.attributes = None
    run.status = "running"
    run.error_type = None
    run.error_message = None
    run.end_ns = None
    run.duration_ns = None
    run.start_ns = time_ns()
    run._t0 = perf_counter_ns()
    return run


def root_ids(run: Run) -> None:
    """Give a root run its trace id and parent: a remote parent's, or a new trace
    (:func:`auditora._ids.trace_id_int`, inlined)."""
    hook = remote_parent_hook
    remote = hook() if hook is not None else None
    if remote is None:
        run._trace_id = _prefix[3] | _bits(80) or 1
        run._parent_id = None
    else:
        run._trace_id, run._parent_id = remote


def session_id_of(session: Any) -> Optional[str]:
    """The session's id, or None for a session object without one."""
    return getattr(session, "session_id", None)


def run_status(exc: Optional[BaseException]) -> str:
    """The status a run ends with when ``exc`` (or nothing) ended it.

    ``GeneratorExit`` (a closed generator) and ``SystemExit(0)`` are normal
    ends; ``KeyboardInterrupt`` and ``asyncio.CancelledError`` are cancellations.
    """
    if exc is None or isinstance(exc, GeneratorExit):
        return "ok"
    if isinstance(exc, Exception):
        return "error"
    if isinstance(exc, KeyboardInterrupt):
        return "cancelled"
    if isinstance(exc, SystemExit):
        return "ok" if exc.code in (None, 0) else "error"
    asyncio = sys.modules.get("asyncio")
    if asyncio is not None and isinstance(exc, asyncio.CancelledError):
        return "cancelled"
    return "error"


def end_run(run: Run, exc: Optional[BaseException] = None) -> None:
    """Close ``run`` exactly once: times, status, error, then emit it."""
    duration = perf_counter_ns() - run._t0
    if run.end_ns is not None:
        return
    run.duration_ns = duration
    # The end is the start plus the monotonic duration (one clock read less,
    # and end - start == duration even if the wall clock steps meanwhile).
    run.end_ns = run.start_ns + duration
    if exc is None:
        run.status = "ok"
    else:
        _record_exception(run, exc)
    run._parent = None  # a finished run must not keep its ancestors alive
    run._t0 = 0
    if _emit.targets or end_hooks:
        after_end(run)


def end_ok(run: Run) -> None:
    """:func:`end_run` for a run that returned normally (the sentinel's fast path)."""
    duration = perf_counter_ns() - run._t0
    if run.end_ns is not None:
        return
    run.duration_ns = duration
    run.end_ns = run.start_ns + duration
    run.status = "ok"
    run._parent = None
    run._t0 = 0  # the small-int singleton: a kept run holds 32 B less
    if _emit.targets or end_hooks:
        after_end(run)


def after_end(run: Run) -> None:
    """Hand a finished run to the record targets and the end hooks."""
    if _emit.targets:
        _emit.emit(run)
        # The snapshot checks, unrolled over (monitor, session) and inlined:
        # this runs at every run end while recording.
        mon: Any = run.monitor
        try:
            cls = mon.__class__  # a separate name: an inline test would narrow mon for mypy
            skip = cls in counted and mon._version == mon._snapshot_version
        except AttributeError:  # a subclass that skipped __init__
            skip = False
        if not skip:
            _take_snapshot(mon, run)
        ses: Any = run.session
        try:
            cls = ses.__class__
            skip = cls in counted and ses._version == ses._snapshot_version
        except AttributeError:
            skip = False
        if not skip:
            _take_snapshot(ses, run)
    for hook in end_hooks:
        try:
            hook(run)
        except Exception:
            _logger.exception("auditora: a run end hook failed")


def _record_exception(run: Run, exc: BaseException) -> None:
    status = run_status(exc)
    run.status = status
    if status == "ok":
        return
    run.error_type = type(exc).__qualname__
    try:
        run.error_message = str(exc)
    except Exception:
        run.error_message = "<unprintable exception>"
    if status != "error":
        return
    # Log once, at the innermost run the exception crossed; outer runs only
    # record their error status.
    if getattr(exc, "_auditora_logged", False):
        return
    try:
        setattr(exc, "_auditora_logged", True)  # noqa: B010 - a dynamic marker attribute
    except Exception:
        pass
    record = getattr(run.report, "_record_error", None)
    if record is not None:
        try:
            record(run, exc)
        except Exception:
            _logger.exception("auditora: recording an exception in the report failed")


#: Adat classes whose instances count their changes in ``_version`` and
#: ``_snapshot_version`` (the default monitor and session and their subclasses
#: register themselves): an unchanged one costs two attribute reads at a run's
#: end, not a method call and a lock.
counted: Set[type] = set()


def _take_snapshot(adat: Any, run: Run) -> None:
    snap = getattr(adat, "_snapshot", None)
    if snap is None:
        return
    try:
        record = snap(run)
    except Exception:
        _logger.exception("auditora: taking a snapshot of %r failed", adat)
        return
    if record is not None:
        _emit.emit(record)
