"""The deterministic scorers: what each accepts, its score and its explanation, with
hostile values (None, NaN, huge or non-text outputs) handled."""

from __future__ import annotations

import math

import pytest

from auditora import experiments, scorers
from auditora.experiments import Dataset, Item, Score


def test_exact_match_and_contains() -> None:
    """exact_match is ``==``; contains checks a text, or every text of a list."""
    item = Item("q", "Paris")
    assert scorers.exact_match("Paris", item) and not scorers.exact_match("paris", item)
    assert scorers.exact_match({"a": 1}, {"a": 1})  # an expected value given directly
    assert scorers.contains("The capital is Paris.", item)
    assert scorers.contains("red and blue", Item("q", ["red", "blue"]))
    assert not scorers.contains("red", Item("q", ["red", "blue"]))
    assert scorers.contains(None, Item("q", "")) and not scorers.contains(None, item)


def test_regex_match_is_named_and_searches() -> None:
    """A factory: the scorer searches the output's text, and is named for its metric."""
    scorer = scorers.regex_match(r"\b\d{4}\b")
    assert scorer.name == "regex_match" and scorer.__name__ == "regex_match"
    assert scorer("in 1969", None) and not scorer("in 69", None) and not scorer(None, None)


def test_json_valid() -> None:
    """Text that parses is valid; a parsed value is valid; anything else says why."""
    assert scorers.json_valid('{"a": [1, 2]}').value == 1.0
    assert scorers.json_valid({"a": 1}).value == 1.0
    bad = scorers.json_valid("{'a': 1}")
    assert bad.value == 0.0 and bad.label == "invalid" and "not JSON" in (bad.explanation or "")


SCHEMA = {
    "type": "object",
    "required": ["name", "age"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "minLength": 1, "pattern": "^[A-Z]"},
        "age": {"type": "integer", "minimum": 0, "exclusiveMaximum": 150},
        "tags": {
            "type": "array",
            "items": {"enum": ["a", "b"]},
            "maxItems": 2,
            "uniqueItems": True,
        },
        "kind": {"anyOf": [{"const": "x"}, {"type": "null"}]},
    },
}


@pytest.mark.parametrize(
    ("value", "ok", "fragment"),
    [
        ('{"name": "Ada", "age": 36}', True, ""),
        ({"name": "Ada", "age": 36.0, "tags": ["a"], "kind": None}, True, ""),
        ({"name": "ada", "age": 36}, False, "$.name: does not match"),
        ({"name": "Ada"}, False, "missing required property 'age'"),
        ({"name": "Ada", "age": True}, False, "$.age: expected integer, got boolean"),
        ({"name": "Ada", "age": 150}, False, "exclusiveMaximum"),
        ({"name": "Ada", "age": 1, "extra": 1}, False, "unexpected property 'extra'"),
        ({"name": "Ada", "age": 1, "tags": ["a", "a"]}, False, "not unique"),
        ({"name": "Ada", "age": 1, "tags": ["c"]}, False, "$.tags[0]: 'c' is not one of"),
        ({"name": "Ada", "age": 1, "kind": "y"}, False, "matches none of anyOf"),
        ("[1, 2", False, "not JSON"),
        ([1], False, "expected object, got array"),
    ],
)
def test_json_schema_checks_the_documented_subset(value: object, ok: bool, fragment: str) -> None:
    """Each keyword of the subset is enforced, with the path and reason in the explanation."""
    score = scorers.json_schema(SCHEMA)(value, None)
    assert score.value == (1.0 if ok else 0.0)
    assert fragment in (score.explanation or "")


def test_json_schema_refuses_what_it_does_not_check() -> None:
    """``$ref``, ``format`` and friends are refused up front, not silently ignored."""
    with pytest.raises(ValueError, match=r"unsupported keyword\(s\) \$ref"):
        scorers.json_schema({"properties": {"a": {"$ref": "#/defs/x"}}})
    with pytest.raises(ValueError, match="unknown type 'str'"):
        scorers.json_schema({"type": "str"})
    assert scorers.schema_errors(5, {"oneOf": [{"type": "integer"}, {"type": "number"}]}) == [
        "$: matches 2 of oneOf, not exactly 1"
    ]
    assert scorers.schema_errors(1, {"not": {"type": "integer"}}) != []
    assert scorers.schema_errors(True, {"enum": [1]}) != []  # True is not 1 in JSON


def test_numeric_close() -> None:
    """Within an absolute or relative tolerance; text is parsed; NaN and words are 0."""
    close = scorers.numeric_close(0.01)
    assert close("3.141", Item("pi", 3.14159)).value == 1.0
    assert close(" 3.2 ", Item("pi", 3.14159)).value == 0.0
    assert scorers.numeric_close(0.1, relative=True)(105, Item("x", 100)).value == 1.0
    assert close("three", Item("x", 3)).label == "not a number"
    assert close(float("nan"), Item("x", 3)).value == 0.0
    assert close(True, Item("x", 1)).value == 0.0
    with pytest.raises(ValueError):
        scorers.numeric_close(-1)


def test_similarity_and_levenshtein() -> None:
    """1 for equal texts, 0 for nothing in common, in between otherwise."""
    assert scorers.similarity("abc", Item("q", "abc")) == 1.0
    assert scorers.similarity("", Item("q", "")) == 1.0
    assert 0 < scorers.similarity("kitten", Item("q", "sitting")) < 1
    assert scorers.levenshtein_distance("kitten", "sitting") == 3
    assert scorers.levenshtein("kitten", Item("q", "sitting")) == pytest.approx(1 - 3 / 7)
    assert scorers.levenshtein("abc", Item("q", "xyz")) == 0.0
    assert scorers.levenshtein(None, Item("q", None)) == 1.0
    long = "a" * 2000
    assert scorers.levenshtein(long, Item("q", long[:-1])) == pytest.approx(1 - 1 / 2000)


def test_the_scorers_work_in_an_experiment() -> None:
    """Every deterministic scorer runs in the harness, each a named metric."""
    data = Dataset([{"input": "x", "expected": "42"}, {"input": "y", "expected": "7"}])
    result = experiments.run(
        "scorers",
        data,
        lambda x: "42",
        [
            scorers.exact_match,
            scorers.contains,
            scorers.regex_match(r"^\d+$"),
            scorers.json_valid,
            scorers.json_schema({"type": "integer"}),
            scorers.numeric_close(0.5),
            scorers.similarity,
            scorers.levenshtein,
        ],
    )
    assert result.summary["metrics"] == {
        "exact_match": 0.5,
        "contains": 0.5,
        "regex_match": 1.0,
        "json_valid": 1.0,
        "json_schema": 1.0,
        "numeric_close": 0.5,
        "similarity": 0.5,
        "levenshtein": 0.5,
    }
    assert not any(r.scorer_errors for r in result.items)
    assert isinstance(scorers.json_valid("1"), Score) and not math.isnan(
        result.items[0].scores["similarity"]
    )
