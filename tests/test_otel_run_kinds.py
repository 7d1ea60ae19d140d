"""OTelSink: a run's kind, inputs, output and traceback, as the GenAI agent conventions and
OpenInference (Arize Phoenix; MLflow reads it too) name them, on spans decoded from what the
real OTLP/HTTP exporter sent to a receiver on 127.0.0.1."""

from __future__ import annotations

from typing import Any, Dict, Iterator, Optional

import pytest

pytest.importorskip("opentelemetry.sdk")
pytest.importorskip("opentelemetry.exporter.otlp.proto.http")
pytest.importorskip("opentelemetry.proto")

from auditora.integrations.otel import OTelSink
from auditora.records import Run, new_run
from otlp_receiver import Receiver, attrs, running


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from running()


def make_run(
    run_type: str,
    name: str = "step",
    *,
    agent: Optional[str] = None,
    inputs: Optional[Dict[str, Any]] = None,
    output: Any = None,
    error: Optional[BaseException] = None,
    traceback: Optional[str] = None,
) -> Run:
    """A finished root run record of ``run_type``, as the sentinel would emit it."""
    run = new_run(
        0x1234_5678_9ABC_DEF0,
        0x0123_4567_89AB_CDEF_0123_4567_89AB_CDEF,
        None,
        name,
        "kinds",
        "function",
        run_type,
        agent,
        None,  # type: ignore[arg-type]  # the adats are not part of the record
        None,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        None,
    )
    run.inputs, run.output, run.traceback = inputs, output, traceback
    run.duration_ns = 2_000_000
    run.end_ns = run.start_ns + run.duration_ns
    run.status = "ok"
    if error is not None:
        run.status = "error"
        run.error_type, run.error_message = type(error).__name__, str(error)
    return run


def exported(receiver: Receiver, run: Run) -> Any:
    """``run`` exported through a real OTelSink; the one span the receiver decoded."""
    sink = OTelSink(endpoint=receiver.endpoint, signals=("traces",), join_otel_context=False)
    try:
        sink.export([run])
        assert sink.flush(10.0)
    finally:
        sink.close()
    (span,) = receiver.spans()
    return span


@pytest.mark.parametrize(
    ("run_type", "name", "operation", "openinference"),
    [
        ("agent", "invoke_agent planner", "invoke_agent", "AGENT"),
        ("tool", "execute_tool search", "execute_tool", "TOOL"),
        ("workflow", "invoke_workflow search", "invoke_workflow", "CHAIN"),
        ("retriever", "search", "retrieval", "RETRIEVER"),
        ("function", "search", None, "CHAIN"),
        ("chain", "search", None, "CHAIN"),
        ("llm", "search", None, "LLM"),
        ("embedding", "search", None, "EMBEDDING"),
        ("evaluator", "search", None, "EVALUATOR"),
        ("server", "search", None, "CHAIN"),
    ],
)
def test_each_run_type_is_named_as_the_genai_agent_spans_and_openinference_kinds(
    receiver: Receiver, run_type: str, name: str, operation: Optional[str], openinference: str
) -> None:
    """agent, tool and workflow runs are ``invoke_agent {agent}``, ``execute_tool {name}`` and
    ``invoke_workflow {name}`` spans with their gen_ai.operation.name; every run carries its
    OpenInference span kind (plain functions are CHAIN) and, unless it is the default
    function, auditora.run.type."""
    agent = "planner" if run_type == "agent" else None
    span = exported(receiver, make_run(run_type, "search", agent=agent))
    got = attrs(span)
    assert span.name == name
    assert got.get("gen_ai.operation.name") == operation
    assert got["openinference.span.kind"] == openinference
    assert got.get("auditora.run.type", "function") == run_type
    assert ("auditora.run.type" in got) == (run_type != "function")
    assert got["auditora.run.kind"] == "function"
    # SPAN_KIND_INTERNAL for in-process agents and tools; SERVER for a request served.
    assert span.kind == (2 if run_type == "server" else 1)


def test_an_agent_run_names_its_agent_for_genai_and_openinference(receiver: Receiver) -> None:
    """gen_ai.agent.name and OpenInference's agent.name hold the agent's name."""
    got = attrs(exported(receiver, make_run("agent", "Planner.run", agent="planner")))
    assert (got["gen_ai.agent.name"], got["agent.name"]) == ("planner", "planner")


