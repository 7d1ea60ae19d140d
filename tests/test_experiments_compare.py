"""compare(): per-metric means, deltas and a seeded paired bootstrap interval that flags
real differences and not noise; per-item changes; cost and latency deltas; the formats."""

from __future__ import annotations

import json
import random
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, Dict

import pytest

from auditora import experiments, report
from auditora.experiments import Dataset, ExperimentResult, Item, ItemResult, paired_bootstrap


def _result(
    name: str, scores: Dict[str, float], metric: str = "acc", **kw: Any
) -> ExperimentResult:
    items = []
    for item_id, value in scores.items():
        r = ItemResult(item_id)
        r.scores[metric] = value
        r.output = f"{name}:{item_id}"
        items.append(r)
    return ExperimentResult(name, f"experiment:{name}:0", items=items, **kw)


def test_identical_experiments_are_not_different() -> None:
    """Delta 0, an interval of exactly [0, 0], not significant, every item unchanged."""
    values = {f"i{i}": random.Random(i).random() for i in range(50)}
    cmp = experiments.compare(None, _result("a", values), _result("b", values))
    m = cmp.metric("acc")
    assert (m["delta"], m["ci_low"], m["ci_high"], m["significant"]) == (0.0, 0.0, 0.0, False)
    assert cmp.counts()["unchanged"] == 50 and m["change"] == "unchanged"


def test_a_known_significant_difference_is_flagged_and_its_interval_holds_it() -> None:
    """Candidate = base + 0.1 + noise on 100 items: significant, the CI contains 0.1."""
    rng = random.Random(7)
    base = {f"i{i}": rng.gauss(0.5, 0.2) for i in range(100)}
    cand = {k: v + 0.1 + rng.gauss(0, 0.05) for k, v in base.items()}
    m = experiments.compare(None, _result("a", base), _result("b", cand)).metric("acc")
    assert m["significant"] and m["change"] == "improved"
    assert m["ci_low"] < 0.1 < m["ci_high"] and m["ci_low"] > 0
    assert m["delta"] == pytest.approx(sum(cand.values()) / 100 - sum(base.values()) / 100)
    m = experiments.compare(None, _result("b", cand), _result("a", base)).metric("acc")
    assert m["significant"] and m["change"] == "regressed" and m["ci_high"] < 0


def test_the_interval_covers_the_true_delta_about_95_percent_of_the_time() -> None:
    """On 80 synthetic paired datasets with a true delta of 0.05, the 95 % interval holds
    it in 85-100 % of them, and pure noise is flagged in at most 15 % (nominally 5 %)."""
    covered = flagged_noise = 0
    trials = 80
    for seed in range(trials):
        rng = random.Random(1000 + seed)
        base = [rng.random() for _ in range(60)]
        cand = [b + 0.05 + rng.gauss(0, 0.15) for b in base]
        _, low, high = paired_bootstrap(base, cand, resamples=800, seed=seed)
        assert low is not None and high is not None
        covered += low <= 0.05 <= high
        noise = [b + rng.gauss(0, 0.15) for b in base]
        _, low, high = paired_bootstrap(base, noise, resamples=800, seed=seed)
        assert low is not None and high is not None
        flagged_noise += low > 0 or high < 0
    assert covered / trials >= 0.85
    assert flagged_noise / trials <= 0.15


def test_the_bootstrap_is_seeded_and_needs_two_pairs() -> None:
    """The same data gives the same interval; one pair gives none; bad input is refused."""
    rng = random.Random(5)
    a = [rng.random() for _ in range(20)]
    b = [rng.random() for _ in range(20)]
    assert paired_bootstrap(a, b) == paired_bootstrap(a, b)
    assert paired_bootstrap(a, b, seed=1) != paired_bootstrap(a, b, seed=2)
    assert paired_bootstrap([0.5], [0.7]) == (pytest.approx(0.2), None, None)
    with pytest.raises(ValueError):
        paired_bootstrap([1.0], [1.0, 2.0])
    with pytest.raises(ValueError):
        paired_bootstrap(a, b, confidence=1.5)


def test_items_are_regressed_improved_unchanged_or_only_in_one() -> None:
    """Per item by each metric's direction; a task that starts failing is a regression."""
    base = _result("a", {"x": 1.0, "y": 0.0, "z": 0.5, "gone": 1.0})
    cand = _result("b", {"x": 0.0, "y": 1.0, "z": 0.5, "new": 1.0})
    broken = ItemResult("w")
    broken.error = "ValueError: boom"
    cand.items.append(broken)
    base.items.append(ItemResult("w"))
    cmp = experiments.compare(None, base, cand)
    change = {i["item"]: i["change"] for i in cmp.items}
    assert change == {"x": "regressed", "y": "improved", "z": "unchanged", "w": "regressed"}
    assert cmp.only_base == ["gone"] and cmp.only_candidate == ["new"]
    assert "  only in base: gone" in cmp.format() and "  only in candidate: new" in cmp.format()
    x = next(i for i in cmp.items if i["item"] == "x")
    assert x["scores"]["acc"] == {"base": 1.0, "candidate": 0.0, "delta": -1.0}
    assert (x["base_output"], x["candidate_output"]) == ("a:x", "b:x")
    assert [i["item"] for i in cmp.regressed] == ["x", "w"]
    lower = experiments.compare(
        None,
        _result("a", {"x": 1.0}, directions={"acc": "lower"}),
        _result("b", {"x": 0.0}, directions={"acc": "lower"}),
    )
    assert lower.items[0]["change"] == "improved"


