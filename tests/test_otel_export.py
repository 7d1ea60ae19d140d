"""OTelSink: records exported over real OTLP/HTTP to a local receiver and decoded."""

from __future__ import annotations

import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator

import pytest

pytest.importorskip("opentelemetry.sdk")
pytest.importorskip("opentelemetry.exporter.otlp.proto.http")
pytest.importorskip("opentelemetry.proto")

from auditora import bifrost_sync, monitor, propagation, report, sentinel
from auditora.core import _runs
from auditora.integrations.otel import OTelSink
from auditora.testing import capture
from otlp_receiver import Receiver, attrs, running


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from running()


@pytest.fixture(autouse=True)
def _restore_hook() -> Iterator[None]:
    saved = _runs.remote_parent_hook
    yield
    _runs.remote_parent_hook = saved


@sentinel(session_id="otel-session")
def answer(question: str) -> str:
    """An instrumented function producing one of each record kind."""
    report.info("answering", question=question)
    monitor.track("retrieved", documents=3)
    monitor.increment_metric("answers", 1)
    report.log_llm_call(
        model="gpt-4o",
        prompt_tokens=12,
        completion_tokens=30,
        response_time=0.5,
        provider="openai",
        finish_reason="stop",
        request={"temperature": 0.2, "max_tokens": 100},
        response_id="chatcmpl-1",
    )
    report.log_evaluation_result("relevance", 0.4, threshold=0.5, explanation="off topic")
    helper()
    return "42"


@sentinel()
def helper() -> None:
    """A nested run."""


@sentinel(session_id="failing")
def fails() -> None:
    """A run that raises."""
    raise ValueError("bad input")


def export(sink: OTelSink, work: Any) -> Any:
    """Run ``work`` capturing its records, then push them through ``sink``."""
    with capture() as records:
        work()
    sink.export(list(records))
    assert sink.flush(10.0)
    return records


def test_runs_become_spans_with_the_same_ids_and_parents(receiver: Receiver) -> None:
    """Each run is a span whose trace id, span id and parent id are the run's own."""
    sink = OTelSink(endpoint=receiver.endpoint, service_name="svc", metrics=False)
    try:
        records = export(sink, lambda: answer("why?"))
    finally:
        sink.close()
    runs = {r.name: r for r in records.runs}
    spans = {s.name: s for s in receiver.spans()}
    outer, inner = runs["answer"], runs["helper"]
    assert {"answer", "helper", "chat gpt-4o"} == set(spans)
    got = [
        (spans[n].trace_id.hex(), spans[n].span_id.hex(), spans[n].parent_span_id.hex())
        for n in ("answer", "helper")
    ]
    assert got == [
        (outer.trace_id, outer.run_id, ""),
        (inner.trace_id, inner.run_id, outer.run_id),
    ]
    assert attrs(spans["answer"])["session.id"] == "otel-session"
    assert attrs(spans["answer"])["gen_ai.conversation.id"] == "otel-session"
    assert spans["answer"].start_time_unix_nano == outer.start_ns
    assert spans["answer"].end_time_unix_nano == outer.start_ns + outer.duration_ns


def test_llm_calls_become_genai_client_spans(receiver: Receiver) -> None:
    """An LLM call is a CLIENT span under its run with the GenAI attributes."""
    sink = OTelSink(endpoint=receiver.endpoint, metrics=False)
    try:
        records = export(sink, lambda: answer("why?"))
    finally:
        sink.close()
    run = next(r for r in records.runs if r.name == "answer")
    (call,) = records.llm_calls
    span = next(s for s in receiver.spans() if s.name == "chat gpt-4o")
    expected = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.usage.input_tokens": 12,
        "gen_ai.usage.output_tokens": 30,
        "gen_ai.response.finish_reasons": ["stop"],
        "gen_ai.request.temperature": 0.2,
        "gen_ai.request.max_tokens": 100,
        "gen_ai.response.id": "chatcmpl-1",
        "session.id": "otel-session",
        "gen_ai.conversation.id": "otel-session",
        # OpenInference, for Arize Phoenix (MLflow reads the span kind and counts too)
        "openinference.span.kind": "LLM",
        "llm.model_name": "gpt-4o",
        "llm.provider": "openai",
        "llm.token_count.prompt": 12,
        "llm.token_count.completion": 30,
        "llm.token_count.total": 42,
        "llm.invocation_parameters": '{"temperature": 0.2, "max_tokens": 100}',
    }
    assert call.cost is not None  # gpt-4o is in the bundled price table
    for name in ("gen_ai.usage.cost", "llm.cost.total"):
        expected[name] = call.cost
    assert attrs(span) == expected
    assert (span.trace_id.hex(), span.parent_span_id.hex(), span.kind) == (
        run.trace_id,
        run.run_id,
        3,  # SPAN_KIND_CLIENT
    )
    # response_time=0.5 s is longer than the run has lasted: the span starts with the run.
    assert span.start_time_unix_nano == run.start_ns
    assert span.end_time_unix_nano == call.time_ns


