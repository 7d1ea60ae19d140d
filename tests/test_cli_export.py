"""``auditora export`` streams: tables are read in keyset batches and written as they are read,
every record once, the same values as the store's reading API, in JSON lines or CSV."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import pytest

from _ui_stores import demo_store
from auditora.cli import _export, main
from auditora.store import open_store


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> Tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("export") / "demo.db"
    demo_store(path)
    yield path


def _by_id(rows: List[Dict[str, Any]], key: str) -> Dict[Any, Dict[str, Any]]:
    return {r[key]: r for r in rows}


def test_jsonl_records_equal_the_store_api(
    demo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With batches of 7 rows, every log, LLM call and run comes out once, equal to the
    store's reading API (JSON columns decoded, ``success`` a bool)."""
    monkeypatch.setattr(_export, "BATCH", 7)
    expected = {}
    with open_store(demo) as store:
        expected["log"] = _by_id(store.logs(limit=None), "id")
        expected["llm_call"] = _by_id(store.llm_calls(limit=None), "id")
        expected["run"] = _by_id(store.runs(limit=None), "run_id")
    got: Dict[str, List[Dict[str, Any]]] = {}
    for table in ("logs", "llm_calls", "runs"):
        code, out, _ = run(capsys, "export", str(demo), "--kind", table)
        assert code == 0
        rows = [json.loads(line) for line in out.splitlines()]
        got[table] = rows
    assert (
        _by_id([{k: v for k, v in r.items() if k != "kind"} for r in got["logs"]], "id"),
        _by_id([{k: v for k, v in r.items() if k != "kind"} for r in got["llm_calls"]], "id"),
        _by_id([{k: v for k, v in r.items() if k != "kind"} for r in got["runs"]], "run_id"),
        len(got["logs"]),
    ) == (expected["log"], expected["llm_call"], expected["run"], len(expected["log"]))


def test_a_table_is_read_in_keyset_batches(demo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Reading n rows with batches of b issues ceil(n / b) range queries on the rowid
    (no OFFSET), and the records come in rowid order."""
    monkeypatch.setattr(_export, "BATCH", 10)
    conn = _export.connect(str(demo))
    statements: List[str] = []
    conn.set_trace_callback(statements.append)
    try:
        (n,) = conn.execute("SELECT count(*) FROM logs").fetchone()
        ids = [r["id"] for r in _export.iter_records(conn, "logs")]
    finally:
        conn.close()
    batches = [s for s in statements if "WHERE rowid >" in s]
    assert (
        len(batches),
        any("OFFSET" in s for s in statements),
        ids == sorted(ids),
        len(ids),
    ) == (-(-n // 10), False, True, n)


def test_records_are_written_before_the_table_is_read_to_its_end(demo: Path) -> None:
    """The writer consumes records as the reader yields them: after the first line is
    written, later batches are still to be read (nothing is collected first)."""
    conn = _export.connect(str(demo))
    reads: List[int] = []
    conn.set_trace_callback(lambda s: reads.append(1) if "WHERE rowid >" in s else None)

    class Probe(io.StringIO):
        reads_at_first_write: int = -1

        def write(self, text: str) -> int:
            if self.reads_at_first_write < 0:
                self.reads_at_first_write = len(reads)
            return super().write(text)

    out = Probe()
    try:
        _export.BATCH, saved = 5, _export.BATCH
        _export.write_jsonl(_export.iter_records(conn, "all"), out)
    finally:
        _export.BATCH = saved
        conn.close()
    assert (out.reads_at_first_write, len(reads) > 10) == (1, True)


def test_csv_of_every_kind_has_the_tables_columns(
    demo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--format csv --kind all``: the header is ``kind`` then every table's columns; one row
    per record; nested values are JSON text."""
    target = tmp_path / "all.csv"
    code, _, err = run(capsys, "export", str(demo), "--format", "csv", "-o", str(target))
    with target.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
        header = reader.fieldnames or []
    with open_store(demo) as store:
        s = store.summary()
        first_log = store.logs(limit=1)[0]
    total = sum(
        s[k]
        for k in (
            "sessions",
            "runs",
            "events",
            "logs",
            "llm_calls",
            "evaluations",
            "metrics",
            "agent_messages",
        )
    )
    log_row = next(r for r in rows if r["kind"] == "log")
    assert (
        code,
        header[0],
        {"session_id", "run_id", "metric_name", "model", "message", "state"} <= set(header),
        len(rows),
        f"wrote {total} records" in err,
        json.loads(log_row["fields"]) == first_log["fields"],
    ) == (0, "kind", True, total, True, True)


def test_unwritable_output_is_one_line(demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``-o`` into a missing directory: exit 1 and one line naming the file."""
    code, _, err = run(capsys, "export", str(demo), "-o", "/nonexistent-dir/x.jsonl")
    assert (
        code,
        err.startswith("auditora: cannot write '/nonexistent-dir/x.jsonl'"),
        err.count("\n"),
    ) == (
        1,
        True,
        1,
    )


def test_the_memory_benchmark_runs(tmp_path: Path) -> None:
    """``benchmarks/cli_export.py`` (small) builds its store and prints a peak RSS per case."""
    import subprocess
    import sys

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "cli_export.py"
    done = subprocess.run(
        [sys.executable, str(script), "--records", "1500", "--keep", str(tmp_path / "b.db")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    figures = [line for line in done.stdout.splitlines() if "peak RSS" in line]
    assert (done.returncode, len(figures), "built " in done.stdout) == (0, 5, True)
