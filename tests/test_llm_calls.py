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


def test_start_time_is_stored_as_start_ns() -> None:
    """log_llm_call(start_time=...) (epoch seconds) is kept as the call's start in ns."""
    import time

    @sentinel()
    def call() -> float:
        started = time.time()
        time.sleep(0.002)
        report.log_llm_call("gpt-4o", 10, 5, 0.001, start_time=started)
        return started

    started = call()
    (rec,) = call._report.get_llm_calls()
    assert rec.start_ns == int(started * 1e9)


def test_without_start_time_a_call_starts_its_response_time_before_the_record() -> None:
    """The default start is the record's time minus response_time."""
    import time

    @sentinel()
    def call() -> None:
        time.sleep(0.02)
        report.log_llm_call("gpt-4o", 10, 5, 0.005)

    call()
    (rec,) = call._report.get_llm_calls()
    assert rec.start_ns == rec.time_ns - 5_000_000


def test_an_llm_call_never_starts_before_its_run() -> None:
    """A start (given or derived from response_time) earlier than the run's is clamped to it."""
    import time

    with capture() as records:

        @sentinel()
        def call() -> None:
            report.log_llm_call("gpt-4o", 10, 5, 30.0)  # longer than the run has lasted
            report.log_llm_call("gpt-4o", 10, 5, 0.1, start_time=time.time() - 60)

        call()
    (run,) = records.runs
    assert [c.start_ns for c in records.llm_calls] == [run.start_ns, run.start_ns]
    assert all(c.start_ns <= c.time_ns for c in records.llm_calls)


def test_a_start_given_by_an_integration_is_kept_and_clamped() -> None:
    """record_llm_call takes typed['start_ns'] (the SDK integrations' real start) as it is,
    clamped to the run's start; outside a run nothing clamps it."""
    from auditora import bifrost_sync
    from auditora.llm._calls import record_llm_call

    with bifrost_sync() as run:
        later = record_llm_call(
            None, run, "gpt-4o", 1, 1, 0.1, True, {"start_ns": run.start_ns + 7}, {}
        )
        early = record_llm_call(None, run, "gpt-4o", 1, 1, 0.1, True, {"start_ns": 1}, {})
    alone = record_llm_call(None, None, "gpt-4o", 1, 1, 0.1, True, {"start_ns": 1}, {})
    assert (later.start_ns, early.start_ns, alone.start_ns) == (run.start_ns + 7, run.start_ns, 1)
