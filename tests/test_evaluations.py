"""Evaluations: direction, label and explanation; per-metric aggregation; the CI gate."""

from __future__ import annotations

import json
from typing import Any, Iterator, List

import pytest

import auditora
from auditora import report, sentinel
from auditora.evaluations import (
    GateFailedError,
    Rule,
    aggregate,
    aggregate_by_session,
    gate,
    gate_command,
    summary,
)


@pytest.fixture(autouse=True)
def _quiet() -> Iterator[None]:
    auditora.configure(console=False)
    yield


def _scores(session_id: str = "s1") -> Any:
    @sentinel(session_id=session_id)
    def evaluate() -> None:
        for v in (0.9, 0.8, 0.4):
            report.log_evaluation_result("coherence", v, threshold=0.5)
        for v in (1.0, 3.0):
            report.log_evaluation_result("latency", v, threshold=2.0, direction="lower")

    evaluate()
    return evaluate


def test_status_follows_the_direction() -> None:
    """Higher-is-better passes at or above the bar; lower-is-better at or below."""
    evaluate = _scores()
    assert [e.status for e in evaluate._report.get_evaluations()] == [
        "PASS",
        "PASS",
        "FAIL",
        "PASS",
        "FAIL",
    ]


def test_label_and_explanation_are_kept() -> None:
    """A label and an explanation travel with the score."""

    @sentinel()
    def judge() -> None:
        report.log_evaluation_result(
            "faithfulness", 0.2, threshold=0.5, label="hallucinated", explanation="cites no source"
        )

    judge()
    e = judge._report.get_evaluations()[0]
    assert (e.label, e.explanation, e.status) == ("hallucinated", "cites no source", "FAIL")


def test_unknown_direction_is_refused() -> None:
    """direction must be 'higher' or 'lower'."""

    @sentinel()
    def judge() -> None:
        report.log_evaluation_result("x", 1, threshold=1, direction="up")

    with pytest.raises(ValueError, match="direction"):
        judge()


def test_aggregate_gives_count_mean_min_max_and_pass_rate() -> None:
    """Statistics per metric, from records."""
    stats = aggregate(_scores()._report.get_evaluations())
    coherence = stats["coherence"].to_dict()
    assert {k: v for k, v in coherence.items() if k not in ("mean", "pass_rate")} == {
        "count": 3,
        "min": 0.4,
        "max": 0.9,
        "passed": 2,
        "failed": 1,
        "direction": "higher",
    }
    assert pytest.approx(coherence["mean"]) == 0.7
    assert pytest.approx(coherence["pass_rate"]) == 2 / 3
    assert stats["latency"].direction == "lower"


def test_aggregate_by_session_and_from_dicts() -> None:
    """Store rows (dicts) aggregate the same way, grouped by session."""
    rows = [e.to_dict() for e in _scores("a")._report.get_evaluations()]
    rows += [e.to_dict() for e in _scores("b")._report.get_evaluations()][:1]
    by_session = aggregate_by_session(rows)
    assert {sid: s["coherence"].count for sid, s in by_session.items()} == {"a": 3, "b": 1}


def test_report_summary_has_per_metric_statistics() -> None:
    """get_summary()['evaluations']['by_metric'] holds the same statistics."""
    summary = _scores()._report.get_summary()["evaluations"]
    assert (summary["count"], summary["passed"], summary["failed"]) == (5, 3, 2)
    assert summary["by_metric"]["latency"]["pass_rate"] == 0.5


def test_gate_passes_and_fails_on_pass_rate() -> None:
    """The gate is truthy when every metric meets the bar, and names those that do not."""
    records = _scores()._report.get_evaluations()
    assert gate(records, min_pass_rate=0.5)
    result = gate(records, min_pass_rate=0.6)
    assert result.failed_metrics == ["latency"]
    assert "latency: pass_rate = 0.5, required >= 0.6" in result.format()


