"""``auditora trajectory STORE TRACE``: a trace's steps as a table or JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Tuple

import pytest

import auditora
from auditora import report, sentinel
from auditora.agents import handoff
from auditora.cli import main


@pytest.fixture
def agent_store(tmp_path: Path) -> Tuple[str, str, str]:
    """A store holding one planner trace; returns (path, trace id, the tool run's id)."""
    db = tmp_path / "agents.db"
    auditora.configure(store=str(db), console=False)

    @sentinel(kind="tool", name="search")
    def search(query: str) -> int:
        return len(query)

    @sentinel(agent="planner", name="planner")
    def planner() -> None:
        report.log_llm_call(
            "gpt-4o-mini", prompt_tokens=10, completion_tokens=5, response_time=0.01
        )
        search("otters")
        handoff("<b>writer</b>", "go")

    planner()
    assert auditora.flush()
    from auditora.store import open_store

    with open_store(db) as store:
        tool = store.runs(name="search")[0]
    auditora.shutdown()
    return str(db), tool["trace_id"], tool["run_id"]


def test_the_table_lists_each_step_in_order(
    agent_store: Tuple[str, str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """The summary line counts steps; each step is a row with kind, agent and step name."""
    path, trace_id, _ = agent_store
    assert main(["trajectory", path, trace_id]) == 0
    out = capsys.readouterr().out
    assert f"trace {trace_id}: ok, 4 steps (1 tool call, 1 LLM call, 1 hand-off)" in out
    lines = [line.split() for line in out.splitlines()[4:]]
    assert [(line[0], line[1]) for line in lines] == [
        ("0", "agent"),
        ("1", "llm"),
        ("2", "tool"),
        ("3", "handoff"),
    ]
    assert "-> <b>writer</b>" in out


def test_json_prints_the_trajectory_object(
    agent_store: Tuple[str, str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """``--json`` prints what ``Trajectory.to_dict()`` gives, exact numbers included."""
    path, trace_id, _ = agent_store
    assert main(["trajectory", path, trace_id, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["trace_id"] == trace_id
    assert doc["tools"] == ["search"]
    assert doc["handoffs"] == [["planner", "<b>writer</b>"]]
    assert doc["tokens"] == 15
    assert [s["kind"] for s in doc["steps"]] == ["agent", "llm", "tool", "handoff"]


def test_a_run_id_names_its_trace(
    agent_store: Tuple[str, str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Given a run id instead of a trace id, the command shows that run's trace."""
    path, trace_id, run_id = agent_store
    assert main(["trajectory", path, run_id, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["trace_id"] == trace_id


def test_an_unknown_trace_or_a_missing_store_is_one_line_and_exit_1(
    agent_store: Tuple[str, str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Errors are one ``auditora:`` line on stderr, no traceback."""
    path, _, _ = agent_store
    assert main(["trajectory", path, "ffffffffffff"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("auditora: ") and err.count("\n") == 1 and "ffffffffffff" in err
    assert main(["trajectory", str(tmp_path / "none.db"), "abc"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("auditora: ") and "Traceback" not in err
