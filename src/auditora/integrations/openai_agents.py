"""Runs from the OpenAI Agents SDK's traces (``pip install 'auditora[openai-agents]'``).

::

    from auditora.integrations import openai_agents as auditora_agents

    auditora_agents.instrument()      # adds a tracing processor (the SDK's own ones stay)
    ...
    auditora_agents.uninstrument()

:func:`instrument` adds a processor with ``agents.tracing.add_trace_processor``:
the SDK's own tracing (its exporter, other processors) keeps working. Each SDK
trace and span becomes Auditora runs and records as it happens, in the context
that runs it, so the runs nest under the run active there (a ``@sentinel``
calling ``Runner.run``) and otherwise form a trace of their own:

=================  ==================================================================
SDK span           Auditora
=================  ==================================================================
trace              a ``workflow`` run named after the trace (``Agent workflow``)
agent              an ``agent`` run named after the agent, with ``agent=`` its name
                   (as ``@sentinel(agent=...)``: runs inside inherit it)
function (tool)    a ``tool`` run named after the tool (``gen_ai.tool.name``); its
                   arguments and output only with ``capture_content`` on
handoff            an :class:`~auditora.records.AgentMessage` of kind ``handoff``
                   (``from_agent`` to ``to_agent``), as :func:`auditora.agents.handoff`
guardrail          an ``evaluator`` run; ``agents.guardrail.triggered`` says if it tripped
response,          an ``llm`` run: the model call the OpenAI integration records lands
generation         in it; without that integration the call is recorded from the span
                   (usage, model, response id), never both (see below)
=================  ==================================================================

Task and turn spans are structure only: what runs inside them nests in the
enclosing run. A span that ends with an error (a failing tool, too many turns)
ends its run with status ``error`` (error type ``AgentsSpanError``, the SDK's
message).

One model call is one record: a response or generation run in which a call was
already recorded (by ``auditora.integrations.openai``) records nothing more, and
the response id deduplicates as between the other integrations.

The SDK calls processors only while its tracing is on (not with
``set_tracing_disabled(True)``, ``RunConfig(tracing_disabled=True)`` or
``OPENAI_AGENTS_DISABLE_TRACING=1``); to keep the SDK from exporting to
OpenAI, replace its processors (``set_trace_processors([])``) before
:func:`instrument`.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any, Callable, Dict, List, Optional, Tuple

from .._config import settings
from .._serialize import captured, captured_arguments
from ..agents import handoff
from ..core._bifrost import bifrost_sync
from ..llm._instrument import CallTracker
from ..llm._instrument import field as _get
from ..llm._instrument import int_or_none as _int
from .openai import _responses_response

__all__ = ["AgentsSpanError", "instrument", "is_instrumented", "uninstrument"]

_logger = logging.getLogger("auditora")


class AgentsSpanError(Exception):
    """How an SDK span's error is recorded on its run (never raised into the SDK)."""


def _import() -> Any:
    try:
        import agents
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "auditora.integrations.openai_agents needs the openai-agents package: "
            "pip install 'auditora[openai-agents]'"
        ) from exc
    return agents


class _Open:
    """A run opened for an SDK span or trace, and the model call it may record."""

    __slots__ = ("block", "run", "tracker")

    def __init__(self, block: bifrost_sync, tracker: Optional[CallTracker] = None) -> None:
        self.block = block
        self.run = block.__enter__()
        self.tracker = tracker


def _span_error(span: Any) -> Optional[AgentsSpanError]:
    error = getattr(span, "error", None)
    if not error:
        return None
    message = _get(error, "message") or "span error"
    detail = _get(_get(error, "data"), "error")
    return AgentsSpanError(f"{message}: {detail}" if isinstance(detail, str) else str(message))


