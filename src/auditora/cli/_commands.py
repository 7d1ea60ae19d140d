"""The implementation of each ``auditora`` subcommand."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import sys
import textwrap
import time
from contextlib import contextmanager
from typing import IO, Any, Callable, Dict, Iterator, List, Optional, Tuple

from ..store._schema import BY_NAME, TABLES
from ..store._url import mask, parse_store
from . import _format as fmt

__all__ = ["CommandError", "run"]


class CommandError(Exception):
    """A problem reported to the user as one line on stderr, with exit status 1."""


def _err(message: str) -> None:
    print(f"auditora: {message}", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    """Dispatch a parsed command line; return the exit status."""
    from ..store import StoreError

    handler: Callable[[argparse.Namespace], int] = _HANDLERS[args.command]
    try:
        return handler(args)
    except (CommandError, StoreError) as exc:
        _err(str(exc))
        return 1


@contextmanager
def _open(path: str) -> Iterator[Any]:
    from ..store import open_store

    store = open_store(path)
    try:
        yield store
    finally:
        store.close()


def _source(store: Any) -> Any:
    from ..viewer._source import StoreSource

    return StoreSource(store)


def _print_json(value: Any) -> None:
    json.dump(value, sys.stdout, indent=2, ensure_ascii=False, default=repr)
    sys.stdout.write("\n")


def _when(ns: Optional[int]) -> str:
    return fmt.when(ns)


# -- demo ----------------------------------------------------------------------
def cmd_demo(args: argparse.Namespace) -> int:
    """Run the bundled pipeline into a store, then summarise it."""
    from .. import demo

    path = args.store or demo.DEFAULT_STORE
    say: Callable[[str], None] = (
        (lambda line: None) if args.quiet else (lambda line: print(line, flush=True))
    )
    shown = mask(path)  # a PostgreSQL URL's password never reaches the terminal
    say(f"auditora demo: an LLM evaluation pipeline (simulated models, no network) -> {shown}")
    result = demo.run_demo(path, progress=say)
    if not result["delivered"]:
        _err("warning: not every record reached the store before the timeout")
    with _open(result["store"]) as store:
        total = store.summary()
        rows = store.sessions()
    print()
    print(f"Done in {result['seconds']:.1f} s. Store: {mask(result['store'])}")
    print(
        f"  {total['sessions']} sessions, {total['traces']} traces, {total['runs']} runs "
        f"({total['errors']} with errors), {total['llm_calls']} LLM calls, "
        f"{fmt.tokens(total['total_tokens'])} tokens, cost {fmt.cost(total['cost'])}, "
        f"{total['evaluations']} evaluations ({fmt.pct(total['eval_pass_rate'])} passed)"
    )
    print()
    print(_sessions_table(rows))
    store_arg = _quote(mask(result["store"])) if args.store else demo.DEFAULT_STORE
    print()
    print("Next:")
    print(f"  auditora view {store_arg}        # browse it at http://127.0.0.1:8765")
    print(f"  auditora show {store_arg} {_quote(result['session_id'])}")
    print(f"  auditora report {store_arg} -o report.html")
    print(f"  auditora compare {store_arg} topic-router-v1 topic-router-v2")
    return 0


def _n(count: int, word: str) -> str:
    return f"{count:,} {word}" if count == 1 else f"{count:,} {word}s"


def _quote(text: str) -> str:
    import shlex

    return shlex.quote(text)


# -- sessions / runs / show ------------------------------------------------------
def _sessions_table(rows: List[Dict[str, Any]]) -> str:
    started, times = fmt.time_column("STARTED", [r.get("first_ns") for r in rows])
    return fmt.table(
        [
            "SESSION",
            started,
            "RUNS",
            "ERRORS",
            "DURATION",
            "LLM",
            "TOKENS",
            "COST",
            "EVALS",
            "PASS",
        ],
        [
            [
                r["session_id"],
                at,
                fmt.number(r["run_count"]),
                fmt.number(r["error_count"]),
                fmt.duration_ns(r.get("duration_ns")),
                fmt.number(r["llm_calls"]),
                fmt.tokens(r["total_tokens"]),
                fmt.cost(r["cost"]),
                fmt.number(r["evaluations"]),
                fmt.pct(r["eval_pass_rate"]),
            ]
            for r, at in zip(rows, times)
        ],
        right=(2, 3, 4, 5, 6, 7, 8, 9),
        keep=(0, 1),
    )


def cmd_sessions(args: argparse.Namespace) -> int:
    """List sessions with their aggregates, most recently active first."""
    with _open(args.store) as store:
        rows = store.sessions(limit=args.limit, offset=args.offset)
        cut = len(rows) >= args.limit or args.offset
        total = _count_sessions(store) if cut else len(rows)
    if args.json:
        _print_json(rows)
        return 0
    if rows:
        print(_sessions_table(rows))
    print(_showing(len(rows), total, args.offset, "session"))
    return 0


def _count_sessions(store: Any) -> int:
    return int(store.find_sessions(limit=0).total)  # an exact count (no filter)


def _showing(shown: int, total: int, offset: int, word: str) -> str:
    """``showing 200 of 50,000 runs (1-200; --offset 200 for the next)``, or ``3 runs``."""
    if total == 0:
        return f"no {word}s"
    if shown == total:
        return _n(total, word)
    if shown == 0:
        return f"no {word}s past --offset {offset:,} (there are {total:,})"
    text = f"showing {shown:,} of {total:,} {word}s ({offset + 1:,}-{offset + shown:,}"
    if offset + shown < total:
        text += f"; --offset {offset + shown} for the next"
    return text + ")"


def _run_tokens_cost(
    store: Any, runs: List[Dict[str, Any]], trace_ids: List[str]
) -> Dict[str, List[Any]]:
    """Per run id: [tokens, cost or None] of the LLM calls made directly in it."""
    per: Dict[str, List[Any]] = {}
    for tid in trace_ids:
        for c in store.llm_calls(trace_id=tid, limit=None):
            slot = per.setdefault(c.get("run_id") or "", [0, None])
            slot[0] += int(c.get("input_tokens") or 0) + int(c.get("output_tokens") or 0)
            if isinstance(c.get("cost"), (int, float)):
                slot[1] = (slot[1] or 0.0) + c["cost"]
    return per


def cmd_runs(args: argparse.Namespace) -> int:
    """List runs, newest first (or by --sort), filtered; a note says how many match."""
    with _open(args.store) as store:
        session_id = _resolve_as(store, args.session, "session")
        trace_id = _resolve_as(store, args.trace, "trace")
        page = store.find_runs(
            status=args.status,
            name=args.name,
            kind=args.kind,
            agent=args.agent,
            model=args.model,
            session_id=session_id,
            trace_id=trace_id,
            since_ns=args.since,
            sort=args.sort,
            descending=not args.reverse,
            limit=args.limit,
            offset=args.offset,
        )
    rows: List[Dict[str, Any]] = list(page.rows)
    if args.json:
        _print_json(rows)
        return 0
    if rows:
        started, times = fmt.time_column("STARTED", [r.get("start_ns") for r in rows])
        print(
            fmt.table(
                [
                    "RUN",
                    "NAME",
                    "STATUS",
                    "DURATION",
                    "TOKENS",
                    "COST",
                    started,
                    "AGENT",
                    "SESSION",
                ],
                [
                    [
                        r["run_id"],
                        r.get("name"),
                        r.get("status"),
                        fmt.duration_ns(r.get("duration_ns")),
                        fmt.tokens(r["total_tokens"]) if r.get("total_tokens") else "",
                        fmt.cost(r.get("cost")) if r.get("cost") is not None else "",
                        at,
                        r.get("agent") or "",
                        r.get("session_id"),
                    ]
                    for r, at in zip(rows, times)
                ],
                right=(3, 4, 5),
                keep=(0, 6),
            )
        )
    print(_showing(len(rows), int(page.total), args.offset, "run"))
    return 0


def _candidate(item: Any) -> str:
    """One candidate of an ambiguous prefix, as a line: ``run 3f2a… (name)``."""
    if isinstance(item, dict):
        kind = item.get("kind", "")
        ident = item.get("id") or item.get(f"{kind}_id") or ""
        extra = item.get("name")
        return f"{kind} {ident}" + (f" ({extra})" if extra else "")
    if isinstance(item, (tuple, list)):
        return " ".join(str(part) for part in item)
    return str(item)


def _lookup(store: Any, ident: str, kinds: Tuple[str, ...]) -> Tuple[str, str]:
    """``(kind, full id)`` of an id or unique id prefix, among ``kinds``; CommandError when
    there is none, or a prefix of several (listed one per line)."""
    from ..store import AmbiguousId

    try:
        kind, full = store.resolve_id(ident, kinds=kinds)
    except AmbiguousId as exc:
        lines = [f"  {_candidate(c)}" for c in exc.candidates]
        if len(exc.candidates) >= _LISTED_CANDIDATES:
            lines.append("  ... (perhaps more)")
        raise CommandError(
            f"id prefix {ident!r} is ambiguous: several ids start with it "
            "(give more characters):\n" + "\n".join(lines)
        ) from exc
    except LookupError as exc:
        names = ", ".join(kinds[:-1]) + " or " + kinds[-1] if len(kinds) > 1 else kinds[0]
        raise CommandError(f"no {names} with id {ident!r} in {store.path}") from exc
    return str(kind), str(full)


#: How many candidates ``Store.resolve_id`` lists for an ambiguous prefix.
_LISTED_CANDIDATES = 10


def _resolve_as(store: Any, ident: Optional[str], kind: str) -> Optional[str]:
    """The full id of a ``--session``/``--trace`` argument (None when not given)."""
    if ident is None:
        return None
    return _lookup(store, ident, (kind,))[1]


def _resolve(store: Any, ident: str) -> Dict[str, Any]:
    """What ``ident`` (an id or a unique prefix) names: ``{"kind": ..., "<kind>_id": ...}``."""
    kind, full = _lookup(store, ident, ("session", "trace", "run"))
    out: Dict[str, Any] = {"kind": kind, f"{kind}_id": full}
    if kind == "run":
        out["trace_id"] = store.run(full)["trace_id"]
    return out


def cmd_show(args: argparse.Namespace) -> int:
    """Print a run tree with durations, status, tokens and cost, then the error of
    each failed run; for one run, also its logs, events, LLM calls and evaluations."""
    from ..viewer import _model

    with _open(args.store) as store:
        what = _resolve(store, args.id)
        ident = what[what["kind"] + "_id"]
        src = _source(store)
        if what["kind"] == "session":
            doc = _model.session_detail(src, ident)
            runs = doc["runs"]
            header = f"session {ident}"
        elif what["kind"] == "trace":
            doc = _model.trace_detail(src, ident)
            runs = doc["runs"]
            header = f"trace {ident}"
        else:
            doc = _model.run_detail(src, ident)
            whole = _model.trace_detail(src, what["trace_id"])["runs"]
            # A run past the trace's display limit: itself and its children.
            runs = _subtree(whole, ident) or [
                dict(doc["run"], depth=0),
                *(dict(c, depth=1) for c in doc.get("children", [])),
            ]
            header = f"run {ident} (trace {what['trace_id']})"
        per_run = _run_tokens_cost(store, runs, list(dict.fromkeys(r["trace_id"] for r in runs)))
    if args.json:
        _print_json(doc)
        return 0
    summary = doc.get("summary") or _model._summary(
        runs, doc.get("llm_calls", []), doc.get("evaluations", [])
    )
    width = shutil.get_terminal_size((120, 24)).columns
    total_runs = int(doc.get("runs_total") or len(runs))
    print(fmt.truncate(header.replace("\n", " "), width))
    print(
        textwrap.fill(
            f"{_n(total_runs, 'run')}, {_n(summary['errors'], 'error')}, "
            f"{fmt.tokens(summary['tokens'])} tokens, cost {fmt.cost(summary['cost'])}, "
            f"{_n(summary['evaluations'], 'evaluation')} ({fmt.pct(summary['pass_rate'])} passed)",
            width,
        )
    )
    print(_tree_table(runs, per_run))
    if total_runs > len(runs):
        print(_left_out_note(mask(args.store), what, len(runs), total_runs, summary, runs))
    if what["kind"] == "run":
        _print_run_details(doc, width)
        return 0
    for r in runs:
        if r.get("status") == "error" or r.get("traceback"):
            print(f"\n{r.get('name')} ({r['run_id']}) failed: {_error_text(r)}")
            if r.get("traceback"):
                print(textwrap.indent(str(r["traceback"]).rstrip("\n"), "  "))
    return 0


def _error_text(run: Dict[str, Any]) -> str:
    kind, message = run.get("error_type"), run.get("error_message")
    if kind and message:
        return f"{kind}: {message}"
    return str(kind or message or "(no error message recorded)")


def _left_out_note(
    path: str,
    what: Dict[str, Any],
    shown: int,
    total: int,
    summary: Dict[str, Any],
    runs: List[Dict[str, Any]],
) -> str:
    """What a tree cut at the display limit leaves out, and how to list the rest."""
    option = "--session" if what["kind"] == "session" else "--trace"
    ident = what.get("session_id") if what["kind"] == "session" else what["trace_id"]
    note = (
        f"showing the first {shown:,} of {total:,} runs (depth-first); {total - shown:,} left out"
    )
    hidden_errors = int(summary.get("errors") or 0) - sum(
        1 for r in runs if r.get("status") == "error"
    )
    if hidden_errors > 0:
        note += f", {_n(hidden_errors, 'failed run')} among them"
    command = f"auditora runs {_quote(path)} {option} {_quote(str(ident))}"
    if hidden_errors > 0:
        command += " --status error"
    return f"({note}: {command})"


def _json_text(value: Any, limit: int) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=repr)
    return fmt.truncate(text.replace("\n", " "), limit)


def _print_run_details(doc: Dict[str, Any], width: int) -> None:
    """The error, traceback, captured inputs and output, logs, events, LLM calls and
    evaluations of one run (``run_detail``), each section only when it has something."""
    run = doc["run"]
    print()
    print(f"status: {run.get('status')}   kind: {run.get('run_type') or run.get('run_kind')}")
    print(
        f"started: {fmt.when(run.get('start_ns'), millis=True)}   "
        f"duration: {fmt.duration_ns(run.get('duration_ns'))}"
    )
    if run.get("agent"):
        print(f"agent: {run['agent']}")
    if run.get("status") == "error" or run.get("error_type") or run.get("error_message"):
        print(f"error: {_error_text(run)}")
    if run.get("traceback"):
        print("traceback:")
        print(textwrap.indent(str(run["traceback"]).rstrip("\n"), "  "))
    if run.get("inputs") is not None:
        print(f"inputs: {_json_text(run['inputs'], max(20, width - 8))}")
    if run.get("output") is not None:
        print(f"output: {_json_text(run['output'], max(20, width - 8))}")
    logs = doc.get("logs", [])
    if logs:  # whole messages, one line each: a log is read, not scanned in a column
        print(f"\nlogs ({len(logs):,}):")
        for r in logs:
            line = (
                f"{fmt.when(r.get('time_ns'), millis=True)}  {r.get('level')}  {r.get('message')}"
            )
            if r.get("fields"):
                line += "  " + _json_text(r["fields"], 500)
            print("  " + line.replace("\n", " ").replace("\r", " "))
    sections = [
        (
            "events",
            ["TIME", "NAME", "DURATION", "METADATA"],
            [
                [
                    fmt.when(r.get("time_ns"), millis=True),
                    r.get("name"),
                    fmt.duration(r.get("duration")) if r.get("duration") is not None else "",
                    _json_text(r["metadata"], 200) if r.get("metadata") else "",
                ]
                for r in doc.get("events", [])
            ],
            (2,),
        ),
        (
            "LLM calls",
            ["TIME", "MODEL", "IN", "OUT", "COST", "LATENCY", "RESULT"],
            [
                [
                    fmt.when(r.get("time_ns"), millis=True),
                    r.get("model"),
                    fmt.tokens(r.get("input_tokens")),
                    fmt.tokens(r.get("output_tokens")),
                    fmt.cost(r.get("cost")),
                    fmt.duration(r.get("response_time")),
                    (r.get("finish_reason") or "ok")
                    if r.get("success")
                    else f"FAILED {r.get('error') or ''}".rstrip(),
                ]
                for r in doc.get("llm_calls", [])
            ],
            (2, 3, 4, 5),
        ),
        (
            "evaluations",
            ["METRIC", "VALUE", "THRESHOLD", "STATUS", "EXPLANATION"],
            [
                [
                    r.get("metric_name"),
                    fmt.number(r.get("value")),
                    fmt.number(r.get("threshold")) if r.get("threshold") is not None else "",
                    r.get("status"),
                    r.get("explanation") or "",
                ]
                for r in doc.get("evaluations", [])
            ],
            (1, 2),
        ),
    ]
    for title, headers, rows, right in sections:
        if rows:
            print(f"\n{title} ({len(rows):,}):")
            print(fmt.table(headers, rows, right=right, width=width))


def _subtree(runs: List[Dict[str, Any]], run_id: str) -> List[Dict[str, Any]]:
    out: List[Dict[str, Any]] = []
    inside_depth: Optional[int] = None
    for r in runs:  # depth-first order: the subtree is contiguous
        if inside_depth is None:
            if r["run_id"] == run_id:
                inside_depth = r["depth"]
                out.append(r)
        elif r["depth"] > inside_depth:
            out.append(r)
        else:
            break
    base = out[0]["depth"] if out else 0
    return [dict(r, depth=r["depth"] - base) for r in out]


def _tree_prefixes(runs: List[Dict[str, Any]]) -> List[str]:
    """Box-drawing prefixes (``├─``, ``└─``, ``│``) for runs in depth-first order."""
    last: List[bool] = []
    for i, r in enumerate(runs):
        d = r["depth"]
        nxt = next((x["depth"] for x in runs[i + 1 :] if x["depth"] <= d), -1)
        last.append(nxt < d)
    out = []
    open_levels: List[bool] = []  # per depth: does that ancestor have siblings still to come?
    for r, is_last in zip(runs, last):
        d = r["depth"]
        del open_levels[d:]
        if d == 0:
            out.append("")
        else:
            lead = "".join("\u2502  " if more else "   " for more in open_levels[1:d])
            out.append(lead + ("\u2514\u2500 " if is_last else "\u251c\u2500 "))
        open_levels.append(not is_last)
    return out


def _tree_table(runs: List[Dict[str, Any]], per_run: Dict[str, List[Any]]) -> str:
    rows = []
    for r, prefix in zip(runs, _tree_prefixes(runs)):
        tokens, cost = per_run.get(r["run_id"], [0, None])
        name = prefix + str(r.get("name"))
        if r.get("agent"):
            name += f" [{r['agent']}]"
        status = r.get("status") or ""
        if r.get("error_type"):
            status += f" ({r['error_type']})"
        rows.append(
            [
                name,
                status,
                fmt.duration(r.get("duration")),
                fmt.tokens(tokens) if tokens else "",
                fmt.cost(cost) if cost is not None else "",
                r["run_id"],
            ]
        )
    return fmt.table(
        ["RUN", "STATUS", "DURATION", "TOKENS", "COST", "ID"], rows, right=(2, 3, 4), keep=(5,)
    )


# -- tail --------------------------------------------------------------------------
def _tail_what(table: str, r: Dict[str, Any]) -> str:
    if table == "runs":
        took = fmt.duration((r.get("duration_ns") or 0) / 1e9)
        return f"run {r.get('name')} {r.get('status')} {took}"
    if table == "logs":
        return f"{r.get('level')} {r.get('message')}"
    if table == "llm_calls":
        state = "ok" if r.get("success") else f"FAILED {r.get('error') or ''}".rstrip()
        return (
            f"llm {r.get('model')} {fmt.tokens(r.get('input_tokens'))} in / "
            f"{fmt.tokens(r.get('output_tokens'))} out {r.get('response_time')}s "
            f"{fmt.cost(r.get('cost'))} {state}"
        )
    if table == "evaluations":
        return (
            f"eval {r.get('metric_name')}={r.get('value')} "
            f"threshold={r.get('threshold')} {r.get('status')}"
        )
    if table == "agent_messages":
        return f"{r.get('message_kind')} {r.get('sender')} -> {r.get('recipient')}"
    if table == "metrics":
        return f"metric {r.get('name')}={r.get('value')}"
    return f"event {r.get('name')}"


#: Every table of records that arrive over time (sessions are state, updated in place).
_TAIL_TABLES = tuple(t.name for t in TABLES if t.kind != "session")


def _tail_line(table: str, r: Dict[str, Any]) -> str:
    when = (r.get("end_ns") or r.get("start_ns")) if table == "runs" else r.get("time_ns")
    text = f"{_when(when)} [{r.get('session_id')}] {_tail_what(table, r)}"
    return text.replace("\n", " ").replace("\r", " ")


class _Follower:
    """New rows of every record table of a store file, poll after poll.

    The file is watched by identity (device and inode): when it is replaced (a
    new demo, a copy moved over it) the old connection would keep reading the
    unlinked file forever, so the follower reopens the path and follows the new
    file from its start. A file rewritten in place shows as a table whose last
    rowid went down, and is treated the same. While the new file is absent or
    not yet a store, polls return nothing and retry.
    """

    def __init__(self, path: str, from_start: bool) -> None:
        self.path = path
        self.conn: Optional[sqlite3.Connection] = None
        self.identity: Optional[Tuple[int, int]] = None
        self.last: Dict[str, int] = {}
        self.reopened = 0
        self._open(from_start)

    def _stat(self) -> Optional[Tuple[int, int]]:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_dev, st.st_ino)

    def _open(self, from_start: bool) -> None:
        from . import _export

        self.close()
        identity = self._stat()
        conn = _export.connect(self.path)
        conn.row_factory = sqlite3.Row
        try:
            last = {}
            for table in _TAIL_TABLES:
                (top,) = conn.execute(f"SELECT coalesce(max(rowid), 0) FROM {table}").fetchone()
                last[table] = 0 if from_start else int(top)
        except sqlite3.DatabaseError:
            conn.close()
            raise
        self.conn, self.identity, self.last = conn, identity, last

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def _replaced(self) -> bool:
        identity = self._stat()
        return identity is not None and identity != self.identity

    def poll(self) -> List[Tuple[int, str, Dict[str, Any]]]:
        """The rows added since the last poll, ``(time_ns, table, row)`` in time order."""
        if self.conn is None or self._replaced():
            return self._reopen()
        batch = []
        try:
            for table in _TAIL_TABLES:
                rows = self.conn.execute(
                    f"SELECT rowid AS _rowid, * FROM {table} WHERE rowid > ? ORDER BY rowid",
                    (self.last[table],),
                ).fetchall()
                if not rows:
                    (top,) = self.conn.execute(
                        f"SELECT coalesce(max(rowid), 0) FROM {table}"
                    ).fetchone()
                    if top < self.last[table]:  # rewritten in place
                        return self._reopen()
                for r in rows:
                    row = dict(r)
                    self.last[table] = row.pop("_rowid")
                    if "success" in row and row["success"] is not None:
                        row["success"] = bool(row["success"])
                    batch.append((row.get("time_ns") or row.get("end_ns") or 0, table, row))
        except sqlite3.DatabaseError:
            return self._reopen()  # replaced under us; the next poll reads the new file
        batch.sort(key=lambda item: item[0])
        return batch

    def _reopen(self) -> List[Tuple[int, str, Dict[str, Any]]]:
        try:
            self._open(from_start=True)
        except sqlite3.DatabaseError:
            self.close()  # not a store yet (still being written): retry at the next poll
            return []
        self.reopened += 1
        _err(f"{self.path} was replaced: following the new file from its start")
        return self.poll()


class _DatabaseFollower:
    """New rows of every record table of a PostgreSQL store, poll after poll.

    There is no commit order to follow: the ``id`` of a row is taken when it is
    inserted, so a batch committed a moment after a later one brings rows with
    smaller ids. Each poll therefore lists the ids of the last :data:`SETTLE`
    seconds' window again (an index-only read) and prints those it has not
    printed. Runs have no insertion id: they are followed by start time over the
    last :data:`RUN_WINDOW_NS` (a run that ends later than that after its start
    is not printed).
    """

    #: Seconds a row may take from its insertion to its commit and still be printed.
    SETTLE = 10.0
    #: How far back from the newest run's start runs are looked for.
    RUN_WINDOW_NS = 600 * 10**9

    def __init__(self, store: Any, from_start: bool) -> None:
        self.store = store
        self.floor: Dict[str, int] = {}
        self.seen: Dict[str, Dict[Any, int]] = {t: {} for t in _TAIL_TABLES}
        self.marks: Dict[str, List[Tuple[float, int]]] = {t: [] for t in _TAIL_TABLES}
        for table in _TAIL_TABLES:
            if from_start:
                self.floor[table] = -(2**63)
            else:
                key = self._key(table)
                top = store._query(f"SELECT coalesce(max({key}), 0) AS top FROM {table}")[0]
                self.floor[table] = int(top["top"]) - (self.RUN_WINDOW_NS if table == "runs" else 0)
                if table == "runs":  # the window's runs are old news
                    self.seen["runs"] = {
                        r["k"]: r["at"] for r in self._keys(table, self.floor[table])
                    }

    @staticmethod
    def _key(table: str) -> str:
        return "start_ns" if table == "runs" else "id"

    def _keys(self, table: str, floor: int) -> List[Dict[str, Any]]:
        if table == "runs":
            return self.store._query(
                "SELECT run_id AS k, start_ns AS at FROM runs WHERE start_ns > ?", [floor]
            )
        return self.store._query(f"SELECT id AS k, id AS at FROM {table} WHERE id > ?", [floor])

    def poll(self) -> List[Tuple[int, str, Dict[str, Any]]]:
        """The rows committed since the last poll, ``(time_ns, table, row)`` in time order."""
        batch = []
        now = time.monotonic()
        for table in _TAIL_TABLES:
            seen = self.seen[table]
            keys = self._keys(table, self.floor[table])
            new = [r["k"] for r in keys if r["k"] not in seen]
            for r in keys:
                seen.setdefault(r["k"], r["at"])
            column = "run_id" if table == "runs" else "id"
            for start in range(0, len(new), 500):
                chunk = new[start : start + 500]
                marks = ", ".join("?" * len(chunk))
                for row in self.store._query(
                    f"SELECT * FROM {table} WHERE {column} IN ({marks})", chunk
                ):
                    batch.append((row.get("time_ns") or row.get("end_ns") or 0, table, row))
            self._settle(table, now)
        batch.sort(key=lambda item: item[0])
        return batch

    def _settle(self, table: str, now: float) -> None:
        """Move the table's floor up to what can no longer change, forgetting older keys."""
        seen = self.seen[table]
        if not seen:
            return
        top = max(seen.values())
        if table == "runs":
            floor = top - self.RUN_WINDOW_NS
        else:
            marks = self.marks[table]
            marks.append((now, top))
            settled = [m for m in marks if now - m[0] >= self.SETTLE]
            if not settled:
                return
            floor = settled[-1][1]
            self.marks[table] = [m for m in marks if now - m[0] < self.SETTLE]
        if floor > self.floor[table]:
            self.floor[table] = floor
            self.seen[table] = {k: at for k, at in seen.items() if at > floor}

    def close(self) -> None:
        self.store.close()


