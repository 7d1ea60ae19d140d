"""auditora.testing.reset(): every piece of process-wide state back to its default."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import List, Sequence

import pytest

import auditora
from auditora import llm, redaction
from auditora.records import Record
from auditora.sinks import MemorySink, Sink
from auditora.store import open_store
from auditora.testing import capture, reset

#: What stats() says in a process where nothing was ever configured.
UNCONFIGURED = {
    "queued": 0,
    "capacity": 16_384,
    "overflow": "block",
    "received": 0,
    "filtered": 0,
    "dropped": {},
    "lost": 0,
    "sinks": {},
    "running": False,
}


def _work() -> None:
    @auditora.sentinel(session_id="reset")
    def work() -> None:
        auditora.report.info("a line")
        auditora.report.warning("a warning")

    work()


def test_reset_after_configure_gives_the_defaults(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """After configure(store=..., sampler=..., queue_size=..., ...), reset() removes the store
    and the sampler and restores every setting: later records go nowhere but the console."""
    db = tmp_path / "a.db"
    sampled: List[Record] = []
    auditora.configure(
        store=db,
        sampler=lambda record: sampled.append(record) is None,  # keeps all, counts them
        queue_size=10,
        overflow="drop",
        console=False,
        log_level="ERROR",
    )
    _work()
    reset()
    assert auditora.stats() == UNCONFIGURED
    seen = len(sampled)
    _work()
    assert "a line" in capsys.readouterr().err  # the console echo is back on
    sink = MemorySink()
    auditora.configure(sinks=[sink])  # no sampler, no log_level left over
    _work()
    assert auditora.flush(10) is True
    assert sorted(r.kind for r in sink.records) == ["log", "log", "run", "session"]
    with open_store(db) as store:
        assert (store.summary()["runs"], len(sampled)) == (1, seen)  # only the first run


def test_reset_forgets_budgets() -> None:
    """A budget set with set_budget() is gone after reset()."""
    llm.set_budget("a-session", max_cost=0.01)
    reset()
    assert llm.get_budget("a-session") is None


def test_reset_forgets_registered_prices() -> None:
    """A price given with register_price() is gone after reset(); the bundled table is back."""
    bundled = llm.get_price("gpt-4o")
    llm.register_price("gpt-4o", input=1234.0, output=5678.0)
    llm.register_price("house-model-7", input=1.0, output=2.0)
    reset()
    assert (llm.get_price("house-model-7"), llm.get_price("gpt-4o")) == (None, bundled)


def test_reset_restores_the_default_redaction_rules() -> None:
    """Keys and hooks added with redaction.configure() no longer apply after reset()."""
    redaction.configure(extra_keys=["favourite colour"], hook=lambda key, value: value)
    assert redaction.is_sensitive_key("favourite colour") is True
    reset()
    assert redaction.is_sensitive_key("favourite colour") is False
    assert redaction.is_sensitive_key("api_key") is True


def test_reset_undoes_sdk_instrumentation() -> None:
    """openai/anthropic instrument() is undone by reset(): the SDKs' own methods are back."""
    openai = pytest.importorskip("openai")
    anthropic = pytest.importorskip("anthropic")
    from auditora.integrations import anthropic as auditora_anthropic
    from auditora.integrations import openai as auditora_openai

    original = openai.resources.chat.completions.Completions.create
    auditora_openai.instrument()
    auditora_anthropic.instrument()
    reset()
    assert (auditora_openai.is_instrumented(), auditora_anthropic.is_instrumented()) == (
        False,
        False,
    )
    assert openai.resources.chat.completions.Completions.create is original
    assert anthropic is not None


def test_reset_imports_no_sdk_that_was_never_instrumented() -> None:
    """reset() in a fresh process imports neither an integration nor its SDK."""
    code = (
        "import sys, auditora.testing; auditora.testing.reset(); "
        "loaded = [m for m in ('openai', 'anthropic', 'opentelemetry', "
        "'auditora.integrations.openai', 'auditora.integrations.anthropic', "
        "'auditora.integrations.otel') if m in sys.modules]; print(loaded)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert (proc.returncode, proc.stdout.strip(), proc.stderr) == (0, "[]", "")


def test_reset_removes_record_targets() -> None:
    """A capture() still open when reset() runs stops collecting."""
    with capture() as records:
        reset()
        _work()
    assert list(records) == []


def test_reset_rereads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings come from the AUDITORA_* variables as they are now, and the sinks
    AUDITORA_SINKS names are installed again, as `import auditora` does."""
    monkeypatch.setenv("AUDITORA_QUEUE_SIZE", "123")
    monkeypatch.setenv("AUDITORA_SINKS", "memory")
    reset()
    stats = auditora.stats()
    assert (stats["capacity"], list(stats["sinks"])) == (123, ["memory"])
    monkeypatch.delenv("AUDITORA_QUEUE_SIZE")
    monkeypatch.delenv("AUDITORA_SINKS")
    reset()
    assert auditora.stats() == UNCONFIGURED


def test_reset_forgets_the_recent_llm_response_ids() -> None:
    """A response id seen by one layer before reset is no duplicate for another after it."""
    from auditora.llm import _instrument

    assert _instrument._duplicate("resp-1", "openai") is False
    assert _instrument._duplicate("resp-1", "litellm") is True
    reset()
    assert _instrument._duplicate("resp-1", "litellm") is False


def test_reset_zeroes_the_foreign_reset_count() -> None:
    """Paragon.foreign_resets, the count of context tokens reset elsewhere, is zero again."""
    auditora.Paragon.foreign_resets = 3
    reset()
    assert auditora.Paragon.foreign_resets == 0


def test_reset_with_nothing_configured_is_a_no_op(caplog: pytest.LogCaptureFixture) -> None:
    """Unconfigured, reset() logs nothing, starts no thread and leaves stats() as they were."""
    threads = threading.active_count()
    with caplog.at_level(logging.DEBUG, logger="auditora"):
        reset()
        reset()
    assert (auditora.stats(), threading.active_count(), caplog.records) == (
        UNCONFIGURED,
        threads,
        [],
    )


class _Stuck(Sink):
    """A sink whose close never returns in time and whose export fails."""

    name = "stuck"

    def __init__(self) -> None:
        self.release = threading.Event()

    def export(self, batch: Sequence[Record]) -> None:
        raise OSError("disk full")

    def flush(self, timeout: float) -> bool:
        return True

    def close(self, timeout: float) -> None:
        self.release.wait(20)
        raise RuntimeError("closing failed")


def test_reset_never_raises_and_is_bounded(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A sink that fails and hangs in close, or a step that raises, costs a log line:
    reset() returns within its timeout and still restores everything else."""
    stuck = _Stuck()
    auditora.configure(sinks=[stuck], console=False)
    _work()
    llm.set_budget("a-session", max_cost=0.01)

    def broken() -> None:
        raise RuntimeError("a broken reset step")

    monkeypatch.setattr(redaction, "reset", broken)
    started = time.monotonic()
    with caplog.at_level(logging.ERROR, logger="auditora"):
        reset(timeout=0.5)
    elapsed = time.monotonic() - started
    stuck.release.set()
    assert elapsed < 10
    assert (auditora.stats(), llm.get_budget("a-session")) == (UNCONFIGURED, None)
    assert "auditora: reset: restoring the redaction rules failed" in caplog.messages
