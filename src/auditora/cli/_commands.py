"""The implementation of each ``auditora`` subcommand."""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import sqlite3
import sys
import textwrap
import time
from contextlib import contextmanager
from typing import IO, Any, Callable, Dict, Iterator, List, Optional

from ..store._schema import TABLES
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
    if ns is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ns / 1e9))


# -- demo ----------------------------------------------------------------------
def cmd_demo(args: argparse.Namespace) -> int:
    """Run the bundled pipeline into a store, then summarise it."""
    from .. import demo

    path = args.store or demo.DEFAULT_STORE
    say: Callable[[str], None] = (
        (lambda line: None) if args.quiet else (lambda line: print(line, flush=True))
    )
    say(f"auditora demo: an LLM evaluation pipeline (simulated models, no network) -> {path}")
    result = demo.run_demo(path, progress=say)
    if not result["delivered"]:
        _err("warning: not every record reached the store before the timeout")
    with _open(result["store"]) as store:
        total = store.summary()
        rows = store.sessions()
    print()
    print(f"Done in {result['seconds']:.1f} s. Store: {result['store']}")
    print(
        f"  {total['sessions']} sessions, {total['traces']} traces, {total['runs']} runs "
        f"({total['errors']} with errors), {total['llm_calls']} LLM calls, "
        f"{fmt.tokens(total['total_tokens'])} tokens, cost {fmt.cost(total['cost'])}, "
        f"{total['evaluations']} evaluations ({fmt.pct(total['eval_pass_rate'])} passed)"
    )
    print()
    print(_sessions_table(rows))
    store_arg = _quote(result["store"]) if args.store else demo.DEFAULT_STORE
    print()
    print("Next:")
    print(f"  auditora view {store_arg}        # browse it at http://127.0.0.1:8765")
    print(f"  auditora show {store_arg} {_quote(result['session_id'])}")
    print(f"  auditora report {store_arg} -o report.html")
    return 0


def _n(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _quote(text: str) -> str:
    import shlex

    return shlex.quote(text)


# -- sessions / runs / show ------------------------------------------------------
def _sessions_table(rows: List[Dict[str, Any]]) -> str:
    return fmt.table(
        [
            "SESSION",
            "STARTED",
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
                _when(r.get("first_ns")),
                r["run_count"],
                r["error_count"],
                fmt.duration(None if r.get("duration_ns") is None else r["duration_ns"] / 1e9),
                r["llm_calls"],
                fmt.tokens(r["total_tokens"]),
                fmt.cost(r["cost"]),
                r["evaluations"],
                fmt.pct(r["eval_pass_rate"]),
            ]
            for r in rows
        ],
        right=(2, 3, 4, 5, 6, 7, 8, 9),
    )


def cmd_sessions(args: argparse.Namespace) -> int:
    """List sessions with their aggregates."""
    with _open(args.store) as store:
        rows = store.sessions(limit=args.limit)
    if args.json:
        _print_json(rows)
    elif not rows:
        print("no sessions in this store")
    else:
        print(_sessions_table(rows))
    return 0


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
    """List runs, oldest first."""
    with _open(args.store) as store:
        if args.session is not None and store.session(args.session) is None:
            raise CommandError(f"no session {args.session!r} in {args.store}")
        rows = store.runs(session_id=args.session, trace_id=args.trace, limit=args.limit)
        if args.trace is not None and not rows:
            raise CommandError(f"no trace {args.trace!r} in {args.store}")
    if args.json:
        _print_json(rows)
        return 0
    if not rows:
        print("no runs")
        return 0
    print(
        fmt.table(
            ["RUN", "NAME", "STATUS", "DURATION", "STARTED", "AGENT", "SESSION", "TRACE"],
            [
                [
                    r["run_id"],
                    r.get("name"),
                    r.get("status"),
                    fmt.duration(None if r.get("duration_ns") is None else r["duration_ns"] / 1e9),
                    _when(r.get("start_ns")),
                    r.get("agent") or "",
                    r.get("session_id"),
                    r.get("trace_id"),
                ]
                for r in rows
            ],
            right=(3,),
        )
    )
    return 0


def _resolve(store: Any, ident: str) -> Dict[str, Any]:
    """What ``ident`` names: ``{"kind": "session"|"trace"|"run", ...}``."""
    if store.session(ident) is not None:
        return {"kind": "session", "session_id": ident}
    if store.runs(trace_id=ident, limit=1):
        return {"kind": "trace", "trace_id": ident}
    run = store.run(ident)
    if run is not None:
        return {"kind": "run", "run_id": ident, "trace_id": run["trace_id"]}
    raise CommandError(f"no session, trace or run with id {ident!r} in {store.path}")


