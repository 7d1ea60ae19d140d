"""A realistic LLM evaluation pipeline with Auditora: cost, budgets, agents, evaluations, a CI gate.

An orchestrator agent hands each question of a small data set to an answerer
agent (an LLM call) and then to a judge agent, which scores the answer for
correctness (token-overlap F1 against a reference), groundedness (does the
answer stay within the retrieved context) and latency (lower is better). The
run is limited by a dollar budget; every LLM call is priced and rolled up; at
the end the evaluation gate decides the exit code, as it would in CI.

Run it::

    python examples/evaluation_pipeline.py --store eval.db
    auditora gate eval.db --min-pass-rate 0.6 --rule "correctness.mean>=0.5"

With ``OPENAI_API_KEY`` set (and optionally ``OPENAI_BASE_URL``) the answerer
uses the real ``openai`` SDK, recorded automatically by
``auditora.integrations.openai``; without it, a deterministic stand-in model
is used and its calls are logged with ``report.log_llm_call``.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from typing import Any, Callable, Dict, List, Optional

import auditora
from auditora import (
    DefaultMonitor,
    DefaultReport,
    DefaultSession,
    monitor,
    report,
    sentinel,
    session,
)
from auditora.agents import handoff, send_message
from auditora.evaluations import gate
from auditora.llm import register_price, set_budget

MODEL = "gpt-4o-mini"
JUDGE_MODEL = "house-judge-v1"  # an in-house model: we register its price below

DATASET: List[Dict[str, str]] = [
    {
        "question": "What is the capital of France?",
        "context": "Paris is the capital and largest city of France.",
        "reference": "Paris is the capital of France.",
    },
    {
        "question": "Who wrote Pride and Prejudice?",
        "context": "Pride and Prejudice is an 1813 novel by Jane Austen.",
        "reference": "Jane Austen wrote Pride and Prejudice.",
    },
    {
        "question": "What is the boiling point of water at sea level?",
        "context": "At sea level water boils at 100 degrees Celsius.",
        "reference": "Water boils at 100 degrees Celsius at sea level.",
    },
    {
        "question": "Which planet is known as the Red Planet?",
        "context": "Mars is often called the Red Planet because of iron oxide.",
        "reference": "Mars is known as the Red Planet.",
    },
    {
        "question": "How many continents are there?",
        "context": "By the most common convention there are seven continents.",
        "reference": "There are seven continents.",
    },
    {
        # The retrieved context misses the answer: this one fails correctness.
        "question": "Which ocean is the largest?",
        "context": "Oceans cover about 71 percent of the surface of the Earth.",
        "reference": "The Pacific is the largest ocean.",
    },
]


def _tokens(text: str) -> List[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def f1(answer: str, reference: str) -> float:
    """Token-overlap F1 between an answer and a reference (0..1)."""
    a, r = _tokens(answer), _tokens(reference)
    common = sum(min(a.count(t), r.count(t)) for t in set(a))
    if not common:
        return 0.0
    precision, recall = common / len(a), common / len(r)
    return 2 * precision * recall / (precision + recall)


# -- the model ---------------------------------------------------------------------
def simulated_model(question: str, context: str) -> str:
    """A deterministic stand-in: answers from the context, logging its call like a real one."""
    start = time.perf_counter()
    answer = context.split(" because ")[0].rstrip(".") + "."
    prompt_tokens = 40 + 2 * len(_tokens(question + " " + context))
    report.log_llm_call(
        model=MODEL,
        prompt_tokens=prompt_tokens,
        completion_tokens=len(_tokens(answer)) + 3,
        response_time=time.perf_counter() - start,
        provider="openai",
        finish_reason="stop",
        request={"temperature": 0},
        input=question,
        output=answer,
    )
    return answer


def openai_model() -> Callable[[str, str], str]:
    """The answerer backed by the real openai SDK, recorded by the integration."""
    import openai

    from auditora.integrations import openai as auditora_openai

    auditora_openai.instrument()
    client = openai.OpenAI(max_retries=0)

    def ask(question: str, context: str) -> str:
        response = client.chat.completions.create(
            model=MODEL,
            temperature=0,
            messages=[
                {"role": "system", "content": f"Answer from this context only: {context}"},
                {"role": "user", "content": question},
            ],
        )
        return response.choices[0].message.content or ""

    return ask


# -- the agents ----------------------------------------------------------------------
def build_pipeline(ask: Callable[[str, str], str]) -> Callable[[List[Dict[str, str]]], Any]:
    """The orchestrator, answerer and judge, each a sentinel-watched agent.

    The three share one session, monitor and report, so the session's LLM
    roll-ups, budget and evaluations cover the whole pipeline; each call is
    still its own run, tagged with its agent, in one trace.
    """
    shared = {
        "session": DefaultSession("qa-eval"),
        "monitor": DefaultMonitor(),
        "report": DefaultReport(echo=False),
    }

    @sentinel(agent="answerer", **shared)
    def answer(item: Dict[str, str]) -> str:
        start = time.perf_counter()
        text = ask(item["question"], item["context"])
        monitor.track("answered", duration=time.perf_counter() - start)
        send_message("orchestrator", text)
        return text

    @sentinel(agent="judge", **shared)
    def judge(item: Dict[str, str], text: str, latency: float) -> None:
        # The judge is an LLM too: its (simulated) call is priced with our own price.
        report.log_llm_call(JUDGE_MODEL, 120, 12, 0.05, provider="house")
        score = f1(text, item["reference"])
        report.log_evaluation_result(
            "correctness",
            round(score, 3),
            threshold=0.5,
            label="correct" if score >= 0.5 else "incorrect",
            explanation=f"token F1 against the reference: {score:.2f}",
        )
        grounded = set(_tokens(text)) <= set(_tokens(item["context"] + " " + item["question"]))
        report.log_evaluation_result("groundedness", 1.0 if grounded else 0.0, threshold=1.0)
        report.log_evaluation_result("latency", latency, threshold=5.0, direction="lower")

    @sentinel(agent="orchestrator", **shared)
    def run_eval(dataset: List[Dict[str, str]]) -> Dict[str, Any]:
        session.set("dataset_size", len(dataset))
        session.add_tag("nightly")
        for item in dataset:
            handoff("answerer", item["question"])
            start = time.perf_counter()
            text = answer(item)
            handoff("judge", text)
            judge(item, text, time.perf_counter() - start)
        return report.get_summary()

    set_budget(run_eval, max_cost=0.50)  # a runaway loop stops here, with BudgetExceededError
    return run_eval


def main(argv: Optional[List[str]] = None) -> int:
    """Run the pipeline, print the cost and the evaluation table, gate the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", help="keep the records in this SQLite store")
    parser.add_argument("--min-pass-rate", type=float, default=0.6)
    args = parser.parse_args(argv)

    auditora.configure(console=False)
    if args.store:
        auditora.configure(store=args.store)
    register_price(JUDGE_MODEL, input=0.05, output=0.10)
    ask = openai_model() if os.environ.get("OPENAI_API_KEY") else simulated_model

    run_eval = build_pipeline(ask)
    summary = run_eval(DATASET)

    llm = summary["llm"]
    print(f"LLM calls: {llm['calls']}, tokens: {llm['total_tokens']}, cost: ${llm['cost']:.6f}")
    for model, totals in llm["by_model"].items():
        print(f"  {model}: {totals['calls']} calls, ${totals['cost']:.6f}")
    metrics = run_eval._monitor.get_metrics()
    cost, handoffs = metrics["llm.cost_usd"], metrics["agents.handoffs"]
    print(f"monitor: llm.cost_usd={cost:.6f}, agents.handoffs={handoffs:g}")
    result = gate(
        run_eval._report.get_evaluations(),
        min_pass_rate=args.min_pass_rate,
        rules=["correctness.mean >= 0.5", "latency.max <= 5"],
    )
    print(result.format())
    if args.store:
        auditora.flush(timeout=10)
        print(f"records in {args.store}; gate it in CI with:")
        print(f"  auditora gate {args.store} --min-pass-rate {args.min_pass_rate}")
    return 0 if result else 1


if __name__ == "__main__":
    sys.exit(main())
