"""The request logic both HTTP middleware share (auditora.integrations._http), without a server."""

from __future__ import annotations

from auditora.integrations._http import MAX_ROUTES, RequestTracer, RouteMonitor
from auditora.testing import capture


def test_a_route_monitor_sends_its_snapshot_at_most_once_per_interval() -> None:
    """Route metrics change at every request; the snapshot goes out once per interval."""
    tracer = RequestTracer(monitor=RouteMonitor(snapshot_interval=3600))
    with capture() as records:
        for path in ("/a", "/b", "/c"):
            request = tracer.start("GET", path, {}, None, None)
            request.status = 200
            tracer.finish(request, path, None)
    assert len(records.runs) == 3
    (snapshot,) = records.metrics
    assert snapshot.metrics == {
        "http.requests[GET /a]": 1.0,
        "http.duration_ms[GET /a]": snapshot.metrics["http.duration_ms[GET /a]"],
        "http.latency_ms.le_5[GET /a]": 1.0,
    }
    assert tracer.monitor.get_metric("http.requests[GET /c]") == 1


def test_requests_naming_a_session_share_it_and_the_others_share_the_middlewares() -> None:
    """One session object per named id (its state carries over); requests naming none,
    or an unusable id (too long, unprintable), share the middleware's session."""
    tracer = RequestTracer()
    named = [
        {"x-session-id": "bob"},
        {"x-session-id": "bob"},
        {},
        {"x-session-id": "x" * 300},
        {"x-session-id": "bad\nid"},
    ]
    requests = [tracer.start("GET", "/", headers, None, None) for headers in named]
    runs = [request.run for request in requests]
    assert runs[0].session is runs[1].session and runs[0].session_id == "bob"
    assert runs[2].session is runs[3].session is runs[4].session is tracer.session
    for request in reversed(requests):
        tracer.finish(request, "/", None)


def test_route_labels_are_bounded_and_methods_normalized() -> None:
    """Paths with no route count under their path up to MAX_ROUTES labels, then <other>;
    a 404 with no route is <unmatched>; an unknown method is _OTHER."""
    tracer = RequestTracer()
    for n in range(MAX_ROUTES + 5):
        request = tracer.start("GET", f"/p{n}", {}, None, None)
        request.status = 200
        tracer.finish(request, None, None)
    request = tracer.start("BREW", "/pot", {}, None, None)
    request.status = 404
    tracer.finish(request, None, None)
    metrics = tracer.monitor.get_metrics()
    requests = {k for k in metrics if k.startswith("http.requests[")}
    assert len(requests) == MAX_ROUTES + 2
    assert metrics["http.requests[GET <other>]"] == 5
    assert metrics["http.requests[_OTHER <unmatched>]"] == 1
    assert request.run.name == "_OTHER /pot"


def test_excluded_paths_cover_what_lies_below_them() -> None:
    """/health excludes /health and /health/db, not /healthy."""
    tracer = RequestTracer(exclude_paths=["/health/"])
    assert [tracer.excluded(p) for p in ("/health", "/health/db", "/healthy", "/")] == [
        True,
        True,
        False,
        False,
    ]
