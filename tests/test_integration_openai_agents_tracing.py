"""The real openai-agents Runner with Auditora's tracing processor, on the fake LLM server.

A triage agent hands off to a weather agent, which calls a tool and answers: the
fake server answers each model call with the function call its
``x-fake-tool-call`` header names, until the conversation holds that call's
output. The SDK's own processors are replaced by a recording one (so nothing is
exported to OpenAI, and the test sees that the SDK's tracing still works beside
Auditora's); any connection outside 127.0.0.1 fails the test.
"""

from __future__ import annotations

import asyncio
from typing import Any, Dict, Iterator, List

import pytest

import auditora
from offline_guard import offline, quiet_environment

quiet_environment()
with offline() as _import_attempts:
    agents = pytest.importorskip("agents")
assert not _import_attempts, _import_attempts

from _agents_fixtures import agent_kwargs, tool_call_header  # noqa: E402
from auditora import sentinel  # noqa: E402
from auditora.agents import trajectory  # noqa: E402
from auditora.core._paragon import Paragon  # noqa: E402
from auditora.integrations import openai as auditora_openai  # noqa: E402
from auditora.integrations import openai_agents as auditora_agents  # noqa: E402
from auditora.llm import reset_prices  # noqa: E402
from auditora.testing import capture  # noqa: E402
from fake_llm_server import OPENAI_USAGE, FakeLLMServer  # noqa: E402


class Recorder(agents.tracing.TracingProcessor):  # type: ignore[misc]
    """Stands for the SDK's own processors: the span types it was given."""

    def __init__(self) -> None:
        self.types: List[str] = []

    def on_trace_start(self, trace: Any) -> None:
        self.types.append("trace")

    def on_trace_end(self, trace: Any) -> None:
        pass

    def on_span_start(self, span: Any) -> None:
        pass

    def on_span_end(self, span: Any) -> None:
        self.types.append(span.span_data.type)

    def shutdown(self) -> None:
        pass

    def force_flush(self) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as srv:
        yield srv


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    """Tracing on, the SDK's processors replaced by a Recorder, then Auditora's added."""
    reset_prices()
    auditora.configure(console=False)
    rec = Recorder()
    agents.tracing.set_trace_processors([rec])
    agents.set_tracing_disabled(False)
    auditora_agents.instrument()
    with offline() as attempts:
        yield rec
    auditora_agents.uninstrument()
    agents.tracing.set_trace_processors([])
    agents.set_tracing_disabled(True)
    assert not attempts, f"openai-agents tried to reach outside 127.0.0.1: {attempts}"


@pytest.fixture
def openai_instrumented() -> Iterator[None]:
    auditora_openai.instrument()
    yield
    auditora_openai.uninstrument()


def _agents(server: FakeLLMServer, *, failing_tool: bool = False) -> Any:
    @agents.function_tool
    def get_weather(city: str) -> str:
        """The weather in a city."""
        if failing_tool:
            raise RuntimeError("the station is down")
        return f"sunny in {city}"

    weather = agents.Agent(
        name="weather_agent",
        instructions="Answer with the weather.",
        tools=[get_weather],
        **agent_kwargs(
            server, extra_headers=dict([tool_call_header("get_weather", '{"city": "Paris"}')])
        ),
    )
    return agents.Agent(
        name="triage",
        instructions="Hand weather questions over.",
        handoffs=[weather],
        **agent_kwargs(server, extra_headers=dict([tool_call_header("transfer_to_weather_agent")])),
    )


@sentinel(name="ask")
async def ask(triage: Any, question: str) -> Any:
    result = await agents.Runner.run(triage, question)
    return result.final_output


def _runs(records: Any) -> Dict[str, Any]:
    return {r.name: r for r in records.runs}


