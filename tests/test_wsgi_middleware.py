"""The WSGI middleware with a real Flask app (and a bare WSGI app) under werkzeug's
threaded server on 127.0.0.1, called with httpx; every request lands in a real SQLite
store as one trace."""

from __future__ import annotations

import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Iterator, List

import pytest

import auditora

flask = pytest.importorskip("flask")
httpx = pytest.importorskip("httpx")

from _http_servers import serve_wsgi  # noqa: E402
from auditora import report, sentinel  # noqa: E402
from auditora.integrations.flask import instrument  # noqa: E402
from auditora.integrations.wsgi import AuditoraMiddleware  # noqa: E402
from auditora.store import open_store  # noqa: E402


@sentinel()
def shout(word: str) -> str:
    return word.upper()


@sentinel(kind="tool")
def lookup(n: int) -> int:
    return n * 2


def make_app() -> Any:
    app = flask.Flask("wsgi_test")

    @app.get("/ping")
    def ping() -> Dict[str, str]:
        return {"pong": "yes"}

    @app.get("/health")
    def health() -> Dict[str, str]:
        return {"ok": "yes"}

    @app.get("/items/<int:item_id>")
    def item(item_id: int) -> Dict[str, int]:
        return {"item": lookup(item_id)}

    @app.get("/missing")
    def missing() -> Any:
        flask.abort(404)

    @app.get("/boom")
    def boom() -> None:
        raise ValueError("the endpoint failed")

    @app.get("/stream")
    def stream() -> Any:
        def words() -> Iterator[str]:
            for word in ("one", "two", "three"):
                yield shout(word) + "\n"
            report.log_llm_call("gpt-4o-mini", prompt_tokens=10, completion_tokens=5)

        return flask.Response(words(), mimetype="text/plain")

    @app.get("/events")
    def events() -> Any:
        def sse() -> Iterator[str]:
            for n in range(500):
                lookup(n)
                yield f"data: {n}\n\n"
                time.sleep(0.01)

        return flask.Response(sse(), mimetype="text/event-stream")

    @app.get("/work/<int:n>")
    def work(n: int) -> Dict[str, Any]:
        lookup(n)
        time.sleep(0.001 * (n % 5))
        lookup(n)
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


def wait_for(monitor: Any, metric: str, count: int = 1) -> None:
    """Wait until ``count`` requests ended (a run ends after the last byte is sent)."""
    deadline = time.monotonic() + 10
    while monitor.get_metric(metric) < count:
        assert time.monotonic() < deadline, f"{metric} never reached {count}"
        time.sleep(0.02)


def test_a_json_endpoint_is_one_server_run_with_method_route_and_status(db: str) -> None:
    """GET /ping is one trace: a root run named after Flask's URL rule, of type server."""
    app = make_app()
    monitor = instrument(app)
    with serve_wsgi(app) as url:
        assert httpx.get(url + "/ping", timeout=10).json() == {"pong": "yes"}
        wait_for(monitor, "http.requests[GET /ping]")
    data = stored(db)
    assert len(data["traces"]) == 1
    run = root_of(data, "GET /ping")
    assert (run["run_type"], run["run_kind"], run["status"]) == ("server", "request", "ok")
    attributes = run["attributes"]
    assert attributes["http.request.method"] == "GET"
    assert attributes["http.route"] == "/ping"
    assert attributes["http.response.status_code"] == 200
    assert "client.address" not in attributes and "user_agent.original" not in attributes


def test_client_address_and_user_agent_are_kept_under_the_content_switch(db: str) -> None:
    """With capture_content on, the run keeps the client address and user agent."""
    auditora.configure(capture_content=True)
    app = make_app()
    monitor = instrument(app)
    with serve_wsgi(app) as url:
        httpx.get(url + "/items/7", headers={"user-agent": "tester/1.0"}, timeout=10)
        wait_for(monitor, "http.requests[GET /items/<int:item_id>]")
    attributes = root_of(stored(db), "GET /items/<int:item_id>")["attributes"]
    assert attributes["client.address"] == "127.0.0.1"
    assert attributes["user_agent.original"] == "tester/1.0"


def test_a_path_with_parameters_is_named_after_its_url_rule(db: str) -> None:
    """/items/1 and /items/2 are two traces named after the rule, each with its child."""
    app = make_app()
    monitor = instrument(app)
    label = "GET /items/<int:item_id>"
    with serve_wsgi(app) as url:
        for n in (1, 2):
            assert httpx.get(f"{url}/items/{n}", timeout=10).json() == {"item": 2 * n}
        wait_for(monitor, f"http.requests[{label}]", 2)
    data = stored(db)
    roots = [tree[0] for tree in data["trees"].values()]
    assert [r["name"] for r in roots] == [label] * 2
    assert all(names(r) == ["lookup"] for r in roots)
    assert monitor.get_metric(f"http.errors[{label}]") == 0


def test_a_streamed_body_stays_inside_the_request_run(db: str) -> None:
    """The sentinel calls and the LLM call made while the server iterates the body
    nest under the request's run, which ends after the last chunk."""
    app = make_app()
    monitor = instrument(app)
    with serve_wsgi(app) as url:
        assert httpx.get(url + "/stream", timeout=10).text.split() == ["ONE", "TWO", "THREE"]
        wait_for(monitor, "http.requests[GET /stream]")
    data = stored(db)
    assert len(data["traces"]) == 1
    run = root_of(data, "GET /stream")
    assert names(run) == ["shout"] * 3
    (call,) = data["llm_calls"]
    assert (call["run_id"], call["trace_id"]) == (run["run_id"], run["trace_id"])
    assert run["attributes"]["llm.total_tokens"] == 15
    assert monitor.get_metric("http.llm_tokens[GET /stream]") == 15


