"""The monitor adat: counters, events and timers."""

from __future__ import annotations

import threading
from collections import deque
from contextlib import contextmanager
from itertools import count
from time import perf_counter, time_ns
from typing import Any, Deque, Dict, Iterator, List, Optional

from .. import _emit
from ..core._paragon import active
from ..records import Event, MetricSnapshot, Run

__all__ = ["DefaultMonitor", "Tally"]

_get = active


class Tally:
    """A counter that counts without a lock: ``next()`` on an :func:`itertools.count`
    is atomic under the GIL, so threads never wait on each other to count.

    Reading it advances the underlying count, so the reads are counted and taken
    off: after ``t`` counts and ``r`` earlier reads, ``next()`` returns ``t + r``.
    """

    __slots__ = ("_seq", "_reads", "_lock", "add")

    def __init__(self) -> None:
        self._seq = count()
        self._reads = 0
        self._lock = threading.Lock()  # serializes readers only
        #: Count one (the bound ``__next__`` of the count: no Python frame).
        self.add = self._seq.__next__

    def value(self) -> int:
        """How many times :attr:`add` was called."""
        with self._lock:
            value = next(self._seq) - self._reads
            self._reads += 1
        return value


class DefaultMonitor:
    """Metrics (named float counters), events and timers.

    Events are kept in a bounded buffer (``max_events``, default 10,000): when
    it is full the oldest event is dropped and counted in ``get_summary()``.
    All methods are thread-safe. It implements :class:`auditora.typing.Monitor`.
    """

    def __init__(self, max_events: int = 10_000) -> None:
        if not isinstance(max_events, int) or max_events < 1:
            raise ValueError(f"max_events must be a positive int, not {max_events!r}")
        self.max_events = max_events
        self._metrics: Dict[str, float] = {}
        self._events: Deque[Event] = deque(maxlen=max_events)
        # Events are counted by a Tally: counting and deque.append are each
        # atomic under the GIL, so recording an event takes no lock.
        self._events_seen = Tally()
        self._timers: Dict[str, List[float]] = {}  # name -> [count, total, min, max]
        self._lock = threading.Lock()
        self._version = 0
        self._snapshot_version = 0

    # -- metrics -----------------------------------------------------------
    def increment_metric(self, name: str, value: float = 1.0) -> None:
        """Add ``value`` (default 1) to the metric ``name`` (created at 0)."""
        # acquire/release rather than ``with``: half the cost on this hot path.
        lock = self._lock
        lock.acquire()
        try:
            metrics = self._metrics
            metrics[name] = metrics.get(name, 0.0) + value
            self._version += 1
        finally:
            lock.release()

    def set_metric(self, name: str, value: float) -> None:
        """Set the metric ``name`` to ``value`` (a gauge)."""
        with self._lock:
            self._metrics[name] = value
            self._version += 1

    def get_metric(self, name: str, default: float = 0.0) -> float:
        """The current value of ``name``."""
        return self._metrics.get(name, default)

    def get_metrics(self) -> Dict[str, float]:
        """A copy of every metric's current value."""
        with self._lock:
            return dict(self._metrics)

    # -- events ------------------------------------------------------------
    def track(self, event: str, duration: Optional[float] = None, **metadata: Any) -> None:
        """Record that ``event`` happened (optionally how long it took, in seconds)."""
        run = _get()
        if run is None:
            record = Event(event, time_ns(), duration, metadata, None, None, None)
        else:
            record = Event(
                event, time_ns(), duration, metadata, run.run_id, run.trace_id, run.session_id
            )
        # Counted before it is appended, so the total never trails the buffer.
        self._events_seen.add()
        self._events.append(record)
        if _emit.targets:
            _emit.emit(record)

    def get_events(self, name: Optional[str] = None) -> List[Event]:
        """The buffered events, oldest first (only those called ``name`` if given)."""
        with self._lock:
            events = list(self._events)
        if name is not None:
            events = [e for e in events if e.name == name]
        return events

    # -- timers ------------------------------------------------------------
    def start_timer(self, name: str) -> float:
        """Start timing ``name``; pass the returned value to :meth:`stop_timer`."""
        return perf_counter()

    def stop_timer(self, name: str, start: float, **metadata: Any) -> float:
        """Stop timing ``name``: record an event with the duration and return it."""
        duration = perf_counter() - start
        with self._lock:
            stats = self._timers.get(name)
            if stats is None:
                self._timers[name] = [1, duration, duration, duration]
            else:
                stats[0] += 1
                stats[1] += duration
                if duration < stats[2]:
                    stats[2] = duration
                if duration > stats[3]:
                    stats[3] = duration
        self.track(name, duration, **metadata)
        return duration

    @contextmanager
    def timer(self, name: str, **metadata: Any) -> Iterator[None]:
        """Time the ``with`` block as ``name`` (recorded even when it raises)."""
        start = self.start_timer(name)
        try:
            yield
        finally:
            self.stop_timer(name, start, **metadata)

    def get_timers(self) -> Dict[str, Dict[str, float]]:
        """Per timer name: count, total, mean, min and max seconds."""
        with self._lock:
            return {
                name: {
                    "count": s[0],
                    "total": s[1],
                    "mean": s[1] / s[0],
                    "min": s[2],
                    "max": s[3],
                }
                for name, s in self._timers.items()
            }

    # -- summary -----------------------------------------------------------
    def get_summary(self) -> Dict[str, Any]:
        """Metrics, timers and event counts (including events dropped from the buffer)."""
        events = list(self._events)  # one C-level copy: atomic against appends
        total = self._events_seen.value()
        with self._lock:
            metrics = dict(self._metrics)
        counts: Dict[str, int] = {}
        for e in events:
            counts[e.name] = counts.get(e.name, 0) + 1
        buffered = len(events)
        return {
            "metrics": metrics,
            "timers": self.get_timers(),
            "events_total": total,
            "events_buffered": buffered,
            "events_dropped": total - buffered,
            "event_counts": counts,
        }

    def snapshot(self, run: Run) -> Optional[MetricSnapshot]:
        """A metric snapshot when a metric changed since the last one, else None
        (called by the core at each run's end while records are kept)."""
        # Unlocked first look: most runs change no metric. A change racing past
        # it is sent with the next run's end, as it would be had it come later.
        if self._snapshot_version == self._version:
            return None
        with self._lock:
            if self._snapshot_version == self._version:
                return None
            self._snapshot_version = self._version
            metrics = dict(self._metrics)
        return MetricSnapshot(metrics, time_ns(), run.run_id, run.trace_id, run.session_id)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(metrics={len(self._metrics)}, events={len(self._events)})"
