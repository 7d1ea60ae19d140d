"""``auditora migrate SRC DST`` and :func:`auditora.store._migrate.migrate_store`, against real
SQLite files and a real PostgreSQL server: every table copied row for row both ways,
resuming after an interruption (an exception between batches, a ``kill -9`` of the command)
without a duplicate, the source never changed, one-line errors and no password shown."""

from __future__ import annotations

import hashlib
import json
import math
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import pytest

import auditora
import pg_server as _pg
from auditora import monitor, report, sentinel, session
from auditora._serialize import serialize
from auditora.agents import send_message
from auditora.cli import main
from auditora.records import (
    AgentMessage,
    Evaluation,
    Event,
    LLMCall,
    Log,
    MetricSnapshot,
    Record,
    SessionRecord,
)
from auditora.store import StoreError, write_records
from auditora.store._migrate import META_PREFIX, MigrateResult, migrate_store
from auditora.store._postgres import PostgresWriter, connect
from auditora.store._schema import MIGRATIONS, TABLES
from auditora.store._schema import connect_writer as sqlite_writer
from auditora.testing import capture

pg_server, pg_url = _pg.pg_server, _pg.pg_url

#: Every subprocess is bounded by this (seconds).
TIMEOUT = 120

Rows = Dict[str, List[Tuple[Any, ...]]]


# -- building stores through the real sinks ----------------------------------------------


def _build(path: Path, roots: int = 6, tag: str = "") -> Path:
    """A SQLite store written by ``configure(store=...)``: every table gets rows, with
    unicode, empty strings and integers beyond 64 bits among the values."""
    auditora.configure(store=str(path), console=False)

    @sentinel(name="step ü🙂", kind="tool")
    def step(i: int) -> int:
        report.info("step\u202e", i=i, big=2**70, empty="", nested={"a": [1, 2.5, None, True]})
        report.log_llm_call("gpt-4o-mini", prompt_tokens=120 + i, completion_tokens=30)
        report.log_evaluation_result("accuracy", 0.5 + i / 100, threshold=0.8)
        send_message("critic", {"draft": f"v{i} ✓", "": ""}, sender="writer")
        monitor.track("tick", duration=0.25, where="ß")
        monitor.increment_metric("calls")
        return i

    @sentinel(name="fails")
    def fails() -> None:
        raise ValueError("bad input: Ω")

    for r in range(roots):

        @sentinel(name=f"root {r}", session_id=f"sess{tag}-{r % 3}")
        def root(r: int = r) -> None:
            session.set("turn", r)
            for i in range(3):
                step(i)
            try:
                fails()
            except ValueError:
                pass

        root()
    assert auditora.flush()
    auditora.shutdown()
    return path


def _hostile() -> List[Record]:
    """Values SQLite keeps and PostgreSQL refuses or changes, and other hostile ones."""
    t = 1_700_000_000_000_000_000
    no = (None, None, None)
    with capture() as runs:
        # (A NUL in a run's session_id is lost by the PostgreSQL writer itself: not compared.)
        sentinel(name="r\x00un 🙂", session_id="s-hostile")(lambda: None)()
    return [
        *runs,
        Log("INFO", "nul\x00inside", {"k\x00": "v\x00", "big": 2**70, "esc": "a\\u0000b"}, t, *no),
        Log("WARNING", "lone \ud800 surrogate", {"s": "x\udfffy", "nan": math.nan}, t + 1, *no),
        Log("INFO", "", {"": ""}, t + 2, *no),
        Event("ünï 𝄞 \u202ertl", t + 3, math.nan, {"inf": math.inf, "e": "🙂"}, *no),
        Event("huge", t + 4, 2**70, {"neg": -(2**64) - 1, "f": 1.5e300}, *no),
        LLMCall(
            "m\x00odel",
            2**70,
            -(2**70),
            1.5,
            True,
            t + 5,
            None,
            None,
            None,
            provider="",
            cost=math.nan,
            request={"messages": [{"role": "user", "content": "\x00"}]},
        ),
        Evaluation("score", math.nan, math.inf, "FAIL", t + 6, *no, explanation="\x00why"),
        AgentMessage("a\x00", "b", "chat", {"text": "\x00\ud83d"}, t + 7, *no),
        MetricSnapshot({"m\x00": 2**70, "nan": math.nan, "": 0.0}, t + 8, *no),
        SessionRecord("s\x00id", "\x00name", ["\x00", ""], {"\x00": "\x00"}, t + 9),
        SessionRecord("s-empty", "", [], {}, t + 10),
    ]


