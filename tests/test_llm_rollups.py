"""Token and cost roll-ups: monitor metrics per session, run attributes per run and trace."""

from __future__ import annotations

from typing import Iterator

import pytest

import auditora
from auditora import current_run, monitor, report, sentinel
from auditora.llm import METRICS, reset_prices, run_usage
from auditora.testing import capture


@pytest.fixture(autouse=True)
def _quiet() -> Iterator[None]:
    reset_prices()
    auditora.configure(console=False)
    yield


def test_llm_calls_roll_up_into_monitor_metrics() -> None:
    """Each call adds to the llm.* metrics of the session's monitor."""

    @sentinel()
    def work() -> None:
        report.log_llm_call("gpt-4o", 1000, 500, 0.1)
        report.log_llm_call("gpt-4o", 1000, 500, 0.1, success=False)
        report.log_llm_call("mystery", 10, 10, 0.1)

    with pytest.warns(UserWarning):
        work()
    metrics = work._monitor.get_metrics()
    assert {k: v for k, v in metrics.items() if k != "llm.cost_usd"} == {
        "llm.calls": 3.0,
        "llm.errors": 1.0,
        "llm.input_tokens": 2010.0,
        "llm.output_tokens": 1010.0,
        "llm.total_tokens": 3020.0,
        "llm.unpriced_calls": 1.0,
    }
    assert pytest.approx(metrics["llm.cost_usd"]) == 0.015
    assert set(metrics) <= set(METRICS)


def test_parent_runs_carry_the_totals_of_their_subtree() -> None:
    """A nested run's calls count in its own and every enclosing run; the root holds the trace."""
    seen = {}

    @sentinel(session_id="inner")
    def inner() -> None:
        report.log_llm_call("gpt-4o-mini", 100, 10, 0.1)
        seen["inner"] = run_usage(current_run())  # type: ignore[arg-type]

    @sentinel(session_id="outer")
    def outer() -> None:
        report.log_llm_call("gpt-4o-mini", 200, 20, 0.1)
        inner()
        seen["outer"] = run_usage(current_run())  # type: ignore[arg-type]

    with capture() as records:
        outer()
    assert seen["inner"]["llm.total_tokens"] == 110.0
    assert seen["outer"]["llm.total_tokens"] == 330.0
    assert seen["outer"]["llm.calls"] == 2.0
    root = next(r for r in records.runs if r.parent_id is None)
    assert root.attributes["llm.total_tokens"] == 330.0  # type: ignore[index]


def test_summary_has_cost_and_a_per_model_breakdown() -> None:
    """get_summary() reports cost, unpriced calls and totals per model."""

    @sentinel()
    def work() -> None:
        report.log_llm_call("gpt-4o", 1000, 0, 0.1, cached_tokens=200)
        report.log_llm_call("claude-3-5-haiku", 1000, 1000, 0.1, reasoning_tokens=100)

    work()
    llm = work._report.get_summary()["llm"]
    assert (
        llm["calls"],
        llm["input_tokens"],
        llm["output_tokens"],
        llm["total_tokens"],
        llm["cached_tokens"],
        llm["reasoning_tokens"],
        llm["unpriced_calls"],
    ) == (2, 2000, 1000, 3000, 200, 100, 0)
    assert list(llm["by_model"]) == ["gpt-4o", "claude-3-5-haiku"]
    gpt = (800 * 2.5 + 200 * 1.25) / 1e6
    haiku = (1000 * 0.8 + 1000 * 4) / 1e6
    assert gpt + haiku == pytest.approx(llm["cost"])
    assert haiku == pytest.approx(llm["by_model"]["claude-3-5-haiku"]["cost"])


def test_no_llm_call_means_no_llm_metrics() -> None:
    """Monitors of sessions without LLM calls stay exactly as the user left them."""

    @sentinel()
    def work() -> None:
        monitor.increment_metric("rows", 3)

    work()
    assert work._monitor.get_metrics() == {"rows": 3.0}


def test_roll_ups_are_exact_across_threads() -> None:
    """8 threads logging 500 calls each into one run lose no token and no cent."""
    from concurrent.futures import ThreadPoolExecutor

    import auditora

    def work(_: int) -> None:
        for _ in range(500):
            report.log_llm_call("gpt-4o-mini", 10, 5, 0.01)

    @sentinel()
    def pipeline() -> dict:
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(auditora.bind(work), range(8)))
        return run_usage(current_run())  # type: ignore[arg-type]

    usage = pipeline()
    metrics = pipeline._monitor.get_metrics()
    assert (usage["llm.calls"], usage["llm.total_tokens"]) == (4000, 60000)
    assert (metrics["llm.calls"], metrics["llm.total_tokens"]) == (4000.0, 60000.0)
    assert metrics["llm.cost_usd"] == pytest.approx(4000 * (10 * 0.15 + 5 * 0.6) / 1e6)
