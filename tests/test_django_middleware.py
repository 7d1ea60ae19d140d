"""The Django middleware with the real Django package: a minimal ``settings.configure()``
project whose ``MIDDLEWARE`` lists ``auditora.integrations.django.AuditoraMiddleware``,
its WSGI handler served by werkzeug's threaded server on 127.0.0.1 and called with httpx;
every request lands in a real SQLite store as one trace."""

from __future__ import annotations

import asyncio
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, AsyncIterator, Dict, Iterator, Tuple

import pytest

import auditora

django = pytest.importorskip("django")
httpx = pytest.importorskip("httpx")
pytest.importorskip("werkzeug")

from django.conf import settings as django_settings  # noqa: E402

if not django_settings.configured:
    django_settings.configure(
        DEBUG=False,
        SECRET_KEY="auditora-tests",
        ALLOWED_HOSTS=["127.0.0.1"],
        ROOT_URLCONF=__name__,
        MIDDLEWARE=["auditora.integrations.django.AuditoraMiddleware"],
        INSTALLED_APPS=[],
        # Django logs every 500 on django.request; the tests read the runs instead.
        LOGGING_CONFIG=None,
    )
    django.setup()

from django.core.exceptions import ImproperlyConfigured  # noqa: E402
from django.core.handlers.asgi import ASGIHandler  # noqa: E402
from django.core.handlers.wsgi import WSGIHandler  # noqa: E402
from django.http import Http404, JsonResponse, StreamingHttpResponse  # noqa: E402
from django.test import override_settings  # noqa: E402
from django.urls import path, re_path  # noqa: E402

from _http_servers import serve_asgi, serve_wsgi  # noqa: E402
from auditora import report, sentinel  # noqa: E402
from auditora.integrations.django import (  # noqa: E402
    AuditoraMiddleware,
    RouteMonitor,
    route_template,
)
from test_wsgi_middleware import names, root_of, stored, wait_for  # noqa: E402


@sentinel()
def shout(word: str) -> str:
    return word.upper()


@sentinel(kind="tool")
def lookup(n: int) -> int:
    return n * 2


def ping(request: Any) -> JsonResponse:
    return JsonResponse({"pong": "yes"})


def item(request: Any, id: int) -> JsonResponse:
    return JsonResponse({"item": lookup(id)})


def article(request: Any, year: str) -> JsonResponse:
    return JsonResponse({"year": year})


def stream(request: Any) -> StreamingHttpResponse:
    def words() -> Iterator[str]:
        for word in ("one", "two", "three"):
            yield shout(word) + "\n"
        report.log_llm_call("gpt-4o-mini", prompt_tokens=10, completion_tokens=5)

    return StreamingHttpResponse(words(), content_type="text/plain")


def events(request: Any) -> StreamingHttpResponse:
    def sse() -> Iterator[str]:
        for n in range(500):
            lookup(n)
            yield f"data: {n}\n\n"
            time.sleep(0.01)

    return StreamingHttpResponse(sse(), content_type="text/event-stream")


def astream(request: Any) -> StreamingHttpResponse:
    async def words() -> AsyncIterator[str]:
        for word in ("one", "two", "three"):
            yield shout(word) + "\n"
        report.log_llm_call("gpt-4o-mini", prompt_tokens=10, completion_tokens=5)

    return StreamingHttpResponse(words(), content_type="text/plain")


def aevents(request: Any) -> StreamingHttpResponse:
    async def sse() -> AsyncIterator[str]:
        for n in range(500):
            lookup(n)
            yield f"data: {n}\n\n"
            await asyncio.sleep(0.01)

    return StreamingHttpResponse(sse(), content_type="text/event-stream")


def boom(request: Any) -> None:
    raise ValueError("the view failed")


def missing(request: Any) -> None:
    raise Http404("no such thing")


def work(request: Any, n: int) -> JsonResponse:
    lookup(n)
    time.sleep(0.001 * (n % 5))
    lookup(n)
    run = auditora.current_run()
    assert run is not None
    return JsonResponse({"trace_id": run.trace_id, "session_id": run.session_id})


