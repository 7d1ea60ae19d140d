"""Head sampling: whole traces by trace-id ratio, errors and expensive calls always kept."""

from __future__ import annotations

import random
from collections import defaultdict
from typing import Any, Dict, List

import pytest

import auditora
from auditora import bifrost_sync, monitor, report, sentinel
from auditora.records import Evaluation, LLMCall, Log, MetricSnapshot, Run, SessionRecord
from auditora.sampling import Sampler, trace_id_ratio
from auditora.sinks import MemorySink


def ids_for(ratio: float, inside: bool, n: int = 1) -> List[str]:
    """Trace ids that are (or are not) in a ``ratio`` sample."""
    rng = random.Random(7)
    out: List[str] = []
    while len(out) < n:
        tid = format(rng.getrandbits(128), "032x")
        if trace_id_ratio(tid, ratio) == inside:
            out.append(tid)
    return out


def run_record(trace_id: str, status: str = "ok") -> Run:
    """A finished run record in ``trace_id``."""
    run = Run.__new__(Run)
    for name in Run._fields:
        setattr(run, name, None)
    run.trace_id, run.run_id, run.name, run.status = trace_id, "1" * 16, "r", status
    return run


def llm(trace_id: str, **kw: Any) -> LLMCall:
    """An LLM call record in ``trace_id``."""
    return LLMCall("m", 1, 1, kw.pop("response_time", 0.1), kw.pop("success", True), 0,
                   "1" * 16, trace_id, None, **kw)  # fmt: skip


def test_decision_matches_opentelemetry_trace_id_ratio_based() -> None:
    """The rule is OpenTelemetry's, so both agree on every propagated trace."""
    sampling = pytest.importorskip("opentelemetry.sdk.trace.sampling")
    rng = random.Random(1)
    ids = [format(rng.getrandbits(128), "032x") for _ in range(500)]
    otel = sampling.TraceIdRatioBased(0.3)
    expected = [otel.should_sample(None, int(t, 16), "x").decision.is_sampled() for t in ids]
    assert [trace_id_ratio(t, 0.3) for t in ids] == expected


def test_ratio_bounds_keep_everything_or_nothing() -> None:
    """ratio=1 keeps every trace, ratio=0 none (absent an error)."""
    tid = ids_for(0.5, True)[0]
    assert (Sampler(1.0)(run_record(tid)), Sampler(0.0)(run_record(tid))) == (True, False)


def test_every_record_of_a_trace_gets_the_same_decision() -> None:
    """Runs, logs, events and LLM calls of one trace are kept or dropped together."""
    sampler = Sampler(0.5)
    decisions = defaultdict(set)
    for tid in ids_for(0.5, True, 20) + ids_for(0.5, False, 20):
        for record in (run_record(tid), Log("INFO", "x", {}, 0, "1" * 16, tid, None), llm(tid)):
            decisions[tid].add(sampler(record))
    assert {len(d) for d in decisions.values()} == {1}
    assert sorted(d.pop() for d in decisions.values()) == [False] * 20 + [True] * 20


def test_errors_failed_evaluations_and_expensive_calls_are_always_kept() -> None:
    """Records that must not be lost bypass the ratio."""
    sampler = Sampler(0.0, min_cost=1.0, min_latency=5.0)
    tids = ids_for(0.0, False, 7)
    records = [
        run_record(tids[0], status="error"),
        Log("ERROR", "boom", {}, 0, "1" * 16, tids[1], None),
        Evaluation("acc", 0.1, 0.5, "FAIL", 0, "1" * 16, tids[2], None),
        llm(tids[3], success=False),
        llm(tids[4], cost=2.0),
        llm(tids[5], response_time=9.0),
        llm(tids[6], cost=0.5, response_time=1.0),
    ]
    assert [sampler(r) for r in records] == [True] * 6 + [False]


def test_a_kept_error_promotes_the_rest_of_its_trace() -> None:
    """After an error the trace's later records (its enclosing runs) are kept."""
    sampler = Sampler(0.0)
    tid = ids_for(0.0, False)[0]
    before = sampler(run_record(tid))
    error = sampler(run_record(tid, status="error"))
    after = sampler(run_record(tid))
    assert (before, error, after) == (False, True, True)


def test_metric_snapshots_sessions_and_records_outside_runs_are_always_kept() -> None:
    """Aggregates stay exact; records with no trace are not sampled."""
    sampler = Sampler(0.0)
    records = [
        MetricSnapshot({"n": 1.0}, 0, "1" * 16, "f" * 32, None),
        SessionRecord("s", None, [], {}, 0),
        Log("INFO", "outside", {}, 0, None, None, None),
    ]
    assert [sampler(r) for r in records] == [True, True, True]


def test_stats_count_seen_kept_and_dropped_per_kind() -> None:
    """stats() reports the sampler's effect per record kind."""
    sampler = Sampler(0.5)
    for tid in ids_for(0.5, True, 3) + ids_for(0.5, False, 2):
        sampler(run_record(tid))
    assert sampler.stats() == {"run": {"seen": 5, "kept": 3, "dropped": 2}}


@pytest.mark.parametrize("bad", [-0.1, 1.5])
def test_ratio_outside_zero_to_one_is_rejected(bad: float) -> None:
    """A ratio must be a fraction."""
    with pytest.raises(ValueError):
        Sampler(bad)


@sentinel(session_id="sampled")
def job(i: int) -> None:
    """A root run with a child, a log line, a metric and (every 5th) a failed child."""
    report.info("working", i=i)
    monitor.increment_metric("jobs")
    with bifrost_sync(name="child"):
        pass
    if i % 5 == 0:
        try:
            failing()
        except RuntimeError:
            pass


@sentinel()
def failing() -> None:
    """A child run that raises."""
    raise RuntimeError("nope")


def test_through_configure_traces_are_whole_or_absent_and_failures_survive() -> None:
    """With configure(sampler=...), sinks see whole traces, all failures, exact metrics."""
    sink = MemorySink()
    sampler = Sampler(0.3)
    auditora.configure(sinks=[sink], sampler=sampler, console=False)
    for i in range(60):
        job(i)
    assert auditora.flush(10.0)
    by_trace: Dict[str, List[Run]] = defaultdict(list)
    for record in sink.records:
        if isinstance(record, Run):
            by_trace[record.trace_id].append(record)
    kept_whole = {
        tid: sorted(r.name for r in runs)
        for tid, runs in by_trace.items()
        if not any(r.status == "error" for r in runs)
    }
    assert {tuple(names) for names in kept_whole.values()} <= {("child", "job")}
    assert set(kept_whole) == {t for t in kept_whole if trace_id_ratio(t, 0.3)}
    failures = [r for runs in by_trace.values() for r in runs if r.name == "failing"]
    assert len(failures) == 12
    snapshots = [r for r in sink.records if isinstance(r, MetricSnapshot)]
    assert snapshots[-1].metrics["jobs"] == job._monitor.get_metric("jobs")
