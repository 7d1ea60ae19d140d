"""The real openai-agents Runner, with the OpenAI SDK instrumented: one record per model call.

``Runner.run_streamed`` streams through ``with_streaming_response.create``,
which used to be recorded with no usage and a latency taken at the response
headers. Tracing export is off and any connection outside 127.0.0.1 fails the
test at once.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Iterator, List

import pytest

import auditora
from offline_guard import offline, quiet_environment

quiet_environment()
with offline() as _import_attempts:
    agents = pytest.importorskip("agents")
assert not _import_attempts, _import_attempts

from _agents_fixtures import agent_kwargs  # noqa: E402
from auditora import bifrost_async  # noqa: E402
from auditora.integrations import openai as auditora_openai  # noqa: E402
from auditora.llm import reset_prices  # noqa: E402
from auditora.testing import capture  # noqa: E402
from fake_llm_server import OPENAI_USAGE, FakeLLMServer  # noqa: E402

U = OPENAI_USAGE
EXPECTED = (U["input"], U["output"], U["cached"], U["reasoning"])


@pytest.fixture(scope="module")
def server() -> Iterator[FakeLLMServer]:
    agents.set_tracing_disabled(True)
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
    assert not attempts, f"openai-agents tried to reach outside 127.0.0.1: {attempts}"


def _agent(server: FakeLLMServer, **settings: Any) -> Any:
    return agents.Agent(
        name="greeter", instructions="Be brief.", **agent_kwargs(server, **settings)
    )


def _usage(rec: Any) -> tuple:
    return (rec.input_tokens, rec.output_tokens, rec.cached_tokens, rec.reasoning_tokens)


def test_run_gives_one_record_with_tokens_and_cost(server: FakeLLMServer) -> None:
    """Runner.run: one 'responses' record with usage, finish reason and cost."""

    async def main() -> Any:
        async with bifrost_async() as run:
            result = await agents.Runner.run(_agent(server), "hi")
        return run, result

    with capture() as records:
        run, result = asyncio.run(main())
    assert result.final_output == "Hello from the"
    (rec,) = records.llm_calls
    assert (rec.operation, rec.model, rec.finish_reason, rec.run_id) == (
        "responses",
        "gpt-4.1",
        "completed",
        run.run_id,
    )
    assert _usage(rec) == EXPECTED and rec.cost is not None


def test_run_streamed_gives_one_record_with_usage_and_the_streams_latency(
    server: FakeLLMServer,
) -> None:
    """Runner.run_streamed: usage is recorded and the latency spans the whole stream."""
    delay = 0.05

    async def main() -> float:
        agent = _agent(server, extra_headers={"x-fake-delay": str(delay)})
        async with bifrost_async():
            t0 = time.perf_counter()
            streamed = agents.Runner.run_streamed(agent, "hi")
            async for _ in streamed.stream_events():
                pass
            assert streamed.final_output == "Hello from the"
            return time.perf_counter() - t0

    with capture() as records:
        elapsed = asyncio.run(main())
    (rec,) = records.llm_calls
    assert _usage(rec) == EXPECTED and rec.cost is not None
    assert rec.request["stream"] is True and rec.finish_reason == "completed"
    # The fake server sends 11 events, each after `delay`: not the ~8 ms of headers.
    assert 11 * delay <= rec.response_time <= elapsed
    assert rec.extra.get("stream_abandoned") is None
    assert rec.time_to_first_token is not None


def test_agent_instructions_are_system_instructions(server: FakeLLMServer) -> None:
    """With capture_content, the agent's instructions are system_instructions, not input."""
    auditora.configure(capture_content=True)

    async def main() -> None:
        async with bifrost_async():
            await agents.Runner.run(_agent(server), "hi")

    with capture() as records:
        asyncio.run(main())
    (rec,) = records.llm_calls
    assert rec.system_instructions == "Be brief."
    assert "Be brief." not in repr(rec.input) and "hi" in repr(rec.input)
    assert rec.output == "Hello from the"
