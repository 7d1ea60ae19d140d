"""The viewer and the static report in a real browser (Playwright driving Debian's Chromium).

The pages must show the store's numbers, navigate from a session into a trace
and a run, load nothing from the network, and render injection payloads as
text without running them.
"""

from __future__ import annotations

import math
import os
import threading
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple
from urllib.parse import quote

import pytest

from _ui_stores import FLAG_PAYLOAD, PAYLOAD, QUOTE_PAYLOAD, demo_store, xss_store
from auditora.cli import _format as fmt
from auditora.store import open_store
from auditora.viewer import ViewerServer, make_server, write_report

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.skipif(
    not os.path.exists(CHROMIUM),
    reason=f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)",
)

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium for the module."""
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


def _serve(path: Path) -> Tuple[ViewerServer, threading.Thread]:
    server = make_server(path, port=0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    return server, thread


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tuple[Path, Dict[str, Any], str]]:
    """(store path, demo summary, viewer URL) for a demo store served for the module."""
    path = tmp_path_factory.mktemp("browser") / "demo.db"
    summary = demo_store(path)
    server, thread = _serve(path)
    yield path, summary, server.url
    server.shutdown()
    server.server_close()
    thread.join(10)


@pytest.fixture(scope="module")
def xss(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tuple[Path, str]]:
    """(store path, viewer URL) for the store full of injection payloads."""
    path = xss_store(tmp_path_factory.mktemp("browser-xss") / "xss.db")
    server, thread = _serve(path)
    yield path, server.url
    server.shutdown()
    server.server_close()
    thread.join(10)


class Page:
    """A browser page that records dialogs, page errors and any off-origin request."""

    def __init__(self, browser: Any, origin: str) -> None:
        self.context = browser.new_context(viewport={"width": 1300, "height": 900})
        self.page = self.context.new_page()
        self.page.set_default_timeout(20_000)
        self.dialogs: List[str] = []
        self.errors: List[str] = []
        self.foreign: List[str] = []
        self.page.on("dialog", self._dialog)
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.context.route("**/*", self._route)
        self.origin = origin

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def _route(self, route: Any) -> None:
        url = route.request.url
        if url.startswith(self.origin) or url.startswith(("data:", "about:")):
            route.continue_()
        else:  # e.g. http://x/ from an <img src=x> that should never exist
            self.foreign.append(url)
            route.abort()

    def goto(self, url: str) -> None:
        """Open ``url`` and wait until the page says it has rendered."""
        self.page.goto(url)
        self.ready()

    def ready(self) -> None:
        """Wait until the page shown is the current route's, fully rendered."""
        self.page.wait_for_function(
            "() => document.body.dataset.state === 'ready'"
            " && document.body.dataset.route === location.hash"
        )

    def rows(self, table: str) -> List[Dict[str, str]]:
        """The cells of a data table, as {data-field: text} per row (plus row data attributes)."""
        rows: List[Dict[str, str]] = self.page.evaluate(
            """(name) => Array.from(document.querySelectorAll(
                   `table[data-table="${name}"] tbody tr`)).map((tr) => {
                 const row = Object.assign({}, tr.dataset);
                 tr.querySelectorAll("td").forEach((td) => {
                   row[td.dataset.field] = td.textContent; });
                 return row; })""",
            table,
        )
        return rows

    def card(self, key: str) -> str:
        """The value shown on the summary card ``key``."""
        text: str = self.page.text_content(f'[data-card="{key}"] .card-value') or ""
        return text

    def close(self) -> None:
        """Close the browser context."""
        self.context.close()


@pytest.fixture()
def page(browser: Any, demo: Tuple[Path, Dict[str, Any], str]) -> Iterator[Page]:
    """A fresh page; fails the test if anything reached beyond the viewer or raised."""
    p = Page(browser, demo[2])
    yield p
    p.close()
    assert (p.foreign, p.errors, p.dialogs) == ([], [], [])


def test_sessions_page_shows_the_store_numbers(
    page: Page, demo: Tuple[Path, Dict[str, Any], str]
) -> None:
    """Each session row shows the store's runs, errors, LLM calls, tokens, cost and pass rate."""
    path, _, url = demo
    page.goto(url + "#/sessions")
    with open_store(path) as store:
        expected = {
            s["session_id"]: {
                "run_count": str(s["run_count"]),
                "error_count": str(s["error_count"]),
                "llm_calls": str(s["llm_calls"]),
                "total_tokens": fmt.tokens(s["total_tokens"]),
                "cost": fmt.cost(s["cost"]),
                "eval_pass_rate": fmt.pct(s["eval_pass_rate"]),
            }
            for s in store.sessions()
        }
        total = store.summary()
    shown = {
        r["sessionId"]: {k: r[k] for k in expected[r["sessionId"]]} for r in page.rows("sessions")
    }
    cards = [page.card(k) for k in ("sessions", "runs", "tokens", "cost", "pass_rate")]
    assert (shown, cards) == (
        expected,
        [
            str(total["sessions"]),
            str(total["runs"]),
            fmt.tokens(total["total_tokens"]),
            fmt.cost(total["cost"]),
            fmt.pct(total["eval_pass_rate"]),
        ],
    )


