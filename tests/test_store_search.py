"""The store's search API: find_runs/traces/sessions/llm_calls/evaluations and resolve_id.

The store is written by the library itself (sentinel runs, LLM calls, logs and
evaluations through the recorder and the store's sink), then searched: once in a
SQLite file and once in a PostgreSQL database, with the same expectations.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any, Iterator, List

import pytest

import auditora
from _backends import BACKENDS, fresh_store, is_postgres, pg_server, store_url
from auditora import report, sentinel
from auditora.store import SCHEMA_VERSION, AmbiguousId, NotFound, Page, open_store
from auditora.store._reader import MAX_PAGE

_ = (pg_server, store_url)  # fixtures (fresh_store uses pg_server)


def _build(path: Any) -> None:
    """Three sessions: a tidy one, one whose trace fails deep inside, one costly."""
    auditora.configure(store=str(path), console=False, capture_content=True)

    @sentinel(kind="tool")
    def lookup(city: str) -> str:
        report.warning(f"looked up {city}")
        return f"sunny in {city}"

    @sentinel(name="Deep Step")
    def deep(n: int) -> None:
        if n == 0:
            raise ValueError("needle-in-the-haystack exploded")
        deep(n - 1)

    @sentinel(session_id="tidy", name="answer question")
    def tidy() -> str:
        report.log_llm_call(
            "gpt-4o-mini", 10, 5, 0.2, input="what is the weather", output="it rains", cost=0.001
        )
        return lookup("Paris")

    @sentinel(session_id="broken", name="pipeline", agent="planner")
    def broken() -> None:
        try:
            deep(4)
        except ValueError:
            pass

    @sentinel(session_id="costly", name="big answer")
    def costly() -> None:
        time.sleep(0.01)
        report.log_llm_call("claude-x", 1000, 2000, 1.5, cost=0.75, output="a long essay")
        report.log_llm_call("claude-x", 10, 20, 0.1, success=False, error="rate limited", cost=0.0)
        report.log_evaluation_result("coherence", 0.4, 0.5, explanation="rambles")

    tidy()
    broken()
    costly()
    assert auditora.flush()
    auditora.shutdown()


@pytest.fixture(scope="module", params=BACKENDS)
def store_path(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The three sessions in a store of each backend (a path or a PostgreSQL URL)."""
    target = fresh_store(request, request.param, tmp_path_factory.mktemp("search"))
    _build(target)
    yield target
    auditora.configure(console=False)


@pytest.fixture()
def store(store_path: Path) -> Iterator[Any]:
    with open_store(store_path) as s:
        yield s


def _names(page: Page) -> list:
    return [r["name"] for r in page.rows]


def test_find_runs_is_newest_first_and_paginated(store: Any) -> None:
    """Runs come newest first; limit/offset page them and total counts all matches."""
    everything = store.find_runs(limit=100)
    starts = [r["start_ns"] for r in everything.rows]
    assert starts == sorted(starts, reverse=True)
    assert everything.total == len(everything.rows) == 9
    first, second = store.find_runs(limit=4), store.find_runs(limit=4, offset=4)
    assert (first.total, first.limit, first.offset) == (9, 4, 0)
    assert [r["run_id"] for r in first.rows + second.rows] == [
        r["run_id"] for r in everything.rows[:8]
    ]
    assert store.find_runs(descending=False, limit=1).rows[0]["start_ns"] == starts[-1]


def test_find_runs_filters(store: Any) -> None:
    """Status, name (case-insensitive substring), kind, agent, model and session filter."""
    failed = store.find_runs(status="error")
    assert set(_names(failed)) == {"Deep Step"} and failed.total == 5
    assert store.find_runs(name="deep s").total == 5
    assert store.find_runs(name="%").total == 0  # LIKE wildcards are literal
    assert _names(store.find_runs(kind="tool")) == ["lookup"] or _names(
        store.find_runs(kind="tool")
    )[0].endswith("lookup")
    assert store.find_runs(agent="planner").total == 6  # nested runs inherit the agent
    assert _names(store.find_runs(model="claude-x")) == ["big answer"]
    assert store.find_runs(session_id="tidy").total == 2
    assert _names(store.find_runs(session_id="tidy", roots_only=True)) == ["answer question"]
    assert store.find_runs(status="error", session_id="tidy").total == 0


