"""A real OpenInference instrumentation: openinference-instrumentation-openai drives the real
openai SDK against the fake server on 127.0.0.1. Its spans reach the store (a) through the
OTel SDK's OTLP/HTTP protobuf exporter and ``auditora collect``'s server, and (b) through
:class:`AuditoraSpanProcessor` in process; either way they are llm runs holding priced LLM
calls with the package's model, provider, tokens, content, time to first token and errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Tuple

import pytest

pytest.importorskip("openinference.instrumentation.openai")
pytest.importorskip("opentelemetry.exporter.otlp.proto.http")
pytest.importorskip("google.protobuf")
openai = pytest.importorskip("openai")

from openinference.instrumentation import TraceConfig, using_session  # noqa: E402
from openinference.instrumentation.openai import OpenAIInstrumentor  # noqa: E402
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter  # noqa: E402
from opentelemetry.sdk.resources import Resource  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402

import auditora  # noqa: E402
from auditora import _recorder  # noqa: E402
from auditora.cli import main  # noqa: E402
from auditora.integrations.otel import AuditoraSpanProcessor  # noqa: E402
from auditora.llm import compute_cost  # noqa: E402
from auditora.store import open_store  # noqa: E402
from collect_helpers import collector  # noqa: E402
from fake_llm_server import OPENAI_USAGE, FakeLLMServer  # noqa: E402

Rows = Tuple[List[Dict[str, Any]], List[Dict[str, Any]]]
TOOLS = [
    {
        "type": "function",
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    }
]


@pytest.fixture()
def fake() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as server:
        yield server


def _client(fake: FakeLLMServer) -> Any:
    return openai.OpenAI(base_url=fake.openai_base_url, api_key="sk-test", max_retries=0)


def _chat(client: Any) -> None:
    client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
        temperature=0.3,
    )


def _stream(client: Any) -> None:
    stream = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        stream_options={"include_usage": True},
        extra_headers={"x-fake-chunks": "4"},
    )
    for _ in stream:
        pass


def _failing(client: Any) -> None:
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "hi"}],
            extra_headers={"x-fake-status": "500"},
        )


def _tool_call(client: Any) -> None:
    client.responses.create(
        model="gpt-4o-mini",
        input="weather in Paris?",
        tools=TOOLS,
        extra_headers={"x-fake-tool-call": 'get_weather {"city": "Paris"}'},
    )


def _through_the_collector(
    store: Path, fake: FakeLLMServer, calls: Callable[[Any], None], config: Any = None
) -> Rows:
    """Instrument, make ``calls``, export over OTLP/HTTP protobuf to the collector; the rows."""
    instrumentor = OpenAIInstrumentor()
    with collector(store) as server:
        provider = TracerProvider(resource=Resource.create({"service.name": "chatbot"}))
        exporter = OTLPSpanExporter(endpoint=server.endpoint + "/v1/traces", timeout=5)
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        instrumentor.instrument(tracer_provider=provider, config=config)
        try:
            calls(_client(fake))
        finally:
            instrumentor.uninstrument()
            provider.shutdown()
    with open_store(store) as s:
        return s.runs(limit=None), s.llm_calls(limit=None)


def _by_run(rows: Rows) -> List[Tuple[Dict[str, Any], Dict[str, Any]]]:
    """(run, call) pairs in start order."""
    runs, calls = rows
    by_id = {run["run_id"]: run for run in runs}
    return sorted(((by_id[c["run_id"]], c) for c in calls), key=lambda rc: rc[0]["start_ns"])


def test_a_chat_completion_is_an_llm_run_with_a_priced_call(
    tmp_path: Path, fake: FakeLLMServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """OpenInference's ChatCompletion span becomes an llm run and an LLM call with the
    requested and answered model, the provider, every token count (cache read and reasoning
    included), the finish reason, the request parameters, the messages, and the cost from
    Auditora's table; the attributes left on the run are only those with no field."""
    store = tmp_path / "s.db"
    rows = _through_the_collector(store, fake, _chat)
    ((run, call),) = _by_run(rows)
    assert (run["name"], run["run_type"], run["status"]) == ("ChatCompletion", "llm", "ok")
    assert run["attributes"]["service.name"] == "chatbot"
    assert run["attributes"]["otel.scope.name"] == "openinference.instrumentation.openai"
    assert run["inputs"]["messages"][1] == {"role": "user", "content": "hi"}
    u = OPENAI_USAGE
    assert {
        k: call[k]
        for k in (
            "model",
            "request_model",
            "response_model",
            "provider",
            "operation",
            "input_tokens",
            "output_tokens",
            "cached_tokens",
            "reasoning_tokens",
            "finish_reason",
            "success",
        )
    } == {
        "model": "gpt-4o-mini",
        "request_model": "gpt-4o-mini",
        "response_model": "gpt-4o-mini",
        "provider": "openai",
        "operation": "chat",
        "input_tokens": u["input"],
        "output_tokens": u["output"],
        "cached_tokens": u["cached"],
        "reasoning_tokens": u["reasoning"],
        "finish_reason": "stop",
        "success": True,
    }
    expected = compute_cost("gpt-4o-mini", u["input"], u["output"], u["cached"])
    assert expected is not None and call["cost"] == pytest.approx(expected, rel=1e-9)
    assert call["request"] == {"temperature": 0.3}
    assert call["input"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hi"},
    ]
    assert call["output"] == [{"role": "assistant", "content": "Hello from the"}]
    # Mapped attributes are fields now; what has no field (audio token counts) stays.
    assert sorted(k for k in run["attributes"] if k.startswith(("llm.", "input.", "output."))) == [
        "llm.token_count.completion_details.audio",
        "llm.token_count.prompt_details.audio",
    ]
    assert main(["show", str(store), run["trace_id"]]) == 0
    shown = capsys.readouterr().out
    assert f"{u['input'] + u['output']} tokens, cost ${expected:.8f}" in shown


