"""Safe, bounded serialization of records and hostile user values."""

from __future__ import annotations

import json
import math
import threading

import auditora
from auditora import _config, _serialize
from auditora._serialize import dumps, sanitize, to_jsonable
from auditora.records import SCHEMA_VERSION, Event, LLMCall, Log, Run


class BadRepr:
    def __repr__(self) -> str:
        raise RuntimeError("no repr for you")


def _event(metadata: dict) -> Event:
    return Event("e", 1, None, metadata, "a" * 16, "b" * 32, "s")


def test_plain_values_pass_through() -> None:
    """JSON-native values come out unchanged."""
    value = {"a": 1, "b": [1.5, "x", None, True], "c": {"d": "e"}}
    assert value == sanitize(value)


def test_non_finite_floats_become_strings() -> None:
    """NaN and the infinities stay representable as strings, so strict JSON works."""
    assert sanitize([math.nan, math.inf, -math.inf]) == ["NaN", "Infinity", "-Infinity"]


def test_unknown_objects_become_repr_and_bad_repr_a_placeholder() -> None:
    """Non-JSON values become their repr; a raising __repr__ becomes a placeholder."""
    assert sanitize([BadRepr(), frozenset({1}), 1j]) == ["<unrepresentable BadRepr>", [1], "1j"]
    lock = threading.Lock()
    assert repr(lock)[:10] == sanitize(lock)[:10]


def test_cycles_are_cut() -> None:
    """A container met inside itself becomes the '<cycle>' marker."""
    d: dict = {"a": 1}
    d["self"] = d
    assert sanitize(d) == {"a": 1, "self": "<cycle>"}


def test_shared_non_cyclic_values_are_kept() -> None:
    """The same list twice side by side is not a cycle."""
    shared = [1]
    assert sanitize({"x": shared, "y": shared}) == {"x": [1], "y": [1]}


def test_long_string_is_truncated_with_marker() -> None:
    """A 10 MB string is cut to max_string_length with a visible marker."""
    out = sanitize("x" * 10_000_000)
    limit = _config.settings.max_string_length
    assert "x" * limit + f"…[+{10_000_000 - limit} chars]" == out


def test_wide_dict_is_truncated_with_marker() -> None:
    """A 10,000-key dict keeps max_items keys plus a '…' marker key."""
    out = sanitize({f"k{i}": i for i in range(10_000)})
    limit = _config.settings.max_items
    assert limit + 1 == len(out)
    assert f"+{10_000 - limit} items" == out["…"]


def test_long_list_is_truncated_with_marker() -> None:
    """A long list keeps max_items items plus a marker item."""
    auditora.configure(max_items=3)
    assert sanitize(list(range(10))) == [0, 1, 2, "…[+7 items]"]


def test_deep_nesting_is_cut_at_max_depth() -> None:
    """500-deep nesting stops at max_depth with a marker, without RecursionError."""
    deep: list = []
    node = deep
    for _ in range(500):
        child: list = []
        node.append(child)
        node = child
    out = sanitize(deep)
    depth = 0
    while isinstance(out, list):
        out = out[0]
        depth += 1
    assert (_config.settings.max_depth, "<max depth>") == (depth, out)


def test_node_budget_bounds_total_work() -> None:
    """Once max_nodes values were visited, containers stop with a '+N items' marker."""
    auditora.configure(max_nodes=5)
    assert sanitize([1, 2, 3, 4, 5, 6]) == [1, 2, 3, 4, "…[+2 items]"]
    assert sanitize([[1, 2], [3, 4], [5, 6]]) == [[1, 2], ["…[+2 items]"], "…[+1 items]"]


def test_non_string_keys_become_strings() -> None:
    """Dict keys are strings in the output: JSON spelling for numbers, repr otherwise."""
    assert sanitize({1: "a", None: "b", (1, 2): "c"}) == {"1": "a", "null": "b", "(1, 2)": "c"}


def test_bytes_become_bounded_repr() -> None:
    """Bytes are shown by repr, cut to the string limit."""
    auditora.configure(max_string_length=16)
    assert repr(b"a" * 16) + "…[+4 bytes]" == sanitize(b"a" * 20)


