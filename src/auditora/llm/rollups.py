"""Roll-ups: tokens and cost per run (including nested runs), per trace and per session.

Every recorded LLM call adds to

* the monitor metrics of its run's monitor (one per sentinel, so per session):
  see :data:`METRICS` for the names;
* the ``attributes`` of its run and of every enclosing run still alive, under
  the same names — so a run carries the totals of its whole subtree, and a
  root run the totals of its trace (:func:`run_usage`).

Nothing is computed when no LLM call is made.
"""

from __future__ import annotations

import threading
from typing import Dict, Optional, Tuple

from ..records import LLMCall, Run

__all__ = ["METRICS", "apply", "run_usage"]

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

_lock = threading.Lock()


def _deltas(record: LLMCall) -> Tuple[Tuple[str, float], ...]:
    items = [("llm.calls", 1.0)]
    if not record.success:
        items.append(("llm.errors", 1.0))
    inp = record.input_tokens or 0
    out = record.output_tokens or 0
    if inp:
        items.append(("llm.input_tokens", float(inp)))
    if out:
        items.append(("llm.output_tokens", float(out)))
    if inp or out:
        items.append(("llm.total_tokens", float(inp + out)))
    if record.cached_tokens:
        items.append(("llm.cached_tokens", float(record.cached_tokens)))
    if record.reasoning_tokens:
        items.append(("llm.reasoning_tokens", float(record.reasoning_tokens)))
    if record.cost is None:
        items.append(("llm.unpriced_calls", 1.0))
    else:
        items.append(("llm.cost_usd", float(record.cost)))
    return tuple(items)


def apply(record: LLMCall, run: Optional[Run]) -> None:
    """Add ``record`` to the roll-ups of ``run`` (and its ancestors) and its monitor."""
    if run is None:
        return
    deltas = _deltas(record)
    inc = run.monitor.increment_metric
    for name, value in deltas:
        inc(name, value)
    with _lock:
        node: Optional[Run] = run
        while node is not None:
            if node.end_ns is None:  # a finished run's record is final
                attrs = node.attributes
                if attrs is None:
                    attrs = node.attributes = {}
                for name, value in deltas:
                    attrs[name] = attrs.get(name, 0) + value
            node = node.parent


def run_usage(run: Run) -> Dict[str, float]:
    """The LLM roll-up of ``run`` and its nested runs (empty when no call was made)."""
    attrs = run.attributes or {}
    return {k: v for k, v in attrs.items() if k in METRICS}
