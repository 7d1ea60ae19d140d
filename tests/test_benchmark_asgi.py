"""Smoke test of benchmarks/asgi.py: run small, it prints a figure for every variant.

No timing is asserted (the machine is shared): the figures only have to be there.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "asgi.py"


def test_the_asgi_benchmark_prints_requests_per_second_for_each_variant() -> None:
    """One short round: bare, auditora (store and no sink), sentinel and, when installed,
    otel-asgi."""
    done = subprocess.run(
        [sys.executable, str(BENCH), "--rounds", "1", "--seconds", "0.3", "--connections", "2"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    variants = ["bare", "auditora", "auditora-nosink", "sentinel"]
    try:
        import opentelemetry.instrumentation.asgi  # noqa: F401

        variants.append("otel-asgi")
    except ImportError:
        pass
    for variant in variants:
        assert re.search(rf"^{re.escape(variant)}\s+[\d,]+\s", done.stdout, re.MULTILINE), (
            done.stdout
        )
    assert "auditora middleware cost" in done.stdout
