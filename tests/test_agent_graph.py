"""``auditora.agents.agent_graph``: agents and tools as nodes, calls and hand-offs as edges."""

from __future__ import annotations

from typing import Any, Dict, List

from auditora import report, sentinel
from auditora.agents import agent_graph, handoff, trajectory
from auditora.testing import capture


def _traces(n: int, fail_search: bool = False) -> List[Any]:
    @sentinel(kind="tool", name="search")
    def search() -> None:
        if fail_search:
            raise ValueError()

    @sentinel(agent="writer", name="writer")
    def writer() -> None:
        report.log_llm_call("gpt-4o-mini", prompt_tokens=100, completion_tokens=10, response_time=0)

    @sentinel(agent="planner", name="planner")
    def planner() -> None:
        try:
            search()
        except ValueError:
            pass
        search()  # not caught: with fail_search the planner fails here
        handoff("writer")
        writer()

    out = []
    for _ in range(n):
        with capture() as records:
            try:
                planner()
            except ValueError:
                pass
        out.append(trajectory(records, records.runs[0].trace_id))
    return out


def _by(items: List[Dict[str, Any]], *keys: str) -> Dict[Any, Dict[str, Any]]:
    return {tuple(i[k] for k in keys) if len(keys) > 1 else i[keys[0]]: i for i in items}


def test_one_trace_has_agent_and_tool_nodes_and_call_and_handoff_edges() -> None:
    """The planner calls search twice, hands off to the writer and calls it."""
    (t,) = _traces(1)
    graph = agent_graph([t])
    nodes = _by(graph["nodes"], "id")
    assert set(nodes) == {"agent:planner", "agent:writer", "tool:search"}
    assert nodes["tool:search"]["calls"] == 2
    assert nodes["agent:writer"]["tokens"] == 110
    assert nodes["agent:writer"]["cost"] is not None and nodes["agent:writer"]["cost"] > 0
    edges = _by(graph["edges"], "source", "target", "kind")
    assert edges[("agent:planner", "tool:search", "call")]["count"] == 2
    assert edges[("agent:planner", "agent:writer", "handoff")]["count"] == 1
    assert edges[("agent:planner", "agent:writer", "call")]["count"] == 1
    assert graph["traces"] == 1


def test_many_traces_aggregate_counts_and_errors() -> None:
    """Over a session's traces, counts add up and failed tool calls are counted on node and edge."""
    graph = agent_graph(_traces(3, fail_search=True))
    nodes = _by(graph["nodes"], "id")
    assert nodes["tool:search"]["calls"] == 6
    assert nodes["tool:search"]["errors"] == 6
    edges = _by(graph["edges"], "source", "target", "kind")
    assert edges[("agent:planner", "tool:search", "call")]["errors"] == 6
    assert graph["traces"] == 3


def test_tools_called_outside_any_agent_hang_off_the_none_node() -> None:
    """A tool run with no agent above it is called by ``(none)``."""

    @sentinel(kind="tool", name="lookup")
    def lookup() -> int:
        return 1

    with capture() as records:
        lookup()
    graph = agent_graph([trajectory(records, records.runs[0].trace_id)])
    assert _by(graph["edges"], "source", "target")[("agent:(none)", "tool:lookup")]["count"] == 1
