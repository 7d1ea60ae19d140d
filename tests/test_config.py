"""Configuration: configure(), environment variables, and AUDITORA_DISABLED.

The settings have no public reader, so a few tests read ``_config.settings``;
everything else goes through the public API (``auditora.testing.reset`` has
its own tests in ``test_reset.py``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import auditora
from auditora import _config, _emit
from auditora.sinks import MemorySink
from auditora.testing import reset


def test_unconfigured_process_has_no_sinks_and_no_targets() -> None:
    """Unconfigured, nothing is registered: no sinks, no record targets."""
    stats = auditora.stats()
    assert (stats["sinks"], stats["running"], _emit.targets) == ({}, False, ())


def test_configure_switches(tmp_path: Path) -> None:
    """configure() writes the settings it is given and leaves the others alone."""
    auditora.configure(console=False, capture_content=True, log_level="warning", queue_size=10)
    s = _config.settings
    assert (
        s.console,
        s.capture_content,
        s.log_level,
        s.queue_size,
        s.disabled,
    ) == (False, True, "WARNING", 10, False)


def test_configure_store_and_sink_names(tmp_path: Path) -> None:
    """store= adds a SQLite sink; sinks= takes instances and names."""
    mem = MemorySink()
    auditora.configure(
        sinks=[mem, "console", f"jsonl:{tmp_path / 'r.jsonl'}"],
        store=tmp_path / "a.db",
        console=False,
    )
    assert list(auditora.stats()["sinks"]) == ["memory", "console", "jsonl", "sqlite"]
    assert len(_emit.targets) == 1
    with auditora.bifrost_sync(session_id="names"):
        auditora.report.info("x")
    assert auditora.flush(10) is True
    assert {r.kind for r in mem.records} == {"log", "run", "session"}


def test_configure_again_replaces_and_flushes_old_sinks(tmp_path: Path) -> None:
    """A second configure() replaces the sinks; records sent before reach the old ones."""
    first, second = MemorySink(), MemorySink()
    auditora.configure(sinks=[first], console=False)

    @auditora.sentinel()
    def work() -> None:
        auditora.report.info("x")

    work()
    auditora.configure(sinks=[second])
    work()
    auditora.flush(5)
    assert (len(first) > 0, len(second) > 0) == (True, True)
    assert list(auditora.stats()["sinks"]) == ["memory"]
    auditora.configure(sinks=[])
    assert (auditora.stats()["sinks"], _emit.targets) == ({}, ())


def test_invalid_values_are_rejected() -> None:
    """Bad sizes, levels, sink names and samplers raise at configure time."""
    with pytest.raises(ValueError):
        auditora.configure(queue_size=0)
    with pytest.raises(ValueError):
        auditora.configure(log_level="LOUD")
    with pytest.raises(ValueError):
        auditora.configure(sinks=["kafka"])
    with pytest.raises(ValueError):
        auditora.configure(sinks=["jsonl"])
    with pytest.raises(TypeError):
        auditora.configure(sampler=42)


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """AUDITORA_* variables set the defaults that auditora.testing.reset() re-reads."""
    monkeypatch.chdir(tmp_path)  # reset() installs the sinks named: x.db lives here
    monkeypatch.setenv("AUDITORA_DISABLED", "1")
    monkeypatch.setenv("AUDITORA_CAPTURE_CONTENT", "true")
    monkeypatch.setenv("AUDITORA_LOG_LEVEL", "ERROR")
    monkeypatch.setenv("AUDITORA_STORE", "x.db")
    monkeypatch.setenv("AUDITORA_SINKS", "console")
    monkeypatch.setenv("AUDITORA_QUEUE_SIZE", "123")
    reset()
    s = _config.settings
    assert (
        s.disabled,
        s.capture_content,
        s.log_level,
        s.store,
        s.sinks,
        s.queue_size,
    ) == (True, True, "ERROR", "x.db", "console", 123)


def _run(code: str, env: dict, cwd: Path) -> subprocess.CompletedProcess:
    full = {**os.environ, **env}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=full,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_env_store_and_sinks_record_without_configure(tmp_path: Path) -> None:
    """AUDITORA_STORE and AUDITORA_SINKS alone make records reach their sinks by exit."""
    code = """
        from auditora import sentinel, report
        @sentinel()
        def f():
            report.info("hello")
        f()
    """
    env = {"AUDITORA_STORE": str(tmp_path / "e.db"), "AUDITORA_SINKS": "jsonl:e.jsonl"}
    proc = _run(code, env, tmp_path)
    assert proc.returncode == 0, proc.stderr
    from auditora.store import open_store

    with open_store(tmp_path / "e.db") as store:
        assert (store.summary()["runs"], store.summary()["logs"]) == (1, 1)
    lines = (tmp_path / "e.jsonl").read_text().splitlines()
    kinds = sorted(json.loads(line)["kind"] for line in lines)
    assert kinds == ["log", "run", "session"]


def test_no_store_file_unless_asked(tmp_path: Path) -> None:
    """Unconfigured, running instrumented code writes nothing to disk."""
    code = """
        from auditora import sentinel, report
        @sentinel()
        def f():
            report.info("hello")
        f()
    """
    env = {k: "" for k in ("AUDITORA_STORE", "AUDITORA_SINKS")}
    proc = _run(code, env, tmp_path)
    assert (proc.returncode, sorted(os.listdir(tmp_path))) == (0, [])
    assert "hello" in proc.stderr


SEED_BASIC = """
from auditora import sentinel, session, monitor, report

@sentinel()
def evaluate_llm_response(response: str):
    report.info("Starting evaluation")
    session.set('response', response)
    score = len(response) / 100.0
    monitor.increment_metric("coherence_score", score)
    report.log_evaluation_result("coherence", score, threshold=0.5)
    return score

result = evaluate_llm_response("This is a sample LLM response.")
print(f"Session ID: {evaluate_llm_response._session.session_id}")
print("result", result)
"""


def test_seed_example_runs_disabled_by_env(tmp_path: Path) -> None:
    """With AUDITORA_DISABLED=1 the seed's example still runs, silently, and records nothing."""
    env = {"AUDITORA_DISABLED": "1", "AUDITORA_STORE": str(tmp_path / "d.db")}
    proc = _run(SEED_BASIC, env, tmp_path)
    assert (proc.returncode, proc.stdout.splitlines()[-1]) == (0, "result 0.3"), proc.stderr
    assert "Starting evaluation" not in proc.stderr
    assert not (tmp_path / "d.db").exists()


def test_seed_example_runs_disabled_by_configure(tmp_path: Path) -> None:
    """configure(disabled=True) before decorating makes the seed example a no-op that runs."""
    code = "import auditora\nauditora.configure(disabled=True)\n" + SEED_BASIC
    proc = _run(code, {}, tmp_path)
    assert (proc.returncode, proc.stdout.splitlines()[-1]) == (0, "result 0.3"), proc.stderr
    assert "Starting evaluation" not in proc.stderr


def test_an_unknown_overflow_policy_in_the_environment_warns_and_blocks(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """AUDITORA_OVERFLOW=later is not a policy: a warning names it, and 'block' applies."""
    from auditora import _config
    from auditora.testing import reset

    monkeypatch.setenv("AUDITORA_OVERFLOW", "later")
    with caplog.at_level("WARNING", logger="auditora"):
        reset()
    assert _config.settings.overflow == "block"
    assert any("AUDITORA_OVERFLOW='later'" in r.message for r in caplog.records)
    monkeypatch.setenv("AUDITORA_OVERFLOW", "drop")
    reset()
    assert _config.settings.overflow == "drop"
