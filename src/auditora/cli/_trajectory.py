"""``auditora trajectory STORE TRACE``: the ordered steps of an agent trace."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from . import _format as fmt

__all__ = ["add_parser", "run"]

_DESCRIPTION = """\
Print the trajectory of one trace: its agent runs, tool calls, LLM calls and
hand-offs in the order they happened, with status, tokens, cost and duration.
Tool arguments appear when content was captured. TRACE is a trace id (or a run
id of that trace); a unique prefix of either is enough."""


def add_parser(sub: Any) -> None:
    """Register the ``trajectory`` subcommand on ``sub`` (argparse subparsers)."""
    p = sub.add_parser(
        "trajectory",
        help="show the agent, tool, LLM and hand-off steps of a trace",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("store", metavar="STORE", help="a store: a SQLite path or a postgresql:// URL")
    p.add_argument("trace", metavar="TRACE", help="a trace id or run id, or a unique prefix")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")


def _err(message: str) -> int:
    print(f"auditora: {message}", file=sys.stderr)
    return 1


def _trace_id(store: Any, given: str) -> str:
    """The full trace id ``given`` names: a trace id, a run id, or a unique prefix."""
    resolve = getattr(store, "resolve_id", None)
    if resolve is not None:
        kind, full = resolve(given, kinds=("trace", "run"))
        if kind == "trace":
            return str(full)
        run = store.run(full)
        return str(run["trace_id"])
    if store.runs(trace_id=given, limit=1):
        return given
    run = store.run(given)
    if run is None:
        raise LookupError(f"no trace or run {given!r} in this store")
    return str(run["trace_id"])


def _count(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _table(t: Any) -> str:
    rows = []
    for s in t.steps:
        what = s.tool if s.kind == "tool" else s.name
        if s.kind == "handoff":
            what = f"-> {s.recipient}"
        if s.error:
            what = f"{what}  ({s.error})"
        indent = "  " * max(0, s.depth - 1)
        rows.append(
            [
                str(s.index),
                s.kind,
                s.agent or "-",
                fmt.truncate(indent + what, 60),
                s.status,
                fmt.tokens(s.tokens),
                fmt.cost(s.cost),
                fmt.duration(s.duration),
            ]
        )
    head = ["#", "kind", "agent", "step", "status", "tokens", "cost", "duration"]
    counted = (
        (len(t.tools), "tool call"),
        (len(t.of_kind("llm")), "LLM call"),
        (len(t.handoffs), "hand-off"),
    )
    counts = ", ".join(_count(n, word) for n, word in counted)
    summary = (
        f"trace {t.trace_id}: {t.status}, {_count(len(t.steps), 'step')} ({counts}), "
        f"{fmt.tokens(t.tokens)} tokens, "
        f"cost {fmt.cost(t.cost)}, {fmt.duration(t.duration)}"
    )
    return summary + "\n\n" + fmt.table(head, rows, right=(0, 5, 6, 7)) if rows else summary


def run(args: argparse.Namespace) -> int:
    """Print the trajectory of ``args.trace`` in ``args.store``; return the exit status."""
    from ..agents import trajectory
    from ..store import StoreError, open_store

    try:
        with open_store(args.store) as store:
            trace_id = _trace_id(store, args.trace)
            t = trajectory(store, trace_id)
    except StoreError as exc:
        return _err(str(exc))
    except LookupError as exc:  # unknown or ambiguous id
        message = exc.args[0] if exc.args else str(exc)
        candidates = getattr(exc, "candidates", None)
        if candidates:
            message = f"{message}; candidates: {', '.join(map(str, candidates))}"
        return _err(str(message))
    if args.json:
        json.dump(t.to_dict(), sys.stdout, indent=2, ensure_ascii=False, default=repr)
        sys.stdout.write("\n")
    else:
        print(_table(t))
    return 0