def test_find_runs_time_duration_and_cost(store: Any) -> None:
    """since/until bound the start; min_duration_ns and min_cost (the run's roll-up) filter."""
    rows = store.find_runs(limit=100).rows
    newest = rows[0]["start_ns"]
    assert store.find_runs(since_ns=newest).total == 1
    assert store.find_runs(until_ns=newest).total == 8
    slow = store.find_runs(sort="duration", limit=3).rows[2]["duration_ns"]
    assert {r["duration_ns"] >= slow for r in store.find_runs(min_duration_ns=slow).rows} == {True}
    assert store.find_runs(min_duration_ns=slow).total == 3
    assert _names(store.find_runs(min_cost=0.5)) == ["big answer"]
    big = store.find_runs(min_cost=0.5).rows[0]
    assert big["cost"] == pytest.approx(0.75) and big["total_tokens"] == 3030


def test_find_runs_sorts(store: Any) -> None:
    """Sort by duration, cost, tokens and errors; an unknown sort is a ValueError."""
    by_duration = store.find_runs(sort="duration", limit=100).rows
    durations = [r["duration_ns"] for r in by_duration]
    assert durations == sorted(durations, reverse=True)
    assert store.find_runs(sort="cost").rows[0]["name"] == "big answer"
    assert store.find_runs(sort="tokens").rows[0]["name"] == "big answer"
    assert store.find_runs(sort="errors").rows[0]["status"] == "error"
    with pytest.raises(ValueError, match="cannot sort by 'nope'"):
        store.find_runs(sort="nope")
    with pytest.raises(ValueError, match="0 or more"):
        store.find_runs(limit=-1)


def test_free_text_searches_messages_inputs_outputs_logs_and_llm_content(store: Any) -> None:
    """Text finds error messages, captured inputs/outputs, log messages and LLM content."""
    assert set(_names(store.find_runs(text="NEEDLE-in-the"))) == {"Deep Step"}
    assert store.find_runs(text="Paris").rows[0]["name"].endswith("lookup")  # input, output, log
    assert _names(store.find_runs(text="what is the weather")) == ["answer question"]
    assert _names(store.find_runs(text="long essay")) == ["big answer"]
    assert store.find_runs(text="no such text anywhere").total == 0


def test_a_search_says_how_far_back_it_read(store: Any) -> None:
    """Every free-text answer says it read the newest TEXT_SCAN_ROWS rows of each table;
    an answer without text says nothing of the kind."""
    from auditora.store._reader import TEXT_SCAN_ROWS

    for page in (
        store.find_runs(text="needle"),
        store.find_traces(text="needle"),
        store.find_sessions(text="needle"),
        store.find_llm_calls(text="weather"),
    ):
        assert (page.searched, page.to_dict()["searched"]) == (TEXT_SCAN_ROWS, 100_000)
    plain = store.find_runs()
    assert plain.searched is None and "searched" not in plain.to_dict()


def test_find_traces_counts_errors_of_any_run(store: Any) -> None:
    """One row per trace (its root); a trace with a failed run inside is status error."""
    traces = store.find_traces()
    assert traces.total == 3
    by_name = {r["name"]: r for r in traces.rows}
    assert by_name["pipeline"]["status"] == "error"
    assert by_name["pipeline"]["error_count"] == 5
    assert by_name["pipeline"]["run_count"] == 6
    assert by_name["answer question"]["status"] == "ok"
    assert _names(store.find_traces(status="error")) == ["pipeline"]
    assert set(_names(store.find_traces(status="ok"))) == {"answer question", "big answer"}
    assert _names(store.find_traces(text="needle")) == ["pipeline"]
    assert _names(store.find_traces(model="gpt-4o-mini")) == ["answer question"]
    assert store.find_traces(sort="errors").rows[0]["name"] == "pipeline"
    assert store.find_traces(sort="cost").rows[0]["name"] == "big answer"
    assert by_name["big answer"]["total_tokens"] == 3030


