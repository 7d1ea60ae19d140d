"""The real anthropic SDK, instrumented, against a fake Anthropic API on 127.0.0.1."""

from __future__ import annotations

import asyncio
import gc
from typing import Any, Iterator

import pytest

import auditora

anthropic = pytest.importorskip("anthropic")

from auditora import bifrost_async, bifrost_sync  # noqa: E402
from auditora.integrations import anthropic as auditora_anthropic  # noqa: E402
from auditora.llm import reset_prices  # noqa: E402
from auditora.testing import capture  # noqa: E402
from fake_llm_server import ANTHROPIC_USAGE, FakeLLMServer  # noqa: E402

MESSAGES = [{"role": "user", "content": "Say hello"}]
U = ANTHROPIC_USAGE
#: Input tokens normalized to include cache reads and writes.
INPUT = U["input"] + U["cache_read"] + U["cache_write"]


@pytest.fixture(scope="module")
def server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as srv:
        yield srv


@pytest.fixture(autouse=True)
def _instrumented() -> Iterator[None]:
    reset_prices()
    auditora.configure(console=False)
    auditora_anthropic.instrument()
    yield
    auditora_anthropic.uninstrument()


@pytest.fixture()
def client(server: FakeLLMServer) -> Iterator[Any]:
    c = anthropic.Anthropic(base_url=server.anthropic_base_url, api_key="test", max_retries=0)
    yield c
    c.close()


def _create(client: Any, **kwargs: Any) -> Any:
    return client.messages.create(
        model="claude-haiku-4-5", max_tokens=64, messages=MESSAGES, **kwargs
    )


def test_message_becomes_a_record_with_normalized_usage_and_cost(client: Any) -> None:
    """Input tokens include cache reads and writes; each kind is priced at its own rate."""
    with capture() as records, bifrost_sync(session_id="s") as run:
        message = _create(client)
    assert message.content[0].text == "Hello from the"
    (rec,) = records.llm_calls
    assert (
        rec.provider,
        rec.model,
        rec.finish_reason,
        rec.success,
    ) == ("anthropic", "claude-haiku-4-5", "end_turn", True)
    assert (INPUT, U["output"], U["cache_read"], U["cache_write"]) == (
        rec.input_tokens,
        rec.output_tokens,
        rec.cached_tokens,
        rec.cache_write_tokens,
    )
    expected = U["input"] * 1 + U["cache_read"] * 0.1 + U["cache_write"] * 1.25 + U["output"] * 5
    assert expected / 1e6 == pytest.approx(rec.cost)
    assert rec.request == {"model": "claude-haiku-4-5", "max_tokens": 64}
    assert run.run_id == rec.run_id


def test_stream_records_usage_stop_reason_and_time_to_first_token(client: Any) -> None:
    """message_start and message_delta usage are combined; ttft is set."""
    with capture() as records, bifrost_sync():
        events = list(_create(client, stream=True))
    assert events[-1].type == "message_stop"
    (rec,) = records.llm_calls
    assert (INPUT, U["output"], "end_turn") == (
        rec.input_tokens,
        rec.output_tokens,
        rec.finish_reason,
    )
    assert rec.time_to_first_token is not None


@pytest.mark.parametrize(
    ("status", "error_class"), [(429, "RateLimitError"), (500, "InternalServerError")]
)
def test_api_errors_are_recorded_and_raised(client: Any, status: int, error_class: str) -> None:
    """429 and 500 raise the SDK's exception; the failed call is recorded with its status."""
    with capture() as records, bifrost_sync(), pytest.raises(getattr(anthropic, error_class)):
        _create(client, extra_headers={"x-fake-status": str(status)})
    (rec,) = records.llm_calls
    assert (False, status, None) == (rec.success, rec.extra["status_code"], rec.cost)


def test_abandoned_stream_is_recorded_exactly_once(client: Any) -> None:
    """A stream broken out of and dropped ends one record, marked abandoned."""
    with capture() as records, bifrost_sync():
        stream = _create(client, stream=True, extra_headers={"x-fake-chunks": "200"})
        for i, _ in enumerate(stream):
            if i == 3:
                break
        del stream
        gc.collect()
        with _create(client, stream=True) as s:
            next(iter(s))
        s.close()
    assert [r.extra.get("stream_abandoned") for r in records.llm_calls] == [True, True]


