"""``auditora collect``: OpenTelemetry spans, logs and metrics from any instrumentation
into Auditora's records (``docs/collect.md``).

* :mod:`._server`: the OTLP/HTTP receiver (``make_server``);
* :mod:`._otlp`: decoding OTLP/JSON and OTLP/protobuf export requests;
* :mod:`._mapping`: spans, logs and metrics to runs, LLM calls, evaluations,
  sessions, logs and metric snapshots (shared with the in-process
  :class:`auditora.integrations.otel.AuditoraSpanProcessor`);
* :mod:`._semconv`: the convention tables the exporter shares.

Standard library only; protobuf bodies need ``pip install 'auditora[otlp]'``.
"""

from __future__ import annotations

from ._mapping import Span, span_records
from ._server import MAX_BODY, CollectorServer, make_server

__all__ = ["MAX_BODY", "CollectorServer", "Span", "make_server", "span_records"]
