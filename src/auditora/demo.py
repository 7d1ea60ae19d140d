"""The bundled example behind ``auditora demo``: a multi-stage LLM evaluation pipeline.

It answers a small question set with a simulated retrieval-augmented
generator, judges each answer with a simulated LLM judge, and aggregates the
scores, all under ``@sentinel`` with nested runs, a thread pool (through
:func:`auditora.bind`), ``asyncio`` tasks, agents (planner, answerer, judge,
writer), LLM calls with realistic token counts and latencies (a few of them
failing with rate limits) and evaluations with thresholds. A second, small
session fails a stage on purpose, so the viewer has an error to show. Two
experiments (:data:`EXPERIMENTS`: a topic router, prompt v1 and v2) run on the
question set, so ``auditora compare STORE topic-router-v1 topic-router-v2``
shows a comparison at once.

No network is used: every model is simulated with a seeded random generator,
and time is compressed (a simulated 1.2 s model call sleeps for
1.2 / :data:`TIME_SCALE` seconds) so the demo takes a few seconds.
"""

from __future__ import annotations

import asyncio
import os
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Union

import auditora
from auditora import (
    DefaultMonitor,
    DefaultReport,
    DefaultSession,
    bifrost_async,
    bifrost_sync,
    monitor,
    report,
    sentinel,
    session,
)
from auditora.agents import handoff, send_message
from auditora.store._url import parse_store

__all__ = ["DEFAULT_STORE", "EXPERIMENTS", "QUESTIONS", "TIME_SCALE", "run_demo"]

#: Where ``auditora demo`` writes its store when no ``--store`` is given.
DEFAULT_STORE = "auditora-demo.db"

#: Simulated model latencies are divided by this before sleeping.
TIME_SCALE = 12.0

#: The demo's question set: (question, topic).
QUESTIONS = [
    ("What does the ContextVar API guarantee across asyncio tasks?", "python"),
    ("How do I rotate an API key without downtime?", "security"),
    ("Summarise the trade-offs of WAL mode in SQLite.", "databases"),
    ("Why is my p99 latency higher than my mean latency?", "performance"),
    ("Explain retrieval-augmented generation in two sentences.", "llm"),
    ("What is a W3C traceparent header?", "tracing"),
    ("When should an evaluation gate fail a CI build?", "evaluation"),
    ("How do thread pools lose context variables?", "python"),
    ("What is the cost of 1M output tokens on a small model?", "llm"),
    ("How can a multi-agent system hand off a task safely?", "agents"),
]

#: The demo's two experiments on the question set: a topic router, prompt v1 and v2.
EXPERIMENTS = ("topic-router-v1", "topic-router-v2")

#: Each prompt version's keywords per topic, checked in order (the first hit wins; no hit
#: answers "llm"). v2 knows more words, and puts "cost" under performance by mistake.
_ROUTER_KEYWORDS: Dict[str, Dict[str, List[str]]] = {
    EXPERIMENTS[0]: {
        "python": ["python"],
        "security": ["password"],
        "databases": ["database"],
        "performance": ["latency"],
        "llm": ["model"],
        "tracing": ["trace"],
        "evaluation": ["evaluation"],
        "agents": ["agent"],
    },
    EXPERIMENTS[1]: {
        "python": ["asyncio", "context"],
        "security": ["key", "password"],
        "databases": ["sqlite", "database"],
        "performance": ["latency", "cost"],
        "tracing": ["trace"],
        "evaluation": ["evaluation"],
        "agents": ["agent"],
        "llm": ["model", "retrieval"],
    },
}

_ANSWER_MODEL = ("openai", "gpt-4o-mini")
_JUDGE_MODEL = ("anthropic", "claude-3-5-haiku-20241022")
_PLANNER_MODEL = ("openai", "gpt-4o")


class _RateLimited(Exception):
    """A simulated HTTP 429 from a model provider."""


def _sleep(simulated_seconds: float) -> None:
    time.sleep(simulated_seconds / TIME_SCALE)


