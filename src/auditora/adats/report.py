"""The report adat: structured logs, LLM calls and evaluation results."""

from __future__ import annotations

import sys
import threading
import time
import traceback
from collections import deque
from time import time_ns
from typing import IO, Any, Deque, Dict, List, Optional, Union

from .. import _emit
from .._config import settings
from ..core._paragon import active
from ..llm._calls import TYPED_FIELDS
from ..llm._calls import record_llm_call as _record_llm_call
from ..records import Evaluation, LLMCall, Log, Record, Run
from ..redaction import redact as _redact
from ..redaction import redact_text as _redact_text
from .monitor import Tally

__all__ = ["LEVELS", "DefaultReport", "format_line"]

#: Level names and numbers (the standard library's).
LEVELS: Dict[str, int] = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40, "CRITICAL": 50}
_NAMES = {v: k for k, v in LEVELS.items()}
_get = active
_LLM_FIELDS = frozenset(TYPED_FIELDS)


def _level(level: Union[str, int]) -> int:
    if isinstance(level, str):
        name = level.upper()
        if name == "WARN":
            name = "WARNING"
        if name in LEVELS:
            return LEVELS[name]
    elif isinstance(level, int) and not isinstance(level, bool) and level >= 0:
        return level
    raise ValueError(f"unknown log level {level!r}; use one of {', '.join(LEVELS)}")


def _llm_totals() -> Dict[str, Any]:
    return {
        "calls": 0,
        "failed": 0,
        "input_tokens": 0,
        "output_tokens": 0,
        "total_tokens": 0,
        "cached_tokens": 0,
        "reasoning_tokens": 0,
        "cost": 0.0,
        "unpriced_calls": 0,
    }


def _level_name(levelno: int) -> str:
    return _NAMES.get(levelno) or f"LEVEL{levelno}"