def _write_sqlite(path: Path, records: Sequence[Record]) -> Path:
    conn = sqlite_writer(str(path))
    try:
        write_records(conn, records)
    finally:
        conn.close()
    return path


# -- reading rows back, raw ------------------------------------------------------------


def _order(table: str, backend: str) -> str:
    """A stable order: the key of runs and sessions, insertion order for the rest."""
    keyed = {"runs": "run_id", "sessions": "session_id"}
    return keyed.get(table, "rowid" if backend == "sqlite" else "id")


def _sqlite_rows(path: Path, parse: bool = True) -> Rows:
    """Every declared column of every table as SQLite holds it (JSON parsed if ``parse``)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        out: Rows = {}
        for table in TABLES:
            names = ", ".join(c.name for c in table.columns)
            rows = conn.execute(
                f"SELECT {names} FROM {table.name} ORDER BY {_order(table.name, 'sqlite')}"
            ).fetchall()
            out[table.name] = [
                tuple(
                    json.loads(v) if parse and c.json and v is not None else v
                    for c, v in zip(table.columns, row)
                )
                for row in rows
            ]
        return out
    finally:
        conn.close()


def _pg_rows(url: str) -> Rows:
    """Every declared column of every table as PostgreSQL holds it (JSONB as objects)."""
    out: Rows = {}
    with connect(url) as conn:
        for table in TABLES:
            names = ", ".join(c.name for c in table.columns)
            rows = conn.execute(
                f"SELECT {names} FROM {table.name} ORDER BY {_order(table.name, 'pg')}"
            ).fetchall()
            out[table.name] = [tuple(r) for r in rows]
    return out


def _same(a: Any, b: Any) -> bool:
    """Equal, NaN equal to itself, and a JSON number equal to the number it is
    (JSONB keeps 1.5e300 as the integer it equals)."""
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if type(a) in (int, float) and type(b) in (int, float):
        if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
            return True
        return bool(a == b)
    return bool(a == b and type(a) is type(b))


def _assert_same(got: Rows, want: Rows) -> None:
    for table in TABLES:
        assert len(got[table.name]) == len(want[table.name]), table.name
        for g, w in zip(got[table.name], want[table.name]):
            assert _same(g, w), (table.name, g, w)


def _counts(rows: Rows) -> Dict[str, int]:
    return {t: len(r) for t, r in rows.items()}


def _digest(path: Path) -> Dict[str, str]:
    """The bytes of a SQLite store's files: the database and its WAL, if not empty (any
    reader of a WAL-mode file, read-only too, may leave an empty ``-wal`` beside it)."""
    out = {}
    for suffix in ("", "-wal"):
        f = Path(str(path) + suffix)
        if f.exists() and f.stat().st_size:
            out[suffix] = hashlib.sha256(f.read_bytes()).hexdigest()
    return out


def _second_db(pg_server: Any) -> str:
    import uuid

    return str(pg_server.create_database(f"t_{uuid.uuid4().hex[:12]}"))


# -- copying ------------------------------------------------------------------------------


def test_a_sqlite_store_round_trips_through_postgresql_row_for_row(
    tmp_path: Path, pg_url: str
) -> None:
    """SQLite -> PostgreSQL -> SQLite: every table, every column the same (JSON compared as
    values: JSONB keeps no key order); PostgreSQL holds the same values in between."""
    src = _build(tmp_path / "src.db")
    source = _sqlite_rows(src)
    assert all(source[t.name] for t in TABLES), "every table holds rows"
    first = migrate_store(src, pg_url)
    assert first.tables == _counts(source) and not first.resumed
    _assert_same(_pg_rows(pg_url), source)
    back = tmp_path / "back.db"
    second = migrate_store(pg_url, back)
    assert second.tables == _counts(source)
    assert _sqlite_rows(back) == source  # exact, types included
    raw = _sqlite_rows(back, parse=False)["logs"][0]
    assert '"big":1180591620717411303424' in raw[2]  # compact JSON, the integer exact


def test_hostile_values_reach_postgresql_as_its_writer_stores_them_and_then_round_trip(
    tmp_path: Path, pg_url: str, pg_server: Any
) -> None:
    """NUL characters, lone surrogates, integers beyond 64 bits, NaN, empty strings and
    unicode: the copy in PostgreSQL is what the PostgreSQL writer stores for the same
    records (NUL -> U+FFFD, integers clamped), no row lost; from there the way back and
    forth changes nothing more."""
    records = _hostile()
    src = _write_sqlite(tmp_path / "src.db", records)
    reference = _second_db(pg_server)
    writer = PostgresWriter(reference)
    try:
        assert writer.write(serialize(records)).unstorable == {}
    finally:
        writer.close()
    migrate_store(src, pg_url, batch=3)
    copied = _pg_rows(pg_url)
    assert _counts(copied) == _counts(_sqlite_rows(src))
    _assert_same(copied, _pg_rows(reference))
    assert copied["logs"][0][1:2] == ("nul\ufffdinside",)

    back = tmp_path / "back.db"
    migrate_store(pg_url, back)
    again = _second_db(pg_server)
    migrate_store(back, again)
    _assert_same(_pg_rows(again), copied)
    back2 = tmp_path / "back2.db"
    migrate_store(again, back2)
    assert _sqlite_rows(back2, parse=False) == _sqlite_rows(back, parse=False)
    nan_event = _sqlite_rows(back)["events"][0]
    assert nan_event[2] == "NaN"  # as SQLite's writer keeps a real NaN


def test_sqlite_to_sqlite_copies_the_stored_values_exactly(tmp_path: Path) -> None:
    """Between two SQLite stores nothing is converted: NUL characters, JSON text and big
    numbers are the same bytes."""
    src = _write_sqlite(tmp_path / "src.db", _hostile())
    _build(src, roots=2)  # and a workload through the sink
    dst = tmp_path / "dst.db"
    result = migrate_store(f"sqlite://{src}", dst, batch=4)
    assert _sqlite_rows(dst, parse=False) == _sqlite_rows(src, parse=False)
    assert result.rows == sum(_counts(_sqlite_rows(src)).values())
    assert "nul\x00inside" in [r[1] for r in _sqlite_rows(dst)["logs"]]


def test_postgresql_to_postgresql_copies_every_row(
    tmp_path: Path, pg_url: str, pg_server: Any
) -> None:
    """Between two PostgreSQL databases (JSONB read as text, parsed again by COPY)."""
    migrate_store(_build(tmp_path / "src.db"), pg_url)
    other = _second_db(pg_server)
    migrate_store(pg_url, other, batch=5)
    assert _pg_rows(other) == _pg_rows(pg_url)


def test_the_source_is_never_changed(tmp_path: Path, pg_url: str) -> None:
    """Its bytes are the same after copying out of it (opened read-only)."""
    src = _build(tmp_path / "src.db")
    before = _digest(src)
    migrate_store(src, pg_url)
    migrate_store(src, tmp_path / "dst.db")
    assert _digest(src) == before


def test_running_again_after_completion_copies_nothing(tmp_path: Path, pg_url: str) -> None:
    """The progress says everything is copied: 0 rows, nothing duplicated; rows added to the
    source since are copied by the next run, and only they."""
    src = _build(tmp_path / "src.db", roots=2)
    first = migrate_store(src, pg_url)
    again = migrate_store(src, pg_url)
    assert again.rows == 0 and again.earlier == first.tables
    assert _counts(_pg_rows(pg_url)) == _counts(_sqlite_rows(src))
    _build(src, roots=1, tag="-later")  # new rows in the source
    later = migrate_store(src, pg_url)
    assert 0 < later.rows < first.rows
    _assert_same(_pg_rows(pg_url), _sqlite_rows(src))


def test_the_progress_is_kept_in_the_destination_without_the_password(
    tmp_path: Path, pg_url: str, pg_server: Any
) -> None:
    """meta holds one ``migrate:<source>`` row per source; a PostgreSQL source is named
    without its password."""
    migrate_store(_build(tmp_path / "src.db", roots=1), pg_url)
    secret = pg_url.replace("postgres@", "postgres:hunter2-secret@")
    dst = tmp_path / "dst.db"
    migrate_store(secret, dst)
    conn = sqlite3.connect(dst)
    try:
        keys = [k for (k,) in conn.execute("SELECT key FROM meta WHERE key LIKE 'migrate:%'")]
        (value,) = conn.execute("SELECT value FROM meta WHERE key = ?", (keys[0],)).fetchone()
    finally:
        conn.close()
    assert len(keys) == 1 and keys[0].startswith(META_PREFIX + "postgresql://postgres@")
    assert "hunter2" not in keys[0] + value
    assert json.loads(value)["rows"]["runs"] == len(_pg_rows(pg_url)["runs"])


def test_another_store_at_the_source_path_is_copied_from_the_start(tmp_path: Path) -> None:
    """The progress belongs to the store it was made from (its ``created_ns``): a new store
    written at the same path is copied whole, not skipped as already copied."""
    src, dst = tmp_path / "src.db", tmp_path / "dst.db"
    first = migrate_store(_build(src, roots=2), dst)
    for suffix in ("", "-wal", "-shm"):
        Path(str(src) + suffix).unlink(missing_ok=True)
    second = migrate_store(_build(src, roots=1, tag="-new"), dst)
    assert not second.resumed and second.tables == _counts(_sqlite_rows(src))
    assert len(_sqlite_rows(dst)["runs"]) == first.tables["runs"] + second.tables["runs"]


# -- resuming -------------------------------------------------------------------------------


class _StopAfter:
    """A progress callback raising KeyboardInterrupt after ``n`` batches (as Ctrl+C would)."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.batches = 0

    def __call__(self, table: str, copied: int, total: int) -> None:
        if copied:
            self.batches += 1
            if self.batches >= self.n:
                raise KeyboardInterrupt


