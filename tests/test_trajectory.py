"""``auditora.agents.trajectory``: the ordered steps of a trace, from any source."""

from __future__ import annotations

from pathlib import Path
from typing import Any, List

import pytest

import auditora
from auditora import report, sentinel
from auditora.agents import Trajectory, handoff, trajectory
from auditora.store import open_store
from auditora.testing import capture


def _pipeline() -> Any:
    """A planner agent that calls an LLM, two tools (one fails) and hands off to a writer."""

    @sentinel(kind="tool", name="search")
    def search(query: str) -> List[str]:
        return [query.upper()]

    @sentinel(kind="tool", name="fetch")
    def fetch(url: str) -> str:
        raise TimeoutError()  # an empty message, as real code raises

    @sentinel(kind="llm", name="draft-model")
    def draft(text: str) -> str:
        report.log_llm_call(
            "gpt-4o-mini", prompt_tokens=100, completion_tokens=20, response_time=0.01
        )
        return text

    @sentinel(agent="writer", name="writer")
    def writer(notes: List[str]) -> str:
        return draft(" ".join(notes))

    @sentinel(agent="planner", name="planner")
    def planner(topic: str) -> str:
        report.log_llm_call("gpt-4o-mini", prompt_tokens=10, completion_tokens=5, response_time=0.0)
        notes = search(topic)
        try:
            fetch("http://127.0.0.1:9/none")
        except TimeoutError:
            pass
        handoff("writer", "notes ready")
        return writer(notes)

    return planner


def test_steps_are_in_order_with_kinds_agents_and_tools() -> None:
    """Agent runs, LLM calls, tool calls and hand-offs appear in the order they happened."""
    planner = _pipeline()
    with capture() as records:
        planner("otters")
    (root,) = [r for r in records.runs if r.parent_id is None]
    t = trajectory(records, root.trace_id)
    assert isinstance(t, Trajectory)
    assert [(s.kind, s.name) for s in t] == [
        ("agent", "planner"),
        ("llm", "gpt-4o-mini"),
        ("tool", "search"),
        ("tool", "fetch"),
        ("handoff", "planner -> writer"),
        ("agent", "writer"),
        ("llm", "draft-model"),
    ]
    assert [s.index for s in t] == list(range(7))
    assert t.tools == ["search", "fetch"]
    assert t.agents == ["planner", "writer"]
    assert t.handoffs == [("planner", "writer")]


def test_a_failed_tool_is_an_error_step_and_the_trace_status_is_error() -> None:
    """A tool that raised (with no message) is an error step naming the exception class."""
    planner = _pipeline()
    with capture() as records:
        planner("otters")
    t = trajectory(records, records.runs[0].trace_id)
    (failed,) = t.errors
    assert (failed.kind, failed.tool, failed.status) == ("tool", "fetch", "error")
    assert failed.error == "TimeoutError"
    assert t.status == "error"


def test_tokens_and_cost_count_every_llm_call_once() -> None:
    """An llm run's own call is folded into its step; the totals count each call once."""
    planner = _pipeline()
    with capture() as records:
        planner("otters")
    t = trajectory(records, records.runs[0].trace_id)
    llm = t.of_kind("llm")
    assert [s.tokens for s in llm] == [15, 120]
    assert llm[1].model == "gpt-4o-mini" and llm[1].run_id is not None
    assert t.tokens == 135
    assert t.cost is not None and t.cost > 0
    planner_step = t.steps[0]
    assert planner_step.tokens == 135  # its roll-up: everything inside it
    assert t.duration is not None and t.duration > 0


def test_arguments_and_outputs_are_kept_only_when_content_is_captured() -> None:
    """Tool arguments follow the content switch, like every captured input."""
    planner = _pipeline()
    with capture() as records:
        planner("otters")
    search = trajectory(records, records.runs[0].trace_id).of_kind("tool")[0]
    assert search.arguments is None and search.output is None

    auditora.configure(capture_content=True)
    planner = _pipeline()
    with capture() as records:
        planner("otters")
    search = trajectory(records, records.runs[0].trace_id).of_kind("tool")[0]
    assert search.arguments == {"query": "otters"}
    assert search.output == ["OTTERS"]


def test_a_store_path_and_a_store_give_the_same_trajectory_as_the_records(tmp_path: Path) -> None:
    """The trajectory read back from SQLite equals the one built from the records in memory."""
    db = tmp_path / "agents.db"
    auditora.configure(store=str(db), console=False)
    planner = _pipeline()
    with capture() as records:
        planner("otters")
    assert auditora.flush()
    trace_id = records.runs[0].trace_id
    in_memory = trajectory(records, trace_id).to_dict()
    assert trajectory(str(db), trace_id).to_dict() == in_memory
    with open_store(db) as store:
        assert trajectory(store, trace_id).to_dict() == in_memory


def test_dict_records_are_a_source_too() -> None:
    """Serialized dicts (a JSONL file's lines, a memory sink's dicts) work like records."""
    planner = _pipeline()
    with capture() as records:
        planner("otters")
    trace_id = records.runs[0].trace_id
    dicts = [r.to_dict() for r in records]
    assert trajectory(dicts, trace_id).to_dict() == trajectory(records, trace_id).to_dict()


def test_an_unknown_trace_is_a_lookup_error_and_a_bad_source_a_type_error() -> None:
    """Errors say what was wrong, in one line."""
    with pytest.raises(LookupError, match="no run of trace 'f00d'"):
        trajectory([], "f00d")
    with pytest.raises(TypeError, match="store path, a Store or records"):
        trajectory(42, "f00d")
    with pytest.raises(TypeError, match="trace_id"):
        trajectory([], "")


def test_runs_of_other_kinds_are_structure_not_steps() -> None:
    """A plain function or chain run is not a step, but the tools inside it are."""

    @sentinel(kind="tool", name="lookup")
    def lookup() -> int:
        return 1

    @sentinel(kind="chain")
    def chain() -> int:
        return lookup()

    @sentinel()
    def main() -> int:
        return chain()

    with capture() as records:
        main()
    t = trajectory(records, records.runs[0].trace_id)
    assert [(s.kind, s.name, s.depth) for s in t] == [("tool", "lookup", 3)]
