"""Memory per kept run and per event (tracemalloc), Auditora vs OpenTelemetry."""

from __future__ import annotations

import gc
import tracemalloc
from typing import Any, Callable, Dict

from ours import quiet_report

from auditora import DefaultMonitor, bifrost_sync, monitor, sentinel
from auditora.testing import capture

#: Budgets of issue 7, in bytes.
TARGETS = {"run": 400.0, "event": 250.0}


def bytes_per(n: int, produce: Callable[[int], Any]) -> float:
    """Bytes still allocated per item after ``produce(n)`` (its result is kept alive)."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = produce(n)
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    del kept
    return (after - before) / n


def auditora_run(n: int) -> Any:
    """Runs kept by ``auditora.testing.capture()`` (as a sink's queue would keep them)."""

    @sentinel(report=quiet_report())
    def watched() -> None:
        return None

    with capture() as records:
        for _ in range(n):
            watched()
    return records


def auditora_event(n: int) -> Any:
    """Events kept in the monitor's buffer."""
    mon = DefaultMonitor(max_events=n + 1)
    with bifrost_sync(monitor=mon, report=quiet_report()):
        for _ in range(n):
            monitor.track("cache_miss", key="k1")
    return mon


def otel_span(n: int) -> Any:
    """Finished spans kept by an in-memory exporter."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    provider = TracerProvider()
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("bench")

    @tracer.start_as_current_span("watched")
    def watched() -> None:
        return None

    for _ in range(n):
        watched()
    return exporter, provider


def otel_event(n: int) -> Any:
    """Events kept on one recording span."""
    from opentelemetry.sdk.trace import SpanLimits, TracerProvider

    tracer = TracerProvider(span_limits=SpanLimits(max_events=n + 1)).get_tracer("bench")
    span = tracer.start_span("events")
    for _ in range(n):
        span.add_event("cache_miss", {"key": "k1"})
    return span


def measure_memory(n: int, with_otel: bool) -> Dict[str, float]:
    """Bytes per kept run and per event; OTel's when it is installed."""
    out = {
        "auditora run": bytes_per(n, auditora_run),
        "auditora event": bytes_per(n, auditora_event),
    }
    if with_otel:
        out["opentelemetry span"] = bytes_per(n, otel_span)
        out["opentelemetry event"] = bytes_per(n, otel_event)
    return out
