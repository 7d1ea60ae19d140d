"""The session/monitor/report proxies: resolution, errors outside a context, disabled mode."""

from __future__ import annotations

import pytest

import auditora
from auditora import (
    ContextError,
    DefaultReport,
    DefaultSession,
    monitor,
    report,
    sentinel,
    session,
)


@pytest.mark.parametrize(
    ("proxy", "name", "call"),
    [
        (session, "session", lambda: session.get("k")),
        (session, "session", lambda: session.set("k", 1)),
        (session, "session", lambda: session.session_id),
        (session, "session", lambda: session.add_tag("t")),
        (monitor, "monitor", lambda: monitor.increment_metric("m")),
        (monitor, "monitor", lambda: monitor.track("e")),
        (monitor, "monitor", lambda: monitor.get_metrics()),
        (report, "report", lambda: report.info("x")),
        (report, "report", lambda: report.log("x", "INFO")),
        (report, "report", lambda: report.error("x")),
        (report, "report", lambda: report.log_llm_call("m", 1, 1, 0.1)),
        (report, "report", lambda: report.log_evaluation_result("m", 1.0)),
    ],
)
def test_use_outside_a_context_raises_a_clear_error(proxy, name, call) -> None:
    """Outside any context each proxy raises ContextError naming @sentinel and bifrost."""
    with pytest.raises(ContextError) as info:
        call()
    message = str(info.value)
    assert isinstance(info.value, RuntimeError)
    assert f"`{name}`" in message
    assert "@sentinel" in message
    assert "bifrost_sync" in message and "bifrost_async" in message


def test_attribute_writes_go_to_the_current_adat() -> None:
    """Setting an attribute on the proxy sets it on the active adat."""

    @sentinel()
    def job() -> None:
        session.color = "blue"
        assert session.color == "blue"

    job()
    assert job._session.color == "blue"


def test_repr_says_whether_a_context_is_active() -> None:
    """repr() of a proxy names the adat it resolves to, or says there is none."""
    assert "no active context" in repr(session)

    @sentinel(session=DefaultSession("r1"))
    def job() -> str:
        return repr(session)

    assert "DefaultSession(session_id='r1')" in job()


def test_custom_adat_methods_are_reachable() -> None:
    """Methods that only a user's subclass defines resolve through the proxy."""

    class Scored(DefaultReport):
        def score(self, value: float) -> float:
            return value * 2

    @sentinel(report=Scored(echo=False))
    def job() -> float:
        return report.score(2.5)

    assert job() == 5.0


def test_disabled_mode_makes_proxies_no_ops_outside_a_context() -> None:
    """With Auditora disabled, proxy calls outside a context do nothing instead of raising."""
    auditora.configure(disabled=True)
    assert session.get("k", "default") == "default"
    assert session.set("k", 1) is None
    assert monitor.increment_metric("m") is None
    assert report.info("x") is None
    assert report.log_evaluation_result("m", 1.0) is None


def test_disabled_sentinel_still_runs_the_seed_example(capsys) -> None:
    """A sentinel decorated while disabled adds no run but the function still works."""
    from auditora.testing import capture

    auditora.configure(disabled=True)

    @sentinel()
    def evaluate_llm_response(response: str) -> float:
        report.info("Starting evaluation")
        session.set("response", response)
        score = len(response) / 100.0
        monitor.increment_metric("coherence_score", score)
        report.log_evaluation_result("coherence", score, threshold=0.5)
        return score

    with capture() as records:
        assert evaluate_llm_response("abc") == 0.03
    assert records == []
    assert evaluate_llm_response._session.session_id
    assert capsys.readouterr().err == ""


def test_report_proxy_returns_the_records_it_forwards() -> None:
    """``report.log_llm_call`` and ``report.log_evaluation_result`` through the
    proxy return the record the active report made, with every argument passed on."""
    from auditora import bifrost_sync
    from auditora.records import Evaluation, LLMCall

    with bifrost_sync(report=DefaultReport(echo=False)):
        call = report.log_llm_call("gpt-4o-mini", 12, 3, 0.2, False, provider="openai", tag="x")
        result = report.log_evaluation_result("accuracy", 0.4, 0.5, direction="higher")
    assert isinstance(call, LLMCall)
    assert (call.input_tokens, call.output_tokens, call.response_time) == (12, 3, 0.2)
    assert call.success is False and call.provider == "openai" and call.extra == {"tag": "x"}
    assert isinstance(result, Evaluation) and result.status == "FAIL"