def test_hostile_record_is_serialized_and_json_encodable() -> None:
    """A record carrying every hostile value serializes and encodes as strict JSON."""
    cyclic: dict = {}
    cyclic["me"] = cyclic
    deep: list = []
    node = deep
    for _ in range(500):
        node.append([])
        node = node[0]
    meta = {
        "lock": threading.Lock(),
        "cyclic": cyclic,
        "big": "y" * 10_000_000,
        "wide": {str(i): i for i in range(10_000)},
        "deep": deep,
        "bad": BadRepr(),
        "nan": math.nan,
    }
    out = to_jsonable(_event(meta))
    text = json.dumps(out, allow_nan=False)
    assert (
        out["kind"],
        out["schema"],
        out["metadata"]["bad"],
        out["metadata"]["nan"],
    ) == ("event", SCHEMA_VERSION, "<unrepresentable BadRepr>", "NaN")
    assert len(text) < 1_000_000


def test_run_frame_attributes_are_never_serialized() -> None:
    """A Run's session/monitor/report adats are not part of its serialized form."""
    run = Run.__new__(Run)
    for name in Run._fields:
        setattr(run, name, None)
    run.session = object()  # type: ignore[assignment]
    out = to_jsonable(run)
    assert ["kind", "schema", *Run._fields] == list(out)


def test_record_kinds_and_fields_are_kept() -> None:
    """An LLM call serializes every field, with its kind and schema version."""
    call = LLMCall("gpt-4", 3, 5, 0.2, True, 7, None, None, "s", cost=0.01)
    out = to_jsonable(call)
    assert (
        out["kind"],
        out["model"],
        out["input_tokens"],
        out["output_tokens"],
        out["cost"],
        out["extra"],
    ) == ("llm_call", "gpt-4", 3, 5, 0.01, {})


def test_user_fields_are_redacted_when_redaction_exists(monkeypatch) -> None:
    """User-provided fields go through auditora.redaction.redact before sanitizing."""
    monkeypatch.setattr(_serialize, "_redact_loaded", True)
    monkeypatch.setattr(_serialize, "_redact", lambda v: {"redacted": True})
    out = to_jsonable(Log("INFO", "msg", {"api_key": "sk-123"}, 1, None, None, None))
    assert (out["fields"], out["message"]) == ({"redacted": True}, "msg")


def test_failing_redaction_hides_the_value(monkeypatch) -> None:
    """If redaction raises, the value is replaced by a placeholder (never leaked)."""

    def boom(value: object) -> object:
        raise RuntimeError("x")

    monkeypatch.setattr(_serialize, "_redact_loaded", True)
    monkeypatch.setattr(_serialize, "_redact", boom)
    out = to_jsonable(_event({"password": "hunter2"}))
    assert out["metadata"] == "<redaction failed>"


def test_missing_redaction_module_means_identity(monkeypatch) -> None:
    """Without a redaction module values are only sanitized."""
    monkeypatch.setattr(_serialize, "_redact_loaded", True)
    monkeypatch.setattr(_serialize, "_redact", None)
    assert to_jsonable(_event({"a": 1}))["metadata"] == {"a": 1}


def test_non_record_values_are_wrapped() -> None:
    """to_jsonable accepts any value and never raises."""
    assert to_jsonable([1, math.nan]) == {
        "kind": "value",
        "schema": SCHEMA_VERSION,
        "value": [1, "NaN"],
    }


def test_dumps_is_one_strict_json_line() -> None:
    """dumps() returns compact strict JSON without a newline."""
    line = dumps(_event({"x": math.inf}))
    assert ("\n" not in line, json.loads(line)["metadata"]["x"]) == (True, "Infinity")


class _Probe(Log):
    """A log record whose ``fields`` cannot be read when its message is "boom"."""

    __slots__ = ()

    def __getattribute__(self, name: str) -> object:
        if name == "fields" and object.__getattribute__(self, "message") == "boom":
            raise RuntimeError("this field cannot be read")
        return object.__getattribute__(self, name)


def test_a_record_that_cannot_be_serialized_costs_only_itself() -> None:
    """One failing record of a batch becomes an ``invalid`` part alone; its neighbours of
    the same class are serialized as usual."""
    records = [
        _Probe("INFO", message, {"n": i}, i, None, None, None)
        for i, message in enumerate(["first", "boom", "third"])
    ]
    parts = _serialize.serialize(records)
    by_kind = {p.kind: p for p in parts}
    assert set(by_kind) == {"log", "invalid"}
    good = by_kind["log"]
    assert good.where == [0, 2]
    columns = dict(zip(good.names, good.columns))
    assert columns["message"] == ["first", "third"]
    assert columns["fields"] == [{"n": 0}, {"n": 2}]
    assert by_kind["invalid"].where == [1]
    dicts = _serialize.dicts(parts, 3)
    assert [d["kind"] for d in dicts] == ["log", "invalid", "log"]
