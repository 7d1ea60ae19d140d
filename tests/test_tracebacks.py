"""Error runs keep their traceback: bounded, without Auditora's frames, redacted."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

import auditora
from auditora import sentinel
from auditora.core._runs import TRACEBACK_CHARS, TRACEBACK_FRAMES
from auditora.testing import capture

SECRET = "sk-proj-" + "Zx9Yw8Vu" * 5


@pytest.fixture(autouse=True)
def _quiet() -> Iterator[None]:
    auditora.configure(console=False)
    yield


def _fail() -> None:
    raise RuntimeError("boom")


def test_an_error_run_stores_the_traceback_from_the_users_code() -> None:
    """The traceback names the user's functions and the exception, not the wrappers."""

    @sentinel()
    def job() -> None:
        _fail()

    with capture() as records, pytest.raises(RuntimeError):
        job()
    tb = records.runs[0].traceback
    assert tb is not None
    assert tb.startswith("Traceback (most recent call last):")
    assert "in job" in tb and "in _fail" in tb and tb.rstrip().endswith("RuntimeError: boom")
    assert "_sentinel.py" not in tb


def test_ok_and_cancelled_runs_have_no_traceback() -> None:
    """Only error runs keep one: a KeyboardInterrupt is a cancellation."""

    @sentinel()
    def fine() -> None:
        pass

    @sentinel()
    def interrupted() -> None:
        raise KeyboardInterrupt

    with capture() as records:
        fine()
        with pytest.raises(KeyboardInterrupt):
            interrupted()
    assert [(r.status, r.traceback) for r in records.runs] == [
        ("ok", None),
        ("cancelled", None),
    ]


def test_chained_exceptions_are_kept() -> None:
    """raise ... from ... keeps the cause, as Python prints it."""

    @sentinel()
    def job() -> None:
        try:
            {}["missing"]
        except KeyError as exc:
            raise ValueError("no config") from exc

    with capture() as records, pytest.raises(ValueError):
        job()
    tb = records.runs[0].traceback or ""
    assert "KeyError: 'missing'" in tb
    assert "direct cause" in tb and tb.rstrip().endswith("ValueError: no config")


def test_deep_tracebacks_keep_their_innermost_frames_within_the_bounds() -> None:
    """A recursion 300 deep keeps the innermost frames only, and the text is bounded."""

    def down(n: int) -> None:
        if n == 0:
            raise RuntimeError("bottom " + "x" * 30_000)
        down(n - 1)

    @sentinel()
    def job() -> None:
        down(300)

    with capture() as records, pytest.raises(RuntimeError):
        job()
    tb = records.runs[0].traceback or ""
    assert tb.count("in down") <= TRACEBACK_FRAMES
    assert len(tb) <= TRACEBACK_CHARS + 20
    assert "bottom" in tb or tb.startswith("…[truncated]")


def test_secrets_in_a_traceback_are_masked_in_every_sink(tmp_path: Path) -> None:
    """A key quoted in the exception's message never reaches the store or JSONL file."""
    db, jsonl = tmp_path / "s.db", tmp_path / "r.jsonl"
    auditora.configure(sinks=[f"sqlite:{db}", f"jsonl:{jsonl}"])

    @sentinel()
    def job() -> None:
        raise PermissionError(f"bad key {SECRET}")

    with pytest.raises(PermissionError):
        job()
    assert auditora.flush()
    auditora.shutdown()
    assert SECRET.encode() not in db.read_bytes()
    assert SECRET not in jsonl.read_text()
    from auditora.store import open_store

    with open_store(str(db)) as store:
        (run,) = store.runs()
    assert "PermissionError: bad key [REDACTED]" in run["traceback"]


def test_auditora_show_prints_the_traceback_of_a_failed_run(tmp_path: Path) -> None:
    """`auditora show` lists the trace and prints each error run's traceback."""
    db = tmp_path / "s.db"
    script = tmp_path / "job.py"
    script.write_text(
        "import auditora\n"
        "from auditora import sentinel\n"
        f"auditora.configure(store={str(db)!r}, console=False)\n"
        "def helper():\n"
        "    raise ValueError('broken input')\n"
        "@sentinel()\n"
        "def job():\n"
        "    helper()\n"
        "try:\n"
        "    job()\n"
        "except ValueError:\n"
        "    pass\n"
    )
    subprocess.run([sys.executable, str(script)], check=True, timeout=60)
    from auditora.store import open_store

    with open_store(str(db)) as store:
        (run,) = store.runs()
    out = subprocess.run(
        [sys.executable, "-m", "auditora", "show", str(db), run["trace_id"]],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "Traceback (most recent call last):" in out.stdout
    assert "in helper" in out.stdout and "ValueError: broken input" in out.stdout
