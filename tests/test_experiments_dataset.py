"""Datasets: built from items, JSONL or CSV; ids given or derived from content; a content
hash as version; clear errors for bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditora.experiments import Dataset, Item


def test_items_get_stable_ids_from_their_content_unless_given() -> None:
    """An item without an id gets one from its input and expected value, the same every time."""
    a = Dataset([{"input": "2+2", "expected": "4"}, {"input": "3+3", "expected": "6", "id": "x"}])
    b = Dataset([{"input": "2+2", "expected": "4"}])
    assert a.items[0].id == b.items[0].id and len(a.items[0].id) == 12
    assert a.items[1].id == "x"
    assert a["x"].expected == "6"


def test_the_version_changes_with_any_content_and_not_otherwise() -> None:
    """The version hashes ids, inputs, expected values and metadata."""
    items = [{"input": "a", "expected": "b", "metadata": {"k": 1}}]
    base = Dataset(items).version
    assert Dataset(items).version == base
    assert Dataset([{"input": "a", "expected": "c", "metadata": {"k": 1}}]).version != base
    assert Dataset([{"input": "a", "expected": "b", "metadata": {"k": 2}}]).version != base


def test_duplicate_ids_are_refused() -> None:
    """Two items with one id (given or derived) would be indistinguishable in a comparison."""
    with pytest.raises(ValueError, match="has the id 'a' of item 0"):
        Dataset([Item(1, id="a"), Item(2, id="a")])
    with pytest.raises(ValueError, match="of item 0"):
        Dataset([{"input": "same"}, {"input": "same"}])


def test_from_jsonl_reads_objects_and_reports_the_bad_line(tmp_path: Path) -> None:
    """Blank lines are skipped; a line that is not an object names its file and number."""
    path = tmp_path / "qa.jsonl"
    path.write_text(
        '{"id": "q1", "input": {"q": "hi"}, "expected": "hello", "metadata": {"lang": "en"}}\n'
        "\n"
        '{"input": "bye"}\n',
        encoding="utf-8",
    )
    data = Dataset.from_jsonl(path)
    assert next(i.id for i in data) == "q1" and data["q1"].input == {"q": "hi"}
    assert data["q1"].metadata == {"lang": "en"} and data.items[1].expected is None
    assert data.name == "qa.jsonl"
    path.write_text('{"input": 1}\n[1, 2]\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"qa.jsonl:2: expected a JSON object"):
        Dataset.from_jsonl(path)
    path.write_text('{"question": 1}\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"no 'input' key"):
        Dataset.from_jsonl(path)
    assert Dataset.from_jsonl(path, input="question").items[0].input == 1


def test_from_csv_maps_columns_and_keeps_the_rest_as_metadata(tmp_path: Path) -> None:
    """``input`` is required, ``expected`` and ``id`` optional, other columns go to metadata."""
    path = tmp_path / "qa.csv"
    path.write_text('id,input,expected,topic\nq1,What is 2+2?,4,math\n,"a, b",,misc\n')
    data = Dataset.from_csv(path)
    assert data["q1"].input == "What is 2+2?" and data["q1"].metadata == {"topic": "math"}
    assert data.items[1].input == "a, b" and len(data.items[1].id) == 12
    path.write_text("question,answer\nq,a\n")
    with pytest.raises(ValueError, match="no 'input' column"):
        Dataset.from_csv(path)
    assert Dataset.from_csv(path, input="question", expected="answer").items[0].expected == "a"


def test_non_json_inputs_still_hash() -> None:
    """Python objects hash by their repr (even one whose repr raises), so any dataset has a
    version."""

    class Hostile:
        def __repr__(self) -> str:
            raise RuntimeError("no repr")

    data = Dataset([Item(Path("a.txt"), id="p"), Item(float("nan")), Item(Hostile())])
    assert len(data.version) == 16
    as_path = Dataset([Item(Path("a.txt"), id="p")]).version
    assert as_path != Dataset([Item("a.txt", id="p")]).version