def test_async_messages_and_streams(server: FakeLLMServer) -> None:
    """AsyncAnthropic plain and streamed calls are recorded in the task's run."""

    async def main() -> Any:
        client = anthropic.AsyncAnthropic(
            base_url=server.anthropic_base_url, api_key="test", max_retries=0
        )
        async with bifrost_async() as run:
            await client.messages.create(model="claude-3-5-haiku", max_tokens=8, messages=MESSAGES)
            stream = await client.messages.create(
                model="claude-3-5-haiku", max_tokens=8, messages=MESSAGES, stream=True
            )
            async for _ in stream:
                pass
            half = await client.messages.create(
                model="claude-3-5-haiku",
                max_tokens=8,
                messages=MESSAGES,
                stream=True,
                extra_headers={"x-fake-chunks": "100"},
            )
            async for _ in half:
                break
            await half.close()
        await client.close()
        return run

    with capture() as records:
        run = asyncio.run(main())
    assert {run.run_id} == {r.run_id for r in records.llm_calls}
    assert [r.extra.get("stream_abandoned") for r in records.llm_calls] == [None, None, True]
    assert [U["output"], U["output"]] == [r.output_tokens for r in records.llm_calls[:2]]


def test_system_prompt_is_captured_as_system_instructions(client: Any) -> None:
    """With capture_content, system= goes to system_instructions and messages to input."""
    auditora.configure(capture_content=True)
    blocks = [{"type": "text", "text": "Be brief."}]
    with capture() as records, bifrost_sync():
        _create(client, system="Be brief.")
        _create(client, system=blocks)
        _create(client)
    plain, block, none = records.llm_calls
    assert (plain.system_instructions, plain.input, plain.output) == (
        "Be brief.",
        MESSAGES,
        "Hello from the",
    )
    assert (block.system_instructions, none.system_instructions) == (blocks, None)


def test_system_prompt_is_dropped_without_content_capture(client: Any) -> None:
    """capture_content off: neither the system prompt nor the messages are kept."""
    with capture() as records, bifrost_sync():
        _create(client, system="Be brief.")
    assert (records.llm_calls[0].system_instructions, records.llm_calls[0].input) == (None, None)


def test_typed_fields_models_id_cache_writes_error_type(client: Any) -> None:
    """Request/response models, the message id and cache writes are typed fields."""
    with capture() as records, bifrost_sync():
        message = _create(client, extra_headers={"x-fake-model": "claude-haiku-4-5-20251001"})
        with pytest.raises(anthropic.RateLimitError):
            _create(client, extra_headers={"x-fake-status": "429"})
    ok, failed = records.llm_calls
    assert (ok.request_model, ok.response_model, ok.model) == (
        "claude-haiku-4-5",
        "claude-haiku-4-5-20251001",
        "claude-haiku-4-5-20251001",
    )
    assert (ok.response_id, ok.cache_write_tokens) == (message.id, U["cache_write"])
    assert "cache_write_tokens" not in ok.extra and "response_id" not in ok.extra
    assert ok.start_ns is not None and ok.error_type is None
    assert (failed.error_type, failed.response_model) == ("RateLimitError", None)


def test_uninstrument_restores_the_sdk(client: Any) -> None:
    """After uninstrument() nothing is recorded."""
    auditora_anthropic.uninstrument()
    with capture() as records, bifrost_sync():
        _create(client)
    assert records.llm_calls == []


def test_missing_package_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the anthropic package, instrument() names the extra to install."""
    import sys

    monkeypatch.setitem(sys.modules, "anthropic", None)
    with pytest.raises(ImportError, match=r"pip install 'auditora\[anthropic\]'"):
        auditora_anthropic.instrument()


def test_messages_stream_helper_is_recorded(client: Any, server: FakeLLMServer) -> None:
    """`with client.messages.stream(...)` records one call with usage and the final text."""
    auditora.configure(capture_content=True)
    with (
        capture() as records,
        bifrost_sync() as run,
        client.messages.stream(
            model="claude-haiku-4-5", max_tokens=64, messages=MESSAGES
        ) as stream,
    ):
        text = "".join(stream.text_stream)
    assert text == "Hello from the"
    (rec,) = records.llm_calls
    assert (run.run_id, INPUT, U["output"], "end_turn", "Hello from the") == (
        rec.run_id,
        rec.input_tokens,
        rec.output_tokens,
        rec.finish_reason,
        rec.output,
    )
    assert rec.request["stream"] is True


def test_async_messages_stream_helper_is_recorded(server: FakeLLMServer) -> None:
    """`async with client.messages.stream(...)` is recorded too."""

    async def main() -> Any:
        client = anthropic.AsyncAnthropic(
            base_url=server.anthropic_base_url, api_key="test", max_retries=0
        )
        async with (
            bifrost_async(),
            client.messages.stream(
                model="claude-haiku-4-5", max_tokens=8, messages=MESSAGES
            ) as stream,
        ):
            message = await stream.get_final_message()
        await client.close()
        return message

    with capture() as records:
        message = asyncio.run(main())
    assert message.usage.output_tokens == U["output"]
    assert [(INPUT, U["output"])] == [(r.input_tokens, r.output_tokens) for r in records.llm_calls]