def test_find_sessions(store: Any) -> None:
    """Sessions page with aggregates; text matches names/ids or their runs; sorts."""
    page = store.find_sessions()
    assert page.total == 3 and page.rows[0]["session_id"] == "costly"
    assert [r["session_id"] for r in store.find_sessions(text="needle").rows] == ["broken"]
    assert [r["session_id"] for r in store.find_sessions(text="tid").rows] == ["tidy"]
    assert store.find_sessions(sort="errors").rows[0]["session_id"] == "broken"
    assert store.find_sessions(sort="cost").rows[0]["session_id"] == "costly"
    assert store.find_sessions(sort="start", descending=False).rows[0]["session_id"] == "tidy"
    assert store.find_sessions(limit=1, offset=1).rows[0]["session_id"] == "broken"


def test_find_llm_calls_and_evaluations(store: Any) -> None:
    """LLM calls filter by model, status and text; evaluations by metric and status."""
    assert store.find_llm_calls().total == 3
    (failed,) = store.find_llm_calls(status="error").rows
    assert failed["error"] == "rate limited" and failed["success"] is False
    assert store.find_llm_calls(model="claude-x", sort="cost").rows[0]["cost"] == 0.75
    assert store.find_llm_calls(text="rains").rows[0]["model"] == "gpt-4o-mini"
    with pytest.raises(ValueError):
        store.find_llm_calls(status="maybe")
    (ev,) = store.find_evaluations(metric="coherence", status="fail").rows
    assert ev["value"] == 0.4
    assert store.find_evaluations(status="PASS").total == 0


def test_pages_are_bounded(store: Any) -> None:
    """No answer is unbounded: a huge limit is capped."""
    assert store.find_runs(limit=10**9).limit == MAX_PAGE
    assert store.find_runs(limit=0).rows == []


def test_resolve_id_accepts_unique_prefixes(store: Any) -> None:
    """A unique prefix of a session, trace or run id resolves to (kind, full id)."""
    run = store.find_runs(name="big answer").rows[0]
    assert store.resolve_id(run["run_id"][:14]) == ("run", run["run_id"])
    assert store.resolve_id(run["run_id"].upper()) == ("run", run["run_id"])
    assert store.resolve_id(run["trace_id"][:28]) == ("trace", run["trace_id"])
    assert store.resolve_id("cost") == ("session", "costly")
    with pytest.raises(NotFound):
        store.resolve_id("zzzz-none")
    with pytest.raises(LookupError):
        store.resolve_id("")


def test_an_ambiguous_prefix_lists_candidates(store: Any) -> None:
    """A prefix shared by several ids raises AmbiguousId with them all."""
    ids = sorted(r["run_id"] for r in store.find_runs(limit=100).rows)

    def shared(a: str, b: str) -> str:
        return a[: next(i for i, (x, y) in enumerate(zip(a, b)) if x != y)]

    # Time-ordered ids made together share their first digits: the neighbours (in id
    # order) sharing the most.
    common = max((shared(a, b) for a, b in zip(ids, ids[1:])), key=len)
    assert common
    with pytest.raises(AmbiguousId) as caught:
        store.resolve_id(common, kinds=("run",))
    assert len(caught.value.candidates) >= 2
    assert all(kind == "run" and i.startswith(common) for kind, i in caught.value.candidates)
    assert common in str(caught.value)


def test_the_search_indexes_exist_and_are_used(store_path: str) -> None:
    """Migration 3 adds the search indexes; the error list and traces list use them."""
    if is_postgres(store_path):
        _postgres_indexes(store_path)
        return
    conn = sqlite3.connect(store_path)
    try:
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
        assert {"runs_status", "runs_roots", "sessions_last", "llm_calls_time"} <= names
        plan = " ".join(
            str(r)
            for r in conn.execute(
                "EXPLAIN QUERY PLAN SELECT * FROM runs WHERE status = 'error' "
                "ORDER BY start_ns DESC LIMIT 5"
            )
        )
        assert "runs_status" in plan
        plan = " ".join(
            str(r)
            for r in conn.execute(
                "EXPLAIN QUERY PLAN SELECT * FROM runs WHERE parent_id IS NULL "
                "ORDER BY start_ns DESC LIMIT 5"
            )
        )
        assert "runs_roots" in plan
    finally:
        conn.close()