def _interrupted_until_done(src: Any, dst: Any, every: int, batch: int) -> List[MigrateResult]:
    """Run the migration, interrupted after every ``every`` batches, until one finishes."""
    done: List[MigrateResult] = []
    for _ in range(1000):
        try:
            done.append(migrate_store(src, dst, batch=batch, progress=_StopAfter(every)))
            return done
        except KeyboardInterrupt:
            continue
    raise AssertionError("never finished")


def test_an_interrupted_copy_into_postgresql_resumes_to_an_exact_copy(
    tmp_path: Path, pg_url: str
) -> None:
    """Interrupted every 2 batches (inside tables and at their ends), run again each time:
    the end result is every row once, in order, as an uninterrupted copy gives."""
    src = _build(tmp_path / "src.db")
    (last,) = _interrupted_until_done(src, pg_url, every=2, batch=4)
    assert last.resumed
    assert sum(last.earlier.values()) + last.rows == sum(_counts(_sqlite_rows(src)).values())
    _assert_same(_pg_rows(pg_url), _sqlite_rows(src))
    assert migrate_store(src, pg_url).rows == 0


def test_an_interrupted_copy_out_of_postgresql_resumes_to_an_exact_copy(
    tmp_path: Path, pg_url: str
) -> None:
    """The same from PostgreSQL into SQLite (runs and sessions resume by their keys)."""
    src = _build(tmp_path / "src.db")
    migrate_store(src, pg_url)
    whole, pieces = tmp_path / "whole.db", tmp_path / "pieces.db"
    migrate_store(pg_url, whole)
    _interrupted_until_done(pg_url, pieces, every=3, batch=2)
    assert _sqlite_rows(pieces, parse=False) == _sqlite_rows(whole, parse=False)
    assert _sqlite_rows(pieces) == _sqlite_rows(src)


