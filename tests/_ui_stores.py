"""Stores for the CLI, viewer, report and browser tests (a helper module, not a test file).

``demo_store`` runs the bundled demo; ``xss_store`` writes records whose user
content (session id, run name, messages, metadata, model, metric names) are
HTML/script injection payloads.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Dict

from auditora import DefaultReport, bifrost_sync, monitor, report, sentinel, session
from auditora.sinks import SQLiteSink
from auditora.testing import capture

#: The payload the issue names; it must render as text and run nothing.
PAYLOAD = "</script><img src=x onerror=alert(1)>"
#: A second payload that would set a window flag instead of opening a dialog.
FLAG_PAYLOAD = '<img src=x onerror="window.__xss=1"><svg onload="window.__xss=2">'
#: A third, for attribute and link contexts.
QUOTE_PAYLOAD = '" onmouseover="window.__xss=3" x=\'javascript:window.__xss=4\''


def demo_store(path: Path) -> Dict[str, Any]:
    """Run the demo into ``path``; return its summary dict."""
    from auditora.demo import run_demo

    return run_demo(path)


def xss_store(path: Path) -> Path:
    """Write a store at ``path`` whose user content is made of injection payloads."""

    @sentinel(
        session_id=PAYLOAD, name=PAYLOAD, agent=FLAG_PAYLOAD, report=DefaultReport(echo=False)
    )
    def evil() -> None:
        session.set("note", PAYLOAD)
        session.set(FLAG_PAYLOAD, QUOTE_PAYLOAD)
        session.add_tag(PAYLOAD)
        report.info(PAYLOAD, detail=PAYLOAD, other=FLAG_PAYLOAD)
        report.warning(FLAG_PAYLOAD, quote=QUOTE_PAYLOAD)
        monitor.track(PAYLOAD, meta=PAYLOAD, flag=FLAG_PAYLOAD)
        monitor.increment_metric(PAYLOAD, 2)
        with monitor.timer(FLAG_PAYLOAD):
            pass
        report.log_llm_call(
            model=PAYLOAD,
            prompt_tokens=11,
            completion_tokens=13,
            response_time=0.25,
            success=False,
            provider=FLAG_PAYLOAD,
            error=PAYLOAD,
        )
        report.log_evaluation_result(PAYLOAD, 0.4, threshold=0.5, label=FLAG_PAYLOAD)
        with bifrost_sync(name=QUOTE_PAYLOAD):
            report.error(QUOTE_PAYLOAD)
        try:
            with bifrost_sync(name=FLAG_PAYLOAD):
                raise ValueError(PAYLOAD)
        except ValueError:
            pass

    with warnings.catch_warnings(), capture() as records:
        warnings.simplefilter("ignore")  # the payload "model" has no price: expected here
        evil()
    sink = SQLiteSink(path)
    sink.export(list(records))
    sink.close(2.0)
    return path


#: The text only the failing run of :func:`search_store`'s big trace carries.
NEEDLE = "needle-5e1f connection reset"


def search_store(path: Path, big_trace: int = 15_000) -> Dict[str, Any]:
    """A store written by the library for the search pages: 30 small traces (some
    failing, one with a captured chat whose content and inputs are injection
    payloads) and one trace of about ``big_trace`` runs with a failing run deep
    inside. Returns the ids the tests look for."""
    import auditora
    from auditora import DefaultMonitor, DefaultReport, DefaultSession, report, sentinel

    auditora.configure(store=str(path), console=False, capture_content=True)

    @sentinel(kind="tool")
    def lookup(city: str) -> str:
        return f"sunny in {city}"

    @sentinel(name="leaf")
    def leaf(fail: bool) -> None:
        if fail:
            raise ConnectionError(NEEDLE)

    @sentinel(name="branch")
    def branch(b: int, fail_at: int) -> None:
        for i in range(9):
            try:
                leaf(b == fail_at and i == 4)
            except ConnectionError:
                pass

    for i in range(30):
        sid = f"shop-{i:02d}"

        @sentinel(
            session=DefaultSession(session_id=sid),
            monitor=DefaultMonitor(),
            report=DefaultReport(echo=False),
            name=f"order {i:02d}" if i != 7 else PAYLOAD,
        )
        def handle(i: int = i, payload: str = FLAG_PAYLOAD) -> str:
            report.log_llm_call(
                "gpt-4o-mini" if i % 2 else "claude-x",
                100 + i,
                10 * i,
                0.1 + i / 100,
                input=[
                    {"role": "system", "content": "You are terse."},
                    {"role": "user", "content": payload if i == 7 else f"weather {i}?"},
                    {"role": "tool", "content": "tool says 12C"},
                ],
                output=[{"role": "assistant", "content": QUOTE_PAYLOAD if i == 7 else "cold"}],
                finish_reason="stop",
                cached_tokens=5,
                time_to_first_token=0.05,
                cost=0.000044 * (i + 1),
            )
            if i % 10 == 3:
                raise RuntimeError(f"order {i} failed")
            return lookup("Paris")

        try:
            handle()
        except RuntimeError:
            pass

    fail_at = (big_trace // 10) * 2 // 3

    @sentinel(
        session=DefaultSession(session_id="batch"),
        monitor=DefaultMonitor(),
        report=DefaultReport(echo=False),
        name="nightly batch",
    )
    def batch() -> None:
        for b in range(max(1, (big_trace - 1) // 10)):
            branch(b, fail_at)

    batch()
    assert auditora.flush()
    auditora.shutdown()
    from auditora.store import open_store

    with open_store(path) as store:
        big = store.find_traces(name="nightly batch").rows[0]
        failing = store.find_runs(trace_id=big["trace_id"], status="error").rows[0]
    return {
        "big_trace": big["trace_id"],
        "failing_run": failing["run_id"],
        "runs": big["run_count"],
    }
