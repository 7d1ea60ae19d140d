"""Machinery shared by the OpenAI and Anthropic integrations.

A patched ``create`` starts a :class:`CallTracker` (capturing the active run,
so the record lands in the right run even when a stream is consumed in another
task or thread), calls the SDK, and either finishes the tracker with the
response or, for ``stream=True``, observes the stream the SDK returned.

Streams are observed *in place*: the SDK's stream object keeps its type; its
private ``_iterator`` is wrapped by a generator that watches each event, and its
``close`` is wrapped too. The record ends exactly once — when the stream is
exhausted, fails, is closed (directly or by ``with``), is broken out of and
garbage-collected (the wrapping generator is closed), or is dropped before the
first event (a ``weakref.finalize`` on the stream).
"""

from __future__ import annotations

import functools
import logging
import threading
import weakref
from time import perf_counter
from typing import Any, Callable, Dict, List, Optional

from .._config import settings
from ..core._paragon import active
from . import budgets
from ._calls import record_llm_call

__all__ = ["CallTracker", "observe_stream", "patch", "request_params", "unpatch", "wrap_create"]

_logger = logging.getLogger("auditora")

#: Request parameters recorded (content-free, scalar); ``tools`` is reduced to names.
_PARAMS = (
    "model",
    "temperature",
    "top_p",
    "top_k",
    "max_tokens",
    "max_completion_tokens",
    "max_output_tokens",
    "stream",
    "n",
    "seed",
    "stop",
    "stop_sequences",
    "presence_penalty",
    "frequency_penalty",
    "reasoning_effort",
    "service_tier",
    "tool_choice",
    "parallel_tool_calls",
    "store",
    "truncation",
)


def field(obj: Any, name: str) -> Any:
    """``obj[name]`` or ``obj.name``: SDK responses are models, streamed events sometimes dicts."""
    if obj is None:
        return None
    if isinstance(obj, dict):
        return obj.get(name)
    return getattr(obj, name, None)