def _postgres_indexes(url: str) -> None:
    """The same indexes in PostgreSQL, and the planner using them for the order the
    reader asks (``DESC NULLS LAST``) with sequential scans and sorts off (a
    three-session table is otherwise read whole, or through any partial index on the
    root runs and then sorted, whatever its indexes)."""
    import psycopg

    with psycopg.connect(url) as conn:
        names = {r[0] for r in conn.execute("SELECT indexname FROM pg_indexes")}
        assert {"runs_status", "runs_roots", "sessions_last", "llm_calls_time"} <= names
        conn.execute("SET enable_seqscan = off")
        conn.execute("SET enable_sort = off")
        for sql, index in (
            (
                "SELECT * FROM runs WHERE status = 'error'"
                " ORDER BY start_ns DESC NULLS LAST LIMIT 5",
                "runs_status",
            ),
            (
                "SELECT * FROM runs WHERE parent_id IS NULL"
                " ORDER BY start_ns DESC NULLS LAST LIMIT 5",
                "runs_roots",
            ),
        ):
            plan = " ".join(str(r[0]) for r in conn.execute("EXPLAIN " + sql))
            assert index in plan, plan


def test_a_version_2_store_gains_the_search_indexes(tmp_path: Path) -> None:
    """Opening a v2 file for writing runs migration 3: its rows stay, the indexes appear."""
    from auditora.store._schema import MIGRATIONS, connect_writer

    path = tmp_path / "v2.db"
    conn = sqlite3.connect(path)
    for version in (1, 2):
        for statement in MIGRATIONS[version]:
            conn.execute(statement)
    conn.execute("INSERT INTO meta VALUES ('schema_version', '2')")
    conn.execute(
        "INSERT INTO runs (run_id, trace_id, name, status, start_ns) "
        "VALUES ('00000000000000aa', '000000000000000000000000000000bb', 'old', 'error', 5)"
    )
    conn.commit()
    conn.close()
    connect_writer(str(path)).close()
    with open_store(path) as store:
        assert store.schema_version() == SCHEMA_VERSION
        assert _names(store.find_traces(status="error")) == ["old"]
    conn = sqlite3.connect(path)
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    conn.close()
    assert {"runs_status", "runs_roots", "sessions_last", "evaluations_time"} <= names


def test_the_root_sort_indexes_are_the_readers_sort_keys() -> None:
    """The partial indexes behind the Traces page's cost and tokens sorts index exactly
    the expressions the reader sorts by (else the planner ignores them), on both backends."""
    from auditora.store._dialect import POSTGRES, SQLITE
    from auditora.store._postgres import ROOT_SORTS_PG
    from auditora.store._schema import MODEL_INDEX_V4

    for key in ("llm.cost_usd", "llm.total_tokens"):
        assert any(f"({SQLITE.json_number('attributes', key)})" in s for s in MODEL_INDEX_V4)
        assert any(f"({POSTGRES.json_number('attributes', key)})" in s for s in ROOT_SORTS_PG)


def test_sorting_traces_by_cost_or_tokens_reads_an_index_not_every_root(tmp_path: Path) -> None:
    """SQLite's plan for the cost and tokens sorts of ``find_traces`` walks the partial
    root-run index (a million-run store: 344 ms to 2 ms), and the answer is right."""
    path = tmp_path / "sorts.db"
    auditora.configure(store=str(path))
    try:

        @sentinel()
        def job(i: int) -> None:
            report.log_llm_call(model="gpt-4o", input_tokens=10 * i, output_tokens=i, cost=0.01 * i)

        for i in range(1, 6):
            job(i)
        assert auditora.flush()
    finally:
        auditora.configure(store=None)
    with open_store(path) as store:
        for sort, index in (("cost", "runs_root_cost"), ("tokens", "runs_root_tokens")):
            seen: List[str] = []
            store._conn.set_trace_callback(seen.append)
            page = store.find_traces(sort=sort, limit=3)
            store._conn.set_trace_callback(None)
            query = next(s for s in seen if " ORDER BY " in s and "LIMIT" in s)
            plan = store._conn.execute("EXPLAIN QUERY PLAN " + query).fetchall()
            assert any(index in row[3] for row in plan), plan
            assert [t["cost"] for t in page.rows] == pytest.approx([0.05, 0.04, 0.03])


