"""The agent graph and the session's Turns list in real Chromium.

One browser and one library-written store serve the module: three turns of a session,
each a planner agent calling two tools (one named with an XSS payload) and handing off
to a writer agent, which it then calls.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import pytest

import auditora
from auditora import report, sentinel
from auditora.agents import handoff
from auditora.viewer import make_server

CHROMIUM = "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="no Chromium")
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")

from test_browser import CHROMIUM_ARGS, Page, _assert_inert  # noqa: E402

XSS = "<img src=x onerror=alert(1)>"
SESSION = "agents-session"
TURNS = 3


def _fill(path: Path) -> List[str]:
    """Three turns in one session, then a plain function in another: the trace ids of the
    turns oldest first, then the plain one's."""
    auditora.configure(store=str(path), console=False)

    @sentinel(kind="tool", name="search")
    def search(q: str) -> str:
        return q

    @sentinel(kind="tool", name=XSS)
    def hostile(q: str) -> str:
        return q

    @sentinel(agent="writer", name="writer")
    def writer(q: str) -> str:
        report.log_llm_call("gpt-4o-mini", prompt_tokens=10, completion_tokens=5, response_time=0)
        return q

    @sentinel(agent="planner", name="planner", session_id=SESSION)
    def planner(q: str) -> str:
        search(q)
        hostile(q)
        handoff("writer", q)
        return writer(q)

    @sentinel(name="plain", session_id="plain-session")
    def plain() -> int:
        return 1

    for i in range(TURNS):
        planner(f"turn {i}")
    plain()
    assert auditora.flush()
    from auditora.store import open_store

    with open_store(path) as store:
        roots = sorted(store.runs(name="planner"), key=lambda r: r["start_ns"])
        (bare,) = store.runs(name="plain")
    auditora.shutdown()
    return [r["trace_id"] for r in roots] + [bare["trace_id"]]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tuple[Any, str, List[str]]]:
    """(browser, viewer URL, trace ids oldest first)."""
    path = tmp_path_factory.mktemp("browser-agents") / "agents.db"
    traces = _fill(path)
    server = make_server(path, port=0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser, server.url, traces
        browser.close()
    server.shutdown()
    server.server_close()
    thread.join(10)


@pytest.fixture()
def page(site: Tuple[Any, str, List[str]]) -> Iterator[Page]:
    p = Page(site[0], site[1])
    p.page.add_init_script("window.alert = () => { window.__xss = 'alert'; };")
    yield p
    p.close()
    assert (p.foreign, p.errors, p.dialogs) == ([], [], [])


def _graph(p: Page) -> Dict[str, Any]:
    """The drawn graph: nodes as {name: (kind, calls, name text, tooltip)}, edges as dicts."""
    graph: Dict[str, Any] = p.page.evaluate(
        """() => {
          const svg = document.querySelector('[data-section="agents"] svg.agent-graph');
          const nodes = {};
          svg.querySelectorAll("g.ag-node").forEach((g) => {
            nodes[g.dataset.name] = [g.dataset.node, g.dataset.calls,
              g.querySelector("text").textContent, g.querySelector("title").textContent];
          });
          const edges = Array.from(svg.querySelectorAll("g.ag-edge")).map((g) => ({
            kind: g.dataset.edge, count: g.dataset.count,
            label: g.querySelector("text").textContent,
            dash: getComputedStyle(g.querySelector("path")).strokeDasharray,
            head: g.querySelectorAll("polygon").length }));
          return { nodes, edges };
        }"""
    )
    return graph


def test_trace_page_draws_agents_tools_and_a_dashed_handoff(
    page: Page, site: Tuple[Any, str, List[str]]
) -> None:
    """A trace's Agents section has both agents and both tools as distinct nodes, call edges
    solid and the hand-off dashed, each labelled with its count and ending in an arrowhead."""
    page.goto(site[1] + "#/trace/" + site[2][0])
    g = _graph(page)
    assert {n: v[:2] for n, v in g["nodes"].items()} == {
        "planner": ["agent", "1"],
        "writer": ["agent", "1"],
        "search": ["tool", "1"],
        XSS: ["tool", "1"],
    }
    assert "calls 1" in g["nodes"]["writer"][3] and "tokens 15" in g["nodes"]["writer"][3]
    kinds = sorted((e["kind"], e["count"], e["label"]) for e in g["edges"])
    assert kinds == [
        ("call", "1", "\u00d71"),
        ("call", "1", "\u00d71"),
        ("call", "1", "\u00d71"),
        ("handoff", "1", "hand-off \u00d71"),
    ]
    for e in g["edges"]:
        assert e["head"] == 1
        assert (e["dash"] != "none") == (e["kind"] == "handoff")


def test_session_page_aggregates_the_graph_over_all_its_traces(
    page: Page, site: Tuple[Any, str, List[str]]
) -> None:
    """The session's graph counts every turn: each node called 3 times, the hand-off x3."""
    page.goto(site[1] + "#/session/" + SESSION)
    g = _graph(page)
    assert {n: v[1] for n, v in g["nodes"].items()} == {
        "planner": str(TURNS),
        "writer": str(TURNS),
        "search": str(TURNS),
        XSS: str(TURNS),
    }
    (handoff_edge,) = [e for e in g["edges"] if e["kind"] == "handoff"]
    assert handoff_edge["count"] == str(TURNS) and handoff_edge["dash"] != "none"
    note = page.page.text_content('[data-section="agents"] p') or ""
    assert f"Over {TURNS} traces" in note


def test_the_agents_section_collapses(page: Page, site: Tuple[Any, str, List[str]]) -> None:
    """Clicking the Agents heading hides the graph; clicking again shows it."""
    page.goto(site[1] + "#/trace/" + site[2][0])
    graph = page.page.locator("svg.agent-graph")
    assert graph.is_visible()
    page.page.click('[data-section="agents"] > summary')
    assert not graph.is_visible()
    page.page.click('[data-section="agents"] > summary')
    assert graph.is_visible()


def test_turns_list_the_sessions_traces_oldest_first_and_link_to_them(
    page: Page, site: Tuple[Any, str, List[str]]
) -> None:
    """Turns: one row per trace in start order with root name, start, status, duration,
    tokens and cost; a row's link opens that trace."""
    page.goto(site[1] + "#/session/" + SESSION)
    rows = page.rows("turns")
    assert [r["traceId"] for r in rows] == site[2][:TURNS]
    assert [(r["turn"], r["name"], r["status"], r["tokens"]) for r in rows] == [
        (str(i + 1), "planner", "ok", "15") for i in range(TURNS)
    ]
    assert all(r["cost"].startswith("$") and r["duration"] != "-" for r in rows)
    assert all(r["start_ns"].startswith("20") for r in rows)
    link = page.page.locator('table[data-table="turns"] tbody tr').nth(1).locator("a")
    assert link.get_attribute("href") == "#/trace/" + site[2][1]
    link.click()
    page.ready()
    assert site[2][1] in (page.page.text_content("h1") or "")


def test_the_payload_tool_name_renders_as_text(
    page: Page, site: Tuple[Any, str, List[str]]
) -> None:
    """The XSS tool name is a text node in the SVG on both pages: no element, no dialog."""
    for route in ("#/trace/" + site[2][0], "#/session/" + SESSION):
        page.goto(site[1] + route)
        names = page.page.eval_on_selector_all(
            "svg.agent-graph g.ag-node text", "(els) => els.map((e) => e.textContent)"
        )
        assert any(n.startswith("<img src=x") for n in names)
        assert page.page.locator("svg.agent-graph img").count() == 0
        _assert_inert(page)


def test_no_agents_section_for_a_trace_without_agents_or_tools(
    page: Page, site: Tuple[Any, str, List[str]]
) -> None:
    """A plain function's trace (its graph only the "(none)" node) has no Agents section,
    and its session page no graph, while the Turns list is still there."""
    page.goto(site[1] + "#/trace/" + site[2][-1])
    assert page.page.locator("[data-tree] [data-run-id]").count() == 1
    assert page.page.locator('[data-section="agents"]').count() == 0
    page.goto(site[1] + "#/session/plain-session")
    assert page.page.locator('[data-section="agents"]').count() == 0
    assert len(page.rows("turns")) == 1


AGENT_XSS = '"><svg onload=alert(2)>'


def test_an_agent_named_with_a_payload_renders_as_text(
    site: Tuple[Any, str, List[str]], tmp_path: Path
) -> None:
    """An agent whose name is markup is a text node in the graph: no element, no dialog."""
    path = tmp_path / "hostile.db"
    auditora.configure(store=str(path), console=False)

    @sentinel(kind="tool", name="lookup")
    def lookup() -> int:
        return 1

    @sentinel(agent=AGENT_XSS, name="hostile-agent")
    def hostile() -> int:
        return lookup()

    hostile()
    assert auditora.flush()
    from auditora.store import open_store

    with open_store(path) as store:
        (root,) = store.runs(name="hostile-agent")
    auditora.shutdown()
    server = make_server(path, port=0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        p = Page(site[0], server.url)
        p.page.add_init_script("window.alert = () => { window.__xss = 'alert'; };")
        p.goto(server.url + "#/trace/" + root["trace_id"])
        names = p.page.eval_on_selector_all(
            "svg.agent-graph g.ag-node text", "(els) => els.map((e) => e.textContent)"
        )
        assert any(n.startswith('"><svg') for n in names)
        assert p.page.locator("svg.agent-graph svg").count() == 0
        _assert_inert(p)
        p.close()
        assert (p.foreign, p.errors, p.dialogs) == ([], [], [])
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
