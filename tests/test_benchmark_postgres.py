"""Smoke test of ``benchmarks/postgres.py``: a tiny run prints every variant's rate and
CPU per record (the server's for the PostgreSQL variants). No timing is asserted."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from pg_server import skip_reason

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "postgres.py"


def test_the_benchmark_prints_rates_and_cpu_per_record() -> None:
    """Each variant's line has a rate and the writers' CPU per record; the PostgreSQL
    variants' lines have the server's too (the temporary cluster's, after warm-up)."""
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    out = subprocess.run(
        [sys.executable, str(BENCH), "--n", "30", "--repeats", "1"],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    ).stdout
    lines = {
        m.group(1): m.group(0)
        for m in re.finditer(r"^  (noop|sqlite|postgres(?: x4)?) +[\d,]+/s .*$", out, re.M)
    }
    assert sorted(lines) == ["noop", "postgres", "postgres x4", "sqlite"]
    for name, line in lines.items():
        assert re.search(r"[\d,]+/s .*CPU/record: writers +[\d.]+ us", line), line
        assert ("server" in line) == name.startswith("postgres"), line
    assert "budget 50,000/s" in out