def test_gate_min_mean_respects_direction_and_rules() -> None:
    """min_mean is a maximum for lower-is-better metrics; rules add per-metric bars."""
    records = _scores()._report.get_evaluations()
    assert gate(records, min_mean=2.0, metrics=["latency"])
    assert not gate(records, min_mean=2.0, metrics=["coherence"])
    result = gate(records, rules=["coherence.min >= 0.5", "latency.max <= 5"])
    assert result.failed_metrics == ["coherence"]


def test_gate_fails_when_a_metric_or_everything_is_missing() -> None:
    """No evaluations, or none for a named metric, is a failure (unless allowed)."""
    assert not gate([], min_pass_rate=0.1)
    assert gate([], min_pass_rate=0.1, allow_empty=True)
    result = gate(_scores()._report.get_evaluations(), min_pass_rate=0, metrics=["toxicity"])
    assert result.failed_metrics == ["toxicity"]


def test_gate_can_raise() -> None:
    """raise_on_failure turns a failed gate into GateFailedError (an AssertionError)."""
    with pytest.raises(GateFailedError) as info:
        gate(_scores()._report.get_evaluations(), min_pass_rate=1.0, raise_on_failure=True)
    assert info.value.result.failed_metrics == ["coherence", "latency"]


def test_rule_parsing() -> None:
    """Rules read 'METRIC.STAT OP NUMBER'; metric names may contain dots."""
    assert str(Rule.parse("rag.recall.mean>=0.7")) == "rag.recall.mean >= 0.7"
    with pytest.raises(ValueError):
        Rule.parse("coherence >= 1")
    with pytest.raises(ValueError):
        Rule.parse("coherence.median >= 1")


def _store(tmp_path: Any) -> str:
    path = str(tmp_path / "evals.db")
    auditora.configure(store=path, console=False)
    _scores("ci")
    assert auditora.flush(timeout=10)
    return path


def test_gate_command_reads_a_store_and_exits_zero_when_met(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """`auditora gate STORE --min-pass-rate 0.5` exits 0 and prints the table."""
    path = _store(tmp_path)
    assert gate_command([path, "--min-pass-rate", "0.5"]) == 0
    out = capsys.readouterr().out
    assert "coherence" in out and "PASSED" in out


def test_gate_command_exits_one_and_names_failed_metrics(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """A bar that is not met exits 1 and prints which metric failed."""
    path = _store(tmp_path)
    assert gate_command([path, "--session", "ci", "--rule", "coherence.mean>=0.8"]) == 1
    out = capsys.readouterr().out
    assert "FAILED" in out and "coherence: mean = 0.7, required >= 0.8" in out


def test_gate_command_json_and_jsonl_input(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """A JSONL file of records works as input; --json prints a machine-readable result."""
    lines: List[str] = [json.dumps(e.to_dict()) for e in _scores()._report.get_evaluations()]
    path = tmp_path / "records.jsonl"
    path.write_text("\n".join(lines) + "\n")
    assert gate_command([str(path), "--min-pass-rate", "0.9", "--json"]) == 1
    result = json.loads(capsys.readouterr().out)
    assert (
        result["passed"],
        [f["metric"] for f in result["failures"]],
    ) == (False, ["coherence", "latency"])


def test_gate_command_usage_errors_exit_two(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """No bar, a bad rule, or a missing store: exit 2 with a message."""
    assert gate_command([str(tmp_path / "x.db")]) == 2
    assert gate_command([str(tmp_path / "x.db"), "--rule", "nonsense"]) == 2
    assert gate_command([str(tmp_path / "missing.db"), "--min-pass-rate", "1"]) == 2
    assert "auditora gate:" in capsys.readouterr().err


def test_summary_reads_a_store_per_session(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """summary() gives plain per-metric dicts, per session when asked."""
    path = _store(tmp_path)
    by_session = summary(path, by_session=True)
    assert list(by_session) == ["ci"]
    assert by_session["ci"]["coherence"]["count"] == 3
    assert summary(path)["latency"]["pass_rate"] == 0.5
