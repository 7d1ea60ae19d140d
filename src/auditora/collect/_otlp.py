"""Decoding OTLP export requests (JSON, and protobuf with ``auditora[otlp]``) into records.

The OTLP/JSON encoding (opentelemetry-proto's ``docs/specification.md``) is the
protobuf's JSON mapping with two exceptions: trace and span ids are hex strings,
not base64, and enums are integers. 64-bit integers may come as strings. A
protobuf body is parsed with ``opentelemetry-proto`` and turned into the same
dict shape by ``MessageToDict`` (which writes ids in base64): both encodings then
share one walker, told which id encoding to read.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from typing import Any, Callable, Dict, List, Optional, Tuple

from ..records import Record
from ._mapping import Span, log_records, metric_record, point_name, span_records

__all__ = [
    "OTLP_HINT",
    "DecodeError",
    "Result",
    "decode_json",
    "decode_protobuf",
    "encode_response",
]

OTLP_HINT = "application/x-protobuf needs the otlp extra: pip install 'auditora[otlp]'"

#: The record-count field of each signal's partial success, by signal.
REJECTED_FIELD = {
    "traces": "rejectedSpans",
    "logs": "rejectedLogRecords",
    "metrics": "rejectedDataPoints",
}


class DecodeError(ValueError):
    """A body that is not an export request of its signal (answered 400)."""


class Result:
    """A decoded request: its records, how many items were rejected and why."""

    __slots__ = ("records", "rejected", "errors")

    def __init__(self) -> None:
        self.records: List[Record] = []
        self.rejected = 0
        self.errors: List[str] = []

    def reject(self, message: str) -> None:
        self.rejected += 1
        if len(self.errors) < 5:
            self.errors.append(message)


def _hex_id(value: Any, size: int) -> Optional[str]:
    """``size`` bytes written as hex digits, in lowercase; None for anything else (``0x``,
    signs, underscores and spaces included) and for the all-zero id, which means none."""
    if not isinstance(value, str) or len(value) != size * 2:
        return None
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        return None
    # fromhex skips spaces between the digits' pairs: fewer bytes then.
    return raw.hex() if len(raw) == size and any(raw) else None


def _b64_id(value: Any, size: int) -> Optional[str]:
    if not isinstance(value, str):
        return None
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(raw) != size or not any(raw):
        return None
    return raw.hex()


IdReader = Callable[[Any, int], Optional[str]]


def _any_value(value: Any) -> Any:
    """An OTLP ``AnyValue`` as a plain Python value."""
    if not isinstance(value, dict):
        return None
    if "stringValue" in value:
        return value["stringValue"]
    if "intValue" in value:
        raw = value["intValue"]
        try:
            return int(raw)
        except (TypeError, ValueError):
            return raw
    if "doubleValue" in value:
        raw = value["doubleValue"]
        if isinstance(raw, str):  # "NaN", "Infinity" in the JSON mapping
            try:
                return float(raw)
            except ValueError:
                return raw
        return raw
    if "boolValue" in value:
        return bool(value["boolValue"])
    if "arrayValue" in value:
        return [_any_value(v) for v in (value["arrayValue"] or {}).get("values") or ()]
    if "kvlistValue" in value:
        return _attributes((value["kvlistValue"] or {}).get("values"))
    if "bytesValue" in value:
        return value["bytesValue"]  # base64 text: kept as sent
    return None


def _attributes(items: Any) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    if items.__class__ is not list:
        return out
    for item in items:
        try:
            key = item["key"]
            value = item["value"]
        except (TypeError, KeyError):
            continue  # not a key-value object, or no value: nothing to keep
        if key.__class__ is not str:
            continue
        # Most values are strings: read them without the general dispatch.
        text = value.get("stringValue") if value.__class__ is dict else None
        out[key] = text if text is not None else _any_value(value)
    return out


def _nanos(value: Any) -> int:
    """A time or count (a 64-bit integer: a string in OTLP/JSON, a number allowed); 0 when
    it is not one."""
    if isinstance(value, str):
        return int(value) if value.isdecimal() else 0  # isdigit() takes "²", int() does not
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return int(value)
    return 0


def _list(container: Any, key: str) -> List[Any]:
    value = container.get(key) if isinstance(container, dict) else None
    if value is None:
        return []
    if not isinstance(value, list):
        raise DecodeError(f"{key} must be a list")
    return value


def _status(span: Dict[str, Any]) -> Tuple[int, Optional[str]]:
    status = span.get("status") or {}
    code = status.get("code", 0) if isinstance(status, dict) else 0
    if isinstance(code, str):  # an enum by name
        code = {"STATUS_CODE_OK": 1, "STATUS_CODE_ERROR": 2}.get(code, 0)
    message = status.get("message") if isinstance(status, dict) else None
    return (code if isinstance(code, int) else 0), (
        message if isinstance(message, str) and message else None
    )


_KIND_NAMES = (
    "SPAN_KIND_UNSPECIFIED",
    "SPAN_KIND_INTERNAL",
    "SPAN_KIND_SERVER",
    "SPAN_KIND_CLIENT",
    "SPAN_KIND_PRODUCER",
    "SPAN_KIND_CONSUMER",
)


def _kind(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return _KIND_NAMES.index(value) if value in _KIND_NAMES else 0


def _traces(body: Dict[str, Any], ids: IdReader, result: Result) -> None:
    for resource_spans in _list(body, "resourceSpans"):
        if not isinstance(resource_spans, dict):
            raise DecodeError("resourceSpans items must be objects")
        resource = _attributes((resource_spans.get("resource") or {}).get("attributes"))
        for scope_spans in _list(resource_spans, "scopeSpans"):
            if not isinstance(scope_spans, dict):
                raise DecodeError("scopeSpans items must be objects")
            scope = (scope_spans.get("scope") or {}).get("name") or None
            for raw in _list(scope_spans, "spans"):
                if not isinstance(raw, dict):
                    raise DecodeError("spans items must be objects")
                trace_id = ids(raw.get("traceId"), 16)
                span_id = ids(raw.get("spanId"), 8)
                if trace_id is None or span_id is None:
                    result.reject(f"span {raw.get('name')!r}: invalid traceId or spanId")
                    continue
                code, message = _status(raw)
                events = [
                    (
                        str(e.get("name") or ""),
                        _nanos(e.get("timeUnixNano")),
                        _attributes(e.get("attributes")),
                    )
                    for e in _list(raw, "events")
                    if isinstance(e, dict)
                ]
                start = _nanos(raw.get("startTimeUnixNano"))
                parent = raw.get("parentSpanId")
                span = Span(
                    trace_id,
                    span_id,
                    ids(parent, 8) if parent else None,
                    str(raw.get("name") or "span"),
                    _kind(raw.get("kind", 0)),
                    start,
                    max(start, _nanos(raw.get("endTimeUnixNano"))),
                    _attributes(raw.get("attributes")),
                    events,
                    code,
                    message,
                    resource,
                    scope if isinstance(scope, str) else None,
                    _parent_is_remote(raw.get("flags")),
                )
                result.records.extend(span_records(span))


#: OTLP span flags (``SpanFlags`` in trace.proto): whether the exporter knew if the
#: parent span is remote, and whether it is.
_HAS_IS_REMOTE, _IS_REMOTE = 0x100, 0x200


def _parent_is_remote(flags: Any) -> Optional[bool]:
    """What a span's ``flags`` say of its parent: remote, local, or None (unsaid)."""
    if isinstance(flags, str) and flags.isdigit():  # a fixed32 in JSON may be a string
        flags = int(flags)
    if isinstance(flags, bool) or not isinstance(flags, int) or not flags & _HAS_IS_REMOTE:
        return None
    return bool(flags & _IS_REMOTE)


