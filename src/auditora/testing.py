"""Helpers for testing code instrumented with Auditora.

:func:`capture` collects every record produced while it is active, in any
thread or task, synchronously, so assertions need no flush::

    from auditora.testing import capture

    def test_scores():
        with capture() as records:
            evaluate("some answer")
        assert [e.metric_name for e in records.evaluations] == ["coherence"]
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

__all__ = ["CapturedRecords", "capture"]

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
