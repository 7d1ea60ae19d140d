"""Every read command on a ``postgresql://`` URL: ``sessions``, ``runs``, ``show``, ``tail``,
``export``, ``report``, ``view`` (its API), ``gate``, ``compare``, ``experiments`` and
``trajectory`` answer as on a SQLite file, and the URL's password is never printed.

The store is written by the library (``configure(store=URL)``: sentinel runs, LLM calls,
logs, evaluations and two experiment runs), on a real PostgreSQL server (``pg_server.py``).
"""

from __future__ import annotations

import csv
import json
import threading
import urllib.request
import uuid
from pathlib import Path
from typing import Any, Dict, Iterator, Tuple

import pytest

import auditora
from _backends import pg_server
from auditora import experiments, report, sentinel
from auditora.cli import main
from auditora.experiments import Dataset, Item

_ = pg_server  # fixture

SECRET = "pw-9f3c-never-shown"
DATA = Dataset([{"input": i, "expected": i % 3, "id": f"q{i}"} for i in range(12)])


def exact(output: Any, item: Item) -> bool:
    return bool(output == item.expected)


def _build(url: str) -> None:
    auditora.configure(store=url, console=False, capture_content=True)

    @sentinel(kind="tool")
    def lookup(city: str) -> str:
        report.warning(f"looked up {city}")
        return f"sunny in {city}"

    @sentinel(session_id="pg-tidy", name="answer question")
    def tidy() -> str:
        report.log_llm_call("gpt-4o-mini", 10, 5, 0.2, input="the weather?", cost=0.001)
        report.log_evaluation_result("coherence", 0.9, 0.5)
        return lookup("Paris")

    @sentinel(session_id="pg-broken", name="pipeline")
    def broken() -> None:
        raise ValueError("needle exploded")

    tidy()
    with pytest.raises(ValueError):
        broken()
    experiments.run("base", DATA, lambda x: x % 3, [exact], progress=False)
    experiments.run("cand", DATA, lambda x: x % 3 if x % 4 else -1, [exact], progress=False)
    assert auditora.flush()
    auditora.shutdown()
    auditora.configure(console=False)


@pytest.fixture(scope="module")
def url(pg_server: Any) -> Iterator[str]:
    """The store's URL, with a password (the test server trusts any: it must never show)."""
    plain = pg_server.create_database(f"t_{uuid.uuid4().hex[:12]}")
    _build(plain)
    yield plain.replace("postgres@", f"postgres:{SECRET}@")


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> Tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert SECRET not in out and SECRET not in err, (out, err)
    return code, out, err


