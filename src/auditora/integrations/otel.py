"""OpenTelemetry export: Auditora records as spans, logs and metrics (``auditora[otel]``).

:class:`OTelSink` translates records, in the recorder's background thread,
into OpenTelemetry signals and hands them to the SDK's OTLP exporters:

=====================  =====================================================
record                 OpenTelemetry
=====================  =====================================================
run                    a span with the run's own trace and span ids and
                       parent; error status and an ``exception`` span event
event                  a span event on the run's span
LLM call               a ``CLIENT`` span ``"{operation} {model}"`` under the
                       run, with the GenAI semantic-convention attributes;
                       ``gen_ai.client.token.usage`` and
                       ``gen_ai.client.operation.duration`` histograms
evaluation             a ``gen_ai.evaluation.result`` event (span event on the
                       run and/or a log-based event in the run's context)
agent message          an ``auditora.agent_message`` span event on the run
log                    a log record in the run's trace context
metric snapshot        one gauge per metric
session                an ``auditora.session`` log-based event
=====================  =====================================================

Every signal carries ``session.id`` (and ``gen_ai.conversation.id``) when the
record has a session. Exporters are configured by the standard
``OTEL_EXPORTER_OTLP_*`` variables (endpoint, headers, timeout, compression,
per-signal variants) and the resource by ``OTEL_SERVICE_NAME`` and
``OTEL_RESOURCE_ATTRIBUTES``; constructor arguments override them.

The other direction: :func:`instrument` (called by the sink unless
``join_otel_context=False``) lets a root Auditora run started while an
OpenTelemetry span is active join that span's trace as its child.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import re
import threading
from collections import OrderedDict
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

try:
    from opentelemetry import context as otel_context_api
    from opentelemetry import trace as otel_trace
    from opentelemetry._logs import LogRecord, SeverityNumber
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, SimpleLogRecordProcessor
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import Event as SpanEvent
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope
    from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, TraceFlags
    from opentelemetry.trace.status import Status, StatusCode
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "auditora.integrations.otel needs the OpenTelemetry SDK and OTLP exporter: "
        "pip install 'auditora[otel]'"
    ) from exc

from .. import __version__, propagation
from .._ids import new_span_id, new_trace_id
from .._serialize import sanitize
from ..core._paragon import _frame
from ..records import (
    AgentMessage,
    Evaluation,
    Event,
    LLMCall,
    Log,
    MetricSnapshot,
    Record,
    Run,
    SessionRecord,
)
from ..sinks import Sink, jsonable

__all__ = ["OTelSink", "instrument", "otel_context", "uninstrument"]

_logger = logging.getLogger("auditora")


def _optional(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError:
        return None


def _to_jsonable(value: Any) -> Any:
    return sanitize(value)


def _json(value: Any) -> str:
    try:
        return json.dumps(_to_jsonable(value), ensure_ascii=False, default=repr)
    except Exception:
        return repr(value)


_INT64 = (-(2**63), 2**63 - 1)


def _attr_value(value: Any) -> Any:
    """An OpenTelemetry attribute value for ``value`` (None: leave the key out)."""
    if value is None:
        return None
    if isinstance(value, (bool, str, float)):
        return value
    if isinstance(value, int):
        return value if _INT64[0] <= value <= _INT64[1] else str(value)
    if isinstance(value, (list, tuple)) and value:
        kinds = {type(v) for v in value}
        if len(kinds) == 1 and kinds <= {str, bool, int, float} and None not in value:
            return list(value)
    return _json(value)


def _put(attrs: Dict[str, Any], key: str, value: Any) -> None:
    value = _attr_value(value)
    if value is not None:
        attrs[key] = value


def _put_all(attrs: Dict[str, Any], values: Optional[Mapping[str, Any]], prefix: str = "") -> None:
    if not values:
        return
    for key, value in values.items():
        _put(attrs, f"{prefix}{key}", value)


def _session_attrs(attrs: Dict[str, Any], session_id: Optional[str]) -> Dict[str, Any]:
    if session_id:
        attrs["session.id"] = session_id
        attrs["gen_ai.conversation.id"] = session_id
    return attrs


# Model-name prefixes -> gen_ai.provider.name, for LLM calls that name no provider.
_PROVIDER_HINTS: Tuple[Tuple[str, str], ...] = (
    ("gpt-", "openai"),
    ("o1", "openai"),
    ("o3", "openai"),
    ("o4", "openai"),
    ("text-embedding-", "openai"),
    ("claude", "anthropic"),
    ("gemini", "gcp.gemini"),
    ("mistral", "mistral_ai"),
    ("command", "cohere"),
    ("deepseek", "deepseek"),
    ("grok", "x_ai"),
)

# Request parameters (as LLM clients name them) -> gen_ai.request.* attributes.
_REQUEST_KEYS = {
    "max_tokens": "max_tokens",
    "max_output_tokens": "max_tokens",
    "max_completion_tokens": "max_tokens",
    "temperature": "temperature",
    "top_p": "top_p",
    "top_k": "top_k",
    "seed": "seed",
    "stop": "stop_sequences",
    "stop_sequences": "stop_sequences",
    "frequency_penalty": "frequency_penalty",
    "presence_penalty": "presence_penalty",
    "n": "choice.count",
    "stream": "stream",
}

# Extra LLM-call fields with a semantic-convention home.
_EXTRA_KEYS = {
    "response_id": "gen_ai.response.id",
    "response_model": "gen_ai.response.model",
    "server_address": "server.address",
    "cache_creation_tokens": "gen_ai.usage.cache_creation.input_tokens",
}

_SEVERITY = {
    "DEBUG": SeverityNumber.DEBUG,
    "INFO": SeverityNumber.INFO,
    "WARNING": SeverityNumber.WARN,
    "ERROR": SeverityNumber.ERROR,
    "CRITICAL": SeverityNumber.FATAL,
}

# Bucket boundaries the GenAI metric conventions recommend.
_TOKEN_BUCKETS = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304]
_DURATION_BUCKETS = [
    0.01,
    0.02,
    0.04,
    0.08,
    0.16,
    0.32,
    0.64,
    1.28,
    2.56,
    5.12,
    10.24,
    20.48,
    40.96,
    81.92,
]

_METRIC_NAME = re.compile(r"[^A-Za-z0-9_.\-/]")
_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
_EMPTY = otel_context_api.Context()


def _severity(level: str) -> SeverityNumber:
    found = _SEVERITY.get(level)
    if found is not None:
        return found
    number = int(level[5:]) if level.startswith("LEVEL") and level[5:].isdigit() else 20
    if number < 10:
        return SeverityNumber.TRACE
    if number < 20:
        return SeverityNumber.DEBUG
    if number < 30:
        return SeverityNumber.INFO
    if number < 40:
        return SeverityNumber.WARN
    if number < 50:
        return SeverityNumber.ERROR
    return SeverityNumber.FATAL


def _messages(value: Any, role: str, finish_reason: Optional[str] = None) -> List[Dict[str, Any]]:
    """``value`` (a string or a list of chat messages) in the GenAI messages JSON shape."""
    items = value if isinstance(value, list) else [value]
    out: List[Dict[str, Any]] = []
    for item in items:
        if isinstance(item, Mapping) and "role" in item:
            content = item.get("content")
            message: Dict[str, Any] = {"role": str(item["role"])}
        else:
            content = item
            message = {"role": role}
        if isinstance(content, str):
            parts: List[Any] = [{"type": "text", "content": content}]
        elif isinstance(content, list):
            parts = [
                p if isinstance(p, Mapping) and "type" in p else {"type": "text", "content": p}
                for p in content
            ]
        else:
            parts = [{"type": "text", "content": content}]
        message["parts"] = _to_jsonable(parts)
        if finish_reason is not None and message["role"] == "assistant":
            message["finish_reason"] = finish_reason
        out.append(message)
    return out


def _int_id(hex_id: Optional[str]) -> int:
    return int(hex_id, 16) if hex_id else 0


class OTelSink(Sink):
    """A sink that exports Auditora records to OpenTelemetry (OTLP/HTTP by default).

    ``endpoint`` is the collector's base URL (``http://collector:4318``; the
    ``/v1/traces``, ``/v1/logs`` and ``/v1/metrics`` paths are appended); when
    omitted the exporters read ``OTEL_EXPORTER_OTLP_ENDPOINT`` and the
    per-signal variables, defaulting to ``http://localhost:4318``. ``headers``
    and ``timeout`` likewise override ``OTEL_EXPORTER_OTLP_HEADERS`` /
    ``..._TIMEOUT``. ``service_name`` and ``resource_attributes`` extend the
    resource built from ``OTEL_SERVICE_NAME`` / ``OTEL_RESOURCE_ATTRIBUTES``.

    ``traces``, ``logs`` and ``metrics`` switch signals off; ``span_exporter``,
    ``log_exporter`` and ``metric_exporter`` replace the OTLP exporters (any
    SDK exporter, e.g. the in-memory ones in tests). With ``batch=True`` the
    SDK's batch processors export from their own threads; ``batch=False``
    exports synchronously in the recorder's thread.

    ``evaluation_events`` chooses where ``gen_ai.evaluation.result`` goes:
    ``"span"`` (an event on the run's span), ``"log"`` (a log-based event in
    the run's trace context, the form the GenAI conventions now prefer) or
    both (the default). Events wait in a bounded buffer (``max_pending_runs``
    runs, ``max_events_per_run`` events each) until their run ends; overflow
    and events that arrive after their run are exported as log records, so
    nothing is silently lost.

    Usage::

        import auditora
        from auditora.integrations.otel import OTelSink

        auditora.configure(sinks=[OTelSink(service_name="evals")])
    """

    def __init__(
        self,
        *,
        endpoint: Optional[str] = None,
        headers: Optional[Mapping[str, str]] = None,
        timeout: Optional[float] = None,
        service_name: Optional[str] = None,
        resource_attributes: Optional[Mapping[str, Any]] = None,
        traces: bool = True,
        logs: bool = True,
        metrics: bool = True,
        span_exporter: Any = None,
        log_exporter: Any = None,
        metric_exporter: Any = None,
        metric_export_interval: float = 60.0,
        batch: bool = True,
        evaluation_events: Sequence[str] = ("span", "log"),
        join_otel_context: bool = True,
        max_pending_runs: int = 10_000,
        max_events_per_run: int = 1_000,
    ) -> None:
        unknown = set(evaluation_events) - {"span", "log"}
        if unknown:
            raise ValueError(f"evaluation_events may hold 'span' and 'log', not {sorted(unknown)}")
        attrs: Dict[str, Any] = dict(resource_attributes or {})
        if service_name is not None:
            attrs["service.name"] = service_name
        self.resource = Resource.create(attrs)
        self._scope = InstrumentationScope("auditora", __version__)
        self._eval_span = "span" in evaluation_events
        self._eval_log = "log" in evaluation_events
        self._max_pending = max(1, int(max_pending_runs))
        self._max_events = max(1, int(max_events_per_run))
        self._lock = threading.Lock()
        self._pending: OrderedDict[str, List[SpanEvent]] = OrderedDict()
        # run id -> trace id of recently exported runs, to route late events.
        self._ended: OrderedDict[str, str] = OrderedDict()
        self._gauges: Dict[str, Any] = {}
        self._closed = False
        #: Records that could not be translated (logged once).
        self.failed = 0
        #: Span events exported as log records (late or overflowing).
        self.events_as_logs = 0
        exporter_kwargs = {"headers": dict(headers) if headers else None, "timeout": timeout}

        self._span_processor: Any = None
        if traces:
            exporter = span_exporter or _otlp("traces", endpoint, exporter_kwargs)
            self._span_processor = (BatchSpanProcessor if batch else SimpleSpanProcessor)(exporter)

        self._logger_provider: Any = None
        self._otel_logger: Any = None
        if logs:
            exporter = log_exporter or _otlp("logs", endpoint, exporter_kwargs)
            self._logger_provider = LoggerProvider(resource=self.resource, shutdown_on_exit=False)
            processor = (BatchLogRecordProcessor if batch else SimpleLogRecordProcessor)(exporter)
            self._logger_provider.add_log_record_processor(processor)
            self._otel_logger = self._logger_provider.get_logger("auditora", __version__)

        self._meter_provider: Any = None
        if metrics:
            exporter = metric_exporter or _otlp("metrics", endpoint, exporter_kwargs)
            reader = PeriodicExportingMetricReader(
                exporter, export_interval_millis=metric_export_interval * 1000
            )
            self._meter_provider = MeterProvider(
                metric_readers=[reader], resource=self.resource, shutdown_on_exit=False
            )
            meter = self._meter_provider.get_meter("auditora", __version__)
            self._meter = meter
            self._token_usage = meter.create_histogram(
                "gen_ai.client.token.usage",
                unit="{token}",
                description="Number of input and output tokens used.",
                explicit_bucket_boundaries_advisory=_TOKEN_BUCKETS,
            )
            self._duration = meter.create_histogram(
                "gen_ai.client.operation.duration",
                unit="s",
                description="GenAI operation duration.",
                explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
            )
            self._cost = meter.create_counter(
                "auditora.llm.cost", description="Cost of LLM calls, as recorded."
            )

        self._instrumented = False
        if join_otel_context:
            instrument()
            self._instrumented = True

    # -- the sink contract ---------------------------------------------------
    def export(self, batch: Sequence[Record]) -> None:
        """Translate ``batch`` into spans, log records and metric points."""
        spans: List[ReadableSpan] = []
        # User-provided fields come from the shared, redacted and bounded
        # serialization (computed once per batch for all sinks).
        for record, data in zip(batch, jsonable(batch)):
            try:
                self._translate(record, data, spans)
            except Exception:
                self.failed += 1
                if self.failed == 1:
                    _logger.exception(
                        "auditora: OTelSink could not translate a %s record; "
                        "further failures are counted in OTelSink.failed",
                        getattr(record, "kind", type(record).__name__),
                    )
        processor = self._span_processor
        if processor is not None:
            for span in spans:
                processor.on_end(span)

    def flush(self, timeout: float = 10.0) -> bool:
        """Export everything handed over so far; True when every signal finished in time."""
        millis = int(max(timeout, 0.0) * 1000)
        ok = True
        for part in (self._span_processor, self._logger_provider, self._meter_provider):
            if part is None:
                continue
            try:
                ok = bool(part.force_flush(millis)) and ok
            except Exception:
                _logger.exception("auditora: OTelSink flush failed")
                ok = False
        return ok

    def close(self, timeout: float = 10.0) -> None:
        """Export buffered events as logs, flush, and shut the exporters down."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            leftovers = list(self._pending.items())
            self._pending.clear()
        for run_id, events in leftovers:
            self._events_to_logs(run_id, events)
        self.flush(timeout)
        if self._instrumented:
            uninstrument()
            self._instrumented = False
        for part in (self._span_processor, self._logger_provider, self._meter_provider):
            if part is None:
                continue
            try:
                part.shutdown()
            except Exception:
                _logger.exception("auditora: OTelSink shutdown failed")

    def _after_fork_in_child(self) -> None:
        """In a forked child, forget the parent's buffered events (they are the parent's)."""
        self._lock = threading.Lock()
        self._pending = OrderedDict()
        self._ended = OrderedDict()

    # -- translation ---------------------------------------------------------
    def _translate(self, record: Record, data: Dict[str, Any], spans: List[ReadableSpan]) -> None:
        if isinstance(record, Run):
            if self._span_processor is not None:
                spans.append(self._run_span(record, data))
        elif isinstance(record, LLMCall):
            if self._span_processor is not None:
                spans.append(self._llm_span(record, data))
            if self._meter_provider is not None:
                self._llm_metrics(record)
        elif isinstance(record, Evaluation):
            self._evaluation(record, data)
        elif isinstance(record, Event):
            attrs: Dict[str, Any] = {}
            _put_all(attrs, data.get("metadata"))
            _put(attrs, "auditora.event.duration", record.duration)
            self._span_event(record.run_id, SpanEvent(record.name, attrs, record.time_ns), record)
        elif isinstance(record, AgentMessage):
            attrs = {
                "auditora.agent.sender": record.sender,
                "auditora.agent.recipient": record.recipient,
                "auditora.agent.message_kind": record.message_kind,
            }
            _put(attrs, "auditora.agent.content", data.get("content"))
            _put_all(attrs, data.get("extra"), "auditora.agent.")
            event = SpanEvent("auditora.agent_message", attrs, record.time_ns)
            self._span_event(record.run_id, event, record)
        elif isinstance(record, Log):
            attrs = {}
            _put_all(attrs, data.get("fields"))
            self._emit_log(
                record.time_ns,
                record.trace_id,
                record.run_id,
                _severity(record.level),
                record.level,
                _session_attrs(attrs, record.session_id),
                body=record.message,
            )
        elif isinstance(record, MetricSnapshot):
            if self._meter_provider is not None:
                self._metric_snapshot(record, data)
        elif isinstance(record, SessionRecord):
            attrs = _session_attrs({}, record.session_id)
            _put(attrs, "auditora.session.name", record.name)
            _put(attrs, "auditora.session.tags", data.get("tags"))
            self._emit_log(
                record.time_ns,
                None,
                None,
                SeverityNumber.INFO,
                "INFO",
                attrs,
                body=data.get("state"),
                event_name="auditora.session",
            )

    def _span(
        self,
        name: str,
        trace_id: str,
        span_id: str,
        parent_id: Optional[str],
        start: int,
        end: int,
        attributes: Dict[str, Any],
        events: Sequence[SpanEvent] = (),
        status: Optional[Status] = None,
        kind: SpanKind = SpanKind.INTERNAL,
    ) -> ReadableSpan:
        trace = _int_id(trace_id)
        context = SpanContext(trace, _int_id(span_id), is_remote=False, trace_flags=_SAMPLED)
        parent = (
            SpanContext(trace, _int_id(parent_id), is_remote=False, trace_flags=_SAMPLED)
            if parent_id
            else None
        )
        return ReadableSpan(
            name=name,
            context=context,
            parent=parent,
            resource=self.resource,
            attributes=attributes,
            events=events,
            kind=kind,
            status=status if status is not None else Status(StatusCode.UNSET),
            start_time=start,
            end_time=end,
            instrumentation_scope=self._scope,
        )

    def _run_span(self, run: Run, data: Dict[str, Any]) -> ReadableSpan:
        with self._lock:
            events = self._pending.pop(run.run_id, [])
            self._ended[run.run_id] = run.trace_id
            while len(self._ended) > self._max_pending:
                self._ended.popitem(last=False)
        attrs: Dict[str, Any] = {"auditora.run.kind": run.run_kind}
        if run.status != "ok":
            attrs["auditora.run.status"] = run.status
        _session_attrs(attrs, run.session_id)
        _put(attrs, "gen_ai.agent.name", run.agent)
        _put_all(attrs, data.get("attributes"))
        start = run.start_ns
        end = start + run.duration_ns if run.duration_ns is not None else (run.end_ns or start)
        status = None
        if run.status == "error":
            attrs["error.type"] = run.error_type or "error"
            description = f"{run.error_type}: {run.error_message}" if run.error_type else None
            status = Status(StatusCode.ERROR, description)
            exception: Dict[str, Any] = {}
            _put(exception, "exception.type", run.error_type)
            _put(exception, "exception.message", run.error_message)
            events.append(SpanEvent("exception", exception, end))
        return self._span(
            run.name, run.trace_id, run.run_id, run.parent_id, start, end, attrs, events, status
        )

    def _llm_attributes(self, call: LLMCall) -> Dict[str, Any]:
        attrs: Dict[str, Any] = {"gen_ai.operation.name": call.operation or "chat"}
        provider = call.provider or _guess_provider(call.model)
        _put(attrs, "gen_ai.provider.name", provider)
        _put(attrs, "gen_ai.request.model", call.model)
        return attrs

    def _llm_span(self, call: LLMCall, data: Dict[str, Any]) -> ReadableSpan:
        attrs = self._llm_attributes(call)
        _put(attrs, "gen_ai.usage.input_tokens", call.input_tokens)
        _put(attrs, "gen_ai.usage.output_tokens", call.output_tokens)
        _put(attrs, "gen_ai.usage.cache_read.input_tokens", call.cached_tokens)
        _put(attrs, "gen_ai.usage.reasoning.output_tokens", call.reasoning_tokens)
        _put(attrs, "gen_ai.response.time_to_first_chunk", call.time_to_first_token)
        if call.finish_reason is not None:
            attrs["gen_ai.response.finish_reasons"] = [str(call.finish_reason)]
        _put(attrs, "auditora.llm.cost", call.cost)
        for key, value in (data.get("request") or {}).items():
            semconv = _REQUEST_KEYS.get(key)
            if semconv is not None:
                if semconv == "stop_sequences" and isinstance(value, str):
                    value = [value]
                _put(attrs, f"gen_ai.request.{semconv}", value)
        for key, value in (data.get("extra") or {}).items():
            _put(attrs, _EXTRA_KEYS.get(key, f"auditora.llm.{key}"), value)
        if data.get("input") is not None:
            attrs["gen_ai.input.messages"] = _json(_messages(data["input"], "user"))
        if data.get("output") is not None:
            messages = _messages(data["output"], "assistant", call.finish_reason)
            attrs["gen_ai.output.messages"] = _json(messages)
        _session_attrs(attrs, call.session_id)
        status = None
        if not call.success:
            attrs["error.type"] = _error_type(call.error)
            status = Status(StatusCode.ERROR, call.error)
        end = call.time_ns
        start = end - int((call.response_time or 0.0) * 1e9)
        trace_id = call.trace_id or new_trace_id()
        name = f"{attrs['gen_ai.operation.name']} {call.model}"
        return self._span(
            name,
            trace_id,
            new_span_id(),
            call.run_id if call.trace_id else None,
            start,
            end,
            attrs,
            status=status,
            kind=SpanKind.CLIENT,
        )

    def _llm_metrics(self, call: LLMCall) -> None:
        attrs = self._llm_attributes(call)
        if not call.success:
            attrs["error.type"] = _error_type(call.error)
        if call.response_time is not None:
            self._duration.record(call.response_time, attrs)
        for kind, count in (("input", call.input_tokens), ("output", call.output_tokens)):
            if count is not None:
                self._token_usage.record(count, {**attrs, "gen_ai.token.type": kind})
        if call.cost:
            self._cost.add(call.cost, attrs)

    def _evaluation(self, ev: Evaluation, data: Dict[str, Any]) -> None:
        attrs: Dict[str, Any] = {"gen_ai.evaluation.name": ev.metric_name}
        value = ev.value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            attrs["gen_ai.evaluation.score.value"] = float(value)
        attrs["gen_ai.evaluation.score.label"] = ev.label or ev.status.lower()
        _put(attrs, "gen_ai.evaluation.explanation", ev.explanation)
        _put(attrs, "auditora.evaluation.threshold", ev.threshold)
        attrs["auditora.evaluation.status"] = ev.status
        attrs["auditora.evaluation.direction"] = ev.direction
        _put_all(attrs, data.get("extra"), "auditora.evaluation.")
        as_span_event = self._eval_span and ev.run_id and self._span_processor is not None
        if as_span_event:
            event = SpanEvent("gen_ai.evaluation.result", dict(attrs), ev.time_ns)
            self._span_event(ev.run_id, event, ev)
        if self._eval_log or not as_span_event:
            severity = SeverityNumber.INFO if ev.passed else SeverityNumber.WARN
            self._emit_log(
                ev.time_ns,
                ev.trace_id,
                ev.run_id,
                severity,
                ev.level,
                _session_attrs(attrs, ev.session_id),
                event_name="gen_ai.evaluation.result",
            )

    def _metric_snapshot(self, snap: MetricSnapshot, data: Dict[str, Any]) -> None:
        attrs = {"session.id": snap.session_id} if snap.session_id else {}
        for name, value in (data.get("metrics") or {}).items():
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            gauge = self._gauges.get(name)
            if gauge is None:
                gauge = self._meter.create_gauge(_metric_name(name))
                self._gauges[name] = gauge
            gauge.set(value, attrs)

    # -- span events and logs --------------------------------------------------
    def _span_event(self, run_id: Optional[str], event: SpanEvent, record: Any) -> None:
        """Buffer ``event`` until its run's span is built; otherwise export it as a log."""
        overflow: List[Tuple[str, List[SpanEvent]]] = []
        late = False
        if run_id and self._span_processor is not None:
            with self._lock:
                if run_id in self._ended or self._closed:
                    late = True
                else:
                    events = self._pending.get(run_id)
                    if events is None:
                        events = self._pending[run_id] = []
                        while len(self._pending) > self._max_pending:
                            overflow.append(self._pending.popitem(last=False))
                    if len(events) < self._max_events:
                        events.append(event)
                    else:
                        late = True
        else:
            late = True
        for old_run, old_events in overflow:
            self._events_to_logs(old_run, old_events)
        if late:
            trace_id = getattr(record, "trace_id", None) if record is not None else None
            if trace_id is None and run_id:
                with self._lock:
                    trace_id = self._ended.get(run_id)
            self._event_log(event, trace_id, run_id, getattr(record, "session_id", None))

    def _events_to_logs(self, run_id: str, events: Iterable[SpanEvent]) -> None:
        for event in events:
            self._event_log(event, None, run_id, None)

    def _event_log(
        self,
        event: SpanEvent,
        trace_id: Optional[str],
        run_id: Optional[str],
        session_id: Optional[str],
    ) -> None:
        self.events_as_logs += 1
        attrs = _session_attrs(dict(event.attributes or {}), session_id)
        self._emit_log(
            event.timestamp,
            trace_id,
            run_id if trace_id else None,
            SeverityNumber.INFO,
            "INFO",
            attrs,
            event_name=event.name,
        )

    def _emit_log(
        self,
        time_ns: int,
        trace_id: Optional[str],
        span_id: Optional[str],
        severity: SeverityNumber,
        severity_text: str,
        attributes: Dict[str, Any],
        *,
        body: Any = None,
        event_name: Optional[str] = None,
    ) -> None:
        logger = self._otel_logger
        if logger is None:
            return
        # The trace context travels in an OpenTelemetry Context; an empty one
        # keeps whatever span the recorder thread might have active out of it.
        context = _span_context(trace_id, span_id) if trace_id and span_id else _EMPTY
        logger.emit(
            LogRecord(
                timestamp=time_ns,
                observed_timestamp=time_ns,
                context=context,
                severity_text=severity_text,
                severity_number=severity,
                body=body,
                attributes=attributes,
                event_name=event_name,
            )
        )


def _guess_provider(model: Optional[str]) -> Optional[str]:
    if not model:
        return None
    lowered = model.lower()
    for prefix, provider in _PROVIDER_HINTS:
        if lowered.startswith(prefix):
            return provider
    return None


def _error_type(error: Optional[str]) -> str:
    # error.type must stay low-cardinality: keep a short class-like name only.
    if error and len(error) <= 64 and re.fullmatch(r"[A-Za-z_][\w.]*", error):
        return error
    return "_OTHER"


def _metric_name(name: str) -> str:
    cleaned = _METRIC_NAME.sub("_", name)[:255]
    return cleaned if cleaned[:1].isalpha() else f"m_{cleaned}"[:255]


def _otlp(signal: str, endpoint: Optional[str], kwargs: Dict[str, Any]) -> Any:
    """An OTLP exporter for ``signal``: HTTP/protobuf, or gRPC when the environment asks."""
    protocol = (
        os.environ.get(f"OTEL_EXPORTER_OTLP_{signal.upper()}_PROTOCOL")
        or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    ).strip()
    names = {
        "traces": "OTLPSpanExporter",
        "logs": "OTLPLogExporter",
        "metrics": "OTLPMetricExporter",
    }
    modules = {"traces": "trace_exporter", "logs": "_log_exporter", "metrics": "metric_exporter"}
    options = {k: v for k, v in kwargs.items() if v is not None}
    if protocol == "grpc":
        module = _optional(f"opentelemetry.exporter.otlp.proto.grpc.{modules[signal]}")
        if module is not None:
            if endpoint:
                options["endpoint"] = endpoint
            return getattr(module, names[signal])(**options)
        _logger.warning(
            "auditora: OTEL_EXPORTER_OTLP_PROTOCOL=grpc but the gRPC exporter is not "
            "installed (pip install opentelemetry-exporter-otlp-proto-grpc); using HTTP"
        )
    module = importlib.import_module(f"opentelemetry.exporter.otlp.proto.http.{modules[signal]}")
    if endpoint:
        options["endpoint"] = f"{endpoint.rstrip('/')}/v1/{signal}"
    return getattr(module, names[signal])(**options)


# -- joining OpenTelemetry's active span ---------------------------------------


def _otel_parent() -> Optional[Tuple[str, Optional[str]]]:
    """The active OpenTelemetry span as ``(trace_id, span_id)`` hex, or None."""
    context = otel_trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return format(context.trace_id, "032x"), format(context.span_id, "016x")


def instrument() -> None:
    """Make root Auditora runs join the active OpenTelemetry span, when there is one.

    A sentinel or bifrost run started with no enclosing Auditora run, while an
    OpenTelemetry span is current (your own ``tracer.start_as_current_span``,
    or a framework instrumented with OpenTelemetry), takes that span's trace id
    and becomes its child. An explicit
    :func:`auditora.propagation.remote_parent` block takes precedence.
    Idempotent; :class:`OTelSink` calls it unless ``join_otel_context=False``.
    """
    propagation.add_parent_provider(_otel_parent)


def uninstrument() -> None:
    """Undo :func:`instrument`."""
    propagation.remove_parent_provider(_otel_parent)


def otel_context() -> Any:
    """An OpenTelemetry ``Context`` whose current span is the active Auditora run.

    Pass it to ``tracer.start_as_current_span(name, context=otel_context())``
    so spans your OpenTelemetry code creates become children of the run.
    Returns the current OpenTelemetry context when no run is active.
    """
    run = _frame.get()
    if run is None:
        return otel_context_api.get_current()
    return _span_context(run.trace_id, run.run_id)


def _span_context(trace_id: str, span_id: str) -> Any:
    """An OpenTelemetry ``Context`` holding a non-recording span with these ids."""
    ids = SpanContext(_int_id(trace_id), _int_id(span_id), is_remote=False, trace_flags=_SAMPLED)
    return otel_trace.set_span_in_context(NonRecordingSpan(ids))
