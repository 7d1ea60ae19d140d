"""llm_judge with the real openai and anthropic SDKs against the fake LLM server on
127.0.0.1: the reply becomes a Score, each call is traced in the item's trace (once, even
with the SDK instrumented), replies are cached on disk, and failures are scorer errors."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any, Iterator

import pytest

from auditora import experiments, scorers
from auditora.experiments import Dataset, Score
from auditora.testing import capture
from fake_llm_server import ANTHROPIC_USAGE, OPENAI_USAGE, FakeLLMServer
from offline_guard import offline

openai = pytest.importorskip("openai")
anthropic = pytest.importorskip("anthropic")

VERDICT = json.dumps({"score": 0.75, "label": "mostly", "explanation": "close enough"})
DATA = Dataset([{"input": "2+2?", "expected": "4", "id": "a"}, {"input": "3+3?", "id": "b"}])


@pytest.fixture(scope="module")
def server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as srv:
        yield srv


def _openai(server: FakeLLMServer, text: str = VERDICT, **headers: str) -> Any:
    return openai.OpenAI(
        base_url=server.openai_base_url,
        api_key="sk-test",
        max_retries=0,
        default_headers={"x-fake-text": text, **headers},
    )


def test_an_openai_judge_scores_and_traces_each_call(server: FakeLLMServer, tmp_path: Path) -> None:
    """The JSON verdict is the score; one LLM call per item, in a judge run that is a child
    of the item's run; the prompt holds the rubric, input, expected and output."""
    judge = scorers.llm_judge(_openai(server), "gpt-4o-mini", "Is it correct?", cache=tmp_path)
    before = len(server.requests)
    with offline() as attempts, capture() as records:
        result = experiments.run("judged", DATA, lambda q: "4", [judge])
    assert attempts == []
    assert result.summary["metrics"] == {"llm_judge": 0.75}
    assert result.items[0].details["llm_judge"] == Score(0.75, "mostly", "close enough")
    sent = server.requests[before:]
    assert len(sent) == 2
    user = sent[0][2]["messages"][1]["content"]
    assert "RUBRIC:\nIs it correct?" in user and "INPUT:\n2+2?" in user
    assert "EXPECTED:\n4" in user and "OUTPUT:\n4" in user
    assert "EXPECTED" not in sent[1][2]["messages"][1]["content"]
    calls = records.llm_calls
    assert len(calls) == 2 and calls[0].input_tokens == OPENAI_USAGE["input"]
    runs = {r.run_id: r for r in records.runs}
    for call, item in zip(calls, result.items):
        judge_run = runs[call.run_id]
        assert judge_run.name == "llm_judge" and judge_run.run_type == "evaluator"
        assert judge_run.parent_id == item.run_id and judge_run.trace_id == item.trace_id
    # The judge's cost is not the task's: the item's cost stays empty.
    assert all(r.cost is None for r in result.items)


def test_cached_verdicts_make_no_call(server: FakeLLMServer, tmp_path: Path) -> None:
    """A rerun reads the verdicts from disk: no request, no LLM record, same scores, and the
    judge run says cached. Another model or rubric is another key."""
    client = _openai(server)
    judge = scorers.llm_judge(client, "gpt-4o-mini", "Correct?", cache=tmp_path / "c")
    first = experiments.run("c1", DATA, lambda q: "4", [judge])
    before = len(server.requests)
    with capture() as records:
        again = experiments.run("c2", DATA, lambda q: "4", [judge])
    assert len(server.requests) == before and records.llm_calls == []
    assert again.scores("llm_judge") == first.scores("llm_judge")
    cached = [r for r in records.runs if r.name == "llm_judge"]
    assert len(cached) == 2 and all(r.attributes["judge.cached"] for r in cached)
    other = scorers.llm_judge(client, "gpt-4o", "Correct?", cache=tmp_path / "c")
    experiments.run("c3", DATA, lambda q: "4", [other])
    assert len(server.requests) == before + 2
    assert len(list((tmp_path / "c").rglob("*.json"))) == 4


