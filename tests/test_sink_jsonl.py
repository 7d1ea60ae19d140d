"""The JSONL sink appends strict JSON lines, with optional rotation."""

from __future__ import annotations

import json
import math
from pathlib import Path

from auditora.records import Event
from auditora.sinks import JSONLSink, RecordBatch


def _events(n: int, start: int = 0) -> RecordBatch:
    return RecordBatch(
        Event(f"e{i}", i, None, {"v": math.nan}, None, None, "s") for i in range(start, start + n)
    )


def test_appends_one_json_object_per_line(tmp_path: Path) -> None:
    """Each record becomes one strict JSON line; later batches append."""
    path = tmp_path / "sub" / "r.jsonl"
    sink = JSONLSink(path)
    sink.export(_events(2))
    sink.export(_events(1, 2))
    sink.close(1.0)
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(r["kind"], r["name"], r["metadata"]["v"]) for r in rows] == [
        ("event", "e0", "NaN"),
        ("event", "e1", "NaN"),
        ("event", "e2", "NaN"),
    ]


def test_reopening_appends(tmp_path: Path) -> None:
    """A new sink on an existing file appends instead of truncating."""
    path = tmp_path / "r.jsonl"
    for i in range(2):
        sink = JSONLSink(path)
        sink.export(_events(1, i))
        sink.close(1.0)
    assert len(path.read_text().splitlines()) == 2


def test_size_based_rotation(tmp_path: Path) -> None:
    """With max_bytes a full file is renamed .1 (then .2) before the next batch."""
    path = tmp_path / "r.jsonl"
    sink = JSONLSink(path, max_bytes=10, backup_count=2)
    for i in range(4):
        sink.export(_events(1, i))
    sink.close(1.0)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["r.jsonl", "r.jsonl.1", "r.jsonl.2"]
    assert json.loads(path.read_text())["name"] == "e3"
    assert json.loads((tmp_path / "r.jsonl.1").read_text())["name"] == "e2"
