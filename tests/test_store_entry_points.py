"""Traces that enter a service from another process (schema version 6): a run whose parent
is a remote span is an entry point, listed in the traces list, on both backends."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any, Dict, List

import auditora
from _backends import is_postgres, pg_server, store_url
from _backends import write as write_to
from auditora import sentinel
from auditora.collect._otlp import decode_json
from auditora.propagation import inject, remote_parent
from auditora.records import Run
from auditora.store import open_store
from auditora.store._schema import connect_writer
from auditora.testing import capture

_ = (pg_server, store_url)  # fixtures

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER = "00f067aa0ba902b7"


@sentinel(name="handle")
def handle(item: int) -> int:
    return step(item)


@sentinel(name="step")
def step(item: int) -> int:
    return item + 1


def test_a_run_under_a_remote_parent_is_marked_and_its_children_are_not() -> None:
    """Only the run that joined the caller's span says its parent is remote."""
    with capture() as records, remote_parent({"traceparent": f"00-{TRACE}-{CALLER}-01"}):
        handle(1)
    runs = {r.name: r for r in records if isinstance(r, Run)}
    assert (runs["handle"].parent_id, runs["handle"].remote_parent) == (CALLER, True)
    assert (runs["step"].parent_id, runs["step"].remote_parent) == (runs["handle"].run_id, None)
    with capture() as local:
        handle(2)
    assert [r.remote_parent for r in local if isinstance(r, Run)] == [None, None]


def test_a_continued_trace_is_in_the_traces_list(store_url: str) -> None:
    """A service whose every request continues a caller's trace: each request is a trace
    in the list (by start, duration and cost alike), its entry run at the head."""
    auditora.configure(store=store_url, console=False)
    for i in range(3):
        trace = f"{i + 1:032x}"
        with remote_parent({"traceparent": f"00-{trace}-{CALLER}-01"}):
            handle(i)
    assert auditora.flush(30)
    with open_store(store_url) as store:
        for sort in ("start", "duration", "cost", "tokens", "errors"):
            page = store.find_traces(sort=sort)
            assert page.total == 3, sort
            assert sorted(r["trace_id"] for r in page.rows) == [f"{i:032x}" for i in (1, 2, 3)]
            assert {r["name"] for r in page.rows} == {"handle"}
        assert store.find_runs(roots_only=True).total == 3
        tree = store.trace_tree(f"{1:032x}")
        assert [r["name"] for r in tree] == ["handle"]
        assert [c["name"] for c in tree[0]["children"]] == ["step"]


def test_a_trace_through_two_services_of_one_store_is_listed_once(store_url: str) -> None:
    """The caller's root run and the callee's entry run share one store: the trace is
    listed once, by its root, and the callee's run hangs under the caller's."""
    auditora.configure(store=store_url, console=False)

    @sentinel(name="caller")
    def caller() -> Dict[str, str]:
        return inject({})  # what an HTTP client sends

    headers = caller()
    with remote_parent(headers):  # what the other service does with it
        handle(7)
    assert auditora.flush(30)
    with open_store(store_url) as store:
        page = store.find_traces()
        assert [r["name"] for r in page.rows] == ["caller"] and page.total == 1
        (root,) = store.trace_tree(page.rows[0]["trace_id"])
        assert [c["name"] for c in root["children"]] == ["handle"]


def test_a_version_5_store_marks_runs_whose_parent_it_lacks(store_url: str) -> None:
    """Upgrading marks the runs an older store holds without their parent as entry
    points: a trace continued before the upgrade is listed after it."""
    runs: List[Dict[str, Any]] = [
        {"kind": "run", "run_id": "a" * 16, "trace_id": TRACE, "parent_id": CALLER,
         "name": "handle", "session_id": "s", "start_ns": 10, "end_ns": 20, "status": "ok"},
        {"kind": "run", "run_id": "b" * 16, "trace_id": TRACE, "parent_id": "a" * 16,
         "name": "step", "session_id": "s", "start_ns": 11, "end_ns": 19, "status": "ok"},
    ]  # fmt: skip
    write_to(store_url, runs)
    downgrade = [
        "UPDATE runs SET remote_parent = NULL",
        "UPDATE meta SET value = '5' WHERE key = 'schema_version'",
    ]
    if is_postgres(store_url):
        import psycopg

        with psycopg.connect(store_url, autocommit=True) as conn:
            for statement in downgrade:
                conn.execute(statement)
        from auditora.store._postgres import connect_writer as connect_pg

        with open_store(store_url) as store:
            assert store.find_traces().total == 0  # the old store's blind spot
        connect_pg(store_url).close()
    else:
        conn = sqlite3.connect(store_url)
        for statement in downgrade:
            conn.execute(statement)
        conn.commit()
        conn.close()
        with open_store(store_url) as store:
            assert store.find_traces().total == 0
        connect_writer(store_url).close()
    with open_store(store_url) as store:
        assert [r["name"] for r in store.find_traces().rows] == ["handle"]


def _otlp_span(flags: Any) -> bytes:
    span: Dict[str, Any] = {
        "traceId": TRACE, "spanId": "1" * 16, "parentSpanId": CALLER, "name": "GET /x",
        "kind": 2, "startTimeUnixNano": "1000", "endTimeUnixNano": "2000",
    }  # fmt: skip
    if flags is not None:
        span["flags"] = flags
    body = {"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}
    return json.dumps(body).encode()


def test_collected_spans_keep_what_their_flags_say_of_the_parent() -> None:
    """OTLP span flags: 0x100 says the exporter knows, 0x200 that the parent is remote."""
    seen = {}
    for flags in (0x301, 0x101, None, "769"):
        (run,) = [r for r in decode_json("traces", _otlp_span(flags)).records if r.kind == "run"]
        seen[flags] = run.remote_parent
    assert seen == {0x301: True, 0x101: None, None: None, "769": True}


def test_an_exported_span_says_its_parent_is_remote() -> None:
    """OTelSink sends an entry run's parent as a remote span context."""
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from auditora.integrations.otel import OTelSink

    exporter = InMemorySpanExporter()
    auditora.configure(
        sinks=[OTelSink(span_exporter=exporter, logs=False, metrics=False)], console=False
    )
    with remote_parent({"traceparent": f"00-{TRACE}-{CALLER}-01"}):
        handle(3)
    assert auditora.flush(30)
    spans = {s.name: s for s in exporter.get_finished_spans()}
    assert spans["handle"].parent is not None and spans["handle"].parent.is_remote is True
    assert spans["step"].parent is not None and spans["step"].parent.is_remote is False


def test_the_entry_flag_is_a_store_column(tmp_path: Path) -> None:
    """The column is declared once, with the schema version that added it."""
    from auditora.store._schema import BY_NAME

    column = next(c for c in BY_NAME["runs"].columns if c.name == "remote_parent")
    assert (column.type, column.since, column.json) == ("INTEGER", 6, False)