def _json_or_text(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _start(kind: str, name: str, attrs: Dict[str, Any], agent: Optional[str] = None) -> _Open:
    opened = _Open(bifrost_sync(name=name, kind=kind, agent=agent))
    if opened.run is not None:
        opened.run.attributes = attrs
    return opened


def _llm_tracker(operation: str, model: Any) -> CallTracker:
    return CallTracker(
        "openai",
        operation,
        {"model": model} if isinstance(model, str) else {},
        layer="openai-agents",
        check_budget=False,  # an error raised here would be swallowed by the SDK
    )


# -- span kinds: what opens a run, what ends it ---------------------------------
def _open_span(data: Any, kind: str) -> Optional[_Open]:
    if kind == "agent":
        name = str(getattr(data, "name", None) or "agent")
        attrs: Dict[str, Any] = {"gen_ai.agent.name": name}
        for key in ("tools", "handoffs"):
            value = getattr(data, key, None)
            if value:
                attrs[f"agents.{key}"] = list(value)
        return _start("agent", name, attrs, agent=name)
    if kind == "function":
        name = str(getattr(data, "name", None) or "tool")
        attrs = {"gen_ai.tool.name": name, "tool.name": name}
        return _start("tool", name, attrs)
    if kind == "guardrail":
        name = str(getattr(data, "name", None) or "guardrail")
        return _start("evaluator", name, {"agents.guardrail.name": name})
    if kind == "response":
        opened = _start("llm", "response", {"agents.span.type": "response"})
        opened.tracker = _llm_tracker("responses", None)
        return opened
    if kind == "generation":
        model = getattr(data, "model", None)
        name = f"generation {model}" if isinstance(model, str) and model else "generation"
        opened = _start("llm", name, {"agents.span.type": "generation"})
        opened.tracker = _llm_tracker("chat", model)
        return opened
    return None  # task, turn, custom, ...: structure, no run of their own


def _close_span(data: Any, kind: str, opened: _Open) -> None:
    run = opened.run
    if run is None:
        return
    if kind == "function" and settings.capture_content:
        arguments = _json_or_text(getattr(data, "input", None))
        if isinstance(arguments, dict):
            run.inputs = captured_arguments(dict(arguments))
        elif arguments is not None:
            run.inputs = {"input": captured(arguments)}
        output = getattr(data, "output", None)
        if output is not None:
            run.output = captured(_json_or_text(output))
        mcp = getattr(data, "mcp_data", None)
        if mcp:
            run.attributes = {**(run.attributes or {}), "agents.mcp_data": captured(mcp)}
    elif kind == "guardrail":
        triggered = bool(getattr(data, "triggered", False))
        run.attributes = {**(run.attributes or {}), "agents.guardrail.triggered": triggered}
    elif kind in ("response", "generation") and opened.tracker is not None:
        _record_call(data, kind, opened.tracker, run)


def _record_call(data: Any, kind: str, tracker: CallTracker, run: Any) -> None:
    """Record the model call from the span, unless one was recorded inside the run."""
    if kind == "response":
        response = getattr(data, "response", None)
        model = _get(response, "model")
        if isinstance(model, str) and model:
            run.name = f"response {model}"
    if (run.attributes or {}).get("llm.calls"):
        return  # the OpenAI integration recorded it: one call, one record
    if kind == "response":
        if response is None:
            return
        parts = tracker.output_parts
        _responses_response(tracker, response)
        if not settings.capture_content:
            tracker.output_parts = parts
        elif getattr(data, "input", None) is not None:
            tracker.input = data.input
    else:
        usage = getattr(data, "usage", None) or {}
        tracker.input_tokens = _int(_get(usage, "input_tokens"))
        tracker.output_tokens = _int(_get(usage, "output_tokens"))
        if settings.capture_content:
            tracker.input = getattr(data, "input", None)
            output = getattr(data, "output", None)
            if output:
                tracker.output_parts.append(json.dumps(output, default=str))
    tracker.finish()


def _handoff(data: Any) -> None:
    sender = getattr(data, "from_agent", None)
    recipient = getattr(data, "to_agent", None)
    if recipient:
        handoff(str(recipient), sender=str(sender) if sender else None, source="openai-agents")


# -- the processor ---------------------------------------------------------------
def _guard(fn: Callable[..., None], *args: Any, starts: bool = False) -> None:
    # Only starts wait for instrument(): a run already open always ends.
    if starts and (settings.disabled or not _active):
        return
    try:
        fn(*args)
    except Exception:  # a processor must not break the agent
        _logger.exception("auditora: recording an OpenAI Agents span failed")


class _State:
    """Runs opened and not yet ended, by SDK trace or span id."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.open: Dict[str, Tuple[str, _Open]] = {}

    def put(self, key: str, kind: str, opened: _Open) -> None:
        with self.lock:
            self.open[key] = (kind, opened)

    def take(self, key: str) -> Optional[Tuple[str, _Open]]:
        with self.lock:
            return self.open.pop(key, None)


_state = _State()
_active = False
_processor: List[Any] = []


def _trace_start(trace: Any) -> None:
    name = str(getattr(trace, "name", None) or "Agent workflow")
    attrs = {"agents.trace_id": str(getattr(trace, "trace_id", ""))}
    group = getattr(trace, "group_id", None)
    if group:
        attrs["agents.group_id"] = str(group)
    _state.put(str(trace.trace_id), "trace", _start("workflow", name, attrs))


def _trace_end(trace: Any) -> None:
    found = _state.take(str(trace.trace_id))
    if found is not None:
        found[1].block.__exit__(None, None, None)


def _span_start(span: Any) -> None:
    data = span.span_data
    opened = _open_span(data, getattr(data, "type", ""))
    if opened is not None:
        _state.put(str(span.span_id), data.type, opened)


def _span_end(span: Any) -> None:
    data = span.span_data
    kind = getattr(data, "type", "")
    if kind == "handoff":
        _handoff(data)
        return
    found = _state.take(str(span.span_id))
    if found is None:
        return
    _, opened = found
    try:
        _close_span(data, kind, opened)
    finally:
        error = _span_error(span)
        opened.block.__exit__(type(error) if error else None, error, None)


def _make_processor() -> Any:
    from agents.tracing import TracingProcessor

    class AuditoraTracingProcessor(TracingProcessor):
        """Turns the SDK's traces and spans into Auditora runs (never raises)."""

        def on_trace_start(self, trace: Any) -> None:
            _guard(_trace_start, trace, starts=True)

        def on_trace_end(self, trace: Any) -> None:
            _guard(_trace_end, trace)

        def on_span_start(self, span: Any) -> None:
            _guard(_span_start, span, starts=True)

        def on_span_end(self, span: Any) -> None:
            _guard(_span_end, span)

        def shutdown(self) -> None:
            pass

        def force_flush(self) -> None:
            pass

    return AuditoraTracingProcessor()


def _registered(agents: Any, processor: Any) -> bool:
    """Whether ``processor`` is still among the SDK's (``set_trace_processors`` replaces
    them all). The SDK has no public listing: when its internals differ, assume so."""
    multi = getattr(agents.tracing.get_trace_provider(), "_multi_processor", None)
    processors = getattr(multi, "_processors", None)
    return processor in processors if isinstance(processors, tuple) else True


def instrument() -> None:
    """Add Auditora's tracing processor to the SDK's. Idempotent."""
    global _active
    agents = _import()
    if not _processor:
        _processor.append(_make_processor())
    if not _registered(agents, _processor[0]):
        agents.tracing.add_trace_processor(_processor[0])
    _active = True


def uninstrument() -> None:
    """Stop recording new runs (no error when not instrumented); runs already open
    still end. The SDK has no way to remove one processor, so Auditora's stays
    registered and does nothing until the next :func:`instrument`."""
    global _active
    _active = False


def is_instrumented() -> bool:
    """Whether :func:`instrument` is in effect."""
    return _active
