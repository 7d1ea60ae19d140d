"""OTelSink: an LLM call's span and metrics under the current GenAI semantic conventions, plus
the names Arize Phoenix (OpenInference) and Langfuse read, decoded from what the real
OTLP/HTTP exporter sent to a receiver on 127.0.0.1."""

from __future__ import annotations

import json
import time
from typing import Any, Dict, Iterator, List

import pytest

pytest.importorskip("opentelemetry.sdk")
pytest.importorskip("opentelemetry.exporter.otlp.proto.http")
pytest.importorskip("opentelemetry.proto")

from auditora.integrations.otel import OTelSink
from auditora.records import LLMCall, Record
from otlp_receiver import Receiver, attrs, running

TRACE = "0123456789abcdef0123456789abcdef"
RUN = "1234567890abcdef"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from running()


def llm_call(**fields: Any) -> LLMCall:
    """An LLM call record of run RUN, ended now; ``fields`` are LLMCall's keywords."""
    base: Dict[str, Any] = {
        "model": "claude-sonnet-4-5",
        "input_tokens": 1000,
        "output_tokens": 200,
        "response_time": 1.5,
        "success": True,
    }
    base.update(fields)
    positional = [base.pop(n) for n in ("model", "input_tokens", "output_tokens")]
    positional += [base.pop("response_time"), base.pop("success")]
    return LLMCall(*positional, time.time_ns(), RUN, TRACE, "conventions", **base)


def export(receiver: Receiver, records: List[Record], **options: Any) -> None:
    sink = OTelSink(endpoint=receiver.endpoint, join_otel_context=False, **options)
    try:
        sink.export(records)
        assert sink.flush(10.0)
    finally:
        sink.close()


def llm_span(receiver: Receiver, call: LLMCall) -> Any:
    """The decoded span of ``call`` exported alone (traces only)."""
    export(receiver, [call], signals=("traces",))
    (span,) = receiver.spans()
    return span


def test_request_and_response_models_each_have_their_attribute(receiver: Receiver) -> None:
    """gen_ai.request.model is the requested model, gen_ai.response.model the one that
    answered; the span is named after the request; Phoenix's llm.model_name is the response's."""
    call = llm_call(
        model="claude-sonnet-4-5-20250929",
        request_model="claude-sonnet-4-5",
        response_model="claude-sonnet-4-5-20250929",
        provider="anthropic",
    )
    span = llm_span(receiver, call)
    got = attrs(span)
    assert span.name == "chat claude-sonnet-4-5"
    assert (got["gen_ai.request.model"], got["gen_ai.response.model"]) == (
        "claude-sonnet-4-5",
        "claude-sonnet-4-5-20250929",
    )
    assert (got["llm.model_name"], got["llm.provider"]) == (
        "claude-sonnet-4-5-20250929",
        "anthropic",
    )


def test_without_a_request_model_the_model_is_the_request_model(receiver: Receiver) -> None:
    """A record naming only model= (report.log_llm_call's default) sends it as the request
    model and no response model."""
    got = attrs(llm_span(receiver, llm_call(model="gpt-4o")))
    assert got["gen_ai.request.model"] == "gpt-4o"
    assert "gen_ai.response.model" not in got


def test_token_usage_has_the_genai_and_openinference_names(receiver: Receiver) -> None:
    """Cache reads, cache writes (gen_ai.usage.cache_creation.input_tokens) and reasoning
    tokens under their gen_ai.usage names and OpenInference's llm.token_count names."""
    call = llm_call(
        input_tokens=1000,
        output_tokens=200,
        cached_tokens=600,
        cache_write_tokens=300,
        reasoning_tokens=150,
    )
    got = attrs(llm_span(receiver, call))
    assert {k: v for k, v in got.items() if "token" in k} == {
        "gen_ai.usage.input_tokens": 1000,
        "gen_ai.usage.output_tokens": 200,
        "gen_ai.usage.cache_read.input_tokens": 600,
        "gen_ai.usage.cache_creation.input_tokens": 300,
        "gen_ai.usage.reasoning.output_tokens": 150,
        "llm.token_count.prompt": 1000,
        "llm.token_count.completion": 200,
        "llm.token_count.total": 1200,
        "llm.token_count.prompt_details.cache_read": 600,
        "llm.token_count.prompt_details.cache_write": 300,
        "llm.token_count.completion_details.reasoning": 150,
    }
    assert not [k for k in got if k.startswith("auditora.llm.")]


