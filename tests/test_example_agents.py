"""examples/agents.py runs offline: three tickets, their trajectories scored, the graph printed."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from auditora.agents import trajectory

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "agents.py"


def test_the_support_desk_example_passes_its_checks_and_fills_the_store(tmp_path: Path) -> None:
    """Exit 0, every ticket ok, and each printed trace id has its trajectory in the store."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "AUDITORA_"))}
    done = subprocess.run(
        [sys.executable, str(EXAMPLE), "--store", "agents.db"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert (done.returncode, done.stderr) == (0, "")
    traces = re.findall(r"trace ([0-9a-f]{32}): .*: ok$", done.stdout, re.MULTILINE)
    assert len(traces) == 3
    assert "triage -handoff-> billing x2" in done.stdout
    billing = trajectory(str(tmp_path / "agents.db"), traces[0])
    assert billing.tools == ["lookup_invoice", "refund"]
    assert billing.agents == ["triage", "billing"]
    refund = billing.of_kind("tool")[1]
    assert refund.arguments == {"number": "1042", "amount": 49.0}
