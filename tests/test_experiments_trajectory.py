"""Trajectory scorers in an experiment: the harness hands a scorer marked
``needs_trajectory`` the trajectory of the item's trace (its tool and agent steps) instead
of the output, in memory and with a store, and forgets the trace once scored."""

from __future__ import annotations

from pathlib import Path
from typing import Any, List

import pytest

from auditora import bifrost_sync, experiments, scorers
from auditora.experiments import Dataset

DATA = Dataset([{"input": q, "id": f"q{n}"} for n, q in enumerate(["weather", "news", "math"])])


def agent(question: str) -> str:
    """Searches, then answers; for 'math' it also calls the forbidden shell tool."""
    with bifrost_sync(name="search", kind="tool"):
        pass
    if question == "math":
        with bifrost_sync(name="shell", kind="tool"):
            pass
    with bifrost_sync(name="answer", kind="tool"):
        return f"answer about {question}"


def test_trajectory_scorers_see_the_items_tool_calls(tmp_path: Path) -> None:
    """tool_sequence and forbidden_tools grade each item's own trace."""
    result = experiments.run(
        "agentic",
        DATA,
        agent,
        [
            scorers.tool_sequence(["search", "answer"], mode="in_order"),
            scorers.forbidden_tools(["shell"]),
            scorers.exact_match,
        ],
        concurrency=3,
        store=tmp_path / "a.db",
    )
    scores = {r.item_id: r.scores for r in result.items}
    assert {k: v["tool_sequence"] for k, v in scores.items()} == {"q0": 1.0, "q1": 1.0, "q2": 1.0}
    assert {k: v["forbidden_tools"] for k, v in scores.items()} == {"q0": 1.0, "q1": 1.0, "q2": 0.0}
    assert "shell" in (result.items[2].details["forbidden_tools"].explanation or "")
    assert not any(r.scorer_errors for r in result.items)


def test_without_a_trajectory_scorer_no_trace_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    """The trace collector exists only when a scorer needs it, and is emptied as items end."""
    from auditora.experiments import _run

    left: List[int] = []
    original = _run._TraceRecords.take

    def spy(self: Any, trace_id: Any) -> Any:
        out = original(self, trace_id)
        left.append(len(self.records))
        return out

    monkeypatch.setattr(_run._TraceRecords, "take", spy)
    experiments.run("t", DATA, agent, [scorers.forbidden_tools(["shell"])])
    assert left == [0, 0, 0]
    left.clear()
    experiments.run("t", DATA, agent, [scorers.exact_match])
    assert left == []
