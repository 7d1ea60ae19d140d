"""examples/api_service.py serves a FastAPI chat proxy through the openai SDK against the
fake LLM server; every request is a trace in its store with the model call inside."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, Iterator

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("openai")
httpx = pytest.importorskip("httpx")

from auditora.store import open_store  # noqa: E402
from fake_llm_server import OPENAI_USAGE, FakeLLMServer  # noqa: E402

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "api_service.py"
ASK = {"messages": [{"role": "user", "content": "Say hello"}]}


@pytest.fixture()
def llm() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as server:
        yield server


def test_the_api_service_example_records_each_request_with_its_model_call(
    tmp_path: Path, llm: FakeLLMServer
) -> None:
    """/chat and /chat/stream are server runs holding their LLM call (the streamed one
    too); /health is excluded; the service exits 0 on SIGINT with its records written."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "AUDITORA_"))}
    env["OPENAI_BASE_URL"] = llm.openai_base_url  # the example reads it from the environment
    service = subprocess.Popen(
        [sys.executable, str(EXAMPLE), "--port", "0", "--store", "api.db"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert service.stdout is not None
        line = service.stdout.readline()
        assert line.startswith("listening on "), line + (
            service.stderr.read() if service.stderr else ""
        )
        url = line.split()[-1]
        with httpx.Client(base_url=url, timeout=20, headers={"x-session-id": "alice"}) as client:
            assert client.post("/chat", json=ASK).json() == {"answer": "Hello from the"}
            events = client.post("/chat/stream", json=ASK).text.split("\n\n")
            assert events[-2:] == ["data: [DONE]", ""]
            assert client.get("/health").json() == {"status": "ok"}
            metrics: Dict[str, Any] = client.get("/metrics").json()
        service.send_signal(signal.SIGINT)
        out, err = service.communicate(timeout=30)
    finally:
        if service.poll() is None:
            service.kill()
            service.wait(timeout=10)
    assert service.returncode == 0, err
    assert "records written" in out
    assert metrics["http.requests[POST /chat]"] == 1
    assert metrics["http.llm_tokens[POST /chat]"] == OPENAI_USAGE["input"] + OPENAI_USAGE["output"]
    with open_store(tmp_path / "api.db") as store:
        traces = {t["root_name"]: t["trace_id"] for t in store.traces(limit=None)}
        assert set(traces) == {"POST /chat", "POST /chat/stream", "GET /metrics"}
        for name in ("POST /chat", "POST /chat/stream"):
            (root,) = store.trace_tree(traces[name])
            assert (root["run_type"], root["status"], root["session_id"]) == (
                "server",
                "ok",
                "alice",
            )
            (call,) = store.llm_calls(trace_id=traces[name], limit=None)
            assert call["input_tokens"] == OPENAI_USAGE["input"]
            assert root["attributes"]["llm.calls"] == 1
        (chat,) = store.trace_tree(traces["POST /chat"])
        assert [c["name"] for c in chat["children"]] == ["answer"]