def test_sessions_lists_the_sessions(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """The table and the JSON list, with a total that counts every session."""
    code, out, err = _run(capsys, "sessions", url)
    assert (code, err) == (0, "")
    assert "pg-tidy" in out and "pg-broken" in out and "4 sessions" in out
    code, out, _ = _run(capsys, "sessions", url, "--json", "--limit", "1")
    assert code == 0 and len(json.loads(out)) == 1
    code, out, _ = _run(capsys, "sessions", url, "--limit", "1")
    assert "showing 1 of 4 sessions" in out


def test_runs_filters_and_prefixes(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Filters, a session given by a unique prefix, JSON rows with the roll-ups."""
    code, out, err = _run(capsys, "runs", url, "--status", "error", "--session", "pg-bro")
    assert (code, err) == (0, "") and "pipeline" in out and "1 run" in out
    code, out, _ = _run(capsys, "runs", url, "--name", "ANSWER", "--json")
    (row,) = json.loads(out)
    assert row["name"] == "answer question" and row["total_tokens"] == 15


def test_show_prints_a_session_tree_and_a_run(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """A session's run tree; a run's error; an unknown id is one line naming the
    store with its password masked."""
    code, out, err = _run(capsys, "show", url, "pg-tidy")
    assert (code, err) == (0, "") and "answer question" in out and "lookup" in out
    code, out, err = _run(capsys, "show", url, "pg-broken")
    assert code == 0 and "needle exploded" in out
    code, out, err = _run(capsys, "show", url, "no-such-id-anywhere")
    assert code == 1 and "postgres:***@" in err


def test_tail_prints_the_records_and_then_new_ones(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """--from-start prints what is there; a record written meanwhile is printed too."""
    code, out, err = _run(capsys, "tail", url, "--from-start", "--count", "3", "--timeout", "10")
    assert (code, err) == (0, "") and len(out.splitlines()) == 3

    def later() -> None:
        import time

        time.sleep(0.5)
        auditora.configure(store=url, console=False)

        @sentinel(session_id="pg-later", name="written while tailing")
        def late() -> None:
            pass

        late()
        auditora.flush()
        auditora.shutdown()

    writer = threading.Thread(target=later)
    writer.start()
    try:
        code, out, err = _run(
            capsys, "tail", url, "--count", "1", "--timeout", "20", "--interval", "0.1"
        )
    finally:
        writer.join(30)
        auditora.configure(console=False)
    assert code == 0 and "written while tailing" in out and "[pg-later]" in out


def test_export_writes_every_record_as_jsonl_and_csv(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every table's records, a kind on each, JSON columns decoded; CSV with a header."""
    code, out, err = _run(capsys, "export", url)
    assert (code, err) == (0, "")
    rows = [json.loads(line) for line in out.splitlines()]
    kinds = {r["kind"] for r in rows}
    assert {"session", "run", "log", "llm_call", "evaluation"} <= kinds
    run = next(r for r in rows if r["kind"] == "run" and r["name"] == "answer question")
    assert isinstance(run["attributes"], dict)
    target = tmp_path / "runs.csv"
    code, out, err = _run(
        capsys, "export", url, "--kind", "runs", "--format", "csv", "-o", str(target)
    )
    assert code == 0 and "records to" in err
    with open(target, encoding="utf-8", newline="") as f:
        table = list(csv.DictReader(f))
    assert len(table) == sum(1 for r in rows if r["kind"] == "run")
    assert list(table[0])[:3] == ["kind", "run_id", "trace_id"]


def test_report_writes_the_html_file(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "report.html"
    code, out, err = _run(capsys, "report", url, "-o", str(target))
    assert (code, err) == (0, "") and "included all" in out and "sessions" in out
    html = target.read_text(encoding="utf-8")
    assert "pg-tidy" in html and SECRET not in html


def test_the_viewer_serves_its_api_from_the_database(url: str) -> None:
    """make_server on the URL: the overview, traces, a session and a trace answer."""
    from auditora.viewer import make_server

    server = make_server(url, port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def get(path: str) -> Dict[str, Any]:
        with urllib.request.urlopen(server.url + path.lstrip("/"), timeout=10) as resp:
            return dict(json.loads(resp.read()))

    try:
        overview = get("/api/overview")
        assert SECRET not in json.dumps(overview)
        traces = get("/api/traces?status=error")
        assert [r["name"] for r in traces["rows"]] == ["pipeline"]
        session = get("/api/session?id=pg-tidy")
        names = sorted(r["name"] for r in session["runs"])
        assert names[0] == "_build.<locals>.lookup" and names[1] == "answer question"
        trace = get(f"/api/trace?id={traces['rows'][0]['trace_id']}")
        assert trace["runs"][0]["name"] == "pipeline"
        assert {"pg-tidy", "pg-broken"} <= {r["session_id"] for r in get("/api/sessions")["rows"]}
    finally:
        server.shutdown()
        server.server_close()


def test_experiments_compare_and_gate(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """The experiment runs, their comparison, and gates on metrics and on a baseline."""
    code, out, err = _run(capsys, "experiments", url, "--json")
    assert (code, err) == (0, "")
    rows = json.loads(out)
    assert [r["name"] for r in rows] == ["base", "cand"] and rows[1]["metrics"] == {"exact": 0.75}
    code, out, err = _run(capsys, "compare", url, "base", "cand")
    assert (code, err) == (0, "") and "exact" in out and "regressed" in out
    code, out, err = _run(capsys, "gate", url, "--metric", "coherence", "--min-mean", "0.5")
    assert code == 0, (out, err)
    code, out, err = _run(capsys, "gate", url, "--metric", "coherence", "--min-mean", "0.95")
    assert code == 1
    code, out, err = _run(capsys, "gate", url, "--experiment", "cand", "--baseline", "base")
    assert code == 0 and "cand" in out and "PASSED" in out  # 3 of 12 items: not significant


def test_trajectory_of_a_trace(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "runs", url, "--name", "answer question", "--json")
    trace = json.loads(out)[0]["trace_id"]
    code, out, err = _run(capsys, "trajectory", url, trace[:12])
    assert (code, err) == (0, "") and "lookup" in out


def test_an_unreachable_server_is_one_masked_line(capsys: pytest.CaptureFixture[str]) -> None:
    """Every command: exit 1 and one ``auditora:`` line with the password masked."""
    from pg_server import free_port

    dead = f"postgresql://ann:{SECRET}@127.0.0.1:{free_port()}/db?connect_timeout=2"
    for argv in (
        ["sessions", dead],
        ["runs", dead],
        ["show", dead, "x"],
        ["tail", dead, "--count", "1"],
        ["export", dead],
        ["report", dead],
        ["view", dead, "--port", "0"],
        ["experiments", dead],
        ["compare", dead, "a", "b"],
        ["trajectory", dead, "t"],
        ["gate", dead, "--min-mean", "0"],
    ):
        code, _out, err = _run(capsys, *argv)
        assert code in (1, 2) and "ann:***@" in err, (argv, err)


def test_demo_writes_into_a_postgresql_database(
    pg_server: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``auditora demo --store postgresql://...`` fills the database (no file, no directory
    named ``postgresql:``), and its summary and next steps never show the password."""
    plain = pg_server.create_database(f"t_{uuid.uuid4().hex[:12]}")
    secret_url = plain.replace("postgres@", f"postgres:{SECRET}@")
    monkeypatch.chdir(tmp_path)
    code, out, _ = _run(capsys, "demo", "--store", secret_url, "--quiet")
    assert code == 0
    assert list(tmp_path.iterdir()) == []
    assert "Store: postgresql://postgres:***@" in out and "auditora view 'postgresql:" in out
    code, out, _ = _run(capsys, "compare", secret_url, "topic-router-v1", "topic-router-v2")
    assert code == 0 and "topic-router-v2" in out
    code, out, _ = _run(capsys, "sessions", secret_url, "--json")
    assert code == 0 and any(s["session_id"].startswith("rag-eval-") for s in json.loads(out))


def test_gate_reads_a_database_whose_name_ends_like_a_jsonl_file(
    pg_server: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """A ``postgresql://`` URL is a store even when its database is named ``….json``: the
    gate reads its evaluations, never tries to open the URL as a JSONL file."""
    plain = pg_server.create_database(f"t_{uuid.uuid4().hex[:8]}.json")
    auditora.configure(store=plain, console=False)

    @sentinel(name="judged")
    def judged() -> None:
        report.log_evaluation_result("coherence", 0.9, 0.5)

    judged()
    assert auditora.flush()
    auditora.shutdown()
    auditora.configure(console=False)
    secret_url = plain.replace("postgres@", f"postgres:{SECRET}@")
    code, out, err = _run(capsys, "gate", secret_url, "--min-mean", "0.5")
    assert code == 0, (out, err)
    assert "coherence" in out
