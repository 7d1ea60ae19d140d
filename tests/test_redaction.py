"""Redaction: secrets masked by key name and value pattern, a user hook, fail closed."""

from __future__ import annotations

import io
import json
from typing import Any, Iterator, Optional

import pytest

import auditora
from auditora import DefaultReport, _config, report, sentinel, session
from auditora.redaction import (
    FAILED,
    MASK,
    configure,
    is_sensitive_key,
    redact,
    redact_text,
    redact_texts,
)
from auditora.redaction import reset as reset_redaction

OPENAI_KEY = "sk-proj-Abcdefghijklmnopqrstuvwxyz012345"
ANTHROPIC_KEY = "sk-ant-api03-Abcdefghijklmnopqrstuvwxyz0123456789"
AWS_KEY = "AKIAIOSFODNN7EXAMPLE"


@pytest.fixture(autouse=True)
def _reset() -> Iterator[None]:
    reset_redaction()
    yield
    reset_redaction()


@pytest.mark.parametrize(
    "key",
    [
        "password",
        "api_key",
        "apiKey",
        "X-Api-Key",
        "Authorization",
        "token",
        "access_token",
        "client_secret",
        "AWS_SECRET_ACCESS_KEY",
        "private_key",
        "cookie",
        "db_passwd",
    ],
)
def test_sensitive_key_names_are_masked(key: str) -> None:
    """Whatever the value, it is masked under a secret-sounding key."""
    assert {key: MASK, "user": "ada"} == redact({key: "hunter2", "user": "ada"})


@pytest.mark.parametrize(
    "key", ["max_tokens", "input_tokens", "prompt_tokens", "token_count", "author", "keyword"]
)
def test_harmless_keys_that_contain_secret_words_are_kept(key: str) -> None:
    """Token counts and similar names are not secrets."""
    assert not is_sensitive_key(key)
    assert {key: 42} == redact({key: 42})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"key={OPENAI_KEY} end", f"key={MASK} end"),
        (f"use {ANTHROPIC_KEY}", f"use {MASK}"),
        (f"aws {AWS_KEY}.", f"aws {MASK}."),
        ("Authorization: Bearer abc.def-ghi_jkl", f"Authorization: {MASK}"),
        ("ghp_" + "a" * 36, MASK),
        ("plain text with sk-short", "plain text with sk-short"),
    ],
)
def test_secret_looking_values_are_masked_inside_strings(text: str, expected: str) -> None:
    """OpenAI/Anthropic keys, AWS key ids and bearer tokens are cut out of any string."""
    assert expected == redact(text)
    assert expected == redact_text(text)


def test_a_column_of_texts_is_masked_string_by_string() -> None:
    """``redact_texts`` gives what ``redact_text`` gives for each string, keeps other
    values, and returns a column with nothing to mask unchanged."""
    column = ["plain", None, f"key={OPENAI_KEY}", 3, "Authorization: Bearer abc.def-ghi_jkl"]
    assert redact_texts(column) == [
        "plain",
        None,
        f"key={MASK}",
        3,
        f"Authorization: {MASK}",
    ]
    clean = ("request handled", None, "user u1 logged in")
    assert redact_texts(clean) is clean


def test_a_trigger_split_across_two_texts_masks_nothing() -> None:
    """Joining a column to scan it once cannot make a secret out of two halves."""
    column = ["ends with s", "k-" + "a" * 40, "ends with bear", "er token"]
    assert list(redact_texts(column)) == column


def test_a_column_uses_the_extra_patterns_too() -> None:
    """User patterns, which have no trigger words, are applied to every string."""
    configure(extra_patterns=[r"EMP-\d{6}"])
    assert redact_texts(["id EMP-123456", "none"]) == [f"id {MASK}", "none"]


def test_redaction_is_recursive_and_keeps_shapes() -> None:
    """Dicts, lists and tuples nested at any depth are walked; the input is not changed."""
    value = {"a": [{"password": "x"}, (OPENAI_KEY, 1)], "b": {"c": {"token": 1}}}
    assert redact(value) == {"a": [{"password": MASK}, (MASK, 1)], "b": {"c": {"token": MASK}}}
    assert value["a"][0]["password"] == "x"  # type: ignore[index]


def test_cycles_and_odd_objects_do_not_break_it() -> None:
    """A cyclic structure and arbitrary objects never make redact raise."""
    loop: Any = {"x": 1}
    loop["self"] = loop

    class Weird:
        def __repr__(self) -> str:
            raise RuntimeError("no")

    w = Weird()
    out = redact({"loop": loop, "w": w})
    assert ({"x": 1, "self": "<cycle>"}, w) == (out["loop"], out["w"])


def test_user_hook_masks_more() -> None:
    """A hook sees every leaf with its key and may replace it (e.g. e-mails)."""

    def hook(key: Optional[str], value: Any) -> Any:
        if isinstance(value, str) and "@" in value:
            return "[EMAIL]"
        return value

    configure(hook=hook)
    assert redact({"to": "ada@example.com", "n": 1, "body": ["hi", "bob@example.com"]}) == {
        "to": "[EMAIL]",
        "n": 1,
        "body": ["hi", "[EMAIL]"],
    }


def test_a_failing_hook_fails_closed() -> None:
    """If the hook raises, the value becomes a marker — never the raw value."""

    def hook(key: Optional[str], value: Any) -> Any:
        raise ValueError("boom")

    configure(hook=hook)
    assert redact({"email": "ada@example.com"}) == {"email": FAILED}


def test_extra_keys_and_patterns() -> None:
    """Users add key names and value patterns."""
    configure(extra_keys=["ssn"], extra_patterns=[r"\b\d{4}-\d{4}-\d{4}-\d{4}\b"])
    assert {"ssn": MASK, "note": f"card {MASK}"} == redact(
        {"ssn": "123", "note": "card 4111-1111-1111-1111"}
    )


def test_console_lines_are_redacted() -> None:
    """The report's console line masks secrets in the message and the fields."""
    stream = io.StringIO()

    @sentinel(report=DefaultReport(output_stream=stream))
    def work() -> None:
        report.info(f"calling with {OPENAI_KEY}", api_key=OPENAI_KEY, model="gpt-4o")

    work()
    line = stream.getvalue()
    assert OPENAI_KEY not in line
    assert f"calling with {MASK} api_key='{MASK}' model='gpt-4o'" in line


def test_secrets_never_reach_a_sink(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """State, fields and metadata written to a JSONL sink are redacted."""
    path = tmp_path / "out.jsonl"
    auditora.configure(sinks=[f"jsonl:{path}"], console=False)

    @sentinel()
    def work() -> None:
        session.set("credentials", {"user": "ada", "password": "pw"})
        session.set("note", f"key {AWS_KEY}")
        report.info("call", headers={"Authorization": "Bearer abcdefghijkl"})

    work()
    assert auditora.flush(timeout=10)
    text = path.read_text()
    for secret in ("pw", AWS_KEY, "abcdefghijkl"):
        assert secret not in [v for line in text.splitlines() for v in _strings(json.loads(line))]
    assert AWS_KEY not in text and "abcdefghijkl" not in text


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def test_disabled_redaction_returns_the_value() -> None:
    """configure(enabled=False) turns masking off (not recommended)."""
    configure(enabled=False)
    assert redact({"password": "x"}) == {"password": "x"}
    _config.reset()
