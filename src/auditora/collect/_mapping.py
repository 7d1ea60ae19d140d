"""OpenTelemetry spans, logs and metrics -> Auditora records (the exporter's reverse).

Both the OTLP collector (:mod:`auditora.collect._otlp` decodes a request into
:class:`Span` objects) and the in-process span processor
(:class:`auditora.integrations.otel.AuditoraSpanProcessor`) hand spans to
:func:`span_records`; what comes out are the record types of
:mod:`auditora.records`, sent through :func:`emit` like native ones.

What becomes what is the table in ``docs/collect.md``. Every attribute this module
does not turn into a field stays in the run's ``attributes``: nothing is dropped.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from typing import Any, Dict, Iterable, List, Optional, Tuple

from .. import _emit
from ..llm.pricing import compute_cost
from ..records import (
    Evaluation,
    Event,
    LLMCall,
    Log,
    MetricSnapshot,
    Record,
    Run,
    SessionRecord,
    new_run,
)
from ._semconv import (
    MODEL_OPERATIONS,
    OPENINFERENCE_ELEMENT_WRAPPERS,
    OPENINFERENCE_FIRST_TOKEN_EVENT,
    OPENINFERENCE_REDACTED,
    RUN_TYPES_BY_GENAI_OPERATION,
    RUN_TYPES_BY_OPENINFERENCE_KIND,
)

__all__ = ["Span", "SpanEvent", "emit", "log_records", "metric_record", "span_records"]

#: OTLP span kinds (the enum's numbers) by name, for ``otel.span.kind``.
SPAN_KINDS = {1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}
STATUS_ERROR = 2

#: A span event: name, time (ns), attributes.
SpanEvent = Tuple[str, int, Dict[str, Any]]


class Span:
    """One finished span, decoded: ids in lowercase hex, attributes as plain values."""

    __slots__ = (
        "trace_id",
        "span_id",
        "parent_id",
        "name",
        "kind",
        "start_ns",
        "end_ns",
        "attributes",
        "events",
        "status_code",
        "status_message",
        "resource",
        "scope",
        "remote_parent",
    )

    def __init__(
        self,
        trace_id: str,
        span_id: str,
        parent_id: Optional[str],
        name: str,
        kind: int,
        start_ns: int,
        end_ns: int,
        attributes: Dict[str, Any],
        events: List[SpanEvent],
        status_code: int,
        status_message: Optional[str],
        resource: Dict[str, Any],
        scope: Optional[str],
        remote_parent: Optional[bool] = None,
    ) -> None:
        self.trace_id = trace_id
        self.span_id = span_id
        self.parent_id = parent_id
        self.name = name
        self.kind = kind
        self.start_ns = start_ns
        self.end_ns = end_ns
        self.attributes = attributes
        self.events = events
        self.status_code = status_code
        self.status_message = status_message
        self.resource = resource
        self.scope = scope
        #: The exporter says the parent span is another process's (OTLP span flags).
        self.remote_parent = remote_parent


def _take(attrs: Dict[str, Any], *keys: str) -> Any:
    """Pop every key of ``keys`` from ``attrs``; the first non-None value (current names first)."""
    found = None
    for key in keys:
        value = attrs.pop(key, None)
        if found is None and value is not None:
            found = value
    return found


def _int(value: Any) -> Optional[int]:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value == value:
        return int(value)
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return None
    return None


def _float(value: Any) -> Optional[float]:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _str(value: Any) -> Optional[str]:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def _parsed(value: Any) -> Any:
    """A JSON text (as the conventions carry structured values) as its value; else as is."""
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _nested(node: Dict[str, Any], path: List[str], value: Any) -> None:
    """Put ``value`` at ``path`` in ``node``; an index's element wrapper is skipped."""
    for i, segment in enumerate(path[:-1]):
        if segment in OPENINFERENCE_ELEMENT_WRAPPERS and i > 0 and path[i - 1].isdigit():
            continue
        child = node.get(segment)
        if not isinstance(child, dict):
            child = node[segment] = {}
        node = child
    node[path[-1]] = value