def test_an_agent_run_without_an_agent_name_is_named_after_the_run(receiver: Receiver) -> None:
    """kind="agent" with no agent= still gives invoke_agent {run name}."""
    span = exported(receiver, make_run("agent", "triage"))
    assert (span.name, attrs(span)["gen_ai.agent.name"]) == ("invoke_agent triage", "triage")


def test_a_tool_and_a_workflow_name_themselves(receiver: Receiver) -> None:
    """gen_ai.tool.name (and OpenInference tool.name) for a tool, gen_ai.workflow.name for a
    workflow."""
    tool = attrs(exported(receiver, make_run("tool", "web_search")))
    assert (tool["gen_ai.tool.name"], tool["tool.name"]) == ("web_search", "web_search")
    receiver.bodies["/v1/traces"].clear()
    workflow = attrs(exported(receiver, make_run("workflow", "nightly_eval")))
    assert workflow["gen_ai.workflow.name"] == "nightly_eval"
    assert "gen_ai.tool.name" not in workflow


def test_inputs_and_a_json_output_are_openinference_values(receiver: Receiver) -> None:
    """Captured inputs are input.value as JSON (application/json), a non-string output is
    output.value as JSON: what Phoenix, MLflow and Langfuse show as a span's input/output."""
    run = make_run(
        "chain", inputs={"question": "why?", "k": 3}, output={"answer": "42", "score": 0.9}
    )
    got = attrs(exported(receiver, run))
    assert (got["input.value"], got["input.mime_type"]) == (
        '{"question": "why?", "k": 3}',
        "application/json",
    )
    assert (got["output.value"], got["output.mime_type"]) == (
        '{"answer": "42", "score": 0.9}',
        "application/json",
    )
    assert "gen_ai.tool.call.arguments" not in got


def test_a_string_output_is_plain_text(receiver: Receiver) -> None:
    """A string output is sent as it is, text/plain, not as a JSON string literal."""
    got = attrs(exported(receiver, make_run("function", inputs={}, output="forty-two")))
    assert (got["output.value"], got["output.mime_type"]) == ("forty-two", "text/plain")
    assert (got["input.value"], got["input.mime_type"]) == ("{}", "application/json")


def test_a_generator_output_keeps_its_reduction(receiver: Receiver) -> None:
    """A generator's {"yielded": n, "items": [...]} output is exported as that JSON."""
    run = make_run("function", output={"yielded": 2, "items": [1, 2]})
    assert attrs(exported(receiver, run))["output.value"] == '{"yielded": 2, "items": [1, 2]}'


def test_a_tool_run_also_sends_the_genai_tool_call_arguments_and_result(
    receiver: Receiver,
) -> None:
    """A tool run's inputs and output are also gen_ai.tool.call.arguments / .result."""
    run = make_run("tool", "add", inputs={"a": 1, "b": 2}, output=3)
    got = attrs(exported(receiver, run))
    assert (got["gen_ai.tool.call.arguments"], got["gen_ai.tool.call.result"]) == (
        '{"a": 1, "b": 2}',
        "3",
    )
    assert (got["input.value"], got["output.value"]) == ('{"a": 1, "b": 2}', "3")


def test_a_run_without_captured_inputs_or_output_sends_no_value_attributes(
    receiver: Receiver,
) -> None:
    """Capture off (inputs and output None): no input.* / output.* attributes at all."""
    got = attrs(exported(receiver, make_run("tool", "add")))
    assert not [key for key in got if key.startswith(("input.", "output.", "gen_ai.tool.call."))]


def test_an_error_run_has_its_class_as_error_type_and_its_traceback_as_the_stacktrace(
    receiver: Receiver,
) -> None:
    """error.type is the exception's class name; the exception event carries the stored
    traceback as exception.stacktrace."""
    trace = (
        "Traceback (most recent call last):\n  File \"app.py\", line 3, in step\nKeyError: 'x'\n"
    )
    run = make_run("tool", "lookup", error=KeyError("x"), traceback=trace)
    span = exported(receiver, run)
    (event,) = span.events
    assert attrs(span)["error.type"] == "KeyError"
    assert span.status.code == 2  # STATUS_CODE_ERROR
    assert (event.name, attrs(event)["exception.stacktrace"]) == ("exception", trace)
    assert attrs(event)["exception.type"] == "KeyError"
