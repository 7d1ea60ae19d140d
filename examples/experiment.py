"""Experiments with Auditora: a dataset file, two prompt versions, scorers, a comparison
with confidence intervals, and the CI gate against the baseline — all offline.

A support-ticket extractor turns each ticket into JSON (``{"product", "priority"}``).
Version 1 of the "prompt" misses urgent tickets; version 2 fixes that. Both run
over the same JSONL dataset as experiments; deterministic scorers check the JSON
shape and the fields; ``compare`` tells whether v2 is better beyond the noise, and
the gate fails the build if it is significantly worse.

Run it::

    python examples/experiment.py --store exp.db
    auditora experiments exp.db
    auditora compare exp.db extractor-v1 extractor-v2 --format md
    auditora gate exp.db --experiment extractor-v2 --baseline extractor-v1

With ``--judge-url URL`` (an OpenAI-compatible server, e.g. a local vLLM or
Ollama at ``http://127.0.0.1:11434/v1``) an LLM judge grades the summaries too;
its replies are cached in ``.auditora-cache/judge``, so a rerun is free.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
from typing import Any, Dict, List, Optional

from auditora import experiments, report, scorers
from auditora.evaluations import gate_command

PRODUCTS = ["billing", "login", "export", "search", "mobile"]
URGENT = ["down", "outage", "cannot", "urgent", "asap", "blocked"]


def write_dataset(path: str, n: int = 40) -> None:
    """A JSONL dataset of tickets with the expected extraction (deterministic)."""
    with open(path, "w", encoding="utf-8") as f:
        for i in range(n):
            product = PRODUCTS[i % len(PRODUCTS)]
            urgent = i % 3 == 0
            word = URGENT[i % len(URGENT)] if urgent else "slow"
            ticket = f"Ticket {i}: the {product} page is {word} since this morning."
            expected = {"product": product, "priority": "high" if urgent else "normal"}
            f.write(json.dumps({"id": f"t{i:02d}", "input": ticket, "expected": expected}) + "\n")


def extractor(version: int) -> Any:
    """A stand-in model: v1 only sees the word 'urgent', v2 every urgent word."""
    urgent_words = ["urgent"] if version == 1 else URGENT

    def extract(ticket: str) -> str:
        product = next((p for p in PRODUCTS if p in ticket), "unknown")
        high = any(re.search(rf"\b{w}\b", ticket) for w in urgent_words)
        # A priced, simulated model call: cost and tokens roll up into the item.
        report.log_llm_call("gpt-4o-mini", 120 + 30 * version, 18, 0.01 * version)
        return json.dumps({"product": product, "priority": "high" if high else "normal"})

    return extract


def field(name: str) -> Any:
    """A scorer: the output's ``name`` field equals the expected one."""

    def score(output: str, item: experiments.Item) -> bool:
        try:
            return bool(json.loads(output).get(name) == item.expected[name])
        except (ValueError, AttributeError):
            return False

    score.name = f"{name}_correct"  # type: ignore[attr-defined]
    return score


SCHEMA = {
    "type": "object",
    "required": ["product", "priority"],
    "additionalProperties": False,
    "properties": {"product": {"enum": PRODUCTS}, "priority": {"enum": ["high", "normal"]}},
}


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", default="experiments.db", help="SQLite store to write")
    parser.add_argument("--judge-url", help="an OpenAI-compatible server for an LLM judge")
    parser.add_argument("--judge-model", default="gpt-4o-mini")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "tickets.jsonl")
        write_dataset(path)
        data = experiments.Dataset.from_jsonl(path)

    checks: List[Any] = [scorers.json_schema(SCHEMA), field("product"), field("priority")]
    if args.judge_url:
        from openai import OpenAI  # pip install openai

        client = OpenAI(base_url=args.judge_url, api_key=os.environ.get("OPENAI_API_KEY", "-"))
        checks.append(
            scorers.llm_judge(client, args.judge_model, "Is the extraction faithful to the ticket?")
        )

    results: Dict[str, experiments.ExperimentResult] = {}
    for version in (1, 2):
        name = f"extractor-v{version}"
        results[name] = experiments.run(
            name,
            data,
            extractor(version),
            checks,
            concurrency=4,
            store=args.store,
            metadata={"prompt_version": version},
        )
        print(f"{name}: {results[name].summary['metrics']}")

    comparison = experiments.compare(args.store, "extractor-v1", "extractor-v2")
    for m in comparison.metrics:
        if m["ci_low"] is None:  # no item scored by both (or only one)
            print(f"{m['name']}: not comparable ({m['n']} paired items)")
            continue
        flag = " significant" if m["significant"] else ""
        print(f"{m['name']}: {m['delta']:+.3f} [{m['ci_low']:+.3f}, {m['ci_high']:+.3f}]{flag}")
    # The CI gate: v2 must not be significantly worse than v1 on any metric.
    return gate_command([args.store, "--experiment", "extractor-v2", "--baseline", "extractor-v1"])


if __name__ == "__main__":
    sys.exit(main())