def _listed(node: Any) -> Any:
    """Dicts keyed by indexes only as lists (in index order), all the way down."""
    if not isinstance(node, dict):
        return node
    items = {key: _listed(value) for key, value in node.items()}
    if items and all(key.isdigit() for key in items):
        return [items[key] for key in sorted(items, key=int)]
    return items


def _flattened(attrs: Dict[str, Any], prefix: str) -> Optional[List[Dict[str, Any]]]:
    """OpenInference's flattened lists (``llm.input_messages.0.message.role``,
    ``...message.tool_calls.0.tool_call.function.name``) as a list of nested dicts
    (``{"role": ..., "tool_calls": [{"function": {"name": ...}}]}``), popped from
    ``attrs``; None when absent."""
    keys = [key for key in attrs if key.startswith(prefix)]
    if not keys:
        return None
    root: Dict[str, Any] = {}
    for key in keys:
        index, _, rest = key[len(prefix) :].partition(".")
        if not index.isdigit() or not rest:
            continue  # not a list element: stays an attribute
        _nested(root, [index, *rest.split(".")], attrs.pop(key))
    listed = _listed(root)
    return listed if isinstance(listed, list) else None


def _tool_names(attrs: Dict[str, Any]) -> Optional[List[Any]]:
    """The names of the tools OpenInference lists (``llm.tools.N.tool.json_schema``), as the
    native integrations record them in ``request["tools"]``; the schemas stay attributes."""
    schemas = [
        (int(key.split(".")[2]), _parsed(value))
        for key, value in attrs.items()
        if key.startswith("llm.tools.")
        and key.endswith(".tool.json_schema")
        and key.split(".")[2].isdigit()
    ]
    if not schemas:
        return None
    names: List[Any] = []
    for _, schema in sorted(schemas, key=lambda item: item[0]):
        if isinstance(schema, dict):
            function = schema.get("function")
            name = function.get("name") if isinstance(function, dict) else schema.get("name")
            names.append(name or schema.get("type"))
        else:
            names.append(None)
    return names


def _content(value: Any) -> Any:
    """A content attribute's value, or None when the instrumentation hid it."""
    return None if value == OPENINFERENCE_REDACTED else value


def _session(attrs: Dict[str, Any]) -> Optional[str]:
    return _str(_take(attrs, "session.id", "gen_ai.conversation.id"))


def _run_type(span: Span, attrs: Dict[str, Any]) -> str:
    own = attrs.pop("auditora.run.type", None)
    kind = attrs.pop("openinference.span.kind", None)
    if isinstance(own, str) and own:
        return own
    if isinstance(kind, str) and kind.upper() in RUN_TYPES_BY_OPENINFERENCE_KIND:
        return RUN_TYPES_BY_OPENINFERENCE_KIND[kind.upper()]
    operation = attrs.get("gen_ai.operation.name")
    if isinstance(operation, str) and operation in RUN_TYPES_BY_GENAI_OPERATION:
        return RUN_TYPES_BY_GENAI_OPERATION[operation]
    if span.kind == 2:
        return "server"
    return "function"


def _is_model_call(run_type: str, attrs: Dict[str, Any]) -> bool:
    operation = attrs.get("gen_ai.operation.name")
    if isinstance(operation, str):
        return operation in MODEL_OPERATIONS
    if run_type in ("llm", "embedding"):
        return True
    return any(key.startswith(("gen_ai.usage.", "gen_ai.request.model")) for key in attrs)


