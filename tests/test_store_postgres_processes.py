"""Many writers and a crashing server: 4 processes write one PostgreSQL store at once, and a
server killed with ``kill -9`` mid-run, then restarted, loses nothing within the bound."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest

import auditora
import pg_server as _pg
from auditora import monitor, sentinel
from auditora.sinks.postgres import PostgresSink
from auditora.store._postgres import connect

pg_server, pg_url = _pg.pg_server, _pg.pg_url

ROOT = Path(__file__).resolve().parent.parent

#: Each child: 5,000 root runs tracking 4 events each = 25,000 records.
_CHILD = """
import sys
import auditora
from auditora import monitor, sentinel

auditora.configure(store=sys.argv[1], console=False)

@sentinel(name="work")
def work(i):
    for k in range(4):
        monitor.track("step", i=i, k=k, worker=sys.argv[2])

for i in range(5000):
    work(i)
assert auditora.flush(timeout=120), auditora.stats()
stats = auditora.stats()
assert not stats.get("dropped"), stats
print(stats["sinks"]["postgres"]["exported"])
"""


def test_four_processes_write_100000_records_into_one_store(pg_url: str) -> None:
    """4 processes x 25,000 records at once: 100,000 rows, none lost, none doubled."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    children = [
        subprocess.Popen(
            [sys.executable, "-c", _CHILD, pg_url, f"w{n}"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(4)
    ]
    for child in children:
        out, err = child.communicate(timeout=110)
        assert child.returncode == 0, err
        assert int(out) >= 25_000  # and the process's own records (its session's state)
    with connect(pg_url) as conn:
        runs = conn.execute("SELECT count(*), count(DISTINCT run_id) FROM runs").fetchone()
        events = conn.execute(
            "SELECT metadata->>'worker', count(*) FROM events GROUP BY 1 ORDER BY 1"
        ).fetchall()
    assert runs == (20_000, 20_000)
    assert events == [(f"w{n}", 20_000) for n in range(4)]
    assert runs[0] + sum(n for _, n in events) == 100_000


@pytest.fixture(scope="module")
def _own_server() -> Iterator[_pg.PgServer]:
    reason = _pg.skip_reason()
    if reason:
        pytest.skip(reason)
    server = _pg.PgServer()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def crash_server(_own_server: _pg.PgServer) -> _pg.PgServer:
    """A running server of this module's own (the session's is never killed)."""
    if not _own_server.running():
        _own_server.start()
    return _own_server


def test_a_server_killed_mid_run_and_restarted_loses_nothing(
    crash_server: _pg.PgServer,
) -> None:
    """kill -9 of the whole server while records flow; restarted 1 s later: every record
    is stored exactly once, no drop is counted, the sink says it reconnected."""
    url = crash_server.create_database("crash")
    sink = PostgresSink(url, retry_for=60.0)
    auditora.configure(sinks=[sink], console=False)
    roots = 3000
    produced = threading.Event()

    @sentinel(name="work")
    def work(i: int) -> None:
        monitor.track("a", i=i)
        monitor.track("b", i=i)

    def produce() -> None:
        for i in range(roots):
            work(i)
            if i % 10 == 0:
                time.sleep(0.01)  # a steady flow for ~3 s, spanning the crash
        produced.set()

    producer = threading.Thread(target=produce)
    producer.start()
    time.sleep(0.5)
    crash_server.kill()
    time.sleep(1.0)
    crash_server.start()
    producer.join(90)
    assert produced.is_set()
    assert auditora.flush(timeout=90)
    stats = auditora.stats()
    assert not stats.get("dropped"), stats
    assert stats["sinks"]["postgres"]["reconnects"] >= 1
    with connect(url) as conn:
        runs = conn.execute("SELECT count(*) FROM runs").fetchone()
        events = conn.execute(
            "SELECT count(*), count(DISTINCT (name, metadata->>'i')) FROM events"
        ).fetchone()
    assert runs == (roots,)
    assert events == (2 * roots, 2 * roots)


def test_past_the_bound_the_batch_is_counted_as_unreachable(
    crash_server: _pg.PgServer,
) -> None:
    """A server that stays down past retry_for: the batch is lost, counted, flush() says so."""
    url = crash_server.create_database("gone")
    sink = PostgresSink(url, retry_for=0.5)
    auditora.configure(sinks=[sink], console=False)

    @sentinel(name="one")
    def one() -> None:
        pass

    one()
    assert auditora.flush(timeout=30)
    crash_server.kill()
    one()
    assert not auditora.flush(timeout=30)
    stats = auditora.stats()
    assert stats["sinks"]["postgres"]["unreachable"] == 1
    assert stats["sinks"]["postgres"]["dropped"] == {"unreachable": 1}