def test_a_handoff_and_a_tool_call_nest_under_the_enclosing_sentinel(
    server: FakeLLMServer, recorder: Recorder, openai_instrumented: None
) -> None:
    """Inside a @sentinel: workflow, agent, tool and llm runs in one trace under it, the
    hand-off between the agent runs, one LLM call record per model call."""
    auditora.configure(capture_content=True)
    sent, resets = len(server.requests), Paragon.foreign_resets
    with capture() as records:
        answer = asyncio.run(ask(_agents(server), "Weather in Paris?"))
    assert answer == "Hello from the"
    assert Paragon.foreign_resets == resets  # every run ended in the context it began in
    runs = _runs(records)
    root, workflow = runs["ask"], runs["Agent workflow"]
    triage, weather, tool = runs["triage"], runs["weather_agent"], runs["get_weather"]
    assert {r.trace_id for r in records.runs} == {root.trace_id}
    assert workflow.parent_id == root.run_id and workflow.run_type == "workflow"
    assert (triage.parent_id, weather.parent_id) == (workflow.run_id, workflow.run_id)
    assert (triage.run_type, triage.agent, weather.run_type, weather.agent) == (
        "agent",
        "triage",
        "agent",
        "weather_agent",
    )
    assert triage.end_ns <= weather.start_ns  # one after the other
    assert (tool.run_type, tool.parent_id, tool.agent) == ("tool", weather.run_id, "weather_agent")
    assert tool.attributes["gen_ai.tool.name"] == "get_weather"
    assert tool.inputs == {"city": "Paris"} and tool.output == "sunny in Paris"
    llm_runs = [r for r in records.runs if r.run_type == "llm"]
    assert [r.parent_id for r in llm_runs] == [triage.run_id, weather.run_id, weather.run_id]
    # One record per model call: the OpenAI integration's, in the llm runs.
    assert len(records.llm_calls) == len(server.requests) - sent == 3
    assert [c.run_id for c in records.llm_calls] == [r.run_id for r in llm_runs]
    assert {r.name for r in llm_runs} == {"response gpt-4.1"}
    (message,) = records.agent_messages
    assert (message.sender, message.recipient, message.message_kind) == (
        "triage",
        "weather_agent",
        "handoff",
    )
    assert message.run_id == triage.run_id
    steps = trajectory(records, root.trace_id)
    assert [(s.kind, s.agent) for s in steps] == [
        ("agent", "triage"),
        ("llm", "triage"),
        ("handoff", "triage"),
        ("agent", "weather_agent"),
        ("llm", "weather_agent"),
        ("tool", "weather_agent"),
        ("llm", "weather_agent"),
    ]
    assert steps.tools == ["get_weather"] and steps.handoffs == [("triage", "weather_agent")]
    assert steps.tokens == 3 * (OPENAI_USAGE["input"] + OPENAI_USAGE["output"])
    # The SDK's own tracing kept working beside Auditora's.
    assert {"trace", "agent", "function", "handoff", "response"} <= set(recorder.types)


def test_outside_any_run_the_agents_form_their_own_trace_without_content(
    server: FakeLLMServer, recorder: Recorder, openai_instrumented: None
) -> None:
    """Outside a sentinel the workflow run is a root; with capture_content off the tool
    run keeps no arguments or output, and the hand-off no content."""
    with capture() as records:
        result = asyncio.run(agents.Runner.run(_agents(server), "Weather in Paris?"))
    assert result.final_output == "Hello from the"
    runs = _runs(records)
    workflow, tool = runs["Agent workflow"], runs["get_weather"]
    assert workflow.parent_id is None
    assert {r.trace_id for r in records.runs} == {workflow.trace_id}
    assert tool.inputs is None and tool.output is None
    assert "Paris" not in repr([r.to_dict() for r in records.runs])
    assert records.agent_messages[0].content is None


def test_without_the_openai_integration_calls_are_recorded_from_the_response_spans(
    server: FakeLLMServer, recorder: Recorder
) -> None:
    """No SDK patch: each response span records its call (model, usage, response id)."""
    with capture() as records:
        asyncio.run(ask(_agents(server), "Weather in Paris?"))
    calls = records.llm_calls
    llm_runs = [r for r in records.runs if r.run_type == "llm"]
    assert len(calls) == 3 and [c.run_id for c in calls] == [r.run_id for r in llm_runs]
    for call in calls:
        assert (call.model, call.input_tokens, call.output_tokens) == (
            "gpt-4.1",
            OPENAI_USAGE["input"],
            OPENAI_USAGE["output"],
        )
        assert call.response_id.startswith("resp_") and call.cost is not None
    assert len({c.response_id for c in calls}) == 3


def test_a_failing_tool_is_an_error_run(
    server: FakeLLMServer, recorder: Recorder, openai_instrumented: None
) -> None:
    """The SDK turns a tool's exception into a message for the model; the tool run
    still ends with status error and the SDK's error message (its details are the
    SDK's to redact)."""
    with capture() as records:
        answer = asyncio.run(ask(_agents(server, failing_tool=True), "Weather in Paris?"))
    assert answer == "Hello from the"
    tool = _runs(records)["get_weather"]
    assert tool.status == "error" and tool.error_type == "AgentsSpanError"
    assert tool.error_message.startswith("Error running tool")
    assert {r.status for r in records.runs if r.name != "get_weather"} == {"ok"}


