"""Roll-ups: tokens and cost per run (including nested runs), per trace and per session.

Every recorded LLM call counts, under the names of :data:`METRICS`, in

* the ``attributes`` of its run and, once each run ends, of every enclosing
  run — so an ended run carries the totals of its whole subtree, and a root
  run the totals of its trace (:func:`run_usage`);
* the monitor metrics of its run's monitor (the session's).

Each call is added once, to its own run (:func:`add_call`). When a run ends,
:func:`fold` adds its totals to its parent's (the core calls it from
``end_run``, while the run still knows its parent), so the cost of a call does
not grow with the depth it is made at. The monitor metrics are added at the
same moment, once the totals leave the runs that share a monitor: usually when
the root run ends (nested runs share the root's session), or when a run whose
parent has another monitor ends.

A run that outlives its parent (a detached thread or task) cannot change the
parent's record, which is final: its totals go to its monitor only. A call
recorded on a run that has already ended (a stream consumed later) likewise
counts in the monitor only.

Nothing is computed when no LLM call is made.
"""

from __future__ import annotations

import logging
import threading
from typing import Dict, Mapping, Optional

from ..core import _runs
from ..records import LLMCall, Run

__all__ = ["METRICS", "add_call", "fold", "run_usage"]

_logger = logging.getLogger("auditora")

#: The monitor metric (and run attribute) names, with what they count.
METRICS: Dict[str, str] = {
    "llm.calls": "LLM calls recorded",
    "llm.errors": "LLM calls that failed",
    "llm.input_tokens": "input (prompt) tokens, cached ones included",
    "llm.output_tokens": "output (completion) tokens, reasoning ones included",
    "llm.total_tokens": "input plus output tokens",
    "llm.cached_tokens": "input tokens read from a prompt cache",
    "llm.reasoning_tokens": "output tokens spent on reasoning",
    "llm.cost_usd": "cost in US dollars of the calls with a known price",
    "llm.unpriced_calls": "calls whose cost is unknown (no price or no usage)",
}

Totals = Dict[str, float]

#: Guards every run's totals and :data:`_pending`. It is held for a few dict
#: updates of one run, never while calling an adat.
_lock = threading.Lock()

#: For a run whose subtree includes runs with another monitor: the part of its
#: totals its own monitor has still to count (the other monitors count theirs).
#: Runs absent from it owe their monitor all of their totals. Entries live
#: until the run ends.
_pending: Dict[Run, Totals] = {}


def _add_call(totals: Totals, record: LLMCall) -> None:
    """Add one call's figures to ``totals`` (a name appears once something counts in it)."""
    get = totals.get
    totals["llm.calls"] = get("llm.calls", 0.0) + 1.0
    if not record.success:
        totals["llm.errors"] = get("llm.errors", 0.0) + 1.0
    inp = record.input_tokens or 0
    out = record.output_tokens or 0
    if inp:
        totals["llm.input_tokens"] = get("llm.input_tokens", 0.0) + inp
    if out:
        totals["llm.output_tokens"] = get("llm.output_tokens", 0.0) + out
    if inp or out:
        totals["llm.total_tokens"] = get("llm.total_tokens", 0.0) + inp + out
    if record.cached_tokens:
        totals["llm.cached_tokens"] = get("llm.cached_tokens", 0.0) + record.cached_tokens
    if record.reasoning_tokens:
        totals["llm.reasoning_tokens"] = get("llm.reasoning_tokens", 0.0) + record.reasoning_tokens
    if record.cost is None:
        totals["llm.unpriced_calls"] = get("llm.unpriced_calls", 0.0) + 1.0
    else:
        totals["llm.cost_usd"] = get("llm.cost_usd", 0.0) + record.cost


def _add(totals: Totals, amounts: Mapping[str, float]) -> None:
    for name, value in amounts.items():
        totals[name] = totals.get(name, 0.0) + value


def _open_totals(run: Run) -> Optional[Totals]:
    """``run``'s attributes to add to, or None once it has ended. Call with the lock held.

    The dict is made *before* the end is checked: ``end_run`` marks the end and
    then looks at the attributes, so either it sees the dict (and folds it,
    after we release the lock) or we see the end (and count in the monitor).
    """
    if run.end_ns is not None:
        return None
    attrs = run.attributes
    if attrs is None:
        attrs = run.attributes = {}
    return attrs if run.end_ns is None else None


def add_call(record: LLMCall, run: Optional[Run]) -> None:
    """Add one call to the totals of its own run (the run's end passes them on)."""
    if run is None:
        return
    with _lock:
        attrs = _open_totals(run)
        if attrs is not None:
            _add_call(attrs, record)
            pending = _pending.get(run) if _pending else None
            if pending is not None:
                _add_call(pending, record)
            return
    # The run has ended: its record is final, so the call counts in the session only.
    ended: Totals = {}
    _add_call(ended, record)
    _count(run.monitor, ended)


def fold(run: Run) -> None:
    """At the end of ``run`` (which still knows its parent): add its totals to its
    parent's, or, when they leave the runs of its monitor, to the monitor's metrics."""
    parent = run._parent
    with _lock:  # a call added in another thread has been added in full
        totals = {k: v for k, v in (run.attributes or {}).items() if k in METRICS}
        if not totals:
            return
        owed = _pending.pop(run, None) if _pending else None
        if owed is None:
            owed = totals
        target = _open_totals(parent) if parent is not None else None
        if target is not None and parent is not None:
            same_monitor = parent.monitor is run.monitor
            pending = _pending.get(parent)
            if pending is None and (not same_monitor or owed is not totals):
                # From now on the parent owes its monitor less than its totals.
                pending = _pending[parent] = {k: v for k, v in target.items() if k in METRICS}
            _add(target, totals)
            if same_monitor:
                if pending is not None:
                    _add(pending, owed)
                return  # the parent counts them in the shared monitor when it ends
    _count(run.monitor, owed)


def _count(monitor: object, amounts: Mapping[str, float]) -> None:
    increment = getattr(monitor, "increment_metric", None)
    if increment is None:
        return
    for name, value in amounts.items():
        if value:
            try:
                increment(name, value)
            except Exception:  # an adat that fails must not break the host
                _logger.exception("auditora: counting the LLM roll-ups in a monitor failed")
                return


def run_usage(run: Run) -> Dict[str, float]:
    """The LLM roll-up of ``run``: its own calls and those of its ended nested runs
    (empty when no call was made). Final once the run has ended."""
    with _lock:
        attrs = dict(run.attributes or ())
    return {k: v for k, v in attrs.items() if k in METRICS}


_runs.end_totals_hook = fold
