"""Secrets written into free text (log messages, exception texts, explanations)
are masked before they reach any sink, as in structured fields."""

from __future__ import annotations

import json
import sqlite3

import pytest

import auditora
from auditora import DefaultReport, report, sentinel
from auditora._serialize import to_jsonable
from auditora.sinks import MemorySink

KEY = "sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123"


@sentinel(report=DefaultReport(echo=False))
def leaky() -> None:
    report.info(f"calling with {KEY}")
    report.log_evaluation_result("acc", 0.1, threshold=0.5, explanation=f"key {KEY} leaked")
    raise ValueError(f"auth failed for {KEY}")


def _run() -> None:
    with pytest.raises(ValueError):
        leaky()


def test_sqlite_store_never_holds_the_secret(tmp_path) -> None:
    """Messages, run errors and explanations are masked in the SQLite store."""
    path = tmp_path / "a.db"
    auditora.configure(store=str(path), console=False)
    _run()
    assert auditora.flush(10) is True
    con = sqlite3.connect(path)
    dump = "\n".join(con.iterdump())
    con.close()
    assert KEY not in dump
    assert "[REDACTED]" in dump
    assert "calling with [REDACTED]" in dump


def test_serialized_records_never_hold_the_secret() -> None:
    """to_jsonable (JSONL, OTel, memory consumers) masks the same free-text fields."""
    sink = MemorySink()
    auditora.configure(sinks=[sink], console=False)
    _run()
    assert auditora.flush(10) is True
    text = json.dumps([to_jsonable(r) for r in sink.records])
    assert KEY not in text
    assert text.count("[REDACTED]") >= 4