def _logs(body: Dict[str, Any], ids: IdReader, result: Result) -> None:
    for resource_logs in _list(body, "resourceLogs"):
        if not isinstance(resource_logs, dict):
            raise DecodeError("resourceLogs items must be objects")
        resource = _attributes((resource_logs.get("resource") or {}).get("attributes"))
        for scope_logs in _list(resource_logs, "scopeLogs"):
            if not isinstance(scope_logs, dict):
                raise DecodeError("scopeLogs items must be objects")
            for raw in _list(scope_logs, "logRecords"):
                if not isinstance(raw, dict):
                    raise DecodeError("logRecords items must be objects")
                trace_id = ids(raw.get("traceId"), 16) if raw.get("traceId") else None
                span_id = ids(raw.get("spanId"), 8) if raw.get("spanId") else None
                number = raw.get("severityNumber")
                if isinstance(number, str):
                    number = None
                time_ns = _nanos(raw.get("timeUnixNano")) or _nanos(raw.get("observedTimeUnixNano"))
                result.records.append(
                    log_records(
                        time_ns,
                        trace_id if span_id else None,
                        span_id if trace_id else None,
                        number,
                        raw.get("severityText") or None,
                        _any_value(raw.get("body")),
                        _attributes(raw.get("attributes")),
                        raw.get("eventName") or None,
                        resource,
                    )
                )


def _number(point: Dict[str, Any]) -> Optional[float]:
    for key in ("asDouble", "asInt"):
        if key in point:
            try:
                return float(point[key])
            except (TypeError, ValueError):
                return None
    return None