def cmd_tail(args: argparse.Namespace) -> int:
    """Print records as they are added to the store, until interrupted."""
    from ..store import open_store

    follower: Any
    if parse_store(args.store).backend == "postgresql":
        follower = _DatabaseFollower(open_store(args.store), from_start=args.from_start)
    else:
        with _open(args.store):
            pass  # validates the file (missing, corrupt, newer schema) with a clear error
        follower = _Follower(args.store, from_start=args.from_start)
    try:
        printed = 0
        deadline = None if args.timeout is None else time.monotonic() + args.timeout
        while True:
            for _, table, row in follower.poll():
                print(_tail_line(table, row), flush=True)
                printed += 1
                if args.count is not None and printed >= args.count:
                    return 0
            if deadline is not None and time.monotonic() >= deadline:
                return 0
            time.sleep(args.interval)
    finally:
        follower.close()


# -- export ------------------------------------------------------------------------
def cmd_export(args: argparse.Namespace) -> int:
    """Write every record (or one table) as JSON lines or CSV, streamed batch by batch."""
    from . import _export

    if parse_store(args.store).backend == "postgresql":
        return _export_database(args)
    with _open(args.store):
        pass  # validates the file (missing, corrupt, newer schema) with a clear error
    conn = _export.connect(args.store)
    to_stdout = args.output == "-"
    try:
        out: IO[str] = (
            sys.stdout if to_stdout else open(args.output, "w", encoding="utf-8", newline="")  # noqa: SIM115
        )
    except OSError as exc:
        conn.close()
        raise CommandError(f"cannot write {args.output!r}: {exc.strerror or exc}") from exc
    try:
        records = _export.iter_records(conn, args.kind)
        if args.format == "jsonl":
            n = _export.write_jsonl(records, out)
        else:
            n = _export.write_csv(records, out, _export.columns(conn, args.kind))
    except sqlite3.DatabaseError as exc:
        raise CommandError(f"cannot read the store {args.store!r}: {exc}") from exc
    finally:
        conn.close()
        if out is not sys.stdout:
            out.close()
    if not to_stdout:
        print(f"wrote {n} records to {args.output}", file=sys.stderr)
    return 0


