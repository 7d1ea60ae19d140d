"""The ASGI middleware with real FastAPI and Starlette apps under uvicorn on 127.0.0.1,
called with httpx; every request lands in a real SQLite store as one trace."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest

import auditora

fastapi = pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")
pytest.importorskip("uvicorn")

from fastapi import FastAPI, HTTPException  # noqa: E402
from fastapi.responses import StreamingResponse  # noqa: E402
from starlette.applications import Starlette  # noqa: E402
from starlette.responses import JSONResponse  # noqa: E402
from starlette.routing import Mount, Route  # noqa: E402

from _http_servers import serve_asgi  # noqa: E402
from auditora import report, sentinel  # noqa: E402
from auditora.integrations.asgi import AuditoraMiddleware  # noqa: E402
from auditora.integrations.fastapi import instrument  # noqa: E402
from auditora.store import open_store  # noqa: E402


@sentinel()
def shout(word: str) -> str:
    return word.upper()


@sentinel(kind="tool")
def lookup(n: int) -> int:
    return n * 2


def make_app() -> FastAPI:
    app = FastAPI()

    @app.get("/ping")
    def ping() -> Dict[str, str]:
        return {"pong": "yes"}

    @app.get("/health")
    def health() -> Dict[str, str]:
        return {"ok": "yes"}

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> Dict[str, int]:
        return {"item": lookup(item_id)}

    @app.get("/missing")
    def missing() -> None:
        raise HTTPException(status_code=404, detail="no such thing")

    @app.get("/boom")
    def boom() -> None:
        raise ValueError("the endpoint failed")

    @app.get("/stream")
    def stream() -> StreamingResponse:
        def words() -> Iterator[str]:  # a sync generator: Starlette steps it in a threadpool
            for word in ("one", "two", "three"):
                yield shout(word) + "\n"
            report.log_llm_call("gpt-4o-mini", prompt_tokens=10, completion_tokens=5)

        return StreamingResponse(words(), media_type="text/plain")

    @app.get("/astream")
    async def astream() -> StreamingResponse:
        async def words() -> Any:
            for word in ("four", "five"):
                await asyncio.sleep(0.01)
                yield shout(word) + "\n"
            report.log_llm_call("gpt-4o-mini", prompt_tokens=7, completion_tokens=3)

        return StreamingResponse(words(), media_type="text/plain")

    @app.get("/events")
    async def events() -> StreamingResponse:
        async def sse() -> Any:
            for n in range(500):
                lookup(n)
                yield f"data: {n}\n\n"
                await asyncio.sleep(0.01)

        return StreamingResponse(sse(), media_type="text/event-stream")

    @app.get("/work/{n}")
    async def work(n: int) -> Dict[str, Any]:
        lookup(n)
        await asyncio.sleep(0.001 * (n % 7))
        lookup(n)
        run = auditora.current_run()
        assert run is not None
        return {"trace_id": run.trace_id, "session_id": run.session_id}

    @app.get("/sync-work/{n}")
    def sync_work(n: int) -> Dict[str, Any]:  # runs in Starlette's threadpool
        lookup(n)
        time.sleep(0.001 * (n % 5))
        run = auditora.current_run()
        assert run is not None
        return {"trace_id": run.trace_id, "session_id": run.session_id}

    return app


@pytest.fixture()
def db(tmp_path: Path) -> str:
    path = str(tmp_path / "auditora.db")
    auditora.configure(store=path, console=False)
    return path


def stored(db: str) -> Dict[str, Any]:
    """Everything the store holds once the recorder has delivered it."""
    assert auditora.flush(10.0)
    with open_store(db) as store:
        traces = store.traces(limit=None)
        return {
            "traces": traces,
            "trees": {t["trace_id"]: store.trace_tree(t["trace_id"]) for t in traces},
            "llm_calls": store.llm_calls(limit=None),
        }


def root_of(data: Dict[str, Any], name: str) -> Dict[str, Any]:
    roots = [r for tree in data["trees"].values() for r in tree if r["name"] == name]
    assert len(roots) == 1, [r["name"] for t in data["trees"].values() for r in t]
    return roots[0]


def names(node: Dict[str, Any]) -> List[str]:
    return [c["name"] for c in node["children"]]


def test_a_json_endpoint_is_one_server_run_with_method_route_and_status(db: str) -> None:
    """GET /ping is one trace: a root run named after its route, of type server, status ok."""
    app = make_app()
    instrument(app)
    with serve_asgi(app) as url:
        response = httpx.get(url + "/ping", timeout=10)
    assert response.json() == {"pong": "yes"}
    data = stored(db)
    assert len(data["traces"]) == 1
    run = root_of(data, "GET /ping")
    assert (run["run_type"], run["run_kind"], run["status"]) == ("server", "request", "ok")
    assert run["parent_id"] is None and run["duration_ns"] > 0
    attributes = run["attributes"]
    assert attributes["http.request.method"] == "GET"
    assert attributes["http.route"] == "/ping"
    assert attributes["http.response.status_code"] == 200
    # The client's address and user agent are content: kept only under the switch.
    assert "client.address" not in attributes and "user_agent.original" not in attributes


def test_client_address_and_user_agent_are_kept_under_the_content_switch(db: str) -> None:
    """With capture_content on, the run keeps the client address, user agent and raw path."""
    auditora.configure(capture_content=True)
    app = make_app()
    instrument(app)
    with serve_asgi(app) as url:
        httpx.get(url + "/items/7", headers={"user-agent": "tester/1.0"}, timeout=10)
    run = root_of(stored(db), "GET /items/{item_id}")
    attributes = run["attributes"]
    assert attributes["client.address"] == "127.0.0.1"
    assert attributes["user_agent.original"] == "tester/1.0"
    assert attributes["url.path"] == "/items/7"


def test_a_path_with_parameters_is_named_after_its_route_template(db: str) -> None:
    """/items/1 and /items/2 are two traces named GET /items/{item_id}, each with its
    sentinel child; the route metrics count both under the template."""
    app = make_app()
    monitor = instrument(app)
    with serve_asgi(app) as url:
        for n in (1, 2):
            assert httpx.get(f"{url}/items/{n}", timeout=10).json() == {"item": 2 * n}
    data = stored(db)
    roots = [tree[0] for tree in data["trees"].values()]
    assert len(data["traces"]) == 2
    assert [r["name"] for r in roots] == ["GET /items/{item_id}"] * 2
    assert all(names(r) == ["lookup"] for r in roots)
    label = "GET /items/{item_id}"
    assert monitor.get_metric(f"http.requests[{label}]") == 2
    assert monitor.get_metric(f"http.errors[{label}]") == 0
    assert monitor.get_metric(f"http.duration_ms[{label}]") > 0
    buckets = [v for k, v in monitor.get_metrics().items() if k.startswith("http.latency_ms.")]
    assert sum(buckets) == 2


@pytest.mark.parametrize(
    ("path", "words", "tokens"),
    [("/stream", ["ONE", "TWO", "THREE"], 15), ("/astream", ["FOUR", "FIVE"], 10)],
)
def test_a_streamed_body_stays_inside_the_request_run(
    db: str, path: str, words: List[str], tokens: int
) -> None:
    """The sentinel calls and the LLM call made while the body streams (from a sync
    generator in the threadpool, or an async one) nest under the request's run."""
    app = make_app()
    monitor = instrument(app)
    with serve_asgi(app) as url:
        body = httpx.get(url + path, timeout=10).text
    assert body.split() == words
    data = stored(db)
    assert len(data["traces"]) == 1
    run = root_of(data, f"GET {path}")
    assert names(run) == ["shout"] * len(words)
    (call,) = data["llm_calls"]
    assert (call["run_id"], call["trace_id"]) == (run["run_id"], run["trace_id"])
    # The run ended after the last chunk: its totals include the call made then.
    assert run["attributes"]["llm.total_tokens"] == tokens
    assert all(c["end_ns"] <= run["end_ns"] for c in run["children"])
    assert monitor.get_metric(f"http.llm_tokens[GET {path}]") == tokens


