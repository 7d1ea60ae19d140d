"""What the ASGI and WSGI middleware share: one request as one ``server`` run.

:class:`RequestTracer` holds a middleware's options and does the per-request
work that does not depend on the protocol: reading the incoming trace context
and session, starting the run, and at the end naming it after its route,
choosing its status and counting the route's metrics in the monitor.

Standard library only: the middleware are pure ASGI and WSGI.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import OrderedDict
from time import monotonic, perf_counter_ns
from typing import Any, Dict, Iterable, Mapping, Optional, Tuple

from .._config import settings
from ..adats.monitor import DefaultMonitor
from ..adats.report import DefaultReport
from ..adats.session import DefaultSession
from ..core._runs import end_run, start_run
from ..propagation import extract, remote_parent
from ..records import Run

__all__ = [
    "LATENCY_BOUNDS_MS",
    "ClientDisconnected",
    "HTTPServerError",
    "Request",
    "RequestTracer",
    "RouteMonitor",
]

_logger = logging.getLogger("auditora")

#: Upper bounds (milliseconds) of the latency histogram's buckets; a request
#: counts in the first bucket its latency fits in, or in ``le_inf``.
LATENCY_BOUNDS_MS = (5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)

#: Distinct raw paths (requests with no route template) a middleware counts
#: metrics for; further ones count under ``METHOD <other>`` (a scan of random
#: paths must not grow the monitor without bound).
MAX_ROUTES = 200

#: Characters of a raw path kept in a run's name when no route template is known.
MAX_PATH_IN_NAME = 200

#: A session id read from a header or baggage longer than this is ignored.
MAX_SESSION_ID = 256

#: Sessions named by requests kept by a middleware (the least recently used go
#: first): the requests of one session share its state while it is kept.
MAX_SESSIONS = 10_000

# The methods kept as they are; any other is "_OTHER" (OpenTelemetry's rule:
# the method is a metric label, so its values must be bounded).
_METHODS = frozenset(
    ("GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "QUERY")
)


class ClientDisconnected(asyncio.CancelledError):
    """Ends the run of a request whose client went away before the response was
    complete: the run's status is ``cancelled`` (never raised to the app)."""


class HTTPServerError(Exception):
    """Ends the run of a request answered with an error status (5xx by default)
    that no exception explains: the run's status is ``error`` (never raised)."""


class RouteMonitor(DefaultMonitor):
    """A middleware's default monitor: a :class:`DefaultMonitor` whose metric
    snapshot, taken at a request's end, is sent at most once per
    ``snapshot_interval`` seconds. The route metrics change at every request, so
    a snapshot at every request's end would send every metric again with each
    request; a snapshot holds the current values, so the later one says all."""

    def __init__(self, snapshot_interval: float = 1.0) -> None:
        super().__init__()
        self.snapshot_interval = snapshot_interval
        self._next_snapshot = 0.0

    def snapshot(self, run: Run) -> Any:
        now = monotonic()
        if now < self._next_snapshot:
            return None
        record = super().snapshot(run)
        if record is not None:
            self._next_snapshot = now + self.snapshot_interval
        return record


class Request:
    """One request in flight: its run and what the protocol side learns of it."""

    __slots__ = ("run", "method", "path", "status", "complete", "disconnected", "_t0")

    def __init__(self, run: Run, method: str, path: str) -> None:
        self.run = run
        self.method = method
        self.path = path
        self.status: Optional[int] = None  # the response's status code, once sent
        self.complete = False  # the last chunk of the body was sent
        self.disconnected = False  # the client left before it was
        self._t0 = perf_counter_ns()


