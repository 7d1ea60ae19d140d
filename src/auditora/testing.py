"""Helpers for testing code instrumented with Auditora.

:func:`capture` collects every record produced while it is active, in any
thread or task, synchronously, so assertions need no flush::

    from auditora.testing import capture

    def test_scores():
        with capture() as records:
            evaluate("some answer")
        assert [e.metric_name for e in records.evaluations] == ["coherence"]

:func:`reset` returns every piece of Auditora's process-wide state to its
default, so that one test's ``configure()``, budgets, prices, redaction rules
or SDK instrumentation never leak into the next; use it in an autouse fixture::

    import pytest
    import auditora.testing

    @pytest.fixture(autouse=True)
    def _auditora_defaults():
        yield
        auditora.testing.reset()
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from typing import Iterator, List, Type, TypeVar

from . import _emit, _ids
from .records import (
    AgentMessage,
    Evaluation,
    Event,
    LLMCall,
    Log,
    MetricSnapshot,
    Record,
    Run,
    SessionRecord,
)

__all__ = ["CapturedRecords", "capture", "reset"]

T = TypeVar("T", bound=Record)


class CapturedRecords(List[Record]):
    """The records captured, in the order they were produced, with typed views."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()

    def _add(self, record: Record) -> None:
        with self._lock:
            self.append(record)

    def of(self, kind: Type[T]) -> List[T]:
        """The captured records of one record class."""
        with self._lock:
            return [r for r in self if isinstance(r, kind)]

    @property
    def runs(self) -> List[Run]:
        return self.of(Run)

    @property
    def events(self) -> List[Event]:
        return self.of(Event)

    @property
    def logs(self) -> List[Log]:
        return self.of(Log)

    @property
    def llm_calls(self) -> List[LLMCall]:
        return self.of(LLMCall)

    @property
    def evaluations(self) -> List[Evaluation]:
        return self.of(Evaluation)

    @property
    def metrics(self) -> List[MetricSnapshot]:
        return self.of(MetricSnapshot)

    @property
    def sessions(self) -> List[SessionRecord]:
        return self.of(SessionRecord)

    @property
    def agent_messages(self) -> List[AgentMessage]:
        return self.of(AgentMessage)


@contextmanager
def capture() -> Iterator[CapturedRecords]:
    """Collect every record produced inside the ``with`` block."""
    records = CapturedRecords()
    target = records._add
    _ids.keep_current(time.time_ns())  # ids minted inside carry the current time
    _emit.add_target(target)
    try:
        yield records
    finally:
        _emit.remove_target(target)


def reset(timeout: float = 2.0) -> None:
    """Return Auditora to the state ``import auditora`` left it in (for tests).

    - the recorder is shut down, its queue delivered within ``timeout``
      seconds, its sinks closed and removed, its sampler removed;
    - every record target is removed (an open :func:`capture` stops collecting);
    - every setting is restored, the ``AUDITORA_*`` environment variables
      re-read; the sinks ``AUDITORA_STORE`` / ``AUDITORA_SINKS`` name, if
      any, are installed again, as at import;
    - LLM budgets (``auditora.llm.set_budget``) and registered prices
      (``register_price``, ``load_prices``) are forgotten, the bundled price
      table reloaded on next use;
    - redaction rules (``auditora.redaction.configure``) are the defaults again;
    - the OpenAI, Anthropic and OpenTelemetry instrumentation is undone (an
      integration never imported is left alone: its SDK is not imported);
    - the LLM response ids recorded lately (kept to drop a call that two
      instrumentation layers both saw) are forgotten;
    - ``Paragon.foreign_resets`` is zero.

    With nothing configured it changes nothing. It never raises: a step that
    fails is logged to ``logging.getLogger("auditora")`` and the others still run.
    Context-local state (an active run) is not global and is not touched.
    """
    # Imported here: capture() alone needs none of the recorder and sinks it loads.
    from . import _configure

    _configure.reset(timeout)