def test_a_streamed_chat_keeps_its_usage_and_time_to_first_token(
    tmp_path: Path, fake: FakeLLMServer
) -> None:
    """A streamed chat's span (usage from the final chunk) is a priced call whose time to
    first token comes from OpenInference's first-token event, inside the call's duration;
    the event is a field, not a stray event."""
    ((_, call),) = _by_run(_through_the_collector(tmp_path / "s.db", fake, _stream))
    assert (call["input_tokens"], call["output_tokens"], call["cached_tokens"]) == (
        OPENAI_USAGE["input"],
        OPENAI_USAGE["output"],
        OPENAI_USAGE["cached"],
    )
    assert call["request"] == {"stream": True, "stream_options": {"include_usage": True}}
    assert call["output"] == [{"role": "assistant", "content": "Hello from the fake"}]
    assert call["cost"] is not None and call["cost"] > 0
    ttft = call["time_to_first_token"]
    assert ttft is not None and 0 <= ttft <= call["response_time"]
    with open_store(tmp_path / "s.db") as s:
        assert s.events(limit=None) == []


def test_a_failed_call_keeps_its_error_and_traceback(tmp_path: Path, fake: FakeLLMServer) -> None:
    """A 500 from the API: an error llm run with the exception's type, message and traceback,
    and a failed LLM call that still knows the requested model (from the invocation
    parameters) and carries the error."""
    ((run, call),) = _by_run(_through_the_collector(tmp_path / "s.db", fake, _failing))
    assert (run["status"], run["run_type"], run["error_type"]) == (
        "error",
        "llm",
        "openai.InternalServerError",
    )
    assert run["error_message"] == "Error code: 500 - The server had an error"
    assert "Traceback (most recent call last)" in run["traceback"]
    assert (call["success"], call["model"], call["request_model"], call["error_type"]) == (
        False,
        "gpt-4o-mini",
        "gpt-4o-mini",
        "openai.InternalServerError",
    )
    assert "The server had an error" in call["error"]
    assert call["input_tokens"] is None and call["cost"] is None