def test_the_errors_sort_of_traces_pages_across_failed_and_clean_traces(store_url: str) -> None:
    """Sorted by errors, traces come most failures first (newest first among equals),
    then the clean ones newest first; ascending, the other way round. Every page,
    including one that starts inside or past the failed traces, is that order's slice."""
    from _backends import write as write_to

    rows: List[Any] = []
    failures = {0: 2, 3: 1, 5: 2, 8: 1}  # trace index -> failed runs
    for i in range(10):
        tid, root = f"{i:032x}", f"{i:016x}"
        rows.append(
            {"kind": "run", "run_id": root, "trace_id": tid, "parent_id": None, "name": f"t{i}",
             "session_id": "s", "start_ns": 1000 + i, "end_ns": 2000 + i, "status": "ok"}
        )  # fmt: skip
        for j in range(failures.get(i, 0)):
            rows.append(
                {"kind": "run", "run_id": f"c{i:07x}{j:08x}", "trace_id": tid, "parent_id": root,
                 "name": "child", "session_id": "s", "start_ns": 1100 + i, "end_ns": 1200 + i,
                 "status": "error"}
            )  # fmt: skip
    path = store_url
    write_to(path, rows)
    newest = sorted(range(10), key=lambda i: -i)
    most = sorted((i for i in newest if i in failures), key=lambda i: -failures[i])
    expected_desc = [*most, *(i for i in newest if i not in failures)]
    fewest = sorted((i for i in newest if i in failures), key=lambda i: failures[i])
    expected_asc = [*(i for i in newest if i not in failures), *fewest]
    with open_store(path) as store:
        for descending, expected in ((True, expected_desc), (False, expected_asc)):
            for offset in range(0, 11):
                page = store.find_traces(
                    sort="errors", descending=descending, limit=3, offset=offset
                )
                assert [r["name"] for r in page.rows] == [
                    f"t{i}" for i in expected[offset : offset + 3]
                ], (descending, offset)
                assert page.total == 10


def _duration_rows() -> List[Any]:
    """Ten traces of a root and a child with growing durations, and LLM calls of
    which every third failed, with growing costs."""
    rows: List[Any] = []
    for i in range(10):
        tid, root = f"{i:032x}", f"{i:016x}"
        for run_id, parent, ms in ((root, None, 10 * i), (f"c{i:015x}", root, 10 * i + 5)):
            rows.append(
                {"kind": "run", "run_id": run_id, "trace_id": tid, "parent_id": parent,
                 "name": "root" if parent is None else "child", "session_id": "s",
                 "start_ns": 1000 + i, "end_ns": 1000 + i + ms * 1_000_000,
                 "duration_ns": ms * 1_000_000, "status": "ok"}
            )  # fmt: skip
        rows.append(
            {"kind": "llm_call", "model": "m", "input_tokens": 1, "output_tokens": 1,
             "response_time": 0.1, "success": i % 3 != 0, "time_ns": 2000 + i,
             "run_id": root, "trace_id": tid, "session_id": "s", "cost": 0.01 * i}
        )  # fmt: skip
    return rows