def test_an_sse_stream_dropped_by_the_client_is_a_cancelled_run(db: str) -> None:
    """The client reads three events and hangs up: the run ends cancelled, marked as a
    disconnect, with the calls made until then inside it."""
    app = make_app()
    monitor = instrument(app)
    with serve_asgi(app) as url:
        with httpx.stream("GET", url + "/events", timeout=10) as response:
            seen = []
            for line in response.iter_lines():
                if line.startswith("data:"):
                    seen.append(line)
                if len(seen) == 3:
                    break
        deadline = time.monotonic() + 10
        while monitor.get_metric("http.requests[GET /events]") < 1:
            assert time.monotonic() < deadline, "the request's run never ended"
            time.sleep(0.02)
    data = stored(db)
    assert len(data["traces"]) == 1
    run = root_of(data, "GET /events")
    assert run["status"] == "cancelled"
    assert run["error_type"] == "ClientDisconnected"
    assert run["attributes"]["http.client_disconnected"] is True
    assert 3 <= len(run["children"]) < 500
    assert set(names(run)) == {"lookup"}
    assert monitor.get_metric("http.disconnects[GET /events]") == 1
    assert monitor.get_metric("http.errors[GET /events]") == 0


def test_an_exception_is_an_error_run_with_its_traceback(db: str) -> None:
    """The endpoint raises: the client gets a 500, the run is an error with the traceback."""
    app = make_app()
    monitor = instrument(app)
    with serve_asgi(app) as url:
        assert httpx.get(url + "/boom", timeout=10).status_code == 500
    run = root_of(stored(db), "GET /boom")
    assert (run["status"], run["error_type"]) == ("error", "ValueError")
    assert run["error_message"] == "the endpoint failed"
    assert "in boom" in run["traceback"] and "the endpoint failed" in run["traceback"]
    assert run["attributes"]["http.response.status_code"] == 500
    assert monitor.get_metric("http.errors[GET /boom]") == 1


