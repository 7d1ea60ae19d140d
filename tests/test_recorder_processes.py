"""The recorder across real processes: volume at exit, SIGKILL, concurrent writers, fork."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path
from typing import Dict, List

import pytest

from auditora.store import open_store


def _script(tmp_path: Path, name: str, code: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(code))
    return path


def _env() -> Dict[str, str]:
    env = dict(os.environ)
    for key in ("AUDITORA_STORE", "AUDITORA_SINKS", "AUDITORA_DISABLED"):
        env.pop(key, None)
    return env


def test_100k_records_from_threads_and_tasks_all_stored_at_exit(tmp_path: Path) -> None:
    """100,000 events from 4 threads and 4 asyncio tasks are all in the store after exit."""
    script = _script(
        tmp_path,
        "volume.py",
        """
        import asyncio, sys, threading
        import auditora
        from auditora import monitor, sentinel

        # The exit-time flush is bounded (2 s by default); this test is about losing
        # nothing at a normal exit, not about speed on a shared CI machine.
        auditora.configure(store=sys.argv[1], console=False, atexit_timeout=60)

        @sentinel(session_id="threads")
        def in_thread(t):
            for i in range(12_500):
                monitor.track("tick", t=t, i=i)

        @sentinel(session_id="tasks")
        async def in_task(t):
            for i in range(12_500):
                monitor.track("tick", t=t, i=i)
                if i % 1000 == 0:
                    await asyncio.sleep(0)

        async def main():
            await asyncio.gather(*(in_task(t) for t in range(4)))

        threads = [threading.Thread(target=in_thread, args=(t,)) for t in range(4)]
        for th in threads:
            th.start()
        asyncio.run(main())
        for th in threads:
            th.join()
        print(auditora.stats()["dropped"])
        """,
    )
    db = tmp_path / "volume.db"
    proc = subprocess.run(
        [sys.executable, str(script), str(db)],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (proc.returncode, proc.stdout.strip()) == (0, "{}"), proc.stderr
    with open_store(db) as store:
        summary = store.summary()
        tasks = len(store.events(session_id="tasks", limit=None))
    assert (summary["events"], summary["runs"], tasks) == (100_000, 8, 50_000)


def test_sigkill_after_flush_keeps_what_was_flushed(tmp_path: Path) -> None:
    """A process killed with SIGKILL right after flush() leaves the flushed records intact."""
    script = _script(
        tmp_path,
        "killed.py",
        """
        import sys, time
        import auditora
        from auditora import monitor, sentinel

        auditora.configure(store=sys.argv[1], console=False)

        @sentinel(session_id="killed")
        def work(n, name):
            for i in range(n):
                monitor.track(name, i=i)

        work(5000, "before")
        print(auditora.flush(30), flush=True)
        while True:
            work(100, "after")
            time.sleep(0.001)
        """,
    )
    db = tmp_path / "killed.db"
    proc = subprocess.Popen(
        [sys.executable, str(script), str(db)],
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert (line, proc.returncode) == ("True", -signal.SIGKILL)
    import sqlite3

    conn = sqlite3.connect(db)
    integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
    conn.close()
    with open_store(db) as store:
        before = store.events(name="before", limit=None)
    assert (integrity, len(before)) == ("ok", 5000)
    assert sorted(e["metadata"]["i"] for e in before) == list(range(5000))


def test_four_processes_write_one_store_concurrently(tmp_path: Path) -> None:
    """4 processes writing 10,000 records each into one store: 40,000 present."""
    script = _script(
        tmp_path,
        "writer.py",
        """
        import os, sys, time
        import auditora
        from auditora import monitor, sentinel

        auditora.configure(store=sys.argv[1], console=False, batch_size=500)
        go = sys.argv[2]
        while not os.path.exists(go):  # start together
            time.sleep(0.005)

        @sentinel(session_id="writer-" + sys.argv[3])
        def work():
            for i in range(10_000):
                monitor.track("w", i=i)

        work()
        print(auditora.shutdown(60), auditora.stats()["dropped"])
        """,
    )
    db, go = tmp_path / "shared.db", tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(db), str(go), str(n)],
            env=_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(4)
    ]
    go.write_text("go")
    outputs: List[str] = []
    try:
        for p in procs:
            out, err = p.communicate(timeout=120)
            assert p.returncode == 0, err
            outputs.append(out.strip())
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert outputs == ["True {}"] * 4
    with open_store(db) as store:
        per_session = {s["session_id"]: s["run_count"] for s in store.sessions()}
        assert store.summary()["events"] == 40_000
    assert per_session == {f"writer-{n}": 1 for n in range(4)}


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_fork_parent_and_child_export_only_their_own(tmp_path: Path) -> None:
    """Records queued before fork are exported once, by the parent; the child's by the child."""
    script = _script(
        tmp_path,
        "forker.py",
        """
        import os, sys
        import auditora
        from auditora import monitor, sentinel

        auditora.configure(store=sys.argv[1], sinks=["jsonl:" + sys.argv[2]], console=False)

        @sentinel(session_id="forker")
        def work(n, name):
            for i in range(n):
                monitor.track(name, i=i)

        work(200, "parent")          # still queued (not flushed) when we fork
        pid = os.fork()
        if pid == 0:
            work(50, "child")
            ok = auditora.shutdown(30)
            os._exit(0 if ok else 3)
        _, status = os.waitpid(pid, 0)
        work(10, "parent")
        print(os.waitstatus_to_exitcode(status), auditora.shutdown(30))
        """,
    )
    db, jl = tmp_path / "fork.db", tmp_path / "fork.jsonl"
    proc = subprocess.run(
        [sys.executable, str(script), str(db), str(jl)],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (proc.returncode, proc.stdout.strip()) == (0, "0 True"), proc.stderr
    with open_store(db) as store:
        parent = [e["metadata"]["i"] for e in store.events(name="parent", limit=None)]
        child = [e["metadata"]["i"] for e in store.events(name="child", limit=None)]
    assert (sorted(parent), sorted(child)) == (
        sorted([*range(200), *range(10)]),
        list(range(50)),
    )
    lines = [json.loads(x) for x in jl.read_text().splitlines()]
    events = Counter((r["name"], r["metadata"]["i"]) for r in lines if r["kind"] == "event")
    expected = Counter(
        [("parent", i) for i in range(200)]
        + [("parent", i) for i in range(10)]
        + [("child", i) for i in range(50)]
    )
    assert events == expected


def test_fork_waits_for_the_export_in_flight(tmp_path: Path) -> None:
    """A fork made while a sink is in the middle of an export happens only once that
    export has returned: the child never inherits a lock a sink thread held mid-write."""
    script = _script(
        tmp_path,
        "fork_wait.py",
        """
        import os, threading, time
        import auditora
        from auditora import monitor, sentinel
        from auditora.sinks import Sink

        entered, ended = threading.Event(), []

        class Slow(Sink):
            name = "slow"

            def export(self, batch):
                entered.set()
                time.sleep(0.5)
                ended.append(time.monotonic())

        auditora.configure(sinks=[Slow()], console=False)

        @sentinel()
        def work():
            monitor.track("e")

        work()
        assert entered.wait(10)
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        forked = time.monotonic()
        os.waitpid(pid, 0)
        print(bool(ended) and ended[0] <= forked)
        """,
    )
    proc = subprocess.run(
        [sys.executable, str(script)], env=_env(), capture_output=True, text=True, timeout=60
    )
    assert (proc.returncode, proc.stdout.strip()) == (0, "True"), proc.stderr


def test_exit_waits_for_a_slow_sink_while_it_makes_progress(tmp_path: Path) -> None:
    """At interpreter exit the flush goes on past atexit_timeout as long as the sink keeps
    taking batches: a slow sink with seconds of work queued still gets every record."""
    out = tmp_path / "counts.txt"
    script = _script(
        tmp_path,
        "slow_exit.py",
        """
        import sys, time
        import auditora
        from auditora.sinks import Sink

        class Slow(Sink):
            name = "slow"

            def __init__(self, path):
                self.file = open(path, "a")

            def export(self, batch):
                time.sleep(0.05)
                self.file.write(f"{sum(r.kind == 'run' for r in batch)}\\n")
                self.file.flush()

        auditora.configure(
            sinks=[Slow(sys.argv[1])], console=False, batch_size=100, queue_size=10_000,
            atexit_timeout=0.5,
        )

        @auditora.sentinel()
        def work(i):
            pass

        for i in range(3_000):  # ~1.5 s of the sink's work, three times atexit_timeout
            work(i)
        """,
    )
    proc = subprocess.run(
        [sys.executable, str(script), str(out)],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert sum(int(n) for n in out.read_text().split()) == 3_000
