"""The console sink prints one readable line per record, coloured only on a TTY."""

from __future__ import annotations

import io

from auditora.records import Evaluation, Event, Log, Run
from auditora.sinks import ConsoleSink


def _run(status: str) -> Run:
    run = Run.__new__(Run)
    for name in Run._fields:
        setattr(run, name, None)
    run.name, run.status, run.run_id, run.session_id = "work", status, "ab" * 8, "s1"
    run.duration_ns, run.end_ns = 2_500_000, 1_700_000_000_000_000_000
    if status == "error":
        run.error_type, run.error_message = "ValueError", "bad"
    return run


def test_lines_without_colour_on_a_plain_stream() -> None:
    """A non-TTY stream gets plain lines naming each record."""
    out = io.StringIO()
    ConsoleSink(out).export(
        [
            _run("ok"),
            _run("error"),
            Event("step", 1, 0.5, {"k": 1}, None, None, "s1"),
            Log("INFO", "hello", {}, 1, None, None, None),
            Evaluation("coh", 0.7, 0.5, "PASS", 1, None, None, None),
        ]
    )
    lines = out.getvalue().splitlines()
    assert len(lines) == 5
    assert "\033[" not in out.getvalue()
    assert "[s1] run work ok 2.5ms" in lines[0]
    assert "run work error 2.5ms ValueError: bad" in lines[1]
    assert "event step 0.500s {'k': 1}" in lines[2]
    assert lines[3].endswith("INFO     hello")
    assert "Evaluation coh: 0.7 (threshold 0.5) PASS" in lines[4]


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_colour_on_a_tty() -> None:
    """A TTY stream gets ANSI colours; colour=False turns them off."""
    tty = _Tty()
    ConsoleSink(tty).export([_run("error")])
    plain = _Tty()
    ConsoleSink(plain, colour=False).export([_run("error")])
    assert ("\033[31m" in tty.getvalue(), "\033[" in plain.getvalue()) == (True, False)
