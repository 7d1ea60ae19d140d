"""Sinks named in configure(sinks=[...]) / AUDITORA_SINKS."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import auditora
from auditora.store import open_store


def _work() -> None:
    @auditora.sentinel()
    def work() -> None:
        auditora.report.info("hello")

    work()


def test_names_build_their_sinks(tmp_path: Path) -> None:
    """memory, console, jsonl:PATH and sqlite:PATH build their sinks, which get the records."""
    auditora.configure(
        sinks=["memory", "console", f"jsonl:{tmp_path / 'r.jsonl'}", f"sqlite:{tmp_path / 'a.db'}"],
        console=False,
    )
    _work()
    assert auditora.flush(10) is True
    assert list(auditora.stats()["sinks"]) == ["memory", "console", "jsonl", "sqlite"]
    auditora.shutdown(10)
    kinds = sorted(json.loads(line)["kind"] for line in (tmp_path / "r.jsonl").read_text().split())
    with open_store(tmp_path / "a.db") as store:
        assert (kinds, store.summary()["logs"]) == (["log", "run", "session"], 1)


def test_one_string_may_name_several_sinks() -> None:
    """A comma-separated string is a list of names; blanks around and between them are ignored."""
    auditora.configure(sinks=" memory , console,")
    assert list(auditora.stats()["sinks"]) == ["memory", "console"]


def test_otel_name_builds_the_opentelemetry_sink() -> None:
    """`otel` builds an OTelSink from the OTEL_* environment (nothing is sent until export)."""
    pytest.importorskip("opentelemetry.sdk")
    auditora.configure(sinks=["otel"])
    assert list(auditora.stats()["sinks"]) == ["OTelSink"]


def test_unknown_names_and_missing_paths_are_value_errors() -> None:
    """A typo or a path-less file sink is a ValueError listing the valid names; nothing changes."""
    auditora.configure(sinks=["memory"])
    with pytest.raises(ValueError, match="otel"):
        auditora.configure(sinks=["kafka"])
    with pytest.raises(ValueError, match="needs a path"):
        auditora.configure(sinks=["sqlite"])
    assert list(auditora.stats()["sinks"]) == ["memory"]
