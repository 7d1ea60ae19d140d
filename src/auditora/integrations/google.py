"""Automatic capture of Google GenAI SDK calls (``pip install 'auditora[google]'``).

::

    from auditora.integrations import google as auditora_google

    auditora_google.instrument()      # every google.genai client, sync and async
    ...
    auditora_google.uninstrument()

After :func:`instrument`, each ``client.models.generate_content(...)`` and
``client.models.generate_content_stream(...)``, and their ``client.aio.models``
forms, made inside a sentinel or bifrost context becomes an
:class:`~auditora.records.LLMCall` in that context's report: the model version the
API answered, input tokens (``prompt_token_count``, cached ones included), output
tokens (candidates plus thoughts, as Gemini bills them), cached and reasoning
(thoughts) tokens, latency, time to the first chunk for streams, finish reason,
response id, cost, the ``config`` parameters, and the error with its HTTP code.
Calls outside any context go to the sinks only. Prompts (``contents``), system
instructions and the text answered are recorded only when ``capture_content`` is on.
A stream is recorded once, when it ends, fails or is closed.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Dict, List, Optional

from ..llm._instrument import CallTracker, observe_iterator, outermost, patch, unpatch
from ..llm._instrument import field as _get
from ..llm._instrument import int_or_none as _int

__all__ = ["instrument", "is_instrumented", "uninstrument"]

_saved: List[Any] = []
_logger_name = "auditora"


def _import() -> Any:
    try:
        from google.genai import models
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "auditora.integrations.google needs the google-genai package: "
            "pip install 'auditora[google]'"
        ) from exc
    return models


def _config(config: Any) -> Dict[str, Any]:
    """``config`` (a dict or a GenerateContentConfig) as a plain dict of the fields set."""
    if config is None:
        return {}
    if isinstance(config, dict):
        return dict(config)
    dump = getattr(config, "model_dump", None)
    if callable(dump):
        try:
            return dict(dump(exclude_none=True))
        except Exception:
            return {}
    return {}


def _tool_names(tools: Any) -> List[Any]:
    names: List[Any] = []
    for tool in tools or ():
        declarations = _get(tool, "function_declarations")
        if declarations:
            names.extend(_get(d, "name") for d in declarations)
        elif callable(tool):
            names.append(getattr(tool, "__name__", None))
    return names


def _call_kwargs(kwargs: Dict[str, Any]) -> Dict[str, Any]:
    """The call's parameters as the tracker reads them: model, then the config's fields."""
    config = _config(kwargs.get("config"))
    flat: Dict[str, Any] = {
        k: v for k, v in config.items() if k not in ("tools", "system_instruction")
    }
    flat["model"] = kwargs.get("model")
    flat["_contents"] = kwargs.get("contents")
    flat["_system"] = config.get("system_instruction")
    flat["_tools"] = config.get("tools")
    return flat


def _contents(flat: Dict[str, Any]) -> Any:
    return _plain(flat.get("_contents"))


def _system(flat: Dict[str, Any]) -> Any:
    return _plain(flat.get("_system"))


def _plain(value: Any) -> Any:
    """SDK content objects (pydantic models) as JSON-ready values."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        try:
            return dump(exclude_none=True, mode="json")
        except Exception:
            return repr(value)
    return value


def _finish_reason(candidate: Any) -> Optional[str]:
    reason = _get(candidate, "finish_reason")
    if reason is None:
        return None
    name = getattr(reason, "value", reason)  # a FinishReason enum, or a string in a dict
    return str(name)


def _text(response: Any) -> Optional[str]:
    texts: List[str] = []
    for candidate in (_get(response, "candidates") or ())[:1]:
        for part in _get(_get(candidate, "content"), "parts") or ():
            text = _get(part, "text")
            if isinstance(text, str) and not _get(part, "thought"):
                texts.append(text)
    return "".join(texts) if texts else None