def test_click_from_session_into_trace_and_run(
    page: Page, demo: Tuple[Path, Dict[str, Any], str]
) -> None:
    """Session link -> session totals; trace link -> one waterfall row per run; bar -> run panel."""
    path, summary, url = demo
    sid = summary["session_id"]
    with open_store(path) as store:
        srow = store.session(sid)
        runs = store.runs(session_id=sid, limit=None)
        planner = next(r for r in runs if r["name"] == "plan_evaluation")
        planner_calls = store.llm_calls(run_id=planner["run_id"], limit=None)
        trace_runs = store.runs(trace_id=planner["trace_id"], limit=None)
    assert srow is not None
    page.goto(url + "#/sessions")
    page.page.click(f'tr[data-session-id="{sid}"] a')
    page.ready()
    session_cards = [page.card(k) for k in ("runs", "tokens", "cost", "pass_rate")]
    page.page.click("table[data-table=traces] tbody a")
    page.ready()
    bars = page.page.locator(".tree-row").count()
    page.page.click(f'.tree-row[data-run-id="{planner["run_id"]}"]')
    page.page.wait_for_selector(f'#run-panel[data-run-id="{planner["run_id"]}"]')
    page.ready()
    panel_name = page.page.text_content("#run-panel .run-name")
    panel_models = page.page.eval_on_selector_all(
        "#run-panel [data-llm-call]", "els => els.map(e => e.dataset.model)"
    )
    assert (
        session_cards,
        bars,
        panel_name,
        panel_models,
        page.page.url.endswith(planner["run_id"]),
    ) == (
        [
            str(srow["run_count"]),
            fmt.tokens(srow["total_tokens"]),
            fmt.cost(srow["cost"]),
            fmt.pct(srow["eval_pass_rate"]),
        ],
        len(trace_runs),
        "plan_evaluation",
        [c["model"] for c in planner_calls],
        True,
    )


def test_error_run_is_red_with_its_error(
    page: Page, demo: Tuple[Path, Dict[str, Any], str]
) -> None:
    """A failed run's bar has the error status class, and its panel shows the exception."""
    path, _, url = demo
    with open_store(path) as store:
        failed = store.runs(status="error", limit=None)[0]
    page.goto(url + f"#/trace/{failed['trace_id']}/{failed['run_id']}")
    bar_class = page.page.get_attribute(
        f'.tree-row[data-run-id="{failed["run_id"]}"] .tree-fill', "class"
    )
    panel = page.page.text_content("#run-panel") or ""
    assert (
        "st-error" in (bar_class or ""),
        f"{failed['error_type']}: {failed['error_message']}" in panel,
    ) == (
        True,
        True,
    )


def test_llm_page_totals_per_model(page: Page, demo: Tuple[Path, Dict[str, Any], str]) -> None:
    """The by-model table shows the calls, tokens and cost summed from the store."""
    path, _, url = demo
    with open_store(path) as store:
        calls = store.llm_calls(limit=None)
    sums: Dict[str, List[Any]] = {}
    for c in calls:
        slot = sums.setdefault(c["model"], [0, 0, 0, None])
        slot[0] += 1
        slot[1] += c["input_tokens"] or 0
        slot[2] += c["output_tokens"] or 0
        if c["cost"] is not None:
            slot[3] = (slot[3] or 0.0) + c["cost"]
    page.goto(url + "#/llm")
    shown = {
        r["model"]: [r["calls"], r["input_tokens"], r["output_tokens"], r["cost"]]
        for r in page.rows("by-model")
    }
    assert shown == {
        m: [str(n), fmt.tokens(i), fmt.tokens(o), fmt.cost(c)] for m, (n, i, o, c) in sums.items()
    }


def test_evaluations_page_pass_rate_per_metric(
    page: Page, demo: Tuple[Path, Dict[str, Any], str]
) -> None:
    """The by-metric table shows each metric's count, PASS/FAIL counts and pass rate."""
    path, _, url = demo
    with open_store(path) as store:
        evals = store.evaluations(limit=None)
    counts: Dict[str, List[int]] = {}
    for e in evals:
        slot = counts.setdefault(e["metric_name"], [0, 0])
        slot[0] += 1
        slot[1] += e["status"] == "PASS"
    page.goto(url + "#/evaluations")
    shown = {
        r["metric"]: [r["count"], r["passed"], r["failed"], r["pass_rate"]]
        for r in page.rows("by-metric")
    }
    assert shown == {
        m: [str(n), str(p), str(n - p), fmt.pct(p / n)] for m, (n, p) in counts.items()
    }