urlpatterns = [
    path("ping", ping),
    path("health", ping),
    path("items/<int:id>", item),
    re_path(r"^articles/(?P<year>[0-9]{4})/$", article),
    path("stream", stream),
    path("events", events),
    path("astream", astream),
    path("aevents", aevents),
    path("boom", boom),
    path("missing", missing),
    path("work/<int:n>", work),
]


@pytest.fixture()
def db(tmp_path: Path) -> str:
    path = str(tmp_path / "auditora.db")
    auditora.configure(store=path, console=False)
    return path


@contextmanager
def served(**options: Any) -> Iterator[Tuple[str, RouteMonitor]]:
    """This module's Django project on 127.0.0.1 with ``options`` in the
    ``AUDITORA_MIDDLEWARE`` setting; its URL and the middleware's monitor."""
    monitor = RouteMonitor()
    with override_settings(AUDITORA_MIDDLEWARE={"monitor": monitor, **options}):
        handler = WSGIHandler()  # builds the middleware chain: the options are read now
    with serve_wsgi(handler) as url:
        yield url, monitor


def test_a_json_view_is_one_server_run_named_after_its_url_pattern(db: str) -> None:
    """GET /ping is one trace: a root server run named after the pattern, with the method,
    route and status code; no client address or user agent without the content switch."""
    with served() as (url, monitor):
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


def test_a_path_with_parameters_is_named_after_its_route_template(db: str) -> None:
    """/items/1 and /items/2 are two traces named ``GET /items/<int:id>`` (Django's route,
    written from the root as Flask's rules are), each with its sentinel child; a
    ``re_path`` pattern is named by its regex without the anchors."""
    label = "GET /items/<int:id>"
    with served() as (url, monitor):
        for n in (1, 2):
            assert httpx.get(f"{url}/items/{n}", timeout=10).json() == {"item": 2 * n}
        assert httpx.get(url + "/articles/2024/", timeout=10).json() == {"year": "2024"}
        wait_for(monitor, "http.requests[GET /articles/(?P<year>[0-9]{4})/]")
        wait_for(monitor, f"http.requests[{label}]", 2)
    data = stored(db)
    roots = [tree[0] for tree in data["trees"].values()]
    assert sorted(r["name"] for r in roots) == [
        "GET /articles/(?P<year>[0-9]{4})/",
        label,
        label,
    ]
    assert all(names(r) == ["lookup"] for r in roots if r["name"] == label)
    assert monitor.get_metric(f"http.errors[{label}]") == 0


def test_a_streaming_response_stays_inside_the_request_run(db: str) -> None:
    """The sentinel calls and the LLM call the StreamingHttpResponse's generator makes while
    the server iterates it nest under the request's run, which ends after the last chunk
    and counts the call's tokens in the route metrics."""
    with served() as (url, monitor):
        assert httpx.get(url + "/stream", timeout=10).text.split() == ["ONE", "TWO", "THREE"]
        wait_for(monitor, "http.requests[GET /stream]")
    data = stored(db)
    assert len(data["traces"]) == 1
    run = root_of(data, "GET /stream")
    assert (run["status"], names(run)) == ("ok", ["shout"] * 3)
    (call,) = data["llm_calls"]
    assert (call["run_id"], call["trace_id"]) == (run["run_id"], run["trace_id"])
    assert run["attributes"]["llm.total_tokens"] == 15
    assert monitor.get_metric("http.llm_tokens[GET /stream]") == 15


def test_a_stream_dropped_by_the_client_is_a_cancelled_run(db: str) -> None:
    """The client reads three events and hangs up: the server closes the response early,
    the run ends cancelled, marked as a disconnect, with the calls made until then."""
    with served() as (url, monitor):
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


