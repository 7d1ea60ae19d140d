"""Machinery shared by the OpenAI, Anthropic and LiteLLM integrations.

A patched ``create`` starts a :class:`CallTracker` (capturing the active run,
so the record lands in the right run even when a stream is consumed in another
task or thread), calls the SDK, and either finishes the tracker with the
response or, for ``stream=True``, observes the stream the SDK returned. A raw
response (``with_raw_response`` / ``with_streaming_response``) is read when its
body is: at once when the SDK already read it, else when ``read()`` or
``parse()`` does (see :func:`observe_raw`).

One LLM call is one record even when instrumentation layers stack: a patched
method called while another patched method is running in the same context
records nothing (the outer one records), and a call whose response id was
already recorded by another layer (the SDK patch under LiteLLM's callback, say)
is not recorded twice (see :func:`CallTracker.finish`).

Streams are observed *in place*: the SDK's stream object keeps its type; its
private ``_iterator`` is wrapped by a generator that watches each event, and its
``close`` is wrapped too. The record ends exactly once — when the stream is
exhausted, fails, is closed (directly or by ``with``), is broken out of and
garbage-collected (the wrapping generator is closed), or is dropped before the
first event (a ``weakref.finalize`` on the stream).
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
import threading
import weakref
from collections import OrderedDict
from contextvars import ContextVar
from time import monotonic, perf_counter, time_ns
from typing import Any, Callable, Dict, List, Optional, Tuple

from .._config import settings
from ..core._paragon import active
from . import budgets
from ._calls import record_llm_call

__all__ = [
    "CallTracker",
    "observe_raw",
    "observe_stream",
    "outermost",
    "patch",
    "request_params",
    "unpatch",
    "wrap_create",
]

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


#: True while a patched SDK method runs in this context: a patched method it calls
#: (a wrapper layer around ``create``, ``parse`` built on ``create``) records nothing.
_inside: ContextVar[bool] = ContextVar("auditora_llm_call", default=False)

#: Response ids recorded lately, with the layer that recorded them, to drop the
#: second record when two layers see one call.
_DEDUP_SIZE = 4096
_DEDUP_SECONDS = 600.0
_recent: OrderedDict[str, Tuple[str, float]] = OrderedDict()
_recent_lock = threading.Lock()


def forget_recent() -> None:
    """Forget the response ids recorded lately (``testing.reset``): a test's fake server
    reusing an id must not have its call dropped as another layer's duplicate."""
    with _recent_lock:
        _recent.clear()


def _duplicate(response_id: Any, layer: str) -> bool:
    """Whether another layer already recorded ``response_id``; notes it otherwise."""
    if not isinstance(response_id, str) or not response_id:
        return False
    now = monotonic()
    with _recent_lock:
        seen = _recent.get(response_id)
        if seen is not None and seen[0] != layer and now - seen[1] < _DEDUP_SECONDS:
            return True
        # The same layer seeing an id again is a new call (servers with constant ids).
        _recent[response_id] = (layer, now)
        _recent.move_to_end(response_id)
        while len(_recent) > _DEDUP_SIZE:
            _recent.popitem(last=False)
    return False


class outermost:
    """``with outermost() as first:`` — ``first`` is False inside another patched call."""

    __slots__ = ("_token", "first")

    def __enter__(self) -> bool:
        self.first = not _inside.get()
        self._token = _inside.set(True) if self.first else None
        return self.first

    def __exit__(self, *exc: Any) -> None:
        if self._token is not None:
            _inside.reset(self._token)