def cmd_show(args: argparse.Namespace) -> int:
    """Print a run tree with durations, status, tokens and cost, then the
    traceback of each failed run."""
    from ..viewer import _model

    with _open(args.store) as store:
        what = _resolve(store, args.id)
        src = _source(store)
        if what["kind"] == "session":
            doc = _model.session_detail(src, args.id)
            runs = doc["runs"]
            header = f"session {args.id}"
        elif what["kind"] == "trace":
            doc = _model.trace_detail(src, args.id)
            runs = doc["runs"]
            header = f"trace {args.id}"
        else:
            doc = _model.run_detail(src, args.id)
            whole = _model.trace_detail(src, what["trace_id"])["runs"]
            runs = _subtree(whole, args.id)
            header = f"run {args.id} (trace {what['trace_id']})"
        per_run = _run_tokens_cost(store, runs, list(dict.fromkeys(r["trace_id"] for r in runs)))
    if args.json:
        _print_json(doc)
        return 0
    summary = doc.get("summary") or _model._summary(
        runs, doc.get("llm_calls", []), doc.get("evaluations", [])
    )
    width = shutil.get_terminal_size((120, 24)).columns
    print(fmt.truncate(header.replace("\n", " "), width))
    print(
        textwrap.fill(
            f"{_n(len(runs), 'run')}, {_n(summary['errors'], 'error')}, "
            f"{fmt.tokens(summary['tokens'])} tokens, cost {fmt.cost(summary['cost'])}, "
            f"{_n(summary['evaluations'], 'evaluation')} ({fmt.pct(summary['pass_rate'])} passed)",
            width,
        )
    )
    print(_tree_table(runs, per_run))
    for r in runs:
        if r.get("traceback"):
            print(f"\n{r.get('name')} ({r['run_id']}) failed:")
            print(textwrap.indent(str(r["traceback"]).rstrip("\n"), "  "))
    return 0


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
    return fmt.table(["RUN", "STATUS", "DURATION", "TOKENS", "COST", "ID"], rows, right=(2, 3, 4))


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


def cmd_tail(args: argparse.Namespace) -> int:
    """Print records as they are added to the store, until interrupted."""
    from urllib.parse import quote

    with _open(args.store):
        pass  # validates the file (missing, corrupt, newer schema) with a clear error
    conn = sqlite3.connect(
        "file:" + quote(os.path.abspath(args.store)) + "?mode=ro", uri=True, isolation_level=None
    )
    conn.row_factory = sqlite3.Row
    try:
        last: Dict[str, int] = {}
        for table in _TAIL_TABLES:
            row = conn.execute(f"SELECT coalesce(max(rowid), 0) FROM {table}").fetchone()
            last[table] = 0 if args.from_start else int(row[0])
        printed = 0
        deadline = None if args.timeout is None else time.monotonic() + args.timeout
        while True:
            batch = []
            for table in _TAIL_TABLES:
                for r in conn.execute(
                    f"SELECT rowid AS _rowid, * FROM {table} WHERE rowid > ? ORDER BY rowid",
                    (last[table],),
                ):
                    row = dict(r)
                    last[table] = row.pop("_rowid")
                    if "success" in row and row["success"] is not None:
                        row["success"] = bool(row["success"])
                    batch.append((row.get("time_ns") or row.get("end_ns") or 0, table, row))
            batch.sort(key=lambda item: item[0])
            for _, table, row in batch:
                print(_tail_line(table, row), flush=True)
                printed += 1
                if args.count is not None and printed >= args.count:
                    return 0
            if deadline is not None and time.monotonic() >= deadline:
                return 0
            time.sleep(args.interval)
    finally:
        conn.close()


# -- export ------------------------------------------------------------------------
#: Table name -> the kind of the records it keeps, in the schema's order.
_EXPORT_TABLES = {t.name: t.kind for t in TABLES}


def _export_rows(store: Any, kind: str) -> Iterator[Dict[str, Any]]:
    tables = list(_EXPORT_TABLES) if kind == "all" else [kind]
    for table in tables:
        if table == "sessions":
            rows = store.sessions()
        elif table == "runs":
            rows = store.runs(limit=None)
        else:  # every other table has a reader method of its name
            rows = getattr(store, table)(limit=None)
        record_kind = _EXPORT_TABLES[table]
        for r in rows:
            yield {"kind": record_kind, **r}


def cmd_export(args: argparse.Namespace) -> int:
    """Write every record (or one table) as JSON lines or CSV."""
    if args.kind != "all" and args.kind not in _EXPORT_TABLES:
        raise CommandError(
            f"unknown --kind {args.kind!r}; use one of all, {', '.join(_EXPORT_TABLES)}"
        )
    with _open(args.store) as store:
        rows = list(_export_rows(store, args.kind))
    to_stdout = args.output == "-"
    out: IO[str] = (
        sys.stdout if to_stdout else open(args.output, "w", encoding="utf-8", newline="")  # noqa: SIM115
    )
    try:
        if args.format == "jsonl":
            for r in rows:
                out.write(json.dumps(r, ensure_ascii=False, default=repr) + "\n")
        else:
            columns: Dict[str, None] = {}
            for r in rows:
                columns.update(dict.fromkeys(r))
            writer = csv.DictWriter(out, fieldnames=list(columns), extrasaction="ignore")
            writer.writeheader()
            for r in rows:
                writer.writerow(
                    {
                        k: json.dumps(v, ensure_ascii=False, default=repr)
                        if isinstance(v, (dict, list))
                        else v
                        for k, v in r.items()
                    }
                )
    finally:
        if out is not sys.stdout:
            out.close()
    if args.output != "-":
        print(f"wrote {len(rows)} records to {args.output}", file=sys.stderr)
    return 0


# -- report / view ---------------------------------------------------------------------
def cmd_report(args: argparse.Namespace) -> int:
    """Write the self-contained HTML report."""
    from ..viewer import write_report

    with _open(args.store) as store:
        size = write_report(store, args.output, args.max_traces, args.max_sessions)
    print(f"wrote {args.output} ({size / 1024:.0f} KiB): open it in any browser, no server needed")
    return 0


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
    print(f"auditora viewer for {args.store} at {url}  (Ctrl+C to stop)", flush=True)
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
