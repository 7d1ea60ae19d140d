"""The recorder with the SQLite store on: hot-path cost, records/s persisted, bytes queued.

Needs ``auditora.configure``/``flush``/``stats`` (the recorder). Every store
is a file in a temporary directory that is removed afterwards.
"""

from __future__ import annotations

import gc
import os
import threading
import time
import tracemalloc
from itertools import repeat
from time import perf_counter_ns
from typing import Any, Dict, List, Sequence, Tuple

from harness import Case
from ours import quiet_report

import auditora
from auditora import DefaultMonitor, bifrost_sync, monitor, report, sentinel

#: Room for every record of a sample: the benchmark measures the cost of
#: delivering records, not of dropping them (drops are reported if any).
QUEUE_SIZE = 2_000_000
RATIO_TARGET = 1.5
RATE_TARGET = 100_000.0
#: Offered loads for the sustained hot-path measure, as fractions of the calls
#: per second the store absorbs on the machine at hand (:func:`capacity`): a
#: fixed rate would be a light load on a fast machine and an overload on a slow
#: one, and above capacity the queue grows whatever the hot path costs.
PACED_FRACTIONS = (0.25, 0.5, 0.75)
#: Calls per burst: the app works in bursts and waits in between (on I/O, an
#: LLM), which is when background threads get the interpreter.
BURST = 50


def _unit() -> Any:
    """One decorated call that produces three records: a run, an event and a log."""

    @sentinel(report=quiet_report(), monitor=DefaultMonitor(max_events=16))
    def handle() -> None:
        monitor.track("cache_miss", key="k1")
        report.info("request handled", user="u1")

    return handle


def _dropped() -> int:
    stats = auditora.stats()
    total = sum(stats.get("dropped", {}).values())
    for sink in stats.get("sinks", {}).values():
        total += sum(sink.get("dropped", {}).values())
    return total


def hot_path_cases(tmpdir: str, drops: List[int]) -> List[Case]:
    """The same unit of work with no sink (memory only) and with the SQLite store."""
    handle = _unit()
    path = os.path.join(tmpdir, "hot.db")

    def memory_only(n: int) -> int:
        auditora.configure(sinks=[])
        t0 = perf_counter_ns()
        for _ in repeat(None, n):
            handle()
        return perf_counter_ns() - t0

    def with_store(n: int) -> int:
        auditora.configure(store=path, queue_size=QUEUE_SIZE, sink_backlog=QUEUE_SIZE)
        handle()  # start the worker and open the store outside the timed region
        auditora.flush(timeout=60)
        t0 = perf_counter_ns()
        for _ in repeat(None, n):
            handle()
        elapsed = perf_counter_ns() - t0
        auditora.flush(timeout=120)
        drops.append(_dropped())
        auditora.configure(sinks=[])
        return elapsed

    def queue_only(n: int) -> int:
        # The recorder on, its worker held by a gate sink: the enqueue cost alone,
        # without the worker competing for the interpreter.
        gate = _gate_sink()
        auditora.configure(sinks=[gate], queue_size=QUEUE_SIZE, sink_backlog=QUEUE_SIZE)
        try:
            handle()  # starts the worker, which then waits on the gate
            t0 = perf_counter_ns()
            for _ in repeat(None, n):
                handle()
            elapsed = perf_counter_ns() - t0
        finally:
            gate.release.set()
            auditora.configure(sinks=[])
        return elapsed

    return [
        Case("sqlite.hot_path", "auditora recorder on, worker held", queue_only, ours=True),
        Case(
            "sqlite.hot_path",
            "auditora memory only",
            memory_only,
            baseline=True,
            ours=True,
            note="a call with one track and one info",
        ),
        Case("sqlite.hot_path", "auditora SQLite store on", with_store, ours=True),
    ]


def _paced(handle: Any, n: int, rate: float) -> int:
    """Make ``n`` calls at ``rate`` calls/s in bursts of :data:`BURST`, sleeping in
    between; return the ns spent inside the bursts (the app's own time)."""
    period = BURST / rate
    spent = 0
    due = time.perf_counter()
    for done in range(0, n, BURST):
        k = min(BURST, n - done)
        t0 = perf_counter_ns()
        for _ in repeat(None, k):
            handle()
        spent += perf_counter_ns() - t0
        due += period
        pause = due - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
    return spent


def paced_cases(
    tmpdir: str, rate: int, seconds: float, lags: List[float], drops: List[int]
) -> List[Case]:
    """The unit at a sustained ``rate`` (below what the store absorbs), memory only
    and with the SQLite store; ``lags`` gets each store sample's catch-up time
    (how long the final flush took) and ``drops`` its dropped records."""
    handle = _unit()
    path = os.path.join(tmpdir, f"paced-{rate}.db")
    n = max(BURST, int(rate * seconds))

    def memory_only(n: int) -> int:
        auditora.configure(sinks=[])
        return _paced(handle, n, rate)

    def with_store(n: int) -> int:
        auditora.configure(store=path)  # the default queue and backlog bounds
        handle()
        auditora.flush(timeout=60)
        elapsed = _paced(handle, n, rate)
        t0 = time.perf_counter()
        auditora.flush(timeout=120)
        lags.append(time.perf_counter() - t0)
        drops.append(_dropped())
        auditora.configure(sinks=[])
        return elapsed

    group = f"sqlite.paced.{rate}"
    return [
        Case(group, "auditora memory only", memory_only, baseline=True, ours=True, n=n),
        Case(group, "auditora SQLite store on", with_store, ours=True, n=n),
    ]


