"""Automatic capture of OpenAI SDK calls (``pip install 'auditora[openai]'``).

::

    from auditora.integrations import openai as auditora_openai

    auditora_openai.instrument()      # every client, sync and async
    ...
    auditora_openai.uninstrument()    # back to the SDK's own methods

After :func:`instrument`, each ``client.chat.completions.create(...)`` and
``client.responses.create(...)`` — sync or async, streaming or not — and their
structured-output variants ``chat.completions.parse`` and ``responses.parse``, made
inside a sentinel or bifrost context becomes an
:class:`~auditora.records.LLMCall` in that context's report: model (as the API
answered it), input/output/cached/reasoning tokens, latency, time to first
token for streams, finish reason, cost, request parameters, and the error
(with its HTTP status) for a failed call. Calls outside any context go to the
sinks only. Prompts and completions are recorded only when
``capture_content`` is on.

Streams keep their SDK type; the record is written when the stream ends, fails,
is closed, or is abandoned and garbage-collected — exactly once. Chat
completion streams carry token usage only when requested with
``stream_options={"include_usage": True}``; without it, their tokens and cost
are None.
"""

from __future__ import annotations

import functools
from typing import Any, Dict, List

from ..llm._instrument import CallTracker, patch, unpatch, wrap_create
from ..llm._instrument import field as _get
from ..llm._instrument import int_or_none as _int

__all__ = ["instrument", "is_instrumented", "uninstrument"]

_saved: List[Any] = []


def _import() -> Any:
    try:
        import openai
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "auditora.integrations.openai needs the openai package: pip install 'auditora[openai]'"
        ) from exc
    return openai


# -- chat completions ----------------------------------------------------------
def _chat_content(kwargs: Dict[str, Any]) -> Any:
    return kwargs.get("messages")


def _chat_usage(tracker: CallTracker, usage: Any) -> None:
    if usage is None:
        return
    tracker.input_tokens = _int(_get(usage, "prompt_tokens"))
    tracker.output_tokens = _int(_get(usage, "completion_tokens"))
    tracker.cached_tokens = _int(_get(_get(usage, "prompt_tokens_details"), "cached_tokens"))
    tracker.reasoning_tokens = _int(
        _get(_get(usage, "completion_tokens_details"), "reasoning_tokens")
    )


def _model(tracker: CallTracker, response: Any) -> None:
    model = _get(response, "model")
    if isinstance(model, str) and model:
        tracker.response_model = model


def _response_id(tracker: CallTracker, response: Any) -> None:
    response_id = _get(response, "id")
    if isinstance(response_id, str) and response_id:
        tracker.response_id = response_id


def _chat_response(tracker: CallTracker, response: Any) -> None:
    _model(tracker, response)
    _chat_usage(tracker, _get(response, "usage"))
    choices = _get(response, "choices") or []
    if choices:
        tracker.finish_reason = _get(choices[0], "finish_reason")
        content = _get(_get(choices[0], "message"), "content")
        if isinstance(content, str):
            tracker.output_parts.append(content)
    _response_id(tracker, response)


def _chat_event(tracker: CallTracker, chunk: Any) -> None:
    _model(tracker, chunk)
    if tracker.response_id is None:
        _response_id(tracker, chunk)
    for choice in _get(chunk, "choices") or ():
        delta = _get(choice, "delta")
        content = _get(delta, "content")
        if content or _get(delta, "tool_calls"):
            tracker.first_token()
        if isinstance(content, str) and _get(choice, "index") in (0, None):
            tracker.output_parts.append(content)
        reason = _get(choice, "finish_reason")
        if reason:
            tracker.finish_reason = reason
    usage = _get(chunk, "usage")
    if usage is not None:
        _chat_usage(tracker, usage)


# -- responses -----------------------------------------------------------------
def _responses_content(kwargs: Dict[str, Any]) -> Any:
    return kwargs.get("input")


def _responses_system(kwargs: Dict[str, Any]) -> Any:
    return kwargs.get("instructions")


