"""AuditoraSpanProcessor: the spans of any OpenTelemetry instrumentation in the process go
to Auditora's recorder, mapped as ``auditora collect`` maps them, with no collector."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("opentelemetry.sdk")
pytest.importorskip("opentelemetry.instrumentation.openai_v2")
openai = pytest.importorskip("openai")

from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor  # noqa: E402
from opentelemetry.sdk.resources import Resource  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402

import auditora  # noqa: E402
from auditora import _recorder  # noqa: E402
from auditora.integrations.otel import AuditoraSpanProcessor  # noqa: E402
from auditora.store import open_store  # noqa: E402
from fake_llm_server import OPENAI_USAGE, FakeLLMServer  # noqa: E402


def test_instrumented_openai_calls_reach_the_store(tmp_path: Path) -> None:
    """The official OpenAI instrumentation's chat span, under an app span with a session,
    becomes an llm run under the app's run and a priced LLM call in that session."""
    store = tmp_path / "s.db"
    auditora.configure(store=str(store), console=False)
    provider = TracerProvider(resource=Resource.create({"service.name": "bot"}))
    provider.add_span_processor(AuditoraSpanProcessor())
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        with FakeLLMServer() as fake:
            client = openai.OpenAI(base_url=fake.openai_base_url, api_key="sk-test", max_retries=0)
            tracer = provider.get_tracer("app")
            with tracer.start_as_current_span("turn", attributes={"session.id": "u-1"}) as turn:
                client.chat.completions.create(
                    model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
                )
    finally:
        instrumentor.uninstrument()
    assert provider.force_flush()
    _recorder.flush(10)
    with open_store(store) as s:
        runs = {r["name"]: r for r in s.runs(limit=None)}
        (call,) = s.llm_calls(limit=None)
    turn_id = format(turn.get_span_context().span_id, "016x")
    chat = runs["chat gpt-4o-mini"]
    assert (runs["turn"]["run_id"], chat["parent_id"], chat["run_type"]) == (
        turn_id,
        turn_id,
        "llm",
    )
    assert (call["run_id"], call["input_tokens"], call["output_tokens"]) == (
        chat["run_id"],
        OPENAI_USAGE["input"],
        OPENAI_USAGE["output"],
    )
    assert call["cost"] is not None and call["cost"] > 0
    assert runs["turn"]["session_id"] == "u-1"


def test_a_span_the_mapping_cannot_read_does_not_break_the_app(tmp_path: Path) -> None:
    """Odd attribute values (tuples, huge strings, NaN) are mapped without raising, and kept."""
    auditora.configure(store=str(tmp_path / "s.db"), console=False)
    provider = TracerProvider()
    provider.add_span_processor(AuditoraSpanProcessor())
    with provider.get_tracer("t").start_as_current_span(
        "odd",
        attributes={
            "gen_ai.usage.input_tokens": float("nan"),
            "gen_ai.request.model": "x" * 10_000,
            "tags": ("a", "b"),
            "<script>": "alert(1)",
        },
    ):
        pass
    _recorder.flush(10)
    with open_store(tmp_path / "s.db") as s:
        (run,) = s.runs(limit=None)
        (call,) = s.llm_calls(limit=None)
    assert run["attributes"]["tags"] == ["a", "b"] and run["attributes"]["<script>"] == "alert(1)"
    assert (call["input_tokens"], call["cost"]) == (None, None)
