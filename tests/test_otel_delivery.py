"""OTelSink delivery: nothing lost between the recorder and the OTLP endpoint, every loss reported.

Every test exports with the real OTLP/HTTP exporter to a receiver on 127.0.0.1 that decodes
the protobuf bodies and can refuse a signal the way traces-only backends do (Arize Phoenix
answers 405, MLflow 404 on /v1/logs and /v1/metrics).
"""

from __future__ import annotations

import logging
import time
from typing import Any, Dict, Iterator

import pytest

pytest.importorskip("opentelemetry.sdk")
pytest.importorskip("opentelemetry.exporter.otlp.proto.http")
pytest.importorskip("opentelemetry.proto")

import auditora
from auditora import monitor, report, sentinel, session
from auditora.core import _runs
from auditora.integrations.otel import OTelSink
from auditora.testing import capture
from otlp_receiver import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A receiver started for the test and stopped after it (sinks are shut down first,
    so no exporter is left retrying against a closed port)."""
    r = Receiver().start()
    try:
        yield r
    finally:
        auditora.shutdown(10.0)
        r.stop()


@pytest.fixture(autouse=True)
def _restore_hook() -> Iterator[None]:
    saved = _runs.remote_parent_hook
    yield
    _runs.remote_parent_hook = saved


@pytest.fixture(autouse=True)
def _no_otel_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "OTEL_TRACES_EXPORTER",
        "OTEL_LOGS_EXPORTER",
        "OTEL_METRICS_EXPORTER",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_COMPRESSION",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
    ):
        monkeypatch.delenv(name, raising=False)


@sentinel()
def step(i: int) -> int:
    """One run, one span."""
    return i


@sentinel(session_id="delivery")
def answer(question: str) -> str:
    """A run producing records for every signal: spans, logs and metrics."""
    report.info("answering", question=question)
    monitor.track("retrieved", documents=3)
    monitor.increment_metric("answers", 1)
    report.log_llm_call(model="gpt-4o", prompt_tokens=12, completion_tokens=30, response_time=0.5)
    report.log_evaluation_result("relevance", 0.9, threshold=0.5)
    return "42"


def otel_stats() -> Dict[str, Any]:
    stats: Dict[str, Any] = auditora.stats()["sinks"]["OTelSink"]
    return stats


@pytest.mark.timeout(180)
def test_200000_runs_arrive_as_200000_spans_with_flush_true(receiver: Receiver) -> None:
    """200,000 runs written as fast as a loop can: every span id reaches the receiver,
    flush() is True and the sink counts 200,000 traces exported, none failed."""
    n = 200_000
    auditora.configure(sinks=[OTelSink(endpoint=receiver.endpoint)], console=False)
    started = time.perf_counter()
    for i in range(n):
        step(i)
    assert auditora.flush(120.0)
    elapsed = time.perf_counter() - started
    span_ids = receiver.span_ids()
    overall = auditora.stats()
    stats = overall["sinks"]["OTelSink"]
    print(f"\n{n} runs -> {len(span_ids)} spans received in {elapsed:.1f}s (calls + flush)")
    assert (len(span_ids), len(set(span_ids))) == (n, n)
    assert stats["signals"]["traces"] == {"exported": n, "failed": 0, "error": None}
    # Every record the recorder received (the runs and the session's one record) was delivered.
    assert (overall["dropped"], stats["dropped"], stats["failed_batches"]) == ({}, {}, 0)
    assert stats["exported"] == overall["received"] >= n


def test_a_traces_only_backend_fails_flush_and_counts_each_lost_record_once(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    """404 on /v1/logs and /v1/metrics: flush() is False, the logs and metrics failures are
    counted per signal, every record translated into a refused signal is counted lost once
    (runs and events, which became spans only, are delivered), and the refusal is logged
    once per signal with the endpoint and the traces-only hint."""
    receiver.status["/v1/logs"] = 404
    receiver.status["/v1/metrics"] = 404
    auditora.configure(sinks=[OTelSink(endpoint=receiver.endpoint, timeout=5)], console=False)
    with caplog.at_level(logging.WARNING, logger="auditora"):
        with capture() as records:
            answer("first")
        assert auditora.flush(10.0) is False
        with capture() as more:
            answer("second")
        assert auditora.flush(10.0) is False

    everything = list(records) + list(more)
    spans_only = [r for r in everything if r.kind in ("run", "event")]
    stats = otel_stats()
    # Runs and LLM calls became spans; events rode on their run's span.
    assert len(receiver.span_ids()) == len(records.runs + more.runs + records.llm_calls) + 1
    assert stats["signals"]["traces"]["failed"] == 0
    assert stats["signals"]["logs"]["failed"] > 0
    assert stats["signals"]["metrics"]["failed"] > 0
    assert stats["signals"]["logs"]["error"] == "HTTP 404"
    assert stats["dropped"] == {"sink_error": len(everything) - len(spans_only)}
    assert stats["exported"] == len(spans_only)
    assert stats["failed_batches"] >= 2
    assert receiver.refused["/v1/logs"] >= 2

    warnings = [r.getMessage() for r in caplog.records if "OTelSink could not export" in r.message]
    assert len(warnings) == 2, warnings
    logs_warning = next(w for w in warnings if "export logs" in w)
    metrics_warning = next(w for w in warnings if "export metrics" in w)
    assert f"{receiver.endpoint}/v1/logs answered HTTP 404" in logs_warning
    assert 'signals=("traces",)' in logs_warning
    assert "OTEL_LOGS_EXPORTER=none" in logs_warning
    assert f"{receiver.endpoint}/v1/metrics answered HTTP 404" in metrics_warning
    assert "OTEL_METRICS_EXPORTER=none" in metrics_warning


@pytest.mark.parametrize("switch", ["signals", "environment"])
def test_switching_refused_signals_off_makes_a_traces_only_backend_lose_nothing(
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    switch: str,
) -> None:
    """With signals=("traces",), or OTEL_LOGS_EXPORTER=none and OTEL_METRICS_EXPORTER=none,
    the same backend gets no logs or metrics requests: flush() is True, nothing is lost or
    logged, and the sink reports traces only."""
    receiver.status["/v1/logs"] = 404
    receiver.status["/v1/metrics"] = 404
    if switch == "signals":
        sink = OTelSink(endpoint=receiver.endpoint, signals=("traces",))
    else:
        monkeypatch.setenv("OTEL_LOGS_EXPORTER", "none")
        monkeypatch.setenv("OTEL_METRICS_EXPORTER", "none")
        sink = OTelSink(endpoint=receiver.endpoint)
    assert sink.signals == ("traces",)
    auditora.configure(sinks=[sink], console=False)
    with caplog.at_level(logging.WARNING, logger="auditora"), capture() as records:
        answer("traces only")
    assert auditora.flush(10.0)

    stats = otel_stats()
    assert list(stats["signals"]) == ["traces"]
    assert stats["signals"]["traces"]["failed"] == 0
    assert (stats["exported"], stats["failed_batches"], stats["dropped"]) == (len(records), 0, {})
    assert receiver.refused == {"/v1/traces": 0, "/v1/logs": 0, "/v1/metrics": 0}
    assert len(receiver.span_ids()) == len(records.runs) + len(records.llm_calls)
    assert not [r for r in caplog.records if "OTelSink" in r.getMessage()]


def test_a_failing_trace_endpoint_loses_every_run_and_says_so(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    """A 500 on /v1/traces: each run is counted lost (dropped as sink_error), flush() is
    False, and the one warning names the endpoint and the status."""
    receiver.status["/v1/traces"] = 500
    sink = OTelSink(endpoint=receiver.endpoint, signals=("traces",), timeout=5)
    auditora.configure(sinks=[sink], console=False)
    with caplog.at_level(logging.WARNING, logger="auditora"), capture() as records:
        for i in range(10):
            step(i)
        assert auditora.flush(10.0) is False
    stats = otel_stats()
    assert stats["signals"]["traces"] == {"exported": 0, "failed": 10, "error": "HTTP 500"}
    # Records with no span (the session record: logs are off) were not lost.
    assert (stats["exported"], stats["dropped"]) == (len(records) - 10, {"sink_error": 10})
    (warning,) = [r.getMessage() for r in caplog.records if "could not export" in r.message]
    assert f"{receiver.endpoint}/v1/traces answered HTTP 500" in warning


def test_metrics_are_pushed_from_the_batches_once_the_interval_has_passed(
    receiver: Receiver,
) -> None:
    """With metric_export_interval=0 each batch that fed a metric pushes it right away,
    without a flush, and the data points are counted as exported."""
    sink = OTelSink(endpoint=receiver.endpoint, signals=("metrics",), metric_export_interval=0.0)
    try:
        with capture() as records:
            answer("metrics")
        sink.export(list(records))
        assert receiver.decoded("/v1/metrics")
        assert sink.stats()["signals"]["metrics"]["exported"] > 0
    finally:
        sink.close(5.0)


def test_secrets_used_as_dict_keys_never_reach_the_otlp_receiver(receiver: Receiver) -> None:
    """A secret used as a dict key, in log fields and in session state, is absent from
    every byte the receiver got (the log and session records themselves did arrive)."""
    openai_key = "sk-proj-abcdefghijklmnopqrstuvwx123456"
    aws_key = "AKIAIOSFODNN7EXAMPLE"

    @sentinel(session_id="secrets")
    def leaky() -> None:
        report.info("x", clients={openai_key: 1})
        session.set("k", {aws_key: 2})

    auditora.configure(sinks=[OTelSink(endpoint=receiver.endpoint)], console=False)
    leaky()
    assert auditora.flush(10.0)
    raw = receiver.raw()
    logs = receiver.logs()
    assert any(log.body.string_value == "x" for log in logs)
    assert any(log.event_name == "auditora.session" for log in logs)
    assert openai_key.encode() not in raw
    assert aws_key.encode() not in raw


def test_batch_is_deprecated_and_unknown_signals_are_refused() -> None:
    """batch= still constructs a sink (it warns and has no effect); a misspelt signal
    is a ValueError rather than a silently missing signal."""
    with pytest.warns(DeprecationWarning, match="batch"):
        sink = OTelSink(endpoint="http://127.0.0.1:9", batch=True, join_otel_context=False)
    sink.close(0.1)
    with pytest.raises(ValueError, match="trace"):
        OTelSink(endpoint="http://127.0.0.1:9", signals=("trace",), join_otel_context=False)
