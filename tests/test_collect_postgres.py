"""``auditora collect`` writing into a PostgreSQL store: spans arrive as runs and LLM calls in
the database, and the URL's password is never printed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

from pg_server import PgServer, pg_server  # noqa: F401  (the fixture this module uses)
from test_collect_json import CHILD, ROOT, TRACE, span, traces

REPO = Path(__file__).resolve().parent.parent
SECRET = "s3cr3t-collect-pw"


def _collect(store: str) -> tuple[subprocess.Popen[str], str]:
    """``python -m auditora collect --store STORE --port 0``; the process and its endpoint."""
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "auditora", "collect", "--store", store, "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "OTLP/HTTP at " not in line:
        proc.kill()
        _, err = proc.communicate(timeout=10)
        raise AssertionError(f"collector did not start: {line!r} {err}")
    return proc, line


def test_collected_spans_land_in_a_postgres_store_and_the_password_is_masked(
    pg_server: PgServer,  # noqa: F811
) -> None:
    """A GenAI span posted to a collector started with a postgresql:// URL is, after Ctrl+C, a
    run and a priced LLM call in the database; neither the banner nor the summary shows the
    password (trust authentication accepts any, so the URL carries one)."""
    import psycopg

    name = f"collect_{os.getpid()}"
    pg_server.create_database(name)
    url = pg_server.url(name, password=SECRET)
    proc, banner = _collect(url)
    try:
        endpoint = banner.split("OTLP/HTTP at ", 1)[1].split()[0]
        body = traces(
            span(ROOT, "answer", {"openinference.span.kind": "CHAIN"}),
            span(
                CHILD,
                "chat gpt-4o-mini",
                {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.provider.name": "openai",
                    "gen_ai.request.model": "gpt-4o-mini",
                    "gen_ai.usage.input_tokens": 120,
                    "gen_ai.usage.output_tokens": 30,
                },
                parent=ROOT,
                kind=3,
            ),
        )
        request = urllib.request.Request(
            endpoint + "/v1/traces",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            out, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert proc.returncode == 0, err
    printed = banner + out + err
    assert SECRET not in printed
    assert "postgres:***@" in banner
    with psycopg.connect(url, connect_timeout=5) as conn:
        runs = conn.execute(
            "SELECT run_id, parent_id, run_type FROM runs WHERE trace_id = %s ORDER BY run_id",
            (TRACE,),
        ).fetchall()
        calls = conn.execute(
            "SELECT model, input_tokens, output_tokens, cost FROM llm_calls WHERE trace_id = %s",
            (TRACE,),
        ).fetchall()
    assert sorted((r[0], r[1]) for r in runs) == [(CHILD, ROOT), (ROOT, None)]
    assert [(c[0], c[1], c[2]) for c in calls] == [("gpt-4o-mini", 120, 30)]
    assert calls[0][3] is not None and calls[0][3] > 0
