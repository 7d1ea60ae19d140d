"""``auditora migrate SRC DST``: copy a store into another (SQLite, PostgreSQL, either way)."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from typing import Any, Dict, Optional

from .._argparse import positive_int

__all__ = ["add_parser", "run"]

_DESCRIPTION = """\
Copy every row of the store SRC into the store DST: a SQLite file into PostgreSQL,
back, or between two of a kind. SRC is opened read-only and never changed; DST is
created or upgraded. Rows are copied in insertion order, a batch per transaction,
and the progress is kept in DST: after Ctrl+C or a crash, run the same command
again and it goes on where it stopped, never copying a row twice. Run after it
finished, it copies only the rows added to SRC since. Runs and sessions already in
DST are replaced and merged by their ids, so several stores can be merged into one.

examples:
  auditora migrate auditora.db postgresql://ann:***@db.internal:5432/auditora
  auditora migrate postgresql://ann:***@db.internal:5432/auditora backup.db
  PGPASSWORD=... auditora migrate auditora.db postgresql://ann@db.internal/auditora

A password in a URL is never printed (shown as ***); PGPASSWORD or ~/.pgpass keep
it out of the shell's history."""


def add_parser(sub: Any) -> None:
    """Register the ``migrate`` subcommand on ``sub`` (argparse subparsers)."""
    p = sub.add_parser(
        "migrate",
        help="copy a store into another (SQLite to PostgreSQL or back); resumable",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    store = "a SQLite path (or sqlite:///path) or a postgresql:// URL"
    p.add_argument("src", metavar="SRC", help=f"the store to copy from: {store}")
    p.add_argument(
        "dst", metavar="DST", help=f"the store to copy into (created if needed): {store}"
    )
    p.add_argument(
        "--batch",
        type=positive_int,
        default=5000,
        metavar="N",
        help="rows per transaction (default 5000)",
    )
    p.add_argument(
        "--json", action="store_true", help="print the summary as one JSON object (exact values)"
    )
    p.add_argument("--quiet", "-q", action="store_true", help="print no progress lines")


class _Lines:
    """Progress on standard error: a line per table when it is done (redrawn in place
    after each batch on a terminal), after a first line naming both stores, printed once
    both are open (so an error is the only line)."""

    def __init__(self, quiet: bool, banner: str) -> None:
        self.quiet = quiet
        self.banner: Optional[str] = banner
        self.tty = sys.stderr.isatty()

    def __call__(self, table: str, copied: int, total: int) -> None:
        if self.quiet:
            return
        if self.banner:
            print(self.banner, file=sys.stderr, flush=True)
            self.banner = None
        done = copied >= total
        if not done and not self.tty:
            return
        line = f"  {table:<15} {copied:>12,} / {total:,} rows"
        end = "\n" if done else ""
        print(f"\r{line}" if self.tty else line, end=end, file=sys.stderr, flush=True)


def _err(message: str) -> int:
    print(f"auditora: {message}", file=sys.stderr)
    return 1


def _summary(data: Dict[str, Any]) -> str:
    earlier = sum(data["earlier"].values())
    if not data["rows"]:
        if earlier:
            return (
                f"nothing to copy: every row of {data['source']} is in {data['destination']} "
                f"already ({earlier:,} rows copied earlier)"
            )
        return f"nothing to copy: {data['source']} holds no rows"
    per_table = ", ".join(f"{n:,} {t}" for t, n in data["tables"].items() if n)
    text = (
        f"copied {data['rows']:,} rows in {data['seconds']:.1f} s "
        f"({data['rows_per_second']:,.0f} rows/s): {per_table}"
    )
    if earlier:
        text += f"; resumed after {earlier:,} rows copied earlier"
    return text


def run(args: argparse.Namespace) -> int:
    """Copy SRC into DST; exit 0, 1 (a store problem, one line) or 130 (interrupted)."""
    from ..store import StoreError
    from ..store._migrate import migrate_store
    from ..store._url import mask

    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    lines = _Lines(
        args.quiet or args.json, f"auditora migrate: {mask(args.src)} -> {mask(args.dst)}"
    )
    previous = signal.signal(signal.SIGTERM, stop)
    try:
        result = migrate_store(args.src, args.dst, batch=args.batch, progress=lines)
    except StoreError as exc:
        return _err(mask(str(exc)))
    except KeyboardInterrupt:
        if lines.tty:
            print(file=sys.stderr)
        print(
            "auditora: migrate interrupted; every batch committed is kept: run the same "
            "command again to go on",
            file=sys.stderr,
        )
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
    data = result.as_dict()
    if args.json:
        print(json.dumps(data))
    else:
        print(_summary(data))
    return 0
