"""The memory sink keeps what it receives, bounded."""

from __future__ import annotations

from auditora.records import Event
from auditora.sinks import MemorySink, Sink


def _events(n: int) -> list:
    return [Event(f"e{i}", i, None, {}, None, None, None) for i in range(n)]


def test_keeps_records_in_order() -> None:
    """Exported batches are kept oldest first."""
    sink = MemorySink()
    a, b = _events(2)
    sink.export([a])
    sink.export([b])
    assert ([a, b], True, 2) == (sink.records, sink.flush(1.0), len(sink))


def test_bounded_drops_oldest_and_counts() -> None:
    """Beyond max_records the oldest are discarded and counted."""
    sink = MemorySink(max_records=3)
    records = _events(5)
    sink.export(records)
    assert (records[2:], 2) == (sink.records, sink.discarded)


def test_is_a_sink_and_clears() -> None:
    """MemorySink follows the Sink contract; clear() forgets everything."""
    sink = MemorySink()
    sink.export(_events(3))
    sink.clear()
    sink.close(1.0)
    assert (isinstance(sink, Sink), sink.records) == (True, [])
