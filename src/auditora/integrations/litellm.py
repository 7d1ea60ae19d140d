"""Capture of LiteLLM calls through its callback API (``pip install 'auditora[litellm]'``).

::

    from auditora.integrations import litellm as auditora_litellm

    auditora_litellm.instrument()     # adds a callback to litellm.callbacks
    ...
    auditora_litellm.uninstrument()

After :func:`instrument`, each ``litellm.completion(...)`` / ``acompletion(...)``
— streaming or not, whatever the provider — made inside a sentinel or bifrost
context becomes an :class:`~auditora.records.LLMCall` in that context's run:
provider (LiteLLM's, e.g. ``openai``, ``anthropic``), requested and answered
model, input/output/cached/cache-write/reasoning tokens (in LiteLLM's
OpenAI-style usage, where input counts include cache reads and writes), latency
and time to first token as LiteLLM measured them, finish reason, response id,
cost, request parameters, and the error (class name and HTTP status) of a
failed call. Prompts and completions only with ``capture_content`` on.

LiteLLM calls its hooks after the call, for synchronous calls in a thread of
its own; the run is captured in the pre-call hook, which runs in the caller's
context, so the record lands in the run that made the call. The cost comes from
Auditora's price table (:mod:`auditora.llm.pricing`), else from LiteLLM's own
``response_cost``. A call that another instrumentation layer (the OpenAI SDK
patch) already recorded under the same response id is not recorded twice.
Budgets are counted, but LiteLLM swallows errors raised in its hooks, so an
exhausted budget does not stop a LiteLLM request.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Dict, List, Optional

from ..llm._instrument import CallTracker
from ..llm._instrument import field as _get
from ..llm._instrument import int_or_none as _int
from ..llm.pricing import get_price

__all__ = ["instrument", "is_instrumented", "uninstrument"]

#: Calls started (pre-call hook) and not yet ended, by LiteLLM call id.
_pending: OrderedDict[str, CallTracker] = OrderedDict()
#: Call ids already recorded: LiteLLM may call both the sync and the async hook.
_ended: OrderedDict[str, None] = OrderedDict()
_MAX_PENDING = 10_000
_lock = threading.Lock()
_handler: List[Any] = []


def _import() -> Any:
    try:
        import litellm
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "auditora.integrations.litellm needs the litellm package: "
            "pip install 'auditora[litellm]'"
        ) from exc
    return litellm


def _messages(kwargs: Dict[str, Any]) -> Any:
    return kwargs.get("messages")


def _operation(call_type: Any) -> str:
    if isinstance(call_type, str) and "response" in call_type:
        return "responses"
    if isinstance(call_type, str) and "embedding" in call_type:
        return "embeddings"
    return "chat"


def _start(kwargs: Dict[str, Any], *, in_callback: bool = False) -> CallTracker:
    """A tracker for the call LiteLLM is about to make (the run is the caller's)."""
    params: Dict[str, Any] = dict(kwargs.get("optional_params") or {})
    params["model"] = kwargs.get("model")
    params["messages"] = kwargs.get("messages")
    if kwargs.get("stream") is True:
        params["stream"] = True
    provider = kwargs.get("custom_llm_provider")
    tracker = CallTracker(
        provider if isinstance(provider, str) and provider else "litellm",
        _operation(kwargs.get("call_type")),
        params,
        _messages,
        layer="litellm",
        check_budget=False,  # LiteLLM would swallow the error: see the module's docstring
    )
    if in_callback:  # no pre-call hook was seen: the start is LiteLLM's
        tracker.start_ns = None
    return tracker


def _pre_call(kwargs: Dict[str, Any]) -> None:
    call_id = kwargs.get("litellm_call_id")
    if not isinstance(call_id, str):
        return
    tracker = _start(kwargs)
    with _lock:
        _pending[call_id] = tracker
        while len(_pending) > _MAX_PENDING:  # a call whose end never came
            _pending.popitem(last=False)


def _take(kwargs: Dict[str, Any]) -> Optional[CallTracker]:
    """The call's tracker, once per call id (None when it was already recorded)."""
    call_id = kwargs.get("litellm_call_id")
    with _lock:
        if isinstance(call_id, str):
            if call_id in _ended:
                return None
            _ended[call_id] = None
            while len(_ended) > _MAX_PENDING:
                _ended.popitem(last=False)
            tracker = _pending.pop(call_id, None)
        else:
            tracker = None
    return tracker if tracker is not None else _start(kwargs, in_callback=True)


def _seconds(value: Any) -> Optional[float]:
    """A datetime or a float timestamp, as seconds since the epoch."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    timestamp = getattr(value, "timestamp", None)
    if callable(timestamp):
        try:
            return float(timestamp())
        except Exception:
            return None
    return None


def _timing(tracker: CallTracker, kwargs: Dict[str, Any], start: Any, end: Any) -> None:
    t0, t1 = _seconds(start), _seconds(end)
    if t0 is not None:
        tracker.start_ns = int(t0 * 1e9)
        if t1 is not None and t1 >= t0:
            tracker.response_time = t1 - t0
    first = _seconds(kwargs.get("completion_start_time"))
    if kwargs.get("stream") is True and t0 is not None and first is not None and first >= t0:
        tracker.ttft = first - t0


def _usage(tracker: CallTracker, usage: Any) -> None:
    if usage is None:
        return
    tracker.input_tokens = _int(_get(usage, "prompt_tokens"))
    tracker.output_tokens = _int(_get(usage, "completion_tokens"))
    prompt_details = _get(usage, "prompt_tokens_details")
    tracker.cached_tokens = _int(_get(prompt_details, "cached_tokens"))
    written = _int(_get(usage, "cache_creation_input_tokens"))
    if written is None:
        written = _int(_get(prompt_details, "cache_creation_tokens"))
    tracker.cache_write_tokens = written or None
    tracker.reasoning_tokens = _int(
        _get(_get(usage, "completion_tokens_details"), "reasoning_tokens")
    )


def _success(kwargs: Dict[str, Any], response: Any, start: Any, end: Any) -> None:
    tracker = _take(kwargs)
    if tracker is None:
        return
    _timing(tracker, kwargs, start, end)
    slo = kwargs.get("standard_logging_object") or {}
    provider = _get(slo, "custom_llm_provider")
    if isinstance(provider, str) and provider:
        tracker.provider = provider
    model = _get(response, "model")
    if isinstance(model, str) and model:
        tracker.response_model = model
    response_id = _get(response, "id")
    if isinstance(response_id, str) and response_id:
        tracker.response_id = response_id
    _usage(tracker, _get(response, "usage"))
    choices = _get(response, "choices") or []
    if choices:
        reason = _get(choices[0], "finish_reason")
        if isinstance(reason, str):
            tracker.finish_reason = reason
        content = _get(_get(choices[0], "message"), "content")
        if isinstance(content, str) and content:
            tracker.output_parts.append(content)
    litellm_cost = _get(slo, "response_cost")
    if (
        isinstance(litellm_cost, (int, float))
        and litellm_cost > 0
        and get_price(tracker.model) is None
    ):
        tracker.extra["cost_source"] = "litellm"
        tracker.cost = float(litellm_cost)
    tracker.finish()


def _failure(kwargs: Dict[str, Any], start: Any, end: Any) -> None:
    tracker = _take(kwargs)
    if tracker is None:
        return
    _timing(tracker, kwargs, start, end)
    exc = kwargs.get("exception")
    if isinstance(exc, BaseException):
        tracker.fail(exc)
        return
    info = _get(kwargs.get("standard_logging_object"), "error_information") or {}
    error_class = _get(info, "error_class")
    tracker.error_type = error_class if isinstance(error_class, str) and error_class else None
    message = _get(kwargs.get("standard_logging_object"), "error_str")
    tracker.error = str(message or tracker.error_type or "LiteLLM call failed")[:1000]
    tracker.finish(success=False)


def _make_handler() -> Any:
    from litellm.integrations.custom_logger import CustomLogger

    class AuditoraCallback(CustomLogger):
        """Records each LiteLLM call as an Auditora LLMCall (never raises into LiteLLM)."""

        # LiteLLM passes these by keyword: the parameter names are part of its API.
        def log_pre_api_call(self, model: Any, messages: Any, kwargs: Any) -> None:
            _guard(_pre_call, kwargs)

        def log_success_event(
            self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any
        ) -> None:
            _guard(_success, kwargs, response_obj, start_time, end_time)

        async def async_log_success_event(
            self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any
        ) -> None:
            _guard(_success, kwargs, response_obj, start_time, end_time)

        def log_failure_event(
            self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any
        ) -> None:
            _guard(_failure, kwargs, start_time, end_time)

        async def async_log_failure_event(
            self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any
        ) -> None:
            _guard(_failure, kwargs, start_time, end_time)

    return AuditoraCallback()


def _guard(fn: Any, kwargs: Any, *args: Any) -> None:
    if not isinstance(kwargs, dict):
        return
    try:
        fn(kwargs, *args)
    except Exception:  # a hook must not break the host
        import logging

        logging.getLogger("auditora").exception("auditora: recording a LiteLLM call failed")


#: LiteLLM copies ``callbacks`` into these lists on each call: removal must clear them all.
_CALLBACK_LISTS = (
    "callbacks",
    "input_callback",
    "success_callback",
    "failure_callback",
    "service_callback",
    "_async_input_callback",
    "_async_success_callback",
    "_async_failure_callback",
)


def instrument() -> None:
    """Add Auditora's callback to ``litellm.callbacks``. Idempotent."""
    litellm = _import()
    if _handler and _handler[0] in (litellm.callbacks or []):
        return
    handler = _handler[0] if _handler else _make_handler()
    _handler[:] = [handler]
    if isinstance(litellm.callbacks, list):
        litellm.callbacks.append(handler)
    else:
        litellm.callbacks = [handler]


def uninstrument() -> None:
    """Remove the callback (no error when not instrumented)."""
    if not _handler:
        return
    handler = _handler.pop()
    try:
        import litellm
    except ImportError:  # pragma: no cover
        return
    for name in _CALLBACK_LISTS:
        callbacks = getattr(litellm, name, None)
        if isinstance(callbacks, list):
            callbacks[:] = [cb for cb in callbacks if cb is not handler]
    with _lock:
        _pending.clear()


def is_instrumented() -> bool:
    """Whether :func:`instrument` is in effect."""
    return bool(_handler)