def _output_text(response: Any) -> Any:
    if not isinstance(response, dict):  # the SDK's model computes it
        try:
            return response.output_text
        except Exception:
            return None
    # A body read as JSON (raw responses): the same concatenation.
    texts = [
        part.get("text")
        for item in response.get("output") or ()
        if isinstance(item, dict) and item.get("type") == "message"
        for part in item.get("content") or ()
        if isinstance(part, dict) and part.get("type") == "output_text"
    ]
    return "".join(t for t in texts if isinstance(t, str))


def _responses_response(tracker: CallTracker, response: Any) -> None:
    _model(tracker, response)
    usage = _get(response, "usage")
    if usage is not None:
        tracker.input_tokens = _int(_get(usage, "input_tokens"))
        tracker.output_tokens = _int(_get(usage, "output_tokens"))
        tracker.cached_tokens = _int(_get(_get(usage, "input_tokens_details"), "cached_tokens"))
        tracker.reasoning_tokens = _int(
            _get(_get(usage, "output_tokens_details"), "reasoning_tokens")
        )
    status = _get(response, "status")
    reason = _get(_get(response, "incomplete_details"), "reason")
    tracker.finish_reason = reason or status
    if not tracker.output_parts:
        text = _output_text(response)
        if isinstance(text, str) and text:
            tracker.output_parts.append(text)
    _response_id(tracker, response)
    error = _get(response, "error")
    if status == "failed" and error is not None:
        tracker.error = str(_get(error, "message") or error)
        code = _get(error, "code")
        tracker.error_type = code if isinstance(code, str) and code else "response.failed"


def _responses_event(tracker: CallTracker, event: Any) -> None:
    kind = _get(event, "type")
    if kind == "response.output_text.delta":
        tracker.first_token()
        delta = _get(event, "delta")
        if isinstance(delta, str):
            tracker.output_parts.append(delta)
    elif kind in ("response.function_call_arguments.delta", "response.refusal.delta"):
        tracker.first_token()
    elif kind in ("response.completed", "response.incomplete", "response.failed"):
        parts = tracker.output_parts
        _responses_response(tracker, _get(event, "response"))
        tracker.output_parts = parts
    elif kind == "response.created":
        _model(tracker, _get(event, "response"))
        _response_id(tracker, _get(event, "response"))
    elif kind == "error":
        tracker.error = str(_get(event, "message") or "stream error")
        code = _get(event, "code")
        tracker.error_type = code if isinstance(code, str) and code else "error"


# -- instrumenting ----------------------------------------------------------------
def _targets(openai: Any) -> List[Any]:
    from openai.resources.chat.completions import completions as chat
    from openai.resources.responses import responses

    return [
        (chat.Completions, "chat", _chat_response, _chat_event, _chat_content, None, False),
        (chat.AsyncCompletions, "chat", _chat_response, _chat_event, _chat_content, None, True),
        (
            responses.Responses,
            "responses",
            _responses_response,
            _responses_event,
            _responses_content,
            _responses_system,
            False,
        ),
        (
            responses.AsyncResponses,
            "responses",
            _responses_response,
            _responses_event,
            _responses_content,
            _responses_system,
            True,
        ),
    ]


def instrument() -> None:
    """Record every OpenAI ``chat.completions.create/parse`` and ``responses.create/parse`` call.

    Idempotent; applies to clients created before and after the call.
    """
    openai = _import()
    for owner, operation, on_response, on_event, content, system, is_async in _targets(openai):
        factory = functools.partial(
            _wrap,
            operation=operation,
            on_response=on_response,
            on_event=on_event,
            content=content,
            is_async=is_async,
            system=system,
        )
        # parse() (structured outputs) posts by itself rather than through create().
        for method in ("create", "parse"):
            patch(owner, method, factory, _saved)


def _wrap(original: Any, **kwargs: Any) -> Any:
    return wrap_create(original, "openai", **kwargs)


def uninstrument() -> None:
    """Restore the SDK's own methods (no error when not instrumented)."""
    unpatch(_saved)


def is_instrumented() -> bool:
    """Whether :func:`instrument` is in effect."""
    return bool(_saved)
