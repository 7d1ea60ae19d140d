"""OpenTelemetry export: Auditora records as spans, logs and metrics (``auditora[otel]``).

:class:`OTelSink` translates records, in the recorder's background thread,
into OpenTelemetry signals and hands them to the SDK's OTLP exporters:

=====================  =====================================================
record                 OpenTelemetry
=====================  =====================================================
run                    a span with the run's own trace and span ids and
                       parent, named and typed by its kind (``invoke_agent``,
                       ``execute_tool``, ``invoke_workflow``; OpenInference's
                       ``openinference.span.kind``), inputs and output as
                       ``input.value`` / ``output.value``; error status and an
                       ``exception`` span event with the traceback
event                  a span event on the run's span
LLM call               a ``CLIENT`` span ``"{operation} {request model}"``
                       under the run (never starting before it), with the
                       GenAI and OpenInference attributes; the
                       ``gen_ai.client.operation.duration`` histogram and the
                       token histogram, or with
                       ``OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental``
                       the ``gen_ai.client.inference.*`` token counters
evaluation             a ``gen_ai.evaluation.result`` event on the evaluated
                       span (the scored LLM call's, else the run's): a span
                       event and/or a log-based event in that span's context
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
OpenTelemetry span is active join that span's trace as its child; and
:class:`AuditoraSpanProcessor` turns the spans of any OpenTelemetry
instrumentation in the process into Auditora records (the mapping of
``auditora collect``, :mod:`auditora.collect._mapping`).
"""

from __future__ import annotations

import functools
import importlib
import json
import logging
import os
import re
import threading
import time
import warnings
from collections import OrderedDict
from typing import (
    Any,
    Callable,
    Dict,
    Iterable,
    List,
    Mapping,
    Optional,
    Sequence,
    Tuple,
    Union,
)

try:
    from opentelemetry import context as otel_context_api
    from opentelemetry import trace as otel_trace
    from opentelemetry._logs import LogRecord, SeverityNumber
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import Event as SpanEvent
    from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope
    from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, TraceFlags
    from opentelemetry.trace.status import Status, StatusCode
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "auditora.integrations.otel needs the OpenTelemetry SDK and OTLP exporter: "
        "pip install 'auditora[otel]'"
    ) from exc

from .. import propagation
from .._ids import new_span_id, new_trace_id
from .._serialize import sanitize
from .._version import __version__
from ..collect import _mapping
from ..collect._semconv import GENAI_OPERATIONS as _GENAI_OPERATIONS
from ..collect._semconv import OPENINFERENCE_KINDS as _OPENINFERENCE_KINDS
from ..core._paragon import active
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
from ..sinks import Sink, SinkWriteError, jsonable

__all__ = ["AuditoraSpanProcessor", "OTelSink", "instrument", "otel_context", "uninstrument"]

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


def _text(value: Any) -> str:
    """JSON text of an already serialized (sanitized, redacted) value."""
    try:
        return json.dumps(value, ensure_ascii=False, default=repr)
    except Exception:
        return repr(value)


def _value_attrs(attrs: Dict[str, Any], prefix: str, value: Any) -> Optional[str]:
    """OpenInference ``{prefix}.value`` / ``{prefix}.mime_type`` for ``value``; its text."""
    if isinstance(value, str):
        attrs[f"{prefix}.value"] = value
        attrs[f"{prefix}.mime_type"] = "text/plain"
        return value
    text = _text(value)
    attrs[f"{prefix}.value"] = text
    attrs[f"{prefix}.mime_type"] = "application/json"
    return text


