"""Building and recording one LLM call: shared by ``report.log_llm_call`` and the SDK integrations.

The integrations capture the run when a request starts and record the call
when it ends — possibly in another task or thread, after a stream was
consumed — so recording takes the run explicitly instead of reading the
current frame.
"""

from __future__ import annotations

import logging
from time import time_ns
from typing import Any, Dict, Optional

from .. import _emit
from .._config import settings
from ..records import LLMCall, Run
from ..redaction import redact_text
from ..typing import Report
from . import budgets, rollups
from .pricing import compute_cost

__all__ = ["TYPED_FIELDS", "record_llm_call"]

_logger = logging.getLogger("auditora")

#: log_llm_call keywords that are typed LLMCall fields rather than free-form extras.
TYPED_FIELDS = (
    "provider",
    "operation",
    "cached_tokens",
    "reasoning_tokens",
    "time_to_first_token",
    "finish_reason",
    "error",
    "cost",
    "request",
    "input",
    "output",
    "request_model",
    "response_model",
    "response_id",
    "cache_write_tokens",
    "error_type",
    "start_ns",
    "system_instructions",
)


#: Typed fields that were extras before schema version 2.
_WERE_EXTRA = ("cache_write_tokens", "response_id")


def record_llm_call(
    report: Optional[Report],
    run: Optional[Run],
    model: str,
    input_tokens: Optional[int],
    output_tokens: Optional[int],
    response_time: Optional[float],
    success: bool,
    typed: Dict[str, Any],
    extra: Dict[str, Any],
) -> LLMCall:
    """Create the record, price it, send it to the sinks, hand it to
    ``report.keep`` (when there is a report), add it to its run's roll-ups,
    check the budget.

    ``typed`` holds :data:`TYPED_FIELDS` values, ``extra`` everything else.
    Content (``input``/``output``) is dropped unless ``capture_content`` is on.
    ``typed["start_ns"]`` is the call's wall-clock start (ns); without it the
    start is the record's time minus ``response_time``. Either way a call never
    starts before its run: the start is clamped to ``run.start_ns``.
    May raise :class:`~auditora.llm.budgets.BudgetExceededError` — after the
    call has been recorded.
    """
    if not settings.capture_content:
        typed.pop("input", None)
        typed.pop("output", None)
        typed.pop("system_instructions", None)
    for name in _WERE_EXTRA:
        if name in extra:  # a name given before it became a typed field
            typed.setdefault(name, extra.pop(name))
    error = typed.get("error")
    if isinstance(error, str):
        # API error messages can quote credentials ("Incorrect API key provided: sk-…").
        typed["error"] = redact_text(error)
    if typed.get("cost") is None:
        try:
            typed["cost"] = compute_cost(
                model,
                input_tokens,
                output_tokens,
                typed.get("cached_tokens"),
                typed.get("cache_write_tokens"),
            )
        except Exception:  # a broken user price must not break the host
            _logger.exception("auditora: computing the cost of a %r call failed", model)
            typed["cost"] = None
    now = time_ns()
    start_ns = typed.get("start_ns")
    if start_ns is None:
        start_ns = now
        if isinstance(response_time, (int, float)) and response_time > 0:
            start_ns -= int(response_time * 1e9)
    if run is not None and start_ns < run.start_ns:
        start_ns = run.start_ns  # an LLM call never starts before its run
    typed["start_ns"] = start_ns
    record = LLMCall(
        model,
        input_tokens,
        output_tokens,
        response_time,
        bool(success),
        now,
        run.run_id if run is not None else None,
        run.trace_id if run is not None else None,
        run.session_id if run is not None else None,
        extra=extra,
        **typed,
    )
    if _emit.targets:
        _emit.emit(record)
    if report is not None:
        report.keep(record)
    try:
        rollups.add_call(record, run)
    except Exception:
        _logger.exception("auditora: rolling up an LLM call failed")
    if run is not None and budgets._budgets:
        budget = budgets._budgets.get(run.session_id or "")
        if budget is not None:
            budget.add(record.cost, record.total_tokens)
    return record
