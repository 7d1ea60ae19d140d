"""``auditora gate STORE --experiment CAND --baseline BASE``: exit 1 on a significant drop
beyond the margin (printing the metrics and worst items), 0 otherwise, 2 on misuse; the
``--rule`` form is untouched (tests/test_evaluations.py)."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any, Tuple

import pytest

from auditora import experiments
from auditora.evaluations import gate_command
from auditora.experiments import Dataset, Item, Score

DATA = Dataset([{"input": i, "id": f"q{i}"} for i in range(60)])


def quality(output: Any, item: Item) -> Score:
    return Score(output)


def _task(shift: float, noise: float = 0.0) -> Any:
    def task(x: int) -> float:
        rng = random.Random(x * 31 + int(shift * 1000))
        return 0.6 + 0.3 * random.Random(x).random() + shift + rng.gauss(0, noise)

    return task


@pytest.fixture()
def db(tmp_path: Path) -> str:
    path = tmp_path / "exp.db"
    experiments.run("base", DATA, _task(0.0), [quality], store=path)
    experiments.run("worse", DATA, _task(-0.05), [quality], store=path)
    experiments.run("noisy", DATA, _task(0.0, noise=0.2), [quality], store=path)
    experiments.run("better", DATA, _task(0.05), [quality], store=path)
    return str(path)


def _gate(capsys: pytest.CaptureFixture[str], *argv: str) -> Tuple[int, str, str]:
    code = gate_command(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_a_significant_drop_fails_the_gate(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    """A 0.05 drop on every item: exit 1, the metric and the worst items printed."""
    code, out, _ = _gate(capsys, db, "--experiment", "worse", "--baseline", "base")
    assert code == 1
    assert "FAILED: 1 metric(s) dropped significantly" in out
    assert "quality: " in out and "allowed drop 0" in out and "worst regressed items:" in out


def test_a_margin_larger_than_the_drop_passes(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    """``--max-drop quality=0.1`` tolerates the 0.05 drop; ``*=`` sets every metric's."""
    code, out, _ = _gate(
        capsys, db, "--experiment", "worse", "--baseline", "base", "--max-drop", "quality=0.1"
    )
    assert code == 0 and out.rstrip().endswith("PASSED")
    code, _, _ = _gate(
        capsys, db, "--experiment", "worse", "--baseline", "base", "--max-drop", "*=0.1"
    )
    assert code == 0
    code, _, _ = _gate(
        capsys, db, "--experiment", "worse", "--baseline", "base", "--max-drop", "*=0.01"
    )
    assert code == 1


def test_noise_and_improvements_pass(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Zero-mean noise is not significant; a better candidate passes; the same run passes."""
    for candidate in ("noisy", "better", "base"):
        code, out, _ = _gate(capsys, db, "--experiment", candidate, "--baseline", "base")
        assert code == 0, out


def test_json_output(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    """``--json``: passed, failures with their margin, worst items and the comparison."""
    code, out, _ = _gate(capsys, db, "--experiment", "worse", "--baseline", "base", "--json")
    data = json.loads(out)
    assert code == 1 and data["passed"] is False
    assert data["failures"][0]["name"] == "quality" and data["failures"][0]["margin"] == 0.0
    assert data["worst_items"] and data["comparison"]["metrics"][0]["significant"] is True


def test_a_higher_confidence_needs_more_evidence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A borderline drop fails at 0.80 and passes at 0.999."""
    path = tmp_path / "edge.db"
    data = Dataset([{"input": i, "id": f"e{i}"} for i in range(30)])
    experiments.run("b", data, lambda x: 0.5, [quality], store=path)
    rng = random.Random(11)
    drops = {i: rng.gauss(-0.02, 0.06) for i in range(30)}
    experiments.run("c", data, lambda x: 0.5 + drops[x], [quality], store=path)
    cmp = experiments.compare(str(path), "b", "c", confidence=0.8)
    assert cmp.metric("quality")["significant"]
    strict = experiments.compare(str(path), "b", "c", confidence=0.999)
    assert not strict.metric("quality")["significant"]
    args = [str(path), "--experiment", "c", "--baseline", "b"]
    assert _gate(capsys, *args, "--confidence", "0.8")[0] == 1
    assert _gate(capsys, *args, "--confidence", "0.999")[0] == 0


def test_misuse_is_a_usage_error(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Exit 2 with one line: a lone --experiment, a bad margin, an unknown metric or
    experiment, mixing with --rule, a bad confidence."""
    cases = [
        (["--experiment", "worse"], "go together"),
        (["--experiment", "worse", "--baseline", "base", "--max-drop", "quality"], "METRIC=X"),
        (["--experiment", "worse", "--baseline", "base", "--max-drop", "q=-1"], "METRIC=X"),
        (["--experiment", "worse", "--baseline", "base", "--max-drop", "nope=1"], "nope"),
        (["--experiment", "gone", "--baseline", "base"], "no experiment 'gone'"),
        (["--experiment", "worse", "--baseline", "base", "--rule", "a.mean>=1"], "separate"),
        (["--experiment", "worse", "--baseline", "base", "--confidence", "1"], "between"),
    ]
    for extra, message in cases:
        code, _out, err = _gate(capsys, db, *extra)
        assert code == 2 and message in err and err.startswith("auditora gate: "), (extra, err)
        assert err.count("\n") == 1


def test_the_rule_form_still_works(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Without --experiment the gate checks bars over the store's evaluations, as before."""
    code, out, _ = _gate(capsys, db, "--rule", "quality.min >= 0.1")
    assert code == 0 and "PASSED" in out


def test_a_candidate_that_fails_more_items_fails_the_gate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Failed items have no scores, so equal means could hide them: ``task_success`` (the
    share of trials that ran) is compared and gated whenever either run has failures."""
    path = tmp_path / "fail.db"
    experiments.run("steady", DATA, _task(0.0), [quality], store=path)

    def fragile(x: int) -> float:
        if x % 3 == 0:
            raise TimeoutError("model timed out")
        return float(_task(0.0)(x))

    experiments.run("fragile", DATA, fragile, [quality], store=path)
    cmp = experiments.compare(str(path), "steady", "fragile")
    assert cmp.metric("quality")["delta"] == 0.0 and not cmp.metric("quality")["significant"]
    success = cmp.metric("task_success")
    assert (success["base"], success["delta"], success["significant"]) == (1.0, -1 / 3, True)
    code, out, _ = _gate(capsys, str(path), "--experiment", "fragile", "--baseline", "steady")
    assert code == 1 and "task_success: 1 -> 0.6667" in out
    assert "failed: TimeoutError: model timed out" in out
    clean = experiments.compare(str(path), "steady", "steady")
    assert [m["name"] for m in clean.metrics] == ["quality"]
