"""The viewer's paginated, filtered list APIs and its windowed trace view (over HTTP).

The store is written by the library (``tests/_ui_stores.search_store``).
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Dict, Iterator, Tuple

import pytest

from _ui_stores import NEEDLE, PAYLOAD, search_store
from auditora.viewer import ViewerServer, make_server
from auditora.viewer._lists import MAX_LIMIT, TRACE_WINDOW


def _get(server: ViewerServer, path: str) -> Tuple[int, Any]:
    try:
        with urllib.request.urlopen(server.url.rstrip("/") + path, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Tuple[ViewerServer, Dict[str, Any]]]:
    path = tmp_path_factory.mktemp("viewer-search") / "search.db"
    ids = search_store(path, big_trace=2_000)
    server = make_server(path, port=0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield server, ids
    server.shutdown()
    server.server_close()
    thread.join(10)


def test_traces_list_filters_sorts_and_pages(served: Tuple[ViewerServer, Dict[str, Any]]) -> None:
    """/api/traces pages (total, limit, offset), filters by status and name, sorts by cost."""
    server, _ = served
    _, page = _get(server, "/api/traces?limit=10")
    assert (page["total"], len(page["rows"]), page["limit"]) == (31, 10, 10)
    _, second = _get(server, "/api/traces?limit=10&offset=10")
    assert not {r["trace_id"] for r in page["rows"]} & {r["trace_id"] for r in second["rows"]}
    _, failed = _get(server, "/api/traces?status=error&limit=100")
    names = {r["name"] for r in failed["rows"]}
    assert names == {"order 03", "order 13", "order 23", "nightly batch"}
    assert all(r["status"] == "error" for r in failed["rows"])
    _, by_cost = _get(server, "/api/traces?sort=cost&limit=3")
    costs = [r["cost"] for r in by_cost["rows"]]
    assert costs == sorted(costs, reverse=True) and by_cost["rows"][0]["name"] == "order 29"
    _, named = _get(server, "/api/traces?name=ORDER%202")
    assert sorted(r["name"] for r in named["rows"]) == [f"order 2{i}" for i in range(10)]


def test_search_finds_the_needle_in_the_big_trace(
    served: Tuple[ViewerServer, Dict[str, Any]],
) -> None:
    """Free text finds the trace and the run whose error message holds it."""
    server, ids = served
    _, traces = _get(server, "/api/traces?q=needle-5e1f")
    _, runs = _get(server, "/api/runs?q=needle-5e1f")
    assert [t["trace_id"] for t in traces["rows"]] == [ids["big_trace"]]
    assert [r["run_id"] for r in runs["rows"]] == [ids["failing_run"]]
    assert runs["rows"][0]["error_message"] == NEEDLE


def test_every_list_is_bounded(served: Tuple[ViewerServer, Dict[str, Any]]) -> None:
    """A huge limit is capped at MAX_LIMIT; bad parameters are a 400 with a message."""
    server, _ = served
    for path in ("/api/traces", "/api/runs", "/api/sessions", "/api/llm_calls"):
        status, body = _get(server, path + "?limit=100000")
        assert (status, body["limit"], len(body["rows"]) <= MAX_LIMIT) == (200, MAX_LIMIT, True)
    assert _get(server, "/api/evaluation_results?limit=100000")[1]["limit"] == MAX_LIMIT
    status, body = _get(server, "/api/traces?limit=many")
    assert (status, body["error"]) == (400, "limit must be a whole number, not 'many'")
    status, body = _get(server, "/api/traces?sort=color")
    assert status == 400 and "cannot sort by 'color'" in body["error"]


def test_sessions_and_llm_calls_pages(served: Tuple[ViewerServer, Dict[str, Any]]) -> None:
    """Sessions search by id and sort by errors; LLM calls filter by model and status."""
    server, _ = served
    _, sessions = _get(server, "/api/sessions?q=shop-1&sort=errors")
    assert sessions["total"] == 10 and sessions["rows"][0]["session_id"] == "shop-13"
    _, calls = _get(server, "/api/llm_calls?model=claude-x")
    assert calls["total"] == 15 and {c["model"] for c in calls["rows"]} == {"claude-x"}
    _, text = _get(server, "/api/llm_calls?q=weather%2011")
    assert [c["input"][1]["content"] for c in text["rows"]] == ["weather 11?"]


def test_trace_window_rolls_up_and_windows_a_big_trace(
    served: Tuple[ViewerServer, Dict[str, Any]],
) -> None:
    """The trace answer is a window of the tree with subtree roll-ups; its status is error."""
    server, ids = served
    _, d = _get(server, f"/api/trace_window?id={ids['big_trace']}")
    root = d["rows"][0]
    assert (d["status"], d["runs_total"], len(d["rows"])) == ("error", ids["runs"], TRACE_WINDOW)
    assert (root["depth"], root["descendants"], root["errors"]) == (0, ids["runs"] - 1, 1)
    assert d["first_error"] == ids["failing_run"]


def test_deep_link_centres_the_window_on_its_run(
    served: Tuple[ViewerServer, Dict[str, Any]],
) -> None:
    """focus= returns the window holding that run, its ancestors open."""
    server, ids = served
    run = ids["failing_run"]
    _, d = _get(server, f"/api/trace_window?id={ids['big_trace']}&focus={run}")
    shown = [r["run_id"] for r in d["rows"]]
    assert run in shown and d["offset"] > 0
    status, _ = _get(server, f"/api/trace_window?id={ids['big_trace']}&focus=ffffffffffffffff")
    assert status == 404


def test_collapsed_subtrees_are_left_out(served: Tuple[ViewerServer, Dict[str, Any]]) -> None:
    """collapsed=<run ids> hides those runs' descendants, not the runs themselves."""
    server, ids = served
    _, d = _get(server, f"/api/trace_window?id={ids['big_trace']}")
    branch = d["rows"][1]
    _, c = _get(server, f"/api/trace_window?id={ids['big_trace']}&collapsed={branch['run_id']}")
    assert c["visible"] == d["visible"] - branch["descendants"]
    assert c["rows"][1]["run_id"] == branch["run_id"]
    assert c["rows"][2]["depth"] == 1  # the next branch, not the collapsed one's leaf


