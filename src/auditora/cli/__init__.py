"""The ``auditora`` command line (also ``python -m auditora``).

Standard library only (argparse). Every command returns an exit status:
0 on success, 1 for a problem with the store or an id (missing or corrupt
file, unknown id, port in use), 2 for a usage error. Messages go to standard
error, prefixed with ``auditora:``. See ``docs/cli.md``.
"""

from __future__ import annotations

import argparse
import sys
from typing import List, Optional, Sequence

from .._argparse import HelpFormatter, Parser, non_negative_int, port, positive_float, positive_int
from ..store._schema import TABLES
from ._when import since_arg

__all__ = ["build_parser", "main"]

#: What ``auditora runs --sort`` orders by.
RUN_SORTS = ("start", "duration", "cost", "tokens", "errors")

_DESCRIPTION = """\
See what your instrumented code did: list sessions and runs of a store, show a
run tree, follow new records, export them, write a one-file HTML report, or
browse them in a local web viewer.

Start with:  auditora demo   (runs the bundled example pipeline into a store)"""

_DEMO = """\
Run the bundled example (a retrieval-augmented answering pipeline evaluated by
an LLM judge, with simulated models and no network) into a store, then print a
summary and the commands to look at it."""

_SESSIONS = """\
List the sessions of a store, most recently active first, with their runs,
errors, duration, LLM calls, tokens, cost and evaluation pass rate. A note
says how many were left out."""

_RUNS = """\
List runs, newest first, with filters. A note says how many runs match in all
("showing 200 of 50,000"); page on with --offset. Ids may be unique prefixes.

examples:
  auditora runs app.db --status error --since 1h
  auditora runs app.db --name answer_question --sort duration --limit 10
  auditora runs app.db --since 2026-12-01 --agent planner"""

_SHOW = """\
Show a session, trace or run (or a unique prefix of an id) as a run tree with
status, duration, tokens and cost. A run also shows its error, traceback,
logs, events, LLM calls and evaluations."""

_TAIL = """\
Print each new run, log, LLM call, evaluation and event as one line while
another process writes the store (read-only: writers are never blocked). A
store file replaced meanwhile (a new demo, a restored copy) is reopened."""

_EXPORT = """\
Write every record (--kind all) or one table as JSON lines or CSV, to standard
output or a file. Records are read in batches and written as they are read, so
memory stays flat whatever the size of the store. Each row has a "kind" field;
CSV columns are the tables' columns, nested values as JSON text."""

_REPORT = """\
Write one self-contained HTML file with the viewer's pages, openable from disk
with no server. Session pages cover the newest --max-sessions sessions, trace
pages up to --max-traces of their traces; the command says what it left out."""