def test_events_and_evaluations_become_span_events(receiver: Receiver) -> None:
    """Monitor events and gen_ai.evaluation.result are events on the run's span."""
    sink = OTelSink(endpoint=receiver.endpoint, metrics=False)
    try:
        export(sink, lambda: answer("why?"))
    finally:
        sink.close()
    span = next(s for s in receiver.spans() if s.name == "answer")
    events = {e.name: attrs(e) for e in span.events}
    assert events["retrieved"] == {"documents": 3}
    assert events["gen_ai.evaluation.result"] == {
        "gen_ai.evaluation.name": "relevance",
        "gen_ai.evaluation.score.value": 0.4,
        "gen_ai.evaluation.score.label": "fail",
        "gen_ai.evaluation.explanation": "off topic",
        "auditora.evaluation.threshold": 0.5,
        "auditora.evaluation.status": "FAIL",
        "auditora.evaluation.direction": "higher",
    }


def test_errors_set_span_status_and_an_exception_event(receiver: Receiver) -> None:
    """A failed run's span has ERROR status, error.type and an exception event."""
    sink = OTelSink(endpoint=receiver.endpoint, metrics=False)

    def work() -> None:
        with pytest.raises(ValueError):
            fails()

    try:
        export(sink, work)
    finally:
        sink.close()
    (span,) = receiver.spans()
    (event,) = span.events
    assert (span.status.code, span.status.message) == (2, "ValueError: bad input")
    assert attrs(span)["error.type"] == "ValueError"
    exception = attrs(event)
    stacktrace = exception.pop("exception.stacktrace")
    assert (event.name, exception) == (
        "exception",
        {"exception.type": "ValueError", "exception.message": "bad input"},
    )
    assert stacktrace.startswith("Traceback (most recent call last):")
    assert stacktrace.rstrip().endswith("ValueError: bad input")


def test_logs_and_evaluation_events_go_to_otel_logs_in_the_run_context(
    receiver: Receiver,
) -> None:
    """Report lines and log-based evaluation events carry the run's trace and span ids."""
    sink = OTelSink(endpoint=receiver.endpoint, metrics=False)
    try:
        records = export(sink, lambda: answer("why?"))
    finally:
        sink.close()
    run = next(r for r in records.runs if r.name == "answer")
    logs = receiver.logs()
    line = next(log for log in logs if log.body.string_value == "answering")
    evaluation = next(log for log in logs if log.event_name == "gen_ai.evaluation.result")
    assert (line.trace_id.hex(), line.span_id.hex(), line.severity_text) == (
        run.trace_id,
        run.run_id,
        "INFO",
    )
    assert attrs(line) == {
        "question": "why?",
        "session.id": "otel-session",
        "gen_ai.conversation.id": "otel-session",
    }
    assert (evaluation.span_id.hex(), attrs(evaluation)["gen_ai.evaluation.name"]) == (
        run.run_id,
        "relevance",
    )


