"""Automatic capture of Anthropic SDK calls (``pip install 'auditora[anthropic]'``).

::

    from auditora.integrations import anthropic as auditora_anthropic

    auditora_anthropic.instrument()
    ...
    auditora_anthropic.uninstrument()

After :func:`instrument`, each ``client.messages.create(...)`` — sync or async,
``stream=True`` or not — and each ``client.messages.stream(...)`` block, made
inside a sentinel or bifrost context becomes an
:class:`~auditora.records.LLMCall`: model, tokens, latency, time to first token
for streams, stop reason, cost, request parameters, error. Input tokens are
normalized to include prompt-cache reads and writes (as the OpenTelemetry
GenAI conventions ask); ``cached_tokens`` holds the cache reads and
``cache_write_tokens`` the cache writes, each priced at its own rate.
Prompts, the ``system`` prompt (as ``system_instructions``) and completions are
recorded only when ``capture_content`` is on.
Streams end their record exactly once, even when abandoned half-way.
"""

from __future__ import annotations

import functools
from typing import Any, Dict, List

from ..llm._instrument import (
    CallTracker,
    observe_stream,
    outermost,
    patch,
    unpatch,
    wrap_create,
)
from ..llm._instrument import field as _get
from ..llm._instrument import int_or_none as _int

__all__ = ["instrument", "is_instrumented", "uninstrument"]

_saved: List[Any] = []


def _import() -> Any:
    try:
        import anthropic
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "auditora.integrations.anthropic needs the anthropic package: "
            "pip install 'auditora[anthropic]'"
        ) from exc
    return anthropic


def _content(kwargs: Dict[str, Any]) -> Any:
    return kwargs.get("messages")


def _system(kwargs: Dict[str, Any]) -> Any:
    return kwargs.get("system")  # a string or text blocks; the SDK's NotGiven is dropped


def _usage(tracker: CallTracker, usage: Any) -> None:
    if usage is None:
        return
    base = _int(_get(usage, "input_tokens"))
    read = _int(_get(usage, "cache_read_input_tokens"))
    written = _int(_get(usage, "cache_creation_input_tokens"))
    if base is not None:
        tracker.input_tokens = base + (read or 0) + (written or 0)
        tracker.cached_tokens = read
        tracker.cache_write_tokens = written
    out = _int(_get(usage, "output_tokens"))
    if out is not None:
        tracker.output_tokens = out


def _response(tracker: CallTracker, message: Any) -> None:
    model = _get(message, "model")
    if isinstance(model, str) and model:
        tracker.response_model = model
    _usage(tracker, _get(message, "usage"))
    reason = _get(message, "stop_reason")
    if reason:
        tracker.finish_reason = reason
    for block in _get(message, "content") or ():
        text = _get(block, "text")
        if _get(block, "type") == "text" and isinstance(text, str):
            tracker.output_parts.append(text)
    message_id = _get(message, "id")
    if isinstance(message_id, str) and message_id:
        tracker.response_id = message_id


def _event(tracker: CallTracker, event: Any) -> None:
    kind = _get(event, "type")
    if kind == "content_block_delta":
        tracker.first_token()
        delta = _get(event, "delta")
        text = _get(delta, "text")
        if isinstance(text, str):
            tracker.output_parts.append(text)
    elif kind == "message_start":
        _response(tracker, _get(event, "message"))
    elif kind == "message_delta":
        reason = _get(_get(event, "delta"), "stop_reason")
        if reason:
            tracker.finish_reason = reason
        usage = _get(event, "usage")
        if usage is not None:
            # Cumulative counts; input counts appear here only in newer API versions.
            if _int(_get(usage, "input_tokens")) is not None:
                _usage(tracker, usage)
            out = _int(_get(usage, "output_tokens"))
            if out is not None:
                tracker.output_tokens = out


def _wrap_stream_helper(original: Any, is_async: bool) -> Any:
    """``messages.stream(...)``: record the request its manager sends on ``with`` entry."""

    @functools.wraps(original)
    def stream(self: Any, *args: Any, **kwargs: Any) -> Any:
        manager = original(self, *args, **kwargs)
        try:
            name = next(n for n in vars(manager) if n.endswith("__api_request"))
        except (StopIteration, TypeError):  # an SDK shape we do not know: leave it alone
            return manager
        api_request = getattr(manager, name)
        params = {**kwargs, "stream": True}

        if is_async:
            # The async manager holds the request as an awaitable, not a callable.

            async def arequest() -> Any:
                with outermost() as first:
                    if not first:
                        return await (api_request() if callable(api_request) else api_request)
                    tracker = CallTracker("anthropic", "chat", params, _content, _system)
                    try:
                        raw = await (api_request() if callable(api_request) else api_request)
                    except BaseException as exc:
                        tracker.fail(exc)
                        raise
                return observe_stream(raw, tracker, _event, True)

            setattr(manager, name, arequest())
        else:

            def request() -> Any:
                with outermost() as first:
                    if not first:
                        return api_request()
                    tracker = CallTracker("anthropic", "chat", params, _content, _system)
                    try:
                        raw = api_request()
                    except BaseException as exc:
                        tracker.fail(exc)
                        raise
                return observe_stream(raw, tracker, _event, False)

            setattr(manager, name, request)
        return manager

    stream._auditora_original = original  # type: ignore[attr-defined]
    return stream


def instrument() -> None:
    """Record every Anthropic ``messages.create`` and ``messages.stream`` call. Idempotent."""
    _import()
    from anthropic.resources.messages import messages

    for owner, is_async in ((messages.Messages, False), (messages.AsyncMessages, True)):
        patch(owner, "create", functools.partial(_wrap, is_async=is_async), _saved)
        patch(owner, "stream", functools.partial(_wrap_stream_helper, is_async=is_async), _saved)


def _wrap(original: Any, is_async: bool) -> Any:
    return wrap_create(
        original, "anthropic", "chat", _response, _event, _content, is_async, system=_system
    )


def uninstrument() -> None:
    """Restore the SDK's own methods (no error when not instrumented)."""
    unpatch(_saved)


def is_instrumented() -> bool:
    """Whether :func:`instrument` is in effect."""
    return bool(_saved)