def test_a_view_that_raises_is_an_error_run_with_its_traceback(db: str) -> None:
    """Django answers the exception with a 500; the run is an error with the exception's
    type and traceback (handed over by process_exception). A 404, raised by a view or for a
    path no pattern matches, is not an error."""
    with served() as (url, monitor):
        assert httpx.get(url + "/boom", timeout=10).status_code == 500
        assert httpx.get(url + "/missing", timeout=10).status_code == 404
        assert httpx.get(url + "/nowhere", timeout=10).status_code == 404
        wait_for(monitor, "http.requests[GET <unmatched>]")
        wait_for(monitor, "http.requests[GET /missing]")
    data = stored(db)
    assert len(data["traces"]) == 3
    run = root_of(data, "GET /boom")
    assert (run["status"], run["error_type"], run["error_message"]) == (
        "error",
        "ValueError",
        "the view failed",
    )
    assert "in boom" in run["traceback"]
    assert run["attributes"]["http.response.status_code"] == 500
    assert monitor.get_metric("http.errors[GET /boom]") == 1
    for name in ("GET /missing", "GET /nowhere"):
        answered = root_of(data, name)
        assert (answered["status"], answered["traceback"]) == ("ok", None)
        assert answered["attributes"]["http.response.status_code"] == 404
    assert "http.route" not in root_of(data, "GET /nowhere")["attributes"]


def test_error_status_400_makes_a_404_an_error(db: str) -> None:
    """With ``error_status=400`` the Http404 a view raised is the run's error."""
    with served(error_status=400) as (url, monitor):
        assert httpx.get(url + "/missing", timeout=10).status_code == 404
        wait_for(monitor, "http.requests[GET /missing]")
    run = root_of(stored(db), "GET /missing")
    assert (run["status"], run["error_type"]) == ("error", "Http404")
    assert "in missing" in run["traceback"]


def test_50_concurrent_requests_never_cross_contexts(db: str) -> None:
    """50 requests at once, each with its own session header: each is its own trace, in its
    own session, with its own two children, and the view saw its own run."""
    with served() as (url, monitor), httpx.Client(base_url=url, timeout=30) as client:

        def call(n: int) -> Dict[str, Any]:
            return client.get(f"/work/{n}", headers={"x-session-id": f"s{n}"}).json()

        with ThreadPoolExecutor(50) as pool:
            answers = list(pool.map(call, range(50)))
        wait_for(monitor, "http.requests[GET /work/<int:n>]", 50)
    data = stored(db)
    assert len(data["traces"]) == 50
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
    caller = {"traceparent": f"00-{trace_id}-{span_id}-01", "baggage": "session.id=caller"}
    with served() as (url, monitor):
        httpx.get(url + "/items/3", headers=caller, timeout=10)
        wait_for(monitor, "http.requests[GET /items/<int:id>]")
    run = root_of(stored(db), "GET /items/<int:id>")
    assert (run["trace_id"], run["parent_id"], run["session_id"]) == (trace_id, span_id, "caller")
    assert names(run) == ["lookup"]


def test_excluded_paths_a_disabled_auditora_and_the_session_header_option(db: str) -> None:
    """An excluded path and any request while Auditora is disabled pass through
    unrecorded; ``session_header`` names the header the session comes from."""
    with served(exclude_paths=["/health"], session_header="X-Conversation") as (url, monitor):
        assert httpx.get(url + "/health", timeout=10).json() == {"pong": "yes"}
        auditora.configure(disabled=True)
        # (a @sentinel reads the switch when it decorates: this view calls none)
        assert httpx.get(url + "/articles/2024/", timeout=10).json() == {"year": "2024"}
        auditora.configure(disabled=False)
        httpx.get(url + "/ping", headers={"x-conversation": "c-1"}, timeout=10)
        wait_for(monitor, "http.requests[GET /ping]")
    data = stored(db)
    assert [t["root_name"] for t in data["traces"]] == ["GET /ping"]
    assert root_of(data, "GET /ping")["session_id"] == "c-1"


def test_client_address_and_user_agent_are_kept_under_the_content_switch(db: str) -> None:
    """With capture_content on, the run keeps the client address and user agent."""
    auditora.configure(capture_content=True)
    with served() as (url, monitor):
        httpx.get(url + "/ping", headers={"user-agent": "tester/1.0"}, timeout=10)
        wait_for(monitor, "http.requests[GET /ping]")
    attributes = root_of(stored(db), "GET /ping")["attributes"]
    assert (attributes["client.address"], attributes["user_agent.original"]) == (
        "127.0.0.1",
        "tester/1.0",
    )