def _database_records(store: Any, kind: str) -> Iterator[Dict[str, Any]]:
    """Every record of one table (or ``"all"``) of a PostgreSQL store, batch by batch:
    a keyset read on the insertion id (on the key of runs and sessions), each table
    up to the last row it held when its export began."""
    from . import _export

    for table in list(_export.KINDS) if kind == "all" else [kind]:
        key = "id" if BY_NAME[table].serial else BY_NAME[table].columns[0].name
        top = store._query(f"SELECT max({key}) AS top FROM {table}")[0]["top"]
        last: Any = None
        while top is not None:
            after = "" if last is None else f" AND {key} > ?"
            rows = store._query(
                f"SELECT * FROM {table} WHERE {key} <= ?{after} ORDER BY {key} LIMIT ?",
                [top, *([] if last is None else [last]), _export.BATCH],
            )
            if not rows:
                break
            last = rows[-1][key]
            for row in rows:
                yield {"kind": _export.KINDS[table], **row}


def _database_columns(store: Any, kind: str) -> List[str]:
    from . import _export

    out: Dict[str, None] = {"kind": None}
    for table in list(_export.KINDS) if kind == "all" else [kind]:
        for row in store._query(
            "SELECT column_name AS name FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND table_name = ? ORDER BY ordinal_position",
            [table],
        ):
            out[row["name"]] = None
    return list(out)


