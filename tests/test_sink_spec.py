"""Sinks named in configure(sinks=[...]) / AUDITORA_SINKS."""

from __future__ import annotations

import pytest

from auditora.sinks import JSONLSink, MemorySink, SQLiteSink, sink_from_spec


def test_names_build_their_sinks(tmp_path) -> None:
    """memory, jsonl:PATH and sqlite:PATH build the matching sink classes."""
    assert isinstance(sink_from_spec("memory"), MemorySink)
    jsonl = sink_from_spec(f"jsonl:{tmp_path / 'r.jsonl'}")
    sqlite = sink_from_spec(f"sqlite:{tmp_path / 'a.db'}")
    try:
        assert (type(jsonl), type(sqlite)) == (JSONLSink, SQLiteSink)
    finally:
        jsonl.close(5)
        sqlite.close(5)


def test_otel_name_builds_the_opentelemetry_sink() -> None:
    """`otel` builds an OTelSink from the OTEL_* environment (nothing is sent until export)."""
    pytest.importorskip("opentelemetry.sdk")
    from auditora.integrations.otel import OTelSink, uninstrument

    sink = sink_from_spec("otel")
    try:
        assert isinstance(sink, OTelSink)
    finally:
        sink.close(5)
        uninstrument()


def test_unknown_names_and_missing_paths_are_value_errors() -> None:
    """A typo or a path-less file sink is a ValueError listing the valid names."""
    with pytest.raises(ValueError, match="otel"):
        sink_from_spec("kafka")
    with pytest.raises(ValueError, match="needs a path"):
        sink_from_spec("sqlite")