class CallTracker:
    """One SDK call in flight; :meth:`finish` records it exactly once."""

    __slots__ = (
        "_done",
        "_lock",
        "cache_write_tokens",
        "cached_tokens",
        "cost",
        "error",
        "error_type",
        "extra",
        "finish_reason",
        "input",
        "input_tokens",
        "layer",
        "operation",
        "output_parts",
        "output_tokens",
        "provider",
        "reasoning_tokens",
        "report",
        "request",
        "request_model",
        "response_id",
        "response_model",
        "response_time",
        "run",
        "start_ns",
        "system_instructions",
        "t0",
        "ttft",
    )

    def __init__(
        self,
        provider: str,
        operation: str,
        kwargs: Dict[str, Any],
        content: Optional[Callable[[Dict[str, Any]], Any]] = None,
        system: Optional[Callable[[Dict[str, Any]], Any]] = None,
        layer: str = "sdk",
        check_budget: bool = True,
    ) -> None:
        run = active()
        if check_budget and run is not None and budgets._budgets:
            budgets.check_budget(run.session_id)  # an exhausted budget stops the request
        self.run = run
        self.report = run.report if run is not None else None
        self.provider = provider
        self.operation = operation
        self.layer = layer
        model = kwargs.get("model")
        self.request_model: Optional[str] = model if isinstance(model, str) and model else None
        self.response_model: Optional[str] = None
        self.response_id: Optional[str] = None
        self.request = request_params(kwargs)
        self.input = None
        self.system_instructions = None
        if settings.capture_content:
            self.input = _read_content(content, kwargs)
            self.system_instructions = _read_content(system, kwargs)
        self.output_parts: List[str] = []
        self.input_tokens: Optional[int] = None
        self.output_tokens: Optional[int] = None
        self.cached_tokens: Optional[int] = None
        self.cache_write_tokens: Optional[int] = None
        self.reasoning_tokens: Optional[int] = None
        self.finish_reason: Optional[str] = None
        self.error: Optional[str] = None
        self.error_type: Optional[str] = None
        self.extra: Dict[str, Any] = {}
        self.ttft: Optional[float] = None
        #: Set by a layer that knows the call's own duration and cost (LiteLLM's
        #: callback); None: measured here, priced from the price table.
        self.response_time: Optional[float] = None
        self.cost: Optional[float] = None
        self._done = False
        self._lock = threading.Lock()
        self.start_ns: Optional[int] = time_ns()
        self.t0 = perf_counter()

    @property
    def model(self) -> str:
        """The response's model when known, else the requested one."""
        return self.response_model or self.request_model or "unknown"

    def first_token(self) -> None:
        """Note the time to the first token (first call wins)."""
        if self.ttft is None:
            self.ttft = perf_counter() - self.t0

    def fail(self, exc: BaseException) -> None:
        """Finish as a failed call."""
        message = str(exc) or type(exc).__name__
        self.error = f"{type(exc).__name__}: {message}"[:1000]
        self.error_type = type(exc).__name__
        status = getattr(exc, "status_code", None)
        if not isinstance(status, int):
            status = getattr(exc, "code", None)  # google-genai's APIError names it code
        if isinstance(status, int) and not isinstance(status, bool):
            self.extra["status_code"] = status
        self.finish(success=False)

    def abandon(self) -> None:
        """Finish a stream that was closed or dropped before its end."""
        if not self._done:
            self.extra["stream_abandoned"] = True
            self.finish()

    def finish(self, success: bool = True, raise_budget: bool = False) -> None:
        """Record the call (only the first time); never raises unless ``raise_budget``.

        Nothing is recorded when another layer already recorded this response id.
        """
        with self._lock:
            if self._done:
                return
            self._done = True
        response_time = self.response_time
        if response_time is None:
            response_time = perf_counter() - self.t0
        if _duplicate(self.response_id, self.layer):
            return
        typed: Dict[str, Any] = {
            "provider": self.provider,
            "operation": self.operation,
            "cached_tokens": self.cached_tokens,
            "cache_write_tokens": self.cache_write_tokens,
            "reasoning_tokens": self.reasoning_tokens,
            "time_to_first_token": self.ttft,
            "finish_reason": self.finish_reason,
            "error": self.error,
            "error_type": self.error_type,
            "cost": self.cost,
            "request": self.request,
            "request_model": self.request_model,
            "response_model": self.response_model,
            "response_id": self.response_id,
            "start_ns": self.start_ns,
        }
        if settings.capture_content:
            typed["input"] = self.input
            typed["output"] = "".join(self.output_parts) if self.output_parts else None
            typed["system_instructions"] = self.system_instructions
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
                dict(self.extra),
            )
        except budgets.BudgetExceededError:
            if raise_budget:
                raise
        except Exception:  # never break the host
            _logger.exception("auditora: recording an LLM call failed")


def _read_content(reader: Optional[Callable[[Dict[str, Any]], Any]], kwargs: Dict[str, Any]) -> Any:
    if reader is None:
        return None
    try:
        value = reader(kwargs)
    except Exception:
        return None
    return value if _given(value) else None


def _is_raw(result: Any) -> bool:
    # with_raw_response / with_streaming_response give an APIResponse (or the
    # legacy one) that wraps the HTTP response instead of the parsed model.
    return hasattr(result, "http_response") and callable(getattr(result, "parse", None))


def wrap_create(
    original: Callable[..., Any],
    provider: str,
    operation: str,
    on_response: Callable[[CallTracker, Any], None],
    on_event: Callable[[CallTracker, Any], None],
    content: Callable[[Dict[str, Any]], Any],
    is_async: bool,
    system: Optional[Callable[[Dict[str, Any]], Any]] = None,
) -> Callable[..., Any]:
    """A replacement for an SDK ``create`` method that records each call."""

    def start(kwargs: Dict[str, Any]) -> Optional[CallTracker]:
        try:
            return CallTracker(provider, operation, kwargs, content, system)
        except budgets.BudgetExceededError:
            raise
        except Exception:
            _logger.exception("auditora: starting to record an LLM call failed")
            return None

    def done(tracker: CallTracker, result: Any, kwargs: Dict[str, Any]) -> Any:
        streaming = kwargs.get("stream") is True
        try:
            if _is_raw(result):
                return observe_raw(result, tracker, on_response, on_event, is_async, streaming)
            if streaming:
                return observe_stream(result, tracker, on_event, is_async)
        except budgets.BudgetExceededError:
            raise
        except Exception:
            _logger.exception("auditora: observing an LLM response failed")
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
            with outermost() as first:
                tracker = start(kwargs) if first else None
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
        with outermost() as first:
            tracker = start(kwargs) if first else None
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