def test_instrument_is_idempotent_and_uninstrument_stops_recording(
    server: FakeLLMServer, recorder: Recorder
) -> None:
    """instrument() twice adds one processor; after uninstrument() no run is recorded
    while the SDK's own tracing goes on."""
    auditora_agents.instrument()
    with capture() as records:
        asyncio.run(agents.Runner.run(_agents(server), "Weather in Paris?"))
    assert [r.name for r in records.runs].count("triage") == 1
    auditora_agents.uninstrument()
    assert not auditora_agents.is_instrumented()
    recorder.types.clear()
    with capture() as records:
        asyncio.run(agents.Runner.run(_agents(server), "Weather in Paris?"))
    assert records.runs == [] and "agent" in recorder.types


def test_a_guardrail_is_an_evaluator_run_inside_the_agent(
    server: FakeLLMServer, recorder: Recorder, openai_instrumented: None
) -> None:
    """An input guardrail's span is an evaluator run under its agent's run, saying
    whether it tripped."""

    @agents.input_guardrail
    async def polite(ctx: Any, agent: Any, question: Any) -> Any:
        return agents.GuardrailFunctionOutput(output_info=None, tripwire_triggered=False)

    agent = agents.Agent(name="greeter", input_guardrails=[polite], **agent_kwargs(server))
    with capture() as records:
        asyncio.run(ask(agent, "hi"))
    runs = _runs(records)
    guard, greeter = runs["polite"], runs["greeter"]
    assert (guard.run_type, guard.agent) == ("evaluator", "greeter")
    assert guard.parent_id == greeter.run_id
    assert guard.attributes["agents.guardrail.triggered"] is False


@pytest.mark.parametrize("patched", [True, False])
def test_chat_completions_generation_spans_give_one_record_per_call(
    server: FakeLLMServer, recorder: Recorder, patched: bool
) -> None:
    """With the chat completions model each generation span is an llm run holding one
    LLM call record: the OpenAI integration's when it is on, else the span's own."""
    import openai

    if patched:
        auditora_openai.instrument()
    client = openai.AsyncOpenAI(
        base_url=server.openai_base_url, api_key="sk-test", max_retries=0, timeout=10
    )
    model = agents.OpenAIChatCompletionsModel(model="gpt-4.1", openai_client=client)
    try:
        with capture() as records:
            asyncio.run(ask(agents.Agent(name="greeter", model=model), "hi"))
    finally:
        auditora_openai.uninstrument()
    (llm,) = [r for r in records.runs if r.run_type == "llm"]
    (call,) = records.llm_calls
    assert llm.name == "generation gpt-4.1" and llm.parent_id == _runs(records)["greeter"].run_id
    assert call.run_id == llm.run_id
    assert (call.input_tokens, call.output_tokens) == (
        OPENAI_USAGE["input"],
        OPENAI_USAGE["output"],
    )


def test_a_streamed_run_nests_under_the_caller_like_a_plain_one(
    server: FakeLLMServer, recorder: Recorder, openai_instrumented: None
) -> None:
    """Runner.run_streamed runs the agent in a task of its own: its runs still nest under
    the sentinel that started it, with one LLM call record in the llm run."""

    @sentinel(name="stream")
    async def stream(agent: Any) -> Any:
        streamed = agents.Runner.run_streamed(agent, "hi")
        async for _ in streamed.stream_events():
            pass
        return streamed.final_output

    resets = Paragon.foreign_resets
    with capture() as records:
        answer = asyncio.run(stream(agents.Agent(name="greeter", **agent_kwargs(server))))
    assert answer == "Hello from the"
    assert Paragon.foreign_resets == resets  # every run ended in the context it began in
    runs = _runs(records)
    root, workflow, greeter = runs["stream"], runs["Agent workflow"], runs["greeter"]
    assert (workflow.parent_id, greeter.parent_id) == (root.run_id, workflow.run_id)
    (llm,) = [r for r in records.runs if r.run_type == "llm"]
    (call,) = records.llm_calls
    assert llm.parent_id == greeter.run_id and call.run_id == llm.run_id
    assert {r.status for r in records.runs} == {"ok"}