_VIEW = """\
Serve the web viewer for a store on a local port until Ctrl+C."""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``auditora`` command."""
    from .. import __version__

    parser = Parser(prog="auditora", description=_DESCRIPTION, formatter_class=HelpFormatter)
    parser.add_argument("--version", action="version", version=f"auditora {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def command(name: str, summary: str, description: str) -> argparse.ArgumentParser:
        # summary: its line in `auditora --help`; description: the head of `auditora NAME --help`.
        return sub.add_parser(
            name, help=summary, description=description, formatter_class=HelpFormatter
        )

    def store_arg(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "store",
            metavar="STORE",
            help="a store: a SQLite path (e.g. auditora.db) or a postgresql:// URL",
        )

    def json_arg(
        p: argparse.ArgumentParser, what: str = "one JSON list instead of a table"
    ) -> None:
        p.add_argument("--json", action="store_true", help=f"print {what} (exact values)")

    p = command("demo", "run the bundled example pipeline into a store", _DEMO)
    p.add_argument(
        "--store",
        default=None,
        help=(
            "the store to write: a SQLite file (default ./auditora-demo.db; an existing "
            "file is replaced) or a postgresql:// URL (added to)"
        ),
    )
    p.add_argument("--quiet", "-q", action="store_true", help="print only the summary")

    p = command("sessions", "list the sessions of a store", _SESSIONS)
    store_arg(p)
    json_arg(p)
    p.add_argument(
        "--limit", type=positive_int, default=100, help="show at most N sessions (default 100)"
    )
    p.add_argument(
        "--offset", type=non_negative_int, default=0, help="skip the first N (default 0)"
    )

    p = command("runs", "list runs, newest first, with filters", _RUNS)
    store_arg(p)
    p.add_argument("--session", default=None, metavar="ID", help="only runs of this session")
    p.add_argument("--trace", default=None, metavar="ID", help="only runs of this trace")
    p.add_argument("--status", default=None, metavar="STATUS", help="only runs with this status")
    p.add_argument("--name", default=None, help="only runs whose name contains NAME (any case)")
    p.add_argument(
        "--kind", default=None, help="only runs of this kind (run type: function, llm, tool...)"
    )
    p.add_argument("--agent", default=None, help="only runs of this agent")
    p.add_argument("--model", default=None, help="only runs that made an LLM call to this model")
    p.add_argument(
        "--since",
        type=since_arg,
        default=None,
        metavar="WHEN",
        help="only runs started since WHEN: an age (30m, 1h, 2d, 1w) or an ISO date/time",
    )
    p.add_argument(
        "--sort",
        choices=RUN_SORTS,
        default="start",
        help="newest, longest, costliest, most tokens or failed first (default start)",
    )
    p.add_argument("--reverse", action="store_true", help="smallest or oldest first")
    json_arg(p)
    p.add_argument(
        "--limit", type=positive_int, default=200, help="show at most N runs (default 200)"
    )
    p.add_argument(
        "--offset", type=non_negative_int, default=0, help="skip the first N (default 0)"
    )

    p = command("show", "show a session, trace or run as a run tree", _SHOW)
    store_arg(p)
    p.add_argument("id", metavar="ID", help="a session, trace or run id, or a unique prefix of one")
    json_arg(p, "one JSON document")

    p = command("tail", "follow new records as they are written", _TAIL)
    store_arg(p)
    p.add_argument(
        "--interval",
        type=positive_float,
        default=0.5,
        metavar="S",
        help="seconds between polls (default 0.5)",
    )
    p.add_argument("--from-start", action="store_true", help="print existing records first")
    p.add_argument(
        "--count", type=positive_int, default=None, help="exit after N records (default: never)"
    )
    p.add_argument(
        "--timeout",
        type=positive_float,
        default=None,
        metavar="S",
        help="exit after S seconds (default: never)",
    )

    p = command("export", "export records as JSON lines or CSV", _EXPORT)
    store_arg(p)
    p.add_argument(
        "--format", choices=("jsonl", "csv"), default="jsonl", help="output format (default jsonl)"
    )
    p.add_argument(
        "--kind",
        default="all",
        choices=("all", *(t.name for t in TABLES)),
        metavar="KIND",
        help=f"one record table ({', '.join(t.name for t in TABLES)}) or all (default all)",
    )
    p.add_argument("-o", "--output", default="-", help="output file (default -, standard output)")

    p = command("report", "write a self-contained HTML report", _REPORT)
    store_arg(p)
    p.add_argument(
        "-o", "--output", default="report.html", help="file to write (default report.html)"
    )
    p.add_argument(
        "--max-sessions",
        type=positive_int,
        default=100,
        help="include the pages of the N newest sessions (default 100)",
    )
    p.add_argument(
        "--max-traces",
        type=positive_int,
        default=200,
        help="include the pages of at most N of their traces (default 200)",
    )

    p = command("view", "browse a store in a local web viewer", _VIEW)
    store_arg(p)
    p.add_argument(
        "--port", type=port, default=8765, help="port (default 8765; 0 picks a free one)"
    )
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to bind (default 127.0.0.1; anything else exposes your records)",
    )
    p.add_argument("--open", action="store_true", help="open the viewer in a web browser")

    from . import _trajectory

    _trajectory.add_parser(sub)

    from . import _experiments

    _experiments.add_parsers(sub)

    from . import _collect

    _collect.add_parser(sub)

    from . import _migrate

    _migrate.add_parser(sub)

    sub.add_parser(
        "gate",
        help="exit non-zero when evaluation metrics are below a bar (auditora gate --help)",
        add_help=False,
    )
    return parser


def _gate(argv: List[str]) -> int:
    try:
        from ..evaluations import gate_command
    except ImportError:
        print(
            "auditora: 'auditora gate' is not available in this version "
            "(auditora.evaluations.gate_command is missing)",
            file=sys.stderr,
        )
        return 2
    return int(gate_command(argv))


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run ``auditora`` with ``argv`` (default: ``sys.argv[1:]``); return the exit status."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    # gate has its own parser (owned by auditora.evaluations): hand it the rest verbatim.
    if args_list and args_list[0] == "gate":
        return _gate(args_list[1:])
    parser = build_parser()
    try:
        args = parser.parse_args(args_list)
    except SystemExit as exc:  # argparse exits on --help/--version (0) and usage errors (2)
        return int(exc.code) if isinstance(exc.code, int) else 2
    if args.command is None:
        parser.print_help()
        return 2
    from . import _commands

    try:
        if args.command == "trajectory":
            from . import _trajectory

            return _trajectory.run(args)
        if args.command == "collect":
            from . import _collect

            return _collect.run(args)
        if args.command == "migrate":
            from . import _migrate

            return _migrate.run(args)
        if args.command in ("experiments", "compare"):
            from . import _experiments

            return _experiments.run(args)
        return _commands.run(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `auditora export ... | head`
        return 0
