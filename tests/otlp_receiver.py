"""An OTLP/HTTP (protobuf) receiver on 127.0.0.1 for tests: what the real exporter sent, decoded.

``Receiver`` keeps the raw body of every accepted request and decodes it on demand with
opentelemetry-proto's request messages; ``status[path]`` is the HTTP status it answers for a
signal (200 by default; Arize Phoenix answers 405 and MLflow 404 on /v1/logs and /v1/metrics).
``attrs`` turns a protobuf attribute list into a dict of plain values.
"""

from __future__ import annotations

import gzip
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, Iterator, List, Tuple

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

MESSAGES: Dict[str, Tuple[Any, Any]] = {
    "/v1/traces": (ExportTraceServiceRequest, ExportTraceServiceResponse),
    "/v1/logs": (ExportLogsServiceRequest, ExportLogsServiceResponse),
    "/v1/metrics": (ExportMetricsServiceRequest, ExportMetricsServiceResponse),
}


class Receiver:
    """An OTLP/HTTP receiver on 127.0.0.1 keeping the raw body of every accepted request."""

    def __init__(self) -> None:
        self.bodies: Dict[str, List[bytes]] = {path: [] for path in MESSAGES}
        self.refused: Dict[str, int] = {path: 0 for path in MESSAGES}
        self.status: Dict[str, int] = {path: 200 for path in MESSAGES}
        self.headers: List[Dict[str, str]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive: one connection per exporter

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                status = receiver.status.get(self.path, 404)
                payload = b""
                with receiver.lock:
                    if status == 200:
                        receiver.bodies[self.path].append(body)
                        receiver.headers.append(dict(self.headers))
                        payload = MESSAGES[self.path][1]().SerializeToString()
                    else:
                        receiver.refused[self.path] = receiver.refused.get(self.path, 0) + 1
                self.send_response(status)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def start(self) -> Receiver:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)

    def decoded(self, path: str) -> List[Any]:
        """The requests accepted on ``path``, decoded."""
        with self.lock:
            bodies = list(self.bodies[path])
        messages = []
        for body in bodies:
            message = MESSAGES[path][0]()
            message.ParseFromString(body)
            messages.append(message)
        return messages

    def spans(self) -> List[Any]:
        return [
            span
            for request in self.decoded("/v1/traces")
            for resource_spans in request.resource_spans
            for scope_spans in resource_spans.scope_spans
            for span in scope_spans.spans
        ]

    def span_ids(self) -> List[bytes]:
        return [span.span_id for span in self.spans()]

    def logs(self) -> List[Any]:
        return [
            log
            for request in self.decoded("/v1/logs")
            for resource_logs in request.resource_logs
            for scope_logs in resource_logs.scope_logs
            for log in scope_logs.log_records
        ]

    def metrics(self) -> Dict[str, Any]:
        """The last data of each metric name received."""
        return {
            metric.name: metric
            for request in self.decoded("/v1/metrics")
            for resource_metrics in request.resource_metrics
            for scope_metrics in resource_metrics.scope_metrics
            for metric in scope_metrics.metrics
        }

    def raw(self) -> bytes:
        with self.lock:
            return b"".join(body for bodies in self.bodies.values() for body in bodies)


def running() -> Iterator[Receiver]:
    """A started receiver, stopped afterwards (for a fixture to ``yield from``)."""
    receiver = Receiver().start()
    try:
        yield receiver
    finally:
        receiver.stop()


def attrs(item: Any) -> Dict[str, Any]:
    """Decode a protobuf attribute list (of a span, event, log or data point) into plain values."""
    out: Dict[str, Any] = {}
    for kv in item.attributes:
        field = kv.value.WhichOneof("value")
        value = getattr(kv.value, field)
        if field == "array_value":
            value = [getattr(v, v.WhichOneof("value")) for v in value.values]
        out[kv.key] = value
    return out
