"""Run kinds: @sentinel(kind=...) and bifrost blocks set a run's type."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Iterator

import pytest

import auditora
from auditora import bifrost_async, bifrost_sync, sentinel
from auditora.core._capture import RUN_TYPES
from auditora.testing import capture


@pytest.fixture(autouse=True)
def _quiet() -> Iterator[None]:
    auditora.configure(console=False)
    yield


def test_every_documented_kind_is_accepted_and_recorded() -> None:
    """Each of the ten kinds becomes the run's run_type; run_kind keeps the call form."""
    with capture() as records:
        for kind in RUN_TYPES:
            sentinel(kind=kind)(lambda: None)()
    assert [r.run_type for r in records.runs] == list(RUN_TYPES)
    assert {r.run_kind for r in records.runs} == {"function"}
    assert RUN_TYPES == (
        "function",
        "agent",
        "tool",
        "llm",
        "retriever",
        "embedding",
        "chain",
        "workflow",
        "evaluator",
        "server",
    )


def test_the_default_kind_is_function_and_agent_implies_agent() -> None:
    """No kind: function; agent= alone: agent; nested runs inherit the agent name but
    not the kind."""

    @sentinel()
    def helper() -> None:
        pass

    @sentinel(agent="planner")
    def plan() -> None:
        helper()

    @sentinel(agent="coder", kind="tool")
    def tool() -> None:
        pass

    with capture() as records:
        plan()
        tool()
    assert [(r.run_type, r.agent) for r in records.runs] == [
        ("function", "planner"),
        ("agent", "planner"),
        ("tool", "coder"),
    ]


def test_an_unknown_kind_is_a_clear_error_at_decoration() -> None:
    """A misspelt kind fails when decorating, naming the accepted kinds."""
    with pytest.raises(ValueError, match="kind must be one of function, agent, tool"):
        sentinel(kind="tools")
    with pytest.raises(ValueError, match="kind must be one of"):
        bifrost_sync(kind="AGENT")


def test_bifrost_blocks_take_a_kind() -> None:
    """bifrost_sync/bifrost_async(kind=...) set the block's run type."""

    async def main() -> None:
        async with bifrost_async(name="fetch", kind="retriever"):
            pass

    with capture() as records:
        with bifrost_sync(name="steps", kind="workflow"):
            pass
        asyncio.run(main())
    assert [(r.name, r.run_type, r.run_kind) for r in records.runs] == [
        ("steps", "workflow", "block"),
        ("fetch", "retriever", "block"),
    ]


def test_the_kind_reaches_the_store(tmp_path: Path) -> None:
    """run_type is a column of the runs table."""
    path = tmp_path / "s.db"
    auditora.configure(sinks=[f"sqlite:{path}"])
    sentinel(kind="evaluator")(lambda: None)()
    assert auditora.flush()
    from auditora.store import open_store

    with open_store(str(path)) as store:
        (run,) = store.runs()
    assert run["run_type"] == "evaluator"