def test_an_anthropic_judge(server: FakeLLMServer, tmp_path: Path) -> None:
    """messages.create with a system prompt; the reply's text blocks are parsed."""
    client = anthropic.Anthropic(
        base_url=server.anthropic_base_url,
        api_key="test",
        max_retries=0,
        default_headers={"x-fake-text": "Score: 0.4 - partly right"},
    )
    judge = scorers.llm_judge(client, "claude-3-5-haiku-latest", "Correct?", cache=False)
    with capture() as records:
        result = experiments.run("claude", DATA, lambda q: "4", [judge])
    assert result.scores("llm_judge") == {"a": 0.4, "b": 0.4}
    assert records.llm_calls[0].output_tokens == ANTHROPIC_USAGE["output"]
    body = server.requests[-1][2]
    assert body["system"] == scorers.JUDGE_SYSTEM_PROMPT and body["max_tokens"] == 256


def test_an_async_client_gives_an_async_judge(server: FakeLLMServer) -> None:
    """AsyncOpenAI: the scorer is async and the experiment awaits it."""

    async def make() -> Any:
        client = openai.AsyncOpenAI(
            base_url=server.openai_base_url,
            api_key="sk-test",
            max_retries=0,
            default_headers={"x-fake-text": VERDICT},
        )
        judge = scorers.llm_judge(client, "gpt-4o-mini", "Correct?", cache=False)
        assert asyncio.iscoroutinefunction(judge)
        try:
            return await experiments.arun("async-judge", DATA, lambda q: "4", [judge])
        finally:
            await client.close()

    with capture() as records:
        result = asyncio.run(make())
    assert result.summary["metrics"] == {"llm_judge": 0.75} and len(records.llm_calls) == 2


def test_an_instrumented_sdk_records_the_call_once(server: FakeLLMServer) -> None:
    """With auditora.integrations.openai on, the judge does not record the call again."""
    from auditora.integrations import openai as auditora_openai

    auditora_openai.instrument()
    try:
        judge = scorers.llm_judge(_openai(server), "gpt-4o-mini", "Correct?", cache=False)
        with capture() as records:
            experiments.run("instrumented", DATA, lambda q: "4", [judge])
    finally:
        auditora_openai.uninstrument()
    assert len(records.llm_calls) == 2


def test_unparseable_replies_and_http_errors_are_scorer_errors(
    server: FakeLLMServer, tmp_path: Path
) -> None:
    """No score in the reply, or a 500: the item keeps its output, the score is missing,
    the error is recorded (a failed LLM call for the 500), and nothing is cached."""
    words = scorers.llm_judge(
        _openai(server, "I refuse"), "gpt-4o-mini", "Correct?", cache=tmp_path
    )
    broken = scorers.llm_judge(
        _openai(server, **{"x-fake-status": "500"}), "gpt-4o-mini", "Correct?", cache=tmp_path
    )
    broken.name = "broken"
    with capture() as records:
        result = experiments.run("errors", DATA, lambda q: "4", [words, broken])
    item = result.items[0]
    assert item.ok and item.scores == {}
    assert "has no score" in item.scorer_errors["llm_judge"]
    assert "InternalServerError" in item.scorer_errors["broken"]
    failed = [c for c in records.llm_calls if not c.success]
    assert len(failed) == 2 and "InternalServerError" in (failed[0].error or "")
    assert list(tmp_path.rglob("*.json")) == []


def test_bad_arguments_are_refused() -> None:
    """A client of neither shape, no model or no rubric: a clear error at construction."""
    with pytest.raises(TypeError, match="OpenAI-compatible"):
        scorers.llm_judge(object(), "m", "r")
    client = openai.OpenAI(base_url="http://127.0.0.1:9", api_key="x")
    with pytest.raises(ValueError, match="model"):
        scorers.llm_judge(client, "", "r")
    with pytest.raises(ValueError, match="rubric"):
        scorers.llm_judge(client, "m", " ")
    assert scorers.parse_judgement('noise {"score": 1} noise') == Score(1.0)
    assert scorers.parse_judgement("7/10").value == 7.0
