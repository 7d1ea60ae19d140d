"""examples/experiment.py runs offline in seconds: two experiments in a store, the comparison
flags the fix, the gate passes; with --judge-url the real openai SDK calls the fake server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import List

from auditora import experiments
from auditora.store import open_store
from fake_llm_server import FakeLLMServer

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "experiment.py"


def _run(tmp_path: Path, extra: List[str]) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "AUDITORA_"))}
    return subprocess.run(
        [sys.executable, str(EXAMPLE), "--store", str(tmp_path / "exp.db"), *extra],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_example_compares_two_versions_and_passes_its_gate(tmp_path: Path) -> None:
    """Exit 0, no stderr; v2's priority fix is significant; the store holds both runs."""
    done = _run(tmp_path, [])
    assert (done.returncode, done.stderr) == (0, "")
    assert "priority_correct: +0.175" in done.stdout and "significant" in done.stdout
    assert done.stdout.rstrip().endswith("PASSED")
    with open_store(tmp_path / "exp.db") as store:
        listed = experiments.list_experiments(store)
        cmp = experiments.compare(store, "extractor-v1", "extractor-v2")
    assert [e["name"] for e in listed] == ["extractor-v1", "extractor-v2"]
    assert all(e["items"] == 40 and e["cost"] for e in listed)
    assert cmp.counts()["improved"] == 7 and cmp.counts()["regressed"] == 0


def test_the_example_with_a_judge_on_the_fake_server(tmp_path: Path) -> None:
    """--judge-url: one traced judge call per item through the real openai SDK; the fake
    server's reply holds no score, so each is a logged scorer error (and is not cached) and
    the example still passes on its other metrics."""
    with FakeLLMServer() as server:
        done = _run(tmp_path, ["--judge-url", server.openai_base_url])
        calls = [r for r in server.requests if r[0].endswith("/chat/completions")]
    assert done.returncode == 0, done.stderr
    assert len(calls) == 80
    assert "llm_judge: not comparable (0 paired items)" in done.stdout
    with open_store(tmp_path / "exp.db") as store:
        judge_runs = [r for r in store.runs(limit=None) if r["name"] == "llm_judge"]
        logged = [g for g in store.logs(limit=None) if "scorer 'llm_judge' failed" in g["message"]]
    assert len(judge_runs) == 80 and len(logged) == 80
