"""The argument parser of every ``auditora`` command: usage errors in one line.

argparse prints a usage block and then the error; the ``auditora`` commands
print one line instead, ``auditora: runs: argument --limit: ...``, on standard
error and exit 2, the same for every subcommand and for ``auditora gate``
(whose parser lives in :mod:`auditora.evaluations`, a lower layer than the
CLI: hence this module sits in the foundation, importing nothing of Auditora).
"""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

__all__ = ["HelpFormatter", "Parser", "non_negative_int", "port", "positive_float", "positive_int"]


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Descriptions keep their line breaks (examples stay readable)."""


class Parser(argparse.ArgumentParser):
    """An :class:`argparse.ArgumentParser` whose usage errors are one line, then exit 2.

    Subparsers made with ``add_subparsers()`` are of the same class, so one
    parser at the top gives the style to every subcommand.
    """

    def error(self, message: str) -> NoReturn:
        command = self.prog.split()
        # "auditora runs" -> "runs: "; the top-level parser names no subcommand.
        where = " ".join(command[1:]) + ": " if len(command) > 1 else ""
        hint = f" (see {self.prog} --help)"
        line = f"auditora: {where}{message}{hint}".replace("\n", " ")
        print(line, file=sys.stderr)
        raise SystemExit(2)


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


def positive_int(text: str) -> int:
    """An argparse ``type``: a whole number >= 1."""
    value = _int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text!r}")
    return value


def non_negative_int(text: str) -> int:
    """An argparse ``type``: a whole number >= 0."""
    value = _int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text!r}")
    return value


def port(text: str) -> int:
    """An argparse ``type``: a TCP port, 0 (any free port) to 65535."""
    value = _int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 0 to 65535, got {text!r}")
    return value


def positive_float(text: str) -> float:
    """An argparse ``type``: a finite number > 0 (seconds, intervals)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number above 0, got {text!r}")
    return value
