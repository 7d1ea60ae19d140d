"""``auditora runs``: newest first, a "showing N of M" note, filters (status, name, kind, agent,
model, since), sort, paging; unique id prefixes accepted, ambiguous ones listed. Each test
runs on a SQLite file and on a PostgreSQL database holding the same records."""

from __future__ import annotations

import json
import time
import warnings
from collections import Counter
from datetime import datetime, timezone
from typing import Any, Dict, List, Tuple

import pytest

from _backends import BACKENDS, fresh_store, is_postgres, pg_server
from auditora import DefaultReport, report, sentinel
from auditora.cli import main
from auditora.sinks import SQLiteSink
from auditora.store import open_store
from auditora.testing import capture

QUIET = DefaultReport(echo=False)
_ = pg_server  # the fixture fresh_store uses


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> Tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def runs_json(capsys: pytest.CaptureFixture[str], path: str, *argv: str) -> List[Dict[str, Any]]:
    code, out, err = run(capsys, "runs", str(path), "--json", *argv)
    assert (code, err) == (0, "")
    rows: List[Dict[str, Any]] = json.loads(out)
    return rows


@pytest.fixture(scope="module", params=BACKENDS)
def store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Tuple[str, int]:
    """Two pipelines (a planner agent, 4 answers of growing duration, a failing tool run),
    the second started after a mark in time; returns (path, mark in epoch ns)."""

    @sentinel(name="plan", agent="planner", report=QUIET)
    def plan() -> None:
        report.log_llm_call("gpt-4o", prompt_tokens=100, completion_tokens=10, response_time=0.1)

    @sentinel(name="answer", report=QUIET)
    def answer(i: int) -> None:
        time.sleep(0.002 * (i + 1))
        report.log_llm_call("gpt-4o-mini", prompt_tokens=50, completion_tokens=5)

    @sentinel(name="parse", kind="tool", report=QUIET)
    def parse() -> None:
        raise ValueError("model returned invalid JSON")

    @sentinel(name="pipeline", report=QUIET)
    def pipeline() -> None:
        plan()
        for i in range(4):
            answer(i)
        try:
            parse()
        except ValueError:
            pass

    with warnings.catch_warnings(), capture() as records:
        warnings.simplefilter("ignore")
        pipeline()
        time.sleep(0.01)
        mark = time.time_ns()
        time.sleep(0.01)
        pipeline()
    path = fresh_store(request, request.param, tmp_path_factory.mktemp("runs"))
    if is_postgres(path):
        from auditora._serialize import serialize
        from auditora.store._postgres import PostgresWriter

        writer = PostgresWriter(path)
        try:
            assert writer.write(serialize(list(records))).stored == len(records)
        finally:
            writer.close()
    else:
        sink = SQLiteSink(path)
        sink.export(list(records))
        sink.close(5.0)
    return path, mark


def test_runs_are_newest_first_with_a_note(
    store: Tuple[str, int], capsys: pytest.CaptureFixture[str]
) -> None:
    """The table lists the newest runs first and ends with "showing 3 of 14 runs"."""
    path, _ = store
    rows = runs_json(capsys, path)
    starts = [r["start_ns"] for r in rows]
    code, out, _ = run(capsys, "runs", str(path), "--limit", "3")
    ids = [line.split()[0] for line in out.splitlines()[2:5]]
    assert (
        len(rows),
        starts == sorted(starts, reverse=True),
        code,
        ids,
        out.splitlines()[-1],
    ) == (
        14,
        True,
        0,
        [r["run_id"] for r in rows[:3]],
        "showing 3 of 14 runs (1-3; --offset 3 for the next)",
    )


def test_offset_pages_through_the_runs(
    store: Tuple[str, int], capsys: pytest.CaptureFixture[str]
) -> None:
    """Pages of 5 at offsets 0, 5 and 10 are the whole list, in order, without repeats."""
    path, _ = store
    everything = [r["run_id"] for r in runs_json(capsys, path)]
    pages = [
        r["run_id"]
        for offset in (0, 5, 10)
        for r in runs_json(capsys, path, "--limit", "5", "--offset", str(offset))
    ]
    assert pages == everything


