"""Carrying one trace across processes and services: W3C trace context.

A run's ids are W3C-compatible (``trace_id``: 32 hex digits, ``run_id``: a
16-hex-digit span id), so crossing a process or network boundary is a matter of
writing them into a carrier on one side and reading them back on the other:

* :func:`inject` writes ``traceparent`` (and the session id in ``baggage``) for
  the active run into any mutable mapping: HTTP headers, a message's
  properties, a dict handed to a child process. :func:`headers` returns a fresh
  dict.
* :func:`extract` reads them back into a :class:`TraceContext`.
* :func:`remote_parent` makes every *root* run (a sentinel or bifrost run with
  no enclosing run) started inside the ``with`` block a child of that remote
  span; :func:`continue_trace` also opens a run there, in the caller's session.
* :func:`carry` wraps a function for ``multiprocessing`` or a
  ``ProcessPoolExecutor`` so the work done in the worker joins the submitting
  run's trace.

The hook that lets a root run find its remote parent
(``auditora.core._runs.remote_parent_hook``) is shared: this module installs
one function there that first looks at :func:`remote_parent` and then asks each
registered provider (:func:`add_parent_provider`), which is how the
OpenTelemetry integration lets a run join an active OpenTelemetry span.

Standard library only.
"""

from __future__ import annotations

import contextvars
import functools
import logging
import re
import sys
import threading
from contextlib import contextmanager
from typing import (
    Any,
    Callable,
    Dict,
    Iterator,
    List,
    Mapping,
    MutableMapping,
    Optional,
    Tuple,
)
from urllib.parse import quote, unquote

from .core import _runs
from .core._bifrost import bifrost_sync
from .core._paragon import active

__all__ = [
    "BAGGAGE_SESSION_KEY",
    "TraceContext",
    "add_parent_provider",
    "carry",
    "continue_trace",
    "current_context",
    "extract",
    "headers",
    "inject",
    "remote_parent",
    "remove_parent_provider",
]

_logger = logging.getLogger("auditora")

#: The baggage key carrying the Auditora session id across a boundary.
BAGGAGE_SESSION_KEY = "session.id"

# version "00": 2 hex, trace id 32 hex, parent id 16 hex, flags 2 hex.
_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$")
_ZERO_TRACE = "0" * 32
_ZERO_SPAN = "0" * 16
# W3C baggage limits: at most 64 members and 8192 bytes in total.
_BAGGAGE_MAX_MEMBERS = 64
_BAGGAGE_MAX_BYTES = 8192

ParentProvider = Callable[[], Optional[Tuple[str, Optional[str]]]]


class TraceContext:
    """A remote span's identity as read from (or written to) a carrier.

    ``trace_id`` is 32 lowercase hex digits, ``span_id`` 16; ``sampled`` is the
    W3C sampled flag; ``session_id`` comes from the ``session.id`` baggage
    member; ``baggage`` holds every baggage member (decoded). Instances are
    plain, picklable values.
    """

    __slots__ = ("baggage", "sampled", "session_id", "span_id", "trace_id")

    def __init__(
        self,
        trace_id: str,
        span_id: str,
        *,
        sampled: bool = True,
        session_id: Optional[str] = None,
        baggage: Optional[Dict[str, str]] = None,
    ) -> None:
        self.trace_id = trace_id
        self.span_id = span_id
        self.sampled = sampled
        self.session_id = session_id
        self.baggage = dict(baggage) if baggage else {}

    @property
    def traceparent(self) -> str:
        """The W3C ``traceparent`` header value for this context."""
        return f"00-{self.trace_id}-{self.span_id}-{'01' if self.sampled else '00'}"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TraceContext):
            return NotImplemented
        return (self.trace_id, self.span_id, self.sampled, self.session_id, self.baggage) == (
            other.trace_id,
            other.span_id,
            other.sampled,
            other.session_id,
            other.baggage,
        )

    def __hash__(self) -> int:
        return hash((self.trace_id, self.span_id))

    def __reduce__(self) -> Any:
        return (
            _rebuild,
            (self.trace_id, self.span_id, self.sampled, self.session_id, self.baggage),
        )

    def __repr__(self) -> str:
        return (
            f"TraceContext(trace_id={self.trace_id!r}, span_id={self.span_id!r}, "
            f"sampled={self.sampled!r}, session_id={self.session_id!r})"
        )


