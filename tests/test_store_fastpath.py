"""The SQLite writer's fast paths give exactly the rows of the general path.

``json_texts`` / ``json_text`` skip redaction and the sanitizer's walk for flat
dicts that neither would change, and ``prepare_records`` builds rows a column
at a time; rows are inserted several per statement, with a column that is
uniform over a statement written as ``NULL`` or bound once. None of that may
change what is stored, nor let a secret through.
"""

from __future__ import annotations

import math
import sqlite3
import subprocess
import sys
from collections import OrderedDict
from pathlib import Path
from typing import Any, List, Optional

import pytest

from auditora import _config, _serialize, redaction
from auditora._serialize import json_text, json_texts, sanitize, to_jsonable
from auditora.records import (
    AgentMessage,
    Evaluation,
    Event,
    LLMCall,
    Log,
    MetricSnapshot,
    Run,
    SessionRecord,
)
from auditora.store import open_store
from auditora.store._writer import _insert, prepare_dicts, prepare_records, write_records


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


def _records() -> List[Any]:
    run = Run.__new__(Run)
    for name, value in {
        "_run_id": 0xA1,
        "_trace_id": 0xB2,
        "_parent_id": None,
        "name": "job",
        "session_id": "s1",
        "start_ns": 10,
        "end_ns": 20,
        "duration_ns": 10,
        "status": "ok",
        "error_type": None,
        "error_message": None,
        "run_kind": "function",
        "agent": None,
        "attributes": {"a": 1},
    }.items():
        setattr(run, name, value)
    ids = ("r" * 16, "t" * 32, "s1")
    return [
        run,
        Event("e", 11, None, {"key": "k1"}, *ids),
        Event("x" * 20_000, 12, math.nan, {"password": "p"}, *ids),
        Event(_Thing(), 13, 0.5, {"nested": {"a": [1]}}, *ids),  # type: ignore[arg-type]
        Log("INFO", "hello", {"i": 1}, 14, *ids),
        Log("ERROR", "sk-" + "d" * 30, {"token": "abc"}, 15, None, None, None),
        LLMCall(
            "gpt",
            1,
            2,
            0.1,
            True,
            16,
            *ids,
            request={"temperature": 0.2},
            input=[{"role": "user", "content": "hi"}],
            output="ok",
        ),
        Evaluation("acc", 0.9, 0.5, "PASS", 17, *ids, extra={"n": 3}),
        AgentMessage("a", "b", "handoff", {"text": "go"}, 18, *ids),
        MetricSnapshot({"m": 1.0, "bad": math.inf}, 19, *ids),
        SessionRecord("s1", "name", ["t"], {"state": 1}, 20),
    ]


def test_prepare_records_matches_prepare_dicts() -> None:
    records = _records()
    fast = prepare_records(records)
    slow = prepare_dicts([to_jsonable(r) for r in records])
    assert fast.count == slow.count == len(records)
    assert {k: [list(c) for c in v] for k, v in fast.tables.items()} == {
        k: [list(c) for c in v] for k, v in slow.tables.items()
    }
    assert (fast.metrics, fast.sessions, fast.spans) == (slow.metrics, slow.sessions, slow.spans)


@pytest.mark.parametrize("n", [1, 2, 3, 127, 128, 129, 300, 1000])
def test_every_row_of_a_batch_is_inserted_in_order(tmp_path: Path, n: int) -> None:
    path = tmp_path / "s.db"
    with open_store(path, readonly=False) as store:
        conn: sqlite3.Connection = store._conn
        batch: List[Any] = [Event(f"e{i}", i, None, {"i": i}, None, None, "s") for i in range(n)]
        batch += [MetricSnapshot({"a": i, "b": i}, i, None, None, "s") for i in range(n)]
        assert write_records(conn, batch) == 2 * n
        events = store.events(session_id="s", limit=None)
        metrics = store.metrics(session_id="s", limit=None)
    assert [e["name"] for e in events] == [f"e{i}" for i in range(n)]
    assert [e["metadata"] for e in events] == [{"i": i} for i in range(n)]
    assert [(m["name"], m["value"]) for m in metrics] == [
        (k, i) for i in range(n) for k in ("a", "b")
    ]


