"""Starting and ending runs: the one run start and the one run end, shared by
the sentinel's wrappers and the bifrost blocks.

This is the hot path. It avoids ``uuid4`` (ids are time-ordered ints from
``getrandbits``, see :mod:`auditora._ids`), formats nothing, and emits records
only when someone listens. The adats are reached only through the hooks that
:mod:`auditora.typing` names (``snapshot``, ``record_error``).
"""

from __future__ import annotations

import logging
import sys
import traceback
from time import perf_counter_ns
from typing import Any, Callable, List, Optional, Set, Tuple, Union

from .. import _emit
from .._ids import new_span_id_int, new_trace_id_int
from ..records import Run, new_run
from ..typing import Monitor, Report, Session
from ._paragon import active

__all__ = ["after_end", "end_run", "format_traceback", "run_status", "start_run"]

_logger = logging.getLogger("auditora")
_get = active

#: Called for a root run (no enclosing run); returns ``(trace_id, parent_id)``
#: of a remote or foreign parent (OpenTelemetry span, extracted traceparent),
#: or None. Set by the propagation/OTel integrations.
remote_parent_hook: Optional[Callable[[], Optional[Tuple[str, Optional[str]]]]] = None

#: Called with every run once it has ended (used by integrations such as
#: budgets and roll-ups); failures are logged, never raised.
end_hooks: Tuple[Callable[[Run], None], ...] = ()

#: Called at the end of a run that has ``attributes``, before the run lets go of
#: its parent: passes the run's totals on to the parent (or the monitor). Set by
#: :mod:`auditora.llm.rollups`, a layer above, whose totals are run attributes.
end_totals_hook: Optional[Callable[[Run], None]] = None


def start_run(
    session: Session,
    monitor: Monitor,
    report: Report,
    name: str,
    run_kind: str,
    agent: Optional[str] = None,
    run_type: str = "function",
    join: bool = False,
) -> Run:
    """Create the run (frame) for one call or block; the caller activates it.

    A child of the active run shares its trace and inherits its agent unless
    ``agent`` is given; with ``join`` it also takes the parent's session,
    monitor and report instead of the ones given (one trace, one session). A
    root run gets a new trace, or the remote parent's that
    :data:`remote_parent_hook` returns.
    """
    parent = _get()
    remote_parent: Optional[bool] = None
    if parent is not None:
        if join:
            session, monitor, report = parent.session, parent.monitor, parent.report
        # Copy the parent's stored ids as they are (int or hex): formatting
        # waits until someone reads them.
        trace_id: Union[int, str] = parent._trace_id
        parent_id: Union[int, str, None] = parent._run_id
        if agent is None:
            agent = parent.agent
    else:
        # A root run: a remote parent's trace (an OpenTelemetry span, an extracted
        # traceparent), else a new trace.
        hook = remote_parent_hook
        remote = hook() if hook is not None else None
        if remote is None:
            trace_id, parent_id = new_trace_id_int(), None
        else:
            trace_id, parent_id = remote
            remote_parent = True if parent_id is not None else None
    return new_run(
        new_span_id_int(),
        trace_id,
        parent_id,
        name,
        session.session_id,
        run_kind,
        run_type,
        agent,
        session,
        monitor,
        report,
        parent,
        remote_parent,
    )


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
    if run.attributes is not None:  # checked after end_ns is set: see llm.rollups
        _pass_on_totals(run)
    run._parent = None  # a finished run must not keep its ancestors alive
    run._t0 = 0  # the small-int singleton: a kept run holds 32 B less
    if _emit.targets or end_hooks:
        after_end(run)


def _pass_on_totals(run: Run) -> None:
    """Fold the totals of an ending run into its parent's while it still knows it:
    the parent's record must have them before the parent ends and is emitted."""
    hook = end_totals_hook
    if hook is None:
        return
    try:
        hook(run)
    except Exception:
        _logger.exception("auditora: passing a run's totals to its parent failed")


