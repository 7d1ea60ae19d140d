"""The real openai SDK, instrumented, against a fake OpenAI API on 127.0.0.1."""

from __future__ import annotations

import asyncio
import gc
import time
from typing import Any, Iterator

import pytest

import auditora

openai = pytest.importorskip("openai")

from auditora import bifrost_async, bifrost_sync, sentinel  # noqa: E402
from auditora.integrations import openai as auditora_openai  # noqa: E402
from auditora.llm import BudgetExceededError, clear_budgets, reset_prices, set_budget  # noqa: E402
from auditora.testing import capture  # noqa: E402
from fake_llm_server import OPENAI_USAGE, FakeLLMServer  # noqa: E402

MESSAGES = [{"role": "user", "content": "Say hello"}]


@pytest.fixture(scope="module")
def server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as srv:
        yield srv


@pytest.fixture(autouse=True)
def _instrumented() -> Iterator[None]:
    reset_prices()
    clear_budgets()
    auditora.configure(console=False)
    auditora_openai.instrument()
    yield
    auditora_openai.uninstrument()
    clear_budgets()


@pytest.fixture()
def client(server: FakeLLMServer) -> Iterator[Any]:
    c = openai.OpenAI(base_url=server.openai_base_url, api_key="sk-test", max_retries=0)
    yield c
    c.close()


@pytest.fixture()
def aclient(server: FakeLLMServer) -> Any:
    return openai.AsyncOpenAI(base_url=server.openai_base_url, api_key="sk-test", max_retries=0)


def _usage(rec: Any) -> tuple:
    return (rec.input_tokens, rec.output_tokens, rec.cached_tokens, rec.reasoning_tokens)


EXPECTED_USAGE = (
    OPENAI_USAGE["input"],
    OPENAI_USAGE["output"],
    OPENAI_USAGE["cached"],
    OPENAI_USAGE["reasoning"],
)


def test_chat_completion_becomes_a_record_in_the_current_run(client: Any) -> None:
    """Model, usage, finish reason, cost and the run's ids, with no user code."""
    with capture() as records, bifrost_sync(session_id="s") as run:
        answer = client.chat.completions.create(model="gpt-4o", messages=MESSAGES, temperature=0)
    assert answer.choices[0].message.content == "Hello from the"
    (rec,) = records.llm_calls
    assert (
        rec.provider,
        rec.operation,
        rec.model,
        rec.finish_reason,
        rec.success,
    ) == ("openai", "chat", "gpt-4o", "stop", True)
    assert _usage(rec) == EXPECTED_USAGE
    assert pytest.approx(rec.cost) == (16 * 2.5 + 5 * 1.25 + 7 * 10) / 1e6
    assert rec.request == {"model": "gpt-4o", "temperature": 0}
    assert (run.run_id, "s") == (rec.run_id, rec.session_id)
    assert rec.time_to_first_token is None and rec.response_time > 0


def test_streamed_chat_records_usage_and_time_to_first_token(client: Any) -> None:
    """A stream with include_usage gives tokens, ttft and the finish reason, once."""
    with capture() as records, bifrost_sync():
        stream = client.chat.completions.create(
            model="gpt-4o-mini",
            messages=MESSAGES,
            stream=True,
            stream_options={"include_usage": True},
        )
        assert isinstance(stream, openai.Stream)  # the SDK's own type is kept
        text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == "Hello from the"
    (rec,) = records.llm_calls
    assert _usage(rec) == EXPECTED_USAGE
    assert (rec.finish_reason, rec.time_to_first_token is not None) == ("stop", True)
    assert rec.time_to_first_token <= rec.response_time


def test_stream_without_usage_has_unknown_tokens_and_cost(client: Any) -> None:
    """Without include_usage the API sends no counts: tokens and cost are None, no warning."""
    with capture() as records, bifrost_sync():
        list(client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True))
    (rec,) = records.llm_calls
    assert (rec.input_tokens, rec.output_tokens, rec.cost) == (None, None, None)


def test_responses_api_sync_and_streaming(client: Any) -> None:
    """responses.create is captured too, plain and streamed."""
    with capture() as records, bifrost_sync():
        resp = client.responses.create(model="gpt-4.1", input="hi")
        events = list(client.responses.create(model="gpt-4.1", input="hi", stream=True))
    assert resp.output_text == "Hello from the"
    assert events[-1].type == "response.completed"
    plain, streamed = records.llm_calls
    assert [_usage(plain), _usage(streamed)] == [EXPECTED_USAGE, EXPECTED_USAGE]
    assert [(r.operation, r.finish_reason) for r in (plain, streamed)] == [
        ("responses", "completed")
    ] * 2
    assert (
        plain.time_to_first_token,
        streamed.time_to_first_token is not None,
    ) == (None, True)