def persisted_rate(tmpdir: str, records: int, varied: bool = False) -> Dict[str, float]:
    """Produce ``records`` events as fast as possible; time until all are in the store.

    The events of one run share their ids, as an app's do. By default they also
    share their name and metadata; ``varied`` gives each a name out of 97 and
    metadata of its own (an int that differs per record and a user out of 13),
    which the writer cannot bind once per statement."""
    path = os.path.join(tmpdir, f"rate{'-varied' if varied else ''}.db")
    auditora.configure(store=path, queue_size=QUEUE_SIZE, sink_backlog=QUEUE_SIZE)
    mon = DefaultMonitor(max_events=16)
    names = [f"event-{i}" for i in range(97)]
    users = [f"u{i}" for i in range(13)]
    try:
        with bifrost_sync(monitor=mon, report=quiet_report()):
            t0 = perf_counter_ns()
            if varied:
                for i in range(records):
                    monitor.track(names[i % 97], key=i, user=users[i % 13])
            else:
                for _ in repeat(None, records):
                    monitor.track("cache_miss", key="k1")
            produced = perf_counter_ns() - t0
            ok = auditora.flush(timeout=300)
            total = perf_counter_ns() - t0
        exported = _exported()
        dropped = _dropped()
    finally:
        auditora.configure(sinks=[])
    return {
        "records": float(records),
        "exported": float(exported),
        "dropped": float(dropped),
        "flushed": float(ok),
        "produce_per_s": records / (produced / 1e9),
        "persisted_per_s": exported / (total / 1e9),
    }


def _loads(tmpdir: str, name: str, chunks: int, calls: int) -> List[Tuple[int, int]]:
    """``chunks`` successive loads of ``calls`` calls of the unit, made in a tight
    loop into one store: (ns from the first call to the last record stored,
    records exported) for each."""
    handle = _unit()
    path = os.path.join(tmpdir, f"{name}.db")
    auditora.configure(store=path, queue_size=QUEUE_SIZE, sink_backlog=QUEUE_SIZE)
    loads: List[Tuple[int, int]] = []
    try:
        handle()  # start the worker and open the store outside the timed region
        auditora.flush(timeout=60)
        for _ in range(chunks):
            before = _exported()
            t0 = perf_counter_ns()
            for _ in repeat(None, calls):
                handle()
            auditora.flush(timeout=300)
            loads.append((perf_counter_ns() - t0, _exported() - before))
    finally:
        auditora.configure(sinks=[])
    return loads


def capacity(tmpdir: str, calls: int) -> float:
    """Calls of the unit per second the store absorbs on this machine."""
    ((elapsed, _),) = _loads(tmpdir, "capacity", 1, calls)
    return calls / (elapsed / 1e9)


def growth_rates(tmpdir: str, chunks: int, records: int) -> List[float]:
    """Records/s persisted for each of ``chunks`` successive loads of ``records``
    records (calls of the unit: a new run, trace and ids each) into one store, from
    the first call to the last record stored: does the rate hold as the store grows?"""
    loads = _loads(tmpdir, "growth", chunks, max(1, records // 3))
    return [exported / (elapsed / 1e9) for elapsed, exported in loads]


def _exported() -> int:
    return sum(s.get("exported", 0) for s in auditora.stats().get("sinks", {}).values())


class _Gate:
    """A sink that holds the recorder on its first batch, so records stay queued."""

    name = "gate"

    def __init__(self) -> None:
        self.release = threading.Event()

    def export(self, batch: Sequence[Any]) -> None:
        self.release.wait(60)

    def flush(self, timeout: float = 5.0) -> bool:
        return True

    def close(self, timeout: float = 5.0) -> None:
        self.release.set()


def _gate_sink() -> Any:
    from auditora.sinks import Sink

    return type("GateSink", (_Gate, Sink), {})()


def bytes_per_queued(records: int) -> float:
    """Memory held per record waiting in the recorder's queue (tracemalloc)."""
    gate = _gate_sink()
    auditora.configure(sinks=[gate], queue_size=QUEUE_SIZE, sink_backlog=QUEUE_SIZE)
    mon = DefaultMonitor(max_events=1)  # the queue, not the monitor, keeps them
    try:
        with bifrost_sync(monitor=mon, report=quiet_report()):
            monitor.track("warm up")  # starts the worker, which then blocks on the gate
            gc.collect()
            tracemalloc.start()
            before = tracemalloc.get_traced_memory()[0]
            for _ in repeat(None, records):
                monitor.track("cache_miss", key="k1")
            gc.collect()
            after = tracemalloc.get_traced_memory()[0]
            tracemalloc.stop()
    finally:
        gate.release.set()
        auditora.configure(sinks=[])
    return (after - before) / records


def available() -> bool:
    try:
        return callable(auditora.configure) and callable(auditora.stats)
    except AttributeError:
        return False