def test_a_failed_call_has_its_exception_class_as_error_type(receiver: Receiver) -> None:
    """error.type is the exception class name (LLMCall.error_type), whatever the message."""
    message = "Error code: 429 - {'error': {'message': 'Rate limit reached for gpt-4o'}}"
    call = llm_call(success=False, error=message, error_type="RateLimitError")
    span = llm_span(receiver, call)
    assert attrs(span)["error.type"] == "RateLimitError"
    assert (span.status.code, span.status.message) == (2, message)


def test_a_failed_call_with_no_error_type_falls_back_to_other(receiver: Receiver) -> None:
    """Without error_type, a class-like error string is kept, anything else is _OTHER."""
    got = attrs(llm_span(receiver, llm_call(success=False, error="the server went away")))
    assert got["error.type"] == "_OTHER"


def test_system_instructions_are_genai_system_instructions_not_a_user_message(
    receiver: Receiver,
) -> None:
    """Anthropic system= blocks (and Responses instructions=) become gen_ai.system_instructions
    parts; the input messages hold only the conversation."""
    call = llm_call(
        system_instructions=[{"type": "text", "text": "You are terse."}, "Answer in French."],
        input=[{"role": "user", "content": "Hi"}],
        output="Salut",
    )
    got = attrs(llm_span(receiver, call))
    assert json.loads(got["gen_ai.system_instructions"]) == [
        {"type": "text", "content": "You are terse."},
        {"type": "text", "content": "Answer in French."},
    ]
    messages = json.loads(got["gen_ai.input.messages"])
    assert messages == [{"role": "user", "parts": [{"type": "text", "content": "Hi"}]}]


def test_a_string_system_prompt_is_one_text_part(receiver: Receiver) -> None:
    """instructions="..." is one text part."""
    got = attrs(llm_span(receiver, llm_call(system_instructions="Be brief.")))
    assert json.loads(got["gen_ai.system_instructions"]) == [
        {"type": "text", "content": "Be brief."}
    ]


def test_captured_content_is_also_openinference_input_and_output_values(
    receiver: Receiver,
) -> None:
    """With content captured, the prompt and completion are also input.value / output.value
    (what Phoenix shows and MLflow reads first)."""
    call = llm_call(input=[{"role": "user", "content": "Hi"}], output="Hello!")
    got = attrs(llm_span(receiver, call))
    assert (got["input.value"], got["input.mime_type"]) == (
        '[{"role": "user", "content": "Hi"}]',
        "application/json",
    )
    assert (got["output.value"], got["output.mime_type"]) == ("Hello!", "text/plain")


def test_cost_is_under_the_names_langfuse_and_phoenix_read(receiver: Receiver) -> None:
    """The recorded cost is gen_ai.usage.cost (Langfuse) and llm.cost.total (Phoenix /
    OpenInference), once each: auditora.llm.cost, which no backend read, is gone from spans."""
    got = attrs(llm_span(receiver, llm_call(cost=0.0123)))
    assert {k: v for k, v in got.items() if "cost" in k} == {
        "gen_ai.usage.cost": 0.0123,
        "llm.cost.total": 0.0123,
    }


def test_an_unknown_cost_is_left_out_rather_than_zero(receiver: Receiver) -> None:
    """cost None (an unpriced model) sends no cost attribute."""
    got = attrs(llm_span(receiver, llm_call(model="my-own-model", cost=None)))
    assert not [k for k in got if "cost" in k]