@pytest.mark.filterwarnings("ignore:StreamingHttpResponse must consume synchronous iterators")
def test_under_asgi_the_same_middleware_records_the_same_runs(db: str) -> None:
    """Served by Django's ASGI handler under uvicorn, the sync middleware runs in Django's
    thread with the request's context: a view's child, a streamed body's children and LLM
    call, and a view's exception land in each request's own run."""
    pytest.importorskip("uvicorn")
    monitor = RouteMonitor()
    with override_settings(AUDITORA_MIDDLEWARE={"monitor": monitor}):
        handler = ASGIHandler()
    with serve_asgi(handler) as url:
        assert httpx.get(url + "/items/4", timeout=10).json() == {"item": 8}
        assert httpx.get(url + "/stream", timeout=10).text.split() == ["ONE", "TWO", "THREE"]
        assert httpx.get(url + "/boom", timeout=10).status_code == 500
        wait_for(monitor, "http.requests[GET /boom]")
    data = stored(db)
    assert len(data["traces"]) == 3
    assert names(root_of(data, "GET /items/<int:id>")) == ["lookup"]
    streamed = root_of(data, "GET /stream")
    assert names(streamed) == ["shout"] * 3
    assert [c["run_id"] for c in data["llm_calls"]] == [streamed["run_id"]]
    failed = root_of(data, "GET /boom")
    assert (failed["status"], failed["error_type"]) == ("error", "ValueError")
    assert "in boom" in failed["traceback"]


def test_under_asgi_an_async_streamed_body_stays_inside_the_request_run(db: str) -> None:
    """An async StreamingHttpResponse under Django's ASGI handler: the calls its async
    generator makes nest under the request's run, which ends after the last chunk; a
    client that hangs up half-way leaves a cancelled run marked as a disconnect."""
    pytest.importorskip("uvicorn")
    monitor = RouteMonitor()
    with override_settings(AUDITORA_MIDDLEWARE={"monitor": monitor}):
        handler = ASGIHandler()
    with serve_asgi(handler) as url:
        assert httpx.get(url + "/astream", timeout=10).text.split() == ["ONE", "TWO", "THREE"]
        with httpx.stream("GET", url + "/aevents", timeout=10) as response:
            seen = [line for _, line in zip(range(6), response.iter_lines()) if line]
        assert len(seen) == 3
        wait_for(monitor, "http.requests[GET /aevents]")
    data = stored(db)
    assert len(data["traces"]) == 2
    streamed = root_of(data, "GET /astream")
    assert (streamed["status"], names(streamed)) == ("ok", ["shout"] * 3)
    assert [c["run_id"] for c in data["llm_calls"]] == [streamed["run_id"]]
    dropped = root_of(data, "GET /aevents")
    assert (dropped["status"], dropped["error_type"]) == ("cancelled", "ClientDisconnected")
    assert 3 <= len(dropped["children"]) < 500
    assert monitor.get_metric("http.disconnects[GET /aevents]") == 1


def test_an_unknown_option_is_improperly_configured() -> None:
    """A misspelt option in AUDITORA_MIDDLEWARE stops Django at start-up with the list."""
    misspelt = {"exclude_path": ["/health"]}
    raises = pytest.raises(ImproperlyConfigured, match="exclude_paths")
    with override_settings(AUDITORA_MIDDLEWARE=misspelt), raises:
        WSGIHandler()


def test_without_django_the_middleware_says_how_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The module imports without Django; building the middleware says what to install."""
    monkeypatch.setitem(sys.modules, "django.conf", None)
    with pytest.raises(ImportError, match=r"pip install 'auditora\[django\]'"):
        AuditoraMiddleware(lambda request: None)


def test_route_template_is_none_without_a_match() -> None:
    """A request Django resolved to no pattern has no route template."""

    class Unresolved:
        resolver_match = None

    assert route_template(Unresolved()) is None
