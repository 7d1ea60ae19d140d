"""MCP runs exported through the real OTelSink: span names and attributes of the MCP
semantic conventions, for an in-process client and MCPServer (the SDK's direct
dispatcher, no transport), decoded by an OTLP receiver on 127.0.0.1."""

from __future__ import annotations

from typing import Any, Dict, Iterator

import pytest

import auditora

pytest.importorskip("mcp")
pytest.importorskip("opentelemetry.sdk")
pytest.importorskip("opentelemetry.exporter.otlp.proto.http")
pytest.importorskip("opentelemetry.proto")
anyio = pytest.importorskip("anyio")

from auditora import bifrost_async  # noqa: E402
from auditora.integrations import mcp as auditora_mcp  # noqa: E402
from auditora.integrations.otel import OTelSink  # noqa: E402
from auditora.testing import capture  # noqa: E402
from otlp_receiver import Receiver, attrs, running  # noqa: E402


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from running()


def _server() -> Any:
    from mcp.server.mcpserver import MCPServer
    from mcp.server.mcpserver.exceptions import ToolError

    server = MCPServer("weather")

    @server.tool()
    def get_weather(city: str) -> str:
        """The weather in a city."""
        return f"sunny in {city}"

    @server.tool()
    def broken(city: str) -> str:
        """Always fails."""
        raise ToolError(f"no station in {city}")

    return server


async def _calls() -> Any:
    from mcp import Client

    with anyio.fail_after(10):
        async with bifrost_async(name="ask") as root, Client(_server()) as client:
            await client.call_tool("get_weather", {"city": "Lyon"})
            await client.call_tool("broken", {"city": "Atlantis"})
    return root


def test_tool_calls_are_execute_tool_spans_named_after_method_and_tool(
    receiver: Receiver,
) -> None:
    """Client and server tool runs export as spans named ``tools/call {tool}`` with
    gen_ai.operation.name execute_tool, the tool's name, arguments and result; the
    failing tool's spans are errors of type tool_error; all of them in one trace."""
    auditora.configure(console=False, capture_content=True)
    auditora_mcp.instrument()
    try:
        with capture() as records:
            root = anyio.run(_calls)
    finally:
        auditora_mcp.uninstrument()
    sink = OTelSink(endpoint=receiver.endpoint, signals=("traces",), join_otel_context=False)
    try:
        sink.export(list(records.runs))
        assert sink.flush(10.0)
    finally:
        sink.close()
    spans = [s for s in receiver.spans() if s.name.startswith("tools/call")]
    by_side: Dict[Any, Any] = {
        (s.name, attrs(s)["auditora.mcp.side"]): (s, attrs(s)) for s in spans
    }
    assert set(by_side) == {
        (f"tools/call {tool}", side)
        for tool in ("get_weather", "broken")
        for side in ("client", "server")
    }
    assert {s.trace_id.hex() for s in spans} == {root.trace_id}
    for (name, _), (span, got) in by_side.items():
        tool = name.split(" ")[1]
        assert got["gen_ai.operation.name"] == "execute_tool"
        assert got["gen_ai.tool.name"] == tool and got["mcp.method.name"] == "tools/call"
        assert "Lyon" in got["gen_ai.tool.call.arguments"] or tool == "broken"
        if tool == "broken":
            assert got["error.type"] == "tool_error" and span.status.code == 2
        else:
            assert "sunny in Lyon" in got["gen_ai.tool.call.result"]
            assert "error.type" not in got