class RequestTracer:
    """The options of one middleware and the per-request logic.

    ``monitor`` and ``report`` are shared by every request (the route metrics
    add up in the monitor). A request that names a session (the
    ``session_header`` header, else the ``session.id`` baggage member) runs in
    that session, shared with the other requests naming it; one that names
    none runs in the middleware's own session, as the calls of a root
    ``@sentinel`` share one.
    """

    def __init__(
        self,
        *,
        exclude_paths: Iterable[str] = (),
        session_header: str = "x-session-id",
        error_status: int = 500,
        monitor: Any = None,
        report: Any = None,
    ) -> None:
        if isinstance(exclude_paths, str):
            raise TypeError("exclude_paths must be a collection of paths, not one str")
        paths = tuple(exclude_paths)
        for path in paths:
            if not isinstance(path, str) or not path.startswith("/"):
                raise ValueError(f"exclude_paths holds paths starting with '/'; got {path!r}")
        if not isinstance(session_header, str) or not session_header.strip():
            raise ValueError(f"session_header must be a header name; got {session_header!r}")
        if isinstance(error_status, bool) or not isinstance(error_status, int):
            raise TypeError(f"error_status must be an int, not {type(error_status).__name__}")
        if not 100 <= error_status <= 600:
            raise ValueError(
                f"error_status must be a status code (400, 500, ...); got {error_status}"
            )
        # An excluded path matches itself and what lies below it ("/health/db").
        self.exclude_paths = frozenset(p.rstrip("/") or "/" for p in paths)
        self.session_header = session_header.strip().lower()
        self.error_status = error_status
        self.monitor = monitor if monitor is not None else RouteMonitor()
        self.report = report if report is not None else DefaultReport()
        #: The session of requests that name none (as a root sentinel has one).
        self.session = DefaultSession()
        self._sessions: OrderedDict[str, DefaultSession] = OrderedDict()
        self._sessions_lock = threading.Lock()
        self._labels: Dict[str, Tuple[str, ...]] = {}
        self._labels_lock = threading.Lock()
        self._raw_labels = 0  # labels that are raw paths (bounded by MAX_ROUTES)
        self._monitor_failed = False

    # -- start ---------------------------------------------------------------
    def excluded(self, path: str) -> bool:
        """Whether requests to ``path`` pass through unrecorded."""
        paths = self.exclude_paths
        if not paths:
            return False
        return path in paths or any(path.startswith(p + "/") for p in paths if p != "/")

    def start(
        self,
        method: str,
        path: str,
        headers: Mapping[str, Optional[str]],
        client: Optional[str],
        user_agent: Optional[str],
    ) -> Request:
        """Start the request's run (the caller makes it active).

        ``headers`` maps ``traceparent``, ``baggage`` and the session header
        (lower-case names) to their values; a valid ``traceparent`` makes the
        run a child of the caller's span, in the caller's session.
        """
        method = method.upper() if method.upper() in _METHODS else "_OTHER"
        remote = extract(headers) if headers.get("traceparent") else None
        session_id = _session_id(headers.get(self.session_header))
        if session_id is None and remote is not None:
            session_id = _session_id(remote.session_id)
        session = self.session if session_id is None else self._session(session_id)
        name = f"{method} {_bounded(path)}"  # renamed after its route at the end
        if remote is None:
            run = start_run(session, self.monitor, self.report, name, "request", None, "server")
        else:
            with remote_parent(remote):
                run = start_run(session, self.monitor, self.report, name, "request", None, "server")
        attributes: Dict[str, Any] = {"http.request.method": method}
        if settings.capture_content:
            attributes["url.path"] = path
            if client:
                attributes["client.address"] = client
            if user_agent:
                attributes["user_agent.original"] = user_agent
        # Set before any LLM call: the roll-ups add the request's tokens and cost to it.
        run.attributes = attributes
        return Request(run, method, path)

    def _session(self, session_id: str) -> DefaultSession:
        """The session named ``session_id``: one per id while it is among the
        :data:`MAX_SESSIONS` most recently used."""
        with self._sessions_lock:
            sessions = self._sessions
            session = sessions.get(session_id)
            if session is None:
                session = sessions[session_id] = DefaultSession(session_id=session_id)
                if len(sessions) > MAX_SESSIONS:
                    sessions.popitem(last=False)
            else:
                sessions.move_to_end(session_id)
            return session

    # -- end -----------------------------------------------------------------
    def finish(self, request: Request, route: Optional[str], exc: Optional[BaseException]) -> None:
        """End the request's run: name it ``METHOD route``, record its status code,
        count its metrics, then end it with its status:

        - an exception raised through the middleware: ``error`` with its
          traceback (``cancelled`` for a disconnect or a cancellation);
        - the client gone before the last chunk: ``cancelled``;
        - a status code at or above ``error_status``: ``error``;
        - else ``ok``.
        """
        run = request.run
        status = request.status
        if status is None and exc is not None:
            status = 500  # what the server answers for an exception nobody handled
        if exc is not None and _is_disconnect(exc):
            request.disconnected = True
            exc = None
        attributes = run.attributes if run.attributes is not None else {}
        if route is not None:
            route = str(route)
            attributes["http.route"] = route
            run.name = f"{request.method} {route}"
        if status is not None:
            attributes["http.response.status_code"] = status
        ending: Optional[BaseException] = exc
        if exc is None:
            if request.disconnected and not request.complete:
                attributes["http.client_disconnected"] = True
                ending = ClientDisconnected(
                    "the client disconnected before the response was complete"
                )
            elif status is not None and status >= self.error_status:
                attributes["error.type"] = str(status)
                ending = HTTPServerError(f"{request.method} answered {status}")
        elif isinstance(exc, Exception):
            attributes.setdefault("error.type", type(exc).__qualname__)
        run.attributes = attributes
        error = ending is not None and not isinstance(ending, asyncio.CancelledError)
        self._count(request, route, status, error, attributes)
        end_run(run, ending)

    def _count(
        self,
        request: Request,
        route: Optional[str],
        status: Optional[int],
        error: bool,
        attributes: Mapping[str, Any],
    ) -> None:
        """Add the request to its route's metrics in the monitor."""
        ms = (perf_counter_ns() - request._t0) / 1e6
        names = self._names(request.method, route, status, request.path)
        try:
            increment = self.monitor.increment_metric
            increment(names[0])
            if error:
                increment(names[1])
            if request.disconnected and not request.complete:
                increment(names[2])
            increment(names[3], ms)
            for bound, name in zip(LATENCY_BOUNDS_MS, names[6:]):
                if ms <= bound:
                    increment(name)
                    break
            else:
                increment(names[-1])
            tokens = attributes.get("llm.total_tokens")
            if tokens:
                increment(names[4], tokens)
            cost = attributes.get("llm.cost_usd")
            if cost:
                increment(names[5], cost)
        except Exception:
            if not self._monitor_failed:  # a broken monitor must not break the app
                self._monitor_failed = True
                _logger.exception("auditora: counting a request's route metrics failed")

    def _names(
        self, method: str, route: Optional[str], status: Optional[int], path: str
    ) -> Tuple[str, ...]:
        """The metric names of one route label, made once per label. With no route
        template the label is the raw path, for up to :data:`MAX_ROUTES` distinct
        paths, then ``<other>`` (a 404 with no route is ``<unmatched>``)."""
        raw = False
        if route is not None:
            label = f"{method} {route}"
        elif status == 404:
            label = f"{method} <unmatched>"
        else:
            label, raw = f"{method} {_bounded(path)}", True
        names = self._labels.get(label)
        if names is not None:
            return names
        with self._labels_lock:
            if raw and self._raw_labels >= MAX_ROUTES:
                label = f"{method} <other>"
            elif raw and label not in self._labels:
                self._raw_labels += 1
            names = self._labels.get(label)
            if names is None:
                names = self._labels[label] = metric_names(label)
        return names