def _invocation_parameters(attrs: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    """OpenInference's ``llm.invocation_parameters`` (a JSON object) as a dict, popped;
    a value that is not one stays an attribute."""
    params = attrs.get("llm.invocation_parameters")
    parsed = _parsed(params)
    if isinstance(parsed, dict):
        attrs.pop("llm.invocation_parameters")
        return {str(key): value for key, value in parsed.items()}
    return None


def _request(attrs: Dict[str, Any], params: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    request: Dict[str, Any] = {}
    for key in [
        k for k in attrs if k.startswith("gen_ai.request.") and k != "gen_ai.request.model"
    ]:
        request[key[len("gen_ai.request.") :]] = attrs.pop(key)
    for key, value in (params or {}).items():
        if key != "model":  # the call's request model
            request.setdefault(key, value)
    if "tools" not in request:
        tools = _tool_names(attrs)
        if tools is not None:
            request["tools"] = tools
    return request


def _finish_reason(value: Any) -> Optional[str]:
    if isinstance(value, (list, tuple)):
        value = value[0] if value else None
    return _str(value)


#: LLM-call fields and the attributes that carry them, current GenAI names first, then
#: older GenAI names and OpenInference's. The first one present wins.
_LLM_SOURCES: Tuple[Tuple[str, Tuple[str, ...]], ...] = (
    ("request_model", ("gen_ai.request.model",)),
    ("response_model", ("gen_ai.response.model", "llm.model_name")),
    ("provider", ("gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system")),
    (
        "input_tokens",
        ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens", "llm.token_count.prompt"),
    ),
    (
        "output_tokens",
        (
            "gen_ai.usage.output_tokens",
            "gen_ai.usage.completion_tokens",
            "llm.token_count.completion",
        ),
    ),
    (
        "cached",
        (
            "gen_ai.usage.cache_read.input_tokens",
            "gen_ai.usage.cache_read_input_tokens",
            "llm.token_count.prompt_details.cache_read",
        ),
    ),
    (
        "cache_write",
        (
            "gen_ai.usage.cache_creation.input_tokens",
            "gen_ai.usage.cache_creation_input_tokens",
            "llm.token_count.prompt_details.cache_write",
        ),
    ),
    (
        "reasoning",
        (
            "gen_ai.usage.reasoning.output_tokens",
            "gen_ai.usage.reasoning_tokens",
            "llm.token_count.completion_details.reasoning",
        ),
    ),
    # Totals are input plus output: recomputed, so not kept twice.
    ("total", ("llm.token_count.total", "gen_ai.usage.total_tokens")),
    ("cost", ("gen_ai.usage.cost", "llm.cost.total")),
    ("ttft", ("gen_ai.response.time_to_first_chunk", "gen_ai.server.time_to_first_token")),
    ("finish_reason", ("gen_ai.response.finish_reasons", "llm.finish_reason")),
    ("input", ("gen_ai.input.messages",)),
    ("output", ("gen_ai.output.messages",)),
    ("system", ("gen_ai.system_instructions",)),
    ("response_id", ("gen_ai.response.id",)),
)
#: attribute -> (field, rank): one dict lookup per attribute of a span.
_LLM_KEYS: Dict[str, Tuple[str, int]] = {
    key: (field, rank) for field, keys in _LLM_SOURCES for rank, key in enumerate(keys)
}


def _llm_fields(attrs: Dict[str, Any]) -> Dict[str, Any]:
    """Pop the LLM-call attributes from ``attrs`` in one pass: ``{field: value}``."""
    found: Dict[str, Any] = {}
    ranks: Dict[str, int] = {}
    for key in [key for key in attrs if key in _LLM_KEYS]:
        field, rank = _LLM_KEYS[key]
        value = attrs.pop(key)
        if value is not None and rank < ranks.get(field, 99):
            found[field] = value
            ranks[field] = rank
    return found


def _llm_call(
    span: Span, attrs: Dict[str, Any], session_id: Optional[str], run_type: str
) -> LLMCall:
    """The LLM call a GenAI or OpenInference model span describes (fields popped from attrs)."""
    operation = _str(attrs.pop("gen_ai.operation.name", None))
    if operation is None:
        operation = "embeddings" if run_type == "embedding" else "chat"
    found = _llm_fields(attrs)
    params = _invocation_parameters(attrs)
    request_model = _str(found.get("request_model"))
    if request_model is None and params is not None:
        request_model = _str(params.get("model"))  # OpenInference's requested model
    response_model = _str(found.get("response_model"))
    model = response_model or request_model or "unknown"
    provider = _str(found.get("provider"))
    input_tokens = _int(found.get("input_tokens"))
    output_tokens = _int(found.get("output_tokens"))
    cached = _int(found.get("cached"))
    cache_write = _int(found.get("cache_write"))
    reasoning = _int(found.get("reasoning"))
    given_cost = _float(found.get("cost"))
    cost = compute_cost(model, input_tokens, output_tokens, cached, cache_write, warn=False)
    if cost is None and request_model and request_model != model:
        cost = compute_cost(
            request_model, input_tokens, output_tokens, cached, cache_write, warn=False
        )
    if cost is None:
        cost = given_cost  # a model the table does not know: what the instrumentation priced
    ttft = _float(found.get("ttft"))
    finish = _finish_reason(found.get("finish_reason"))
    input_value = _parsed(found.get("input"))
    if input_value is None:
        input_value = _flattened(attrs, "llm.input_messages.")
    output_value = _parsed(found.get("output"))
    if output_value is None:
        output_value = _flattened(attrs, "llm.output_messages.")
    system = _parsed(found.get("system"))
    failed = span.status_code == STATUS_ERROR
    error_type = _str(attrs.get("error.type")) if failed else None
    error = span.status_message or error_type if failed else None
    response_time = max(0, span.end_ns - span.start_ns) / 1e9
    return LLMCall(
        model,
        input_tokens,
        output_tokens,
        response_time,
        not failed,
        span.end_ns,
        span.span_id,
        span.trace_id,
        session_id,
        provider=provider,
        operation=operation,
        cached_tokens=cached,
        reasoning_tokens=reasoning,
        cache_write_tokens=cache_write,
        time_to_first_token=ttft,
        finish_reason=finish,
        error=error,
        error_type=error_type,
        cost=cost,
        request=_request(attrs, params) or None,
        input=input_value,
        output=output_value,
        system_instructions=system,
        request_model=request_model,
        response_model=response_model,
        response_id=_str(found.get("response_id")),
        start_ns=span.start_ns,
    )


def _evaluation(
    attrs: Dict[str, Any],
    time_ns: int,
    run_id: Optional[str],
    trace_id: Optional[str],
    session_id: Optional[str],
) -> Evaluation:
    """A ``gen_ai.evaluation.result`` event (span event or log) as an evaluation."""
    attrs = dict(attrs)
    name = _str(_take(attrs, "gen_ai.evaluation.name")) or "evaluation"
    value = _float(_take(attrs, "gen_ai.evaluation.score.value"))
    label = _str(_take(attrs, "gen_ai.evaluation.score.label"))
    explanation = _str(_take(attrs, "gen_ai.evaluation.explanation"))
    threshold = _float(_take(attrs, "auditora.evaluation.threshold"))
    direction = _str(_take(attrs, "auditora.evaluation.direction")) or "higher"
    status = _str(_take(attrs, "auditora.evaluation.status"))
    if status not in ("PASS", "FAIL"):
        if threshold is not None and value is not None:
            ok = value >= threshold if direction != "lower" else value <= threshold
            status = "PASS" if ok else "FAIL"
        else:
            # Without a bar, the label decides; a label that does not say fail passes.
            status = (
                "FAIL" if (label or "").lower() in ("fail", "failed", "false", "no") else "PASS"
            )
    if label is not None and label.lower() == status.lower():
        label = None  # the exporter writes the status as the label when there is none
    session_id = _session(attrs) or session_id
    extra = {key.replace("auditora.evaluation.", "", 1): v for key, v in attrs.items()}
    if value is None:
        # A label-only judgement: the score is its verdict (1 pass, 0 fail), marked as such
        # so pass rates and gates count it and nobody mistakes it for a measured score.
        value = 1.0 if status == "PASS" else 0.0
        extra["score_from"] = "label"
    return Evaluation(
        name,
        value,
        threshold,
        status,
        time_ns,
        run_id,
        trace_id,
        session_id,
        direction=direction,
        label=label,
        explanation=explanation,
        extra=extra,
    )


def span_records(span: Span) -> List[Record]:
    """The records one finished span becomes: its run, then its LLM call, evaluations and
    events (each with the run's ids)."""
    attrs = dict(span.attributes)
    session_id = _session(attrs)
    run_type = _run_type(span, attrs)
    out: List[Record] = []
    llm: Optional[LLMCall] = None
    if _is_model_call(run_type, attrs):
        llm = _llm_call(span, attrs, session_id, run_type)
        if run_type == "function":
            run_type = "embedding" if llm.operation == "embeddings" else "llm"
    agent = _str(_take(attrs, "gen_ai.agent.name", "agent.name"))
    run_kind = _str(attrs.pop("auditora.run.kind", None)) or "span"
    own_status = _str(attrs.pop("auditora.run.status", None))  # the exporter's (e.g. cancelled)
    # A value the instrumentation hid (OpenInference's trace config) stays an attribute.
    inputs = _parsed(_content(attrs.get("input.value")))
    if inputs is not None:
        attrs.pop("input.value")
        attrs.pop("input.mime_type", None)
    output = _parsed(_content(attrs.get("output.value")))
    if output is not None:
        attrs.pop("output.value")
        attrs.pop("output.mime_type", None)
    if llm is not None:
        if llm.input is None and inputs is not None:
            llm.input = inputs
        if llm.output is None and output is not None:
            llm.output = output
    status = "error" if span.status_code == STATUS_ERROR else own_status or "ok"
    error_type = error_message = traceback = None
    events: List[Record] = []
    for name, time_ns, event_attrs in span.events:
        if name == "exception":
            error_type = _str(event_attrs.get("exception.type")) or error_type
            error_message = _str(event_attrs.get("exception.message")) or error_message
            traceback = _str(event_attrs.get("exception.stacktrace")) or traceback
            if status == "ok":  # an exception recorded but handled: keep the event
                events.append(
                    Event(
                        name,
                        time_ns,
                        None,
                        dict(event_attrs),
                        span.span_id,
                        span.trace_id,
                        session_id,
                    )
                )
        elif name == OPENINFERENCE_FIRST_TOKEN_EVENT and llm is not None:
            if llm.time_to_first_token is None:
                llm.time_to_first_token = max(0, time_ns - span.start_ns) / 1e9
        elif name == "gen_ai.evaluation.result":
            events.append(
                _evaluation(event_attrs, time_ns, span.span_id, span.trace_id, session_id)
            )
        else:
            events.append(
                Event(
                    name, time_ns, None, dict(event_attrs), span.span_id, span.trace_id, session_id
                )
            )
    # An inline copy of the evaluation events (the exporter's) says nothing new.
    if any(isinstance(e, Evaluation) for e in events):
        for key in [k for k in attrs if k.startswith("gen_ai.evaluation.")]:
            attrs.pop(key)
    if status == "error":
        if error_type is None:
            error_type = _str(attrs.get("error.type"))
            if error_type == "_OTHER":
                error_type = None
        if error_message is None:
            message = span.status_message or ""
            prefix = f"{error_type}: " if error_type else ""
            error_message = (
                message[len(prefix) :] if prefix and message.startswith(prefix) else message
            )
            error_message = error_message or None
        if llm is not None:
            if llm.error is None:
                llm.error = error_message or error_type
            if llm.error_type is None:  # OpenInference: only the exception event names it
                llm.error_type = error_type
    if span.kind in SPAN_KINDS and span.kind != 1:
        attrs["otel.span.kind"] = SPAN_KINDS[span.kind]
    service = span.resource.get("service.name")
    if service is not None:
        attrs["service.name"] = service
    if span.scope:
        attrs["otel.scope.name"] = span.scope
    # A run that already ended elsewhere: no adats (it is never anyone's frame), and
    # its clocks are the span's.
    run = new_run(
        span.span_id,
        span.trace_id,
        span.parent_id,
        span.name,
        session_id,
        run_kind,
        run_type,
        agent,
        None,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        None,
        True if span.remote_parent and span.parent_id else None,
    )
    run.start_ns = span.start_ns
    run.end_ns = span.end_ns
    run.duration_ns = max(0, span.end_ns - span.start_ns)
    run.status = status
    run.error_type = error_type
    run.error_message = error_message
    run.attributes = attrs or None
    run.inputs = inputs if isinstance(inputs, dict) or inputs is None else {"input": inputs}
    run.output = output
    run.traceback = traceback
    out.append(run)
    if llm is not None:
        out.append(llm)
    out.extend(events)
    return out


_LEVELS = ((21, "CRITICAL"), (17, "ERROR"), (13, "WARNING"), (9, "INFO"), (1, "DEBUG"))
_LEVEL_NAMES = {"WARN": "WARNING", "FATAL": "CRITICAL", "TRACE": "DEBUG"}


def _level(number: Optional[int], text: Optional[str]) -> str:
    if text:
        upper = text.upper()
        upper = _LEVEL_NAMES.get(upper, upper)
        if upper in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            return upper
    for bound, name in _LEVELS:
        if number is not None and number >= bound:
            return name
    return "INFO"


def log_records(
    time_ns: int,
    trace_id: Optional[str],
    span_id: Optional[str],
    severity_number: Optional[int],
    severity_text: Optional[str],
    body: Any,
    attributes: Dict[str, Any],
    event_name: Optional[str],
    resource: Dict[str, Any],
) -> Record:
    """One OTLP log record as a log, or as an evaluation when it is a
    ``gen_ai.evaluation.result`` event."""
    attrs = dict(attributes)
    event = event_name or _str(attrs.get("event.name"))
    if event == "gen_ai.evaluation.result":
        attrs.pop("event.name", None)
        return _evaluation(attrs, time_ns, span_id, trace_id, None)
    session_id = _session(attrs)
    if event:
        attrs["event.name"] = event
    service = resource.get("service.name")
    if service is not None:
        attrs.setdefault("service.name", service)
    if isinstance(body, str):
        message = body
    elif body is None:
        message = event or ""
    else:
        message = json.dumps(body, ensure_ascii=False, default=repr)
        attrs.setdefault("body", body)
    return Log(
        _level(severity_number, severity_text),
        message,
        attrs,
        time_ns,
        span_id,
        trace_id,
        session_id,
    )


def metric_record(values: Dict[str, float], time_ns: int) -> MetricSnapshot:
    """One request's metric points as a snapshot (no run or session: metrics are aggregates)."""
    return MetricSnapshot(values, time_ns, None, None, None)


def point_name(name: str, attributes: Dict[str, Any]) -> str:
    """``name`` or ``name{key=value,...}``: a point's attributes keep points apart."""
    if not attributes:
        return name
    inner = ",".join(f"{k}={attributes[k]}" for k in sorted(attributes))
    return f"{name}{{{inner}}}"


class _Seen:
    """Keys seen lately (bounded): what must be written once though it arrives twice."""

    def __init__(self, size: int = 10_000) -> None:
        self._seen: OrderedDict[Any, None] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def new(self, session_id: Any) -> bool:
        with self._lock:
            if session_id in self._seen:
                self._seen.move_to_end(session_id)
                return False
            self._seen[session_id] = None
            if len(self._seen) > self._size:
                self._seen.popitem(last=False)
            return True


#: Sessions already given their record.
_sessions = _Seen()
#: Evaluations already written: an exporter may send one both as a span event and as a
#: log-based event (Auditora's OTel sink does), in separate requests.
_evaluations = _Seen()


def emit(records: Iterable[Record]) -> int:
    """Send ``records`` to the recorder (and a session record for each new session); the count.

    With the default overflow policy a full queue makes this wait: backpressure
    reaches the sender instead of an unbounded buffer.
    """
    if not _emit.targets:
        return 0
    count = 0
    send = _emit.emit
    for record in records:
        session_id = getattr(record, "session_id", None)
        if session_id and record.__class__ is Run and _sessions.new(session_id):
            send(SessionRecord(session_id, None, [], {}, record.start_ns))
        if record.__class__ is Evaluation:
            key = (record.trace_id, record.run_id, record.metric_name, record.time_ns)
            if not _evaluations.new(key):
                continue
        send(record)
        count += 1
    return count
