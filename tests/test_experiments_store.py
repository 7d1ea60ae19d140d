"""Experiments in a store, SQLite and PostgreSQL alike: one session per run, item runs and
scores read back the same as in memory, listing by an indexed range scan, resume, and the
configured store."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

import auditora
from _backends import pg_server, pg_url, store_url
from auditora import experiments
from auditora.experiments import Dataset, Item
from auditora.store import open_store

_ = (pg_server, pg_url, store_url)  # fixtures

DATA = Dataset([{"input": i, "expected": i * 2, "id": f"i{i}"} for i in range(8)])


def exact(output: Any, item: Item) -> bool:
    return bool(output == item.expected)


def test_a_stored_experiment_reads_back_as_it_ran(store_url: str) -> None:
    """Outputs, scores, errors, ids and the description survive the store."""
    db = store_url

    def task(x: int) -> int:
        if x == 5:
            raise RuntimeError("five")
        return x * 2 + (x == 1)

    ran = experiments.run("stored", DATA, task, [exact], store=db, metadata={"model": "m1"})
    with open_store(db) as store:
        back = experiments.load_experiment(store, "stored")
    assert back.experiment_id == ran.experiment_id and back.name == "stored"
    assert back.dataset_version == DATA.version and back.metadata == {"model": "m1"}
    assert [r.item_id for r in back.items] == [f"i{i}" for i in range(8)]
    assert back.scores("exact") == ran.scores("exact")
    assert [(r.output, r.error, r.run_id) for r in back.items] == [
        (r.output, r.error, r.run_id) for r in ran.items
    ]
    assert (
        back.items[5].error == "RuntimeError: five" and back.items[5].error_type == "RuntimeError"
    )
    assert back.items[0].expected == 0 and back.items[0].input == 0
    assert back.summary["metrics"] == ran.summary["metrics"]


def test_listing_gives_each_run_with_its_means(store_url: str) -> None:
    """Two runs of one name and one of another: three entries, oldest first, with means."""
    db = store_url
    experiments.run("a", DATA, lambda x: x * 2, [exact], store=db)
    experiments.run("a", DATA, lambda x: x, [exact], store=db)
    experiments.run("b", DATA, lambda x: x * 2, [exact], store=db, trials=2)
    with open_store(db) as store:
        listed = experiments.list_experiments(store)
        assert experiments.resolve_experiment(store, "a") == listed[1]["id"]
        with pytest.raises(LookupError, match=r"no experiment 'c'.*experiments: a, b"):
            experiments.resolve_experiment(store, "c")
    assert [(e["name"], e["items"], e["trials"]) for e in listed] == [
        ("a", 8, 1),
        ("a", 8, 1),
        ("b", 8, 2),
    ]
    assert [e["metrics"]["exact"] for e in listed] == [1.0, 0.125, 1.0]
    assert all(e["status"] == "done" and e["dataset"] == DATA.version for e in listed)


def test_other_sessions_do_not_show_as_experiments(store_url: str) -> None:
    """Ordinary sessions, even ones named like an experiment, are not listed."""
    db = store_url
    auditora.configure(store=str(db), console=False)

    @auditora.sentinel(session_id="experiment:fake:0")
    def work() -> None:
        pass

    work()
    auditora.flush()
    experiments.run("real", DATA, lambda x: x * 2, [exact], store=db)
    with open_store(db) as store:
        assert [e["name"] for e in experiments.list_experiments(store)] == ["real"]


def test_listing_and_loading_use_indexes(tmp_path: Path) -> None:
    """The sessions' primary key serves the listing and session_id indexes the loading, so a
    store of a million runs answers as fast as a small one."""
    db = tmp_path / "exp.db"
    experiments.run("idx", DATA, lambda x: x * 2, [exact], store=db)
    conn = sqlite3.connect(db)
    plans = [
        " ".join(row[-1] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, params))
        for sql, params in (
            (
                "SELECT session_id FROM sessions WHERE session_id >= ? AND session_id < ?",
                ("experiment:", "experiment;"),
            ),
            ("SELECT * FROM runs WHERE session_id = ?", ("x",)),
            ("SELECT * FROM evaluations WHERE session_id = ?", ("x",)),
        )
    ]
    conn.close()
    assert all("USING" in p and "SCAN" not in p for p in plans), plans
    with open_store(db) as store:
        rows = store.sessions_by_prefix("experiment:idx:")
        assert len(rows) == 1 and rows[0]["state"]["experiment"]["name"] == "idx"
        with pytest.raises(ValueError):
            store.sessions_by_prefix("")


def test_resume_skips_the_items_already_done(store_url: str) -> None:
    """A second run with resume=True continues the same session: finished items are not
    called again, failed ones are retried, and the result holds them all."""
    db = store_url
    calls = []
    down = [True]

    def flaky(x: int) -> int:
        calls.append(x)
        if x >= 6 and down[0]:
            raise ConnectionError("down")
        return x * 2

    first = experiments.run("resumable", DATA, flaky, [exact], store=db)
    assert len(first.failed) == 2
    calls.clear()
    down[0] = False
    second = experiments.run("resumable", DATA, flaky, [exact], store=db, resume=True)
    assert sorted(calls) == [6, 7] and second.experiment_id == first.experiment_id
    assert len(second.items) == 8 and not second.failed
    with open_store(db) as store:
        back = experiments.load_experiment(store, "resumable")
        assert len(experiments.list_experiments(store)) == 1
    assert not back.failed and back.scores("exact") == {f"i{i}": 1.0 for i in range(8)}


def test_resume_refuses_another_dataset_and_needs_a_store(store_url: str) -> None:
    """Resuming onto changed data would mix two datasets: a clear error instead."""
    db = store_url
    experiments.run("r", DATA, lambda x: x, [exact], store=db)
    other = Dataset([{"input": 1}])
    with pytest.raises(ValueError, match="cannot resume 'r': its dataset was"):
        experiments.run("r", other, lambda x: x, [exact], store=db, resume=True)
    with pytest.raises(ValueError, match="resume=True needs store="):
        experiments.run("r", DATA, lambda x: x, [exact], resume=True)
    fresh = experiments.run("new", DATA, lambda x: x, [exact], store=db, resume=True)
    assert len(fresh.items) == 8


def test_a_store_the_recorder_already_writes_is_not_written_twice(store_url: str) -> None:
    """With configure(store=X), experiments.run(store=X) keeps one copy of each record."""
    db = store_url
    auditora.configure(store=str(db), console=False)
    experiments.run("once", DATA, lambda x: x * 2, [exact], store=db)
    with open_store(db) as store:
        assert len(store.evaluations(limit=None)) == 8
        assert experiments.list_experiments(store)[0]["metrics"] == {"exact": 1.0}


def test_without_a_store_records_go_to_the_configured_sinks(tmp_path: Path) -> None:
    """store=None still records: the experiment reaches whatever sinks are configured."""
    path = tmp_path / "records.jsonl"
    auditora.configure(sinks=[f"jsonl:{path}"], console=False)
    experiments.run("sinks", DATA, lambda x: x * 2, [exact])
    auditora.flush()
    text = path.read_text()
    assert text.count('"kind": "evaluation"') + text.count('"kind":"evaluation"') == 8


def test_a_bad_store_path_fails_before_any_item_runs(tmp_path: Path) -> None:
    """A file that is not a store is reported at once, and the task is never called."""
    bad = tmp_path / "not-a-store.db"
    bad.write_text("hello")
    called = []
    with pytest.raises(Exception, match="not"):
        experiments.run("bad", DATA, lambda x: called.append(x), [exact], store=bad)
    assert called == []


def test_hostile_values_survive_the_store(store_url: str) -> None:
    """NaN scores are recorded but count in no mean; huge, markup and non-JSON outputs are
    stored bounded and read back as text; a comparison of such runs is JSON-ready."""
    import json

    db = store_url

    def nan_scorer(output: Any, item: Item) -> float:
        return float("nan")

    def task(x: int) -> Any:
        return [object(), "<script>x</script>", "y" * 1_000_000][x % 3]

    data = Dataset([{"input": i, "id": f"h{i}"} for i in range(6)])
    ran = experiments.run("hostile", data, task, [nan_scorer, exact], store=db)
    assert ran.summary["metrics"]["nan_scorer"] is None
    with open_store(db) as store:
        back = experiments.load_experiment(store, "hostile")
        cmp = experiments.compare(store, "hostile", "hostile")
    assert back.items[1].output == "<script>x</script>"
    assert isinstance(back.items[0].output, str) and "object" in back.items[0].output
    assert len(back.items[2].output) < 1_000_000
    json.dumps(cmp.to_dict(), allow_nan=False)
    assert auditora.experiments is experiments  # reachable as an attribute too


def test_an_open_store_may_be_given_as_the_store(store_url: str) -> None:
    """``store=`` takes a path or a Store (its file is written)."""
    db = store_url
    with open_store(db, readonly=False) as opened:
        experiments.run("given", DATA, lambda x: x * 2, [exact], store=opened)
    with open_store(db) as store:
        assert experiments.list_experiments(store)[0]["name"] == "given"


def test_many_threads_writing_lose_no_record(store_url: str) -> None:
    """8 threads, 400 items, logs in each task: every run, log and score is in the store."""
    from auditora import report

    db = store_url
    data = Dataset([{"input": i, "expected": i} for i in range(400)])

    def task(x: int) -> int:
        for n in range(3):
            report.info(f"step {n} of {x}")
        return x

    result = experiments.run("busy", data, task, [exact], store=db, concurrency=8)
    with open_store(db) as store:
        sid = result.experiment_id
        runs = store.runs(session_id=sid, limit=None)
        logs = store.logs(session_id=sid, limit=None)
        evals = store.evaluations(session_id=sid, limit=None)
    assert (len(runs), len(logs), len(evals)) == (400, 1200, 400)


def test_resume_in_a_store_the_recorder_writes(store_url: str) -> None:
    """With configure(store=X), a resume right after a run finds that run's records (the run
    flushed the recorder as it ended)."""
    db = store_url
    auditora.configure(store=str(db), console=False)
    experiments.run("queued", DATA, lambda x: x * 2, [exact], store=db)
    calls = []
    experiments.run("queued", DATA, lambda x: calls.append(x), [exact], store=db, resume=True)
    assert calls == []


def test_a_postgresql_store_is_a_database_never_a_directory(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """experiments.run(store="postgresql://...") writes into the database, with a resume
    found there; nothing named ``postgresql:`` appears in the working directory, and the
    result names the store with its password masked."""
    monkeypatch.chdir(tmp_path)
    url = pg_url.replace("postgres@", "postgres:Tr0ub4dor-secret@")  # trust auth ignores it
    ran = experiments.run("pg", DATA, lambda x: x * 2, [exact], store=url)
    calls: list = []
    again = experiments.run("pg", DATA, calls.append, [exact], store=url, resume=True)
    assert calls == [] and again.experiment_id == ran.experiment_id
    assert list(tmp_path.iterdir()) == []
    assert ran.store is not None and "Tr0ub4dor" not in ran.store and "***" in ran.store
    with open_store(url) as store:
        assert experiments.list_experiments(store)[0]["metrics"] == {"exact": 1.0}
        assert len(store.evaluations(limit=None)) == 8


def test_an_unknown_store_scheme_fails_before_any_item_runs(tmp_path: Path) -> None:
    """store="mysql://..." is a one-line error naming the accepted forms, not a file."""
    from auditora.store import StoreError

    called: list = []
    with pytest.raises(StoreError, match="unknown store scheme 'mysql'"):
        experiments.run("x", DATA, called.append, [exact], store="mysql://u@h/db")
    assert called == []