def test_trials_are_averaged_per_item_before_pairing() -> None:
    """Three trials of an item count as one paired value: their mean."""
    r = ExperimentResult("t", "experiment:t:0")
    for trial, value in enumerate([0.0, 1.0, 1.0]):
        item = ItemResult("a", trial)
        item.scores["acc"] = value
        r.items.append(item)
    assert r.scores("acc") == {"a": pytest.approx(2 / 3)}
    cmp = experiments.compare(None, r, _result("b", {"a": 1.0}))
    assert cmp.metric("acc")["n"] == 1 and cmp.metric("acc")["delta"] == pytest.approx(1 / 3)


def _costly(name: str, cost: float) -> Any:
    def task(x: int) -> int:
        report.log_llm_call("gpt-4o-mini", 100, 10, 0.1, cost=cost * (x + 1))
        return x

    return task


def exact(output: Any, item: Item) -> bool:
    return bool(output == item.expected)


def test_cost_and_latency_deltas_from_a_store(tmp_path: Path) -> None:
    """Totals and percentiles per experiment, candidate minus base, read back from a store."""
    db = tmp_path / "exp.db"
    data = Dataset([{"input": i, "expected": i, "id": f"i{i}"} for i in range(4)])
    experiments.run("cheap", data, _costly("cheap", 0.001), [exact], store=db)
    experiments.run("dear", data, _costly("dear", 0.003), [exact], store=db)
    cmp = experiments.compare(str(db), "cheap", "dear")
    out = cmp.to_dict()
    assert out["cost"]["total"]["base"] == pytest.approx(0.010)
    assert out["cost"]["total"]["delta"] == pytest.approx(0.020)
    assert out["cost"]["p50"]["candidate"] == pytest.approx(0.0075)
    assert set(out["latency"]) == {"total", "p50", "p95"}
    assert out["latency"]["total"]["base"] > 0 and out["same_dataset"] is True
    assert out["metrics"][0]["name"] == "exact" and not out["metrics"][0]["significant"]


def test_the_json_shape_is_the_documented_one() -> None:
    """``metrics``: name, base, candidate, delta, ci_low, ci_high, significant; ``items``:
    item and change; and the whole object is JSON (NaN-free)."""
    cmp = experiments.compare(
        None, _result("a", {"x": 0.2, "y": 0.4}), _result("b", {"x": 0.3, "y": 0.1})
    )
    out = json.loads(json.dumps(cmp.to_dict(), allow_nan=False))
    keys = {"name", "base", "candidate", "delta", "ci_low", "ci_high", "significant"}
    assert keys <= set(out["metrics"][0]) and {"item", "change"} <= set(out["items"][0])
    assert {i["change"] for i in out["items"]} <= {"regressed", "improved", "unchanged"}


def test_text_markdown_and_junit_formats() -> None:
    """The text table, a Markdown table for a PR, and JUnit XML failing regressed metrics;
    hostile item ids and outputs are escaped."""
    rng = random.Random(3)
    base = {f"<b>|{i}": 0.8 + rng.random() * 0.1 for i in range(30)}
    cand = {k: v - 0.3 for k, v in base.items()}
    cmp = experiments.compare(None, _result("a", base), _result("b\x01", cand))
    text = cmp.format("text")
    assert "REGRESSED" in text and "30 regressed" in text and "95% CI" in text
    md = cmp.format("md")
    assert "| acc |" in md and "<b>" not in md and "\\|" in md
    root = ET.fromstring(cmp.format("junit").split("\n", 1)[1])
    assert root.get("failures") == "1" and root.find("testcase/failure") is not None
    with pytest.raises(ValueError, match="unknown format"):
        cmp.format("html")


def test_names_resolve_to_the_newest_run_and_unknown_names_fail(tmp_path: Path) -> None:
    """A name means its newest run; an id names one run; an unknown name is a LookupError."""
    db = tmp_path / "exp.db"
    data = Dataset([{"input": i, "expected": i} for i in range(3)])
    first = experiments.run("n", data, lambda x: x, [exact], store=db)
    experiments.run("n", data, lambda x: -1, [exact], store=db)
    cmp = experiments.compare(db, first.experiment_id, "n")
    assert cmp.metric("exact")["delta"] == -1.0
    with pytest.raises(LookupError):
        experiments.compare(db, "n", "missing")
    with pytest.raises(ValueError, match="needs a store"):
        experiments.compare(None, "n", "n")


def test_no_metric_in_common_gives_an_empty_table() -> None:
    """Different metrics compare to no metric rows, said so in the text."""
    cmp = experiments.compare(None, _result("a", {"x": 1.0}), _result("b", {"x": 1.0}, "other"))
    assert cmp.metrics == [] and "(no metric in common)" in cmp.format()
