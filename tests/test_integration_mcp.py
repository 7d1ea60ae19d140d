"""A real MCP client and a real MCPServer in a subprocess, both instrumented: one trace.

The server is this file run as a script (``python test_integration_mcp.py stdio|http
JSONL CAPTURE``): an ``MCPServer`` with a tool that answers, a tool that fails, a
resource and a prompt, writing its records to its own JSONL file. The client runs
in the test and captures its records in memory. Client and server talk over stdio
(a pipe) or streamable HTTP on 127.0.0.1; every step is bounded by a timeout.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import pytest

import auditora
from auditora import bifrost_async, bifrost_sync, sentinel

mcp = pytest.importorskip("mcp")
anyio = pytest.importorskip("anyio")

from auditora.integrations import mcp as auditora_mcp  # noqa: E402
from auditora.testing import capture  # noqa: E402

TIMEOUT = 20.0


# -- the server (run as a script) ---------------------------------------------
def serve(transport: str, jsonl: str, capture_content: bool, port: int = 0) -> None:
    """An instrumented MCPServer recording to ``jsonl``."""
    from mcp.server.mcpserver import MCPServer
    from mcp.server.mcpserver.exceptions import ToolError

    auditora.configure(sinks=[f"jsonl:{jsonl}"], console=False, capture_content=capture_content)
    auditora_mcp.instrument()
    server = MCPServer("weather")

    @server.tool()
    def get_weather(city: str) -> Dict[str, Any]:
        """The weather in a city."""
        return {"city": city, "sky": "sunny", "celsius": 21}

    @server.tool()
    def broken(city: str) -> str:
        """Always fails (a ToolError's message reaches the client; others are hidden)."""
        raise ToolError(f"no station in {city}")

    @server.resource("notes://today")
    def today() -> str:
        return "bring an umbrella"

    @server.prompt()
    def forecast(city: str) -> str:
        return f"What is the forecast for {city}?"

    # The server's main is a run itself: its requests must still join the callers' traces.
    with bifrost_sync(name="server main"):
        if transport == "stdio":
            server.run("stdio")
        else:
            anyio.run(lambda: server.run_streamable_http_async(host="127.0.0.1", port=port))
    auditora.flush(10.0)


# -- the client side -------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for_port(port: int, proc: subprocess.Popen) -> None:  # type: ignore[type-arg]
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the MCP server exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"the MCP server did not listen on {port}")