@pytest.mark.parametrize(
    ("status", "error_class"),
    [(429, "RateLimitError"), (500, "InternalServerError")],
)
def test_api_errors_are_recorded_and_raised_unchanged(
    client: Any, status: int, error_class: str
) -> None:
    """A 429 or 500 raises the SDK's exception and records a failed call with the status."""
    with capture() as records, bifrost_sync(), pytest.raises(getattr(openai, error_class)):
        client.chat.completions.create(
            model="gpt-4o", messages=MESSAGES, extra_headers={"x-fake-status": str(status)}
        )
    (rec,) = records.llm_calls
    assert (False, status) == (rec.success, rec.extra["status_code"])
    assert rec.error.startswith(error_class)


def test_abandoned_stream_ends_its_record_exactly_once(client: Any) -> None:
    """Breaking out of a stream and dropping it records one call, marked abandoned."""
    with capture() as records, bifrost_sync():
        stream = client.chat.completions.create(
            model="gpt-4o", messages=MESSAGES, stream=True, extra_headers={"x-fake-chunks": "200"}
        )
        for i, _chunk in enumerate(stream):
            if i == 2:
                break
        del stream
        gc.collect()
    assert [r.extra.get("stream_abandoned") for r in records.llm_calls] == [True]


def test_stream_closed_by_with_or_dropped_unread_is_recorded_once(client: Any) -> None:
    """`with` + close, and a stream never iterated, each end one record."""
    with capture() as records, bifrost_sync():
        with client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True) as s:
            next(iter(s))
        s.close()  # closing twice still records once
        unread = client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)
        del unread
        gc.collect()
    assert len(records.llm_calls) == 2
    assert all(r.extra.get("stream_abandoned") for r in records.llm_calls)


def test_async_calls_and_streams(aclient: Any) -> None:
    """AsyncOpenAI: plain and streamed calls are recorded in the task's run."""

    async def main() -> Any:
        async with bifrost_async(session_id="a") as run:
            await aclient.chat.completions.create(model="gpt-4o", messages=MESSAGES)
            stream = await aclient.chat.completions.create(
                model="gpt-4o",
                messages=MESSAGES,
                stream=True,
                stream_options={"include_usage": True},
            )
            async for _ in stream:
                pass
            resp = await aclient.responses.create(model="gpt-4.1", input="x", stream=True)
            async for _ in resp:
                pass
        await aclient.close()
        return run

    with capture() as records:
        run = asyncio.run(main())
    assert [_usage(r) for r in records.llm_calls] == [EXPECTED_USAGE] * 3
    assert {run.run_id} == {r.run_id for r in records.llm_calls}
    assert [r.time_to_first_token is not None for r in records.llm_calls] == [False, True, True]


def test_async_stream_abandoned_is_recorded_once(aclient: Any) -> None:
    """An async stream left half-read and closed records one abandoned call."""

    async def main() -> None:
        async with bifrost_async():
            stream = await aclient.chat.completions.create(
                model="gpt-4o",
                messages=MESSAGES,
                stream=True,
                extra_headers={"x-fake-chunks": "100"},
            )
            async for _ in stream:
                break
            await stream.close()
        await aclient.close()

    with capture() as records:
        asyncio.run(main())
    assert [r.extra.get("stream_abandoned") for r in records.llm_calls] == [True]


def test_uninstrument_restores_the_sdk(client: Any) -> None:
    """After uninstrument() calls are no longer recorded; instrument() is idempotent."""
    auditora_openai.instrument()
    auditora_openai.uninstrument()
    assert not auditora_openai.is_instrumented()
    with capture() as records, bifrost_sync():
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert records.llm_calls == []


def test_content_capture_switch(client: Any) -> None:
    """Prompts and completions are recorded only with capture_content on."""
    with capture() as records, bifrost_sync():
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert (records.llm_calls[0].input, records.llm_calls[0].output) == (None, None)
    auditora.configure(capture_content=True)
    with capture() as records, bifrost_sync():
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert (records.llm_calls[0].input, records.llm_calls[0].output) == (MESSAGES, "Hello from the")


def test_exhausted_budget_stops_the_request(client: Any, server: FakeLLMServer) -> None:
    """With a spent budget the call raises before any request is sent."""

    @sentinel()
    def ask() -> None:
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES)

    set_budget(ask, max_tokens=10)
    with pytest.raises(BudgetExceededError):
        ask()  # recorded (28 tokens), then over budget
    before = len(server.requests)
    with pytest.raises(BudgetExceededError):
        ask()
    assert before == len(server.requests)
    assert len(ask._report.get_llm_calls()) == 1