def test_an_sse_stream_dropped_by_the_client_is_a_cancelled_run(db: str) -> None:
    """The client reads three events and hangs up: the server closes the body early,
    the run ends cancelled, marked as a disconnect, with the calls made until then."""
    app = make_app()
    monitor = instrument(app)
    with serve_wsgi(app) as url:
        with httpx.stream("GET", url + "/events", timeout=10) as response:
            seen = []
            for line in response.iter_lines():
                if line.startswith("data:"):
                    seen.append(line)
                if len(seen) == 3:
                    break
        wait_for(monitor, "http.requests[GET /events]")
    run = root_of(stored(db), "GET /events")
    assert (run["status"], run["error_type"]) == ("cancelled", "ClientDisconnected")
    assert run["attributes"]["http.client_disconnected"] is True
    assert 3 <= len(run["children"]) < 500
    assert monitor.get_metric("http.disconnects[GET /events]") == 1


def test_an_exception_flask_answers_with_a_500_keeps_its_traceback(db: str) -> None:
    """Flask turns the exception into a 500 page; the run is an error with the traceback."""
    app = make_app()
    monitor = instrument(app)
    with serve_wsgi(app) as url:
        assert httpx.get(url + "/boom", timeout=10).status_code == 500
        assert httpx.get(url + "/missing", timeout=10).status_code == 404
        wait_for(monitor, "http.requests[GET /missing]")
    data = stored(db)
    run = root_of(data, "GET /boom")
    assert (run["status"], run["error_type"]) == ("error", "ValueError")
    assert "in boom" in run["traceback"]
    assert run["attributes"]["http.response.status_code"] == 500
    assert root_of(data, "GET /missing")["status"] == "ok"  # a 4xx is not an error
    assert monitor.get_metric("http.errors[GET /boom]") == 1


def test_200_concurrent_requests_never_cross_contexts(db: str) -> None:
    """200 requests over 50 threads of the client and the threaded server, each with its
    own session header: each is its own trace, in its own session, with its children."""
    app = make_app()
    monitor = instrument(app)
    with serve_wsgi(app) as url, httpx.Client(base_url=url, timeout=30) as client:

        def call(n: int) -> Dict[str, Any]:
            return client.get(f"/work/{n}", headers={"x-session-id": f"s{n}"}).json()

        with ThreadPoolExecutor(50) as pool:
            answers = list(pool.map(call, range(200)))
        wait_for(monitor, "http.requests[GET /work/<int:n>]", 200)
    data = stored(db)
    assert len(data["traces"]) == 200
    by_session = {}
    for tree in data["trees"].values():
        (root,) = tree
        by_session[root["session_id"]] = root
        assert names(root) == ["lookup", "lookup"]
        assert {c["session_id"] for c in root["children"]} == {root["session_id"]}
    for n, answer in enumerate(answers):
        assert answer == {"trace_id": by_session[f"s{n}"]["trace_id"], "session_id": f"s{n}"}


def test_a_callers_traceparent_and_baggage_are_continued(db: str) -> None:
    """The request's run is a child of the caller's span, in the caller's session."""
    trace_id, span_id = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    app = make_app()
    monitor = instrument(app)
    caller = {"traceparent": f"00-{trace_id}-{span_id}-01", "baggage": "session.id=caller"}
    with serve_wsgi(app) as url:
        httpx.get(url + "/items/3", headers=caller, timeout=10)
        wait_for(monitor, "http.requests[GET /items/<int:item_id>]")
    run = root_of(stored(db), "GET /items/<int:item_id>")
    assert (run["trace_id"], run["parent_id"], run["session_id"]) == (trace_id, span_id, "caller")
    assert names(run) == ["lookup"]


def bare_app(environ: Dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """A WSGI app with no framework: no route template, and a body that raises."""
    if environ["PATH_INFO"] == "/fail":
        raise RuntimeError("no body for you")
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello"]


def test_a_bare_wsgi_app_is_named_by_path_and_exclusions_pass_through(db: str) -> None:
    """Without a framework the raw path names the run; an exception raised by the app
    is an error run with its traceback; excluded paths and a disabled Auditora pass through."""
    app = AuditoraMiddleware(bare_app, exclude_paths=["/health"])
    with serve_wsgi(app) as url:
        assert httpx.get(url + "/hello/world", timeout=10).text == "hello"
        assert httpx.get(url + "/fail", timeout=10).status_code == 500
        assert httpx.get(url + "/health/db", timeout=10).text == "hello"
        auditora.configure(disabled=True)
        assert httpx.get(url + "/hello/again", timeout=10).text == "hello"
        auditora.configure(disabled=False)
        wait_for(app.monitor, "http.requests[GET /fail]")
    data = stored(db)
    assert sorted(t["root_name"] for t in data["traces"]) == ["GET /fail", "GET /hello/world"]
    failed = root_of(data, "GET /fail")
    assert (failed["status"], failed["error_type"]) == ("error", "RuntimeError")
    assert "no body for you" in failed["traceback"]
    assert root_of(data, "GET /hello/world")["attributes"].get("http.route") is None


def test_missing_flask_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without Flask, instrument() says what to install."""
    monkeypatch.setitem(sys.modules, "flask", None)
    with pytest.raises(ImportError, match="pip install flask"):
        instrument(object())


def test_the_session_header_is_configurable(db: str) -> None:
    """session_header="X-Conversation" names the session from that header."""
    app = make_app()
    monitor = instrument(app, session_header="X-Conversation")
    with serve_wsgi(app) as url:
        httpx.get(url + "/ping", headers={"x-conversation": "c-1"}, timeout=10)
        wait_for(monitor, "http.requests[GET /ping]")
    assert root_of(stored(db), "GET /ping")["session_id"] == "c-1"