def test_duration_and_failed_call_queries_answer_from_their_indexes(store_url: str) -> None:
    """Schema version 5's indexes: runs sorted by duration, traces sorted by it or with
    a minimum duration, and failed LLM calls by cost answer right, and the reader's
    queries use runs_root_duration and llm_calls_failed (on a million runs: 356 ms
    to 4, and 280 ms to 2)."""
    from _backends import write as write_to

    write_to(store_url, _duration_rows())
    with open_store(store_url) as store:
        by_duration = store.find_runs(sort="duration", limit=3)
        assert [r["duration_ns"] // 1_000_000 for r in by_duration.rows] == [95, 90, 85]
        traces = store.find_traces(sort="duration", limit=3)
        assert [r["duration_ns"] // 1_000_000 for r in traces.rows] == [90, 80, 70]
        slow = store.find_traces(min_duration_ns=60_000_000)
        assert [r["duration_ns"] // 1_000_000 for r in slow.rows] == [90, 80, 70, 60]
        assert slow.total == 4
        failed = store.find_llm_calls(status="error", sort="cost")
        assert [round(c["cost"], 2) for c in failed.rows] == [0.09, 0.06, 0.03, 0.0]
        assert failed.total == 4
        if is_postgres(store_url):
            return _postgres_plans(store_url)
        for find, index in (
            (lambda: store.find_traces(sort="duration", limit=3), "runs_root_duration"),
            (lambda: store.find_traces(min_duration_ns=60_000_000), "runs_root_duration"),
            (lambda: store.find_llm_calls(status="error", sort="cost"), "llm_calls_failed"),
        ):
            seen: List[str] = []
            store._conn.set_trace_callback(seen.append)
            find()
            store._conn.set_trace_callback(None)
            # The page and its count (not the page's per-trace run counts). A count of
            # traces may read any index on the entry points: they hold the same runs.
            for query in (s for s in seen if " LIMIT " in s):
                plan = store._conn.execute("EXPLAIN QUERY PLAN " + query).fetchall()
                counted = query.startswith("SELECT count(*)") and index.startswith("runs_root")
                accepted = ("runs_root", "runs_roots") if counted else (index,)
                assert any(a in row[3] for a in accepted for row in plan), (query, plan)


def _postgres_plans(url: str) -> None:
    """PostgreSQL reads the same two indexes in the order the reader asks for."""
    import psycopg

    with psycopg.connect(url) as conn:
        conn.execute("SET enable_seqscan = off")
        conn.execute("SET enable_sort = off")
        for sql, index in (
            (
                "SELECT * FROM runs WHERE parent_id IS NULL"
                " ORDER BY duration_ns DESC NULLS LAST LIMIT 3",
                "runs_root_duration",
            ),
            (
                "SELECT * FROM llm_calls WHERE success = 0 ORDER BY cost DESC NULLS LAST LIMIT 3",
                "llm_calls_failed",
            ),
        ):
            plan = " ".join(str(r[0]) for r in conn.execute("EXPLAIN " + sql))
            assert index in plan, plan


def test_many_traces_over_a_minimum_duration_page_the_same_by_either_plan(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past a few thousand matches the traces list walks the roots newest first
    instead of sorting the matches the duration index finds: every page and the
    total are the same either way."""
    from _backends import write as write_to
    from auditora.store import _reader

    write_to(store_url, _duration_rows())
    with open_store(store_url) as store:

        def pages() -> List[Any]:
            return [
                ([r["run_id"] for r in p.rows], p.total)
                for p in (
                    store.find_traces(min_duration_ns=20_000_000, limit=3, offset=o)
                    for o in range(0, 9)
                )
            ]

        sorted_matches = pages()
        monkeypatch.setattr(_reader, "_SORT_MATCHES_UP_TO", 2)
        assert pages() == sorted_matches
        assert sorted_matches[0] == ([f"{i:016x}" for i in (9, 8, 7)], 8)


def test_a_search_counts_its_matches_on_every_page(store_url: str) -> None:
    """A free-text page and its total come from one scan: every page, including one
    past the last match, has the same total, and the pages together are the matches."""
    from _backends import write as write_to

    rows = [{**_run_row(i), "name": f"needle-{i}" if i % 3 == 0 else f"hay-{i}"} for i in range(21)]
    write_to(store_url, rows)
    with open_store(store_url) as store:
        seen: List[str] = []
        for offset in (0, 3, 6, 9):
            runs = store.find_runs(text="NEEDLE", limit=3, offset=offset)
            traces = store.find_traces(text="NEEDLE", limit=3, offset=offset)
            for page in (runs, traces):
                assert (page.total, page.total_exact) == (7, True), offset
            assert [t["name"] for t in traces.rows] == [r["name"] for r in runs.rows]
            seen += [r["name"] for r in runs.rows]
        assert seen == [f"needle-{i}" for i in (18, 15, 12, 9, 6, 3, 0)]


def _run_row(i: int) -> Any:
    return {
        "kind": "run", "run_id": f"{i:016x}", "trace_id": f"{i:032x}", "parent_id": None,
        "name": f"r{i}", "session_id": "s", "start_ns": 1000 + i, "end_ns": 2000 + i,
        "duration_ns": 1000, "status": "ok",
    }  # fmt: skip
