"""benchmarks/experiments.py runs and prints its table (its figures are not judged here:
timing belongs to the benchmark, not to unit tests)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "experiments.py"


def test_the_experiments_benchmark_prints_every_case() -> None:
    """A quick run prints one row per case and the worst overhead against the budget."""
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--items", "40", "--rounds", "1"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode in (0, 1) and done.stderr == "", done.stderr
    for case in ("bare loop", "run, no sink", "run, memory sink", "run, store=", "run, 4 threads"):
        assert f"\n{case} " in done.stdout
    assert "worst overhead:" in done.stdout and "of the budget" in done.stdout