def _rebuild(
    trace_id: str, span_id: str, sampled: bool, session_id: Optional[str], baggage: Dict[str, str]
) -> TraceContext:
    return TraceContext(trace_id, span_id, sampled=sampled, session_id=session_id, baggage=baggage)


# -- writing -----------------------------------------------------------------


def current_context() -> Optional[TraceContext]:
    """The context a carrier would carry now, or None.

    The active run when there is one (its ``sampled`` flag is False when the
    configured :class:`~auditora.sampling.Sampler` drops the trace, so
    downstream OpenTelemetry services can follow the decision); otherwise the
    remote parent a root run would join (an enclosing :func:`remote_parent` block or a registered
    provider such as an active OpenTelemetry span).
    """
    run = active()
    if run is not None:
        trace_id = run.trace_id
        return TraceContext(
            trace_id, run.run_id, sampled=_sampled(trace_id), session_id=run.session_id
        )
    explicit = _remote.get()
    if explicit is not None:
        return explicit
    parent = _from_providers()
    if parent is not None and parent[1]:
        return TraceContext(parent[0], parent[1])
    return None


def _sampled(trace_id: str) -> bool:
    """The W3C sampled flag: False only when the configured sampler drops this trace."""
    recorder = sys.modules.get("auditora._recorder")
    check = getattr(getattr(recorder, "_sampler", None), "sampled", None)
    if check is None:
        return True
    try:
        return bool(check(trace_id))
    except Exception:
        return True


def inject(
    carrier: MutableMapping[str, Any], context: Optional[TraceContext] = None
) -> MutableMapping[str, Any]:
    """Write ``traceparent`` and ``baggage`` for ``context`` into ``carrier``.

    ``context`` defaults to :func:`current_context`; with none, the carrier is
    left untouched. Existing baggage members in the carrier are kept (the
    session id member is replaced). Returns the carrier, for chaining.
    """
    ctx = context if context is not None else current_context()
    if ctx is None:
        return carrier
    carrier["traceparent"] = ctx.traceparent
    members = dict(ctx.baggage)
    existing = _get_header(carrier, "baggage")
    if existing:
        for key, value in _parse_baggage(existing).items():
            members.setdefault(key, value)
    if ctx.session_id:
        members[BAGGAGE_SESSION_KEY] = ctx.session_id
    if members:
        carrier["baggage"] = _format_baggage(members)
    return carrier


def headers(context: Optional[TraceContext] = None) -> Dict[str, str]:
    """A new dict of HTTP headers (``traceparent``, ``baggage``) for the current run.

    Merge it into an outgoing request::

        urllib.request.Request(url, headers=propagation.headers())
        httpx.get(url, headers=propagation.headers())
    """
    out: Dict[str, str] = {}
    inject(out, context)
    return out


# -- reading -----------------------------------------------------------------


def extract(carrier: Any) -> Optional[TraceContext]:
    """Read a :class:`TraceContext` from ``carrier`` (None when absent or invalid).

    ``carrier`` may be any mapping (header names are matched case-insensitively),
    an ``http.client.HTTPMessage`` / ``email.message.Message`` (what
    ``http.server`` handlers get as ``self.headers``), a WSGI ``environ``
    (``HTTP_TRACEPARENT``) or a :class:`TraceContext` (returned as is).
    Invalid ``traceparent`` values are ignored, as the W3C specification asks.
    """
    if carrier is None:
        return None
    if isinstance(carrier, TraceContext):
        return carrier
    raw = _get_header(carrier, "traceparent")
    if not raw or not isinstance(raw, str):
        return None
    match = _TRACEPARENT.match(raw.strip().lower())
    if match is None:
        return None
    version, trace_id, span_id, flags, rest = match.groups()
    if version == "ff" or (version == "00" and rest):
        return None
    if trace_id == _ZERO_TRACE or span_id == _ZERO_SPAN:
        return None
    baggage_raw = _get_header(carrier, "baggage")
    baggage = _parse_baggage(baggage_raw) if isinstance(baggage_raw, str) else {}
    return TraceContext(
        trace_id,
        span_id,
        sampled=bool(int(flags, 16) & 1),
        session_id=baggage.get(BAGGAGE_SESSION_KEY),
        baggage=baggage,
    )


