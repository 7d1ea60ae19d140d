"""The real litellm package, captured through its callback API, against the fake server.

LiteLLM (1.110+) sends requests with its own HTTP client, not through the SDKs'
``create``, so the SDK patches see nothing; ``auditora.integrations.litellm``
records each call from LiteLLM's success/failure hooks. LiteLLM's telemetry is
off, its price map is the bundled one, and any connection outside 127.0.0.1
fails the test at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from typing import Any, Callable, Iterator, List

import pytest

import auditora
from offline_guard import offline, quiet_environment

quiet_environment()
with offline() as _import_attempts:
    litellm = pytest.importorskip("litellm")
assert not _import_attempts, _import_attempts

from auditora import bifrost_async, bifrost_sync, sentinel  # noqa: E402
from auditora.integrations import litellm as auditora_litellm  # noqa: E402
from auditora.llm import register_price, reset_prices  # noqa: E402
from auditora.testing import capture  # noqa: E402
from fake_llm_server import ANTHROPIC_USAGE, OPENAI_USAGE, FakeLLMServer  # noqa: E402

# LiteLLM's own pydantic models warn on import and use; not ours to fix.
pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning:litellm.*"),
    pytest.mark.filterwarnings("ignore::UserWarning:pydantic.*"),
]

MESSAGES = [{"role": "user", "content": "Say hello"}]
U = OPENAI_USAGE
A = ANTHROPIC_USAGE


@pytest.fixture(scope="module")
def server() -> Iterator[FakeLLMServer]:
    litellm.telemetry = False
    with FakeLLMServer() as srv:
        yield srv


@pytest.fixture(autouse=True)
def _instrumented() -> Iterator[List[str]]:
    reset_prices()
    auditora.configure(console=False)
    auditora_litellm.instrument()
    with offline() as attempts:
        yield attempts
    auditora_litellm.uninstrument()
    assert not attempts, f"LiteLLM tried to reach outside 127.0.0.1: {attempts}"


@contextlib.contextmanager
def settled(count: int) -> Iterator[Any]:
    """capture(), whose exit waits for ``count`` LLM calls (LiteLLM's sync hooks run in
    threads of its own), then a little longer, so that a duplicate would arrive too."""
    with capture() as records:
        yield records
        deadline = time.monotonic() + 10
        while len(records.llm_calls) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.3)


def _openai(server: FakeLLMServer, **kwargs: Any) -> Any:
    return litellm.completion(
        model="openai/gpt-4o",
        messages=MESSAGES,
        api_base=server.openai_base_url,
        api_key="sk-test",
        timeout=10,
        max_retries=0,
        **kwargs,
    )


def _usage(rec: Any) -> tuple:
    return (rec.input_tokens, rec.output_tokens, rec.cached_tokens, rec.reasoning_tokens)


EXPECTED = (U["input"], U["output"], U["cached"], U["reasoning"])
GPT4O_COST = ((U["input"] - U["cached"]) * 2.5 + U["cached"] * 1.25 + U["output"] * 10) / 1e6


def test_completion_gives_one_record_in_the_callers_run(server: FakeLLMServer) -> None:
    """litellm.completion: one record with usage, cost, finish reason, in the calling run,
    although LiteLLM calls its success hook from a thread of its own."""
    with settled(1) as records, bifrost_sync(session_id="s") as run:
        answer = _openai(server, temperature=0)
    (rec,) = records.llm_calls
    assert answer.choices[0].message.content == "Hello from the"
    assert (rec.provider, rec.operation, rec.model, rec.finish_reason, rec.success) == (
        "openai",
        "chat",
        "gpt-4o",
        "stop",
        True,
    )
    assert _usage(rec) == EXPECTED
    assert rec.cost == pytest.approx(GPT4O_COST)
    assert (rec.run_id, rec.session_id) == (run.run_id, "s")
    assert (rec.request_model, rec.response_model, rec.response_id) == (
        "gpt-4o",
        "gpt-4o",
        answer.id,
    )
    assert rec.request["temperature"] == 0
    assert rec.response_time > 0 and rec.start_ns is not None


def test_streamed_completion_gives_one_record_with_usage_and_ttft(server: FakeLLMServer) -> None:
    """A stream is one record, written when LiteLLM has assembled it, with time to first token."""
    with settled(1) as records, bifrost_sync():
        stream = _openai(server, stream=True, stream_options={"include_usage": True})
        text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == "Hello from the"
    (rec,) = records.llm_calls
    assert _usage(rec) == EXPECTED
    assert rec.request["stream"] is True
    assert 0 <= rec.time_to_first_token <= rec.response_time


def test_async_completion_and_stream_each_give_one_record(server: FakeLLMServer) -> None:
    """acompletion, plain and streamed: one record each, in the task's run."""

    async def main() -> Any:
        async with bifrost_async() as run:
            await litellm.acompletion(
                model="openai/gpt-4o",
                messages=MESSAGES,
                api_base=server.openai_base_url,
                api_key="sk-test",
                timeout=10,
            )
            stream = await litellm.acompletion(
                model="openai/gpt-4o",
                messages=MESSAGES,
                api_base=server.openai_base_url,
                api_key="sk-test",
                stream=True,
                stream_options={"include_usage": True},
                timeout=10,
            )
            async for _ in stream:
                pass
            await asyncio.sleep(0.3)  # LiteLLM's async hooks are tasks of their own
        return run

    with settled(2) as records:
        run = asyncio.run(main())
    calls = records.llm_calls
    assert [_usage(r) for r in calls] == [EXPECTED, EXPECTED]
    assert {r.run_id for r in calls} == {run.run_id}


