"""A sink that falls behind gets the batches queued for it merged: fewer, larger
batches, every record once, in order, markers (flush) never overtaken."""

from __future__ import annotations

import threading
import time
from typing import List, Sequence

import auditora
from auditora import _emit, _recorder
from auditora.records import Event, Record
from auditora.sinks import Sink


class Recording(Sink):
    """Keeps every batch it is handed; the first one blocks until released."""

    name = "recording"

    def __init__(self) -> None:
        self.batches: List[List[Record]] = []
        self.started = threading.Event()
        self.release = threading.Event()

    def export(self, batch: Sequence[Record]) -> None:
        if not self.started.is_set():
            self.started.set()
            self.release.wait(10)
        self.batches.append(list(batch))


def _event(i: int) -> Event:
    return Event(f"e{i}", time.time_ns(), None, {"i": i}, None, None, None)


def test_batches_queued_behind_a_busy_sink_arrive_merged_in_order() -> None:
    """While the sink is busy with its first batch, the batches queued behind it are
    handed over together, at most MERGE_MAX records at a time, none lost or reordered."""
    sink = Recording()
    auditora.configure(sinks=[sink], console=False, batch_size=100)
    for i in range(100):
        _emit.emit(_event(i))
    assert sink.started.wait(10)  # the first batch is taken, and blocks the sink
    for j in range(100, 3100):
        _emit.emit(_event(j))
    time.sleep(0.5)  # let the worker hand the rest to the sink's backlog
    sink.release.set()
    assert auditora.flush(timeout=30)
    got = [r.metadata["i"] for b in sink.batches for r in b]  # type: ignore[attr-defined]
    assert got == list(range(3100))
    assert len(sink.batches) < 3100 // 100
    assert max(len(b) for b in sink.batches) <= _recorder.MERGE_MAX
    assert max(len(b) for b in sink.batches[1:]) > 100


def test_a_lone_batch_is_handed_over_as_it_is() -> None:
    """An idle sink gets each batch as soon as it is made, not held back for merging."""
    seen: List[int] = []

    class Counting(Sink):
        name = "counting"

        def export(self, batch: Sequence[Record]) -> None:
            seen.append(len(batch))

    auditora.configure(sinks=[Counting()], console=False)
    for i in range(10):
        _emit.emit(_event(i))
    assert auditora.flush(timeout=10)
    assert sum(seen) == 10 and seen