def test_a_second_migration_meanwhile_stops_the_first_and_nothing_is_duplicated(
    tmp_path: Path,
) -> None:
    """Two migrations of one source into one store at once: the progress changed under
    the first, which stops with a clear error instead of copying rows twice."""
    src = _build(tmp_path / "src.db")
    dst = tmp_path / "dst.db"
    ran: List[MigrateResult] = []

    def meanwhile(table: str, copied: int, total: int) -> None:
        if copied and not ran:
            ran.append(migrate_store(src, dst))

    with pytest.raises(StoreError, match="another migration"):
        migrate_store(src, dst, batch=3, progress=meanwhile)
    assert _sqlite_rows(dst) == _sqlite_rows(src)


def _pg_progress(url: str) -> Optional[Dict[str, Any]]:
    with connect(url) as conn:
        if conn.execute("SELECT to_regclass('meta')").fetchone() == (None,):
            return None
        row = conn.execute(
            "SELECT value FROM meta WHERE key LIKE %s", (META_PREFIX + "%",)
        ).fetchone()
    return None if row is None else dict(json.loads(row[0]))


def _big_store(path: Path) -> Path:
    """Some thousands of runs through the sink, and 40,000 log lines through the writer."""
    auditora.configure(store=str(path), console=False)

    @sentinel(name="child")
    def child(i: int) -> None:
        report.info("work", i=i)

    for r in range(1500):

        @sentinel(name="root", session_id=f"s{r % 50}")
        def root(r: int = r) -> None:
            child(r)

        root()
    assert auditora.flush()
    auditora.shutdown()
    t = 1_700_000_000_000_000_000
    logs = [Log("INFO", f"line {i} ✓", {"i": i}, t + i, None, None, None) for i in range(40_000)]
    return _write_sqlite(path, logs)