def _export_database(args: argparse.Namespace) -> int:
    """``export`` of a PostgreSQL store (the same records, columns and formats)."""
    from . import _export

    with _open(args.store) as store:
        to_stdout = args.output == "-"
        try:
            out: IO[str] = (
                sys.stdout if to_stdout else open(args.output, "w", encoding="utf-8", newline="")  # noqa: SIM115
            )
        except OSError as exc:
            raise CommandError(f"cannot write {args.output!r}: {exc.strerror or exc}") from exc
        try:
            records = _database_records(store, args.kind)
            if args.format == "jsonl":
                n = _export.write_jsonl(records, out)
            else:
                n = _export.write_csv(records, out, _database_columns(store, args.kind))
        finally:
            if out is not sys.stdout:
                out.close()
    if not to_stdout:
        print(f"wrote {n} records to {args.output}", file=sys.stderr)
    return 0


# -- report / view ---------------------------------------------------------------------
def cmd_report(args: argparse.Namespace) -> int:
    """Write the self-contained HTML report, then say what it left out."""
    from ..viewer import write_report

    with _open(args.store) as store:
        size = write_report(store, args.output, args.max_traces, args.max_sessions)
        note = _report_coverage(store, args.max_sessions, args.max_traces)
    print(f"wrote {args.output} ({size / 1024:.0f} KiB): open it in any browser, no server needed")
    print(note)
    return 0


