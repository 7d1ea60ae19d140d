"""The viewer's HTTP server: read-only, loopback, strict headers, a JSON API equal to the store."""

from __future__ import annotations

import http.client
import json
import threading
from pathlib import Path
from typing import Any, Dict, Iterator, Optional, Tuple
from urllib.parse import quote

import pytest

from _ui_stores import PAYLOAD, demo_store, xss_store
from auditora.store import StoreError, open_store
from auditora.viewer import ViewerServer, make_server
from auditora.viewer._server import to_json


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Tuple[Path, Dict[str, Any]]:
    """A demo store shared by the module."""
    path = tmp_path_factory.mktemp("viewer") / "demo.db"
    return path, demo_store(path)


def serve(path: Path) -> Tuple[ViewerServer, threading.Thread]:
    """Start a viewer on a free loopback port in a thread."""
    server = make_server(path, port=0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    return server, thread


@pytest.fixture()
def server(demo: Tuple[Path, Dict[str, Any]]) -> Iterator[ViewerServer]:
    """A running viewer on the demo store, stopped after the test."""
    srv, thread = serve(demo[0])
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(10)


def request(
    srv: ViewerServer, path: str, method: str = "GET", host: Optional[str] = None
) -> Tuple[int, Dict[str, str], bytes]:
    """One HTTP request to ``srv``; returns (status, headers, body)."""
    port = srv.server_address[1]
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Host": host} if host is not None else {}
    try:
        conn.request(method, path, headers=headers)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def get_json(srv: ViewerServer, path: str) -> Any:
    """GET ``path`` and decode its JSON body (status must be 200)."""
    status, _, body = request(srv, path)
    assert status == 200, body
    return json.loads(body)


def test_serves_on_loopback_by_default(server: ViewerServer) -> None:
    """The default bind address is 127.0.0.1 and the URL says so."""
    assert (server.server_address[0], server.url.startswith("http://127.0.0.1:")) == (
        "127.0.0.1",
        True,
    )


def test_index_and_assets_have_strict_headers(server: ViewerServer) -> None:
    """The page and its assets are served with a CSP that forbids inline and foreign scripts."""
    results = []
    for path in ("/", "/static/app.js", "/static/app.css"):
        status, headers, _ = request(server, path)
        csp = headers["content-security-policy"]
        results.append((status, "script-src 'self'" in csp, "unsafe-inline" in csp))
        assert headers["x-content-type-options"] == "nosniff"
    assert results == [(200, True, False)] * 3


def test_page_references_only_local_assets(server: ViewerServer) -> None:
    """index.html loads its script and style from this server (works offline)."""
    _, _, body = request(server, "/")
    page = body.decode()
    assert ("http://" in page, "https://" in page, "/static/app.js" in page) == (False, False, True)


def test_front_end_never_builds_html_from_strings() -> None:
    """The shipped JavaScript has no innerHTML/outerHTML/insertAdjacentHTML/document.write/eval."""
    from auditora.viewer._server import STATIC

    script = (STATIC / "app.js").read_text(encoding="utf-8")
    sinks = ["innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "Function("]
    assert [s for s in sinks if s in script] == []


def test_read_only(server: ViewerServer) -> None:
    """POST, PUT and DELETE are refused with 405."""
    assert [request(server, "/api/sessions", m)[0] for m in ("POST", "PUT", "DELETE")] == [405] * 3


def test_foreign_host_header_is_refused(server: ViewerServer) -> None:
    """A request naming another host (DNS rebinding) gets 403; localhost is fine."""
    port = server.server_address[1]
    assert (
        request(server, "/api/sessions", host=f"evil.example:{port}")[0],
        request(server, "/api/sessions", host=f"localhost:{port}")[0],
    ) == (403, 200)


def test_unknown_paths_and_ids_are_404(server: ViewerServer) -> None:
    """Unknown endpoints and unknown ids answer 404 with a JSON error."""
    statuses = [
        request(server, p)[0]
        for p in (
            "/nope",
            "/api/nope",
            "/api/session?id=nope",
            "/api/trace?id=nope",
            "/api/run?id=x",
        )
    ]
    assert statuses == [404] * 5


def test_sessions_api_matches_the_store(
    server: ViewerServer, demo: Tuple[Path, Dict[str, Any]]
) -> None:
    """Per session: runs, errors, LLM calls, tokens, cost, pass rate equal ``Store.sessions()``;
    the list is a page (rows, total, limit, offset)."""
    keys = ["run_count", "error_count", "llm_calls", "total_tokens", "cost", "evaluations"]
    keys.append("eval_pass_rate")
    with open_store(demo[0]) as store:
        expected = {s["session_id"]: [s[k] for k in keys] for s in store.sessions()}
    page = get_json(server, "/api/sessions?limit=200")
    actual = {s["session_id"]: [s[k] for k in keys] for s in page["rows"]}
    assert actual == expected and page["total"] == len(expected)


def test_overview_matches_the_store_summary(
    server: ViewerServer, demo: Tuple[Path, Dict[str, Any]]
) -> None:
    """The overview's totals equal ``Store.summary()``."""
    with open_store(demo[0]) as store:
        s = store.summary()
    ov = get_json(server, "/api/overview")
    assert [ov[k] for k in ("sessions", "runs", "traces", "errors", "llm_calls", "tokens")] == [
        s["sessions"],
        s["runs"],
        s["traces"],
        s["errors"],
        s["llm_calls"],
        s["total_tokens"],
    ]


def test_trace_api_has_every_run_and_record(
    server: ViewerServer, demo: Tuple[Path, Dict[str, Any]]
) -> None:
    """A trace's document lists all its runs (tree order) and all its LLM calls and evaluations."""
    with open_store(demo[0]) as store:
        runs = store.runs(session_id=demo[1]["session_id"], limit=None)
        tid = runs[0]["trace_id"]
        calls = store.llm_calls(trace_id=tid, limit=None)
        evals = store.evaluations(trace_id=tid, limit=None)
    doc = get_json(server, f"/api/trace?id={tid}")
    assert (
        sorted(r["run_id"] for r in doc["runs"]),
        doc["runs"][0]["depth"],
        len(doc["llm_calls"]),
        len(doc["evaluations"]),
    ) == (sorted(r["run_id"] for r in runs), 0, len(calls), len(evals))


def test_llm_api_totals_per_model(server: ViewerServer, demo: Tuple[Path, Dict[str, Any]]) -> None:
    """The LLM table's per-model tokens and call counts equal sums over ``Store.llm_calls()``."""
    with open_store(demo[0]) as store:
        calls = store.llm_calls(limit=None)
    expected: Dict[str, list] = {}
    for c in calls:
        slot = expected.setdefault(c["model"], [0, 0])
        slot[0] += 1
        slot[1] += (c["input_tokens"] or 0) + (c["output_tokens"] or 0)
    doc = get_json(server, "/api/llm")
    assert {m["model"]: [m["calls"], m["tokens"]] for m in doc["by_model"]} == expected


def test_evaluations_api_pass_rate_per_metric(
    server: ViewerServer, demo: Tuple[Path, Dict[str, Any]]
) -> None:
    """Per metric: count and pass rate equal what the store's evaluations give."""
    with open_store(demo[0]) as store:
        evals = store.evaluations(limit=None)
    expected: Dict[str, list] = {}
    for e in evals:
        slot = expected.setdefault(e["metric_name"], [0, 0])
        slot[0] += 1
        slot[1] += e["status"] == "PASS"
    doc = get_json(server, "/api/evaluations")
    assert {m["metric_name"]: [m["count"], m["pass_rate"]] for m in doc["by_metric"]} == {
        k: [n, p / n] for k, (n, p) in expected.items()
    }


def test_metrics_api_timers_are_distributions(server: ViewerServer) -> None:
    """Each timer's histogram counts add up to its number of timed events."""
    doc = get_json(server, "/api/metrics")
    assert [sum(b["count"] for b in t["histogram"]) for t in doc["timers"]] == [
        t["count"] for t in doc["timers"]
    ]


def test_hostile_ids_round_trip_through_the_api(tmp_path: Path) -> None:
    """A session id full of markup is found by its URL-encoded id and returned verbatim."""
    srv, thread = serve(xss_store(tmp_path / "xss.db"))
    try:
        doc = get_json(srv, "/api/session?id=" + quote(PAYLOAD, safe=""))
        sessions = get_json(srv, "/api/sessions")["rows"]
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(10)
    assert (doc["session"]["session_id"], [s["session_id"] for s in sessions]) == (
        PAYLOAD,
        [PAYLOAD],
    )


def test_missing_store_raises_store_error(tmp_path: Path) -> None:
    """make_server on a missing file raises StoreError (the CLI turns it into exit 1)."""
    with pytest.raises(StoreError):
        make_server(tmp_path / "missing.db", port=0)


def test_json_is_strict() -> None:
    """NaN and infinities become strings, so the browser's JSON.parse accepts every answer."""
    assert json.loads(to_json({"a": float("nan"), "b": [float("inf")], "c": 1.5})) == {
        "a": "nan",
        "b": ["inf"],
        "c": 1.5,
    }


def test_a_client_that_hangs_up_mid_request_costs_no_traceback(
    server: ViewerServer, capfd: pytest.CaptureFixture[str]
) -> None:
    """A browser tab closed while its request is being answered ends that answer quietly:
    no traceback on the terminal running ``auditora view``, and the next request is served."""
    import socket
    import struct
    import time

    host, port = server.server_address[:2]
    for _ in range(10):
        client = socket.create_connection((str(host), int(port)))
        client.sendall(b"GET /api/metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        # Linger 0: the close resets the connection, as a browser dropping a tab can.
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        client.close()
    time.sleep(0.5)
    assert get_json(server, "/api/overview")["sessions"] >= 1
    err = capfd.readouterr().err
    assert "Traceback" not in err and "Error" not in err, err[-2000:]
