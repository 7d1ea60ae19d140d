"""The other direction: Auditora runs join an active OpenTelemetry span, and vice versa."""

from __future__ import annotations

import subprocess
import sys
from typing import Iterator

import pytest

pytest.importorskip("opentelemetry.sdk")

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)

from auditora import bifrost_sync, sentinel
from auditora.core import _runs
from auditora.integrations.otel import (
    OTelSink,
    instrument,
    otel_context,
    uninstrument,
)
from auditora.propagation import TraceContext, remote_parent
from auditora.testing import capture


@pytest.fixture(autouse=True)
def _restore_hook() -> Iterator[None]:
    saved = _runs.remote_parent_hook
    yield
    uninstrument()
    _runs.remote_parent_hook = saved


@pytest.fixture
def tracer() -> Iterator[object]:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))
    yield provider.get_tracer("app")
    provider.shutdown()


@sentinel()
def step() -> None:
    """A sentinel that is a root run when no Auditora run encloses it."""


def test_root_run_becomes_a_child_of_the_active_otel_span(tracer: object) -> None:
    """With instrument(), a root run takes the OTel span's trace id and parent."""
    instrument()
    with capture() as records, tracer.start_as_current_span("request") as span:  # type: ignore[attr-defined]
        step()
    ctx = span.get_span_context()
    (run,) = records.runs
    expected = (format(ctx.trace_id, "032x"), format(ctx.span_id, "016x"))
    assert (run.trace_id, run.parent_id) == expected


def test_without_instrument_runs_start_their_own_trace(tracer: object) -> None:
    """The OTel span is ignored unless instrument() (or an OTelSink) asked for it."""
    with capture() as records, tracer.start_as_current_span("request"):  # type: ignore[attr-defined]
        step()
    assert records.runs[0].parent_id is None


def test_an_explicit_remote_parent_wins_over_the_otel_span(tracer: object) -> None:
    """remote_parent() takes precedence over the active OpenTelemetry span."""
    instrument()
    remote = TraceContext("a" * 32, "b" * 16)
    with (
        capture() as records,
        tracer.start_as_current_span("request"),  # type: ignore[attr-defined]
        remote_parent(remote),
    ):
        step()
    assert (records.runs[0].trace_id, records.runs[0].parent_id) == ("a" * 32, "b" * 16)


def test_the_sink_instruments_unless_told_not_to(tracer: object) -> None:
    """OTelSink(join_otel_context=True) installs the join; close() removes it."""
    sink = OTelSink(span_exporter=InMemorySpanExporter(), logs=False, metrics=False)
    with capture() as records, tracer.start_as_current_span("request"):  # type: ignore[attr-defined]
        step()
    sink.close()
    with capture() as after, tracer.start_as_current_span("request"):  # type: ignore[attr-defined]
        step()
    assert (records.runs[0].parent_id is not None, after.runs[0].parent_id) == (True, None)


def test_otel_context_makes_otel_spans_children_of_the_run(tracer: object) -> None:
    """Spans started with context=otel_context() are children of the active run."""
    with bifrost_sync(name="block") as run:
        child = tracer.start_span("db.query", context=otel_context())  # type: ignore[attr-defined]
        child.end()
    ctx, parent = child.get_span_context(), child.parent
    assert (format(ctx.trace_id, "032x"), format(parent.span_id, "016x")) == (
        run.trace_id,
        run.run_id,
    )


def test_missing_opentelemetry_raises_an_import_error_naming_the_extra() -> None:
    """Without the SDK the integration says how to install it."""
    code = (
        "import sys\n"
        "sys.modules['opentelemetry'] = None\n"
        "try:\n"
        "    import auditora.integrations.otel\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert "pip install 'auditora[otel]'" in out.stdout