def _metrics(body: Dict[str, Any], ids: IdReader, result: Result) -> None:
    values: Dict[str, float] = {}
    newest = 0
    for resource_metrics in _list(body, "resourceMetrics"):
        if not isinstance(resource_metrics, dict):
            raise DecodeError("resourceMetrics items must be objects")
        for scope_metrics in _list(resource_metrics, "scopeMetrics"):
            if not isinstance(scope_metrics, dict):
                raise DecodeError("scopeMetrics items must be objects")
            for metric in _list(scope_metrics, "metrics"):
                if not isinstance(metric, dict) or not isinstance(metric.get("name"), str):
                    result.reject("a metric without a name")
                    continue
                name = metric["name"]
                for data_key in ("gauge", "sum", "histogram", "exponentialHistogram", "summary"):
                    data = metric.get(data_key)
                    if not isinstance(data, dict):
                        continue
                    for point in _list(data, "dataPoints"):
                        if not isinstance(point, dict):
                            result.reject(f"metric {name!r}: a data point that is not an object")
                            continue
                        key = point_name(name, _attributes(point.get("attributes")))
                        newest = max(newest, _nanos(point.get("timeUnixNano")))
                        if data_key in ("gauge", "sum"):
                            value = _number(point)
                            if value is None:
                                result.reject(f"metric {name!r}: a point without a value")
                                continue
                            values[key] = value
                        else:  # distributions: their count and sum
                            count = _nanos(point.get("count"))
                            values[f"{key}.count"] = float(count)
                            if "sum" in point:
                                try:
                                    values[f"{key}.sum"] = float(point["sum"])
                                except (TypeError, ValueError):
                                    pass
    if values:
        result.records.append(metric_record(values, newest))


_WALKERS = {"traces": _traces, "logs": _logs, "metrics": _metrics}


def _walk(signal: str, body: Any, ids: IdReader) -> Result:
    if not isinstance(body, dict):
        raise DecodeError("the body must be a JSON object")
    result = Result()
    try:
        _WALKERS[signal](body, ids, result)
    except DecodeError:
        raise
    except (TypeError, AttributeError, ValueError) as exc:  # a field of the wrong shape
        raise DecodeError(f"malformed {signal} request: {exc}") from exc
    return result


def decode_json(signal: str, data: bytes) -> Result:
    """Decode an OTLP/JSON export request of ``signal`` (traces, logs, metrics)."""
    try:
        body = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise DecodeError(f"invalid JSON: {exc}") from exc
    return _walk(signal, body, _hex_id)


def _proto_classes(signal: str) -> Tuple[Any, Any]:
    """The request and response message classes of ``signal`` (ImportError without the extra)."""
    if signal == "traces":
        from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as module

        return module.ExportTraceServiceRequest, module.ExportTraceServiceResponse
    if signal == "logs":
        from opentelemetry.proto.collector.logs.v1 import logs_service_pb2 as logs

        return logs.ExportLogsServiceRequest, logs.ExportLogsServiceResponse
    from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2 as metrics

    return metrics.ExportMetricsServiceRequest, metrics.ExportMetricsServiceResponse


def protobuf_available() -> bool:
    try:
        _proto_classes("traces")
    except ImportError:
        return False
    return True


def decode_protobuf(signal: str, data: bytes) -> Result:
    """Decode an OTLP/protobuf export request (needs ``opentelemetry-proto``)."""
    from google.protobuf.json_format import MessageToDict
    from google.protobuf.message import DecodeError as ProtoDecodeError

    request_class, _ = _proto_classes(signal)
    try:
        message = request_class.FromString(data)
    except (ProtoDecodeError, ValueError) as exc:
        raise DecodeError(f"invalid protobuf {request_class.__name__}: {exc}") from exc
    body = MessageToDict(message, use_integers_for_enums=True)
    return _walk(signal, body, _b64_id)


def encode_response(signal: str, result: Optional[Result], protobuf: bool) -> bytes:
    """The export response: empty on full success, else with its partial success."""
    partial: Dict[str, Any] = {}
    if result is not None and (result.rejected or result.errors):
        partial = {
            REJECTED_FIELD[signal]: result.rejected,
            "errorMessage": "; ".join(result.errors),
        }
    if protobuf:
        _, response_class = _proto_classes(signal)
        response = response_class()
        if partial:
            field = {"traces": "rejected_spans", "logs": "rejected_log_records"}.get(
                signal, "rejected_data_points"
            )
            setattr(response.partial_success, field, partial[REJECTED_FIELD[signal]])
            response.partial_success.error_message = partial["errorMessage"]
        return bytes(response.SerializeToString())
    body = {"partialSuccess": partial} if partial else {}
    return json.dumps(body).encode()


def status_body(message: str, protobuf: bool) -> Tuple[bytes, str]:
    """An error answer: a ``google.rpc.Status`` (protobuf when available and asked), else JSON."""
    if protobuf:
        try:
            from google.rpc import status_pb2

            return status_pb2.Status(message=message).SerializeToString(), "application/x-protobuf"
        except ImportError:
            pass
    return json.dumps({"message": message}).encode(), "application/json"
