"""Budgets: a per-session or per-sentinel dollar or token limit that raises or warns."""

from __future__ import annotations

from typing import Iterator

import pytest

import auditora
from auditora import report, sentinel
from auditora.llm import (
    BudgetExceededError,
    BudgetWarning,
    clear_budgets,
    get_budget,
    reset_prices,
    set_budget,
)


@pytest.fixture(autouse=True)
def _clean() -> Iterator[None]:
    reset_prices()
    clear_budgets()
    auditora.configure(console=False)
    yield
    clear_budgets()


def test_exceeding_a_dollar_budget_raises_after_recording_the_call() -> None:
    """The call that crosses the limit is recorded, then BudgetExceededError is raised."""

    @sentinel(session_id="eval-run")
    def ask() -> None:
        report.log_llm_call("gpt-4o", 1000, 500, 0.1)  # $0.0075

    set_budget(ask, max_cost=0.01)
    ask()
    with pytest.raises(BudgetExceededError) as info:
        ask()
    assert (info.value.session_id, info.value.unit, info.value.limit) == ("eval-run", "usd", 0.01)
    assert pytest.approx(info.value.spent) == 0.015
    assert len(ask._report.get_llm_calls()) == 2


def test_an_exhausted_budget_keeps_raising() -> None:
    """With on_exceed='raise' every later call raises too."""

    @sentinel()
    def ask() -> None:
        report.log_llm_call("gpt-4o", 10_000, 0, 0.1)

    set_budget(ask, max_cost=0.001)
    for _ in range(2):
        with pytest.raises(BudgetExceededError):
            ask()


def test_token_budget_by_session_id_warns_once() -> None:
    """A token budget with on_exceed='warn' issues one BudgetWarning and lets work go on."""

    @sentinel(session_id="nightly")
    def ask() -> None:
        report.log_llm_call("gpt-4o", 60, 0, 0.1)

    budget = set_budget("nightly", max_tokens=100, on_exceed="warn")
    ask()
    with pytest.warns(BudgetWarning):
        ask()
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ask()
    assert (budget.spent_tokens, budget.exceeded) == (180, True)
    assert budget is get_budget("nightly")


def test_budget_needs_a_limit() -> None:
    """A budget without max_cost or max_tokens is a mistake."""
    with pytest.raises(ValueError):
        set_budget("x")


def test_other_sessions_are_not_limited() -> None:
    """A budget applies only to its own session."""

    @sentinel()
    def limited() -> None:
        report.log_llm_call("gpt-4o", 10_000, 0, 0.1)

    @sentinel()
    def free() -> None:
        report.log_llm_call("gpt-4o", 10_000, 0, 0.1)

    set_budget(limited, max_cost=0.001)
    free()
    free()
    with pytest.raises(BudgetExceededError):
        limited()


def test_a_budget_trips_at_the_call_that_exceeds_it_deep_in_a_trace() -> None:
    """Calls made 20 runs deep count toward the session's budget as they are made:
    the third 100-token call of a 250-token budget raises, right after being recorded."""
    from contextlib import ExitStack

    from auditora import bifrost_sync

    made = []

    @sentinel(session_id="deep")
    def ask() -> None:
        with ExitStack() as stack:
            for _ in range(20):
                stack.enter_context(bifrost_sync())
            for i in range(5):
                report.log_llm_call("gpt-4o", 50, 50, 0.1)
                made.append(i)

    set_budget("deep", max_tokens=250)
    with pytest.raises(BudgetExceededError):
        ask()
    assert made == [0, 1]
    assert len(ask._report.get_llm_calls()) == 3
    assert get_budget("deep").spent_tokens == 300  # type: ignore[union-attr]
