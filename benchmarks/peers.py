"""The peers' equivalents of each operation, configured never to touch the network.

Each ``setup_*`` function imports one peer lazily and returns its cases, or
raises ``ImportError`` when the peer is not installed (``auditora[bench]``).

- OpenTelemetry SDK: private ``TracerProvider``s (never the global one), one
  with no span processor and one with a ``BatchSpanProcessor`` feeding an
  exporter that discards; metrics through a ``MeterProvider`` with an in-memory
  reader (nothing exported).
- Logfire: ``send_to_logfire=False`` and ``console=False``: spans are created
  and processed locally, never sent.
- Langfuse: its own ``TracerProvider`` and a discarding ``span_exporter`` (the
  client then builds no OTLP exporter); ``base_url`` points at a closed port on
  127.0.0.1 as a second guard, and nothing calls the API.
- structlog: JSON renderer, one bound contextvars key, written to ``os.devnull``.
- stdlib ``logging``: a formatter and a stream handler on ``os.devnull``.
"""

from __future__ import annotations

import logging
import os
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _dist_version
from itertools import repeat
from typing import Any, Callable, Dict, List, Tuple

from harness import Case, Runner, timed
from ours import async_call_loop, call_loop

#: Peer name -> the distribution whose version is reported.
DISTRIBUTIONS = {
    "opentelemetry": "opentelemetry-sdk",
    "logfire": "logfire",
    "langfuse": "langfuse",
    "structlog": "structlog",
    "prometheus_client": "prometheus_client",
}

_devnull = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the process


def dist_version(dist: str) -> str:
    try:
        return _dist_version(dist)
    except PackageNotFoundError:
        return "missing"


def _discarding_exporter() -> Any:
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

    class Discard(SpanExporter):
        """Accepts every batch and drops it: the pipeline runs, nothing leaves."""

        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

        def shutdown(self) -> None:
            return None

        def force_flush(self, timeout_millis: int = 30_000) -> bool:
            return True

    return Discard()


def otel_tracers() -> Tuple[Any, Any]:
    """(tracer with no processor, tracer with a batch processor and a discarding exporter)."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    bare_provider = TracerProvider()
    batch_provider = TracerProvider()
    batch_provider.add_span_processor(BatchSpanProcessor(_discarding_exporter()))
    return bare_provider.get_tracer("bench"), batch_provider.get_tracer("bench")


def setup_opentelemetry() -> List[Case]:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    plain, batch = otel_tracers()
    out: List[Case] = []
    for label, tracer in (("no processor", plain), ("batch + discard", batch)):

        @tracer.start_as_current_span("watched")
        def watched() -> None:
            return None

        @tracer.start_as_current_span("watched")
        async def watched_async() -> None:
            return None

        out.append(Case("call.sync", f"opentelemetry ({label})", call_loop(watched)))
        out.append(Case("call.async", f"opentelemetry ({label})", async_call_loop(watched_async)))

    counter = MeterProvider(metric_readers=[InMemoryMetricReader()]).get_meter("bench")
    requests = counter.create_counter("requests")

    def adds(n: int) -> None:
        for _ in repeat(None, n):
            requests.add(1)

    def add_events(n: int) -> None:
        span = plain.start_span("events")
        for _ in repeat(None, n):
            span.add_event("cache_miss", {"key": "k1"})
        span.end()

    out.append(Case("metric.increment", "opentelemetry Counter.add", timed(adds)))
    out.append(Case("event", "opentelemetry span.add_event", _span_runner(add_events)))
    return out


def _span_runner(loop: Callable[[int], None]) -> Runner:
    # The span's start and end are inside the timed region but amortised over n.
    return timed(loop)


def setup_logfire() -> List[Case]:
    import logfire

    logfire.configure(
        send_to_logfire=False,
        console=False,
        metrics=False,
        inspect_arguments=False,
        service_name="auditora-bench",
    )

    @logfire.instrument("watched")
    def watched() -> None:
        return None

    @logfire.instrument("watched")
    async def watched_async() -> None:
        return None

    return [
        Case("call.sync", "logfire @instrument", call_loop(watched)),
        Case("call.async", "logfire @instrument", async_call_loop(watched_async)),
    ]


def setup_langfuse() -> List[Case]:
    from langfuse import Langfuse, observe
    from opentelemetry.sdk.trace import TracerProvider

    os.environ.setdefault("LANGFUSE_MEDIA_UPLOAD_ENABLED", "false")
    Langfuse(
        public_key="pk-lf-bench",
        secret_key="sk-lf-bench",
        base_url="http://127.0.0.1:9",  # a closed local port: nothing can leave
        span_exporter=_discarding_exporter(),
        tracer_provider=TracerProvider(),
    )

    @observe(name="watched")
    def watched() -> None:
        return None

    @observe(name="watched")
    async def watched_async() -> None:
        return None

    return [
        Case("call.sync", "langfuse @observe", call_loop(watched)),
        Case("call.async", "langfuse @observe", async_call_loop(watched_async)),
    ]


def setup_structlog() -> List[Case]:
    import structlog

    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso"),
            structlog.processors.JSONRenderer(),
        ],
        logger_factory=structlog.WriteLoggerFactory(file=_devnull),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(request_id="r1")
    log = structlog.get_logger()

    def infos(n: int) -> None:
        for _ in repeat(None, n):
            log.info("request handled", user="u1")

    return [Case("log", "structlog (JSON, contextvars)", timed(infos))]


def setup_prometheus_client() -> List[Case]:
    from prometheus_client import CollectorRegistry, Counter

    requests = Counter("requests", "Requests handled.", registry=CollectorRegistry())

    def incs(n: int) -> None:
        for _ in repeat(None, n):
            requests.inc()

    return [Case("metric.increment", "prometheus_client Counter.inc", timed(incs))]


def setup_logging() -> List[Case]:
    """The standard library: always available."""
    logger = logging.getLogger("auditora.bench.stdlib")
    logger.propagate = False
    handler = logging.StreamHandler(_devnull)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)

    def infos(n: int) -> None:
        for _ in repeat(None, n):
            logger.info("request handled", extra={"user": "u1"})

    return [Case("log", "stdlib logging", timed(infos))]


SETUPS: Dict[str, Callable[[], List[Case]]] = {
    "opentelemetry": setup_opentelemetry,
    "logfire": setup_logfire,
    "langfuse": setup_langfuse,
    "structlog": setup_structlog,
    "prometheus_client": setup_prometheus_client,
}


def load(only: Any = None) -> Tuple[List[Case], Dict[str, str]]:
    """Every available peer's cases, and each peer's version or why it is missing."""
    cases: List[Case] = setup_logging()
    status: Dict[str, str] = {}
    for name, setup in SETUPS.items():
        if only is not None and name not in only:
            continue
        try:
            cases += setup()
        except ImportError as exc:
            status[name] = f"missing ({exc}); pip install 'auditora[bench]'"
            continue
        except Exception as exc:  # an incompatible version must not stop the run
            status[name] = f"unavailable ({type(exc).__name__}: {exc})"
            continue
        status[name] = dist_version(DISTRIBUTIONS[name])
    return cases, status