def test_metrics_page_aggregates_each_metric_across_sessions(
    page: Page, demo: Tuple[Path, Dict[str, Any], str]
) -> None:
    """Every timed event name gets a histogram, and every metric one block (never a row
    per session) whose total is the sum of each session's latest value."""
    path, _, url = demo
    totals: Dict[str, float] = {}
    with open_store(path) as store:
        timed = sorted({e["name"] for e in store.events(limit=None) if e["duration"] is not None})
        for s in store.sessions():
            for name, value in store.latest_metrics(s["session_id"]).items():
                totals[name] = totals.get(name, 0.0) + value
    page.goto(url + "#/metrics")
    timers = page.page.eval_on_selector_all("[data-timer]", "els => els.map(e => e.dataset.timer)")
    bars = page.page.locator("[data-timer] svg.hist rect.bar").count()
    shown = dict(
        page.page.eval_on_selector_all(
            "[data-metric]",
            "els => els.map(e => [e.dataset.metric, e.querySelector('.timer-stats').textContent])",
        )
    )
    assert (sorted(timers), bars > 0, sorted(shown)) == (timed, True, sorted(totals))
    for name, stats in shown.items():
        total = float(stats.split()[1].replace(",", ""))
        assert total == pytest.approx(totals[name], abs=1e-4), name
    assert page.page.locator("[data-metric] svg.hist rect.bar").count() > len(shown)


def test_llm_page_lists_calls_a_page_at_a_time_with_filters_in_the_url(
    page: Page, demo: Tuple[Path, Dict[str, Any], str]
) -> None:
    """Served, the LLM page's list of calls is paginated by the list API and filtered
    by model from the URL; the totals above it still cover every call."""
    path, _, url = demo
    with open_store(path) as store:
        calls = store.llm_calls(limit=None)
    model = calls[0]["model"]
    mine = [c for c in calls if c["model"] == model]
    page.goto(url + "#/llm?model=" + quote(model) + "&limit=2")
    rows = page.rows("llm-calls")
    pager = page.page.text_content("[data-pager]") or ""
    assert {r["model"] for r in rows} == {model} and len(rows) == min(2, len(mine))
    assert pager.endswith("of " + fmt.tokens(len(mine)))
    assert page.card("llm_calls") == fmt.tokens(len(calls))


def test_times_carry_their_utc_offset_and_axis_ticks_are_round(
    page: Page, demo: Tuple[Path, Dict[str, Any], str]
) -> None:
    """Every time shown has its date and UTC offset, as the CLI prints it; the session
    timeline's ticks are whole multiples of 1, 2 or 5 times a power of ten."""
    import re

    _, summary, url = demo
    page.goto(url + "#/session/" + quote(summary["session_id"], safe=""))
    ticks = page.page.eval_on_selector_all(
        "svg.waterfall [data-tick]", "els => els.map(e => Number(e.dataset.tick))"
    )
    assert ticks[0] == 0 and len(ticks) >= 3
    step = ticks[1]
    mantissa = step / 10 ** math.floor(math.log10(step))
    assert round(mantissa, 6) in (1.0, 2.0, 5.0), ticks
    assert all(t == pytest.approx(i * step) for i, t in enumerate(ticks)), ticks
    page.goto(url + "#/llm")
    times = [r["time_ns"] for r in page.rows("llm-calls")]
    pattern = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d\d:\d\d")
    assert times and all(pattern.fullmatch(t) for t in times), times[:3]


def _assert_inert(p: Page) -> None:
    """No dialog, no payload flag, no injected element, no request to the payload's URL."""
    flag = p.page.evaluate("() => window.__xss === undefined")
    injected = p.page.evaluate(
        "() => document.querySelectorAll('main img, main iframe, main script, main object').length"
    )
    assert (p.dialogs, flag, injected, p.foreign) == ([], True, 0, [])


def _visit_every_page(p: Page, base: str, path: Path) -> List[str]:
    """Open every page of the store; return the text of each page's main element."""
    with open_store(path) as store:
        runs = store.runs(limit=None)
    routes = ["#/", "#/session/" + quote(PAYLOAD, safe=""), "#/llm", "#/evaluations", "#/metrics"]
    routes.append("#/trace/" + runs[0]["trace_id"])
    routes += [f"#/trace/{r['trace_id']}/{r['run_id']}" for r in runs]
    texts = []
    for route in routes:
        p.goto(base + route)
        p.page.hover("main h1")
        texts.append(p.page.inner_text("main"))
        _assert_inert(p)
    return texts