def _iso(time_ns: int) -> str:
    """An RFC 3339 UTC timestamp with microseconds (what Langfuse's timestamps take)."""
    seconds, ns = divmod(time_ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{ns // 1000:06d}Z"


def _instruction_parts(value: Any) -> List[Any]:
    """System instructions (a string, content blocks, or a list of either) as GenAI parts."""
    items = value if isinstance(value, list) else [value]
    parts: List[Any] = []
    for item in items:
        if isinstance(item, str):
            parts.append({"type": "text", "content": item})
        elif isinstance(item, Mapping) and isinstance(item.get("text"), str):
            # Anthropic's {"type": "text", "text": ...} blocks.
            parts.append({"type": "text", "content": item["text"]})
        elif isinstance(item, Mapping) and "type" in item and "content" in item:
            parts.append(dict(item))
        else:
            parts.append({"type": "text", "content": item})
    return parts


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

#: The standard switch to the latest experimental GenAI conventions.
OPT_IN_ENV = "OTEL_SEMCONV_STABILITY_OPT_IN"


def _latest_genai() -> bool:
    """True when ``OTEL_SEMCONV_STABILITY_OPT_IN`` lists ``gen_ai_latest_experimental``."""
    values = {part.strip() for part in os.environ.get(OPT_IN_ENV, "").split(",")}
    return "gen_ai_latest_experimental" in values


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


_SIGNALS = ("traces", "logs", "metrics")

_UNITS = {"traces": "spans", "logs": "log records", "metrics": "metric data points"}

# Statuses that mean "this endpoint does not take this signal", not a passing failure.
_REFUSED = frozenset({404, 405, 415, 501})


class _Delivery:
    """One record's fate: lost as soon as any signal it was translated into failed."""

    __slots__ = ("lost",)

    def __init__(self) -> None:
        self.lost = False


def _lose(deliveries: Iterable[Optional[_Delivery]]) -> int:
    """Mark ``deliveries`` lost; how many were not already (a record counts once)."""
    n = 0
    for delivery in deliveries:
        if delivery is not None and not delivery.lost:
            delivery.lost = True
            n += 1
    return n


class _QuietRepeats(logging.Filter):
    """Silences an exporter's own per-batch error lines while this thread exports a
    signal already known to fail: the sink logs the failure once and counts the rest."""

    def __init__(self) -> None:
        super().__init__()
        self.local = threading.local()

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(self.local, "on", False)


_QUIET = _QuietRepeats()


class _Status:
    """The HTTP status of the last response an exporter's session saw."""

    __slots__ = ("code",)

    def __init__(self) -> None:
        self.code: Optional[int] = None

    def hook(self, response: Any, *args: Any, **kwargs: Any) -> None:
        self.code = getattr(response, "status_code", None)


def _succeeded(result: Any) -> bool:
    # Span, log and metric export results are distinct enums sharing member
    # names (and the log enum was renamed across SDK versions).
    return result is None or getattr(result, "name", None) == "SUCCESS"


def _env_off(signal: str) -> bool:
    """True when ``OTEL_{SIGNAL}_EXPORTER`` is ``none``."""
    value = os.environ.get(f"OTEL_{signal.upper()}_EXPORTER", "")
    names = {part.strip().lower() for part in value.split(",")} - {""}
    return names == {"none"}


def _points(data: Any) -> int:
    return sum(
        len(getattr(metric.data, "data_points", ()))
        for resource_metrics in data.resource_metrics
        for scope_metrics in resource_metrics.scope_metrics
        for metric in scope_metrics.metrics
    )


class _Signal:
    """One signal's exporter, its counters, and its failure logged once."""

    def __init__(self, name: str, exporter: Any, status: Optional[_Status]) -> None:
        self.name = name
        self.exporter = exporter
        self.status = status
        #: Items (spans, log records, metric data points) the exporter accepted / refused.
        self.exported = 0
        self.failed = 0
        self.error: Optional[str] = None
        self.warned = False
        # The previous export of this signal failed: the exporter's repeats are noise.
        self.failing = False
        self.endpoint = str(getattr(exporter, "_endpoint", "") or type(exporter).__name__)
        logging.getLogger(type(exporter).__module__).addFilter(_QUIET)

    def send(self, call: Callable[[], Tuple[Any, int]], expected: int) -> bool:
        """Run ``call`` (an export returning ``(result, items)``); True when it succeeded."""
        if self.status is not None:
            self.status.code = None
        error: Optional[str] = None
        _QUIET.local.on = self.failing
        try:
            result, count = call()
            ok = _succeeded(result)
        except Exception as exc:
            ok, count, error = False, expected, f"{type(exc).__name__}: {exc}"
        finally:
            _QUIET.local.on = False
        if ok:
            self.exported += count
            self.failing = False
            return True
        self.failed += count
        self.failing = True
        code = self.status.code if self.status is not None else None
        self.error = error or (f"HTTP {code}" if code else "the exporter reported a failure")
        if not self.warned:
            self.warned = True
            _logger.warning("auditora: %s", self._explain(code, count))
        return False

    def _explain(self, code: Optional[int], count: int) -> str:
        what = f"answered HTTP {code}" if code else f"refused the export ({self.error})"
        message = (
            f"OTelSink could not export {self.name}: {self.endpoint} {what}; {count} "
            f"{_UNITS[self.name]} lost. Further failures of this signal are only counted "
            f"(auditora.stats()['sinks'][...]['signals']['{self.name}'])"
        )
        if code in _REFUSED and self.name != "traces":
            hint = (
                "if this backend takes traces only (as Arize Phoenix and MLflow do), pass "
                f'signals=("traces",) or set OTEL_{self.name.upper()}_EXPORTER=none'
            )
        elif code in _REFUSED:
            hint = (
                "check the endpoint: endpoint= and OTEL_EXPORTER_OTLP_ENDPOINT take the "
                "collector's base URL (/v1/traces is appended)"
            )
        elif code is not None and code >= 500:
            hint = "the backend failed (the exporter retries 502, 503 and 504 within its timeout)"
        else:
            hint = ""
        return f"{message}; {hint}" if hint else message

    def stats(self) -> Dict[str, Any]:
        return {"exported": self.exported, "failed": self.failed, "error": self.error}


class _Resource(Resource):
    """A Resource that hashes once: the OTLP encoder groups every span by its resource,
    and the SDK's hash serializes the attributes to JSON each time (~7 % of an export)."""

    def __init__(self, resource: Resource) -> None:
        super().__init__(resource.attributes, resource.schema_url)
        self._hash = super().__hash__()

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        return self is other or super().__eq__(other)


class _LLMSpan:
    """An LLM span of the batch being translated: evaluations of its response may
    still join it as events before it is exported (``build(events)`` remakes it)."""

    __slots__ = ("attrs", "build", "events", "index")

    def __init__(self, index: int, build: Callable[..., Any], attrs: Dict[str, Any]) -> None:
        self.index = index
        self.build = build
        self.attrs = attrs
        self.events: List[Any] = []


#: At most this many evaluations of one span are repeated as OpenInference attributes.
_MAX_INLINE_EVALUATIONS = 128

_INLINE_FIELDS = (
    ("gen_ai.evaluation.name", "name"),
    ("gen_ai.evaluation.score.value", "score"),
    ("gen_ai.evaluation.score.label", "label"),
    ("gen_ai.evaluation.explanation", "explanation"),
)


def _inline_evaluations(attrs: Dict[str, Any], events: Sequence[Any]) -> None:
    """Repeat the span's ``gen_ai.evaluation.result`` events as OpenInference's inline
    span feedback (``evaluations.<i>.evaluation.*``)."""
    index = 0
    for event in events:
        if event.name != "gen_ai.evaluation.result" or index >= _MAX_INLINE_EVALUATIONS:
            continue
        values = event.attributes or {}
        for source, field in _INLINE_FIELDS:
            value = values.get(source)
            if value is not None:
                attrs[f"evaluations.{index}.evaluation.{field}"] = value
        index += 1


class _LogCollector:
    """Stands in for the log exporter behind a ``SimpleLogRecordProcessor``: keeps
    the SDK's finished log records (whatever type this SDK version makes) so the
    sink exports them per batch, synchronously, through the real exporter."""

    def __init__(self) -> None:
        self.items: List[Any] = []

    def export(self, batch: Sequence[Any]) -> None:
        self.items.extend(batch)

    def force_flush(self, timeout_millis: int = 0) -> bool:
        return True

    def shutdown(self) -> None:
        pass


class OTelSink(Sink):
    """A sink that exports Auditora records to OpenTelemetry (OTLP/HTTP by default).

    ``endpoint`` is the collector's base URL (``http://collector:4318``; the
    ``/v1/traces``, ``/v1/logs`` and ``/v1/metrics`` paths are appended); when
    omitted the exporters read ``OTEL_EXPORTER_OTLP_ENDPOINT`` and the
    per-signal variables, defaulting to ``http://localhost:4318``. ``headers``
    and ``timeout`` likewise override ``OTEL_EXPORTER_OTLP_HEADERS`` /
    ``..._TIMEOUT``. ``service_name`` and ``resource_attributes`` extend the
    resource built from ``OTEL_SERVICE_NAME`` / ``OTEL_RESOURCE_ATTRIBUTES``.

    ``signals`` names the signals to export (default all three:
    ``("traces", "logs", "metrics")``); without it ``OTEL_TRACES_EXPORTER``,
    ``OTEL_LOGS_EXPORTER`` or ``OTEL_METRICS_EXPORTER`` set to ``none`` switch
    a signal off (unless its exporter is passed). ``traces``, ``logs`` and
    ``metrics`` set to False switch a signal off too. ``span_exporter``,
    ``log_exporter`` and ``metric_exporter`` replace the OTLP exporters (any
    SDK exporter, e.g. the in-memory ones in tests).

    Each batch the recorder hands over is exported synchronously, spans and log
    records in one call per signal, so the recorder's bounded backlog and
    backpressure are the only queue and nothing is dropped in between.
    Metrics are aggregated by the SDK and pushed at most every
    ``metric_export_interval`` seconds (when records fed them), and at flush.
    A record whose span, log record or metric export failed is lost: ``export``
    or ``flush`` raises :class:`~auditora.sinks.SinkWriteError` saying how
    many, so ``auditora.flush()`` returns False. :meth:`stats` counts
    exported and failed items per signal; the first failure of each signal is
    logged with the endpoint and a hint. ``batch`` is deprecated and ignored.

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
        signals: Optional[Union[str, Iterable[str]]] = None,
        traces: bool = True,
        logs: bool = True,
        metrics: bool = True,
        span_exporter: Any = None,
        log_exporter: Any = None,
        metric_exporter: Any = None,
        metric_export_interval: float = 60.0,
        batch: Optional[bool] = None,
        evaluation_events: Sequence[str] = ("span", "log"),
        join_otel_context: bool = True,
        max_pending_runs: int = 10_000,
        max_events_per_run: int = 1_000,
    ) -> None:
        unknown = set(evaluation_events) - {"span", "log"}
        if unknown:
            raise ValueError(f"evaluation_events may hold 'span' and 'log', not {sorted(unknown)}")
        if batch is not None:
            warnings.warn(
                "OTelSink(batch=...) is deprecated and has no effect: the sink exports "
                "each of the recorder's batches synchronously",
                DeprecationWarning,
                stacklevel=2,
            )
        exporters = {"traces": span_exporter, "logs": log_exporter, "metrics": metric_exporter}
        wanted = {"traces": traces, "logs": logs, "metrics": metrics}
        if signals is not None:
            chosen = {signals} if isinstance(signals, str) else set(signals)
            if chosen - set(_SIGNALS):
                raise ValueError(
                    f"signals may hold {', '.join(map(repr, _SIGNALS))}, "
                    f"not {sorted(chosen - set(_SIGNALS))}"
                )
        else:
            # Explicit arguments win over the environment, as for the exporters.
            chosen = {s for s in _SIGNALS if exporters[s] is not None or not _env_off(s)}
        enabled = [s for s in _SIGNALS if s in chosen and wanted[s]]

        attrs: Dict[str, Any] = dict(resource_attributes or {})
        if service_name is not None:
            attrs["service.name"] = service_name
        self.resource: Resource = _Resource(Resource.create(attrs))
        self._scope = InstrumentationScope("auditora", __version__)
        self._eval_span = "span" in evaluation_events
        self._eval_log = "log" in evaluation_events
        self._max_pending = max(1, int(max_pending_runs))
        self._max_events = max(1, int(max_events_per_run))
        self._lock = threading.Lock()
        # export/flush/close run one at a time (the recorder guarantees it; direct callers may not).
        self._io = threading.RLock()
        self._pending: OrderedDict[str, List[Tuple[SpanEvent, Optional[_Delivery]]]] = OrderedDict()
        # run id -> (trace id, start) of recently exported runs: routes late events
        # and keeps LLM spans from starting before their run.
        self._ended: OrderedDict[str, Tuple[str, int]] = OrderedDict()
        # response id -> (trace id, span id) of recently exported LLM spans, so an
        # evaluation of that response is parented to its span.
        self._responses: OrderedDict[str, Tuple[str, str]] = OrderedDict()
        # Per batch: run starts of the batch's runs (built when first needed), and
        # the LLM spans not yet exported, by response id, that evaluations may join.
        self._batch_starts: Optional[Dict[str, int]] = None
        self._batch: Sequence[Record] = ()
        self._batch_llm: Dict[str, _LLMSpan] = {}
        #: OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental at construction.
        self._latest_genai = _latest_genai()
        self._gauges: Dict[str, Any] = {}
        self._closed = False
        #: Records that could not be translated (logged once).
        self.failed = 0
        #: Span events exported as log records (late or overflowing).
        self.events_as_logs = 0
        #: Late or overflowing span events not exported because logs are off.
        self.events_not_exported = 0
        # The record being translated: what its spans, logs and metrics carry.
        self._current: Optional[_Delivery] = None
        exporter_kwargs = {"headers": dict(headers) if headers else None, "timeout": timeout}

        def make(signal: str) -> _Signal:
            if exporters[signal] is not None:
                return _Signal(signal, exporters[signal], None)
            exporter, status = _otlp(signal, endpoint, exporter_kwargs)
            return _Signal(signal, exporter, status)

        self._traces: Optional[_Signal] = make("traces") if "traces" in enabled else None

        self._logs: Optional[_Signal] = None
        self._logger_provider: Any = None
        self._otel_logger: Any = None
        self._log_items = _LogCollector()
        self._log_deliveries: List[Optional[_Delivery]] = []
        if "logs" in enabled:
            self._logs = make("logs")
            self._logger_provider = LoggerProvider(resource=self.resource, shutdown_on_exit=False)
            # The simple processor only converts each record to the SDK's exported
            # form; the collector keeps them for one export call per batch.
            collector: Any = self._log_items  # duck-typed: the exporter type varies by SDK
            processor = SimpleLogRecordProcessor(collector)
            self._logger_provider.add_log_record_processor(processor)
            self._otel_logger = self._logger_provider.get_logger("auditora", __version__)

        self._metrics: Optional[_Signal] = None
        self._meter_provider: Any = None
        self._metric_deliveries: List[Optional[_Delivery]] = []
        self._metric_interval = max(0.0, float(metric_export_interval))
        self._metrics_due = time.monotonic() + self._metric_interval
        if "metrics" in enabled:
            self._metrics = make("metrics")
            exporter = self._metrics.exporter
            # Collected on demand in the sink's thread and exported synchronously,
            # so every metric export's result is checked. Temporality and
            # aggregation follow the exporter's preference, as the SDK's own readers do.
            self._metric_reader = InMemoryMetricReader(
                preferred_temporality=getattr(exporter, "_preferred_temporality", None),
                preferred_aggregation=getattr(exporter, "_preferred_aggregation", None),
            )
            self._meter_provider = MeterProvider(
                metric_readers=[self._metric_reader],
                resource=self.resource,
                shutdown_on_exit=False,
            )
            meter = self._meter_provider.get_meter("auditora", __version__)
            self._meter = meter
            if self._latest_genai:
                # The latest conventions: additive counters whose points partition
                # the totals, in place of the per-call token histogram.
                self._tokens = meter.create_counter(
                    "gen_ai.client.inference.tokens",
                    unit="{token}",
                    description="Input and output tokens used.",
                )
                self._tokens_by_cache = meter.create_counter(
                    "gen_ai.client.inference.input_tokens_by_cache",
                    unit="{token}",
                    description="Input tokens by provider-managed cache use.",
                )
                self._tokens_by_phase = meter.create_counter(
                    "gen_ai.client.inference.output_tokens_by_phase",
                    unit="{token}",
                    description="Output tokens by generation phase.",
                )
            else:
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
        self._signals = [s for s in (self._traces, self._logs, self._metrics) if s is not None]

        self._instrumented = False
        if join_otel_context:
            instrument()
            self._instrumented = True

    # -- the sink contract ---------------------------------------------------
    @property
    def signals(self) -> Tuple[str, ...]:
        """The signals this sink exports."""
        return tuple(s.name for s in self._signals)

    def export(self, batch: Sequence[Record]) -> None:
        """Translate ``batch`` and export it; raise SinkWriteError naming what was lost."""
        with self._io:
            spans: List[Tuple[ReadableSpan, List[Optional[_Delivery]]]] = []
            untranslated = 0
            self._batch, self._batch_starts = batch, None
            # User-provided fields come from the shared, redacted and bounded
            # serialization (computed once per batch for all sinks).
            for record, data in zip(batch, jsonable(batch)):
                self._current = _Delivery()
                try:
                    self._translate(record, data, spans)
                except Exception:
                    untranslated += 1
                    self.failed += 1
                    if self.failed == 1:
                        _logger.exception(
                            "auditora: OTelSink could not translate a %s record; "
                            "further failures are counted in OTelSink.stats()",
                            getattr(record, "kind", type(record).__name__),
                        )
            self._current = None
            self._finish_llm_spans(spans)
            self._batch, self._batch_starts = (), None
            lost = self._send(spans)
            if self._metric_deliveries and time.monotonic() >= self._metrics_due:
                lost += self._push_metrics(10.0)
            self._raise_if_lost(lost, untranslated)

    def flush(self, timeout: float = 10.0) -> bool:
        """Push metrics and flush the exporters; raise SinkWriteError if records were lost."""
        with self._io:
            lost = self._send([])
            if self._metric_deliveries:
                lost += self._push_metrics(timeout)
            millis = int(max(timeout, 0.0) * 1000)
            ok = True
            for signal in self._signals:
                try:
                    ok = bool(signal.exporter.force_flush(millis)) and ok
                except Exception:
                    _logger.exception("auditora: OTelSink could not flush its %s", signal.name)
                    ok = False
            self._raise_if_lost(lost, 0)
            return ok

    def close(self, timeout: float = 10.0) -> None:
        """Export buffered events as logs, flush, and shut the exporters down."""
        with self._io:
            with self._lock:
                if self._closed:
                    return
                self._closed = True
                leftovers = list(self._pending.items())
                self._pending.clear()
            try:
                for run_id, events in leftovers:
                    self._events_to_logs(run_id, events)
                self.flush(timeout)
            finally:
                if self._instrumented:
                    uninstrument()
                    self._instrumented = False
                parts = [s.exporter for s in self._signals]
                for part in (self._logger_provider, self._meter_provider, *parts):
                    if part is None:
                        continue
                    try:
                        part.shutdown()
                    except Exception:
                        _logger.exception("auditora: OTelSink shutdown failed")

    def stats(self) -> Dict[str, Any]:
        """Per signal, the items exported and failed (and the last error), plus
        records that could not be translated and span events sent as logs."""
        return {
            "signals": {s.name: s.stats() for s in self._signals},
            "untranslatable": self.failed,
            "events_as_logs": self.events_as_logs,
            "events_not_exported": self.events_not_exported,
        }

    def _after_fork_in_child(self) -> None:
        """In a forked child, forget the parent's buffered events (they are the parent's)."""
        self._lock = threading.Lock()
        self._io = threading.RLock()
        self._pending = OrderedDict()
        self._ended = OrderedDict()
        self._responses = OrderedDict()
        self._log_items.items.clear()
        self._log_deliveries = []
        self._metric_deliveries = []

    # -- delivery --------------------------------------------------------------
    def _send(self, spans: List[Tuple[ReadableSpan, List[Optional[_Delivery]]]]) -> int:
        """Export ``spans`` and the log records emitted since the last call; records lost."""
        lost = 0
        traces = self._traces
        if spans and traces is not None:
            items = [span for span, _ in spans]
            exporter = traces.exporter
            if not traces.send(lambda: (exporter.export(items), len(items)), len(items)):
                lost += _lose(d for _, deliveries in spans for d in deliveries)
        logs = self._logs
        if logs is not None and self._log_items.items:
            records, self._log_items.items = self._log_items.items, []
            deliveries, self._log_deliveries = self._log_deliveries, []
            exporter = logs.exporter
            if not logs.send(lambda: (exporter.export(records), len(records)), len(records)):
                lost += _lose(deliveries)
        return lost

    def _push_metrics(self, timeout: float) -> int:
        """Collect and export the metrics now; records lost."""
        metrics = self._metrics
        if metrics is None:
            return 0
        deliveries, self._metric_deliveries = self._metric_deliveries, []
        self._metrics_due = time.monotonic() + self._metric_interval
        millis = max(timeout, 0.0) * 1000

        def push() -> Tuple[Any, int]:
            data = self._metric_reader.get_metrics_data()
            if data is None:
                return None, 0
            return metrics.exporter.export(data, timeout_millis=millis), _points(data)

        # A failed push counts the records that fed the metrics since the last
        # good one as lost, even where a later cumulative push may carry their totals.
        return 0 if metrics.send(push, 0) else _lose(deliveries)

    def _raise_if_lost(self, lost: int, untranslated: int) -> None:
        if not lost and not untranslated:
            return
        errors = "; ".join(f"{s.name}: {s.error}" for s in self._signals if s.failing)
        if lost:
            message = f"OTelSink: {lost + untranslated} records not delivered ({errors})"
            raise SinkWriteError(message, records_lost=lost + untranslated)
        raise SinkWriteError(
            f"OTelSink: {untranslated} records could not be translated",
            records_lost=untranslated,
            reason="unstorable",
        )

    # -- translation ---------------------------------------------------------
    def _translate(
        self,
        record: Record,
        data: Dict[str, Any],
        spans: List[Tuple[ReadableSpan, List[Optional[_Delivery]]]],
    ) -> None:
        if isinstance(record, Run):
            if self._traces is not None:
                spans.append(self._run_span(record, data))
        elif isinstance(record, LLMCall):
            if self._traces is not None:
                self._llm_span(record, data, spans)
            if self._meter_provider is not None:
                self._llm_metrics(record, data)
                self._metric_deliveries.append(self._current)
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
            if self._meter_provider is not None and self._metric_snapshot(record, data):
                self._metric_deliveries.append(self._current)
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
        remote_parent: bool = False,
    ) -> ReadableSpan:
        trace = _int_id(trace_id)
        context = SpanContext(trace, _int_id(span_id), is_remote=False, trace_flags=_SAMPLED)
        # A remote parent goes out as such (OTLP span flags), so a backend sees where
        # the trace entered this service.
        parent = (
            SpanContext(trace, _int_id(parent_id), is_remote=remote_parent, trace_flags=_SAMPLED)
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

    def _run_span(
        self, run: Run, data: Dict[str, Any]
    ) -> Tuple[ReadableSpan, List[Optional[_Delivery]]]:
        """The run's span with its buffered events, and the records it carries."""
        with self._lock:
            pending = self._pending.pop(run.run_id, [])
            self._ended[run.run_id] = (run.trace_id, run.start_ns)
            while len(self._ended) > self._max_pending:
                self._ended.popitem(last=False)
        events = [event for event, _ in pending]
        deliveries = [self._current, *(delivery for _, delivery in pending)]
        run_type = run.run_type or "function"
        attrs: Dict[str, Any] = {
            "auditora.run.kind": run.run_kind,
            "openinference.span.kind": _OPENINFERENCE_KINDS.get(run_type, "CHAIN"),
        }
        if run_type != "function":
            # The default goes without saying: one attribute less on most spans.
            attrs["auditora.run.type"] = run_type
        if run.status != "ok":
            attrs["auditora.run.status"] = run.status
        _session_attrs(attrs, run.session_id)
        if run.agent is not None:
            attrs["gen_ai.agent.name"] = run.agent
        name = run.name
        operation = _GENAI_OPERATIONS.get(run_type)
        if operation is not None:
            attrs["gen_ai.operation.name"] = operation
            if run_type == "agent":
                agent = run.agent or run.name
                attrs["gen_ai.agent.name"] = attrs["agent.name"] = agent
                name = f"invoke_agent {agent}"
            elif run_type == "tool":
                attrs["gen_ai.tool.name"] = attrs["tool.name"] = run.name
                # An MCP run keeps its conventional name: "{mcp.method.name} {target}".
                if "mcp.method.name" not in (run.attributes or ()):
                    name = f"execute_tool {run.name}"
            elif run_type == "workflow":
                attrs["gen_ai.workflow.name"] = run.name
                name = f"invoke_workflow {run.name}"
        _put_all(attrs, data.get("attributes"))
        inputs = data.get("inputs")
        if inputs is not None:
            text = _value_attrs(attrs, "input", inputs)
            if run_type == "tool":
                attrs["gen_ai.tool.call.arguments"] = text
        output = data.get("output")
        if output is not None:
            text = _value_attrs(attrs, "output", output)
            if run_type == "tool":
                attrs["gen_ai.tool.call.result"] = text
        if events:
            _inline_evaluations(attrs, events)
        start = run.start_ns
        end = start + run.duration_ns if run.duration_ns is not None else (run.end_ns or start)
        status = None
        if run.status == "error":
            attrs.setdefault("error.type", run.error_type or "_OTHER")  # a run's own wins
            description = f"{run.error_type}: {run.error_message}" if run.error_type else None
            status = Status(StatusCode.ERROR, description)
            exception: Dict[str, Any] = {}
            _put(exception, "exception.type", run.error_type)
            _put(exception, "exception.message", run.error_message)
            _put(exception, "exception.stacktrace", data.get("traceback"))
            events.append(SpanEvent("exception", exception, end))
        kind = SpanKind.SERVER if run_type == "server" else SpanKind.INTERNAL  # a request served
        span = self._span(
            name, run.trace_id, run.run_id, run.parent_id, start, end, attrs, events, status,
            kind, bool(run.remote_parent),
        )  # fmt: skip
        return span, deliveries

    def _llm_attributes(self, call: LLMCall, data: Dict[str, Any]) -> Dict[str, Any]:
        """The low-cardinality attributes an LLM call's span and metrics share."""
        attrs: Dict[str, Any] = {"gen_ai.operation.name": call.operation or "chat"}
        provider = call.provider or _guess_provider(call.request_model or call.model)
        _put(attrs, "gen_ai.provider.name", provider)
        _put(attrs, "gen_ai.request.model", call.request_model or call.model)
        # Records from before schema 2 carried the response model as an extra.
        response_model = call.response_model or (data.get("extra") or {}).get("response_model")
        _put(attrs, "gen_ai.response.model", response_model)
        if not call.success:
            attrs["error.type"] = call.error_type or _error_type(call.error)
        return attrs

    def _parent_start(self, run_id: str) -> Optional[int]:
        """The start of run ``run_id`` when it is in this batch or was exported lately."""
        starts = self._batch_starts
        if starts is None:
            starts = self._batch_starts = {
                r.run_id: r.start_ns for r in self._batch if r.__class__ is Run
            }
        start = starts.get(run_id)
        if start is None:
            with self._lock:
                ended = self._ended.get(run_id)
            start = ended[1] if ended is not None else None
        return start

    def _llm_span(
        self,
        call: LLMCall,
        data: Dict[str, Any],
        spans: List[Tuple[ReadableSpan, List[Optional[_Delivery]]]],
    ) -> None:
        attrs = self._llm_attributes(call, data)
        model = attrs.get("gen_ai.request.model", call.model)
        is_embedding = attrs["gen_ai.operation.name"] == "embeddings"
        attrs["openinference.span.kind"] = "EMBEDDING" if is_embedding else "LLM"
        _put(attrs, "llm.model_name", attrs.get("gen_ai.response.model", model))
        _put(attrs, "llm.provider", attrs.get("gen_ai.provider.name"))
        usage = (
            ("gen_ai.usage.input_tokens", "llm.token_count.prompt", call.input_tokens),
            ("gen_ai.usage.output_tokens", "llm.token_count.completion", call.output_tokens),
            (
                "gen_ai.usage.cache_read.input_tokens",
                "llm.token_count.prompt_details.cache_read",
                call.cached_tokens,
            ),
            (
                "gen_ai.usage.cache_creation.input_tokens",
                "llm.token_count.prompt_details.cache_write",
                call.cache_write_tokens,
            ),
            (
                "gen_ai.usage.reasoning.output_tokens",
                "llm.token_count.completion_details.reasoning",
                call.reasoning_tokens,
            ),
        )
        for genai, openinference, count in usage:
            if count is not None:
                attrs[genai] = attrs[openinference] = count
        if call.input_tokens is not None or call.output_tokens is not None:
            attrs["llm.token_count.total"] = call.total_tokens
        if call.finish_reason is not None:
            attrs["gen_ai.response.finish_reasons"] = [str(call.finish_reason)]
        if call.cost is not None:
            attrs["gen_ai.usage.cost"] = attrs["llm.cost.total"] = call.cost
        _put(attrs, "gen_ai.response.id", call.response_id)
        request = data.get("request") or {}
        for key, value in request.items():
            semconv = _REQUEST_KEYS.get(key)
            if semconv is not None:
                if semconv == "stop_sequences" and isinstance(value, str):
                    value = [value]
                _put(attrs, f"gen_ai.request.{semconv}", value)
        if request:
            attrs["llm.invocation_parameters"] = _text(request)
        for key, value in (data.get("extra") or {}).items():
            if key != "response_model":
                _put(attrs, _EXTRA_KEYS.get(key, f"auditora.llm.{key}"), value)
        if data.get("system_instructions") is not None:
            parts = _instruction_parts(data["system_instructions"])
            attrs["gen_ai.system_instructions"] = _text(parts)
        if data.get("input") is not None:
            attrs["gen_ai.input.messages"] = _json(_messages(data["input"], "user"))
            _value_attrs(attrs, "input", data["input"])
        if data.get("output") is not None:
            messages = _messages(data["output"], "assistant", call.finish_reason)
            attrs["gen_ai.output.messages"] = _json(messages)
            _value_attrs(attrs, "output", data["output"])
        _session_attrs(attrs, call.session_id)
        status = Status(StatusCode.ERROR, call.error) if not call.success else None
        end = call.time_ns
        start = call.start_ns
        if start is None:
            start = end - int((call.response_time or 0.0) * 1e9)
        parent = call.run_id if call.trace_id else None
        if parent is not None:
            # Never before the run that made the call (a response_time measured
            # from before the run started, or an unclamped start_ns).
            parent_start = self._parent_start(parent)
            if parent_start is not None and start < parent_start:
                start = parent_start
        end = max(end, start)
        if call.time_to_first_token is not None:
            attrs["gen_ai.response.time_to_first_chunk"] = call.time_to_first_token
            first = start + int(call.time_to_first_token * 1e9)
            attrs["langfuse.observation.completion_start_time"] = _iso(first)
        trace_id = call.trace_id or new_trace_id()
        span_id = new_span_id()
        name = f"{attrs['gen_ai.operation.name']} {model}"
        build = functools.partial(
            self._span, name, trace_id, span_id, parent, start, end, attrs, status=status
        )
        spans.append((build((), kind=SpanKind.CLIENT), [self._current]))
        if call.response_id:
            self._batch_llm[call.response_id] = _LLMSpan(len(spans) - 1, build, attrs)
            with self._lock:
                self._responses[call.response_id] = (trace_id, span_id)
                while len(self._responses) > self._max_pending:
                    self._responses.popitem(last=False)

    def _finish_llm_spans(
        self, spans: List[Tuple[ReadableSpan, List[Optional[_Delivery]]]]
    ) -> None:
        """Rebuild the batch's LLM spans that evaluations joined, with those events."""
        for llm in self._batch_llm.values():
            if llm.events:
                _inline_evaluations(llm.attrs, llm.events)
                span = llm.build(llm.events, kind=SpanKind.CLIENT)
                spans[llm.index] = (span, spans[llm.index][1])
        self._batch_llm = {}

    def _llm_metrics(self, call: LLMCall, data: Dict[str, Any]) -> None:
        attrs = self._llm_attributes(call, data)
        if call.response_time is not None:
            self._duration.record(call.response_time, attrs)
        if self._latest_genai:
            self._token_counters(call, attrs)
        else:
            for kind, count in (("input", call.input_tokens), ("output", call.output_tokens)):
                if count is not None:
                    self._token_usage.record(count, {**attrs, "gen_ai.token.type": kind})
        if call.cost:
            self._cost.add(call.cost, attrs)

    def _token_counters(self, call: LLMCall, attrs: Dict[str, Any]) -> None:
        """The latest conventions' counters. Each split partitions its total
        (input counts cache reads and writes, output counts reasoning)."""
        if call.input_tokens is not None:
            total = call.input_tokens
            self._tokens.add(total, {**attrs, "gen_ai.token.type": "input"})
            read = min(call.cached_tokens or 0, total)
            write = min(call.cache_write_tokens or 0, total - read)
            for cache, count in (
                ("uncached", total - read - write),
                ("read", read),
                ("write", write),
            ):
                if count:
                    self._tokens_by_cache.add(count, {**attrs, "gen_ai.token.cache": cache})
        if call.output_tokens is not None:
            total = call.output_tokens
            self._tokens.add(total, {**attrs, "gen_ai.token.type": "output"})
            reasoning = min(call.reasoning_tokens or 0, total)
            for phase, count in (("response", total - reasoning), ("reasoning", reasoning)):
                if count:
                    self._tokens_by_phase.add(count, {**attrs, "gen_ai.token.phase": phase})

    def _evaluation(self, ev: Evaluation, data: Dict[str, Any]) -> None:
        attrs: Dict[str, Any] = {"gen_ai.evaluation.name": ev.metric_name}
        value = ev.value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            attrs["gen_ai.evaluation.score.value"] = float(value)
        attrs["gen_ai.evaluation.score.label"] = ev.label or ev.status.lower()
        _put(attrs, "gen_ai.evaluation.explanation", ev.explanation)
        extra = dict(data.get("extra") or {})
        response_id = extra.pop("response_id", None)
        if not isinstance(response_id, str):
            response_id = None
        _put(attrs, "gen_ai.response.id", response_id)
        _put(attrs, "auditora.evaluation.threshold", ev.threshold)
        attrs["auditora.evaluation.status"] = ev.status
        attrs["auditora.evaluation.direction"] = ev.direction
        _put_all(attrs, extra, "auditora.evaluation.")
        # The evaluated span: the LLM call that gave the response, when this sink
        # built its span, else the run that logged the evaluation.
        trace_id, span_id = ev.trace_id, ev.run_id
        target: Optional[_LLMSpan] = None
        if response_id is not None:
            target = self._batch_llm.get(response_id)
            with self._lock:
                known = self._responses.get(response_id)
            if known is not None:
                trace_id, span_id = known
        as_span_event = bool(self._eval_span and self._traces is not None and (target or ev.run_id))
        if as_span_event:
            event = SpanEvent("gen_ai.evaluation.result", dict(attrs), ev.time_ns)
            if target is not None:
                target.events.append(event)
            else:
                self._span_event(ev.run_id, event, ev)
        if self._eval_log or not as_span_event:
            severity = SeverityNumber.INFO if ev.passed else SeverityNumber.WARN
            self._emit_log(
                ev.time_ns,
                trace_id,
                span_id,
                severity,
                ev.level,
                _session_attrs(attrs, ev.session_id),
                event_name="gen_ai.evaluation.result",
            )

    def _metric_snapshot(self, snap: MetricSnapshot, data: Dict[str, Any]) -> bool:
        """Set one gauge per numeric metric; True when any was set."""
        fed = False
        attrs = {"session.id": snap.session_id} if snap.session_id else {}
        for name, value in (data.get("metrics") or {}).items():
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            gauge = self._gauges.get(name)
            if gauge is None:
                gauge = self._meter.create_gauge(_metric_name(name))
                self._gauges[name] = gauge
            gauge.set(value, attrs)
            fed = True
        return fed

    # -- span events and logs --------------------------------------------------
    def _span_event(self, run_id: Optional[str], event: SpanEvent, record: Any) -> None:
        """Buffer ``event`` until its run's span is built; otherwise export it as a log."""
        overflow: List[Tuple[str, List[Tuple[SpanEvent, Optional[_Delivery]]]]] = []
        late = False
        if run_id and self._traces is not None:
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
                        events.append((event, self._current))
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
                    ended = self._ended.get(run_id)
                trace_id = ended[0] if ended is not None else None
            session_id = getattr(record, "session_id", None)
            self._event_log(event, trace_id, run_id, session_id, self._current)

    def _events_to_logs(
        self, run_id: str, events: Iterable[Tuple[SpanEvent, Optional[_Delivery]]]
    ) -> None:
        for event, delivery in events:
            self._event_log(event, None, run_id, None, delivery)

    def _event_log(
        self,
        event: SpanEvent,
        trace_id: Optional[str],
        run_id: Optional[str],
        session_id: Optional[str],
        delivery: Optional[_Delivery],
    ) -> None:
        if self._otel_logger is None:
            # Logs are switched off: the event has no span to join and nowhere to go.
            self.events_not_exported += 1
            return
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
            delivery=delivery,
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
        delivery: Optional[_Delivery] = None,
    ) -> None:
        logger = self._otel_logger
        if logger is None:
            return
        # The trace context travels in an OpenTelemetry Context; an empty one
        # keeps whatever span the recorder thread might have active out of it.
        context = _span_context(trace_id, span_id) if trace_id and span_id else _EMPTY
        before = len(self._log_items.items)
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
        # One delivery per collected log record, so a failed export finds its records.
        added = len(self._log_items.items) - before
        self._log_deliveries.extend([delivery or self._current] * added)


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


