"""The store writer keeps every record real code produces, and the same records the JSONL sink does.

A property test writes thousands of random record mixes (hostile text,
numbers beyond 64 bits, NaN, nested and cyclic values, runs ending ok, in
error and cancelled) through the SQLite and JSONL sinks at once and compares
the two field for field. Named tests pin what ordinary code does that the
demo never does: a bare ``raise ValueError()``, a cancelled task, a timeout.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import sqlite3
from pathlib import Path
from typing import Any, Dict, List, Sequence

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import auditora
from auditora import bifrost_async, bifrost_sync, report, sentinel
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
from auditora.sinks import JSONLSink, RecordBatch, SinkWriteError, SQLiteSink
from auditora.store import open_store, write_records
from auditora.store._schema import BY_KIND, BY_NAME
from auditora.testing import capture

# -- what the property test draws ------------------------------------------------
_MB = "x" * 1_000_000
texts = st.one_of(
    st.none(),
    st.sampled_from(["", " ", "\t\n ", "a\x00b", "\x00", "\ud800", "x\udfffy", "😀", "👩‍👩‍👧 ok"]),
    st.just(_MB),
    st.text(max_size=12),
)
plain_texts = texts.filter(lambda t: t is not None)
numbers = st.one_of(
    st.none(),
    st.integers(-(2**70), 2**70),
    st.sampled_from([2**63, -(2**63) - 1, 2**64 + 1, 0, -1]),
    st.floats(allow_nan=True, allow_infinity=True),
)


class _Hostile:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")


def _cyclic() -> Dict[str, Any]:
    d: Dict[str, Any] = {"name": "loop"}
    d["self"] = d
    return d


leaves = st.one_of(texts, numbers, st.booleans())
values = (
    st.recursive(
        leaves,
        lambda kids: st.one_of(
            st.lists(kids, max_size=4),
            st.dictionaries(plain_texts, kids, max_size=4),
            st.tuples(kids, kids),
            st.sets(st.integers(0, 9), max_size=3),
        ),
        max_leaves=12,
    )
    | st.builds(_cyclic)
    | st.builds(_Hostile)
    | st.just(b"\x00\xffbytes")
)
mappings = st.one_of(st.none(), st.dictionaries(plain_texts, values, max_size=5))
ids = st.one_of(st.none(), st.sampled_from(["s1", "s2", ""]))


def _event(d: Any) -> Event:
    return Event(d(texts), d(numbers), d(numbers), d(mappings), None, None, d(ids))


def _log(d: Any) -> Log:
    level = d(st.sampled_from(["DEBUG", "INFO", "ERROR", ""]))
    return Log(level, d(texts), d(mappings), d(numbers), None, None, d(ids))


def _llm(d: Any) -> LLMCall:
    return LLMCall(
        d(texts),
        d(numbers),
        d(numbers),
        d(numbers),
        d(st.booleans()),
        d(numbers),
        None,
        None,
        d(ids),
        provider=d(texts),
        cached_tokens=d(numbers),
        time_to_first_token=d(numbers),
        finish_reason=d(texts),
        error=d(texts),
        cost=d(numbers),
        request=d(mappings),
        input=d(values),
        output=d(values),
        extra=d(mappings),
    )


def _evaluation(d: Any) -> Evaluation:
    return Evaluation(
        d(texts),
        d(numbers),
        d(numbers),
        d(st.sampled_from(["PASS", "FAIL", ""])),
        d(numbers),
        None,
        None,
        d(ids),
        label=d(texts),
        explanation=d(texts),
        extra=d(mappings),
    )


def _message(d: Any) -> AgentMessage:
    return AgentMessage(d(texts), d(texts), d(texts), d(values), d(numbers), None, None, d(ids))


def _metrics(d: Any) -> MetricSnapshot:
    return MetricSnapshot(
        d(st.dictionaries(plain_texts, numbers, max_size=4)), d(numbers), None, None, d(ids)
    )


_SESSION_IDS = itertools.count()


def _session(d: Any) -> SessionRecord:
    # One state record per session: the store keeps a session's latest state only.
    sid = f"session-{next(_SESSION_IDS)}"
    return SessionRecord(sid, d(texts), d(st.lists(texts, max_size=3)), d(mappings), d(numbers))


_BUILDERS = [_event, _log, _llm, _evaluation, _message, _metrics, _session]


def _runs(d: Any) -> List[Record]:
    """Real runs: ending ok, raising exceptions with empty or hostile messages, cancelled."""
    exc_type = d(st.sampled_from([ValueError, KeyError, RuntimeError, Exception]))
    message = d(st.one_of(st.just(None), texts))
    with capture() as records:
        with bifrost_sync(session_id=d(st.sampled_from(["s1", "s2"]))):
            report.info("inside")

        @sentinel()
        def fails() -> None:
            raise exc_type() if message is None else exc_type(message)

        with pytest.raises(exc_type):
            fails()

        async def cancelled() -> None:
            async with bifrost_async():
                await asyncio.sleep(10)

        async def main() -> None:
            task = asyncio.ensure_future(cancelled())
            await asyncio.sleep(0)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

        asyncio.run(main())
    return list(records)


# -- comparing the two sinks -------------------------------------------------------
def _same_number(jsonl: Any, stored: Any, sql_type: str) -> bool:
    """A typed numeric column holds what SQLite's affinity makes of the serialized value:
    an int beyond 64 bits, or any int in a REAL column, as a float (docs/store.md)."""
    if type(jsonl) is int and (sql_type == "REAL" or not -(2**63) <= jsonl < 2**63):
        return stored == float(jsonl)
    if isinstance(jsonl, float) and isinstance(stored, float) and math.isnan(jsonl):
        return math.isnan(stored)
    return bool(jsonl == stored)


def _same(table: str, expected: Dict[str, Any], row: Dict[str, Any]) -> List[str]:
    differences = []
    for column in BY_NAME[table].columns:
        want = expected.get(column.name)
        got = row.get(column.name)
        if column.name in ("first_ns", "last_ns", "state_ns"):
            continue  # sessions: derived from runs / renamed (checked apart)
        if column.json or column.type == "TEXT":
            ok = want == got
        else:
            ok = _same_number(want, got, column.type)
        if not ok:
            differences.append(f"{table}.{column.name}: jsonl {want!r} != store {got!r}")
    return differences


def _expected_rows(jsonl: Sequence[Dict[str, Any]]) -> Dict[str, List[Dict[str, Any]]]:
    out: Dict[str, List[Dict[str, Any]]] = {t: [] for t in BY_NAME}
    for d in jsonl:
        table = BY_KIND[d["kind"]].name
        if d["kind"] == "metric":
            out[table] += [{**d, "name": k, "value": v} for k, v in d["metrics"].items()]
        else:
            out[table].append(d)
    return out


def _stored_rows(path: Path) -> Dict[str, List[Dict[str, Any]]]:
    with open_store(path) as store:
        return {
            "sessions": sorted(store.sessions(), key=lambda s: s["session_id"]),
            "runs": store.runs(limit=None),
            "events": store.events(limit=None),
            "logs": store.logs(limit=None),
            "llm_calls": store.llm_calls(limit=None),
            "evaluations": store.evaluations(limit=None),
            "agent_messages": store.agent_messages(limit=None),
            "metrics": store.metrics(limit=None),
        }


def _compare(jsonl_path: Path, store_path: Path) -> None:
    # JSON lines end at "\n" only (splitlines() would also cut at U+0085 and U+2028).
    lines = jsonl_path.read_text(encoding="utf-8").split("\n")
    jsonl = [json.loads(line) for line in lines if line]
    expected = _expected_rows(jsonl)
    stored = _stored_rows(store_path)
    differences: List[str] = []
    for table, rows in expected.items():
        got = stored[table]
        if table == "runs":
            rows = sorted(rows, key=lambda r: (r["start_ns"], r["run_id"]))
        elif table == "sessions":
            # The reader gives a session without state {} and without tags [].
            rows = [
                {**r, "state": r["state"] or {}, "tags": r["tags"] or []}
                if r["state"] is None or r["tags"] is None
                else r
                for r in rows
            ]
            by_id = {s["session_id"]: s for s in got}
            got = [by_id.get(r["session_id"], {}) for r in rows if r["session_id"] in by_id]
            rows = [r for r in rows if r["session_id"] in by_id]
        else:
            got = sorted(got, key=lambda r: r["id"])
        if len(rows) != len(got):
            differences.append(f"{table}: {len(rows)} in JSONL, {len(got)} in the store")
            continue
        for want, have in zip(rows, got):
            differences += _same(table, want, have)
    assert differences == []


@pytest.fixture
def sinks(tmp_path: Path) -> Any:
    count = iter(range(10**9))

    def make(process: bool = False) -> Any:
        # In process by default: a writer process per example would double the time
        # of a thousand examples; the writer process has its own examples below.
        n = next(count)
        return (
            SQLiteSink(tmp_path / f"s{n}.db", process=process),
            JSONLSink(tmp_path / f"r{n}.jsonl"),
            tmp_path / f"s{n}.db",
            tmp_path / f"r{n}.jsonl",
        )

    return make


# A thousand fresh stores take about a minute on an idle 2-core machine, and several
# times that on a loaded one: the default 120 s would cut it short mid-record.
@pytest.mark.timeout(900)
@settings(
    max_examples=1_000,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.data())
def test_random_record_mixes_are_the_same_in_the_store_and_in_jsonl(sinks: Any, data: Any) -> None:
    """Thousands of records of every kind, with hostile values, through both sinks at once:
    the store's reader and the JSONL file hold the same records, field for field, and the
    store reports nothing unstorable."""
    _same_in_store_and_jsonl(sinks(), data.draw)


@pytest.mark.timeout(600)
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.data())
def test_random_record_mixes_through_the_writer_process_are_kept_alike(
    sinks: Any, data: Any
) -> None:
    """The same through the writer process: hostile values survive the hand-over to it."""
    _same_in_store_and_jsonl(sinks(process=True), data.draw)


def _same_in_store_and_jsonl(made: Any, draw: Any) -> None:
    records: List[Record] = []
    for _ in range(draw(st.integers(1, 12))):
        records.append(draw(st.sampled_from(_BUILDERS))(draw))
    if draw(st.booleans()):
        records += _runs(draw)
    sqlite_sink, jsonl_sink, store_path, jsonl_path = made
    batch = RecordBatch(records)
    sqlite_sink.export(batch)  # raises SinkWriteError for any record it cannot keep
    jsonl_sink.export(batch)
    sqlite_sink.close()  # raises it for the batch the writer process held
    jsonl_sink.close()
    _compare(jsonl_path, store_path)


# -- what ordinary code does -------------------------------------------------------
def _store_with(tmp_path: Path) -> Path:
    path = tmp_path / "s.db"
    auditora.configure(store=path, console=False)
    return path


def _runs_in(path: Path) -> List[Dict[str, Any]]:
    assert auditora.flush(30) is True
    auditora.shutdown(10)
    with open_store(path) as store:
        return store.runs(limit=None)


@pytest.mark.parametrize("error", [ValueError, KeyError, RuntimeError])
def test_a_bare_raise_is_stored_with_an_empty_message(tmp_path: Path, error: type) -> None:
    """`raise ValueError()` (no message) beside runs that end ok: every run is stored."""
    path = _store_with(tmp_path)

    @sentinel()
    def ok() -> None:
        report.info("fine")

    @sentinel()
    def bare() -> None:
        raise error()

    for _ in range(3):
        ok()
        with pytest.raises(error):
            bare()
    runs = _runs_in(path)
    assert sorted((r["name"].rsplit(".", 1)[-1], r["status"]) for r in runs) == sorted(
        [("ok", "ok")] * 3 + [("bare", "error")] * 3
    )
    assert {r["error_message"] for r in runs if r["status"] == "error"} == {""}


def test_a_job_with_a_cancelled_task_keeps_every_run(tmp_path: Path) -> None:
    """15 nested blocks and one cancelled task: all 17 runs are in the store."""
    path = _store_with(tmp_path)

    async def hangs() -> None:
        async with bifrost_async(session_id="job"):
            await asyncio.sleep(10)

    async def job() -> None:
        async with bifrost_async(session_id="job"):
            for i in range(15):
                with bifrost_sync():
                    report.info(f"step {i}")
            task = asyncio.ensure_future(hangs())
            await asyncio.sleep(0)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    asyncio.run(job())
    runs = _runs_in(path)
    assert len(runs) == 17
    assert sorted(r["status"] for r in runs).count("ok") == 16


def test_fifteen_nested_blocks_around_a_cancelled_task_keep_every_run(tmp_path: Path) -> None:
    """The issue's job: 15 blocks nested inside one another, a task cancelled in the
    innermost, then the job ends: all 17 runs are in the store, parents intact."""
    path = _store_with(tmp_path)

    async def hangs() -> None:
        async with bifrost_async(session_id="job"):
            await asyncio.sleep(10)

    async def nest(depth: int) -> None:
        async with bifrost_async():
            if depth < 15:
                await nest(depth + 1)
                return
            task = asyncio.ensure_future(hangs())
            await asyncio.sleep(0)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    async def job() -> None:
        async with bifrost_async(session_id="job"):
            await nest(1)

    asyncio.run(job())
    runs = _runs_in(path)
    by_id = {r["run_id"]: r for r in runs}
    assert len(runs) == 17
    assert sorted(r["status"] for r in runs) == ["cancelled"] + ["ok"] * 16
    assert all(r["parent_id"] is None or r["parent_id"] in by_id for r in runs)


def test_a_run_ended_by_asyncio_timeout_is_stored(tmp_path: Path) -> None:
    """A coroutine cut off by a timeout (TimeoutError, empty message) is stored as a run."""
    path = _store_with(tmp_path)

    @sentinel()
    async def slow() -> None:
        await asyncio.sleep(10)

    async def main() -> None:
        with pytest.raises((asyncio.TimeoutError, TimeoutError)):
            await asyncio.wait_for(slow(), 0.01)
        timeout = getattr(asyncio, "timeout", None)  # Python 3.11+
        if timeout is not None:
            with pytest.raises(TimeoutError):
                async with timeout(0.01):
                    await slow()

    asyncio.run(main())
    runs = _runs_in(path)
    assert len(runs) == (2 if hasattr(asyncio, "timeout") else 1)
    assert all(r["status"] != "ok" for r in runs)


def test_one_unbindable_record_in_a_thousand_costs_only_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The batch is retried by halves down to the record SQLite refuses; 999 are stored."""
    from auditora.store import _writer

    real = _writer._typed_column
    monkeypatch.setattr(  # a value the sqlite3 module cannot bind
        _writer, "_typed_column", lambda vs: [object() if v == "poison" else v for v in real(vs)]
    )
    batch: List[Record] = [Log("INFO", f"m{i}", {}, i, None, None, "s") for i in range(1_000)]
    batch[637] = Log("INFO", "poison", {}, 637, None, None, "s")
    sink = SQLiteSink(tmp_path / "s.db", process=False)  # where the patch applies
    with pytest.raises(SinkWriteError) as lost:
        sink.export(batch)
    sink.close()
    assert (lost.value.records_lost, sink.stats()["unstorable"]) == (1, {"log": 1})
    with open_store(tmp_path / "s.db") as store:
        messages = [r["message"] for r in store.logs(limit=None)]
    assert messages == [f"m{i}" for i in range(1_000) if i != 637]


