"""Trajectory scorers: tool sequences, forbidden tools, bounds, loops and hand-offs."""

from __future__ import annotations

from typing import Any, List, Sequence

import pytest

import auditora
from auditora import report, sentinel
from auditora._trajectory_scorers import (
    forbidden_tools,
    handoff_to,
    max_cost,
    max_latency,
    max_steps,
    no_loops,
    tool_sequence,
)
from auditora.agents import Trajectory, handoff, trajectory
from auditora.testing import capture


def _run(tools: Sequence[Any], *, llm_calls: int = 1, to: str = "") -> Trajectory:
    """The trajectory of an agent that calls ``tools`` (names, or (name, arg) pairs)."""

    def tool(name: str) -> Any:
        @sentinel(kind="tool", name=name)
        def call(arg: Any = None) -> Any:
            return arg

        return call

    @sentinel(agent="planner", name="planner")
    def planner() -> None:
        for _ in range(llm_calls):
            report.log_llm_call(
                "gpt-4o-mini", prompt_tokens=1000, completion_tokens=100, response_time=0.001
            )
        for t in tools:
            name, arg = t if isinstance(t, tuple) else (t, None)
            tool(name)(arg)
        if to:
            handoff(to)

    with capture() as records:
        planner()
    return trajectory(records, records.runs[0].trace_id)


@pytest.mark.parametrize(
    ("mode", "expected", "passes"),
    [
        ("exact", ["search", "fetch", "answer"], True),
        ("exact", ["search", "answer"], False),
        ("in_order", ["search", "answer"], True),
        ("in_order", ["answer", "search"], False),
        ("any_order", ["answer", "search"], True),
        ("any_order", ["search", "search"], False),
    ],
)
def test_tool_sequence_modes(mode: str, expected: List[str], passes: bool) -> None:
    """exact, in_order (a subsequence) and any_order (a multiset) compare the tools called."""
    t = _run(["search", "fetch", "answer"])
    score = tool_sequence(expected, mode=mode)(t)
    assert score.value == (1.0 if passes else 0.0)
    assert score.label == ("pass" if passes else "fail")
    assert "called ['search', 'fetch', 'answer']" in (score.explanation or "")


def test_forbidden_tools_name_what_was_called() -> None:
    """A forbidden tool fails the score and is named in the explanation."""
    t = _run(["search", "delete_db"])
    assert forbidden_tools(["delete_db", "rm"])(t).value == 0.0
    assert "delete_db" in (forbidden_tools(["delete_db"])(t).explanation or "")
    assert forbidden_tools(["rm"])(t).value == 1.0


def test_max_steps_counts_tool_and_llm_calls() -> None:
    """Two tool calls and one LLM call are three actions."""
    t = _run(["a", "b"])
    assert max_steps(3)(t).value == 1.0
    assert max_steps(2)(t).value == 0.0


def test_max_cost_and_max_latency_bound_the_trace() -> None:
    """Cost is the priced LLM calls' sum; latency the trace's wall time."""
    t = _run([], llm_calls=2)
    assert t.cost is not None and t.cost > 0
    assert max_cost(t.cost * 1.01)(t).value == 1.0
    assert max_cost(t.cost * 0.99)(t).value == 0.0
    assert max_latency(60)(t).value == 1.0
    assert max_latency(0)(t).value == 0.0


def test_no_loops_compares_captured_arguments() -> None:
    """The same tool with the same arguments k times is a loop; different arguments are not."""
    auditora.configure(capture_content=True)
    looping = _run([("search", "otters")] * 3)
    varied = _run([("search", "otters"), ("search", "seals"), ("search", "whales")])
    assert no_loops(3)(looping).value == 0.0
    assert "search" in (no_loops(3)(looping).explanation or "")
    assert no_loops(3)(varied).value == 1.0
    assert no_loops(4)(looping).value == 1.0


def test_without_captured_arguments_every_call_of_a_tool_counts_the_same() -> None:
    """The documented fallback: with no arguments kept, three calls of a tool are a loop of 3."""
    t = _run([("search", "otters"), ("search", "seals"), ("search", "whales")])
    assert no_loops(3)(t).value == 0.0


def test_handoff_to_looks_for_a_handoff_to_that_agent() -> None:
    """A hand-off record to the agent passes; none, or to another agent, fails."""
    assert handoff_to("writer")(_run([], to="writer")).value == 1.0
    assert handoff_to("writer")(_run([], to="critic")).value == 0.0
    assert handoff_to("writer")(_run([])).value == 0.0


def test_scorers_are_named_and_marked_for_the_harness() -> None:
    """A scorer is named after its metric; ``needs_trajectory`` tells experiments what to pass."""
    scorer = tool_sequence(["a"])
    assert scorer.__name__ == "tool_sequence"
    assert getattr(scorer, "needs_trajectory", False) is True
    with pytest.raises(TypeError, match="scores a Trajectory"):
        scorer("plain output", None)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: tool_sequence("search"), "list of non-empty str"),
        (lambda: tool_sequence(["a"], mode="sorted"), "mode must be one of"),
        (lambda: max_steps(-1), ">= 0"),
        (lambda: max_cost(float("nan")), ">= 0"),
        (lambda: max_latency(float("inf")), "finite"),
        (lambda: no_loops(1), "at least 2"),
        (lambda: handoff_to(""), "non-empty"),
    ],
)
def test_bad_arguments_are_clear_errors(make: Any, message: str) -> None:
    """A scorer built with a bad argument fails at once, saying what is wrong."""
    with pytest.raises((TypeError, ValueError), match=message):
        make()
