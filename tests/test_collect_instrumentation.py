"""The whole path with a real instrumentation package: opentelemetry-instrumentation-openai-v2
drives the real openai SDK against the fake server; its spans go through the SDK's OTLP
protobuf exporter to ``auditora collect`` (a subprocess, stopped with Ctrl+C), into the
store, and ``auditora show`` / ``auditora runs`` print the LLM call with tokens and cost."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

pytest.importorskip("opentelemetry.instrumentation.openai_v2")
pytest.importorskip("opentelemetry.exporter.otlp.proto.http")
openai = pytest.importorskip("openai")

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter  # noqa: E402
from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor  # noqa: E402
from opentelemetry.sdk.resources import Resource  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402

from auditora.cli import main  # noqa: E402
from auditora.llm import compute_cost  # noqa: E402
from auditora.store import open_store  # noqa: E402
from fake_llm_server import OPENAI_USAGE, FakeLLMServer  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def fake() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as server:
        yield server


def _start_collector(store: Path) -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "auditora", "collect", "--store", str(store), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()  # "auditora collect: OTLP/HTTP at http://127.0.0.1:PORT ..."
    if "OTLP/HTTP at " not in line:
        proc.kill()
        raise AssertionError(
            f"collector did not start: {line!r} {proc.stderr.read() if proc.stderr else ''}"
        )
    return proc, line.split("OTLP/HTTP at ", 1)[1].split()[0]


def test_openai_v2_instrumentation_through_the_collector_to_the_cli(
    tmp_path: Path, fake: FakeLLMServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """A chat completion instrumented by the official OpenTelemetry instrumentation is, in the
    store, an llm run with an LLM call carrying the fake server's tokens and the table's cost;
    the CLI shows them; Ctrl+C flushes and the collector exits 0."""
    store = tmp_path / "collected.db"
    proc, endpoint = _start_collector(store)
    instrumentor = OpenAIInstrumentor()
    try:
        provider = TracerProvider(resource=Resource.create({"service.name": "chatbot"}))
        provider.add_span_processor(
            SimpleSpanProcessor(OTLPSpanExporter(endpoint=endpoint + "/v1/traces", timeout=5))
        )
        instrumentor.instrument(tracer_provider=provider)
        client = openai.OpenAI(base_url=fake.openai_base_url, api_key="sk-test", max_retries=0)
        client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], temperature=0.3
        )
        provider.shutdown()
    finally:
        instrumentor.uninstrument()
        proc.send_signal(signal.SIGINT)
        try:
            out, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert proc.returncode == 0, err
    assert "records written" in out
    with open_store(store) as s:
        (run,) = s.runs(limit=None)
        (call,) = s.llm_calls(limit=None)
    # Priced by Auditora's table from what the instrumentation reported (this version of
    # it reports no cache reads).
    expected = compute_cost(
        call["model"], OPENAI_USAGE["input"], OPENAI_USAGE["output"], call["cached_tokens"]
    )
    assert (run["run_type"], run["attributes"]["service.name"]) == ("llm", "chatbot")
    assert (
        call["provider"],
        call["request_model"],
        call["input_tokens"],
        call["output_tokens"],
    ) == (
        "openai",
        "gpt-4o-mini",
        OPENAI_USAGE["input"],
        OPENAI_USAGE["output"],
    )
    assert call["request"]["temperature"] == 0.3
    assert expected is not None and call["cost"] == pytest.approx(expected, rel=1e-6)
    assert main(["show", str(store), run["trace_id"]]) == 0
    shown = capsys.readouterr().out
    total = OPENAI_USAGE["input"] + OPENAI_USAGE["output"]
    assert f"{total} tokens, cost ${expected:.8f}" in shown
    assert main(["show", str(store), run["run_id"]]) == 0
    shown = capsys.readouterr().out
    call_line = next(line for line in shown.splitlines() if "  gpt-4o-mini  " in line)
    assert call_line.split()[3:7] == [
        "gpt-4o-mini",
        str(OPENAI_USAGE["input"]),
        str(OPENAI_USAGE["output"]),
        f"${expected:.8f}",
    ]
    assert main(["runs", str(store)]) == 0
    listed = capsys.readouterr().out
    assert run["name"] in listed


def test_collect_refuses_a_remote_host_without_the_flag(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """--host 0.0.0.0 without --allow-remote is a usage error that says which flag to add."""
    assert main(["collect", "--store", str(tmp_path / "s.db"), "--host", "0.0.0.0"]) == 2
    assert "--allow-remote" in capsys.readouterr().err


def test_collect_warns_when_it_listens_beyond_loopback(tmp_path: Path) -> None:
    """With --allow-remote, binding another address prints a warning (and then serves)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "auditora",
            "collect",
            "--store",
            str(tmp_path / "s.db"),
            "--host",
            "0.0.0.0",
            "--port",
            "0",
            "--allow-remote",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    started = proc.stdout.readline()
    time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert "OTLP/HTTP at" in started and "warning: listening on 0.0.0.0" in err
    assert proc.returncode == 0
