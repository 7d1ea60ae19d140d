"""Head sampling: keep a fraction of traces, whole, plus everything that went wrong.

A :class:`Sampler` is a callable ``record -> bool`` for
``auditora.configure(sampler=...)``; the recorder calls it on the hot path for
every record and drops those it rejects before they reach any sink::

    import auditora
    from auditora.sampling import Sampler

    auditora.configure(
        store="auditora.db",
        sampler=Sampler(ratio=0.1, min_cost=0.05, min_latency=10.0),
    )

How it decides:

* **By trace, deterministically.** A record is kept when the low 64 bits of its
  trace id are below ``ratio * 2**64`` -- the rule of OpenTelemetry's
  ``TraceIdRatioBased`` sampler. Every record of a trace has the same trace id,
  so a trace is kept whole or dropped whole, and every process and service
  with the same ratio (Auditora or OpenTelemetry) makes the same decision
  for a propagated trace with no coordination.
* **Always kept** regardless of the ratio: runs that ended in an error, ERROR
  and CRITICAL log records and failed LLM calls (``keep_errors``); failed
  evaluations (``keep_failed_evaluations``); LLM calls costing at least
  ``min_cost`` or taking at least ``min_latency`` seconds. Such a record also
  *promotes* its trace: the records of that trace that arrive afterwards are
  kept too. Runs are recorded when they end, innermost first, so the chain of
  runs enclosing a failure -- and everything they record later -- survives;
  records the trace produced *before* the failure may already be gone.
* **Aggregates are exact.** Metric snapshots (the monitor's running totals) and
  session records are always kept, so metrics computed from them do not
  depend on the sample. :meth:`Sampler.stats` counts what was seen, kept and
  dropped per record kind.
* Records produced outside any run (no trace id) are kept.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Dict, Optional

__all__ = ["Sampler", "trace_id_ratio"]

_LIMIT = 1 << 64
_ALWAYS = frozenset({"metric", "session"})
_ERROR_LEVELS = frozenset({"ERROR", "CRITICAL"})


def trace_id_ratio(trace_id: str, ratio: float) -> bool:
    """Whether a trace is in a ``ratio`` sample (OpenTelemetry's ``TraceIdRatioBased`` rule).

    Uses the low 64 bits of the 32-hex-digit ``trace_id``. Deterministic: the
    same trace id and ratio give the same answer in every process.
    """
    if ratio >= 1.0:
        return True
    if ratio <= 0.0:
        return False
    try:
        low = int(trace_id[-16:], 16)
    except (TypeError, ValueError):
        return True  # not a trace id we understand: do not lose it
    return low < round(ratio * _LIMIT)


class Sampler:
    """Trace-id ratio head sampling that always keeps errors and expensive calls.

    ``ratio`` is the fraction of traces kept (0.0 to 1.0). ``keep_errors``,
    ``keep_failed_evaluations``, ``min_cost`` and ``min_latency`` (seconds)
    name the records kept whatever the ratio. ``max_promoted`` bounds the
    memory of promoted traces (oldest forgotten first). Thread-safe and cheap:
    one integer comparison per record in the common case.
    """

    def __init__(
        self,
        ratio: float = 1.0,
        *,
        keep_errors: bool = True,
        keep_failed_evaluations: bool = True,
        min_cost: Optional[float] = None,
        min_latency: Optional[float] = None,
        max_promoted: int = 10_000,
    ) -> None:
        if isinstance(ratio, bool) or not isinstance(ratio, (int, float)):
            raise TypeError(f"ratio must be a number, not {type(ratio).__name__}")
        if not 0.0 <= ratio <= 1.0:
            raise ValueError(f"ratio must be between 0 and 1, not {ratio!r}")
        if max_promoted < 1:
            raise ValueError(f"max_promoted must be positive, not {max_promoted!r}")
        self.ratio = float(ratio)
        self.keep_errors = keep_errors
        self.keep_failed_evaluations = keep_failed_evaluations
        self.min_cost = min_cost
        self.min_latency = min_latency
        self.max_promoted = max_promoted
        self._bound = round(self.ratio * _LIMIT)
        self._promoted: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()
        self._seen: Dict[str, int] = {}
        self._kept: Dict[str, int] = {}

    def __call__(self, record: Any) -> bool:
        """True to keep ``record``."""
        keep = self._decide(record)
        kind = getattr(record, "kind", "record")
        # Plain dict updates: a lost increment under a race only skews stats.
        self._seen[kind] = self._seen.get(kind, 0) + 1
        if keep:
            self._kept[kind] = self._kept.get(kind, 0) + 1
        return keep

    def _decide(self, record: Any) -> bool:
        kind = getattr(record, "kind", None)
        if kind in _ALWAYS:
            return True
        trace_id = getattr(record, "trace_id", None)
        if not trace_id:
            return True
        if self._in_sample(trace_id):
            return True
        if self._promoted and trace_id in self._promoted:
            return True
        if self._must_keep(kind, record):
            self._promote(trace_id)
            return True
        return False

    def _in_sample(self, trace_id: str) -> bool:
        bound = self._bound
        if bound >= _LIMIT:
            return True
        if bound <= 0:
            return False
        try:
            return int(trace_id[-16:], 16) < bound
        except (TypeError, ValueError):
            return True

    def _must_keep(self, kind: Any, record: Any) -> bool:
        if kind == "run":
            return self.keep_errors and record.status == "error"
        if kind == "log":
            return self.keep_errors and record.level in _ERROR_LEVELS
        if kind == "evaluation":
            return self.keep_failed_evaluations and record.status == "FAIL"
        if kind == "llm_call":
            if self.keep_errors and not record.success:
                return True
            cost = record.cost
            if self.min_cost is not None and cost is not None and cost >= self.min_cost:
                return True
            latency = record.response_time
            return (
                self.min_latency is not None
                and latency is not None
                and (latency >= self.min_latency)
            )
        return False

    def _promote(self, trace_id: str) -> None:
        with self._lock:
            promoted = self._promoted
            promoted[trace_id] = None
            promoted.move_to_end(trace_id)
            while len(promoted) > self.max_promoted:
                promoted.popitem(last=False)

    def sampled(self, trace_id: str) -> bool:
        """Whether records of ``trace_id`` are kept now (in the ratio, or promoted)."""
        return self._in_sample(trace_id) or trace_id in self._promoted

    def stats(self) -> Dict[str, Dict[str, int]]:
        """Per record kind: how many were seen, kept and dropped."""
        seen, kept = dict(self._seen), dict(self._kept)
        return {
            kind: {"seen": n, "kept": kept.get(kind, 0), "dropped": n - kept.get(kind, 0)}
            for kind, n in sorted(seen.items())
        }

    def __repr__(self) -> str:
        return (
            f"Sampler(ratio={self.ratio!r}, keep_errors={self.keep_errors!r}, "
            f"keep_failed_evaluations={self.keep_failed_evaluations!r}, "
            f"min_cost={self.min_cost!r}, min_latency={self.min_latency!r})"
        )