def test_metrics_and_genai_histograms_are_exported(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Monitor metrics become gauges; LLM calls feed the GenAI usage histograms (without
    OTEL_SEMCONV_STABILITY_OPT_IN, the conventions' older token histogram)."""
    monkeypatch.delenv("OTEL_SEMCONV_STABILITY_OPT_IN", raising=False)
    sink = OTelSink(endpoint=receiver.endpoint, traces=False, logs=False)
    try:
        records = export(sink, lambda: answer("why?"))
    finally:
        sink.close()
    total = records.metrics[-1].metrics["answers"]  # the monitor outlives one call
    metrics = receiver.metrics()
    gauge = metrics["answers"].gauge.data_points[0]
    usage = metrics["gen_ai.client.token.usage"].histogram.data_points
    assert (gauge.as_double, attrs(gauge)) == (total, {"session.id": "otel-session"})
    assert sorted((attrs(p)["gen_ai.token.type"], p.sum) for p in usage) == [
        ("input", 12),
        ("output", 30),
    ]
    assert metrics["gen_ai.client.operation.duration"].unit == "s"


def test_standard_otlp_environment_variables_configure_the_exporters(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """OTEL_EXPORTER_OTLP_ENDPOINT/HEADERS and OTEL_SERVICE_NAME are honoured."""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-team=evals")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "from-env")
    sink = OTelSink(logs=False, metrics=False)
    try:
        export(sink, lambda: helper())
    finally:
        sink.close()
    (request,) = receiver.decoded("/v1/traces")
    resource = attrs(request.resource_spans[0].resource)
    assert (resource["service.name"], receiver.headers[0].get("x-team")) == ("from-env", "evals")


def test_events_of_a_run_that_already_ended_are_exported_as_logs(receiver: Receiver) -> None:
    """An event arriving after its run's span was built is not lost: it becomes a log."""
    sink = OTelSink(endpoint=receiver.endpoint, metrics=False)
    try:
        with capture() as records, bifrost_sync(name="block") as run:
            pass
        sink.export(list(records))
        with capture() as late:
            monitor_record_for(run)
        sink.export(list(late))
        assert sink.flush(10.0)
    finally:
        sink.close()
    late_log = next(log for log in receiver.logs() if log.event_name == "late")
    assert (late_log.trace_id.hex(), late_log.span_id.hex()) == (run.trace_id, run.run_id)


def monitor_record_for(run: Any) -> None:
    """Emit an Event record that belongs to ``run`` after it ended."""
    from auditora import _emit
    from auditora.records import Event

    _emit.emit(Event("late", run.end_ns + 1, None, {}, run.run_id, run.trace_id, run.session_id))


def test_pending_events_without_their_run_are_exported_as_logs_on_close(
    receiver: Receiver,
) -> None:
    """Events whose run never arrives (e.g. sampled out) are flushed as logs at close."""
    sink = OTelSink(endpoint=receiver.endpoint, metrics=False)
    with capture() as records, bifrost_sync(name="block"):
        monitor.track("orphan", step=1)
    sink.export([r for r in records if r.kind == "event"])
    sink.close()
    orphan = next(log for log in receiver.logs() if log.event_name == "orphan")
    assert attrs(orphan) == {"step": 1}


def test_end_to_end_through_configure(receiver: Receiver) -> None:
    """auditora.configure(sinks=[OTelSink(...)]) exports a sentinel's run tree on flush."""
    import auditora

    sink = OTelSink(endpoint=receiver.endpoint, metrics=False, logs=False)
    auditora.configure(sinks=[sink], console=False)
    with capture() as records:
        answer("end to end?")
    assert auditora.flush(10.0)
    assert sink.flush(10.0)
    expected = sorted((r.name, r.run_id, r.parent_id or "") for r in records.runs)
    got = sorted(
        (s.name, s.span_id.hex(), s.parent_span_id.hex())
        for s in receiver.spans()
        if s.name in ("answer", "helper")
    )
    assert got == expected


@sentinel(session_id="svc-b")
def lookup() -> str:
    """Service B's instrumented work."""
    return "B"


@sentinel(session_id="svc-a")
def call_b(url: str) -> str:
    """Service A: calls B with the current run's trace headers."""
    request = urllib.request.Request(url, headers=propagation.headers())
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.read().decode()


def test_two_services_over_http_export_one_otel_trace(receiver: Receiver) -> None:
    """A's call and B's handling arrive at the collector as one parent-linked trace."""

    class ServiceB(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            with propagation.continue_trace(self.headers, name="GET /b"):
                body = lookup().encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    import auditora

    sink = OTelSink(endpoint=receiver.endpoint, logs=False, metrics=False)
    auditora.configure(sinks=[sink], console=False)
    server = ThreadingHTTPServer(("127.0.0.1", 0), ServiceB)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        assert call_b(f"http://127.0.0.1:{server.server_address[1]}/b") == "B"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
    assert auditora.flush(10.0)
    spans = {s.name: s for s in receiver.spans()}
    a, handler, b = spans["call_b"], spans["GET /b"], spans["lookup"]
    assert {a.trace_id, handler.trace_id, b.trace_id} == {a.trace_id}
    assert (handler.parent_span_id, b.parent_span_id) == (a.span_id, handler.span_id)
    assert attrs(b)["session.id"] == "svc-b"