def test_anthropic_through_litellm_has_cache_reads_and_writes(server: FakeLLMServer) -> None:
    """Another provider: LiteLLM's usage (input including cache reads and writes) is kept."""
    with settled(1) as records, bifrost_sync():
        litellm.completion(
            model="anthropic/claude-haiku-4-5",
            messages=MESSAGES,
            api_base=server.anthropic_base_url,
            api_key="test",
            max_tokens=32,
            timeout=10,
        )
    (rec,) = records.llm_calls
    total_input = A["input"] + A["cache_read"] + A["cache_write"]
    assert (rec.provider, rec.model) == ("anthropic", "claude-haiku-4-5")
    assert (rec.input_tokens, rec.output_tokens, rec.cached_tokens, rec.cache_write_tokens) == (
        total_input,
        A["output"],
        A["cache_read"],
        A["cache_write"],
    )
    expected = A["input"] * 1 + A["cache_read"] * 0.1 + A["cache_write"] * 1.25 + A["output"] * 5
    assert rec.cost == pytest.approx(expected / 1e6)


@pytest.mark.parametrize("is_async", [False, True])
def test_failed_call_is_recorded_with_error_type_and_status(
    server: FakeLLMServer, is_async: bool
) -> None:
    """A 429 raises LiteLLM's error and records one failed call with its class and status."""

    def call() -> Any:
        kwargs = dict(
            model="openai/gpt-4o",
            messages=MESSAGES,
            api_base=server.openai_base_url,
            api_key="sk-test",
            extra_headers={"x-fake-status": "429"},
            timeout=10,
            max_retries=0,
            num_retries=0,
        )
        if is_async:
            return asyncio.run(litellm.acompletion(**kwargs))
        return litellm.completion(**kwargs)

    with settled(1) as records, bifrost_sync(), pytest.raises(litellm.RateLimitError):
        call()
    (rec,) = records.llm_calls
    assert (rec.success, rec.error_type, rec.extra.get("status_code")) == (
        False,
        "RateLimitError",
        429,
    )
    assert rec.error.startswith("RateLimitError") and rec.cost is None


def test_content_is_captured_only_with_capture_content(server: FakeLLMServer) -> None:
    """Messages and the completion text are kept only with capture_content on."""
    with settled(1) as records, bifrost_sync():
        _openai(server)
    assert [(r.input, r.output) for r in records.llm_calls] == [(None, None)]
    auditora.configure(capture_content=True)
    with settled(1) as records, bifrost_sync():
        _openai(server)
    assert [(r.input, r.output) for r in records.llm_calls] == [(MESSAGES, "Hello from the")]


def test_unknown_model_takes_litellms_cost(server: FakeLLMServer) -> None:
    """A model Auditora has no price for, but LiteLLM has, is priced by LiteLLM (and says so)."""
    with settled(1) as records, bifrost_sync():
        _openai(server, extra_headers={"x-fake-model": "gpt-3.5-turbo-16k"})
    (rec,) = records.llm_calls
    assert rec.model == "gpt-3.5-turbo-16k"
    assert rec.cost is not None and rec.cost > 0
    assert rec.extra.get("cost_source") == "litellm"


def test_own_price_wins_over_litellms(server: FakeLLMServer) -> None:
    """A registered price applies, as for the SDK integrations."""
    register_price("gpt-4o", input=1.0, output=1.0)
    with settled(1) as records, bifrost_sync():
        _openai(server)
    (rec,) = records.llm_calls
    assert rec.cost == pytest.approx((U["input"] + U["output"]) / 1e6)


def test_uninstrument_removes_the_callback_and_instrument_is_idempotent(
    server: FakeLLMServer,
) -> None:
    """instrument() twice adds one callback; uninstrument() removes it and records stop."""
    auditora_litellm.instrument()
    ours = [cb for cb in litellm.callbacks if type(cb).__name__ == "AuditoraCallback"]
    assert len(ours) == 1
    auditora_litellm.uninstrument()
    assert not auditora_litellm.is_instrumented()
    assert ours[0] not in litellm.callbacks + litellm.success_callback
    with settled(0) as records, bifrost_sync():
        _openai(server)
    assert records.llm_calls == []


def test_budget_is_counted_for_litellm_calls(server: FakeLLMServer) -> None:
    """The call's tokens count against its session's budget."""
    from auditora.llm import clear_budgets, get_budget, set_budget

    @sentinel()
    def ask() -> None:
        _openai(server)

    set_budget(ask, max_tokens=1_000_000)
    try:
        with settled(1):
            ask()
        assert get_budget(ask).spent_tokens == U["input"] + U["output"]
    finally:
        clear_budgets()


def test_missing_package_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without litellm, instrument() names the extra to install."""
    import sys

    auditora_litellm.uninstrument()
    monkeypatch.setitem(sys.modules, "litellm", None)
    with pytest.raises(ImportError, match=r"pip install 'auditora\[litellm\]'"):
        auditora_litellm.instrument()


def test_calls_from_threads_land_in_each_threads_run(server: FakeLLMServer) -> None:
    """Two threads calling at once: each record belongs to its own thread's run."""
    runs: List[Any] = []

    def worker(done: Callable[[Any], None]) -> None:
        with bifrost_sync() as run:
            _openai(server)
        done(run)

    with settled(2) as records:
        threads = [threading.Thread(target=worker, args=(runs.append,)) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
    calls = records.llm_calls
    assert sorted(r.run_id for r in calls) == sorted(r.run_id for r in runs)
