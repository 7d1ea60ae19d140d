"""report.log_llm_call: the seed signature, the extra fields, cost and content capture."""

from __future__ import annotations

import warnings
from typing import Iterator

import pytest

import auditora
from auditora import report, sentinel
from auditora.llm import UnknownModelWarning, reset_prices
from auditora.testing import capture


@pytest.fixture(autouse=True)
def _quiet() -> Iterator[None]:
    reset_prices()
    auditora.configure(console=False)
    yield
    reset_prices()


def test_seed_signature_records_tokens_latency_and_cost() -> None:
    """The seed's call keeps working and the record is priced from the table."""

    @sentinel()
    def call() -> None:
        report.log_llm_call(
            model="gpt-4", prompt_tokens=5, completion_tokens=50, response_time=0.15
        )

    call()
    (rec,) = call._report.get_llm_calls()
    assert (
        rec.model,
        rec.input_tokens,
        rec.output_tokens,
        rec.response_time,
        rec.success,
    ) == ("gpt-4", 5, 50, 0.15, True)
    assert pytest.approx(rec.cost) == (5 * 30 + 50 * 60) / 1e6


def test_otel_names_and_extra_fields_are_typed() -> None:
    """Provider, cached/reasoning tokens, ttft, finish reason, request and error are typed."""

    @sentinel()
    def call() -> None:
        report.log_llm_call(
            "o3",
            input_tokens=100,
            output_tokens=40,
            response_time=1.2,
            success=False,
            provider="openai",
            cached_tokens=20,
            reasoning_tokens=30,
            time_to_first_token=0.3,
            finish_reason="length",
            request={"temperature": 0.2},
            error="timeout",
            customer="acme",
        )

    call()
    rec = call._report.get_llm_calls()[0]
    assert {
        k: v
        for k, v in rec.to_dict().items()
        if k
        in {
            "model",
            "provider",
            "input_tokens",
            "output_tokens",
            "cached_tokens",
            "reasoning_tokens",
            "time_to_first_token",
            "finish_reason",
            "request",
            "error",
            "success",
            "extra",
        }
    } == {
        "model": "o3",
        "provider": "openai",
        "input_tokens": 100,
        "output_tokens": 40,
        "cached_tokens": 20,
        "reasoning_tokens": 30,
        "time_to_first_token": 0.3,
        "finish_reason": "length",
        "request": {"temperature": 0.2},
        "error": "timeout",
        "success": False,
        "extra": {"customer": "acme"},
    }


def test_explicit_cost_is_kept() -> None:
    """A cost given by the caller is not recomputed."""

    @sentinel()
    def call() -> None:
        report.log_llm_call("gpt-4o", 10, 10, 0.1, cost=1.5)

    call()
    assert call._report.get_llm_calls()[0].cost == 1.5


def test_unknown_model_cost_is_none_and_warns_once() -> None:
    """Two calls of an unpriced model: cost None both times, one warning."""

    @sentinel()
    def call() -> None:
        report.log_llm_call("home-grown", 10, 10, 0.1)
        report.log_llm_call("home-grown", 10, 10, 0.1)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        call()
    assert [r.cost for r in call._report.get_llm_calls()] == [None, None]
    assert len([w for w in caught if issubclass(w.category, UnknownModelWarning)]) == 1


def test_content_is_not_recorded_by_default() -> None:
    """Prompt and completion content are dropped unless capture_content is on."""

    @sentinel()
    def call() -> None:
        report.log_llm_call("gpt-4o", 1, 1, 0.1, input="secret prompt", output="answer")

    call()
    rec = call._report.get_llm_calls()[0]
    assert (rec.input, rec.output) == (None, None)


def test_content_is_recorded_when_capture_is_on() -> None:
    """With capture_content the prompt and completion are kept."""
    auditora.configure(capture_content=True)

    @sentinel()
    def call() -> None:
        report.log_llm_call("gpt-4o", 1, 1, 0.1, input="the prompt", output="the answer")

    with capture() as records:
        call()
    rec = records.llm_calls[0]
    assert (rec.input, rec.output) == ("the prompt", "the answer")


def test_console_line_shows_the_cost() -> None:
    """A priced call's console line ends with its cost in dollars."""
    import io

    from auditora import DefaultReport

    stream = io.StringIO()
    auditora.configure(console=True)

    @sentinel(report=DefaultReport(output_stream=stream))
    def call() -> None:
        report.log_llm_call("gpt-4o", 1000, 500, 0.1)

    call()
    assert stream.getvalue().rstrip().endswith("cost=$0.007500")


def test_error_messages_are_redacted() -> None:
    """An API error quoting a key does not keep the key."""

    @sentinel()
    def call() -> None:
        report.log_llm_call(
            "gpt-4o",
            None,
            None,
            0.1,
            success=False,
            error="Incorrect API key: sk-abcdefghijklmnopqrstu",
        )

    call()
    assert call._report.get_llm_calls()[0].error == "Incorrect API key: [REDACTED]"
