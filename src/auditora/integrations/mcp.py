"""Tracing of the official MCP Python SDK, client and server (``pip install 'auditora[mcp]'``).

::

    from auditora.integrations import mcp as auditora_mcp

    auditora_mcp.instrument()      # in the client process, in the server process, or both
    ...
    auditora_mcp.uninstrument()

After :func:`instrument`, every MCP request a ``ClientSession`` sends and every
request an MCP ``Server`` (``MCPServer`` included) answers is a run, named as
the OpenTelemetry MCP conventions name spans, ``{mcp.method.name} {target}``
(``tools/call get_weather``, ``prompts/get summarize``, ``resources/read``,
``initialize``). Its attributes carry ``mcp.method.name``, ``mcp.session.id``
(when the transport has sessions: streamable HTTP; on the client from the
server's first answer on), ``mcp.protocol.version``, ``jsonrpc.request.id``
(server), ``network.transport``, ``server.address`` and ``server.port`` (HTTP client),
``gen_ai.tool.name``, ``gen_ai.prompt.name``, ``mcp.resource.uri`` and
``auditora.mcp.side`` (``client`` or ``server``).

Run types: ``tools/call`` is a ``tool`` run (exported as an ``execute_tool``
span), ``resources/read`` a ``retriever`` run, ``prompts/get`` a ``chain`` run,
anything else a ``function`` run. A tool's arguments (the run's inputs) and
result (its output) are recorded only when ``capture_content`` is on. A tool
result with ``isError: true`` ends its run with status ``error``, error type
``MCPToolError`` (the attribute ``error.type`` is ``tool_error``) and the
result's text as the message (under the content switch too); an MCP error
response ends it with the exception raised and ``rpc.response.status_code``.

A ``tools/call`` made inside an open ``tool`` run of the same tool (an agent
framework's, e.g. the OpenAI Agents SDK's function span, or a
``@sentinel(kind="tool")`` of that name) opens no second client run: that run
gets the MCP attributes, as the conventions ask.

The W3C trace context of the client run travels in the request's
``params._meta`` (``traceparent``, ``baggage``; see :mod:`auditora.propagation`):
the server run continues the client's trace, in the client's session, so both
sides form one trace even when each writes its own store. Notifications are not
recorded.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple
from urllib.parse import urlsplit

from .._config import settings
from .._serialize import captured, captured_arguments
from ..core._bifrost import bifrost_async
from ..core._paragon import active, pop, push
from ..llm._instrument import patch, unpatch
from ..propagation import extract, inject, remote_parent

__all__ = ["MCPToolError", "instrument", "is_instrumented", "uninstrument"]

_saved: List[Any] = []

#: Run type of a request by MCP method (others: ``function``).
_RUN_TYPES = {"tools/call": "tool", "resources/read": "retriever", "prompts/get": "chain"}


class MCPToolError(Exception):
    """How a tool result with ``isError: true`` is recorded (never raised to the caller)."""


def _import() -> Any:
    try:
        import mcp
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "auditora.integrations.mcp needs the mcp package: pip install 'auditora[mcp]'"
        ) from exc
    return mcp


def _get(obj: Any, name: str) -> Any:
    """A field of a pydantic model or of a wire dict (for names the two spell alike)."""
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def _plain(value: Any) -> Any:
    """A result model as its wire dict (what the peer sees), anything else as it is."""
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        try:
            return dump(by_alias=True, mode="json", exclude_none=True)
        except Exception:
            return value
    return value


def _describe(method: str, params: Any) -> Tuple[str, Dict[str, Any]]:
    """The run name and attributes of a request, from its method and params."""
    attrs: Dict[str, Any] = {"mcp.method.name": method}
    name = _get(params, "name")
    target = name if isinstance(name, str) and name else None
    if method == "tools/call" and target:
        attrs["gen_ai.operation.name"] = "execute_tool"
        attrs["gen_ai.tool.name"] = attrs["tool.name"] = target
    elif method == "prompts/get" and target:
        attrs["gen_ai.prompt.name"] = target
    else:
        target = None  # only tool and prompt names are low-cardinality targets
    uri = _get(params, "uri")
    if uri is not None:
        attrs["mcp.resource.uri"] = str(uri)
    return (f"{method} {target}" if target else method), attrs


def _tool_output(result: Any) -> Any:
    """What a tool returned: its structured content, else its content blocks."""
    plain = _plain(result)
    if not isinstance(plain, Mapping):
        return plain
    structured = plain.get("structuredContent")
    return structured if structured is not None else plain.get("content")


def _tool_error(result: Any) -> Optional[MCPToolError]:
    """The error a tool result reports (``isError: true``), or None. Its text is the
    tool's output, so it is kept only when content is captured."""
    if isinstance(result, Mapping):  # the server sees the wire dict, the client the model
        failed = result.get("isError") is True
    else:
        failed = getattr(result, "is_error", None) is True
    if not failed:
        return None
    if not settings.capture_content:
        return MCPToolError("the tool reported an error (its text is content: not captured)")
    plain = _plain(result)
    if not isinstance(plain, Mapping):
        return MCPToolError("the tool reported an error")
    texts: List[str] = [
        block["text"]
        for block in plain.get("content") or ()
        if isinstance(block, Mapping) and isinstance(block.get("text"), str)
    ]
    return MCPToolError("; ".join(texts)[:1000] or "the tool reported an error")