def test_payloads_render_as_text_in_the_viewer(browser: Any, xss: Tuple[Path, str]) -> None:
    """Session id, run names, messages and metadata made of markup show as text and run nothing."""
    path, url = xss
    p = Page(browser, url)
    p.page.add_init_script("window.alert = () => { window.__xss = 'alert'; };")
    try:
        texts = _visit_every_page(p, url, path)
        # Hover every waterfall row and table cell of a run page, where names appear most.
        p.page.locator(".tree-row").first.hover()
        _assert_inert(p)
    finally:
        p.close()
    everything = "\n".join(texts)
    assert (
        PAYLOAD in texts[0],
        PAYLOAD in texts[1],
        FLAG_PAYLOAD in everything,
        QUOTE_PAYLOAD in everything,
    ) == (
        True,
        True,
        True,
        True,
    )


def test_report_file_matches_the_viewer(
    browser: Any, demo: Tuple[Path, Dict[str, Any], str], tmp_path: Path
) -> None:
    """report.html opened from disk shows the same session numbers and navigates into a trace."""
    path, summary, _ = demo
    target = tmp_path / "report.html"
    with open_store(path) as store:
        write_report(store, target)
        srow = store.session(summary["session_id"])
        trace_runs = store.runs(session_id=summary["session_id"], limit=None)
    assert srow is not None
    p = Page(browser, target.as_uri())
    try:
        p.goto(target.as_uri())
        row = next(r for r in p.rows("sessions") if r["sessionId"] == summary["session_id"])
        p.page.click(f'tr[data-session-id="{summary["session_id"]}"] a')
        p.ready()
        p.page.click("table[data-table=traces] tbody a")
        p.ready()
        bars = p.page.locator("g.wf-row").count()
        _assert_inert(p)
        errors = list(p.errors)
    finally:
        p.close()
    assert ([row["tokens"], row["cost"], row["pass_rate"]], bars, errors) == (
        [fmt.tokens(srow["total_tokens"]), fmt.cost(srow["cost"]), fmt.pct(srow["eval_pass_rate"])],
        len(trace_runs),
        [],
    )


def test_payloads_render_as_text_in_the_report(
    browser: Any, xss: Tuple[Path, str], tmp_path: Path
) -> None:
    """The static report of the payload store runs nothing either, on any page."""
    path, _ = xss
    target = tmp_path / "xss.html"
    with open_store(path) as store:
        write_report(store, target)
    p = Page(browser, target.as_uri())
    p.page.add_init_script("window.alert = () => { window.__xss = 'alert'; };")
    try:
        texts = _visit_every_page(p, target.as_uri(), path)
    finally:
        p.close()
    assert (PAYLOAD in texts[0], PAYLOAD in texts[1], p.errors) == (True, True, [])


def test_run_panel_shows_traceback_inputs_and_output(browser: Any, tmp_path: Path) -> None:
    """A failed run's panel shows its stored traceback; a captured run's panel shows
    its inputs and output, as text."""
    import auditora
    from auditora import sentinel

    path = tmp_path / "io.db"
    auditora.configure(sinks=[f"sqlite:{path}"], console=False, capture_content=True)

    @sentinel()
    def answer(question: str) -> Dict[str, str]:
        return {"answer": question.upper()}

    @sentinel()
    def broken() -> None:
        raise ValueError("broken <b>input</b>")

    answer("why?")
    with pytest.raises(ValueError):
        broken()
    assert auditora.flush()
    auditora.shutdown()
    with open_store(path) as store:
        ok_run = store.runs(status="ok", limit=None)[0]
        failed = store.runs(status="error", limit=None)[0]
    server, thread = _serve(path)
    p = Page(browser, server.url)
    try:
        p.goto(server.url + f"#/trace/{failed['trace_id']}/{failed['run_id']}")
        traceback = p.page.text_content("#run-panel pre.traceback") or ""
        p.goto(server.url + f"#/trace/{ok_run['trace_id']}/{ok_run['run_id']}")
        inputs = p.page.text_content("#run-panel pre.io-inputs") or ""
        output = p.page.text_content("#run-panel pre.io-output") or ""
    finally:
        p.close()
        server.shutdown()
        server.server_close()
        thread.join(10)
    assert "Traceback (most recent call last):" in traceback
    assert "ValueError: broken <b>input</b>" in traceback
    assert '"question": "why?"' in inputs
    assert '"answer": "WHY?"' in output
    assert (p.foreign, p.errors, p.dialogs) == ([], [], [])