class _Pipeline:
    """The demo's stages; ``rng`` makes every run of the demo the same."""

    def __init__(self, rng: random.Random, session_id: str) -> None:
        self.rng = rng
        # One set of adats for every stage, so all runs share the session.
        self.adats: Dict[str, Any] = {
            "session": DefaultSession(session_id),
            "monitor": DefaultMonitor(),
            "report": DefaultReport(echo=False),
        }
        # Draws from ``rng`` happen under a lock: threads must not interleave them.
        self._lock = threading.Lock()

    def watch(self, name: str, agent: Optional[str] = None) -> Callable[[Any], Any]:
        """``@sentinel`` for a stage of this pipeline (sharing its adats)."""
        return sentinel(name=name, agent=agent, **self.adats)

    def _draw(self, fn: Callable[[random.Random], Any]) -> Any:
        with self._lock:
            return fn(self.rng)

    # -- a simulated model call -----------------------------------------
    def _llm(
        self,
        provider_model: tuple[str, str],
        prompt_tokens: int,
        *,
        fail_rate: float = 0.0,
        max_out: int = 400,
    ) -> int:
        """Sleep like a model call, record it, return the completion tokens."""
        call = self._draw_call(fail_rate, max_out)
        _sleep(call[0] if not call[2] else call[0] / 4)
        return self._record_call(provider_model, prompt_tokens, call, max_out)

    async def _allm(self, provider_model: tuple[str, str], prompt_tokens: int, max_out: int) -> int:
        """:meth:`_llm` for coroutines: waits without blocking the event loop."""
        call = self._draw_call(0.0, max_out)
        await asyncio.sleep(call[0] / TIME_SCALE)
        return self._record_call(provider_model, prompt_tokens, call, max_out)

    def _draw_call(self, fail_rate: float, max_out: int) -> tuple[float, int, bool]:
        """Latency (simulated seconds), completion tokens, and whether the call fails."""
        drawn: tuple[float, int, bool] = self._draw(
            lambda r: (
                round(r.uniform(0.6, 2.4), 3),
                r.randint(max_out // 4, max_out),
                r.random() < fail_rate,
            )
        )
        return drawn

    def _record_call(
        self,
        provider_model: tuple[str, str],
        prompt_tokens: int,
        call: tuple[float, int, bool],
        max_out: int,
    ) -> int:
        provider, model = provider_model
        latency, out_tokens, failed = call
        if failed:
            # A rate-limited request is rejected before the model runs: no tokens billed.
            report.log_llm_call(
                model=model,
                prompt_tokens=0,
                completion_tokens=0,
                response_time=round(latency / 4, 3),
                success=False,
                provider=provider,
                finish_reason="error",
                error="429 Too Many Requests: rate limit reached",
            )
            monitor.increment_metric("llm_rate_limited")
            raise _RateLimited(f"{model}: 429 Too Many Requests")
        report.log_llm_call(
            model=model,
            prompt_tokens=prompt_tokens,
            completion_tokens=out_tokens,
            response_time=latency,
            success=True,
            provider=provider,
            finish_reason="stop" if out_tokens < max_out else "length",
        )
        return out_tokens

    def _llm_with_retry(
        self, provider_model: tuple[str, str], prompt_tokens: int, **kw: Any
    ) -> int:
        for attempt in range(1, 4):
            try:
                return self._llm(provider_model, prompt_tokens, **kw)
            except _RateLimited:
                report.warning("rate limited, retrying", attempt=attempt)
                _sleep(0.5 * attempt)
        return self._llm(provider_model, prompt_tokens)

    # -- stages -----------------------------------------------------------
    def load_dataset(self) -> List[Dict[str, Any]]:
        """Stage 1: load the question set."""

        @self.watch("load_dataset")
        def load() -> List[Dict[str, Any]]:
            with monitor.timer("stage.load_dataset"):
                _sleep(0.8)
                items = [
                    {"id": f"q{i + 1:02d}", "question": q, "topic": t}
                    for i, (q, t) in enumerate(QUESTIONS)
                ]
            session.set("dataset", "demo-questions-v1")
            session.set("questions", len(items))
            monitor.track("dataset_loaded", count=len(items), source="builtin")
            report.info("dataset loaded", count=len(items))
            return items

        return load()

    def plan(self, items: List[Dict[str, Any]]) -> List[str]:
        """Stage 2: a planner agent decides the answering strategy."""

        @self.watch("plan_evaluation", agent="planner")
        def planner() -> List[str]:
            self._llm(_PLANNER_MODEL, 900 + 12 * len(items), max_out=300)
            steps = ["retrieve top-4 passages", "answer with citations", "judge faithfulness"]
            report.info("plan ready", steps=len(steps))
            handoff("answerer", "; ".join(steps), questions=len(items))
            return steps

        return planner()

    def answer(self, item: Dict[str, Any]) -> Dict[str, Any]:
        """Stage 3 (one question, in a worker thread): retrieve then generate."""

        @self.watch("answer_question", agent="answerer")
        def answer_one() -> Dict[str, Any]:
            with bifrost_sync(name="retrieve", kind="retriever"):
                with monitor.timer("retrieval", topic=item["topic"]):
                    passages = self._draw(lambda r: r.randint(3, 6))
                    _sleep(self._draw(lambda r: r.uniform(0.1, 0.4)))
                monitor.track("passages_retrieved", question=item["id"], count=passages)
            with bifrost_sync(name="generate", kind="llm"):
                prompt = self._draw(lambda r: r.randint(1400, 2600))
                out = self._llm_with_retry(_ANSWER_MODEL, prompt, fail_rate=0.15, max_out=450)
            monitor.increment_metric("questions_answered")
            report.info("answered", question=item["id"], tokens=out)
            return {**item, "answer_tokens": out, "passages": passages}

        return answer_one()

    async def judge(self, answer: Dict[str, Any]) -> Dict[str, float]:
        """Stage 4 (one answer, as an asyncio task): an LLM judge scores it."""

        @self.watch("judge_answer", agent="judge")
        async def judge_one() -> Dict[str, float]:
            async with bifrost_async(name="judge_call", kind="llm"):
                await asyncio.sleep(self._draw(lambda r: r.uniform(0.8, 2.0)) / TIME_SCALE)
                await self._allm(_JUDGE_MODEL, 600 + answer["answer_tokens"] * 2, max_out=120)
            faith, relevance, toxicity = self._draw(
                lambda r: (
                    round(min(1.0, r.gauss(0.82, 0.1)), 3),
                    round(min(1.0, r.gauss(0.78, 0.12)), 3),
                    round(abs(r.gauss(0.02, 0.03)), 3),
                )
            )
            report.log_evaluation_result(
                "faithfulness", faith, threshold=0.7, question=answer["id"]
            )
            report.log_evaluation_result(
                "answer_relevance", relevance, threshold=0.7, question=answer["id"]
            )
            report.log_evaluation_result(
                "toxicity", toxicity, threshold=0.05, direction="lower", question=answer["id"]
            )
            send_message("writer", f"scores for {answer['id']}", question=answer["id"])
            return {"faithfulness": faith, "answer_relevance": relevance, "toxicity": toxicity}

        return await judge_one()

    async def judge_all(self, answers: List[Dict[str, Any]]) -> List[Dict[str, float]]:
        """Stage 4: judge every answer concurrently."""
        return list(await asyncio.gather(*(self.judge(a) for a in answers)))

    def summarise(self, scores: List[Dict[str, float]]) -> str:
        """Stage 5: a writer agent summarises the scores."""

        @self.watch("write_summary", agent="writer")
        def writer() -> str:
            for metric in ("faithfulness", "answer_relevance"):
                mean = sum(s[metric] for s in scores) / len(scores)
                monitor.set_metric(f"mean_{metric}", round(mean, 4))
                report.log_evaluation_result(f"mean_{metric}", round(mean, 4), threshold=0.75)
            self._llm(_PLANNER_MODEL, 1800, max_out=500)
            report.info("summary written", answers=len(scores))
            return "ok"

        return writer()


def _smoke_test(pipe: _Pipeline) -> None:
    """A second session: a quick regression check whose parse stage fails."""

    @sentinel(
        session=DefaultSession("smoke-test"), report=DefaultReport(echo=False), name="smoke_test"
    )
    def smoke() -> None:
        session.add_tag("nightly")
        pipe._llm(_ANSWER_MODEL, 300, max_out=80)
        try:
            with bifrost_sync(name="parse_output", kind="tool"):
                report.info("parsing model output")
                raise ValueError("model returned invalid JSON: Expecting ',' delimiter")
        except ValueError:
            report.error("smoke test failed: unparseable output")
        report.log_evaluation_result("json_valid", 0.0, threshold=1.0)

    smoke()


def _router(version: str) -> Callable[[str], str]:
    """The demo's topic router for one prompt version: a simulated model call each."""
    keywords = _ROUTER_KEYWORDS[version]
    prompt_tokens = 180 + 40 * sum(len(words) for words in keywords.values())

    def route_question(question: str) -> str:
        lowered = question.lower()
        topic = next(
            (t for t, words in keywords.items() if any(w in lowered for w in words)), "llm"
        )
        _sleep(0.02 + 0.002 * len(question))
        provider, model = _ANSWER_MODEL
        report.log_llm_call(model, prompt_tokens, 3, 0.02, provider=provider)
        return topic

    return route_question


def _experiments() -> List[str]:
    """Two experiment runs on the question set, so ``auditora compare`` has a comparison."""
    from auditora import experiments
    from auditora.scorers import exact_match

    data = experiments.Dataset(
        [
            {"id": f"q{n:02d}", "input": question, "expected": topic}
            for n, (question, topic) in enumerate(QUESTIONS, 1)
        ],
        name="demo-questions",
    )
    ids = []
    for version in EXPERIMENTS:
        result = experiments.run(
            version,
            data,
            _router(version),
            [exact_match],
            concurrency=4,
            metadata={"prompt": version[-2:], "model": _ANSWER_MODEL[1]},
            progress=False,
        )
        ids.append(result.experiment_id)
    return ids


def _run_async(make: Callable[[], Any]) -> Any:
    """``asyncio.run(make())``, in a worker thread if this thread already runs a loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make())
    # e.g. called from Jupyter or an async app: a second loop needs its own thread.
    with ThreadPoolExecutor(max_workers=1) as worker:
        return worker.submit(auditora.bind(lambda: asyncio.run(make()))).result()


def _remove_store(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        target = Path(str(path) + suffix)
        if target.exists():
            target.unlink()


def _start_recording(store: str) -> Callable[[], bool]:
    """Send records to ``store`` (a path or URL); return the function that finishes.

    Uses the recorder (``auditora.configure(store=...)``). Where the recorder
    is not available, records are collected in memory and written in one
    batch at the end through the store's sink.
    """
    try:
        from auditora import _recorder  # noqa: F401
    except ImportError:
        return _direct_recording(store)
    from auditora import _config

    console = _config.settings.console
    auditora.configure(store=store, console=False)

    def finish() -> bool:
        delivered = bool(auditora.flush(timeout=10.0))
        auditora.shutdown(timeout=5.0)
        _config.settings.console = console
        return delivered

    return finish


def _direct_recording(store: str) -> Callable[[], bool]:
    from auditora import _config, _emit
    from auditora.sinks import RecordBatch, store_sink

    records: List[Any] = []
    lock = threading.Lock()

    def keep(record: Any) -> None:
        with lock:
            records.append(record)

    console = _config.settings.console
    _config.settings.console = False
    _emit.add_target(keep)

    def finish() -> bool:
        _emit.remove_target(keep)
        _config.settings.console = console
        sink = store_sink(store)
        try:
            sink.export(RecordBatch(records))
        finally:
            sink.close()
        return True

    return finish


def run_demo(
    store: Union[str, os.PathLike[str]] = DEFAULT_STORE,
    *,
    progress: Optional[Callable[[str], None]] = None,
    seed: int = 7,
    replace: bool = True,
) -> Dict[str, Any]:
    """Run the demo pipeline, writing its records to ``store``: a SQLite file, or a
    PostgreSQL database (a ``postgresql://`` URL, ``pip install 'auditora[postgres]'``).

    An existing file at ``store`` is replaced when ``replace`` is true (the
    default), so the store holds exactly one demo; a PostgreSQL store is never
    emptied, the demo's sessions join what it holds. ``progress`` receives one
    line per stage. Returns a summary dict: ``store`` (the file's absolute path,
    or the URL as given),
    ``session_id``, ``questions``, ``experiments`` (the ids of the two experiment
    runs, :data:`EXPERIMENTS`), ``seconds`` and ``delivered`` (whether every
    record reached the store).
    """
    say = progress or (lambda line: None)
    target = parse_store(store)  # a bad scheme fails here, before any work
    if target.backend == "sqlite":
        path = Path(target.target).resolve()
        if replace:
            _remove_store(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        where = str(path)
    else:
        where = target.target
    rng = random.Random(seed)
    session_id = f"rag-eval-{time.strftime('%Y%m%d-%H%M%S')}"
    pipe = _Pipeline(rng, session_id)
    started = time.perf_counter()

    finish = _start_recording(where)
    try:
        # First, so the pipeline's sessions stay the most recent ones.
        say(f"[0/5] two experiments on the question set: {EXPERIMENTS[0]}, {EXPERIMENTS[1]}")
        experiment_ids = _experiments()

        @pipe.watch("evaluation_pipeline")
        def pipeline() -> None:
            session.set("model", _ANSWER_MODEL[1])
            session.set("judge", _JUDGE_MODEL[1])
            session.add_tag("demo")
            say("[1/5] loading the dataset")
            items = pipe.load_dataset()
            say(f"[2/5] planning (agent: planner) for {len(items)} questions")
            pipe.plan(items)
            say(f"[3/5] answering {len(items)} questions in a thread pool of 4")
            with ThreadPoolExecutor(max_workers=4) as pool:
                answers = list(pool.map(auditora.bind(pipe.answer), items))
            say(f"[4/5] judging {len(answers)} answers concurrently (asyncio)")
            scores = _run_async(lambda: pipe.judge_all(answers))
            say("[5/5] writing the summary (agent: writer)")
            pipe.summarise(scores)

        pipeline()
        say("      + a smoke-test session with a failing stage")
        _smoke_test(pipe)
    finally:
        delivered = finish()
    return {
        "store": where,
        "session_id": session_id,
        "questions": len(QUESTIONS),
        "experiments": experiment_ids,
        "seconds": time.perf_counter() - started,
        "delivered": delivered,
    }