def test_a_4xx_is_not_an_error_unless_configured(tmp_path: Path) -> None:
    """A 404 from an HTTPException is an ok run; with error_status=400 it is an error."""
    for error_status, expected in ((500, "ok"), (400, "error")):
        db = str(tmp_path / f"auditora-{error_status}.db")
        auditora.configure(store=db, console=False)
        app = make_app()
        instrument(app, error_status=error_status)
        with serve_asgi(app) as url:
            assert httpx.get(url + "/missing", timeout=10).status_code == 404
            assert httpx.get(url + "/no/such/route", timeout=10).status_code == 404
        data = stored(db)
        run = root_of(data, "GET /missing")
        assert run["status"] == expected
        assert run["attributes"]["http.response.status_code"] == 404
        # No route matched: the raw path names the run.
        assert root_of(data, "GET /no/such/route")["status"] == expected
        auditora.testing.reset()


def test_200_concurrent_requests_never_cross_contexts(db: str) -> None:
    """200 requests at once (async and threadpool endpoints), each with its own
    session header: each is its own trace, in its own session, with its children."""

    async def main(url: str) -> List[Dict[str, Any]]:
        limits = httpx.Limits(max_connections=200)
        async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:
            calls = [
                client.get(
                    f"/work/{n}" if n % 2 else f"/sync-work/{n}", headers={"x-session-id": f"s{n}"}
                )
                for n in range(200)
            ]
            return [r.json() for r in await asyncio.gather(*calls)]

    app = make_app()
    instrument(app)
    with serve_asgi(app) as url:
        answers = asyncio.run(main(url))
    data = stored(db)
    assert len(data["traces"]) == 200
    by_session = {}
    for tree in data["trees"].values():
        (root,) = tree
        by_session[root["session_id"]] = root
        expected = ["lookup", "lookup"] if root["name"] == "GET /work/{n}" else ["lookup"]
        assert names(root) == expected
        assert {c["session_id"] for c in root["children"]} == {root["session_id"]}
    for n, answer in enumerate(answers):
        root = by_session[f"s{n}"]
        assert answer == {"trace_id": root["trace_id"], "session_id": f"s{n}"}