def _cli(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "auditora", "migrate", *argv],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def _stop_midway(src: Path, url: str, sig: int) -> Tuple[int, str]:
    """Start ``python -m auditora migrate src url``, send ``sig`` once 300 rows are
    committed; its exit status and standard error."""
    argv = [sys.executable, "-m", "auditora", "migrate", str(src), url, "--batch", "50"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline and proc.poll() is None:
            seen = _pg_progress(url)
            if seen and sum(seen["rows"].values()) >= 300:
                break
            time.sleep(0.01)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(TIMEOUT)
    return proc.returncode, err


def test_a_killed_migrate_command_resumes_to_an_exact_copy(tmp_path: Path, pg_url: str) -> None:
    """``kill -9`` of a running ``python -m auditora migrate`` halfway: the same command
    again finishes the copy, every row once."""
    src = _big_store(tmp_path / "src.db")
    source = _sqlite_rows(src)
    status, _ = _stop_midway(src, pg_url, signal.SIGKILL)
    assert status == -signal.SIGKILL, "killed while copying"
    partial = _pg_progress(pg_url)
    assert partial is not None
    copied = sum(partial["rows"].values())
    assert 0 < copied < sum(_counts(source).values()), "killed halfway"
    assert _counts(_pg_rows(pg_url)) == {t.name: partial["rows"].get(t.name, 0) for t in TABLES}, (
        "the progress is exactly what was committed"
    )

    done = _cli(str(src), pg_url, "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["resumed"] and sum(summary["earlier"].values()) == copied
    _assert_same(_pg_rows(pg_url), source)


def test_a_terminated_migrate_command_says_how_to_go_on_and_exits_130(
    tmp_path: Path, pg_url: str
) -> None:
    """SIGTERM (as Ctrl+C): the batch under way is rolled back, a one-line note says to run
    the command again, exit 130; running it again completes the copy."""
    src = _big_store(tmp_path / "src.db")
    status, err = _stop_midway(src, pg_url, signal.SIGTERM)
    assert status == 130, err
    assert err.strip().splitlines()[-1].startswith("auditora: migrate interrupted")
    assert "Traceback" not in err
    assert migrate_store(src, pg_url).resumed
    _assert_same(_pg_rows(pg_url), _sqlite_rows(src))


# -- older and newer sources, merging --------------------------------------------------------


def _version_1_store(path: Path) -> Path:
    conn = sqlite3.connect(path)
    for statement in MIGRATIONS[1]:
        conn.execute(statement)
    conn.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    conn.execute(
        "INSERT INTO runs (run_id, trace_id, name, status, attributes) "
        "VALUES ('00000000000000aa', '000000000000000000000000000000bb', 'old', 'ok', '{\"k\":1}')"
    )
    conn.execute("INSERT INTO llm_calls (model, input_tokens) VALUES ('m', 3)")
    conn.commit()
    conn.close()
    return path


def test_a_source_of_an_older_schema_is_read_as_it_is(tmp_path: Path, pg_url: str) -> None:
    """A version-1 store is copied with the columns it lacks NULL, and stays version 1."""
    src = _version_1_store(tmp_path / "v1.db")
    before = _digest(src)
    result = migrate_store(src, pg_url)
    assert result.tables["runs"] == 1 and result.tables["llm_calls"] == 1
    (run,) = _pg_rows(pg_url)["runs"]
    names = [c.name for c in TABLES[1].columns]
    got = dict(zip(names, run))
    assert (got["name"], got["attributes"], got["run_type"], got["traceback"]) == (
        "old",
        {"k": 1},
        None,
        None,
    )
    assert _digest(src) == before


def test_a_source_from_a_newer_auditora_is_refused_before_anything_is_written(
    tmp_path: Path,
) -> None:
    src = _build(tmp_path / "src.db", roots=1)
    conn = sqlite3.connect(src)
    conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="schema version 99"):
        migrate_store(src, tmp_path / "dst.db")
    assert not (tmp_path / "dst.db").exists()


def test_two_stores_merge_into_one_runs_by_id_sessions_widened(tmp_path: Path, pg_url: str) -> None:
    """Copying two stores into one: every row of both; a session in both is one row, its
    first and last times the widest, its state the newest."""
    a = _build(tmp_path / "a.db", roots=3)
    b = _build(tmp_path / "b.db", roots=3)
    migrate_store(a, pg_url)
    migrate_store(b, pg_url)
    rows_a, rows_b, merged = _sqlite_rows(a), _sqlite_rows(b), _pg_rows(pg_url)
    for table in TABLES:
        if table.serial:
            assert len(merged[table.name]) == len(rows_a[table.name]) + len(rows_b[table.name])
    assert len(merged["runs"]) == len(rows_a["runs"]) + len(rows_b["runs"])
    sessions = {s[0]: s for s in merged["sessions"]}
    assert len(sessions) == 3  # sess-0..2 in both stores
    for sa, sb in zip(rows_a["sessions"], rows_b["sessions"]):
        got = sessions[sa[0]]
        assert got[5] == min(sa[5], sb[5]) and got[6] == max(sa[6], sb[6])
        assert got[4] == max(sa[4], sb[4])  # state_ns: the newest state kept
        assert got[3] == (sa if sa[4] > sb[4] else sb)[3]


# -- the command ---------------------------------------------------------------------------


def _run_main(capsys: pytest.CaptureFixture[str], *argv: str) -> Tuple[int, str, str]:
    status = main(["migrate", *argv])
    out, err = capsys.readouterr()
    return status, out, err


def test_the_command_prints_a_line_per_table_and_a_summary_without_the_password(
    tmp_path: Path, pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Progress per table on stderr, the summary (rows, seconds, rows/s) on stdout; the
    password of the URL nowhere; run again, it says there is nothing to copy."""
    src = _build(tmp_path / "src.db", roots=2)
    secret = pg_url.replace("postgres@", "postgres:s3cret-pw@")
    status, out, err = _run_main(capsys, str(src), secret)
    assert status == 0, err
    assert "s3cret" not in out + err and "postgres:***@" in err
    for table in TABLES:
        assert f"  {table.name} " in err
    assert out.startswith("copied ") and "rows/s" in out and " s (" in out
    status, out, err = _run_main(capsys, str(src), secret)
    assert status == 0 and out.startswith("nothing to copy") and "s3cret" not in out + err
    status, out, _ = _run_main(capsys, str(src), secret, "--json")
    data = json.loads(out)
    assert data["rows"] == 0 and data["resumed"] and "s3cret" not in out
    assert set(data) >= {"tables", "seconds", "rows_per_second", "source", "destination"}


def test_the_help_shows_examples_with_a_masked_password() -> None:
    done = _cli("--help")
    assert done.returncode == 0
    assert "examples:" in done.stdout and "postgresql://ann:***@" in done.stdout


def _bad_inputs(tmp_path: Path, pg_url: str) -> Iterator[Tuple[str, List[str], str]]:
    src = _build(tmp_path / "src.db", roots=1)
    dead = f"postgresql://ann:s3cret-pw@127.0.0.1:{_pg.free_port()}/db"
    yield "missing", [str(tmp_path / "nope.db"), str(tmp_path / "x.db")], "does not exist"
    yield "scheme", ["mysql://ann:s3cret-pw@h/db", str(tmp_path / "x.db")], "unknown store scheme"
    yield "dst scheme", [str(src), "http://ann:s3cret-pw@h/db"], "unknown store scheme"
    yield "unreachable dst", [str(src), dead], "cannot reach"
    yield "unreachable src", [dead, str(tmp_path / "x.db")], "cannot reach"
    yield "same file", [str(src), f"sqlite:///{tmp_path}/./src.db"], "is the source"
    twin = pg_url.replace("postgresql://postgres@", "postgres://postgres:s3cret-pw@")
    migrate_store(src, pg_url)
    yield "same database", [pg_url, twin], "is the source"
    yield "not a store", [str(tmp_path), str(tmp_path / "x.db")], "directory"


def test_bad_inputs_are_one_line_errors_with_exit_status_1(
    tmp_path: Path, pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A missing source, an unknown scheme, an unreachable server, DST naming SRC: one line
    on stderr, no traceback, exit 1, the password masked; nothing created."""
    for name, argv, message in _bad_inputs(tmp_path, pg_url):
        status, out, err = _run_main(capsys, *argv)
        assert status == 1, name
        assert out == "" and err.count("\n") == 1 and err.startswith("auditora: "), (name, err)
        assert message in err, (name, err)
        assert "s3cret" not in err and "Traceback" not in err, name
        assert not (tmp_path / "x.db").exists(), name


def test_the_command_in_a_subprocess_fails_in_one_line_too(tmp_path: Path) -> None:
    done = _cli(str(tmp_path / "nope.db"), str(tmp_path / "x.db"))
    assert done.returncode == 1
    assert done.stderr.strip().count("\n") == 0 and "does not exist" in done.stderr
