"""Auditora's own OTel export read back by ``auditora collect``: the two directions share
their tables, so runs, types, sessions, LLM calls and evaluations come back as they left."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("opentelemetry.sdk")
pytest.importorskip("opentelemetry.exporter.otlp.proto.http")

from auditora import report, sentinel
from auditora.integrations.otel import OTelSink
from auditora.store import open_store
from auditora.testing import capture
from collect_helpers import collector


@sentinel(session_id="round-trip", kind="agent", agent="helper-bot")
def agent(question: str) -> str:
    """An agent run that calls a model, is evaluated and calls a tool that fails."""
    report.log_llm_call(
        model="gpt-4o",
        prompt_tokens=12,
        completion_tokens=30,
        response_time=0.5,
        provider="openai",
        finish_reason="stop",
        response_id="chatcmpl-rt",
    )
    report.log_evaluation_result("relevance", 0.4, threshold=0.5, explanation="off topic")
    try:
        lookup("sku")
    except KeyError:
        pass
    return "42"


@sentinel(kind="tool")
def lookup(key: str) -> None:
    raise KeyError(key)


def test_exported_records_come_back_from_the_collector(tmp_path: Path) -> None:
    """Runs keep ids, parents, types, status, traceback and session; the LLM call its tokens
    and cost; the evaluation its score, threshold and FAIL status."""
    with capture() as records:
        agent("why?")
    store = tmp_path / "s.db"
    with collector(store) as server:
        sink = OTelSink(endpoint=server.endpoint, metrics=False)
        try:
            sink.export(list(records))
            assert sink.flush(10.0)
        finally:
            sink.close()
    native = {r.name: r for r in records.runs}
    with open_store(store) as s:
        runs = {r["run_id"]: r for r in s.runs(limit=None)}
        calls = s.llm_calls(limit=None)
        (ev,) = s.evaluations(limit=None)
    for run in native.values():
        back = runs[run.run_id]
        assert (back["trace_id"], back["parent_id"], back["run_type"], back["status"]) == (
            run.trace_id,
            run.parent_id,
            run.run_type,
            run.status,
        )
        assert (back["session_id"], back["run_kind"]) == ("round-trip", run.run_kind)
    tool = runs[native["lookup"].run_id]
    assert (tool["error_type"], "KeyError" in (tool["traceback"] or "")) == ("KeyError", True)
    (call,) = calls
    (sent,) = records.llm_calls
    assert (call["model"], call["input_tokens"], call["output_tokens"], call["response_id"]) == (
        "gpt-4o",
        12,
        30,
        "chatcmpl-rt",
    )
    assert call["cost"] == pytest.approx(sent.cost)
    assert (ev["metric_name"], ev["value"], ev["threshold"], ev["status"]) == (
        "relevance",
        0.4,
        0.5,
        "FAIL",
    )