def test_calls_outside_a_context_reach_sinks_only(client: Any) -> None:
    """Outside any run the record has no ids and is only emitted."""
    with capture() as records:
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert [(r.run_id, r.session_id) for r in records.llm_calls] == [(None, None)]


def test_request_and_response_models_ids_and_start_are_typed_fields(client: Any) -> None:
    """The model asked for and the model answered are kept apart; id and real start are set."""
    before = time.time_ns()
    with capture() as records, bifrost_sync():
        answer = client.chat.completions.create(
            model="gpt-4o",
            messages=MESSAGES,
            extra_headers={"x-fake-model": "gpt-4o-2024-08-06", "x-fake-delay": "0.05"},
        )
    after = time.time_ns()
    (rec,) = records.llm_calls
    assert (rec.model, rec.request_model, rec.response_model) == (
        "gpt-4o-2024-08-06",
        "gpt-4o",
        "gpt-4o-2024-08-06",
    )
    assert rec.response_id == answer.id and "response_id" not in rec.extra
    # The request started before the answer came: start + latency ends by `after`.
    assert before <= rec.start_ns <= rec.start_ns + rec.response_time * 1e9 <= after
    assert rec.response_time >= 0.05


def test_failed_call_has_its_exception_class_as_error_type(client: Any) -> None:
    """error_type is the SDK exception's class name."""
    with capture() as records, bifrost_sync(), pytest.raises(openai.InternalServerError):
        client.responses.create(model="gpt-4.1", input="hi", extra_headers={"x-fake-status": "500"})
    (rec,) = records.llm_calls
    assert (rec.error_type, rec.request_model, rec.response_model) == (
        "InternalServerError",
        "gpt-4.1",
        None,
    )


def test_responses_instructions_are_system_instructions_not_input(client: Any) -> None:
    """Responses' instructions= is captured as system_instructions; input stays the input."""
    auditora.configure(capture_content=True)
    with capture() as records, bifrost_sync():
        client.responses.create(model="gpt-4.1", instructions="Be brief.", input="hi")
        client.responses.create(model="gpt-4.1", input=[{"role": "user", "content": "hi"}])
    first, second = records.llm_calls
    assert (first.system_instructions, first.input) == ("Be brief.", "hi")
    assert (second.system_instructions, second.input) == (None, [{"role": "user", "content": "hi"}])


def test_system_instructions_need_content_capture(client: Any) -> None:
    """Without capture_content, instructions are not kept either."""
    with capture() as records, bifrost_sync():
        client.responses.create(model="gpt-4.1", instructions="secret plan", input="hi")
    assert (records.llm_calls[0].system_instructions, records.llm_calls[0].input) == (None, None)


def test_stream_consumed_in_another_thread_belongs_to_the_requesting_run(client: Any) -> None:
    """The record lands in the run that made the request, wherever the stream is read."""
    import threading

    with capture() as records:
        with bifrost_sync() as run:
            stream = client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)
        reader = threading.Thread(target=lambda: list(stream))
        reader.start()
        reader.join(timeout=30)
    assert [(run.run_id, None)] == [
        (r.run_id, r.extra.get("stream_abandoned")) for r in records.llm_calls
    ]


def test_missing_package_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the openai package, instrument() names the extra to install."""
    import sys

    monkeypatch.setitem(sys.modules, "openai", None)
    with pytest.raises(ImportError, match=r"pip install 'auditora\[openai\]'"):
        auditora_openai.instrument()


def test_structured_output_parse_calls_are_recorded(client: Any) -> None:
    """chat.completions.parse and responses.parse (which bypass create) are captured once each."""
    with capture() as records, bifrost_sync():
        client.chat.completions.parse(model="gpt-4o", messages=MESSAGES)
        client.responses.parse(model="gpt-4.1", input="hi")
    assert [(r.operation, _usage(r)) for r in records.llm_calls] == [
        ("chat", EXPECTED_USAGE),
        ("responses", EXPECTED_USAGE),
    ]


def test_streaming_helpers_are_recorded(client: Any) -> None:
    """chat.completions.stream and responses.stream (built on create) record one call each."""
    with capture() as records, bifrost_sync():
        with client.chat.completions.stream(
            model="gpt-4o", messages=MESSAGES, stream_options={"include_usage": True}
        ) as chat:
            for _ in chat:
                pass
        with client.responses.stream(model="gpt-4.1", input="hi") as resp:
            for _ in resp:
                pass
            assert resp.get_final_response().output_text == "Hello from the"
    assert [
        (r.operation, _usage(r), r.time_to_first_token is not None) for r in records.llm_calls
    ] == [("chat", EXPECTED_USAGE, True), ("responses", EXPECTED_USAGE, True)]
