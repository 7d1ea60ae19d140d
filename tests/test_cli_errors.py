"""Usage errors of every ``auditora`` command (``gate`` too) are one line on stderr, prefixed
``auditora:``, with exit status 2 and no traceback; every command's ``--help`` has a
description and shows its defaults."""

from __future__ import annotations

import argparse
import subprocess
import sys
from typing import List, Tuple

import pytest

from auditora.cli import build_parser, main

#: Command lines that are usage errors, and a word the message must contain.
BAD: List[Tuple[List[str], str]] = [
    (["sessions", "x.db", "--limit", "0"], "--limit"),
    (["sessions", "x.db", "--limit", "-1"], "--limit"),
    (["runs", "x.db", "--limit", "many"], "whole number"),
    (["runs", "x.db", "--offset", "-3"], "--offset"),
    (["view", "x.db", "--port", "99999"], "0 to 65535"),
    (["view", "x.db", "--port", "-1"], "port"),
    (["tail", "x.db", "--interval", "0"], "--interval"),
    (["tail", "x.db", "--timeout", "nan"], "--timeout"),
    (["report", "x.db", "--max-sessions", "0"], "--max-sessions"),
    (["export", "x.db", "--format", "xml"], "invalid choice"),
    (["runs", "x.db", "--sort", "colour"], "invalid choice"),
    (["bogus"], "invalid choice"),
    (["show", "x.db"], "required"),
    (["gate", "x.db", "--min-pass-rate", "high"], "invalid float"),
    (["gate"], "required"),
]


@pytest.mark.parametrize("argv,word", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_usage_error_is_one_line(
    argv: List[str], word: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bad argument: exit 2, nothing on stdout, one ``auditora: ...`` line on stderr."""
    code = main(argv)
    out, err = capsys.readouterr()
    assert (code, out, err.count("\n"), err.startswith("auditora: "), word in err) == (
        2,
        "",
        1,
        True,
        True,
    )


def test_gate_error_names_the_command(capsys: pytest.CaptureFixture[str]) -> None:
    """``gate``'s errors read like the others': ``auditora: gate: ...``."""
    code = main(["gate", "x.db", "--confidence", "abc"])
    err = capsys.readouterr().err
    assert (code, err.startswith("auditora: gate: argument --confidence")) == (2, True)


def test_bad_port_has_no_traceback_in_a_real_process() -> None:
    """``python -m auditora view STORE --port 99999`` (the issue's case): no traceback."""
    done = subprocess.run(
        [sys.executable, "-m", "auditora", "view", "x.db", "--port", "99999"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (done.returncode, "Traceback" in done.stderr, done.stderr.count("\n")) == (2, False, 1)


def _subcommands() -> List[Tuple[str, argparse.ArgumentParser]]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return [(name, p) for name, p in action.choices.items() if name != "gate"]


def test_every_command_has_a_description() -> None:
    """``auditora COMMAND --help`` starts with a description for every command."""
    missing = [name for name, p in _subcommands() if not (p.description or "").strip()]
    assert missing == []


def test_every_default_is_shown_in_help() -> None:
    """Every option whose default is a value (not None, False or a list to append to) says
    its default in its help."""
    unshown = []
    for name, p in _subcommands():
        for action in p._actions:
            default = action.default
            if default in (None, False, argparse.SUPPRESS) or isinstance(default, list):
                continue
            if "default" not in (action.help or ""):
                unshown.append(f"{name} {'/'.join(action.option_strings) or action.dest}")
    assert unshown == []