def test_a_callers_traceparent_and_baggage_are_continued(db: str) -> None:
    """The request's run is a child of the caller's span, in the caller's session
    (from baggage); the session header, when sent, wins over baggage."""
    trace_id, span_id = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    app = make_app()
    instrument(app)
    with serve_asgi(app) as url:
        caller = {
            "traceparent": f"00-{trace_id}-{span_id}-01",
            "baggage": "session.id=caller-session,other=1",
        }
        httpx.get(url + "/items/3", headers=caller, timeout=10)
        httpx.get(url + "/ping", headers={**caller, "x-session-id": "explicit"}, timeout=10)
        httpx.get(url + "/ping", headers={"traceparent": "00-garbage"}, timeout=10)
    data = stored(db)
    (tree,) = [t for tid, t in data["trees"].items() if tid == trace_id]
    runs = {r["name"]: r for r in tree}
    assert {r["parent_id"] for r in tree} == {span_id}
    assert runs["GET /items/{item_id}"]["session_id"] == "caller-session"
    assert names(runs["GET /items/{item_id}"]) == ["lookup"]
    assert runs["GET /ping"]["session_id"] == "explicit"
    # An invalid traceparent is ignored (the W3C rule): a trace of its own.
    assert len(data["traces"]) == 2


def test_excluded_paths_and_disabled_auditora_pass_through(db: str) -> None:
    """/health is never recorded; while Auditora is disabled no request is."""
    app = make_app()
    instrument(app, exclude_paths=["/health"])
    with serve_asgi(app) as url:
        assert httpx.get(url + "/health", timeout=10).json() == {"ok": "yes"}
        assert httpx.get(url + "/ping", timeout=10).json() == {"pong": "yes"}
    auditora.configure(disabled=True)  # read at each request
    with serve_asgi(app) as url:
        assert httpx.get(url + "/ping", timeout=10).json() == {"pong": "yes"}
    auditora.configure(disabled=False)
    assert [t["root_name"] for t in stored(db)["traces"]] == ["GET /ping"]


def test_a_starlette_app_with_a_mount_names_runs_with_the_full_template(db: str) -> None:
    """Plain Starlette, a route inside a Mount: the template includes the mount's prefix."""

    async def user(request: Any) -> JSONResponse:
        return JSONResponse({"user": request.path_params["name"]})

    app = Starlette(routes=[Mount("/api", routes=[Route("/users/{name}", user)])])
    wrapped = AuditoraMiddleware(app)
    with serve_asgi(wrapped) as url:
        assert httpx.get(url + "/api/users/ada", timeout=10).json() == {"user": "ada"}
    assert root_of(stored(db), "GET /api/users/{name}")["attributes"]["http.route"] == (
        "/api/users/{name}"
    )


def test_bad_options_fail_with_one_line_errors() -> None:
    """Wrong option values are rejected when the middleware is made."""
    app = make_app()
    with pytest.raises(TypeError, match="exclude_paths"):
        AuditoraMiddleware(app, exclude_paths="/health")
    with pytest.raises(ValueError, match="starting with '/'"):
        AuditoraMiddleware(app, exclude_paths=["health"])
    with pytest.raises(ValueError, match="error_status"):
        AuditoraMiddleware(app, error_status=42)
    with pytest.raises(TypeError, match="FastAPI or Starlette"):
        instrument(object())


def test_missing_starlette_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without Starlette, instrument() names the extra to install."""
    monkeypatch.setitem(sys.modules, "starlette", None)
    with pytest.raises(ImportError, match=r"pip install 'auditora\[asgi\]'"):
        instrument(object())


def test_the_session_header_is_configurable(db: str) -> None:
    """session_header="X-Conversation" names the session from that header (any case)."""
    app = make_app()
    instrument(app, session_header="X-Conversation")
    with serve_asgi(app) as url:
        httpx.get(
            url + "/ping", headers={"x-conversation": "c-1", "x-session-id": "no"}, timeout=10
        )
    assert root_of(stored(db), "GET /ping")["session_id"] == "c-1"