def _typed_rows(conn: sqlite3.Connection) -> List[Any]:
    return conn.execute(
        "SELECT a, typeof(a), b, typeof(b), c, typeof(c), d, typeof(d) FROM t ORDER BY rowid"
    ).fetchall()


@pytest.mark.parametrize("n", [2, 5, 512, 700, 1029])
def test_uniform_and_mixed_columns_are_stored_value_for_value(n: int) -> None:
    """Per statement, an all-None column is written as NULL and a column of one
    repeated string is bound once; other columns (including equal numbers of
    different types, 1 / 1.0 / True) are bound per row: every value and its
    type comes back as given, across statement boundaries."""
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.execute("CREATE TABLE t (a, b, c, d)")
    # a: all None; b: one string, as equal copies (not the same object) but
    # changing after row 600; c: None in between strings; d: equal numbers.
    a: List[Any] = [None] * n
    b: List[Any] = ["".join(["sam", "e"]) if i < 600 else f"v{i}" for i in range(n)]
    c: List[Any] = [None if i % 3 else f"c{i}" for i in range(n)]
    d: List[Any] = [(1, 1.0, True)[i % 3] if i % 5 else 1 for i in range(n)]
    _insert(conn, "INSERT INTO t (a, b, c, d) VALUES (?, ?, ?, ?)", [a, b, c, d])
    rows = _typed_rows(conn)
    expected = [
        (
            None,
            "null",
            b[i],
            "text",
            c[i],
            "null" if c[i] is None else "text",
            int(d[i]) if d[i] is not True else 1,
            "real" if d[i].__class__ is float else "integer",
        )
        for i in range(n)
    ]
    assert rows == expected


def test_a_column_uniform_in_one_statement_and_not_the_next_keeps_every_value() -> None:
    """Statements are planned one by one: a column written as NULL (or bound
    once) in the first statement still gets each row's own value in the next,
    and one value different from its equal ends keeps a column bound per row."""
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.execute("CREATE TABLE t (a, b, c, d)")
    # Two statements of 512 rows each.
    a: List[Any] = [None] * 512 + [None] * 100 + ["m"] + [None] * 411
    b: List[Any] = ["x"] * 512 + ["x"] * 256 + ["w"] + ["x"] * 255
    c: List[Any] = [f"c{i}" for i in range(512)] + ["z"] * 512
    d: List[Any] = [None] * 511 + ["y"] + list(range(512))
    _insert(conn, "INSERT INTO t (a, b, c, d) VALUES (?, ?, ?, ?)", [a, b, c, d])
    got = conn.execute("SELECT a, b, c, d FROM t ORDER BY rowid").fetchall()
    assert got == list(zip(a, b, c, d))


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


def test_a_repeated_long_string_is_cut_like_a_single_one() -> None:
    """A column holding one string throughout is measured once; over the limit,
    every copy is cut with the marker, exactly as the general path cuts it."""
    _config.settings.max_string_length = 16
    long_name = "n" * 40
    batch: List[Any] = [Event(long_name, i, None, None, None, None, "s") for i in range(300)]
    fast = prepare_records(batch)
    slow = prepare_dicts([to_jsonable(r) for r in batch])
    names = fast.tables["event"][0]
    assert names == slow.tables["event"][0]
    assert all(n.startswith("n" * 16) and n != long_name for n in names)
    # A long string among short ones is found too.
    batch[150] = Event(long_name, 150, None, None, None, None, "s")
    batch[0] = Event("short", 0, None, None, None, None, "s")
    assert prepare_records(batch).tables["event"][0][150] == names[0]


def test_a_record_with_an_unset_field_is_stored_with_that_column_null(tmp_path: Path) -> None:
    """Fields are read a column at a time by generated code; a record missing
    one (an unset slot) falls back to reading field by field, and the batch is
    stored whole with that field NULL."""
    batch: List[Any] = [Event(f"e{i}", i, 0.5, {"i": i}, None, None, "s") for i in range(5)]
    del batch[2].duration
    with open_store(tmp_path / "s.db", readonly=False) as store:
        assert write_records(store._conn, batch) == 5
        events = store.events(session_id="s", limit=None)
    assert [e["name"] for e in events] == [f"e{i}" for i in range(5)]
    assert [e["duration"] for e in events] == [0.5, 0.5, None, 0.5, 0.5]
