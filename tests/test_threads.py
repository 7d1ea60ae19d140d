"""Threads: contexts are per thread, `bind` carries one across, adats are thread-safe."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import List, Optional

import pytest

import auditora
from auditora import DefaultMonitor, Paragon, monitor, sentinel, session
from auditora.testing import capture


def test_a_plain_thread_does_not_see_the_callers_context() -> None:
    """threading.Thread targets start with no frame (the standard library's behaviour)."""
    seen: List[Optional[object]] = []

    @sentinel()
    def job() -> None:
        t = threading.Thread(target=lambda: seen.append(Paragon.current()))
        t.start()
        t.join()

    job()
    assert seen == [None]


def test_bind_carries_the_context_into_a_thread() -> None:
    """auditora.bind(fn) runs fn in a copy of the caller's context, in another thread."""
    seen: List[str] = []

    @sentinel(session_id="owner")
    def job() -> None:
        t = threading.Thread(target=auditora.bind(lambda: seen.append(session.session_id)))
        t.start()
        t.join()

    job()
    assert seen == ["owner"]


def test_bind_with_thread_pool_many_submissions_and_nested_runs() -> None:
    """One bound function submitted many times runs concurrently; runs nest under the
    caller and count into the caller's monitor (one trace, one session)."""

    @sentinel()
    def work(i: int) -> int:
        monitor.increment_metric("done")
        return i * i

    @sentinel(session_id="pool")
    def fan_out() -> List[int]:
        with ThreadPoolExecutor(max_workers=4) as pool:
            return list(pool.map(auditora.bind(work), range(50)))

    with capture() as records:
        assert fan_out() == [i * i for i in range(50)]
    parent = next(r for r in records.runs if r.name.endswith("fan_out"))
    children = [r for r in records.runs if r.name.endswith("work")]
    assert len(children) == 50
    assert {c.parent_id for c in children} == {parent.run_id}
    assert {c.trace_id for c in children} == {parent.trace_id}
    assert fan_out._monitor.get_metrics() == {"done": 50.0}
    assert work._monitor.get_metrics() == {}
    assert {c.session_id for c in children} == {"pool"}


def test_bind_rejects_non_callables() -> None:
    """bind() of a non-callable is a TypeError."""
    with pytest.raises(TypeError):
        auditora.bind(42)  # type: ignore[arg-type]


def test_contexts_are_isolated_per_thread() -> None:
    """Threads running different sentinels concurrently each see only their own session."""
    barrier = threading.Barrier(8)
    results: List[bool] = []
    lock = threading.Lock()

    def make(i: int):
        @sentinel(session_id=f"t{i}")
        def job() -> None:
            barrier.wait(timeout=10)
            ok = all(session.session_id == f"t{i}" for _ in range(1000))
            with lock:
                results.append(ok)

        return job

    threads = [threading.Thread(target=make(i)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [True] * 8


def test_eight_threads_incrementing_one_metric_lose_nothing() -> None:
    """8 threads x 20,000 increments of one metric through the proxy sum to 160,000."""
    shared = DefaultMonitor()

    @sentinel(monitor=shared)
    def hammer() -> None:
        for _ in range(20_000):
            monitor.increment_metric("hits")

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert shared.get_metrics() == {"hits": 160_000.0}


def test_concurrent_events_and_session_writes_are_all_kept() -> None:
    """Concurrent track() and session.set() calls from threads are all recorded."""
    shared = DefaultMonitor(max_events=100_000)

    @sentinel(monitor=shared, session_id="shared")
    def writer(n: int) -> None:
        for i in range(2_000):
            monitor.track("tick", worker=n)
            session.set(f"{n}-{i}", i)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(shared.get_events("tick")) == 8_000
    assert len(writer._session.get_state()) == 8_000
