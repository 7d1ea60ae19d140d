"""The real OpenTelemetry SDK, exporting OTLP/HTTP protobuf, lands in the store through
``auditora collect``: spans as runs, GenAI spans as priced LLM calls, logs and metrics."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

pytest.importorskip("opentelemetry.exporter.otlp.proto.http")

from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

from auditora.llm import compute_cost
from auditora.store import open_store
from collect_helpers import collector

RESOURCE = Resource.create({"service.name": "checkout"})


def test_sdk_spans_become_runs_and_priced_llm_calls(tmp_path: Path) -> None:
    """A parent span, a GenAI chat span and a failing tool span sent by the SDK's protobuf
    exporter keep their ids, parents, status, traceback and service name; the chat span is
    an LLM call with every token count, priced by Auditora's table."""
    store = tmp_path / "s.db"
    with collector(store) as server:
        provider = TracerProvider(resource=RESOURCE)
        provider.add_span_processor(
            SimpleSpanProcessor(
                OTLPSpanExporter(endpoint=server.endpoint + "/v1/traces", timeout=5)
            )
        )
        tracer = provider.get_tracer("app")
        with tracer.start_as_current_span("handle", attributes={"session.id": "s-1"}) as root:
            with tracer.start_as_current_span(
                "chat gpt-4o-mini",
                kind=SpanKind.CLIENT,
                attributes={
                    "gen_ai.operation.name": "chat",
                    "gen_ai.provider.name": "openai",
                    "gen_ai.request.model": "gpt-4o-mini",
                    "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
                    "gen_ai.request.temperature": 0.2,
                    "gen_ai.usage.input_tokens": 1000,
                    "gen_ai.usage.output_tokens": 200,
                    "gen_ai.usage.cache_read.input_tokens": 400,
                    "gen_ai.usage.cache_creation.input_tokens": 100,
                    "gen_ai.usage.reasoning.output_tokens": 50,
                    "gen_ai.response.finish_reasons": ["stop"],
                    "gen_ai.response.time_to_first_chunk": 0.25,
                    "gen_ai.response.id": "chatcmpl-1",
                    "gen_ai.conversation.id": "s-1",
                    "server.address": "api.openai.com",
                },
            ) as chat:
                pass
            try:
                with tracer.start_as_current_span("execute_tool lookup") as tool:
                    tool.set_attribute("gen_ai.operation.name", "execute_tool")
                    raise KeyError("sku-9")
            except KeyError:
                pass
        provider.shutdown()
    with open_store(store) as s:
        runs = {r["name"]: r for r in s.runs(limit=None)}
        calls = s.llm_calls(limit=None)
        sessions = s.sessions()
    root_id = format(root.get_span_context().span_id, "016x")
    trace_id = format(root.get_span_context().trace_id, "032x")
    handle, chat_run, tool_run = (
        runs["handle"],
        runs["chat gpt-4o-mini"],
        runs["execute_tool lookup"],
    )
    assert (handle["run_id"], handle["trace_id"], handle["parent_id"]) == (root_id, trace_id, None)
    assert chat_run["parent_id"] == tool_run["parent_id"] == root_id
    assert chat_run["run_id"] == format(chat.get_span_context().span_id, "016x")
    assert (chat_run["run_type"], tool_run["run_type"], handle["run_type"]) == (
        "llm",
        "tool",
        "function",
    )
    assert (tool_run["status"], tool_run["error_type"], tool_run["error_message"]) == (
        "error",
        "KeyError",
        "'sku-9'",
    )
    assert "Traceback" in tool_run["traceback"] and "sku-9" in tool_run["traceback"]
    assert "checkout" in str(handle["attributes"])
    assert [x["session_id"] for x in sessions] == ["s-1"]
    (call,) = calls
    expected = compute_cost("gpt-4o-mini-2024-07-18", 1000, 200, 400, 100)
    assert expected is not None and call["cost"] == pytest.approx(expected)
    assert (
        call["model"],
        call["request_model"],
        call["provider"],
        call["input_tokens"],
        call["output_tokens"],
        call["cached_tokens"],
        call["cache_write_tokens"],
        call["reasoning_tokens"],
        call["finish_reason"],
        call["time_to_first_token"],
        call["response_id"],
        call["run_id"],
        call["session_id"],
    ) == (
        "gpt-4o-mini-2024-07-18",
        "gpt-4o-mini",
        "openai",
        1000,
        200,
        400,
        100,
        50,
        "stop",
        0.25,
        "chatcmpl-1",
        chat_run["run_id"],
        "s-1",
    )


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_sdk_logs_and_metrics_become_logs_and_metrics(tmp_path: Path) -> None:
    """The SDK's protobuf log and metric exporters: a log line in its span's context is a log
    of that run; a counter is a metric snapshot."""
    store = tmp_path / "s.db"
    with collector(store) as server:
        logs = LoggerProvider(resource=RESOURCE)
        logs.add_log_record_processor(
            SimpleLogRecordProcessor(
                OTLPLogExporter(endpoint=server.endpoint + "/v1/logs", timeout=5)
            )
        )
        handler = LoggingHandler(logger_provider=logs)
        logger = logging.getLogger("collect-test")
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        traces = TracerProvider(resource=RESOURCE)
        with traces.get_tracer("app").start_as_current_span("job") as span:
            logger.warning("disk at %d%%", 91)
        logger.removeHandler(handler)  # the SDK's handler (deprecated, but the SDK's own)
        logs.shutdown()
        reader = PeriodicExportingMetricReader(
            OTLPMetricExporter(endpoint=server.endpoint + "/v1/metrics", timeout=5),
            export_interval_millis=60_000,
        )
        meters = MeterProvider(resource=RESOURCE, metric_readers=[reader])
        meters.get_meter("app").create_counter("orders").add(3, {"region": "eu"})
        meters.shutdown()
    with open_store(store) as s:
        (log,) = s.logs(limit=None)
        metrics = s.metrics(limit=None)
    assert (log["level"], log["message"], log["run_id"]) == (
        "WARNING",
        "disk at 91%",
        format(span.get_span_context().span_id, "016x"),
    )
    assert [(m["name"], m["value"]) for m in metrics] == [("orders{region=eu}", 3.0)]


def test_error_status_without_exception_event_keeps_the_description(tmp_path: Path) -> None:
    """A span set to ERROR with a description but no exception event is an error run with
    that message."""
    store = tmp_path / "s.db"
    with collector(store) as server:
        provider = TracerProvider(resource=RESOURCE)
        provider.add_span_processor(
            SimpleSpanProcessor(
                OTLPSpanExporter(endpoint=server.endpoint + "/v1/traces", timeout=5)
            )
        )
        with provider.get_tracer("app").start_as_current_span("step") as span:
            span.set_status(Status(StatusCode.ERROR, "quota exhausted"))
        provider.shutdown()
    with open_store(store) as s:
        (run,) = s.runs(limit=None)
    assert (run["status"], run["error_message"]) == ("error", "quota exhausted")
