"""The ``auditora`` command line: every subcommand, its output and its exit status."""

from __future__ import annotations

import csv
import io
import json
import socket
import subprocess
import sys
import threading
import time
import types
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import pytest

from _ui_stores import PAYLOAD, demo_store, xss_store
from auditora.cli import main
from auditora.store import open_store


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tuple[Path, Dict[str, Any]]]:
    """One demo store shared by this module's tests (they only read it)."""
    path = tmp_path_factory.mktemp("cli") / "demo.db"
    summary = demo_store(path)
    yield path, summary


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> Tuple[int, str, str]:
    """Run ``auditora ARGV``; return (exit status, stdout, stderr)."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    """``auditora --help`` exits 0 and names every subcommand."""
    code, out, _ = run(capsys, "--help")
    commands = ["demo", "sessions", "runs", "show", "tail", "export", "report", "view", "gate"]
    assert (code, [c for c in commands if c not in out]) == (0, [])


def test_no_command_prints_help_and_fails(capsys: pytest.CaptureFixture[str]) -> None:
    """With no subcommand the help is printed and the status is 2 (usage)."""
    code, out, _ = run(capsys)
    assert (code, "usage: auditora" in out) == (2, True)


def test_unknown_option_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    """argparse usage errors return 2 instead of raising SystemExit."""
    code, _, err = run(capsys, "sessions")
    assert (code, "STORE" in err) == (2, True)


def test_missing_store_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A missing store file: status 1 and one line naming the file."""
    missing = tmp_path / "nope.db"
    for command in ("sessions", "runs", "tail", "export", "report", "view"):
        code, _, err = run(capsys, command, str(missing))
        assert (command, 1, True) == (
            command,
            code,
            f"no Auditora store at {str(missing)!r}" in err,
        )


def test_corrupt_store_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A file that is not a store: status 1 and a message saying so (no traceback)."""
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"this is not sqlite" * 100)
    code, _, err = run(capsys, "sessions", str(bad))
    assert (code, "not a readable Auditora store" in err, "Traceback" in err) == (1, True, False)


def test_sessions_json_is_the_store_api(
    demo: Tuple[Path, Dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    """``sessions --json`` prints one JSON list equal to ``Store.sessions()``."""
    path, _ = demo
    code, out, _ = run(capsys, "sessions", str(path), "--json")
    with open_store(path) as store:
        expected = json.loads(json.dumps(store.sessions()))
    assert (0, expected) == (code, json.loads(out))


def test_sessions_table_shows_totals(
    demo: Tuple[Path, Dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    """The sessions table has one row per session with its token total."""
    path, summary = demo
    code, out, _ = run(capsys, "sessions", str(path))
    with open_store(path) as store:
        row = store.session(summary["session_id"])
    assert row is not None
    line = next(line for line in out.splitlines() if line.startswith(summary["session_id"]))
    assert (code, f"{row['total_tokens']:,}" in line) == (0, True)


def test_tables_fit_a_narrow_terminal(
    demo: Tuple[Path, Dict[str, Any]],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With an 80-column terminal no line of a listing is wider than 80."""
    monkeypatch.setenv("COLUMNS", "80")
    path, summary = demo
    widths: List[int] = []
    for argv in (("sessions",), ("runs",), ("show", summary["session_id"])):
        code, out, _ = run(capsys, argv[0], str(path), *argv[1:])
        assert code == 0
        widths.append(max(len(line) for line in out.splitlines() if "\u2500" not in line))
    assert [w <= 80 for w in widths] == [True, True, True]