def int_or_none(value: Any) -> Any:
    """A token count, or None for anything that is not an int (bools included)."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _given(value: Any) -> bool:
    # The SDKs mark absent arguments with NotGiven / Omit sentinels.
    return value is not None and type(value).__name__ not in ("NotGiven", "Omit")


def request_params(kwargs: Dict[str, Any]) -> Dict[str, Any]:
    """The content-free request parameters worth recording."""
    out: Dict[str, Any] = {}
    for name in _PARAMS:
        value = kwargs.get(name)
        if _given(value) and isinstance(value, (str, int, float, bool, list, tuple, dict)):
            out[name] = value
    tools: Any = kwargs.get("tools")
    if _given(tools):
        names: List[Any] = []
        try:
            for tool in tools:
                if isinstance(tool, dict):
                    fn = tool.get("function")
                    names.append(
                        (fn.get("name") if isinstance(fn, dict) else tool.get("name"))
                        or tool.get("type")
                    )
        except Exception:
            pass
        out["tools"] = names
    return out


class CallTracker:
    """One SDK call in flight; :meth:`finish` records it exactly once."""

    __slots__ = (
        "_done",
        "_lock",
        "cache_write_tokens",
        "cached_tokens",
        "error",
        "extra",
        "finish_reason",
        "input",
        "input_tokens",
        "model",
        "operation",
        "output_parts",
        "output_tokens",
        "provider",
        "reasoning_tokens",
        "report",
        "request",
        "run",
        "t0",
        "ttft",
    )

    def __init__(
        self,
        provider: str,
        operation: str,
        kwargs: Dict[str, Any],
        content: Optional[Callable[[Dict[str, Any]], Any]] = None,
    ) -> None:
        run = active()
        if run is not None and budgets._budgets:
            budgets.check_budget(run.session_id)  # an exhausted budget stops the request
        self.run = run
        self.report = run.report if run is not None else None
        self.provider = provider
        self.operation = operation
        model = kwargs.get("model")
        self.model: str = model if isinstance(model, str) else "unknown"
        self.request = request_params(kwargs)
        self.input = None
        if content is not None and settings.capture_content:
            try:
                self.input = content(kwargs)
            except Exception:
                self.input = None
        self.output_parts: List[str] = []
        self.input_tokens: Optional[int] = None
        self.output_tokens: Optional[int] = None
        self.cached_tokens: Optional[int] = None
        self.cache_write_tokens: Optional[int] = None
        self.reasoning_tokens: Optional[int] = None
        self.finish_reason: Optional[str] = None
        self.error: Optional[str] = None
        self.extra: Dict[str, Any] = {}
        self.ttft: Optional[float] = None
        self._done = False
        self._lock = threading.Lock()
        self.t0 = perf_counter()

    def first_token(self) -> None:
        """Note the time to the first token (first call wins)."""
        if self.ttft is None:
            self.ttft = perf_counter() - self.t0

    def fail(self, exc: BaseException) -> None:
        """Finish as a failed call."""
        message = str(exc) or type(exc).__name__
        self.error = f"{type(exc).__name__}: {message}"[:1000]
        status = getattr(exc, "status_code", None)
        if isinstance(status, int):
            self.extra["status_code"] = status
        self.finish(success=False)

    def abandon(self) -> None:
        """Finish a stream that was closed or dropped before its end."""
        if not self._done:
            self.extra["stream_abandoned"] = True
            self.finish()

    def finish(self, success: bool = True, raise_budget: bool = False) -> None:
        """Record the call (only the first time); never raises unless ``raise_budget``."""
        with self._lock:
            if self._done:
                return
            self._done = True
        response_time = perf_counter() - self.t0
        typed: Dict[str, Any] = {
            "provider": self.provider,
            "operation": self.operation,
            "cached_tokens": self.cached_tokens,
            "reasoning_tokens": self.reasoning_tokens,
            "time_to_first_token": self.ttft,
            "finish_reason": self.finish_reason,
            "error": self.error,
            "request": self.request,
        }
        if settings.capture_content:
            typed["input"] = self.input
            typed["output"] = "".join(self.output_parts) if self.output_parts else None
        extra = dict(self.extra)
        if self.cache_write_tokens:
            extra["cache_write_tokens"] = self.cache_write_tokens
        try:
            record_llm_call(
                self.report,
                self.run,
                self.model,
                self.input_tokens,
                self.output_tokens,
                response_time,
                success,
                typed,
                extra,
            )
        except budgets.BudgetExceededError:
            if raise_budget:
                raise
        except Exception:  # never break the host
            _logger.exception("auditora: recording an LLM call failed")


def wrap_create(
    original: Callable[..., Any],
    provider: str,
    operation: str,
    on_response: Callable[[CallTracker, Any], None],
    on_event: Callable[[CallTracker, Any], None],
    content: Callable[[Dict[str, Any]], Any],
    is_async: bool,
) -> Callable[..., Any]:
    """A replacement for an SDK ``create`` method that records each call."""

    def start(kwargs: Dict[str, Any]) -> Optional[CallTracker]:
        try:
            return CallTracker(provider, operation, kwargs, content)
        except budgets.BudgetExceededError:
            raise
        except Exception:
            _logger.exception("auditora: starting to record an LLM call failed")
            return None

    def done(tracker: CallTracker, result: Any, kwargs: Dict[str, Any]) -> Any:
        if kwargs.get("stream") is True:
            try:
                return observe_stream(result, tracker, on_event, is_async)
            except Exception:
                _logger.exception("auditora: observing an LLM stream failed")
                tracker.finish()
                return result
        try:
            on_response(tracker, result)
        except Exception:
            _logger.exception("auditora: reading an LLM response failed")
        tracker.finish(raise_budget=True)
        return result

    if is_async:

        @functools.wraps(original)
        async def acreate(self: Any, *args: Any, **kwargs: Any) -> Any:
            tracker = start(kwargs)
            if tracker is None:
                return await original(self, *args, **kwargs)
            try:
                result = await original(self, *args, **kwargs)
            except BaseException as exc:
                tracker.fail(exc)
                raise
            return done(tracker, result, kwargs)

        acreate._auditora_original = original  # type: ignore[attr-defined]
        return acreate

    @functools.wraps(original)
    def create(self: Any, *args: Any, **kwargs: Any) -> Any:
        tracker = start(kwargs)
        if tracker is None:
            return original(self, *args, **kwargs)
        try:
            result = original(self, *args, **kwargs)
        except BaseException as exc:
            tracker.fail(exc)
            raise
        return done(tracker, result, kwargs)

    create._auditora_original = original  # type: ignore[attr-defined]
    return create


def _watch_sync(
    inner: Any, tracker: CallTracker, on_event: Callable[[CallTracker, Any], None]
) -> Any:
    # Must not refer to the stream object: the SDK keeps the iterator apart
    # from the stream so that a dropped stream is freed without the GC.
    try:
        for event in inner:
            try:
                on_event(tracker, event)
            except Exception:
                _logger.exception("auditora: reading an LLM stream event failed")
            yield event
    except GeneratorExit:
        tracker.abandon()
        close = getattr(inner, "close", None)
        if close is not None:
            close()
        raise
    except BaseException as exc:
        tracker.fail(exc)
        raise
    tracker.finish()


async def _watch_async(
    inner: Any, tracker: CallTracker, on_event: Callable[[CallTracker, Any], None]
) -> Any:
    try:
        async for event in inner:
            try:
                on_event(tracker, event)
            except Exception:
                _logger.exception("auditora: reading an LLM stream event failed")
            yield event
    except GeneratorExit:
        tracker.abandon()
        aclose = getattr(inner, "aclose", None)
        if aclose is not None:
            await aclose()
        raise
    except BaseException as exc:
        tracker.fail(exc)
        raise
    tracker.finish()


def observe_stream(
    stream: Any, tracker: CallTracker, on_event: Callable[[CallTracker, Any], None], is_async: bool
) -> Any:
    """Make ``stream`` (an SDK Stream/AsyncStream) record ``tracker`` when it ends.

    Anything else (a raw response from ``with_raw_response``) is recorded at
    once, without usage, and returned unchanged.
    """
    inner = getattr(stream, "_iterator", None)
    if inner is None or not callable(getattr(type(stream), "close", None)):
        tracker.finish()
        return stream
    if is_async:
        stream._iterator = _watch_async(inner, tracker, on_event)
    else:
        stream._iterator = _watch_sync(inner, tracker, on_event)
    ref = weakref.ref(stream)
    cls_close = type(stream).close
    if is_async:

        async def aclose() -> None:
            try:
                s = ref()
                if s is not None:
                    await cls_close(s)
            finally:
                tracker.abandon()

        stream.close = aclose
    else:

        def close() -> None:
            try:
                s = ref()
                if s is not None:
                    cls_close(s)
            finally:
                tracker.abandon()

        stream.close = close
    weakref.finalize(stream, tracker.abandon)
    return stream


def patch(
    owner: Any, name: str, factory: Callable[[Any], Callable[..., Any]], saved: List[Any]
) -> None:
    """Replace ``owner.name`` by ``factory(original)``; remember how to undo it.

    Does nothing when ``owner`` has no such attribute or it is already patched.
    """
    current = owner.__dict__.get(name)
    if current is None or getattr(current, "_auditora_original", None) is not None:
        return
    saved.append((owner, name, current))
    setattr(owner, name, factory(current))


def unpatch(saved: List[Any]) -> None:
    """Undo :func:`patch` calls, newest first."""
    while saved:
        owner, name, original = saved.pop()
        setattr(owner, name, original)