def _read_jsonl(path: Path) -> List[Dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def _server_runs(path: Path, expected: int) -> List[Dict[str, Any]]:
    """The server's run records, once it has written ``expected`` of them."""
    deadline = time.monotonic() + TIMEOUT
    runs: List[Dict[str, Any]] = []
    while time.monotonic() < deadline:
        runs = [
            r
            for r in _read_jsonl(path)
            if r.get("kind") == "run" and "mcp.method.name" in (r.get("attributes") or {})
        ]
        if len(runs) >= expected:
            return runs
        time.sleep(0.05)
    raise AssertionError(f"the server wrote {len(runs)} runs, expected {expected}: {runs}")


async def _session_calls(session: Any) -> Tuple[Any, Any]:
    await session.list_tools()
    ok = await session.call_tool("get_weather", {"city": "Lyon"})
    failed = await session.call_tool("broken", {"city": "Atlantis"})
    await session.read_resource("notes://today")
    await session.get_prompt("forecast", {"city": "Lyon"})
    return ok, failed


async def _client(transport: str, target: Any) -> Tuple[Any, Any, Any]:
    from mcp.client.session import ClientSession
    from mcp.client.stdio import stdio_client
    from mcp.client.streamable_http import streamable_http_client

    connect = stdio_client(target) if transport == "stdio" else streamable_http_client(target)
    with anyio.fail_after(TIMEOUT):
        async with AsyncExitStack() as stack:
            root = await stack.enter_async_context(
                bifrost_async(name="ask", session_id="mcp-session")
            )
            read, write = await stack.enter_async_context(connect)
            session = await stack.enter_async_context(ClientSession(read, write))
            await session.initialize()
            ok, failed = await _session_calls(session)
    return root, ok, failed


@pytest.fixture
def instrumented() -> Iterator[None]:
    auditora_mcp.instrument()
    yield
    auditora_mcp.uninstrument()


def _run(tmp_path: Path, transport: str, capture_content: bool) -> Tuple[Any, Any, Any, Any]:
    """Run the client against a fresh server: (client records, root, results, server runs)."""
    from mcp.client.stdio import StdioServerParameters

    auditora.configure(console=False, capture_content=capture_content)
    jsonl = tmp_path / "server.jsonl"
    args = [__file__, transport, str(jsonl), "1" if capture_content else "0"]
    proc = None
    if transport == "stdio":
        target: Any = StdioServerParameters(command=sys.executable, args=args)
    else:
        port = _free_port()
        proc = subprocess.Popen(
            [sys.executable, *args, str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        _wait_for_port(port, proc)
        target = f"http://127.0.0.1:{port}/mcp"
    try:
        with capture() as records:
            root, ok, failed = anyio.run(_client, transport, target)
        # initialize, tools/list, 2 tools/call, resources/read, prompts/get
        server_runs = _server_runs(jsonl, 6)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(TIMEOUT)
    return records, root, (ok, failed), server_runs


def _by_name(runs: List[Any]) -> Dict[str, Any]:
    get = (lambda r: r["name"]) if runs and isinstance(runs[0], dict) else (lambda r: r.name)
    return {get(r): r for r in runs}


@pytest.mark.parametrize("transport", ["stdio", "http"])
def test_client_and_server_runs_form_one_trace(
    tmp_path: Path, instrumented: None, transport: str
) -> None:
    """Every request is a client run under the caller's run and a server run under the
    client run (trace context in params._meta), named ``{method} {target}``."""
    records, root, _, server_runs = _run(tmp_path, transport, capture_content=True)
    client = _by_name([r for r in records.runs if r.attributes])
    server = _by_name(server_runs)
    names = [
        "initialize",
        "tools/list",
        "tools/call get_weather",
        "tools/call broken",
        "resources/read",
        "prompts/get forecast",
    ]
    assert set(client) == set(server) == set(names)
    for name in names:
        c, s = client[name], server[name]
        assert c.trace_id == s["trace_id"] == root.trace_id
        assert c.parent_id == root.run_id and s["parent_id"] == c.run_id
        assert s["session_id"] == "mcp-session"  # from the baggage
        assert c.attributes["mcp.method.name"] == s["attributes"]["mcp.method.name"]
        assert (c.attributes["auditora.mcp.side"], s["attributes"]["auditora.mcp.side"]) == (
            "client",
            "server",
        )
    assert [client[n].run_type for n in names] == [
        "function",
        "function",
        "tool",
        "tool",
        "retriever",
        "chain",
    ]
    assert [server[n]["run_type"] for n in names] == [client[n].run_type for n in names]
    tool = server["tools/call get_weather"]["attributes"]
    assert tool["gen_ai.tool.name"] == "get_weather" and tool["gen_ai.operation.name"] == (
        "execute_tool"
    )
    assert server["resources/read"]["attributes"]["mcp.resource.uri"] == "notes://today"
    assert server["prompts/get forecast"]["attributes"]["gen_ai.prompt.name"] == "forecast"
    expected_transport = "pipe" if transport == "stdio" else "tcp"
    assert {s["attributes"]["network.transport"] for s in server_runs} == {expected_transport}
    if transport == "http":
        # One MCP session id, on both sides: the client has it from the server's answers.
        session_ids = {s["attributes"].get("mcp.session.id") for s in server_runs}
        session_ids |= {c.attributes.get("mcp.session.id") for c in client.values()}
        assert len(session_ids) == 1 and None not in session_ids
        assert {c.attributes["server.address"] for c in client.values()} == {"127.0.0.1"}
        assert {c.attributes["network.transport"] for c in client.values()} == {"tcp"}
    else:
        assert all("mcp.session.id" not in c.attributes for c in client.values())


@pytest.mark.parametrize("transport", ["stdio"])
def test_tool_arguments_results_and_errors_are_recorded_under_the_switch(
    tmp_path: Path, instrumented: None, transport: str
) -> None:
    """With capture_content on, a tool run keeps its arguments and result on both sides;
    a result with isError=true is an error run (error type tool_error's exception)."""
    records, _, (ok, failed), server_runs = _run(tmp_path, transport, capture_content=True)
    client = _by_name(records.runs)
    server = _by_name(server_runs)
    assert ok.is_error is False and failed.is_error is True  # the caller's results unchanged
    good, bad = client["tools/call get_weather"], client["tools/call broken"]
    assert good.status == "ok" and good.inputs == {"city": "Lyon"}
    # The tool's structured content (MCPServer wraps a dict return under "result").
    assert good.output == {"result": {"city": "Lyon", "sky": "sunny", "celsius": 21}}
    assert bad.status == "error" and bad.error_type == "MCPToolError"
    assert "no station in Atlantis" in bad.error_message
    assert bad.attributes["error.type"] == "tool_error"
    s_good, s_bad = server["tools/call get_weather"], server["tools/call broken"]
    assert s_good["inputs"] == {"city": "Lyon"} and s_good["output"] == good.output
    assert s_bad["status"] == "error" and "no station in Atlantis" in s_bad["error_message"]
    assert s_bad["attributes"]["error.type"] == "tool_error"
    assert {s["status"] for s in server_runs if s["name"] != "tools/call broken"} == {"ok"}


def test_no_content_is_recorded_without_the_switch(tmp_path: Path, instrumented: None) -> None:
    """With capture_content off, tool runs keep names and status but no arguments or result."""
    records, _, _, server_runs = _run(tmp_path, "stdio", capture_content=False)
    tools = [r for r in records.runs if r.run_type == "tool"]
    server_tools = [r for r in server_runs if r["run_type"] == "tool"]
    assert len(tools) == len(server_tools) == 2
    assert all(r.inputs is None and r.output is None for r in tools)
    assert all(r["inputs"] is None and r["output"] is None for r in server_tools)
    assert "Atlantis" not in json.dumps(server_runs) + repr([r.to_dict() for r in records.runs])
    assert {r.status for r in tools} == {"ok", "error"}


def test_disabled_records_nothing_and_changes_no_request(tmp_path: Path) -> None:
    """With Auditora disabled the instrumented client sends no trace context and records nothing."""
    auditora_mcp.instrument()
    try:
        auditora.configure(disabled=True)
        jsonl = tmp_path / "server.jsonl"
        from mcp.client.stdio import StdioServerParameters

        target = StdioServerParameters(
            command=sys.executable, args=[__file__, "stdio", str(jsonl), "0"]
        )
        with capture() as records:
            _, ok, _ = anyio.run(_client, "stdio", target)
        assert ok.is_error is False
        assert records.runs == []
        runs = _server_runs(jsonl, 6)
        # No context arrived: every request ran under the server's own main run.
        assert len({r["trace_id"] for r in runs}) == 1
        assert len({r["parent_id"] for r in runs}) == 1 and runs[0]["parent_id"] is not None
    finally:
        auditora_mcp.uninstrument()


def test_an_error_response_fails_the_client_and_the_server_run(instrumented: None) -> None:
    """In process (mcp.Client on an MCPServer): an unknown prompt fails the server run with
    the handler's exception and the client run with MCPError and the JSON-RPC code; the
    caller still gets the SDK's exception."""
    from mcp import Client
    from mcp.server.mcpserver import MCPServer
    from mcp.shared.exceptions import MCPError

    async def main() -> None:
        with anyio.fail_after(TIMEOUT):
            async with Client(MCPServer("empty")) as client:
                with pytest.raises(MCPError):
                    await client.get_prompt("nope", {})

    auditora.configure(console=False)
    with capture() as records:
        anyio.run(main)
    runs = {
        r.attributes["auditora.mcp.side"]: r for r in records.runs if r.name == "prompts/get nope"
    }
    assert (runs["server"].status, runs["server"].error_type) == ("error", "ValueError")
    assert (runs["client"].status, runs["client"].error_type) == ("error", "MCPError")
    assert runs["client"].attributes["rpc.response.status_code"] == "-32603"
    assert runs["server"].parent_id == runs["client"].run_id


def test_a_tool_run_of_another_layer_gets_the_mcp_attributes_instead_of_a_twin(
    instrumented: None,
) -> None:
    """A tools/call inside an open tool run of that tool (as an agent framework makes)
    adds its MCP attributes to that run; the server run is its child."""
    from mcp import Client
    from mcp.server.mcpserver import MCPServer

    server = MCPServer("echo")

    @server.tool()
    def echo(text: str) -> str:
        return text

    @sentinel(kind="tool", name="echo")
    async def echo_tool(client: Any, text: str) -> Any:
        return await client.call_tool("echo", {"text": text})

    async def main() -> None:
        with anyio.fail_after(TIMEOUT):
            async with Client(server) as client:
                await echo_tool(client, "hi")
                await client.call_tool("echo", {"text": "direct"})  # no outer run: its own

    auditora.configure(console=False)
    with capture() as records:
        anyio.run(main)
    tools = [r for r in records.runs if r.run_type == "tool"]
    outer = next(r for r in tools if r.name == "echo")
    assert outer.attributes["mcp.method.name"] == "tools/call"
    assert outer.attributes["auditora.mcp.side"] == "client"
    sides = sorted(
        (r.attributes["auditora.mcp.side"], r.parent_id == outer.run_id)
        for r in tools
        if r.name == "tools/call echo"
    )
    # the direct call's client run, and two server runs (one under the sentinel's run)
    assert sides == [("client", False), ("server", False), ("server", True)]


def test_instrument_is_idempotent_and_uninstrument_restores() -> None:
    """instrument() twice patches once; uninstrument() puts the SDK's methods back."""
    from mcp.client.session import ClientSession
    from mcp.server.runner import ServerRunner

    original = ClientSession.send_request, ServerRunner._compose_server_middleware
    auditora_mcp.instrument()
    auditora_mcp.instrument()
    try:
        assert auditora_mcp.is_instrumented()
        assert ClientSession.send_request is not original[0]
        assert ClientSession.send_request._auditora_original is original[0]  # type: ignore[attr-defined]
    finally:
        auditora_mcp.uninstrument()
    assert not auditora_mcp.is_instrumented()
    assert (ClientSession.send_request, ServerRunner._compose_server_middleware) == original


if __name__ == "__main__":
    serve(sys.argv[1], sys.argv[2], sys.argv[3] == "1", *map(int, sys.argv[4:5]))