def after_end(run: Run) -> None:
    """Hand a finished run to the record targets (with the snapshots its monitor
    and session take), then to the end hooks."""
    if _emit.targets:
        _emit.emit(run)
        _take_snapshot(run.monitor, run)
        _take_snapshot(run.session, run)
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
    run.traceback = format_traceback(exc)
    # Log once, at the innermost run the exception crossed; outer runs only
    # record their error status.
    if getattr(exc, "_auditora_logged", False):
        return
    try:
        setattr(exc, "_auditora_logged", True)  # noqa: B010 - a dynamic marker attribute
    except Exception:
        pass
    try:
        run.report.record_error(run, exc)
    except Exception:
        _adat_failed(run.report, "record_error")


#: Frames kept in a stored traceback: the innermost ones, where it was raised.
TRACEBACK_FRAMES = 50
#: Characters kept in a stored traceback: its end (the innermost frames and the
#: exception's message) when it is longer.
TRACEBACK_CHARS = 16_384


def format_traceback(exc: BaseException) -> Optional[str]:
    """The traceback of ``exc`` as Python prints it, chained exceptions included,
    without the sentinel wrappers' own frames; bounded to the innermost
    :data:`TRACEBACK_FRAMES` frames per exception and to its last
    :data:`TRACEBACK_CHARS` characters. Secrets are masked later, when it is
    serialized, as in an error message. None if it cannot be formatted."""
    try:
        text = "".join(_format_chain(exc, set()))
    except Exception:
        return None
    if len(text) > TRACEBACK_CHARS:
        text = "…[truncated]\n" + text[-TRACEBACK_CHARS:]
    return text


def _format_chain(exc: BaseException, seen: Set[int]) -> List[str]:
    seen.add(id(exc))
    out: List[str] = []
    cause, context = exc.__cause__, exc.__context__
    if len(seen) > _CHAIN:
        pass  # a longer chain keeps its last exceptions only
    elif cause is not None and id(cause) not in seen:
        out += _format_chain(cause, seen)
        out.append(_CAUSE)
    elif context is not None and not exc.__suppress_context__ and id(context) not in seen:
        out += _format_chain(context, seen)
        out.append(_CONTEXT)
    frames = (
        (frame, line)
        for frame, line in traceback.walk_tb(exc.__traceback__)
        if frame.f_globals.get("__name__") not in _OWN_MODULES
    )
    stack = traceback.StackSummary.extract(frames, limit=None)
    if len(stack) > TRACEBACK_FRAMES:
        stack = traceback.StackSummary.from_list(stack[-TRACEBACK_FRAMES:])
    if stack:
        out.append("Traceback (most recent call last):\n")
        out += stack.format()
    out += traceback.format_exception_only(type(exc), exc)
    return out


#: Modules whose frames a stored traceback leaves out: the wrappers around user code.
_OWN_MODULES = frozenset({"auditora.core._sentinel", "auditora.core._bifrost"})
#: Exceptions of a chain (``__cause__``/``__context__``) a stored traceback shows.
_CHAIN = 8
_CAUSE = "\nThe above exception was the direct cause of the following exception:\n\n"
_CONTEXT = "\nDuring handling of the above exception, another exception occurred:\n\n"


#: (adat class, hook) pairs whose failure was logged: a hook that keeps failing
#: (or an adat missing it) is logged once, not at every run end.
_failed: Set[Tuple[type, str]] = set()


def _adat_failed(adat: Any, hook: str) -> None:
    key = (type(adat), hook)
    if key in _failed:
        return
    _failed.add(key)
    _logger.exception(
        "auditora: %s.%s() failed (see auditora.typing for the adat contract); "
        "further failures of it are not logged",
        type(adat).__qualname__,
        hook,
    )


def _take_snapshot(adat: Any, run: Run) -> None:
    try:
        record = adat.snapshot(run)
    except Exception:
        _adat_failed(adat, "snapshot")
        return
    if record is not None:
        _emit.emit(record)
