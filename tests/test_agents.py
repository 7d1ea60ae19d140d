"""Multi-agent systems: agent names on runs, messages and hand-offs, who talked to whom."""

from __future__ import annotations

from typing import Iterator

import pytest

import auditora
from auditora import current_run, sentinel
from auditora.agents import agent, conversation_graph, current_agent, handoff, send_message
from auditora.testing import capture


@pytest.fixture(autouse=True)
def _quiet() -> Iterator[None]:
    auditora.configure(console=False)
    yield


def _system():  # type: ignore[no-untyped-def]
    @sentinel(agent="coder")
    def code(task: str) -> str:
        send_message("planner", "done: " + task)
        return "ok"

    @sentinel(session_id="team", agent="planner")
    def plan() -> None:
        handoff("coder", "write the parser")
        code("write the parser")
        with agent("reviewer"):
            send_message("planner", "looks good", kind="review")

    return plan


def test_runs_carry_their_agent_and_nested_runs_inherit_it() -> None:
    """@sentinel(agent=...) names the agent; an unnamed nested run inherits it."""
    seen = []

    @sentinel()
    def helper() -> None:
        seen.append(current_agent())

    @sentinel(agent="planner")
    def plan() -> None:
        helper()

    with capture() as records:
        plan()
    assert seen == ["planner"]
    assert [r.agent for r in records.runs] == ["planner", "planner"]


def test_messages_record_sender_recipient_and_kind() -> None:
    """The sender defaults to the current agent; hand-offs have their own kind."""
    plan = _system()
    with capture() as records:
        plan()
    assert [(m.sender, m.recipient, m.message_kind) for m in records.agent_messages] == [
        ("planner", "coder", "handoff"),
        ("coder", "planner", "message"),
        ("reviewer", "planner", "review"),
    ]


def test_content_is_not_recorded_unless_capture_is_on() -> None:
    """Without capture_content only the content length is kept."""
    plan = _system()
    with capture() as records:
        plan()
    first = records.agent_messages[0]
    assert (first.content, first.extra) == (None, {"content_length": 16})

    auditora.configure(capture_content=True)
    with capture() as records:
        plan()
    assert records.agent_messages[0].content == "write the parser"


def test_messages_are_kept_in_the_report_and_counted() -> None:
    """The root's report keeps every message of the trace, the coder's nested one
    included; its monitor counts messages and hand-offs."""
    plan = _system()
    plan()
    kept = [r for r in plan._report.get_records() if r.kind == "agent_message"]
    assert len(kept) == 3
    assert plan._monitor.get_metrics() == {"agents.handoffs": 1.0, "agents.messages": 2.0}


def test_conversation_graph_counts_who_talked_to_whom() -> None:
    """conversation_graph works on records and on their dicts (store rows)."""
    plan = _system()
    with capture() as records:
        plan()
    expected = {
        ("planner", "coder"): {"handoff": 1},
        ("coder", "planner"): {"message": 1},
        ("reviewer", "planner"): {"review": 1},
    }
    assert expected == conversation_graph(records)
    assert expected == conversation_graph([r.to_dict() for r in records.agent_messages])


def test_messages_share_the_trace_of_their_runs() -> None:
    """Every message carries the run and trace ids of the agent that sent it."""
    plan = _system()
    with capture() as records:
        plan()
    runs = {r.run_id: r for r in records.runs}
    assert {records.runs[0].trace_id} == {m.trace_id for m in records.agent_messages}
    assert [runs[m.run_id].agent for m in records.agent_messages] == [
        "planner",
        "coder",
        "reviewer",
    ]


def test_send_message_outside_a_context_only_emits() -> None:
    """Outside any run the record goes to the sinks, with sender 'unknown'."""
    assert current_run() is None
    with capture() as records:
        send_message("bob", "hi")
    assert [(m.sender, m.recipient, m.run_id) for m in records.agent_messages] == [
        ("unknown", "bob", None)
    ]