def test_run_detail_has_chat_content_and_bounded_children(
    served: Tuple[ViewerServer, Dict[str, Any]],
) -> None:
    """The run answer holds the captured LLM messages verbatim and pages its children."""
    server, _ = served
    _, traces = _get(server, "/api/traces?name=" + urllib.request.quote(PAYLOAD, safe=""))
    (row,) = traces["rows"]
    _, d = _get(server, f"/api/run_detail?id={row['run_id']}")
    (call,) = d["llm_calls"]
    assert [m["role"] for m in call["input"]] == ["system", "user", "tool"]
    assert (call["finish_reason"], call["cached_tokens"]) == ("stop", 5)
    assert d["children"]["total"] == 1 and d["run"]["name"] == PAYLOAD


def test_the_server_reopens_a_replaced_store(tmp_path: Path) -> None:
    """When the store file is replaced by another, the next answer reads the new one."""
    first, second = tmp_path / "a.db", tmp_path / "b.db"
    search_store(first, big_trace=40)
    server = make_server(first, port=0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        before = _get(server, "/api/traces")[1]["total"]
        import auditora
        from auditora import sentinel

        auditora.configure(store=str(second), console=False)
        sentinel(name="only one")(lambda: None)()
        assert auditora.flush()
        auditora.shutdown()
        for suffix in ("-wal", "-shm"):
            if os.path.exists(str(second) + suffix):
                os.remove(str(second) + suffix)
        os.replace(second, first)
        after = _get(server, "/api/traces")[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
    assert (before, after["total"], after["rows"][0]["name"]) == (31, 1, "only one")
    shutil.rmtree(tmp_path, ignore_errors=True)