@pytest.mark.parametrize(
    "argv,expected",
    [
        (["--status", "error"], {("parse", "error")}),
        (["--name", "answer"], {("answer", "ok")}),
        (["--agent", "planner"], {("plan", "ok")}),
        (["--kind", "tool"], {("parse", "error")}),
        (["--model", "gpt-4o"], {("plan", "ok")}),
    ],
    ids=["status", "name", "agent", "kind", "model"],
)
def test_filters_keep_only_matching_runs(
    argv: List[str],
    expected: set[Tuple[str, str]],
    store: Tuple[str, int],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Each filter keeps exactly the runs it names (of both pipelines)."""
    path, _ = store
    rows = runs_json(capsys, path, *argv)
    counts = Counter(r["name"] for r in rows)
    assert ({(r["name"], r["status"]) for r in rows}, max(counts.values()) % 2) == (expected, 0)


def test_since_an_iso_time_keeps_the_later_runs(
    store: Tuple[str, int], capsys: pytest.CaptureFixture[str]
) -> None:
    """``--since`` an ISO time between the pipelines keeps the second one's 7 runs;
    ``--since 1h`` keeps all 14."""
    path, mark = store
    iso = datetime.fromtimestamp(mark / 1e9, tz=timezone.utc).isoformat()
    later = runs_json(capsys, path, "--since", iso)
    assert (
        len(later),
        all(r["start_ns"] >= mark for r in later),
        len(runs_json(capsys, path, "--since", "1h")),
    ) == (7, True, 14)


def test_sort_by_duration_and_reverse(
    store: Tuple[str, int], capsys: pytest.CaptureFixture[str]
) -> None:
    """``--sort duration`` lists the longest first; ``--reverse`` the shortest first."""
    path, _ = store
    longest = [r["duration_ns"] for r in runs_json(capsys, path, "--sort", "duration")]
    shortest = [
        r["duration_ns"] for r in runs_json(capsys, path, "--sort", "duration", "--reverse")
    ]
    assert (longest == sorted(longest, reverse=True), shortest == sorted(shortest)) == (True, True)


def _ids(path: str) -> List[Tuple[str, str]]:
    with open_store(path) as s:
        runs = s.runs(limit=None)
        sessions = [x["session_id"] for x in s.sessions()]
    return (
        [("run", r["run_id"]) for r in runs]
        + [("trace", t) for t in {r["trace_id"] for r in runs}]
        + [("session", x) for x in sessions]
    )


def _unique_prefix(ident: str, every: List[str]) -> str:
    for n in range(1, len(ident) + 1):
        if sum(1 for other in every if other.startswith(ident[:n])) == 1:
            return ident[:n]
    return ident


def test_show_takes_a_unique_prefix(
    store: Tuple[str, int], capsys: pytest.CaptureFixture[str]
) -> None:
    """``show`` with the shortest unique prefix of a run id shows that run."""
    path, _ = store
    ids = _ids(path)
    run_id = next(i for k, i in ids if k == "run")
    prefix = _unique_prefix(run_id, [i for _, i in ids])
    code, out, _ = run(capsys, "show", str(path), prefix)
    assert (code, out.splitlines()[0].startswith(f"run {run_id} ")) == (0, True)


def test_runs_of_a_session_prefix(
    store: Tuple[str, int], capsys: pytest.CaptureFixture[str]
) -> None:
    """``--trace PREFIX`` lists the runs of the trace the prefix names."""
    path, _ = store
    ids = _ids(path)
    trace_id = next(i for k, i in ids if k == "trace")
    prefix = _unique_prefix(trace_id, [i for _, i in ids])
    rows = runs_json(capsys, path, "--trace", prefix)
    assert (len(rows), {r["trace_id"] for r in rows}) == (7, {trace_id})


def test_an_ambiguous_prefix_lists_its_candidates(
    store: Tuple[str, int], capsys: pytest.CaptureFixture[str]
) -> None:
    """A prefix of several ids: exit 1, one ``auditora:`` line, then one line per candidate
    (up to 10), each naming its kind and full id."""
    path, _ = store
    ids = _ids(path)
    first, count = Counter(i[0] for _, i in ids).most_common(1)[0]
    assert count > 1
    code, out, err = run(capsys, "show", str(path), first)
    lines = err.splitlines()
    listed = [line.split() for line in lines[1:] if not line.strip().startswith("...")]
    candidates = {(k, i) for k, i in ids if i.startswith(first)}
    assert (
        code,
        out,
        lines[0].startswith(f"auditora: id prefix {first!r} is ambiguous"),
        len(listed),
        all((k, i) in candidates for k, i in listed),
    ) == (1, "", True, min(10, len(candidates)), True)


def test_sort_by_cost_puts_the_costliest_first(
    store: Tuple[str, int], capsys: pytest.CaptureFixture[str]
) -> None:
    """``--sort cost`` orders by each run's roll-up cost (its subtree's LLM calls): the
    pipelines, which contain every call, come first; the table shows the costs."""
    path, _ = store
    rows = runs_json(capsys, path, "--sort", "cost")
    costs = [r["cost"] for r in rows if r["cost"] is not None]
    code, out, _ = run(capsys, "runs", str(path), "--sort", "cost", "--limit", "2")
    assert (
        costs == sorted(costs, reverse=True),
        [r["name"] for r in rows[:2]],
        code,
        "COST" in out.splitlines()[0],
    ) == (True, ["pipeline", "pipeline"], 0, True)