def _mcp_error_code(exc: BaseException) -> Optional[str]:
    code = getattr(getattr(exc, "error", None), "code", None)
    return str(code) if isinstance(code, int) else None


async def _traced(
    block: bifrost_async,
    method: str,
    params: Any,
    attrs: Dict[str, Any],
    call: Any,
    after: Optional[Callable[[], None]] = None,
) -> Any:
    """Await ``call()`` inside ``block`` (a run): attributes, content, errors;
    ``after()`` completes the attributes once the answer (or the error) is in."""
    run = await block.__aenter__()
    assert run is not None  # not disabled: the caller checked
    run.attributes = attrs
    is_tool = method == "tools/call"
    if is_tool and settings.capture_content:
        arguments = _get(params, "arguments")
        run.inputs = captured_arguments(dict(arguments)) if isinstance(arguments, Mapping) else {}
    try:
        result = await call()
    except BaseException as exc:
        code = _mcp_error_code(exc)
        if code is not None:
            attrs["rpc.response.status_code"] = code
        if after is not None:
            after()
        await block.__aexit__(type(exc), exc, exc.__traceback__)
        raise
    error = _tool_error(result) if is_tool else None
    if is_tool and settings.capture_content:
        run.output = captured(_tool_output(result))
    if error is not None:
        attrs["error.type"] = "tool_error"
    if after is not None:
        after()
    await block.__aexit__(type(error) if error else None, error, None)
    return result


# -- client ---------------------------------------------------------------------
def _traces_tool(run: Any, tool: Any) -> bool:
    """Whether ``run`` is an open tool run of the tool ``tool`` (by name)."""
    if run is None or run.run_type != "tool" or run.end_ns is not None or not tool:
        return False
    return bool((run.attributes or {}).get("gen_ai.tool.name", run.name) == tool)