def _get_header(carrier: Any, name: str) -> Any:
    getter = getattr(carrier, "get", None)
    if getter is None:
        return None
    try:
        value = getter(name)
        if value is None:
            # Case-insensitive and WSGI-style lookups for plain dicts.
            value = getter("HTTP_" + name.upper())
        if value is None and isinstance(carrier, Mapping):
            for key, item in carrier.items():
                if isinstance(key, str) and key.lower() == name:
                    return item
        return value
    except Exception:
        return None


def _parse_baggage(raw: str) -> Dict[str, str]:
    out: Dict[str, str] = {}
    for member in raw.split(",")[:_BAGGAGE_MAX_MEMBERS]:
        pair = member.split(";", 1)[0]  # properties are ignored
        if "=" not in pair:
            continue
        key, value = pair.split("=", 1)
        key = key.strip()
        if key:
            out[unquote(key)] = unquote(value.strip())
    return out


def _format_baggage(members: Mapping[str, str]) -> str:
    parts: List[str] = []
    size = 0
    for key, value in members.items():
        part = f"{quote(str(key), safe='')}={quote(str(value), safe='')}"
        size += len(part) + (1 if parts else 0)
        if size > _BAGGAGE_MAX_BYTES or len(parts) >= _BAGGAGE_MAX_MEMBERS:
            break
        parts.append(part)
    return ",".join(parts)


# -- joining a remote parent --------------------------------------------------

_remote: contextvars.ContextVar[Optional[TraceContext]] = contextvars.ContextVar(
    "auditora_remote_parent", default=None
)
_providers: Tuple[ParentProvider, ...] = ()
_install_lock = threading.Lock()


def _from_providers() -> Optional[Tuple[str, Optional[str]]]:
    for provider in _providers:
        try:
            found = provider()
        except Exception:
            _logger.exception("auditora: a remote parent provider failed")
            continue
        if found is not None:
            return found
    return None


def _hook() -> Optional[Tuple[str, Optional[str]]]:
    """The function installed as ``remote_parent_hook``: explicit block, then providers."""
    ctx = _remote.get()
    if ctx is not None:
        return ctx.trace_id, ctx.span_id
    if _providers:
        return _from_providers()
    return None


def _install() -> None:
    """Install :func:`_hook`, keeping any other hook already there as a provider."""
    global _providers
    with _install_lock:
        current = _runs.remote_parent_hook
        if current is _hook:
            return
        if current is not None and current not in _providers:
            _providers = (*_providers, current)
        _runs.remote_parent_hook = _hook


def add_parent_provider(provider: ParentProvider) -> None:
    """Let root runs join a foreign parent: ``provider()`` returns ``(trace_id, span_id)`` or None.

    Providers are asked in registration order, after any :func:`remote_parent`
    block. Registering the same provider twice has no effect.
    """
    global _providers
    _install()
    with _install_lock:
        if provider not in _providers:
            _providers = (*_providers, provider)


def remove_parent_provider(provider: ParentProvider) -> None:
    """Stop asking ``provider`` (no error when it is not registered)."""
    global _providers
    with _install_lock:
        _providers = tuple(p for p in _providers if p is not provider)


