"""Experiments: run a task over a dataset, score the outputs, compare two runs.

::

    from auditora import experiments, scorers

    data = experiments.Dataset.from_jsonl("qa.jsonl")
    result = experiments.run("baseline", data, answer, scorers=[scorers.exact_match],
                             store="eval.db")
    cmp = experiments.compare("eval.db", "baseline", "candidate")
    print(cmp.format("text"))

See ``docs/experiments.md``.
"""

from __future__ import annotations

from ._compare import Comparison, ExperimentGate, compare, gate_experiment
from ._model import (
    Dataset,
    ExperimentResult,
    Item,
    ItemResult,
    Score,
    list_experiments,
    load_experiment,
    resolve_experiment,
)
from ._run import arun, run
from ._stats import paired_bootstrap

__all__ = [
    "Comparison",
    "Dataset",
    "ExperimentGate",
    "ExperimentResult",
    "Item",
    "ItemResult",
    "Score",
    "arun",
    "compare",
    "gate_experiment",
    "list_experiments",
    "load_experiment",
    "paired_bootstrap",
    "resolve_experiment",
    "run",
]
