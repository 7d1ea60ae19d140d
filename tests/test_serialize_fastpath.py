"""The serializer's JSON fast paths give exactly the text of the general path.

``json_texts`` / ``json_text`` skip redaction and the sanitizer's walk for flat
dicts that neither would change. That may not change what is kept, nor let a
secret through.
"""

from __future__ import annotations

import math
import subprocess
import sys
from collections import OrderedDict
from typing import Any, List, Optional

import pytest

from auditora import _serialize, redaction
from auditora._serialize import json_text, json_texts, sanitize


class _Thing:
    def __repr__(self) -> str:
        return "<thing sk-0123456789abcdefghij>"


def _reference(value: Any) -> Optional[str]:
    """The general path: redact, sanitize, encode."""
    if value is None:
        return None
    return str(_serialize._encode(sanitize(_serialize._redacted(value))))


def _values() -> List[Any]:
    cyclic: dict = {"a": 1}
    cyclic["self"] = cyclic
    return [
        {},
        {"key": "k1"},
        {"i": 1, "f": 1.5, "b": True, "n": None, "s": "text", "neg": -0.0},
        {"password": "hunter2", "ok": 1},
        {"api_key": 1},
        {"Authorization": "x"},
        {"note": "sk-" + "a" * 24},
        {"note": "Bearer abcdefghijklmnop"},
        {"note": "basic facts only"},  # a trigger word, no secret
        {"basic": 1},
        {"nan": math.nan},
        {"inf": -math.inf},
        {"nested": {"password": "x"}},
        {"list": [1, "sk-" + "b" * 24]},
        {"brace": "a{b", "close": "x},{y"},
        {1: "int key"},
        {"long": "x" * 20_000},
        {f"k{i}": i for i in range(1_500)},
        OrderedDict(a=1),
        cyclic,
        {"obj": _Thing()},
        {"ctl": 'line\nbreak\x00nul"quote\\'},
        {"é": "ü€"},
        None,
        [1, 2],
        "plain",
        5,
    ]


def _check_all(values: List[Any]) -> None:
    expected = [_reference(v) for v in values]
    assert [json_text(v) for v in values] == expected
    assert json_texts(values) == expected
    # Every value alone and every flat-dict-only batch.
    for v, e in zip(values, expected):
        assert json_texts([v]) == [e]
    dicts = [v for v in values if type(v) is dict]
    assert json_texts(dicts) == [_reference(v) for v in dicts]


def test_json_fast_paths_match_the_general_path() -> None:
    _check_all(_values())


def test_plain_batches_match_with_and_without_nones() -> None:
    batch = [{"key": f"k{i}", "i": i} for i in range(300)]
    assert json_texts(batch) == [_reference(v) for v in batch]
    mixed: List[Any] = [None if i % 3 else v for i, v in enumerate(batch)]
    assert json_texts(mixed) == [_reference(v) for v in mixed]
    # One secret anywhere in the batch is still masked.
    batch[150] = {"key": "ghp_" + "c" * 36}
    texts = json_texts(batch)
    assert texts == [_reference(v) for v in batch]
    assert "ghp_" not in str(texts[150]) and redaction.MASK in str(texts[150])
    # Mostly repeated values (scanned once each), one secret among them.
    same: List[Any] = [{"key": "k1"} for _ in range(300)]
    same[7] = {"key": "xoxb-" + "d" * 20}
    texts = json_texts(same)
    assert texts == [_reference(v) for v in same]
    assert redaction.MASK in str(texts[7]) and "xoxb" not in str(texts[7])


@pytest.mark.parametrize(
    "settings",
    [
        {"enabled": False},
        {"extra_keys": ["card number", "key"]},
        {"extra_patterns": [r"\d{3}-\d{2}-\d{4}"]},
        {"hook": lambda key, value: "H" if key == "key" else value},
    ],
)
def test_fast_paths_follow_the_redaction_configuration(settings: Any) -> None:
    redaction.configure(**settings)
    values = [*_values(), {"key": "k1"}, {"ssn": "123-45-6789"}, {"cardNumber": 4}]
    _check_all(values)


def test_a_replaced_redactor_is_always_called(monkeypatch: pytest.MonkeyPatch) -> None:
    _serialize._redactor()
    monkeypatch.setattr(_serialize, "_redact", lambda v: {"redacted": True})
    assert json_texts([{"a": 1}, {"b": 2}]) == ['{"redacted":true}'] * 2
    assert json_text({"a": 1}) == '{"redacted":true}'


def test_a_cyclic_dict_in_a_batch_is_cut_even_with_a_huge_recursion_limit() -> None:
    """Batches skip the encoder's cycle check only when no dict holds a
    container; a dict holding itself is still found at once (not by running
    into the recursion limit, which a high limit would turn into a crash)."""
    code = (
        "import sys; sys.setrecursionlimit(10**6)\n"
        "from auditora._serialize import json_texts\n"
        "d = {'a': 1}; d['self'] = d\n"
        "print(json_texts([{'k': 1}, d, {'k': 2}]))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "<cycle>" in done.stdout and '{"k":1}' in done.stdout


def test_flat_dicts_whose_strings_hold_brackets_take_the_fast_path() -> None:
    """An HTTP run's attributes hold its route template ("/items/{item_id}"): flatness is
    told by the values' types, so such dicts are kept without the walk, alone and as a
    column, and still give exactly the general path's text."""
    attributes = [
        {"http.route": "/items/{item_id}", "http.response.status_code": 200},
        {"http.route": "/a/[b]/{c},{d}", "http.request.method": "GET"},
        {"http.route": "/health"},
    ]
    masking = _serialize._masking()
    assert masking is not None
    limits = _serialize._Limits()
    assert _serialize._user_column(list(attributes), limits) is not None
    for d in attributes:
        assert _serialize._flat_text(d, masking, *_serialize._flat_limits()) is not None
    assert json_texts(attributes) == [_reference(d) for d in attributes]
    # A secret beside the template still sends the column the long way, masked.
    secret = {"http.route": "/k/{id}", "note": "sk-" + "c" * 24}
    assert _serialize._user_column([*attributes, secret], limits) is None
    assert "sk-" not in str(json_texts([*attributes, secret]))
