"""DefaultMonitor: metrics, events, timers, bounded buffer, summary."""

from __future__ import annotations

import time

import pytest

from auditora import DefaultMonitor, bifrost_sync, monitor


def test_metrics_increment_and_gauge() -> None:
    """increment_metric adds (default 1); set_metric overwrites; get_metrics copies."""
    m = DefaultMonitor()
    m.increment_metric("a")
    m.increment_metric("a", 2.5)
    m.set_metric("g", 7)
    metrics = m.get_metrics()
    assert metrics == {"a": 3.5, "g": 7}
    metrics["a"] = 0
    assert m.get_metric("a") == 3.5


def test_track_records_events_with_run_ids() -> None:
    """track() keeps name, epoch timestamp, metadata, duration and the current run id."""
    before = time.time()
    with bifrost_sync() as run:
        monitor.track("fetched", duration=0.5, rows=3)
        [event] = run.monitor.get_events()
    assert (event.name, event.metadata, event.duration) == ("fetched", {"rows": 3}, 0.5)
    assert event.run_id == run.run_id and event.session_id == run.session_id
    assert before <= event.timestamp <= time.time()


def test_event_buffer_drops_oldest_and_counts() -> None:
    """With max_events=3, the 5 tracked events keep the last 3 and count 2 drops."""
    m = DefaultMonitor(max_events=3)
    for i in range(5):
        m.track(f"e{i}")
    assert [e.name for e in m.get_events()] == ["e2", "e3", "e4"]
    summary = m.get_summary()
    assert (summary["events_total"], summary["events_dropped"]) == (5, 2)
    assert summary["event_counts"] == {"e2": 1, "e3": 1, "e4": 1}


def test_default_event_buffer_is_10000() -> None:
    """The default bound is 10,000 events."""
    assert DefaultMonitor().max_events == 10_000
    with pytest.raises(ValueError):
        DefaultMonitor(max_events=0)


def test_timers_record_events_and_statistics() -> None:
    """start/stop_timer and timer() record duration events and per-name stats."""
    m = DefaultMonitor()
    start = m.start_timer("load")
    duration = m.stop_timer("load", start, source="db")
    with m.timer("load"):
        pass
    with pytest.raises(RuntimeError), m.timer("load"):
        raise RuntimeError
    events = m.get_events("load")
    assert len(events) == 3
    assert events[0].metadata == {"source": "db"}
    assert events[0].duration == duration
    stats = m.get_timers()["load"]
    assert stats["count"] == 3
    assert stats["min"] <= stats["mean"] <= stats["max"]
    assert m.get_summary()["timers"]["load"]["count"] == 3
