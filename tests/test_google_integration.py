"""Google GenAI SDK capture: the real google-genai client against a fake Gemini API on
127.0.0.1, generate_content and its stream, sync and async."""

from __future__ import annotations

import asyncio
from typing import Iterator, List

import pytest

genai = pytest.importorskip("google.genai")

import auditora  # noqa: E402
from auditora import bifrost_sync, testing  # noqa: E402
from auditora.integrations import google as auditora_google  # noqa: E402
from auditora.llm import compute_cost  # noqa: E402
from auditora.records import LLMCall  # noqa: E402
from fake_gemini_server import GEMINI_USAGE, FakeGeminiServer  # noqa: E402

MODEL = "gemini-2.5-flash"


@pytest.fixture()
def client() -> Iterator[genai.Client]:
    with FakeGeminiServer() as fake:
        auditora_google.instrument()
        try:
            yield genai.Client(api_key="test-key", http_options={"base_url": fake.url})
        finally:
            auditora_google.uninstrument()


def _calls(records: List[object]) -> List[LLMCall]:
    return [r for r in records if isinstance(r, LLMCall)]


def _assert_usage(call: LLMCall) -> None:
    u = GEMINI_USAGE
    output = u["candidates"] + u["thoughts"]  # Gemini bills thoughts as output
    assert (
        call.provider,
        call.operation,
        call.model,
        call.request_model,
        call.input_tokens,
        call.output_tokens,
        call.cached_tokens,
        call.reasoning_tokens,
        call.finish_reason,
        call.success,
    ) == (
        "gcp.gemini",
        "generate_content",
        MODEL,
        MODEL,
        u["prompt"],
        output,
        u["cached"],
        u["thoughts"],
        "STOP",
        True,
    )
    assert call.response_id and call.response_id.startswith("gem-")
    assert call.cost == pytest.approx(compute_cost(MODEL, u["prompt"], output, u["cached"]))


def test_generate_content_is_recorded_with_usage_cost_and_config(client: genai.Client) -> None:
    """A sync generate_content call in a block is one LLM call with Gemini's usage, the
    table's cost, the config's parameters and, with capture_content, prompt and answer."""
    auditora.configure(capture_content=True)
    with testing.capture() as records, bifrost_sync(session_id="g"):
        response = client.models.generate_content(
            model=MODEL,
            contents="hi",
            config={"temperature": 0.2, "max_output_tokens": 64, "system_instruction": "be brief"},
        )
    (call,) = _calls(records)
    _assert_usage(call)
    assert call.request == {"model": MODEL, "temperature": 0.2, "max_output_tokens": 64}
    assert (call.input, call.output, call.system_instructions) == ("hi", response.text, "be brief")
    assert call.time_to_first_token is None


def test_generate_content_stream_is_recorded_once_when_it_ends(client: genai.Client) -> None:
    """A sync stream is recorded once, after its last chunk, with the usage of that chunk,
    the whole text and a time to the first chunk."""
    auditora.configure(capture_content=True)
    with testing.capture() as records, bifrost_sync(session_id="g"):
        stream = client.models.generate_content_stream(model=MODEL, contents="hi")
        chunks = [next(stream)]
        assert _calls(records) == []  # not before the stream ends
        chunks.extend(stream)
    (call,) = _calls(records)
    _assert_usage(call)
    assert call.output == "".join(c.text for c in chunks) == "Hello from Gemini"
    assert call.time_to_first_token is not None and call.time_to_first_token <= call.response_time


def test_async_generate_content_and_stream(client: genai.Client) -> None:
    """client.aio.models.generate_content and generate_content_stream are recorded too."""

    async def main() -> None:
        with bifrost_sync(session_id="g"):
            await client.aio.models.generate_content(model=MODEL, contents="hi")
            stream = await client.aio.models.generate_content_stream(model=MODEL, contents="hi")
            async for _ in stream:
                pass

    with testing.capture() as records:
        asyncio.run(main())
    first, second = _calls(records)
    _assert_usage(first)
    _assert_usage(second)
    assert (first.time_to_first_token is None, second.time_to_first_token is not None) == (
        True,
        True,
    )


def test_an_api_error_is_a_failed_call_with_its_status(client: genai.Client) -> None:
    """A 429 from the API is a failed LLM call with the error and status code; the SDK's
    exception reaches the caller unchanged."""
    from google.genai import errors

    refused = pytest.raises(errors.ClientError)
    with testing.capture() as records, bifrost_sync(session_id="g"), refused:
        client.models.generate_content(
            model=MODEL,
            contents="hi",
            config={"http_options": {"headers": {"x-fake-status": "429"}}},
        )
    (call,) = _calls(records)
    assert (call.success, call.error_type, call.extra.get("status_code")) == (
        False,
        "ClientError",
        429,
    )
    assert "fake error" in (call.error or "")


def test_uninstrument_restores_the_sdk() -> None:
    """After uninstrument() no call is recorded and the SDK's methods are its own again."""
    from google.genai import models

    original = models.Models.generate_content
    auditora_google.instrument()
    auditora_google.instrument()  # idempotent
    assert models.Models.generate_content is not original and auditora_google.is_instrumented()
    auditora_google.uninstrument()
    assert models.Models.generate_content is original and not auditora_google.is_instrumented()


def test_a_stream_closed_early_is_recorded_once_as_abandoned(client: genai.Client) -> None:
    """Closing a stream after its first chunk records the call once, marked abandoned."""
    with testing.capture() as records, bifrost_sync(session_id="g"):
        stream = client.models.generate_content_stream(model=MODEL, contents="hi")
        next(stream)
        stream.close()
        stream.close()
    (call,) = _calls(records)
    assert (call.extra.get("stream_abandoned"), call.success) == (True, True)
