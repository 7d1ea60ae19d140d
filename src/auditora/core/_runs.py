"""Starting and ending runs: the per-call work shared by sentinel and bifrost.

This is the hot path. It avoids ``uuid4`` (ids come from ``getrandbits``),
formats nothing, and emits records only when someone listens.
"""

from __future__ import annotations

import logging
import sys
from time import perf_counter_ns, time_ns
from typing import Any, Callable, Optional, Tuple

from .. import _emit
from .._ids import new_span_id, new_trace_id
from ..records import Run
from ._paragon import _frame

__all__ = ["end_run", "run_status", "start_run"]

_logger = logging.getLogger("auditora")

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
    """Create the run (frame) for one call; the caller activates it."""
    parent = _frame.get()
    run = Run.__new__(Run)
    if parent is not None:
        run.trace_id = parent.trace_id
        run.parent_id = parent.run_id
        if agent is None:
            agent = parent.agent
    else:
        hook = remote_parent_hook
        remote = hook() if hook is not None else None
        if remote is not None:
            run.trace_id, run.parent_id = remote
        else:
            run.trace_id = new_trace_id()
            run.parent_id = None
    run._parent = parent
    run.run_id = new_span_id()
    run.name = name
    run.session = session
    run.monitor = monitor
    run.report = report
    try:
        run.session_id = session.session_id
    except AttributeError:
        run.session_id = None
    run.run_kind = run_kind
    run.agent = agent
    run.attributes = None
    run.status = "running"
    run.error_type = None
    run.error_message = None
    run.end_ns = None
    run.duration_ns = None
    run.start_ns = time_ns()
    run._t0 = perf_counter_ns()
    return run


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
    if run.end_ns is not None:
        return
    run.duration_ns = perf_counter_ns() - run._t0
    run.end_ns = time_ns()
    if exc is None:
        run.status = "ok"
    else:
        _record_exception(run, exc)
    run._parent = None  # a finished run must not keep its ancestors alive
    if _emit.targets:
        _emit.emit(run)
        _emit_snapshots(run)
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
        exc._auditora_logged = True  # type: ignore[union-attr]
    except Exception:
        pass
    record = getattr(run.report, "_record_error", None)
    if record is not None:
        try:
            record(run, exc)
        except Exception:
            _logger.exception("auditora: recording an exception in the report failed")


def _emit_snapshots(run: Run) -> None:
    for adat in (run.monitor, run.session):
        snap = getattr(adat, "_snapshot", None)
        if snap is None:
            continue
        try:
            record = snap(run)
        except Exception:
            _logger.exception("auditora: taking a snapshot of %r failed", adat)
            continue
        if record is not None:
            _emit.emit(record)
