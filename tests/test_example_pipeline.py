"""examples/evaluation_pipeline.py runs end to end: simulated, and with the real openai SDK."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from auditora.evaluations import gate_command
from auditora.store import open_store
from fake_llm_server import FakeLLMServer

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "evaluation_pipeline.py"


def _run(tmp_path: Path, env_extra: dict) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "AUDITORA_"))}
    env.update(env_extra)
    return subprocess.run(
        [sys.executable, str(EXAMPLE), "--store", str(tmp_path / "eval.db")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )


def test_simulated_pipeline_passes_its_gate_and_fills_the_store(tmp_path: Path) -> None:
    """Without an API key the stand-in model is used; the gate passes and the store is complete."""
    done = _run(tmp_path, {})
    assert (done.returncode, done.stderr) == (0, "")
    assert "PASSED" in done.stdout
    with open_store(tmp_path / "eval.db") as store:
        calls = store.llm_calls(limit=None)
        evaluations = store.evaluations(limit=None)
        messages = store.agent_messages(limit=None)
        agents = {r["agent"] for r in store.runs(limit=None)}
    assert len(calls) == 12
    assert all(c["cost"] is not None and c["cost"] > 0 for c in calls)
    assert len(evaluations) == 18
    assert {"orchestrator", "answerer", "judge"} == agents
    assert len(messages) == 18  # 12 hand-offs + 6 answers
    assert gate_command([str(tmp_path / "eval.db"), "--min-pass-rate", "0.6"]) == 0
    assert gate_command([str(tmp_path / "eval.db"), "--min-pass-rate", "0.9"]) == 1


def test_pipeline_with_the_openai_sdk_is_recorded_by_the_integration(tmp_path: Path) -> None:
    """With OPENAI_API_KEY/OPENAI_BASE_URL the real SDK is used and captured automatically.

    The fake server answers "Hello from the" to everything, so the gate fails: exit 1.
    """
    with FakeLLMServer() as server:
        done = _run(
            tmp_path, {"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": server.openai_base_url}
        )
        requests = len(server.requests)
    assert (done.returncode, done.stderr) == (1, "")
    assert "correctness: pass_rate = 0, required >= 0.6" in done.stdout
    assert requests == 6
    with open_store(tmp_path / "eval.db") as store:
        calls = store.llm_calls(limit=None)
    assert len([c for c in calls if c["provider"] == "openai" and c["input_tokens"] == 21]) == 6