def test_runs_json_of_a_session(
    demo: Tuple[Path, Dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    """``runs --session ID --json`` lists the session's runs as ``Store.runs(session_id=ID)``
    has them, newest first."""
    path, summary = demo
    code, out, _ = run(capsys, "runs", str(path), "--session", summary["session_id"], "--json")
    with open_store(path) as store:
        expected = json.loads(json.dumps(store.runs(session_id=summary["session_id"], limit=200)))
    got = json.loads(out)
    starts = [r["start_ns"] for r in got]
    # find_runs rows are the stored columns plus the run's roll-up (cost, total_tokens).
    columns = [{k: r[k] for k in expected[0]} for r in got]
    assert (0, sorted(expected, key=lambda r: r["run_id"]), True) == (
        code,
        sorted(columns, key=lambda r: r["run_id"]),
        starts == sorted(starts, reverse=True),
    )


def test_runs_of_unknown_session_fails(
    demo: Tuple[Path, Dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    """An unknown session id: status 1 and a message naming it."""
    path, _ = demo
    code, _, err = run(capsys, "runs", str(path), "--session", "no-such-session")
    assert (code, "no session with id 'no-such-session'" in err) == (1, True)


def test_show_unknown_id_fails(
    demo: Tuple[Path, Dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    """``show`` with an id that is no session, trace or run: status 1."""
    path, _ = demo
    code, _, err = run(capsys, "show", str(path), "deadbeef")
    assert (code, "no session, trace or run with id 'deadbeef'" in err) == (1, True)


def test_show_session_prints_the_run_tree(
    demo: Tuple[Path, Dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    """``show SESSION`` prints every run of the session (by id) and the session's totals."""
    path, summary = demo
    sid = summary["session_id"]
    code, out, _ = run(capsys, "show", str(path), sid)
    with open_store(path) as store:
        runs = store.runs(session_id=sid, limit=None)
        row = store.session(sid)
    assert row is not None
    missing = [r["run_id"] for r in runs if r["run_id"] not in out]
    assert (code, missing, f"{row['total_tokens']:,} tokens" in out) == (0, [], True)


def test_show_json_summary_matches_the_store(
    demo: Tuple[Path, Dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    """``show --json`` of a session: tokens, cost and pass rate equal the store's aggregates."""
    path, summary = demo
    sid = summary["session_id"]
    code, out, _ = run(capsys, "show", str(path), sid, "--json")
    doc = json.loads(out)
    with open_store(path) as store:
        row = store.session(sid)
    assert row is not None
    assert (0, row["total_tokens"], row["cost"], row["eval_pass_rate"], row["run_count"]) == (
        code,
        doc["summary"]["tokens"],
        doc["summary"]["cost"],
        doc["summary"]["pass_rate"],
        doc["summary"]["runs"],
    )


def test_show_trace_and_run(
    demo: Tuple[Path, Dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    """``show`` accepts a trace id (whole tree) and a run id (that run's subtree)."""
    path, summary = demo
    with open_store(path) as store:
        runs = store.runs(session_id=summary["session_id"], limit=None)
    trace_id = runs[0]["trace_id"]
    answer = next(r for r in runs if r["name"] == "answer_question")
    children = [r["run_id"] for r in runs if r["parent_id"] == answer["run_id"]]
    code_t, out_t, _ = run(capsys, "show", str(path), trace_id)
    code_r, out_r, _ = run(capsys, "show", str(path), answer["run_id"])
    all_ids = {r["run_id"] for r in runs}
    run_lines = [
        line for line in out_r.splitlines() if line.split() and line.split()[-1] in all_ids
    ]
    assert (0, 0, len(runs), 1 + len(children)) == (
        code_t,
        code_r,
        sum(1 for r in runs if r["run_id"] in out_t),
        len(run_lines),
    )


def test_export_jsonl_has_every_record(
    demo: Tuple[Path, Dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``export --format jsonl`` writes one JSON object per record of every table."""
    path, _ = demo
    out_file = tmp_path / "out.jsonl"
    code, _, _ = run(capsys, "export", str(path), "--format", "jsonl", "-o", str(out_file))
    lines = [json.loads(line) for line in out_file.read_text(encoding="utf-8").splitlines()]
    with open_store(path) as store:
        total = store.summary()
    kinds: Dict[str, int] = {}
    for line in lines:
        kinds[line["kind"]] = kinds.get(line["kind"], 0) + 1
    expected = {
        "session": total["sessions"],
        "run": total["runs"],
        "event": total["events"],
        "log": total["logs"],
        "llm_call": total["llm_calls"],
        "evaluation": total["evaluations"],
        "metric": total["metrics"],
    }
    if total["agent_messages"]:
        expected["agent_message"] = total["agent_messages"]
    assert (0, expected) == (code, kinds)


def test_export_csv_of_one_table(
    demo: Tuple[Path, Dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    """``export --format csv --kind llm_calls`` prints a header and one row per call."""
    path, _ = demo
    code, out, _ = run(capsys, "export", str(path), "--format", "csv", "--kind", "llm_calls")
    rows = list(csv.DictReader(io.StringIO(out)))
    with open_store(path) as store:
        calls = store.llm_calls(limit=None)
    assert (0, [c["model"] for c in calls]) == (code, [r["model"] for r in rows])


def test_export_unknown_kind_fails(
    demo: Tuple[Path, Dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    """An unknown ``--kind`` is a usage error (exit 2): one line naming the valid kinds."""
    path, _ = demo
    code, _, err = run(capsys, "export", str(path), "--kind", "bogus")
    assert (code, "invalid choice: 'bogus'" in err, "llm_calls" in err, err.count("\n")) == (
        2,
        True,
        True,
        1,
    )


def test_report_writes_a_self_contained_file(
    demo: Tuple[Path, Dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``report -o FILE`` writes one HTML file that references nothing outside itself."""
    path, _ = demo
    target = tmp_path / "report.html"
    code, out, _ = run(capsys, "report", str(path), "-o", str(target))
    page = target.read_text(encoding="utf-8")
    external = [
        marker for marker in ('src="http', 'href="http', "<link", 'src="/') if marker in page
    ]
    assert (code, "wrote" in out, external) == (0, True, [])


def test_tail_prints_existing_records_with_from_start(
    demo: Tuple[Path, Dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    """``tail --from-start --count N`` prints the first N records and exits 0."""
    path, _ = demo
    code, out, _ = run(
        capsys, "tail", str(path), "--from-start", "--count", "5", "--interval", "0.05"
    )
    assert (code, len(out.splitlines())) == (0, 5)


def test_tail_follows_new_records(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``tail`` prints records written after it started (and not the ones before)."""
    from auditora.records import Log
    from auditora.sinks import SQLiteSink

    path = tmp_path / "live.db"
    sink = SQLiteSink(path)
    sink.export([Log("INFO", "old line", {}, time.time_ns(), None, None, "s")])
    sink.flush(2.0)
    result: Dict[str, int] = {}

    def follow() -> None:
        result["code"] = main(
            ["tail", str(path), "--count", "2", "--interval", "0.05", "--timeout", "30"]
        )

    thread = threading.Thread(target=follow)
    thread.start()
    time.sleep(0.5)  # let tail take its starting position
    sink.export([Log("INFO", "new one", {}, time.time_ns(), None, None, "s")])
    sink.export([Log("WARNING", "new two", {}, time.time_ns(), None, None, "s")])
    sink.close(2.0)
    thread.join(40)
    out = capsys.readouterr().out
    assert (
        result.get("code"),
        [line.split("] INFO ")[-1].split("] WARNING ")[-1] for line in out.splitlines()],
        "old line" in out,
    ) == (0, ["new one", "new two"], False)


def test_view_port_in_use_fails_clearly(
    demo: Tuple[Path, Dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    """``view --port N`` with N taken: status 1 and a message suggesting another port."""
    path, _ = demo
    blocker = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    blocker.bind(("127.0.0.1", 0))
    blocker.listen(1)
    port = blocker.getsockname()[1]
    try:
        code, _, err = run(capsys, "view", str(path), "--port", str(port))
    finally:
        blocker.close()
    assert (code, f"cannot listen on 127.0.0.1:{port}" in err) == (1, True)


def test_view_warns_when_binding_beyond_loopback(
    demo: Tuple[Path, Dict[str, Any]],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``view --host 0.0.0.0`` prints a warning before serving (serving is stubbed here)."""
    from auditora.viewer import _server

    monkeypatch.setattr(_server.ViewerServer, "serve_forever", lambda self, *a: None)
    path, _ = demo
    code, out, err = run(capsys, "view", str(path), "--host", "0.0.0.0", "--port", "0")
    assert (code, "warning: binding to 0.0.0.0" in err, "http://0.0.0.0:" in out) == (0, True, True)


def test_gate_is_delegated(
    demo: Tuple[Path, Dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    """``auditora gate ARGS`` returns what ``auditora.evaluations.gate_command(ARGS)`` returns."""
    from auditora.evaluations import gate_command

    path, _ = demo
    argv = [str(path), "--min-pass-rate", "0.99"]
    expected = gate_command(argv)
    capsys.readouterr()
    code, _, _ = run(capsys, "gate", *argv)
    assert expected == code


def test_gate_missing_is_reported(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without ``gate_command`` the gate subcommand explains and exits 2."""
    monkeypatch.setitem(
        sys.modules, "auditora.evaluations", types.ModuleType("auditora.evaluations")
    )
    code, _, err = run(capsys, "gate", "x.db")
    assert (code, "'auditora gate' is not available" in err) == (2, True)


def test_python_dash_m_auditora() -> None:
    """``python -m auditora --version`` runs the same command line."""
    from auditora import __version__

    done = subprocess.run(
        [sys.executable, "-m", "auditora", "--version"], capture_output=True, text=True, timeout=60
    )
    assert (0, f"auditora {__version__}") == (done.returncode, done.stdout.strip())


def test_demo_with_no_arguments(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``auditora demo`` writes ./auditora-demo.db and prints progress, a summary, the next step."""
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(capsys, "demo")
    with open_store(tmp_path / "auditora-demo.db") as store:
        total = store.summary()
    assert (
        code,
        "[3/5] answering" in out,
        "auditora view auditora-demo.db" in out,
        f"{total['llm_calls']} LLM calls" in out,
        total["sessions"],  # the pipeline, the smoke test and two experiment runs
    ) == (0, True, True, True, 4)


def test_listing_of_hostile_names_stays_one_line_per_row(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Payload ids print as plain text, one row per session, and ``--json`` keeps them exact."""
    path = xss_store(tmp_path / "xss.db")
    code, out, _ = run(capsys, "sessions", str(path), "--json")
    code2, table, _ = run(capsys, "sessions", str(path))
    assert (
        code,
        code2,
        [s["session_id"] for s in json.loads(out)],
        table.splitlines()[3:],
    ) == (0, 0, [PAYLOAD], ["1 session"])
