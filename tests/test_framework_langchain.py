"""The real langchain-openai ChatOpenAI, with the OpenAI SDK instrumented: one record per call.

ChatOpenAI calls ``with_raw_response.create`` (chat completions and the
Responses API), which used to be recorded with tokens, cost and finish reason
all None. Everything runs against the fake server on 127.0.0.1; any other
connection fails the test at once.
"""

from __future__ import annotations

import asyncio
from typing import Any, Iterator, List

import pytest

import auditora
from offline_guard import offline, quiet_environment

quiet_environment()
with offline() as _import_attempts:
    langchain_openai = pytest.importorskip("langchain_openai")
assert not _import_attempts, _import_attempts

from auditora import bifrost_async, bifrost_sync  # noqa: E402
from auditora.integrations import openai as auditora_openai  # noqa: E402
from auditora.llm import reset_prices  # noqa: E402
from auditora.testing import capture  # noqa: E402
from fake_llm_server import OPENAI_USAGE, FakeLLMServer  # noqa: E402

U = OPENAI_USAGE
GPT4O_COST = ((U["input"] - U["cached"]) * 2.5 + U["cached"] * 1.25 + U["output"] * 10) / 1e6


@pytest.fixture(scope="module")
def server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as srv:
        yield srv


@pytest.fixture(autouse=True)
def _instrumented() -> Iterator[List[str]]:
    reset_prices()
    auditora.configure(console=False)
    auditora_openai.instrument()
    with offline() as attempts:
        yield attempts
    auditora_openai.uninstrument()
    assert not attempts, f"LangChain tried to reach outside 127.0.0.1: {attempts}"


def _chat(server: FakeLLMServer, **kwargs: Any) -> Any:
    return langchain_openai.ChatOpenAI(
        base_url=server.openai_base_url, api_key="sk-test", max_retries=0, timeout=10, **kwargs
    )


def _usage(rec: Any) -> tuple:
    return (rec.input_tokens, rec.output_tokens, rec.cached_tokens, rec.reasoning_tokens)


EXPECTED = (U["input"], U["output"], U["cached"], U["reasoning"])


def test_invoke_gives_one_record_with_tokens_cost_and_finish_reason(server: FakeLLMServer) -> None:
    """ChatOpenAI.invoke: one chat record with usage, cost and finish reason (were None)."""
    with capture() as records, bifrost_sync() as run:
        answer = _chat(server, model="gpt-4o").invoke("hi")
    assert answer.content == "Hello from the"
    (rec,) = records.llm_calls
    assert (rec.provider, rec.operation, rec.model, rec.finish_reason) == (
        "openai",
        "chat",
        "gpt-4o",
        "stop",
    )
    assert _usage(rec) == EXPECTED
    assert rec.cost == pytest.approx(GPT4O_COST)
    assert rec.run_id == run.run_id and rec.response_id.startswith("chatcmpl-")


def test_stream_with_usage_gives_one_record_with_tokens(server: FakeLLMServer) -> None:
    """ChatOpenAI.stream (stream_usage=True): one record, tokens and time to first token."""
    with capture() as records, bifrost_sync():
        text = "".join(
            str(c.content) for c in _chat(server, model="gpt-4o", stream_usage=True).stream("hi")
        )
    assert text == "Hello from the"
    (rec,) = records.llm_calls
    assert _usage(rec) == EXPECTED
    assert rec.time_to_first_token is not None and rec.request["stream"] is True


def test_responses_api_invoke_and_stream_give_one_record_each(server: FakeLLMServer) -> None:
    """use_responses_api=True: invoke and stream are each one 'responses' record with usage."""
    llm = _chat(server, model="gpt-4.1", use_responses_api=True)
    with capture() as records, bifrost_sync():
        llm.invoke("hi")
        list(llm.stream("hi"))
    assert [(r.operation, _usage(r), r.finish_reason) for r in records.llm_calls] == [
        ("responses", EXPECTED, "completed")
    ] * 2
    assert all(r.cost is not None for r in records.llm_calls)


def test_include_response_headers_path_is_captured_too(server: FakeLLMServer) -> None:
    """include_response_headers streams through with_raw_response(stream=True): still one record."""
    llm = _chat(server, model="gpt-4o", stream_usage=True, include_response_headers=True)
    with capture() as records, bifrost_sync():
        chunks = list(llm.stream("hi"))
    assert chunks and records.llm_calls[0].finish_reason == "stop"
    assert [_usage(r) for r in records.llm_calls] == [EXPECTED]


def test_async_invoke_gives_one_record_in_the_tasks_run(server: FakeLLMServer) -> None:
    """ainvoke and astream each give one record, in the run of the task that called them."""

    async def main() -> Any:
        llm = _chat(server, model="gpt-4o", stream_usage=True)
        async with bifrost_async() as run:
            await llm.ainvoke("hi")
            async for _ in llm.astream("hi"):
                pass
        return run

    with capture() as records:
        run = asyncio.run(main())
    assert [_usage(r) for r in records.llm_calls] == [EXPECTED, EXPECTED]
    assert {r.run_id for r in records.llm_calls} == {run.run_id}