def test_unstorable_records_are_counted_in_stats_and_flush(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Through the recorder: the loss is counted by kind, logged once with the reason,
    and the next flush returns False."""
    from auditora.store import _writer

    real = _writer._typed_column
    monkeypatch.setattr(
        _writer, "_typed_column", lambda vs: [object() if v == "poison" else v for v in real(vs)]
    )
    # Written in this process, where the patch applies (tests/test_sink_sqlite_process.py
    # has the same through the writer process).
    auditora.configure(sinks=[SQLiteSink(tmp_path / "s.db", process=False)], console=False)

    @sentinel()
    def work(name: str) -> None:
        auditora.monitor.track(name)

    with caplog.at_level("WARNING", logger="auditora"):
        for name in ["a", "poison", "b", "poison"]:
            work(name)
        assert auditora.flush(30) is False
    stats = auditora.stats()["sinks"]["sqlite"]
    assert (stats["dropped"], stats["unstorable"]) == ({"unstorable": 2}, {"event": 2})
    assert sum("cannot keep a event record" in r.message for r in caplog.records) == 1
    assert any("ProgrammingError" in r.message for r in caplog.records)


@pytest.mark.parametrize("n", [1, 2, 3, 127, 300, 1000])
def test_every_row_of_a_batch_is_inserted_in_order(tmp_path: Path, n: int) -> None:
    """Events and metric rows come back in the order they were produced."""
    with open_store(tmp_path / "s.db", readonly=False) as store:
        conn: sqlite3.Connection = store._conn
        batch: List[Any] = [Event(f"e{i}", i, None, {"i": i}, None, None, "s") for i in range(n)]
        batch += [MetricSnapshot({"a": i, "b": i}, i, None, None, "s") for i in range(n)]
        assert write_records(conn, batch) == 2 * n
        events = store.events(session_id="s", limit=None)
        metrics = store.metrics(session_id="s", limit=None)
    assert [e["name"] for e in events] == [f"e{i}" for i in range(n)]
    assert [e["metadata"] for e in events] == [{"i": i} for i in range(n)]
    assert [(m["name"], m["value"]) for m in metrics] == [
        (k, i) for i in range(n) for k in ("a", "b")
    ]


def test_a_record_with_an_unset_field_is_stored_with_that_column_null(tmp_path: Path) -> None:
    """A record missing a field (an unset slot) is stored whole with that column NULL."""
    batch: List[Any] = [Event(f"e{i}", i, 0.5, {"i": i}, None, None, "s") for i in range(5)]
    del batch[2].duration
    with open_store(tmp_path / "s.db", readonly=False) as store:
        assert write_records(store._conn, batch) == 5
        events = store.events(session_id="s", limit=None)
    assert [e["duration"] for e in events] == [0.5, 0.5, None, 0.5, 0.5]
