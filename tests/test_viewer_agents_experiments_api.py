"""The viewer's experiment, comparison, agent-graph and trajectory endpoints (over HTTP)."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Dict, Iterator, Tuple

import pytest

import auditora
from auditora import experiments, report, scorers, sentinel
from auditora.agents import handoff
from auditora.viewer import ViewerServer, make_server

XSS = "<img src=x onerror=alert(1)>"


def _get(server: ViewerServer, path: str) -> Tuple[int, Any]:
    try:
        with urllib.request.urlopen(server.url.rstrip("/") + path, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _fill(path: Path) -> Dict[str, Any]:
    """Two experiments on one dataset and one agent trace, written by the library."""
    auditora.configure(store=str(path), console=False)
    data = experiments.Dataset([{"input": w, "expected": w.upper()} for w in "abcdefgh"])
    experiments.run("v1", data, lambda x: x.upper(), scorers=[scorers.exact_match], store=str(path))
    experiments.run(
        "v2",
        data,
        lambda x: x.upper() if x not in "gh" else "?",
        scorers=[scorers.exact_match],
        store=str(path),
    )

    @sentinel(kind="tool", name=XSS)
    def tool() -> int:
        return 1

    @sentinel(agent="planner", name="planner", session_id="agents-session")
    def planner() -> None:
        report.log_llm_call("gpt-4o-mini", prompt_tokens=10, completion_tokens=5, response_time=0)
        tool()
        handoff("writer")

    planner()
    assert auditora.flush()
    from auditora.store import open_store

    with open_store(path) as store:
        (root,) = store.runs(name="planner")
    auditora.shutdown()
    return {"trace": root["trace_id"], "session": root["session_id"]}


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Tuple[ViewerServer, Dict[str, Any]]]:
    path = tmp_path_factory.mktemp("viewer-agents") / "s.db"
    ids = _fill(path)
    server = make_server(path, port=0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield server, ids
    server.shutdown()
    server.server_close()
    thread.join(10)


def test_experiments_lists_both_runs_with_their_means(
    served: Tuple[ViewerServer, Dict[str, Any]],
) -> None:
    """/api/experiments lists each experiment run with its per-metric means."""
    status, body = _get(served[0], "/api/experiments")
    assert status == 200
    names = {e["name"]: e for e in body["experiments"]}
    assert set(names) == {"v1", "v2"}
    assert "exact_match" in body["metrics"]


def test_compare_gives_deltas_intervals_and_changed_items(
    served: Tuple[ViewerServer, Dict[str, Any]],
) -> None:
    """/api/compare: the metric delta with its interval, and the two regressed items."""
    status, body = _get(served[0], "/api/compare?base=v1&candidate=v2")
    assert status == 200
    (metric,) = [m for m in body["metrics"] if m["name"] == "exact_match"]
    assert metric["delta"] == pytest.approx(-0.25)
    assert metric["ci_low"] <= metric["delta"] <= metric["ci_high"]
    regressed = [i for i in body["items"] if i["change"] == "regressed"]
    assert len(regressed) == 2
    assert all(i["base_link"].startswith("#/trace/") for i in regressed)


def test_compare_answers_400_for_missing_or_bad_parameters_and_404_for_unknown_runs(
    served: Tuple[ViewerServer, Dict[str, Any]],
) -> None:
    """Bad requests are one-line errors, never a 500."""
    server, _ = served
    assert _get(server, "/api/compare?base=v1")[0] == 400
    assert _get(server, "/api/compare?base=v1&candidate=v2&confidence=high")[0] == 400
    assert _get(server, "/api/compare?base=v1&candidate=nope")[0] == 404


def test_agent_graph_of_a_trace_and_of_a_session(
    served: Tuple[ViewerServer, Dict[str, Any]],
) -> None:
    """/api/agent_graph?trace= and ?session= give nodes and edges; names are data, not markup."""
    server, ids = served
    for query in (f"trace={ids['trace']}", f"session={ids['session']}"):
        status, graph = _get(server, f"/api/agent_graph?{query}")
        assert status == 200
        nodes = {n["id"] for n in graph["nodes"]}
        assert {"agent:planner", f"tool:{XSS}", "agent:writer"} <= nodes
        kinds = {(e["source"], e["target"], e["kind"]) for e in graph["edges"]}
        assert ("agent:planner", "agent:writer", "handoff") in kinds
    assert _get(server, "/api/agent_graph")[0] == 400
    assert _get(server, "/api/agent_graph?trace=ffff")[0] == 404


def test_trajectory_endpoint_returns_the_steps(
    served: Tuple[ViewerServer, Dict[str, Any]],
) -> None:
    """/api/trajectory?trace= is Trajectory.to_dict()."""
    server, ids = served
    status, body = _get(server, f"/api/trajectory?trace={ids['trace']}")
    assert status == 200
    assert [s["kind"] for s in body["steps"]] == ["agent", "llm", "tool", "handoff"]
    assert body["tools"] == [XSS]
