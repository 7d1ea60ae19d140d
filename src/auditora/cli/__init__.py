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

from ..store._schema import TABLES

__all__ = ["build_parser", "main"]

_DESCRIPTION = """\
See what your instrumented code did: list sessions and runs of a store, show a
run tree, follow new records, export them, write a one-file HTML report, or
browse them in a local web viewer.

Start with:  auditora demo   (runs the bundled example pipeline into a store)"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``auditora`` command."""
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="auditora",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"auditora {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("demo", help="run the bundled example pipeline into a store")
    p.add_argument(
        "--store",
        default=None,
        help="store file to write (default: ./auditora-demo.db; an existing file is replaced)",
    )
    p.add_argument("--quiet", "-q", action="store_true", help="print only the summary")

    def store_arg(p: argparse.ArgumentParser) -> None:
        p.add_argument("store", metavar="STORE", help="path of a SQLite store (e.g. auditora.db)")

    p = sub.add_parser("sessions", help="list the sessions of a store")
    store_arg(p)
    p.add_argument("--json", action="store_true", help="print one JSON list instead of a table")
    p.add_argument("--limit", type=int, default=None, help="show at most N sessions")

    p = sub.add_parser("runs", help="list runs (of one session or trace)")
    store_arg(p)
    p.add_argument("--session", default=None, metavar="ID", help="only runs of this session")
    p.add_argument("--trace", default=None, metavar="ID", help="only runs of this trace")
    p.add_argument("--json", action="store_true", help="print one JSON list instead of a table")
    p.add_argument("--limit", type=int, default=200, help="show at most N runs (default 200)")

    p = sub.add_parser("show", help="show a session, trace or run as a run tree")
    store_arg(p)
    p.add_argument("id", metavar="ID", help="a session id, trace id or run id")
    p.add_argument("--json", action="store_true", help="print one JSON document")

    p = sub.add_parser("tail", help="follow new records as they are written")
    store_arg(p)
    p.add_argument("--interval", type=float, default=0.5, help="seconds between polls")
    p.add_argument("--from-start", action="store_true", help="print existing records first")
    p.add_argument("--count", type=int, default=None, help="exit after N records")
    p.add_argument("--timeout", type=float, default=None, help="exit after this many seconds")

    p = sub.add_parser("export", help="export records as JSON lines or CSV")
    store_arg(p)
    p.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    p.add_argument(
        "--kind",
        default="all",
        help=f"one record table ({', '.join(t.name for t in TABLES)}) or 'all' (default)",
    )
    p.add_argument("-o", "--output", default="-", help="output file (default: standard output)")

    p = sub.add_parser("report", help="write a self-contained HTML report")
    store_arg(p)
    p.add_argument("-o", "--output", default="report.html", help="file to write (report.html)")
    p.add_argument(
        "--max-sessions",
        type=int,
        default=100,
        help="include the pages of the N newest sessions (default 100)",
    )
    p.add_argument(
        "--max-traces",
        type=int,
        default=200,
        help="include the pages of at most N of their traces (default 200)",
    )

    p = sub.add_parser("view", help="browse a store in a local web viewer")
    store_arg(p)
    p.add_argument("--port", type=int, default=8765, help="port (default 8765; 0 picks a free one)")
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
        if args.command in ("experiments", "compare"):
            from . import _experiments

            return _experiments.run(args)
        return _commands.run(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `auditora export ... | head`
        return 0
