"""``auditora experiments STORE`` and ``auditora compare STORE BASE CAND``: tables, JSON,
Markdown and JUnit on stdout; one ``auditora: ...`` line on stderr and exit 1 for a missing
store or experiment, 2 for a usage error."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, Tuple

import pytest

from auditora import experiments
from auditora.cli import main
from auditora.experiments import Dataset, Item

DATA = Dataset([{"input": i, "expected": i % 3, "id": f"q{i}"} for i in range(40)])


def exact(output: Any, item: Item) -> bool:
    return bool(output == item.expected)


@pytest.fixture()
def db(tmp_path: Path) -> str:
    path = tmp_path / "exp.db"
    experiments.run("base", DATA, lambda x: x % 3, [exact], store=path, metadata={"v": 1})
    experiments.run("cand", DATA, lambda x: x % 3 if x % 4 else -1, [exact], store=path)
    return str(path)


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> Tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_experiments_lists_each_run(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    """A table with name, id, dataset hash, items, trials and means; JSON with the same."""
    code, out, err = _run(capsys, "experiments", db)
    assert (code, err) == (0, "")
    assert "base" in out and "cand" in out and "exact=1" in out and "exact=0.75" in out
    code, out, _ = _run(capsys, "experiments", db, "--json")
    rows = json.loads(out)
    assert [r["name"] for r in rows] == ["base", "cand"] and rows[0]["metadata"] == {"v": 1}
    assert rows[1]["metrics"] == {"exact": 0.75} and rows[0]["dataset"] == DATA.version


def test_compare_prints_the_table_and_the_regressions(
    db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Text by default: the metric with its interval, flagged, and the regressed items."""
    code, out, err = _run(capsys, "compare", db, "base", "cand")
    assert (code, err) == (0, "")
    assert "exact" in out and "REGRESSED" in out and "10 regressed" in out
    assert "regressed q0:" in out


def test_compare_json_has_metrics_and_items(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    """``--json``: one object with the documented ``metrics`` and ``items``."""
    code, out, _ = _run(capsys, "compare", db, "base", "cand", "--json")
    data = json.loads(out)
    m = data["metrics"][0]
    assert code == 0 and m["name"] == "exact" and m["significant"] is True
    assert m["base"] == 1.0 and m["candidate"] == 0.75 and m["delta"] == -0.25
    assert m["ci_low"] <= -0.25 <= m["ci_high"] < 0
    changes = {i["item"]: i["change"] for i in data["items"]}
    assert changes["q0"] == "regressed" and changes["q1"] == "unchanged"


def test_compare_markdown_and_junit(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    """``--format md`` is a Markdown table; ``--format junit`` parses as JUnit XML."""
    code, out, _ = _run(capsys, "compare", db, "base", "cand", "--format", "md")
    assert code == 0 and out.startswith("### Experiment comparison") and "| exact |" in out
    code, out, _ = _run(capsys, "compare", db, "base", "cand", "--format", "junit")
    suite = ET.fromstring(out.split("\n", 1)[1])
    assert code == 0 and suite.tag == "testsuite" and suite.get("failures") == "1"


def test_errors_are_one_line_without_a_traceback(
    db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A missing store or experiment: exit 1; a bad option: exit 2."""
    code, out, err = _run(capsys, "compare", db, "base", "nope")
    assert code == 1 and out == "" and err.startswith("auditora: no experiment 'nope'")
    assert err.count("\n") == 1 and "Traceback" not in err
    code, _, err = _run(capsys, "experiments", str(tmp_path / "missing.db"))
    assert code == 1 and err.startswith("auditora: no Auditora store")
    code, _, err = _run(capsys, "compare", db, "base", "cand", "--format", "html")
    assert code == 2
    code, _, err = _run(capsys, "compare", db, "base", "cand", "--confidence", "2")
    assert code == 2 and "between 0 and 1" in err


def test_an_empty_store_lists_no_experiments(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A store without experiments says so (and ``--json`` prints an empty list)."""
    from auditora.store import open_store

    path = tmp_path / "empty.db"
    open_store(path, readonly=False).close()
    code, out, _ = _run(capsys, "experiments", str(path))
    assert code == 0 and out.startswith("no experiments in")
    code, out, _ = _run(capsys, "experiments", str(path), "--json")
    assert json.loads(out) == []
