"""The OpenAI SDK's with_raw_response and with_streaming_response paths are captured with usage.

LangChain's ChatOpenAI calls ``with_raw_response.create`` and openai-agents
streams through ``with_streaming_response.create``: these tests pin the SDK
paths themselves, sync and async, chat completions and the Responses API.
"""

from __future__ import annotations

import asyncio
import gc
import time
from typing import Any, Iterator

import pytest

import auditora

openai = pytest.importorskip("openai")

from auditora import bifrost_async, bifrost_sync  # noqa: E402
from auditora.integrations import openai as auditora_openai  # noqa: E402
from auditora.llm import reset_prices  # noqa: E402
from auditora.testing import capture  # noqa: E402
from fake_llm_server import OPENAI_USAGE, FakeLLMServer  # noqa: E402

MESSAGES = [{"role": "user", "content": "Say hello"}]
USAGE = (OPENAI_USAGE["input"], OPENAI_USAGE["output"], OPENAI_USAGE["cached"])
INCLUDE_USAGE = {"include_usage": True}


@pytest.fixture(scope="module")
def server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as srv:
        yield srv


@pytest.fixture(autouse=True)
def _instrumented() -> Iterator[None]:
    reset_prices()
    auditora.configure(console=False)
    auditora_openai.instrument()
    yield
    auditora_openai.uninstrument()


@pytest.fixture()
def client(server: FakeLLMServer) -> Iterator[Any]:
    c = openai.OpenAI(base_url=server.openai_base_url, api_key="sk-test", max_retries=0)
    yield c
    c.close()


def _summary(rec: Any) -> tuple:
    return (rec.operation, rec.input_tokens, rec.output_tokens, rec.cached_tokens)


def test_with_raw_response_create_records_usage_finish_reason_and_cost(client: Any) -> None:
    """A raw chat completion (what ChatOpenAI.invoke calls) gives tokens, finish reason, cost."""
    with capture() as records, bifrost_sync() as run:
        raw = client.chat.completions.with_raw_response.create(model="gpt-4o", messages=MESSAGES)
        assert raw.headers["x-request-id"] == "req_fake"  # still the SDK's raw object
        completion = raw.parse()
    (rec,) = records.llm_calls
    assert _summary(rec) == ("chat", *USAGE)
    assert (rec.finish_reason, rec.response_id, rec.run_id) == ("stop", completion.id, run.run_id)
    assert rec.cost == pytest.approx((16 * 2.5 + 5 * 1.25 + 7 * 10) / 1e6)


def test_raw_response_is_recorded_even_when_never_parsed(client: Any) -> None:
    """The SDK already read the body: usage is read from it, parse() or not."""
    with capture() as records, bifrost_sync():
        raw = client.responses.with_raw_response.create(model="gpt-4.1", input="hi")
        del raw
    assert [_summary(r) for r in records.llm_calls] == [("responses", *USAGE)]
    assert records.llm_calls[0].finish_reason == "completed"


def test_raw_streamed_chat_records_usage_when_its_stream_is_read(client: Any) -> None:
    """with_raw_response.create(stream=True).parse() is watched like a plain stream."""
    with capture() as records, bifrost_sync():
        raw = client.chat.completions.with_raw_response.create(
            model="gpt-4o", messages=MESSAGES, stream=True, stream_options=INCLUDE_USAGE
        )
        assert records.llm_calls == []  # nothing yet: the stream is not read
        text = "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)
    assert text == "Hello from the"
    (rec,) = records.llm_calls
    assert _summary(rec) == ("chat", *USAGE)
    assert rec.time_to_first_token is not None and rec.finish_reason == "stop"


def test_with_streaming_response_stream_records_usage_and_full_latency(client: Any) -> None:
    """The openai-agents path: latency covers the whole stream, not just the headers."""
    delay = 0.05
    with capture() as records, bifrost_sync():
        t0 = time.perf_counter()
        with client.responses.with_streaming_response.create(
            model="gpt-4.1",
            input="hi",
            stream=True,
            extra_headers={"x-fake-delay": str(delay)},
        ) as raw:
            events = [e.type for e in raw.parse()]
        elapsed = time.perf_counter() - t0
    assert events[-1] == "response.completed"
    (rec,) = records.llm_calls
    assert _summary(rec) == ("responses", *USAGE)
    # 11 events, each after the delay: a record taken at the headers would be ~0.
    assert len(events) * delay <= rec.response_time <= elapsed
    assert 0 < rec.time_to_first_token < rec.response_time