def _otlp(
    signal: str, endpoint: Optional[str], kwargs: Dict[str, Any]
) -> Tuple[Any, Optional[_Status]]:
    """An OTLP exporter for ``signal`` (HTTP/protobuf, or gRPC when the environment
    asks) and, for HTTP, what tells the HTTP status of its last response."""
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
            return getattr(module, names[signal])(**options), None
        _logger.warning(
            "auditora: OTEL_EXPORTER_OTLP_PROTOCOL=grpc but the gRPC exporter is not "
            "installed (pip install opentelemetry-exporter-otlp-proto-grpc); using HTTP"
        )
    module = importlib.import_module(f"opentelemetry.exporter.otlp.proto.http.{modules[signal]}")
    if endpoint:
        options["endpoint"] = f"{endpoint.rstrip('/')}/v1/{signal}"
    status: Optional[_Status] = None
    requests = _optional("requests")
    credentials = os.environ.get("OTEL_PYTHON_EXPORTER_OTLP_HTTP_CREDENTIAL_PROVIDER") or (
        os.environ.get(f"OTEL_PYTHON_EXPORTER_OTLP_HTTP_{signal.upper()}_CREDENTIAL_PROVIDER")
    )
    # The exporter reports failure without its status; a response hook on the
    # session it uses tells it. A credential provider brings its own session.
    if requests is not None and not credentials:
        status = _Status()
        session = requests.Session()
        session.hooks["response"].append(status.hook)
        options["session"] = session
    return getattr(module, names[signal])(**options), status


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
    run = active()
    if run is None:
        return otel_context_api.get_current()
    return _span_context(run.trace_id, run.run_id)