def _report_coverage(store: Any, max_sessions: int, max_traces: int) -> str:
    """``included the 100 newest of 2,345 sessions, ...``: what the report holds pages for."""
    from ..viewer._model import MAX_ROWS

    total = store.summary()
    sessions = store.sessions(limit=max_sessions)
    traces: Dict[str, None] = {}
    for s in sessions:  # the traces of the included sessions, as the report picks them
        for t in store.traces(session_id=s["session_id"], limit=None):
            traces[t["trace_id"]] = None
    n_sessions, n_traces = total["sessions"], len(traces)
    if len(sessions) < n_sessions:
        what = f"included the newest {len(sessions):,} of {n_sessions:,} sessions"
    else:
        what = f"included all {_n(n_sessions, 'session')}"
    if n_traces > max_traces:
        what += f" and {max_traces:,} of their {n_traces:,} traces"
    else:
        what += f" and {'all ' if n_traces > 1 else ''}{_n(n_traces, 'trace')}"
    cut = [
        f"the newest {MAX_ROWS:,} of {total[key]:,} {label}"
        for key, label in (("llm_calls", "LLM calls"), ("evaluations", "evaluations"))
        if total[key] > MAX_ROWS
    ]
    if cut:
        what += "; its lists show " + " and ".join(cut)
    if len(sessions) < n_sessions or n_traces > max_traces:
        what += " (raise --max-sessions / --max-traces for more)"
    return what


def cmd_view(args: argparse.Namespace) -> int:
    """Serve the viewer until interrupted."""
    from ..viewer import make_server

    if args.host not in ("127.0.0.1", "localhost", "::1"):
        _err(
            f"warning: binding to {args.host}: anyone who can reach this address can read "
            "every record in the store (prompts, outputs, metadata)"
        )
    with _open(args.store):
        pass  # fail early and clearly on a missing or corrupt store
    try:
        server = make_server(args.store, host=args.host, port=args.port)
    except OSError as exc:
        raise CommandError(
            f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc} "
            "(is another viewer running? try --port 0 for a free port)"
        ) from exc
    url = server.url
    print(f"auditora viewer for {mask(args.store)} at {url}  (Ctrl+C to stop)", flush=True)
    if args.open:
        import webbrowser

        webbrowser.open(url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


_HANDLERS: Dict[str, Callable[[argparse.Namespace], int]] = {
    "demo": cmd_demo,
    "sessions": cmd_sessions,
    "runs": cmd_runs,
    "show": cmd_show,
    "tail": cmd_tail,
    "export": cmd_export,
    "report": cmd_report,
    "view": cmd_view,
}