def test_with_streaming_response_json_body_is_recorded_when_read(client: Any) -> None:
    """Without stream=True the body is read by parse()/read()/json(): recorded then."""
    with capture() as records, bifrost_sync():
        with client.chat.completions.with_streaming_response.create(
            model="gpt-4o", messages=MESSAGES
        ) as raw:
            assert records.llm_calls == []
            assert raw.parse().usage.prompt_tokens == OPENAI_USAGE["input"]
        with client.responses.with_streaming_response.create(model="gpt-4.1", input="x") as raw:
            assert raw.json()["status"] == "completed"
    assert [_summary(r) for r in records.llm_calls] == [("chat", *USAGE), ("responses", *USAGE)]


def test_streaming_response_closed_unread_is_recorded_once_as_abandoned(client: Any) -> None:
    """Closed without reading the body: one record, no usage, marked abandoned."""
    with capture() as records, bifrost_sync():
        with client.chat.completions.with_streaming_response.create(
            model="gpt-4o", messages=MESSAGES, stream=True
        ):
            pass
        raw = client.chat.completions.with_raw_response.create(
            model="gpt-4o", messages=MESSAGES, stream=True
        )
        del raw
        gc.collect()
    assert [(r.input_tokens, r.extra.get("stream_abandoned")) for r in records.llm_calls] == [
        (None, True),
        (None, True),
    ]


def test_raw_stream_parsed_then_dropped_raw_keeps_recording_the_stream(client: Any) -> None:
    """Dropping the raw object after parse() does not end the record: its stream owns it."""
    with capture() as records, bifrost_sync():
        stream = client.chat.completions.with_raw_response.create(
            model="gpt-4o", messages=MESSAGES, stream=True, stream_options=INCLUDE_USAGE
        ).parse()
        gc.collect()
        assert records.llm_calls == []
        list(stream)
    assert [(_summary(r), r.extra.get("stream_abandoned")) for r in records.llm_calls] == [
        (("chat", *USAGE), None)
    ]


def test_raw_error_is_recorded_with_its_type(client: Any) -> None:
    """A 429 through with_raw_response raises the SDK's error and records error_type."""
    with capture() as records, bifrost_sync(), pytest.raises(openai.RateLimitError):
        client.chat.completions.with_raw_response.create(
            model="gpt-4o", messages=MESSAGES, extra_headers={"x-fake-status": "429"}
        )
    (rec,) = records.llm_calls
    assert (rec.success, rec.error_type, rec.extra["status_code"]) == (False, "RateLimitError", 429)


def test_async_raw_and_streaming_responses(server: FakeLLMServer) -> None:
    """AsyncOpenAI: raw, raw streamed and with_streaming_response calls each give one record."""

    async def main() -> Any:
        client = openai.AsyncOpenAI(base_url=server.openai_base_url, api_key="k", max_retries=0)
        async with bifrost_async() as run:
            raw = await client.chat.completions.with_raw_response.create(
                model="gpt-4o", messages=MESSAGES
            )
            raw.parse()
            raw = await client.chat.completions.with_raw_response.create(
                model="gpt-4o", messages=MESSAGES, stream=True, stream_options=INCLUDE_USAGE
            )
            async for _ in raw.parse():  # the legacy raw response parses synchronously
                pass
            async with client.responses.with_streaming_response.create(
                model="gpt-4.1", input="hi", stream=True
            ) as streamed:
                async for _ in await streamed.parse():
                    pass
            async with client.responses.with_streaming_response.create(
                model="gpt-4.1", input="hi"
            ) as plain:
                await plain.parse()
        await client.close()
        return run

    with capture() as records:
        run = asyncio.run(main())
    assert [_summary(r) for r in records.llm_calls] == [
        ("chat", *USAGE),
        ("chat", *USAGE),
        ("responses", *USAGE),
        ("responses", *USAGE),
    ]
    assert {r.run_id for r in records.llm_calls} == {run.run_id}
    assert [r.time_to_first_token is not None for r in records.llm_calls] == [
        False,
        True,
        True,
        False,
    ]
