"""Smoke test of the benchmark suite: the quick mode runs and prints every figure.

No timing is asserted: the figures only have to be there. Peers come from the
``auditora[bench]`` extra; a missing peer skips its own checks (with the reason)
while Auditora's figures are always checked.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest

ROOT = Path(__file__).resolve().parents[1]
RUN = ROOT / "benchmarks" / "run.py"

#: (group, name) of every Auditora figure in the operations table.
OURS = [
    ("call.sync", "auditora @sentinel()"),
    ("call.sync", "auditora disabled"),
    ("call.async", "auditora @sentinel()"),
    ("generator.step", "auditora @sentinel()"),
    ("metric.increment", "auditora monitor.increment_metric"),
    ("event", "auditora monitor.track"),
    ("log", "auditora report.info"),
    ("log", "stdlib logging"),
]

#: Peer module -> the figures it contributes.
PEERS: Dict[str, List[Tuple[str, str]]] = {
    "opentelemetry.sdk": [
        ("call.sync", "opentelemetry (no processor)"),
        ("call.sync", "opentelemetry (batch + discard)"),
        ("call.async", "opentelemetry (no processor)"),
        ("call.async", "opentelemetry (batch + discard)"),
        ("metric.increment", "opentelemetry Counter.add"),
        ("event", "opentelemetry span.add_event"),
    ],
    "logfire": [("call.sync", "logfire @instrument"), ("call.async", "logfire @instrument")],
    "langfuse": [("call.sync", "langfuse @observe"), ("call.async", "langfuse @observe")],
    "structlog": [("log", "structlog (JSON, contextvars)")],
    "prometheus_client": [("metric.increment", "prometheus_client Counter.inc")],
}


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> Tuple[str, Dict[str, Any]]:
    """Run ``benchmarks/run.py --quick`` once; its stdout and JSON figures."""
    out = tmp_path_factory.mktemp("bench") / "figures.json"
    proc = subprocess.run(
        [sys.executable, str(RUN), "--quick", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc.stdout, json.loads(out.read_text())


def _printed(stdout: str, group: str, name: str) -> bool:
    block = stdout.split(f"[{group}]", 1)
    if len(block) < 2:
        return False
    section = block[1].split("\n[", 1)[0]
    return re.search(rf"^\s+{re.escape(name)}\s+[\d.]+ ns/op", section, re.M) is not None


def test_quick_run_prints_every_auditora_figure(quick_run: Tuple[str, Dict[str, Any]]) -> None:
    """Every Auditora operation, memory, SQLite and scaling figure is printed."""
    stdout, figures = quick_run
    missing = [f"{g}/{n}" for g, n in OURS if not _printed(stdout, g, n)]
    assert missing == []
    for label in ("auditora run", "auditora event"):
        assert re.search(rf"^\s+{label}\s+[\d.]+ B/", stdout, re.M), label
    for label in ("store on / memory only", "persisted records/s", "bytes per queued record"):
        assert re.search(rf"^\s+{re.escape(label)}\s+[\d.]+", stdout, re.M), label
    for group in ("depth 1", "depth 50", "sessions 1", "sessions 10000", "threads 1", "threads 2"):
        assert re.search(rf"^\s+{group}\s+bare\s+[\d.]+\s+auditora\s+[\d.]+", stdout, re.M), group
    assert {c["group"] for c in figures["cases"] if c["ours"]} >= {g for g, _ in OURS}


@pytest.mark.parametrize("module", sorted(PEERS))
def test_quick_run_prints_each_installed_peer(
    module: str, quick_run: Tuple[str, Dict[str, Any]]
) -> None:
    """Each installed peer's figures are printed beside Auditora's."""
    if not _installed(module):
        pytest.skip(f"{module} is not installed (pip install 'auditora[bench]')")
    stdout, _ = quick_run
    missing = [f"{g}/{n}" for g, n in PEERS[module] if not _printed(stdout, g, n)]
    assert missing == []


E2E = ROOT / "benchmarks" / "end_to_end.py"
E2E_N = 200


@pytest.fixture(scope="module")
def e2e_run() -> Tuple[str, Dict[str, Any]]:
    """Run ``benchmarks/end_to_end.py`` once on a small N; its table and JSON figures."""
    proc = subprocess.run(
        [sys.executable, str(E2E), "--n", str(E2E_N), "--repeats", "1", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc.stderr, json.loads(proc.stdout)


@pytest.mark.parametrize("variant", ["auditora-store", "auditora-noop"])
def test_end_to_end_auditora_delivers_everything(
    variant: str, e2e_run: Tuple[str, Dict[str, Any]]
) -> None:
    """On the default settings every record produced reaches the sink: none lost."""
    table, figures = e2e_run
    (run,) = figures["runs"][variant]
    assert run["expected"] >= 9 * E2E_N  # 4 runs, 2 events, a log, an LLM call, an evaluation
    assert run["delivered"] == run["expected"]
    assert run["flush_ok"] and run["dropped"] == {} and run["lost"] == 0
    assert run["wall_s"] > 0 and run["rss_added_mb"] >= 0
    assert re.search(rf"^\s+{variant}\s.*\s{run['expected']:,} / {run['expected']:,} ", table, re.M)
    if variant == "auditora-store":  # the rows themselves, table by table
        for kind, table_name in (("run", "runs"), ("event", "events"), ("llm_call", "llm_calls")):
            assert run["rows_added"][table_name] == run["per_root"][kind] * E2E_N


@pytest.mark.parametrize("variant", ["auditora-otel", "otel-batch"])
def test_end_to_end_otel_variants(variant: str, e2e_run: Tuple[str, Dict[str, Any]]) -> None:
    """With the OpenTelemetry SDK installed, both OTel rows and their budgets are printed."""
    table, figures = e2e_run
    if not _installed("opentelemetry.sdk"):
        assert f"{variant}: skipped" in table and "pip install 'auditora[otel]'" in table
        pytest.skip("opentelemetry-sdk is not installed (pip install 'auditora[otel]')")
    (run,) = figures["runs"][variant]
    assert run["expected"] == 5 * E2E_N
    if variant == "auditora-otel":
        assert run["delivered"] == run["expected"]  # the recorder's backpressure loses nothing
    else:
        assert 0 < run["delivered"] <= run["expected"]  # its queue may drop under load
    budget = {"auditora-otel": "budget >= 3x", "otel-batch": "budget >= 2x"}[variant]
    assert re.search(rf"{budget}: (met|missed)", table), budget


OPERATIONS = ROOT / "benchmarks" / "operations.py"


def test_operations_quick_run_prints_every_figure(tmp_path: Path) -> None:
    """benchmarks/operations.py prints log_llm_call by depth against the bare wrapper and
    report.info from 1 and 8 threads with their ratio (no timing asserted)."""
    out = tmp_path / "operations.json"
    proc = subprocess.run(
        [sys.executable, str(OPERATIONS), "--quick", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    for name in (
        "bare ContextVar wrapper",
        "log_llm_call depth 1",
        "log_llm_call depth 10",
        "log_llm_call depth 50",
        "report.info 1 thread",
        "report.info 8 threads, one report",
    ):
        assert re.search(rf"^\s+{re.escape(name)}\s+[\d.]+ ns/op", proc.stdout, re.M), name
    for label in ("depth 50 / depth 1", "8 threads / 1 thread"):
        assert re.search(rf"^\s+{re.escape(label)}\s+[\d.]+ x", proc.stdout, re.M), label
    figures = json.loads(out.read_text())
    assert len(figures["cases"]) == 6 and set(figures["ratios"]) == {
        "depth_50_over_1",
        "threads_over_one",
    }