def observe_iterator(
    inner: Any, tracker: CallTracker, on_event: Callable[[CallTracker, Any], None], is_async: bool
) -> Any:
    """A generator yielding ``inner``'s items that records ``tracker`` when it ends, fails
    or is closed early (for SDKs whose streams are plain iterators, like google-genai's)."""
    if is_async:
        return _watch_async(inner, tracker, on_event)
    return _watch_sync(inner, tracker, on_event)


def observe_stream(
    stream: Any, tracker: CallTracker, on_event: Callable[[CallTracker, Any], None], is_async: bool
) -> Any:
    """Make ``stream`` (an SDK Stream/AsyncStream) record ``tracker`` when it ends.

    Anything else is recorded at once, without usage, and returned unchanged.
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


def _body(http: Any) -> Optional[bytes]:
    """The HTTP response's body when it has been read, else None."""
    try:
        content = http.content  # httpx raises ResponseNotRead before the body is read
    except Exception:
        return None
    return bytes(content) if isinstance(content, (bytes, bytearray)) else None


def _from_body(
    tracker: CallTracker, on_response: Callable[[CallTracker, Any], None], body: Any
) -> None:
    try:
        data = json.loads(body) if isinstance(body, (bytes, bytearray, str)) and body else None
    except ValueError:
        data = None
    if isinstance(data, dict):
        try:
            on_response(tracker, data)
        except Exception:
            _logger.exception("auditora: reading an LLM response failed")


def observe_raw(
    raw: Any,
    tracker: CallTracker,
    on_response: Callable[[CallTracker, Any], None],
    on_event: Callable[[CallTracker, Any], None],
    is_async: bool,
    streaming: bool,
) -> Any:
    """Record a ``with_raw_response`` / ``with_streaming_response`` call, with usage.

    The raw object is returned unchanged in type; some of its methods are
    wrapped on the instance:

    * a JSON body the SDK already read (``with_raw_response``) is read at once;
    * an unread JSON body (``with_streaming_response``) when ``read()`` reads it
      (``parse()``, ``json()`` and ``text()`` go through ``read()``);
    * a server-sent-event body (``stream=True``): the stream ``parse()`` returns
      is observed like a plain stream;
    * a body never read that way (``iter_lines()``, say) ends the record without
      usage, marked abandoned, when the raw response is closed or collected.
    """
    if not streaming:
        body = _body(getattr(raw, "http_response", None))
        if body is not None:
            _from_body(tracker, on_response, body)
            tracker.finish(raise_budget=True)
            return raw
    # Whether the body went to a watched stream (which then owns the record).
    handed: List[bool] = [False]

    def dropped(tracker: CallTracker = tracker, handed: List[bool] = handed) -> None:
        if not handed[0]:
            tracker.abandon()

    # The wrappers hold the raw object, as bound methods would: one dropped unread
    # is abandoned when the garbage collector frees that cycle.
    finalizer = weakref.finalize(raw, dropped)

    def hand_over(stream: Any) -> None:
        if not handed[0] and not tracker._done:
            handed[0] = True
            finalizer.detach()
            try:
                observe_stream(stream, tracker, on_event, is_async)  # watched in place
            except Exception:
                _logger.exception("auditora: observing an LLM stream failed")
                tracker.finish()

    def got_body(body: Any) -> None:
        if not tracker._done:
            _from_body(tracker, on_response, body)
            tracker.finish()

    after: Callable[[Any], None]
    if streaming:
        name, after = "parse", hand_over
    else:
        # parse(), json() and text() read the body through read().
        name, after = "read", got_body
    original = getattr(raw, name, None)
    if inspect.iscoroutinefunction(original):

        async def awrapped(*args: Any, **kwargs: Any) -> Any:
            try:
                result = await original(*args, **kwargs)
            except BaseException as exc:
                tracker.fail(exc)
                raise
            after(result)
            return result

        setattr(raw, name, awrapped)
    elif callable(original):

        def wrapped(*args: Any, **kwargs: Any) -> Any:
            try:
                result = original(*args, **kwargs)
            except BaseException as exc:
                tracker.fail(exc)
                raise
            after(result)
            return result

        setattr(raw, name, wrapped)

    close = getattr(raw, "close", None)
    if inspect.iscoroutinefunction(close):

        async def aclose(*args: Any, **kwargs: Any) -> Any:
            try:
                return await close(*args, **kwargs)
            finally:
                tracker.abandon()

        raw.close = aclose
    elif callable(close):

        def sclose(*args: Any, **kwargs: Any) -> Any:
            try:
                return close(*args, **kwargs)
            finally:
                tracker.abandon()

        raw.close = sclose
    return raw


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