def test_time_to_first_token_is_the_genai_chunk_time_and_langfuse_completion_start(
    receiver: Receiver,
) -> None:
    """time_to_first_token is gen_ai.response.time_to_first_chunk (seconds) and Langfuse's
    langfuse.observation.completion_start_time (start + ttft, RFC 3339 UTC)."""
    start = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z
    call = llm_call(start_ns=start, time_to_first_token=0.25)
    got = attrs(llm_span(receiver, call))
    assert got["gen_ai.response.time_to_first_chunk"] == 0.25
    assert got["langfuse.observation.completion_start_time"] == "2026-01-01T00:00:00.250000Z"


def test_an_embeddings_call_is_an_openinference_embedding_span(receiver: Receiver) -> None:
    """operation="embeddings" is named "embeddings {model}" and is an EMBEDDING span."""
    call = llm_call(model="text-embedding-3-small", operation="embeddings", output_tokens=None)
    span = llm_span(receiver, call)
    assert span.name == "embeddings text-embedding-3-small"
    assert attrs(span)["openinference.span.kind"] == "EMBEDDING"


def metric_points(receiver: Receiver) -> Dict[str, List[Any]]:
    """Metric name -> its data points (sums and histograms alike)."""
    out: Dict[str, List[Any]] = {}
    for name, metric in receiver.metrics().items():
        data = getattr(metric, metric.WhichOneof("data"))
        out[name] = list(data.data_points)
    return out


def test_opting_in_to_the_latest_conventions_replaces_the_token_histogram_with_counters(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental: gen_ai.client.inference.tokens
    by type, input tokens by cache (uncached/read/write) and output tokens by phase
    (response/reasoning), each split adding up to its total; no gen_ai.client.token.usage."""
    monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "http,gen_ai_latest_experimental")
    call = llm_call(
        input_tokens=1000,
        output_tokens=200,
        cached_tokens=600,
        cache_write_tokens=300,
        reasoning_tokens=150,
        request_model="claude-sonnet-4-5",
        response_model="claude-sonnet-4-5-20250929",
        provider="anthropic",
    )
    export(receiver, [call], signals=("metrics",))
    points = metric_points(receiver)
    assert "gen_ai.client.token.usage" not in points

    def split(name: str, key: str) -> Dict[str, int]:
        return {attrs(p)[key]: p.as_int for p in points[name]}

    assert split("gen_ai.client.inference.tokens", "gen_ai.token.type") == {
        "input": 1000,
        "output": 200,
    }
    assert split("gen_ai.client.inference.input_tokens_by_cache", "gen_ai.token.cache") == {
        "uncached": 100,
        "read": 600,
        "write": 300,
    }
    assert split("gen_ai.client.inference.output_tokens_by_phase", "gen_ai.token.phase") == {
        "response": 50,
        "reasoning": 150,
    }
    (point,) = points["gen_ai.client.operation.duration"]
    assert attrs(point) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "anthropic",
        "gen_ai.request.model": "claude-sonnet-4-5",
        "gen_ai.response.model": "claude-sonnet-4-5-20250929",
    }


def test_without_the_opt_in_the_token_histogram_stays_and_no_counters_are_sent(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No opt-in (or another value): today's gen_ai.client.token.usage histogram only."""
    monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "http")
    export(receiver, [llm_call(cached_tokens=600)], signals=("metrics",))
    points = metric_points(receiver)
    assert sorted(
        (attrs(p)["gen_ai.token.type"], p.sum) for p in points["gen_ai.client.token.usage"]
    ) == [
        ("input", 1000),
        ("output", 200),
    ]
    assert not [name for name in points if name.startswith("gen_ai.client.inference.")]


def test_a_failed_call_metric_carries_its_error_type(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The operation duration of a failed call has error.type, the exception class."""
    monkeypatch.delenv("OTEL_SEMCONV_STABILITY_OPT_IN", raising=False)
    call = llm_call(success=False, error="boom", error_type="APITimeoutError")
    export(receiver, [call], signals=("metrics",))
    (point,) = metric_points(receiver)["gen_ai.client.operation.duration"]
    assert attrs(point)["error.type"] == "APITimeoutError"