def _wrap_send_request(original: Any) -> Any:
    @functools.wraps(original)
    async def send_request(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        method = getattr(request, "method", None)
        if settings.disabled or not isinstance(method, str):
            return await original(self, request, *args, **kwargs)
        params = getattr(request, "params", None)
        name, attrs = _describe(method, params)
        attrs["auditora.mcp.side"] = "client"
        version = getattr(self, "_negotiated_version", None)
        if isinstance(version, str):
            attrs["mcp.protocol.version"] = version
        # A private attribute, read with care: the write stream ties the session
        # to its HTTP transport, which knows the MCP session id (once answered).
        stream = getattr(getattr(self, "_dispatcher", None), "_write_stream", None)
        transport = _http_transports.get(id(stream)) if stream is not None else None
        after = functools.partial(_http_attributes, attrs, transport) if transport else None
        outer = active()
        if method == "tools/call" and _traces_tool(outer, attrs.get("gen_ai.tool.name")):
            # Another layer (an agent framework's tool run) traces this very call: as
            # the MCP conventions ask, it gets the MCP attributes instead of a twin run.
            result = await original(self, request, *args, **kwargs)
            if after is not None:
                after()
            outer.attributes = {**(outer.attributes or {}), **attrs}  # type: ignore[union-attr]
            return result
        block = bifrost_async(name=name, kind=_RUN_TYPES.get(method, "function"))
        # The dispatcher (patched below) puts this run's context in params._meta.
        return await _traced(
            block,
            method,
            params,
            attrs,
            lambda: original(self, request, *args, **kwargs),
            after,
        )

    send_request._auditora_original = original  # type: ignore[attr-defined]
    return send_request


#: Streamable HTTP client transports at work, by the id of the write stream they
#: serve (the one a ClientSession writes to): the session id lives on the transport.
_http_transports: Dict[int, Any] = {}


def _http_attributes(attrs: Dict[str, Any], transport: Any) -> None:
    attrs["network.transport"] = "tcp"
    attrs["network.protocol.name"] = "http"
    session_id = getattr(transport, "session_id", None)
    if isinstance(session_id, str) and session_id:
        attrs["mcp.session.id"] = session_id
    url = urlsplit(str(getattr(transport, "url", "")))
    if url.hostname:
        attrs["server.address"] = url.hostname
        try:
            port = url.port
        except ValueError:
            port = None
        if port is not None:
            attrs["server.port"] = port


def _wrap_post_writer(original: Any) -> Any:
    """Note which transport serves which write stream while its writer loop runs."""

    @functools.wraps(original)
    async def post_writer(
        self: Any, client: Any, reader: Any, writer: Any, write_stream: Any, *args: Any
    ) -> Any:
        _http_transports[id(write_stream)] = self
        try:
            return await original(self, client, reader, writer, write_stream, *args)
        finally:
            _http_transports.pop(id(write_stream), None)

    post_writer._auditora_original = original  # type: ignore[attr-defined]
    return post_writer


def _wrap_send_raw_request(original: Any) -> Any:
    """Every outbound request carries the active run's trace context in ``params._meta``."""

    @functools.wraps(original)
    async def send_raw_request(
        self: Any, method: Any, params: Any = None, *args: Any, **kwargs: Any
    ) -> Any:
        if not settings.disabled and (params is None or isinstance(params, Mapping)):
            out = dict(params or {})
            meta = out.get("_meta")
            carrier: Dict[str, Any] = dict(meta) if isinstance(meta, Mapping) else {}
            inject(carrier)
            if carrier:
                out["_meta"] = carrier
                params = out
        return await original(self, method, params, *args, **kwargs)

    send_raw_request._auditora_original = original  # type: ignore[attr-defined]
    return send_raw_request


# -- server ---------------------------------------------------------------------
async def _server_middleware(call_next: Any, ctx: Any) -> Any:
    """Outermost server middleware: one run per request, under the caller's run."""
    method = getattr(ctx, "method", None)
    request_id = getattr(ctx, "request_id", None)
    if settings.disabled or not isinstance(method, str) or request_id is None:
        return await call_next(ctx)  # notifications are not runs
    params = getattr(ctx, "params", None)
    name, attrs = _describe(method, params)
    attrs["auditora.mcp.side"] = "server"
    attrs["jsonrpc.request.id"] = str(request_id)
    version = getattr(ctx, "protocol_version", None)
    if isinstance(version, str):
        attrs["mcp.protocol.version"] = version
    connection = getattr(getattr(ctx, "session", None), "_connection", None)
    session_id = getattr(connection, "session_id", None)
    if isinstance(session_id, str) and session_id:
        attrs["mcp.session.id"] = session_id
    # A starlette request when the transport is HTTP; None over stdio (a pipe).
    attrs["network.transport"] = "tcp" if getattr(ctx, "request", None) is not None else "pipe"
    meta = getattr(ctx, "meta", None)
    remote = extract(meta) if isinstance(meta, Mapping) else None
    block = bifrost_async(
        session_id=remote.session_id if remote is not None else None,
        name=name,
        kind=_RUN_TYPES.get(method, "function"),
    )
    # The caller's run is the parent even when a run is active here (a server task
    # started inside one, in process): as the MCP conventions ask, _meta wins.
    token = push(None) if remote is not None else None
    try:
        with remote_parent(remote):
            return await _traced(block, method, params, attrs, lambda: call_next(ctx))
    finally:
        if token is not None:
            pop(token)


def _wrap_compose(original: Any) -> Any:
    @functools.wraps(original)
    def compose(self: Any, inner: Any) -> Any:
        return functools.partial(_server_middleware, original(self, inner))

    compose._auditora_original = original  # type: ignore[attr-defined]
    return compose


# -- instrumenting --------------------------------------------------------------
def instrument() -> None:
    """Trace every MCP client request and server request handler. Idempotent;
    applies to sessions and servers created before and after the call."""
    _import()
    from mcp.client.session import ClientSession
    from mcp.client.streamable_http import StreamableHTTPTransport
    from mcp.server.runner import ServerRunner
    from mcp.shared.direct_dispatcher import DirectDispatcher
    from mcp.shared.jsonrpc_dispatcher import JSONRPCDispatcher

    patch(ClientSession, "send_request", _wrap_send_request, _saved)
    patch(StreamableHTTPTransport, "post_writer", _wrap_post_writer, _saved)
    patch(JSONRPCDispatcher, "send_raw_request", _wrap_send_raw_request, _saved)
    patch(DirectDispatcher, "send_raw_request", _wrap_send_raw_request, _saved)
    # The server's middleware chain is composed per request: wrapping the
    # composition reaches servers made before instrument() as well.
    patch(ServerRunner, "_compose_server_middleware", _wrap_compose, _saved)


def uninstrument() -> None:
    """Restore the SDK's own methods (no error when not instrumented)."""
    unpatch(_saved)


def is_instrumented() -> bool:
    """Whether :func:`instrument` is in effect."""
    return bool(_saved)