def test_a_tool_call_answer_is_nested_and_the_tools_are_named(
    tmp_path: Path, fake: FakeLLMServer
) -> None:
    """The Responses API answering with a function call: the flattened
    ``message.tool_calls.N.tool_call.*`` attributes become one assistant message holding the
    call, and the request names the tools offered, as the native integration records them."""
    ((run, call),) = _by_run(_through_the_collector(tmp_path / "s.db", fake, _tool_call))
    assert run["name"] == "Response"
    assert call["output"] == [
        {
            "role": "assistant",
            "tool_calls": [
                {
                    "id": "call_get_weather",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        }
    ]
    assert call["input"] == [{"role": "user", "content": "weather in Paris?"}]
    assert call["request"] == {"tools": ["get_weather"]}
    assert call["input_tokens"] == OPENAI_USAGE["input"] and call["cost"] is not None


def test_a_text_answer_of_the_responses_api_keeps_its_content_parts(
    tmp_path: Path, fake: FakeLLMServer
) -> None:
    """The Responses API's text answer, flattened as ``message.contents.N.message_content.*``,
    is a message with a list of typed parts."""

    def respond(client: Any) -> None:
        client.responses.create(model="gpt-4o-mini", input="hi")

    ((_, call),) = _by_run(_through_the_collector(tmp_path / "s.db", fake, respond))
    assert call["output"] == [
        {"role": "assistant", "contents": [{"type": "text", "text": "Hello from the"}]}
    ]


def test_content_the_instrumentation_hides_is_not_recorded_as_content(
    tmp_path: Path, fake: FakeLLMServer
) -> None:
    """With OpenInference's own switch off (``TraceConfig(hide_inputs=True,
    hide_outputs=True)``), the call has no input or output and the run no inputs or output;
    the placeholder the package sends stays visible as an attribute. Usage and cost stay."""
    config = TraceConfig(hide_inputs=True, hide_outputs=True)
    ((run, call),) = _by_run(_through_the_collector(tmp_path / "s.db", fake, _chat, config))
    assert (call["input"], call["output"], run["inputs"], run["output"]) == (
        None,
        None,
        None,
        None,
    )
    assert run["attributes"]["input.value"] == "__REDACTED__"
    assert run["attributes"]["output.value"] == "__REDACTED__"
    assert call["input_tokens"] == OPENAI_USAGE["input"] and call["cost"] is not None


def test_the_span_processor_nests_openinference_calls_in_the_app_trace_and_session(
    tmp_path: Path, fake: FakeLLMServer
) -> None:
    """In process, with no collector: under an app span marked as an OpenInference CHAIN and
    OpenInference's ``using_session``, a chat and a streamed chat are llm runs under the
    chain run, in one trace and one session, with priced calls (the stream's with its time to
    first token) and a failed call keeping its error."""
    store = tmp_path / "s.db"
    auditora.configure(store=str(store), console=False)
    provider = TracerProvider()
    provider.add_span_processor(AuditoraSpanProcessor())
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        client = _client(fake)
        tracer = provider.get_tracer("app")
        chain_kind = {"openinference.span.kind": "CHAIN"}
        with using_session("conv-7"), tracer.start_as_current_span("answer", attributes=chain_kind):
            _chat(client)
            _stream(client)
            _failing(client)
    finally:
        instrumentor.uninstrument()
    assert provider.force_flush()
    _recorder.flush(10)
    with open_store(store) as s:
        runs, calls = s.runs(limit=None), s.llm_calls(limit=None)
        sessions = [row["session_id"] for row in s.sessions(limit=None)]
    (chain,) = [r for r in runs if r["name"] == "answer"]
    pairs = _by_run((runs, calls))
    assert chain["run_type"] == "chain" and sessions == ["conv-7"]
    assert [(r["parent_id"], r["run_type"], r["session_id"]) for r, _ in pairs] == [
        (chain["run_id"], "llm", "conv-7")
    ] * 3
    assert {r["trace_id"] for r in runs} == {chain["trace_id"]}
    (chat, _), (streamed, _), (failed, _) = ((c, r) for r, c in pairs)
    assert chat["time_to_first_token"] is None and streamed["time_to_first_token"] is not None
    assert chat["cost"] == pytest.approx(streamed["cost"]) and chat["cost"] > 0
    assert (failed["success"], failed["error_type"]) == (False, "openai.InternalServerError")
    assert all(c["session_id"] == "conv-7" for c in calls)


def test_a_langchain_chain_is_a_tree_of_runs_with_the_model_call_priced(
    tmp_path: Path, fake: FakeLLMServer
) -> None:
    """openinference-instrumentation-langchain on a prompt | ChatOpenAI chain, in process:
    the CHAIN span is the root run, the PROMPT and LLM spans are chain and llm runs under
    it, and the LLM span is a priced call with the provider LangChain names (``llm.provider``)
    and the chat model's tokens."""
    pytest.importorskip("openinference.instrumentation.langchain")
    langchain_openai = pytest.importorskip("langchain_openai")
    from langchain_core.prompts import ChatPromptTemplate
    from openinference.instrumentation.langchain import LangChainInstrumentor

    store = tmp_path / "s.db"
    auditora.configure(store=str(store), console=False)
    provider = TracerProvider()
    provider.add_span_processor(AuditoraSpanProcessor())
    instrumentor = LangChainInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        model = langchain_openai.ChatOpenAI(
            model="gpt-4o-mini",
            base_url=fake.openai_base_url,
            api_key="sk-test",
            max_retries=0,
            temperature=0.2,
        )
        prompt = ChatPromptTemplate.from_messages([("system", "be brief"), ("user", "{q}")])
        (prompt | model).invoke({"q": "hi"})
    finally:
        instrumentor.uninstrument()
    assert provider.force_flush()
    _recorder.flush(10)
    with open_store(store) as s:
        runs = {r["name"]: r for r in s.runs(limit=None)}
        (call,) = s.llm_calls(limit=None)
    chain, template, chat = runs["RunnableSequence"], runs["ChatPromptTemplate"], runs["ChatOpenAI"]
    assert (chain["run_type"], chain["parent_id"]) == ("chain", None)
    assert (template["run_type"], template["parent_id"]) == ("chain", chain["run_id"])
    assert (chat["run_type"], chat["parent_id"]) == ("llm", chain["run_id"])
    assert (call["run_id"], call["provider"], call["model"], call["request_model"]) == (
        chat["run_id"],
        "openai",
        "gpt-4o-mini",
        "gpt-4o-mini",
    )
    u = OPENAI_USAGE
    assert (call["input_tokens"], call["output_tokens"], call["cached_tokens"]) == (
        u["input"],
        u["output"],
        u["cached"],
    )
    expected = compute_cost("gpt-4o-mini", u["input"], u["output"], u["cached"])
    assert call["cost"] == pytest.approx(expected, rel=1e-9)
    assert call["request"]["temperature"] == 0.2
    assert call["input"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hi"},
    ]