def _read(tracker: CallTracker, response: Any, streamed: bool) -> None:
    """Take model, usage, finish reason, id and text from a response (or a stream chunk)."""
    model = _get(response, "model_version")
    if isinstance(model, str) and model:
        tracker.response_model = model
    response_id = _get(response, "response_id")
    if isinstance(response_id, str) and response_id:
        tracker.response_id = response_id
    usage = _get(response, "usage_metadata")
    if usage is not None:
        prompt = _int(_get(usage, "prompt_token_count"))
        candidates = _int(_get(usage, "candidates_token_count"))
        thoughts = _int(_get(usage, "thoughts_token_count"))
        if prompt is not None:
            tracker.input_tokens = prompt
        if candidates is not None or thoughts is not None:
            tracker.output_tokens = (candidates or 0) + (thoughts or 0)
        if thoughts is not None:
            tracker.reasoning_tokens = thoughts
        cached = _int(_get(usage, "cached_content_token_count"))
        if cached is not None:
            tracker.cached_tokens = cached
    candidates_list = _get(response, "candidates") or ()
    if candidates_list:
        reason = _finish_reason(candidates_list[0])
        if reason:
            tracker.finish_reason = reason
    text = _text(response)
    if text:
        if streamed:
            tracker.first_token()
        tracker.output_parts.append(text)
    feedback = _get(response, "prompt_feedback")
    block = _get(feedback, "block_reason")
    if block is not None:
        tracker.finish_reason = str(getattr(block, "value", block))


def _on_response(tracker: CallTracker, response: Any) -> None:
    _read(tracker, response, streamed=False)


def _on_chunk(tracker: CallTracker, chunk: Any) -> None:
    _read(tracker, chunk, streamed=True)


def _start(self: Any, kwargs: Dict[str, Any]) -> Optional[CallTracker]:
    import logging

    from ..llm import budgets

    flat = _call_kwargs(kwargs)
    vertex = bool(getattr(getattr(self, "_api_client", None), "vertexai", False))
    try:
        tracker = CallTracker(
            "gcp.vertex_ai" if vertex else "gcp.gemini",
            "generate_content",
            flat,
            _contents,
            _system,
        )
    except budgets.BudgetExceededError:
        raise
    except Exception:
        logging.getLogger(_logger_name).exception("auditora: starting to record an LLM call failed")
        return None
    names = _tool_names(flat.get("_tools"))
    if names:
        tracker.request["tools"] = names
    return tracker


def _finish(tracker: CallTracker, response: Any) -> None:
    try:
        _on_response(tracker, response)
    except Exception:
        import logging

        logging.getLogger(_logger_name).exception("auditora: reading an LLM response failed")
    tracker.finish(raise_budget=True)


def _wrap(original: Callable[..., Any], stream: bool, is_async: bool) -> Callable[..., Any]:
    if is_async:

        @functools.wraps(original)
        async def acall(self: Any, *args: Any, **kwargs: Any) -> Any:
            with outermost() as first:
                tracker = _start(self, kwargs) if first else None
                if tracker is None:
                    return await original(self, *args, **kwargs)
                try:
                    result = await original(self, *args, **kwargs)
                except BaseException as exc:
                    tracker.fail(exc)
                    raise
            if stream:
                return observe_iterator(result, tracker, _on_chunk, is_async=True)
            _finish(tracker, result)
            return result

        acall._auditora_original = original  # type: ignore[attr-defined]
        return acall

    @functools.wraps(original)
    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        with outermost() as first:
            tracker = _start(self, kwargs) if first else None
            if tracker is None:
                return original(self, *args, **kwargs)
            try:
                result = original(self, *args, **kwargs)
            except BaseException as exc:
                tracker.fail(exc)
                raise
        if stream:
            # The SDK's stream is a generator that sends the request on the first next().
            return observe_iterator(result, tracker, _on_chunk, is_async=False)
        _finish(tracker, result)
        return result

    call._auditora_original = original  # type: ignore[attr-defined]
    return call


def instrument() -> None:
    """Record every ``generate_content`` and ``generate_content_stream`` call, sync and async.

    Idempotent; applies to clients created before and after the call.
    """
    models = _import()
    for owner, is_async in ((models.Models, False), (models.AsyncModels, True)):
        patch(
            owner,
            "generate_content",
            functools.partial(_wrap, stream=False, is_async=is_async),
            _saved,
        )
        patch(
            owner,
            "generate_content_stream",
            functools.partial(_wrap, stream=True, is_async=is_async),
            _saved,
        )


def uninstrument() -> None:
    """Restore the SDK's own methods (no error when not instrumented)."""
    unpatch(_saved)


def is_instrumented() -> bool:
    """Whether :func:`instrument` is in effect."""
    return bool(_saved)
