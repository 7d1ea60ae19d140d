"""``auditora show``: a run's error, traceback, logs, events, LLM calls and evaluations in text
mode, and a note on what a tree cut at the display limit leaves out."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Iterator, Tuple

import pytest

from _ui_stores import demo_store
from auditora import DefaultReport, sentinel
from auditora.cli import main
from auditora.sinks import SQLiteSink
from auditora.store import open_store
from auditora.testing import capture


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> Tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tuple[Path, Dict[str, Any]]]:
    path = tmp_path_factory.mktemp("show") / "demo.db"
    yield path, demo_store(path)


def test_failed_run_shows_its_error_traceback_and_logs(
    demo: Tuple[Path, Dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    """``show RUN`` of a failed run prints ``Type: message``, the traceback and every log."""
    path, _ = demo
    with open_store(path) as store:
        failed = store.runs(status="error", limit=1)[0]
        logs = store.logs(run_id=failed["run_id"], limit=None)
    code, out, _ = run(capsys, "show", str(path), failed["run_id"])
    assert logs
    assert (
        code,
        f"error: {failed['error_type']}: {failed['error_message']}" in out,
        "traceback:" in out and "Traceback (most recent call last)" in out,
        [log["message"] for log in logs if log["message"] not in out],
    ) == (0, True, True, [])


def test_run_shows_its_llm_calls_and_evaluations(
    demo: Tuple[Path, Dict[str, Any]],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``show RUN`` lists the run's LLM calls (model, tokens) and evaluations (metric, status)."""
    monkeypatch.setenv("COLUMNS", "200")
    path, _ = demo
    with open_store(path) as store:
        evals = store.evaluations(limit=None)
        run_id = next(e["run_id"] for e in evals if e.get("run_id"))
        calls = store.llm_calls(run_id=run_id, limit=None)
        mine = [e for e in evals if e["run_id"] == run_id]
    code, out, _ = run(capsys, "show", str(path), run_id)
    assert calls and mine
    sections = out.split("\nLLM calls (")[-1]
    assert (
        code,
        f"LLM calls ({len(calls)}):" in out,
        all(c["model"] in sections and f"{c['input_tokens']:,}" in sections for c in calls),
        f"evaluations ({len(mine)}):" in out,
        all(e["metric_name"] in sections for e in mine),
    ) == (0, True, True, True, True)


def test_run_shows_its_events(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Events of a run (``monitor.track``) are listed by name with their metadata."""
    from auditora import monitor

    @sentinel(report=DefaultReport(echo=False))
    def job() -> None:
        monitor.track("cache_miss", key="user:42")

    with capture() as records:
        job()
    path = tmp_path / "events.db"
    sink = SQLiteSink(path)
    sink.export(list(records))
    sink.close(2.0)
    with open_store(path) as store:
        run_id = store.runs(limit=1)[0]["run_id"]
    code, out, _ = run(capsys, "show", str(path), run_id)
    assert (code, "events (1):" in out, "cache_miss" in out, '"key": "user:42"' in out) == (
        0,
        True,
        True,
        True,
    )


@pytest.fixture(scope="module")
def big_trace(tmp_path_factory: pytest.TempPathFactory) -> Tuple[Path, str]:
    """A trace of 2,101 runs (over the display limit of 2,000) whose last child fails."""

    @sentinel(report=DefaultReport(echo=False))
    def child(i: int) -> None:
        if i == 2099:
            raise RuntimeError("the needle")

    @sentinel(report=DefaultReport(echo=False))
    def root() -> None:
        for i in range(2100):
            try:
                child(i)
            except RuntimeError:
                pass

    with capture() as records:
        root()
    path = tmp_path_factory.mktemp("big") / "big.db"
    sink = SQLiteSink(path)
    sink.export(list(records))
    sink.close(10.0)
    with open_store(path) as store:
        trace_id = store.runs(limit=1)[0]["trace_id"]
    return path, trace_id


def test_cut_trace_says_how_many_runs_were_left_out(
    big_trace: Tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """``show TRACE`` over the limit counts every run, says how many were left out, that a
    failed run is among them, and the command that lists them."""
    path, trace_id = big_trace
    code, out, _ = run(capsys, "show", str(path), trace_id)
    assert (
        code,
        "2,101 runs, 1 error" in out,
        "showing the first 2,000 of 2,101 runs (depth-first); 101 left out, 1 failed run" in out,
        f"--trace {trace_id} --status error" in out,
    ) == (0, True, True, True)


def test_a_run_past_the_display_limit_is_still_shown(
    big_trace: Tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """The failing run, 2,100th of its trace (past the 2,000 shown), by id: its row, its
    error and its traceback."""
    path, _ = big_trace
    with open_store(path) as store:
        needle = store.runs(status="error", limit=1)[0]
    code, out, _ = run(capsys, "show", str(path), needle["run_id"])
    assert (
        code,
        sum(1 for line in out.splitlines() if line.endswith(needle["run_id"])),
        "error: RuntimeError: the needle" in out,
        "traceback:" in out,
    ) == (0, 1, True, True)