def metric_names(label: str) -> Tuple[str, ...]:
    """The monitor metrics of one route label (``GET /items/{id}``), in the order
    :meth:`RequestTracer._count` uses them."""
    return (
        f"http.requests[{label}]",
        f"http.errors[{label}]",
        f"http.disconnects[{label}]",
        f"http.duration_ms[{label}]",
        f"http.llm_tokens[{label}]",
        f"http.llm_cost_usd[{label}]",
        *(f"http.latency_ms.le_{bound}[{label}]" for bound in LATENCY_BOUNDS_MS),
        f"http.latency_ms.le_inf[{label}]",
    )


def _bounded(path: str) -> str:
    return path if len(path) <= MAX_PATH_IN_NAME else path[:MAX_PATH_IN_NAME] + "…"


def _session_id(value: Optional[str]) -> Optional[str]:
    """A usable session id from a header or baggage value, or None."""
    if not value:
        return None
    value = value.strip()
    if not value or len(value) > MAX_SESSION_ID or not value.isprintable():
        return None
    return value


def _is_disconnect(exc: BaseException) -> bool:
    """Whether ``exc`` says the client went away (Starlette's ``ClientDisconnect``,
    a broken connection) rather than that the app failed."""
    return isinstance(exc, (ConnectionError, ClientDisconnected)) or (
        type(exc).__name__ == "ClientDisconnect"
    )
