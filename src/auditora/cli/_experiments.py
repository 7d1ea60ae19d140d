"""``auditora experiments STORE`` and ``auditora compare STORE BASE CAND``."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Dict, List

from ..store._url import mask
from . import _format as fmt

__all__ = ["COMMANDS", "add_parsers", "run"]

#: The subcommands this module handles.
COMMANDS = ("experiments", "compare")

_COMPARE = """\
Compare two experiment runs of a store: per metric the base and candidate means,
the delta and a paired bootstrap confidence interval (significant when it
excludes zero); per item regressed, improved or unchanged; cost and latency.
BASE and CAND are experiment names (their newest run) or experiment ids.
To fail a CI build on a significant drop, use
'auditora gate STORE --experiment CAND --baseline BASE'."""


def add_parsers(sub: Any) -> None:
    """Register ``experiments`` and ``compare`` on ``sub`` (argparse subparsers)."""
    p = sub.add_parser(
        "experiments",
        help="list the experiment runs of a store with their metrics",
        description="List the experiment runs of a store: name, id, dataset hash, items, "
        "trials, per-metric means, errors, cost and time, oldest first.",
    )
    p.add_argument(
        "store",
        metavar="STORE",
        help="a store: a SQLite path (e.g. auditora.db) or a postgresql:// URL",
    )
    p.add_argument("--json", action="store_true", help="print one JSON list instead of a table")

    p = sub.add_parser(
        "compare",
        help="compare two experiment runs (deltas with confidence intervals)",
        description=_COMPARE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "store",
        metavar="STORE",
        help="a store: a SQLite path (e.g. auditora.db) or a postgresql:// URL",
    )
    p.add_argument("base", metavar="BASE", help="the baseline experiment (name or id)")
    p.add_argument("candidate", metavar="CAND", help="the candidate experiment (name or id)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument(
        "--format",
        choices=("text", "md", "junit"),
        default="text",
        help="text (default), md (a pull-request comment) or junit (XML for CI)",
    )
    p.add_argument(
        "--confidence", type=float, default=0.95, help="interval confidence (default 0.95)"
    )
    p.add_argument("--max-items", type=int, default=10, help="regressed items to show (default 10)")


def _err(message: str) -> int:
    print(f"auditora: {message}", file=sys.stderr)
    return 1


def _means(metrics: Dict[str, Any]) -> str:
    parts = [f"{k}={v:.3g}" for k, v in metrics.items() if isinstance(v, (int, float))]
    return " ".join(parts) or "-"


def _list(args: argparse.Namespace) -> int:
    from ..experiments import list_experiments
    from ..store import open_store

    with open_store(args.store) as store:
        rows = list_experiments(store)
    if args.json:
        json.dump(rows, sys.stdout, indent=2, ensure_ascii=False, default=repr)
        sys.stdout.write("\n")
        return 0
    if not rows:
        print(f"no experiments in {mask(args.store)} (record one with auditora.experiments.run)")
        return 0
    table: List[List[Any]] = [
        [
            r["name"],
            r["id"],
            (r["dataset"] or "-")[:12],
            r["items"],
            r["trials"],
            r["errors"] or 0,
            _means(r["metrics"]),
            fmt.cost(r["cost"]),
            fmt.duration(r["duration_s"]),
        ]
        for r in rows
    ]
    head = ["name", "id", "dataset", "items", "trials", "errors", "metrics", "cost", "time"]
    print(fmt.table(head, table, right=(3, 4, 5, 7, 8)))
    return 0


def _compare(args: argparse.Namespace) -> int:
    from ..experiments import compare

    if not 0 < args.confidence < 1:
        print("auditora: --confidence must be between 0 and 1", file=sys.stderr)
        return 2
    result = compare(args.store, args.base, args.candidate, confidence=args.confidence)
    if args.json:
        json.dump(result.to_dict(), sys.stdout, indent=2, ensure_ascii=False, default=repr)
        sys.stdout.write("\n")
    else:
        print(result.format(args.format, max_items=args.max_items))
    return 0


def run(args: argparse.Namespace) -> int:
    """Run ``experiments`` or ``compare``; 0 on success, 1 for a store or name problem."""
    from ..store import StoreError

    try:
        return _list(args) if args.command == "experiments" else _compare(args)
    except StoreError as exc:
        return _err(str(exc))
    except LookupError as exc:
        return _err(str(exc.args[0]) if exc.args else str(exc))
    except ValueError as exc:
        return _err(str(exc))