def format_line(record: Any, session_id: Optional[str] = None) -> str:
    """One human-readable line: local time, level, [session], message, fields.

    The message and fields are redacted (:mod:`auditora.redaction`) first, so
    a secret never reaches the console. Priced LLM calls show their cost.
    """
    t = record.time_ns
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t // 1_000_000_000))
    ms = (t // 1_000_000) % 1000
    sid = session_id or record.session_id
    where = f" [{sid}]" if sid else ""
    kind = record.kind
    message = _redact_text(str(getattr(record, "message", kind)))
    # LLM calls and evaluations summarise their fields in the message already.
    fields = _redact(record.fields) if kind == "log" and record.fields else None
    extras = "".join(f" {k}={v!r}" for k, v in fields.items()) if fields else ""
    if kind == "llm_call" and record.cost is not None:
        extras += f" cost=${record.cost:.6f}"
    level = getattr(record, "level", "INFO")
    return f"{stamp}.{ms:03d} {level:<8}{where} {message}{extras}\n"


class DefaultReport:
    """Structured logs, LLM calls and evaluation results.

    Records at or above ``log_level`` are kept in memory (bounded by
    ``max_records``; the oldest are dropped and counted) and written as one
    human-readable line each to ``output_stream`` (standard error when None,
    looked up at write time). ``log_level`` defaults to ``AUDITORA_LOG_LEVEL`` or
    ``configure(log_level=...)``, else INFO. Records below the level are discarded, as with
    :mod:`logging`. ``echo=False`` (or ``auditora.configure(console=False)``)
    keeps the records but writes nothing. It implements :class:`auditora.typing.Report`.
    """

    def __init__(
        self,
        output_stream: Optional[IO[str]] = None,
        log_level: Union[str, int, None] = None,
        *,
        echo: bool = True,
        max_records: int = 10_000,
    ) -> None:
        if not isinstance(max_records, int) or max_records < 1:
            raise ValueError(f"max_records must be a positive int, not {max_records!r}")
        self.output_stream = output_stream
        if log_level is None:  # AUDITORA_LOG_LEVEL / configure(log_level=...), else INFO
            log_level = settings.log_level or "INFO"
        self.levelno = _level(log_level)
        self.echo = echo
        self.max_records = max_records
        # Keeping a record takes no lock: counting it (a Tally) and appending it
        # to a bounded deque (which drops the oldest in the same step) are each
        # atomic under the GIL, so threads sharing a report never wait on a lock.
        self._records: Deque[Record] = deque(maxlen=max_records)
        self._kept = Tally()
        #: Records appended to ``_records`` directly by older code (the logging
        #: bridge does, under ``_lock``); counted in the summary's total.
        self._total = 0
        self._lock = threading.Lock()

    @property
    def log_level(self) -> str:
        """The minimum level recorded, by name."""
        return _level_name(self.levelno)

    # -- the records ---------------------------------------------------
    def keep(self, record: Record) -> None:
        """Keep ``record`` (and echo it) when its level is at or above the report's.

        Called by the core with the records it makes in this report's runs (LLM
        calls, agent messages) after sending them to the sinks; see
        :class:`auditora.typing.Report`.
        """
        if LEVELS.get(getattr(record, "level", "INFO"), 0) >= self.levelno:
            self._store(record)

    def _store(self, record: Record) -> None:
        # Counted before it is appended, so the total never trails the buffer.
        self._kept.add()
        self._records.append(record)
        if self.echo and settings.console:
            self._write(record)

    def _write(self, record: Any) -> None:
        stream = self.output_stream if self.output_stream is not None else sys.stderr
        try:
            stream.write(format_line(record))
        except Exception:  # a closed or broken stream must not break the host
            pass

    def _log(self, levelno: int, message: str, fields: Dict[str, Any], run: Optional[Run]) -> None:
        """Record a log line the caller has checked is at or above the level."""
        level = _NAMES.get(levelno) or _level_name(levelno)
        if message.__class__ is not str:
            message = str(message)
        if run is None:
            record = Log(level, message, fields, time_ns(), None, None, None)
        else:
            record = Log(
                level, message, fields, time_ns(), run.run_id, run.trace_id, run.session_id
            )
        self._store(record)
        if _emit.targets:
            _emit.emit(record)

    # -- logging -----------------------------------------------------------
    def log(self, message: str, level: Union[str, int] = "INFO", **fields: Any) -> None:
        """Record ``message`` at ``level`` with structured ``fields``."""
        levelno = _level(level)
        if levelno >= self.levelno:
            self._log(levelno, message, fields, _get())

    def debug(self, message: str, **fields: Any) -> None:
        if self.levelno <= 10:
            self._log(10, message, fields, _get())

    def info(self, message: str, **fields: Any) -> None:
        if self.levelno <= 20:
            self._log(20, message, fields, _get())

    def warning(self, message: str, **fields: Any) -> None:
        if self.levelno <= 30:
            self._log(30, message, fields, _get())

    warn = warning

    def error(self, message: str, **fields: Any) -> None:
        if self.levelno <= 40:
            self._log(40, message, fields, _get())

    def critical(self, message: str, **fields: Any) -> None:
        if self.levelno <= 50:
            self._log(50, message, fields, _get())

    def exception(self, message: str, **fields: Any) -> None:
        """Record ``message`` at ERROR with the exception being handled."""
        exc = sys.exc_info()[1]
        if exc is not None:
            fields.setdefault("error_type", type(exc).__qualname__)
            fields.setdefault("error_message", str(exc))
            lines = traceback.format_exception(type(exc), exc, exc.__traceback__)
            fields.setdefault("traceback", "".join(lines))
        if self.levelno <= 40:
            self._log(40, message, fields, _get())

    def record_error(self, run: Run, exc: BaseException) -> None:
        """Called by the core when an exception ends ``run``: one ERROR record."""
        if self.levelno > 40:
            return
        self._log(
            40,
            f"{run.name} raised {run.error_type}: {run.error_message}",
            {"error_type": run.error_type, "error_message": run.error_message},
            run,
        )

    # -- LLM calls and evaluations ----------------------------------------
    def log_llm_call(
        self,
        model: str,
        prompt_tokens: Optional[int] = None,
        completion_tokens: Optional[int] = None,
        response_time: Optional[float] = None,
        success: bool = True,
        *,
        start_time: Optional[float] = None,
        **fields: Any,
    ) -> LLMCall:
        """Record one LLM call (tokens, latency, success) and return the record.

        ``input_tokens``/``output_tokens`` are accepted as the OpenTelemetry
        names of ``prompt_tokens``/``completion_tokens``. Known keywords
        (``provider``, ``operation``, ``cached_tokens``, ``reasoning_tokens``,
        ``time_to_first_token``, ``finish_reason``, ``error``, ``cost``,
        ``request``, ``input``, ``output``) become typed fields; the rest are
        kept as extra fields. ``input``/``output`` (prompt and completion
        content) are kept only when ``capture_content`` is on.

        ``start_time`` is when the call started, in epoch seconds
        (``time.time()``); without it the start is the record's time minus
        ``response_time``. It is stored as ``start_ns``, never before the run's
        start (an earlier start is clamped to it).

        Without an explicit ``cost`` the call is priced from the price table
        (:mod:`auditora.llm.pricing`; an unknown model costs None and warns
        once). The call is added to the ``llm.*`` roll-ups of the run and its
        monitor. When the session has a budget (:func:`auditora.llm.set_budget`)
        that this call exceeds, :class:`~auditora.llm.BudgetExceededError` is
        raised after the call is recorded (or a warning is issued).
        """
        if prompt_tokens is None:
            prompt_tokens = fields.pop("input_tokens", None)
        else:
            fields.pop("input_tokens", None)
        if completion_tokens is None:
            completion_tokens = fields.pop("output_tokens", None)
        else:
            fields.pop("output_tokens", None)
        # Walks the few keywords given, not the many typed names.
        typed = {k: fields.pop(k) for k in [k for k in fields if k in _LLM_FIELDS]}
        if start_time is not None:
            typed["start_ns"] = int(start_time * 1e9)
        return _record_llm_call(
            self,
            _get(),
            model,
            prompt_tokens,
            completion_tokens,
            response_time,
            success,
            typed,
            fields,
        )

    def log_evaluation_result(
        self,
        metric_name: str,
        value: float,
        threshold: Optional[float] = None,
        *,
        direction: str = "higher",
        label: Optional[str] = None,
        explanation: Optional[str] = None,
        **fields: Any,
    ) -> Evaluation:
        """Record an evaluation score and return the record.

        The status is ``PASS`` when there is no threshold, or when ``value`` is at
        least ``threshold`` (``direction="higher"``, the default) or at most
        ``threshold`` (``direction="lower"``); otherwise ``FAIL``.
        """
        if direction not in ("higher", "lower"):
            raise ValueError(f"direction must be 'higher' or 'lower', not {direction!r}")
        if threshold is None:
            status = "PASS"
        elif direction == "higher":
            status = "PASS" if value >= threshold else "FAIL"
        else:
            status = "PASS" if value <= threshold else "FAIL"
        run = _get()
        record = Evaluation(
            metric_name,
            value,
            threshold,
            status,
            time_ns(),
            run.run_id if run is not None else None,
            run.trace_id if run is not None else None,
            run.session_id if run is not None else None,
            direction=direction,
            label=label,
            explanation=explanation,
            extra=fields,
        )
        if _level(record.level) >= self.levelno:
            self._store(record)
        if _emit.targets:
            _emit.emit(record)
        return record

    # -- inspection --------------------------------------------------------
    def get_records(self, level: Union[str, int, None] = None) -> List[Any]:
        """Kept records, oldest first (only those at ``level`` or above if given).

        They are in the order they were kept: each thread's records in the order
        that thread made them; records of threads sharing the report interleave
        as they were kept, which may differ slightly from their ``time_ns`` order.
        """
        records = list(self._records)  # one C-level copy: atomic against appends
        if level is not None:
            floor = _level(level)
            records = [r for r in records if LEVELS.get(r.level, 0) >= floor]  # type: ignore[attr-defined]
        return records

    def get_llm_calls(self) -> List[LLMCall]:
        """The kept LLM call records."""
        return [r for r in self.get_records() if isinstance(r, LLMCall)]

    def get_evaluations(self) -> List[Evaluation]:
        """The kept evaluation records."""
        return [r for r in self.get_records() if isinstance(r, Evaluation)]

    def get_summary(self) -> Dict[str, Any]:
        """Counts per level, LLM usage and cost, and evaluation statistics.

        ``llm`` holds ``calls``, ``failed``, ``input_tokens``, ``output_tokens``,
        ``total_tokens``, ``cached_tokens``, ``reasoning_tokens``, ``cost``
        (dollars, of the calls with a known price), ``unpriced_calls`` and
        ``by_model`` (the same per model). ``evaluations`` holds ``count``,
        ``passed``, ``failed`` and ``by_metric``: per metric ``count``, ``mean``,
        ``min``, ``max``, ``passed``, ``failed`` and ``pass_rate``
        (see :mod:`auditora.evaluations`). Only kept records are counted.
        """
        from ..evaluations import aggregate

        records = self.get_records()
        levels: Dict[str, int] = {}
        llm: Dict[str, Any] = _llm_totals()
        by_model: Dict[str, Dict[str, Any]] = {}
        evaluations: List[Evaluation] = []
        for r in records:
            lvl = getattr(r, "level", None)
            if lvl is not None:
                levels[lvl] = levels.get(lvl, 0) + 1
            if isinstance(r, LLMCall):
                model = by_model.get(r.model)
                if model is None:
                    model = by_model[r.model] = _llm_totals()
                for totals in (llm, model):
                    totals["calls"] += 1
                    totals["failed"] += 0 if r.success else 1
                    totals["input_tokens"] += r.input_tokens or 0
                    totals["output_tokens"] += r.output_tokens or 0
                    totals["total_tokens"] += r.total_tokens
                    totals["cached_tokens"] += r.cached_tokens or 0
                    totals["reasoning_tokens"] += r.reasoning_tokens or 0
                    if r.cost is None:
                        totals["unpriced_calls"] += 1
                    else:
                        totals["cost"] += r.cost
            elif isinstance(r, Evaluation):
                evaluations.append(r)
        llm["by_model"] = by_model
        by_metric = {name: stats.to_dict() for name, stats in aggregate(evaluations).items()}
        passed = sum(1 for e in evaluations if e.status == "PASS")
        evals = {
            "count": len(evaluations),
            "passed": passed,
            "failed": len(evaluations) - passed,
            "by_metric": by_metric,
        }
        total = self._kept.value() + self._total  # read after the copy: never below it
        return {
            "records_total": total,
            "records_dropped": total - len(records),
            "levels": levels,
            "llm": llm,
            "evaluations": evals,
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}(log_level={self.log_level!r}, records={len(self._records)})"
