"""The viewer and the store's search at scale: build a big store with the library, time every API.

Builds a store of ``--sessions`` sessions of ``--runs-per-session`` runs each (by default
100,000 x 10 = 1,000,000 runs) plus one trace of ``--big-trace`` runs (20,000) with one
failing run deep inside, through the recorder and the SQLite sink (the way an app
writes it), then starts the viewer on it and times every list API, 20 requests each:
p50/p95 latency and answer size, against the budget (p95 <= 300 ms, <= 500 KB).

    python benchmarks/viewer_scale.py --store /work/bigstore.db            # build + measure
    python benchmarks/viewer_scale.py --store /work/bigstore.db --reuse    # measure only
    python benchmarks/viewer_scale.py --sessions 200 --big-trace 300       # a smoke run
    python benchmarks/viewer_scale.py --store /work/bigstore.db --reuse --browser

``--browser`` also times the pages in Chromium (Playwright, Debian's ``/usr/bin/chromium``),
from navigation until the page is rendered, against the 1 s budget: the Traces and
Sessions pages, and finding the failing run by status (the failed-traces list, then the
deep link to the run) and by search.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
import warnings
from typing import Any, Dict, List, Optional, Tuple

import auditora
from auditora import DefaultMonitor, DefaultReport, DefaultSession, monitor, report, sentinel
from auditora.llm.pricing import UnknownModelWarning

MODELS = ("gpt-4o-mini", "gpt-4o", "claude-3-5-sonnet", "llama-3-70b")
NEEDLE = "needle-7f3a: the deep step lost its connection"
P95_BUDGET_MS = 300.0
SIZE_BUDGET = 500_000
PAGE_BUDGET_MS = 1000.0
CHROMIUM = "/usr/bin/chromium"
#: True once the page shown is the current route's, fully rendered.
READY = (
    "() => document.body.dataset.state === 'ready' && document.body.dataset.route === location.hash"
)


# -- building ------------------------------------------------------------------
@sentinel(kind="retriever")
def retrieve(i: int) -> List[str]:
    return [f"doc-{i % 97}"]


@sentinel(kind="llm")
def generate(i: int, step: int) -> str:
    report.log_llm_call(
        MODELS[(i + step) % len(MODELS)],
        200 + i % 300,
        50 + step * 7,
        0.2 + (i % 10) / 10,
        success=(i + step) % 97 != 0,
        finish_reason="stop",
    )
    return "ok"


@sentinel(kind="tool")
def tool(i: int) -> int:
    if i % 50 == 0:
        raise TimeoutError(f"tool timed out for request {i}")
    return i


def _session_body(i: int, runs: int) -> None:
    """One request: a root run and ``runs - 1`` children (retrieve, LLM steps, a tool),
    a timer, two counters and two evaluations, so every page of the viewer has rows."""
    with monitor.timer("retrieval"):
        retrieve(i)
    for step in range(runs - 3):
        generate(i, step)
    try:
        tool(i)
    except TimeoutError:
        monitor.increment_metric("tool_timeouts")
    monitor.increment_metric("requests")
    report.log_evaluation_result("relevance", (i % 100) / 100, 0.3)
    report.log_evaluation_result("latency_ok", 1.0 if i % 7 else 0.0, 0.5, label="sla")


@sentinel(name="deep step")
def _deep(level: int, fail: bool) -> None:
    if level == 0:
        if fail:
            raise ConnectionError(NEEDLE)
        return
    _deep(level - 1, fail)


def _big_trace(runs: int) -> None:
    """``runs`` runs in one trace: branches of depth 8; one failing leaf in the middle."""
    per_branch = 9  # "deep step" levels 8..0 plus the branch's own run
    branches = max(1, (runs - 1) // per_branch)

    @sentinel(name="batch branch")
    def branch(b: int) -> None:
        try:
            _deep(7, fail=b == branches // 2)
        except ConnectionError:
            pass

    @sentinel(
        session=DefaultSession(session_id="big-trace-session"),
        monitor=DefaultMonitor(),
        report=DefaultReport(echo=False),
        name="nightly batch",
    )
    def root() -> None:
        for b in range(branches):
            branch(b)

    root()


def build(path: str, sessions: int, runs_per_session: int, big_trace: int) -> Dict[str, Any]:
    """Write the store through the recorder and the SQLite sink; the figures of the build."""
    if os.path.exists(path):
        raise SystemExit(f"{path} exists: remove it or pass --reuse")
    auditora.configure(store=path, console=False)
    warnings.simplefilter("ignore", UnknownModelWarning)  # llama is left unpriced on purpose
    t0 = time.perf_counter()
    half = sessions // 2
    for i in range(sessions):
        handler = sentinel(
            session=DefaultSession(session_id=f"sess-{i:06d}"),
            monitor=DefaultMonitor(),
            report=DefaultReport(echo=False),
            name=f"handle {('search', 'chat', 'summarize', 'translate')[i % 4]}",
        )(_session_body)
        handler(i, runs_per_session)
        if i == half:
            _big_trace(big_trace)  # in the middle of the store, not the newest
        if i % 5000 == 4999:
            auditora.flush()
            print(f"  {i + 1:,} sessions, {time.perf_counter() - t0:.0f} s", flush=True)
    ok = auditora.flush()
    stats = auditora.stats()
    auditora.shutdown()
    took = time.perf_counter() - t0
    return {
        "seconds": took,
        "bytes": os.path.getsize(path),
        "flushed": ok,
        "dropped": stats.get("dropped"),
    }


# -- measuring -----------------------------------------------------------------
def _get(url: str) -> Tuple[float, int, Any]:
    t0 = time.perf_counter()
    with urllib.request.urlopen(url, timeout=60) as resp:
        body = resp.read()
    ms = (time.perf_counter() - t0) * 1000
    return ms, len(body), json.loads(body)


def measure(path: str, repeats: int = 20) -> List[Dict[str, Any]]:
    """Start the viewer on ``path`` and time each API answer ``repeats`` times."""
    from auditora.store import open_store
    from auditora.viewer import make_server

    server = make_server(path, host="127.0.0.1", port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with open_store(path) as store:
            big = store.find_traces(name="nightly batch", limit=1).rows[0]
            failing = store.find_runs(trace_id=big["trace_id"], status="error", limit=1).rows[0]
            session = store.find_sessions(limit=1).rows[0]["session_id"]
        trace, run = big["trace_id"], failing["run_id"]
        urls = [
            "/api/overview",
            "/api/traces",
            "/api/traces?sort=cost",
            "/api/traces?sort=errors",
            "/api/traces?status=error",
            "/api/traces?name=translate",
            "/api/traces?model=gpt-4o&offset=500",
            "/api/traces?min_duration_ms=5",
            "/api/traces?q=needle-7f3a",
            "/api/runs?status=error",
            "/api/runs?q=needle-7f3a",
            "/api/runs?sort=duration",
            "/api/sessions",
            "/api/sessions?sort=errors",
            "/api/sessions?q=sess-0999",
            "/api/llm_calls",
            "/api/llm_calls?status=error&sort=cost",
            "/api/evaluation_results",
            f"/api/session?id={session}",
            f"/api/trace_window?id={trace}",
            f"/api/trace_window?id={trace}&focus={run}",
            f"/api/run_detail?id={run}",
            "/api/llm",
            "/api/evaluations",
            "/api/metrics",
        ]
        out = []
        print(f"{'answer':<70} {'p50 ms':>8} {'p95 ms':>8} {'KB':>8}", flush=True)
        for url in urls:
            times, sizes = [], []
            for _ in range(repeats):
                ms, size, _body = _get(base + url)
                times.append(ms)
                sizes.append(size)
            times.sort()
            p95 = times[max(0, round(0.95 * len(times)) - 1)]
            out.append(
                {
                    "url": url,
                    "p50_ms": statistics.median(times),
                    "p95_ms": p95,
                    "bytes": max(sizes),
                    "ok": p95 <= P95_BUDGET_MS and max(sizes) <= SIZE_BUDGET,
                }
            )
            _show(out[-1])
        return out
    finally:
        server.shutdown()
        server.server_close()


def measure_pages(path: str, repeats: int = 5) -> List[Dict[str, Any]]:
    """Time each page in Chromium, from navigation until rendered (the best and the
    worst of ``repeats`` loads: a fresh page each time, so nothing is cached)."""
    from playwright.sync_api import sync_playwright

    from auditora.store import open_store
    from auditora.viewer import make_server

    with open_store(path) as store:
        big = store.find_traces(name="nightly batch", limit=1).rows[0]
        failing = store.find_runs(trace_id=big["trace_id"], status="error", limit=1).rows[0]
    routes = [
        ("Traces", "#/"),
        ("Sessions", "#/sessions"),
        ("failed traces", "#/traces?status=error"),
        ("the failing run (deep link)", f"#/trace/{big['trace_id']}/{failing['run_id']}"),
        ("search", "#/traces?q=needle-7f3a"),
    ]
    server = make_server(path, host="127.0.0.1", port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    out = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"]
            )
            print(f"{'page':<40} {'best ms':>8} {'worst ms':>8}", flush=True)
            for label, route in routes:
                times = []
                for _ in range(repeats):
                    page = browser.new_page()
                    t0 = time.perf_counter()
                    page.goto(server.url + route)
                    page.wait_for_function(READY, timeout=60_000)
                    times.append((time.perf_counter() - t0) * 1000)
                    page.close()
                worst = max(times)
                out.append({"page": label, "best_ms": min(times), "worst_ms": worst})
                flag = "" if worst <= PAGE_BUDGET_MS else "  OVER BUDGET"
                print(f"{label:<40} {min(times):8.0f} {worst:8.0f}{flag}", flush=True)
            browser.close()
    finally:
        server.shutdown()
        server.server_close()
    return out


def _show(r: Dict[str, Any]) -> None:
    flag = "" if r["ok"] else "  OVER BUDGET"
    print(
        f"{r['url'][:70]:<70} {r['p50_ms']:8.1f} {r['p95_ms']:8.1f} {r['bytes'] / 1000:8.1f}{flag}",
        flush=True,
    )


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--store", help="the store file (default: a temporary file)")
    parser.add_argument("--sessions", type=int, default=100_000, help="default: %(default)s")
    parser.add_argument("--runs-per-session", type=int, default=10, help="default: %(default)s")
    parser.add_argument("--big-trace", type=int, default=20_000, help="default: %(default)s")
    parser.add_argument("--repeats", type=int, default=20, help="default: %(default)s")
    parser.add_argument("--reuse", action="store_true", help="measure an existing store")
    parser.add_argument("--build-only", action="store_true", help="build, measure nothing")
    parser.add_argument("--browser", action="store_true", help="also time the pages in Chromium")
    args = parser.parse_args(argv)
    tmp = None
    path = args.store
    if path is None:
        tmp = tempfile.TemporaryDirectory()
        path = os.path.join(tmp.name, "viewer_scale.db")
    try:
        if not args.reuse:
            runs = args.sessions * args.runs_per_session + args.big_trace
            print(f"building {path}: about {runs:,} runs", flush=True)
            figures = build(path, args.sessions, args.runs_per_session, args.big_trace)
            print(
                f"built in {figures['seconds']:.1f} s, {figures['bytes'] / 1e6:.1f} MB,"
                f" flushed={figures['flushed']} dropped={figures['dropped']}",
                flush=True,
            )
        if args.build_only:
            return 0
        results = measure(path, args.repeats)
        ok = all(r["ok"] for r in results)
        if args.browser:
            pages = measure_pages(path)
            ok = ok and all(p["worst_ms"] <= PAGE_BUDGET_MS for p in pages)
        return 0 if ok else 1
    finally:
        if tmp is not None:
            tmp.cleanup()


if __name__ == "__main__":
    sys.exit(main())
