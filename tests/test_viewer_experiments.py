"""The viewer's experiment data: the list with means and per-dataset trends, and the
comparison with intervals, an item table sorted by change, both outputs, a diff and trace
links; JSON-ready whatever the outputs hold."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import pytest

from auditora import experiments
from auditora.experiments import Dataset, Item
from auditora.store import Store, open_store
from auditora.viewer._experiments import comparison_view, experiments_view, text_diff
from auditora.viewer._model import NotFound

DATA = Dataset([{"input": i, "expected": f"answer {i}", "id": f"q{i}"} for i in range(12)])
OTHER = Dataset([{"input": "x", "expected": "y"}])


def exact(output: Any, item: Item) -> bool:
    return bool(output == item.expected)


@pytest.fixture()
def store(tmp_path: Path) -> Iterator[Store]:
    path = tmp_path / "exp.db"
    experiments.run("v1", DATA, lambda i: f"answer {i}", [exact], store=path)
    experiments.run(
        "v2", DATA, lambda i: f"answer {i}" if i % 4 else f"wrong {i}", [exact], store=path
    )
    experiments.run(
        "v3", DATA, lambda i: f"answer {i}" if i % 2 else f"wrong {i}", [exact], store=path
    )
    experiments.run("other", OTHER, lambda x: "<script>alert(1)</script>", [exact], store=path)
    with open_store(path) as opened:
        yield opened


def test_the_list_is_newest_first_with_a_trend_per_dataset(store: Store) -> None:
    """Four runs, two datasets; the trend of ``exact`` on DATA follows v1, v2, v3."""
    view = experiments_view(store)
    assert [e["name"] for e in view["experiments"]] == ["other", "v3", "v2", "v1"]
    assert view["metrics"] == ["exact"]
    by_hash = {d["dataset"]: d for d in view["datasets"]}
    trend = by_hash[DATA.version]["trend"]["exact"]
    assert [(p["name"], p["value"]) for p in trend] == [("v1", 1.0), ("v2", 0.75), ("v3", 0.5)]
    assert len(by_hash[OTHER.version]["experiments"]) == 1
    json.dumps(view, allow_nan=False)


def test_the_comparison_sorts_items_by_change_with_outputs_diff_and_links(store: Store) -> None:
    """Regressed items first, each with both outputs, a word diff and links to its traces."""
    view = comparison_view(store, "v1", "v2")
    m = view["metrics"][0]
    assert (m["name"], m["base"], m["candidate"], m["delta"]) == ("exact", 1.0, 0.75, -0.25)
    assert m["ci_low"] is not None and m["ci_high"] is not None
    changes = [i["change"] for i in view["items"]]
    assert changes == ["regressed"] * 3 + ["unchanged"] * 9
    first = view["items"][0]
    assert first["item"] == "q0" and first["base_output"] == "answer 0"
    assert first["candidate_output"] == "wrong 0"
    assert first["diff"] == [
        {"op": "delete", "text": "answer"},
        {"op": "insert", "text": "wrong"},
        {"op": "equal", "text": "0"},
    ]
    run = store.run(first["candidate_link"].split("/")[-1])
    assert (
        run is not None and first["candidate_link"] == f"#/trace/{run['trace_id']}/{run['run_id']}"
    )
    assert run["attributes"]["experiment.item"] == "q0"
    by_id = comparison_view(store, "v1", "v2", sort="item")
    assert [i["item"] for i in by_id["items"]] == sorted(i["item"] for i in view["items"])
    json.dumps(view, allow_nan=False)


def test_items_in_one_experiment_only_and_hostile_outputs(store: Store) -> None:
    """Different datasets: every item is in one experiment only; markup stays plain data."""
    view = comparison_view(store, "v1", "other")
    assert view["items"] == [] and len(view["only_base"]) == 12 and len(view["only_candidate"]) == 1
    assert view["same_dataset"] is False
    diff = text_diff("<script>alert(1)</script>", {"a": [1, 2]})
    assert {"op": "delete", "text": "<script>alert(1)</script>"} in diff
    assert any(d["op"] == "insert" and '"a"' in d["text"] for d in diff)
    lines = text_diff("a\nb\nc", "a\nB\nc")
    assert [d["op"] for d in lines] == ["equal", "delete", "insert", "equal"]
    assert text_diff(None, None) == [{"op": "equal", "text": ""}]
    huge = text_diff("x" * 10**6, "y")
    assert len(huge[0]["text"]) <= 20_000


def test_unknown_experiments_and_bad_arguments(store: Store) -> None:
    """An unknown name is NotFound (a 404 for the server); a bad sort is a ValueError."""
    with pytest.raises(NotFound, match="no experiment 'nope'"):
        comparison_view(store, "v1", "nope")
    with pytest.raises(ValueError, match="sort"):
        comparison_view(store, "v1", "v2", sort="random")