def _span_context(trace_id: str, span_id: str) -> Any:
    """An OpenTelemetry ``Context`` holding a non-recording span with these ids."""
    ids = SpanContext(_int_id(trace_id), _int_id(span_id), is_remote=False, trace_flags=_SAMPLED)
    return otel_trace.set_span_in_context(NonRecordingSpan(ids))


def _plain(value: Any) -> Any:
    """An OpenTelemetry attribute value as a plain one (sequences as lists)."""
    return list(value) if isinstance(value, tuple) else value


class AuditoraSpanProcessor(SpanProcessor):
    """Feed the spans of any OpenTelemetry instrumentation in this process to Auditora.

    ::

        from opentelemetry.sdk.trace import TracerProvider
        from auditora.integrations.otel import AuditoraSpanProcessor

        auditora.configure(store="auditora.db")
        provider = TracerProvider()
        provider.add_span_processor(AuditoraSpanProcessor())

    Each ended span becomes the records ``auditora collect`` would make of it (runs,
    LLM calls, evaluations, sessions: :mod:`auditora.collect._mapping`), handed to the
    recorder, so they reach the configured sinks like native records. Nothing is
    sent over the network. The records go to the sinks only (not to a report), so
    the span processor does not double-count calls that Auditora's own LLM
    integrations record: use one or the other per SDK.
    """

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        pass

    def on_end(self, span: ReadableSpan) -> None:
        try:
            records = _mapping.span_records(_span_of(span))
        except Exception:  # never break the instrumented code
            _logger.exception("auditora: mapping an OpenTelemetry span failed")
            return
        _mapping.emit(records)

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        from .. import _recorder

        return _recorder.flush(timeout_millis / 1000)


def _span_of(span: ReadableSpan) -> _mapping.Span:
    """A finished SDK span as the collector's decoded span."""
    context = span.context
    if context is None:  # pragma: no cover - an ended SDK span always has one
        raise ValueError("a span without a context")
    parent = span.parent
    status = span.status
    resource = span.resource
    scope = span.instrumentation_scope
    start = span.start_time or 0
    return _mapping.Span(
        format(context.trace_id, "032x"),
        format(context.span_id, "016x"),
        format(parent.span_id, "016x") if parent is not None and parent.span_id else None,
        span.name,
        span.kind.value + 1,  # the SDK's SpanKind counts from INTERNAL = 0, OTLP from 1
        start,
        max(start, span.end_time or start),
        {key: _plain(value) for key, value in (span.attributes or {}).items()},
        [
            (
                event.name,
                event.timestamp,
                {k: _plain(v) for k, v in (event.attributes or {}).items()},
            )
            for event in span.events
        ],
        status.status_code.value if status is not None else 0,
        status.description if status is not None else None,
        dict(resource.attributes) if resource is not None else {},
        scope.name if scope is not None else None,
        bool(parent.is_remote) if parent is not None else None,
    )