@contextmanager
def remote_parent(context: Any) -> Iterator[Optional[TraceContext]]:
    """Make root runs started in the block children of a remote span.

    ``context`` is a :class:`TraceContext` or anything :func:`extract` reads
    (a headers mapping, a WSGI environ); when it holds no valid context the
    block runs unchanged. Runs nested inside an active run are unaffected:
    they stay children of that run. Yields the context used (or None)::

        def handle(request_headers):
            with remote_parent(request_headers):
                answer_question()   # a @sentinel: joins the caller's trace
    """
    ctx = extract(context)
    if ctx is None:
        yield None
        return
    _install()
    token = _remote.set(ctx)
    try:
        yield ctx
    finally:
        try:
            _remote.reset(token)
        except ValueError:  # reset from another Context: restore by value
            _remote.set(None)


@contextmanager
def continue_trace(
    context: Any,
    name: str = "continue_trace",
    *,
    session: Any = None,
    session_id: Optional[str] = None,
    agent: Optional[str] = None,
) -> Iterator[Any]:
    """Open a run (a bifrost block) that continues a remote trace.

    The run is a child of the remote span in ``context`` (see
    :func:`remote_parent`) and belongs to a session with the remote session id
    (from baggage) unless ``session`` or ``session_id`` is given. With no valid
    remote context it is an ordinary root run. Yields the
    :class:`~auditora.records.Run`::

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                with continue_trace(self.headers, name="POST /score"):
                    score(...)
    """
    ctx = extract(context)
    if session is None and session_id is None and ctx is not None:
        session_id = ctx.session_id
    block = bifrost_sync(session, session_id=session_id, name=name, agent=agent)
    with remote_parent(ctx), block as run:
        yield run


# -- processes -----------------------------------------------------------------


class carry:
    """Wrap ``func`` so that, called in another process, it joins the current trace.

    The wrapper is picklable when ``func`` is (a module-level function), so it
    can be submitted to a ``ProcessPoolExecutor`` or a ``multiprocessing.Pool``
    or used as a ``Process`` target. The trace context is captured when
    ``carry`` is called. In the worker each call runs in a run named ``name``
    (default: the function's qualified name) under the remote parent, in the
    remote session; with ``run=False`` no run is opened and only root runs
    started by ``func`` (e.g. a ``@sentinel``) join the trace. When the
    recorder is configured in the worker it is flushed after each call
    (``flush=True``) because pool workers may exit without running ``atexit``::

        with ProcessPoolExecutor(initializer=auditora.configure, initargs=(...)) as pool:
            results = list(pool.map(carry(score_one), items))
    """

    def __init__(
        self,
        func: Callable[..., Any],
        *,
        name: Optional[str] = None,
        run: bool = True,
        flush: bool = True,
        context: Optional[TraceContext] = None,
    ) -> None:
        if not callable(func):
            raise TypeError(f"carry() needs a callable, not {type(func).__name__}")
        self.func = func
        self.name = name or getattr(func, "__qualname__", None) or repr(func)
        self.run = run
        self.flush = flush
        self.context = context if context is not None else current_context()
        functools.update_wrapper(self, func, updated=())

    def __getstate__(self) -> Dict[str, Any]:
        return {
            "func": self.func,
            "name": self.name,
            "run": self.run,
            "flush": self.flush,
            "context": self.context,
        }

    def __setstate__(self, state: Dict[str, Any]) -> None:
        self.__dict__.update(state)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            if self.run:
                with continue_trace(self.context, name=self.name):
                    return self.func(*args, **kwargs)
            with remote_parent(self.context):
                return self.func(*args, **kwargs)
        finally:
            if self.flush:
                _flush_recorder()

    def __repr__(self) -> str:
        return f"carry({self.func!r}, context={self.context!r})"


def _flush_recorder() -> None:
    # Only when the recorder is in use: importing it here would start nothing.
    recorder = sys.modules.get("auditora._recorder")
    flush: Optional[Callable[..., Any]] = getattr(recorder, "flush", None)
    if flush is None:
        return
    try:
        flush()
    except Exception:
        _logger.exception("auditora: flushing the recorder after a carried call failed")
