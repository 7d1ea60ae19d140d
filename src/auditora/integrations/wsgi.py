"""WSGI middleware: every HTTP request a ``server`` run (Flask, Django, any WSGI app).

::

    from auditora.integrations.wsgi import AuditoraMiddleware

    application = AuditoraMiddleware(application, exclude_paths=["/health"])

A WSGI app returns its body as an iterable the server consumes after the app
has returned, often in the same thread but always outside the app's call. The
middleware wraps that iterable: the request's run is made active around each
step of it (and around its ``close``), so a streamed body stays inside the
request's run, and it ends when the body is exhausted, or when the server
closes it early because the client went away (status ``cancelled``, attribute
``http.client_disconnected``).

The route template is read from ``environ["auditora.route"]``, which a
framework helper sets (``auditora.integrations.flask.instrument``); without it
runs are named after the raw path. An exception a framework turned into a 500
page can be handed over in ``environ["auditora.exception"]`` to keep its
traceback on the run. Standard library only. See ``docs/http.md``.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Iterable, Iterator, Optional

from .._config import settings
from ..core._paragon import Paragon
from ._http import Request, RequestTracer

__all__ = [
    "EXCEPTION_KEY",
    "ROUTE_KEY",
    "AuditoraMiddleware",
    "WatchedBody",
    "environ_key",
    "start_request",
]

#: The environ key a framework sets to the route template (``/items/<int:id>``).
ROUTE_KEY = "auditora.route"
#: The environ key a framework sets to the exception it answered with a 500.
EXCEPTION_KEY = "auditora.exception"

StartResponse = Callable[..., Any]
WSGIApp = Callable[[Dict[str, Any], StartResponse], Iterable[bytes]]


class AuditoraMiddleware:
    """Record every request through the WSGI ``app`` as a root run of kind ``server``.

    Takes the options of :class:`auditora.integrations.asgi.AuditoraMiddleware`:
    ``exclude_paths``, ``session_header``, ``error_status``, ``monitor``,
    ``report``. Everything passes straight through while Auditora is disabled.
    """

    def __init__(
        self,
        app: WSGIApp,
        *,
        exclude_paths: Iterable[str] = (),
        session_header: str = "x-session-id",
        error_status: int = 500,
        monitor: Any = None,
        report: Any = None,
    ) -> None:
        self.app = app
        self.tracer = RequestTracer(
            exclude_paths=exclude_paths,
            session_header=session_header,
            error_status=error_status,
            monitor=monitor,
            report=report,
        )
        self.monitor = self.tracer.monitor
        self._session_key = environ_key(self.tracer.session_header)

    def __call__(self, environ: Dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if settings.disabled:
            return self.app(environ, start_response)
        path = (environ.get("SCRIPT_NAME") or "") + (environ.get("PATH_INFO") or "/")
        tracer = self.tracer
        if tracer.excluded(path):
            return self.app(environ, start_response)
        get = environ.get
        request = start_request(tracer, environ, path, self._session_key)

        def start_watched(status: str, response_headers: Any, exc_info: Any = None) -> Any:
            try:
                request.status = int(str(status)[:3])
            except ValueError:
                pass  # the server rejects it; the run keeps no status code
            return start_response(status, response_headers, exc_info)

        token = Paragon.set(request.run)
        try:
            body = self.app(environ, start_watched)
        except BaseException as exc:
            Paragon.reset(token)
            tracer.finish(request, get(ROUTE_KEY), exc)
            raise
        Paragon.reset(token)
        return WatchedBody(body, request, tracer, environ)


def environ_key(header: str) -> str:
    """The WSGI environ key of the request header ``header`` (``x-session-id`` ->
    ``HTTP_X_SESSION_ID``)."""
    return "HTTP_" + header.upper().replace("-", "_")


def start_request(
    tracer: RequestTracer, environ: Dict[str, Any], path: str, session_key: str
) -> Request:
    """Start the run of the request ``environ`` describes (the caller makes it active):
    its method, the caller's ``traceparent`` / ``baggage``, the session header (under
    ``session_key``, see :func:`environ_key`), client address and user agent.
    Shared with :mod:`auditora.integrations.django` (Django's ``request.META``)."""
    get = environ.get
    headers = {
        "traceparent": get("HTTP_TRACEPARENT"),
        "baggage": get("HTTP_BAGGAGE"),
        tracer.session_header: get(session_key),
    }
    return tracer.start(
        str(get("REQUEST_METHOD") or "GET"),
        path,
        headers,
        get("REMOTE_ADDR"),
        get("HTTP_USER_AGENT"),
    )


class WatchedBody:
    """The app's response body, stepped with the request's run active; the run
    ends when it is exhausted, fails, or is closed before its end (then named
    after ``environ[ROUTE_KEY]``, with ``environ[EXCEPTION_KEY]`` if set). Also
    wraps a Django ``StreamingHttpResponse``'s content."""

    def __init__(
        self,
        body: Iterable[bytes],
        request: Request,
        tracer: RequestTracer,
        environ: Dict[str, Any],
    ) -> None:
        self._body = body
        self._iterator: Optional[Iterator[bytes]] = None
        self._request = request
        self._tracer = tracer
        self._environ = environ
        self._ended = False

    def __iter__(self) -> WatchedBody:
        return self

    def __next__(self) -> bytes:
        if self._ended:
            raise StopIteration
        run = self._request.run
        token = Paragon.set(run)
        try:
            if self._iterator is None:
                self._iterator = iter(self._body)
            chunk = next(self._iterator)
        except StopIteration:
            Paragon.reset(token)
            self._request.complete = True
            self._end(None)
            raise
        except BaseException as exc:
            Paragon.reset(token)
            self._end(exc)
            raise
        Paragon.reset(token)
        return chunk

    def close(self) -> None:
        """Close the app's body (its cleanup runs inside the run), then end the run:
        closed before its last chunk, the client is taken to have gone away."""
        error: Optional[BaseException] = None
        close = getattr(self._body, "close", None)
        if close is not None:
            token = Paragon.set(self._request.run)
            try:
                close()
            except BaseException as exc:
                error = exc
                raise
            finally:
                Paragon.reset(token)
                if not self._request.complete and error is None:
                    self._request.disconnected = True
                self._end(error)
        else:
            if not self._request.complete:
                self._request.disconnected = True
            self._end(None)

    def _end(self, exc: Optional[BaseException]) -> None:
        if self._ended:
            return
        self._ended = True
        environ = self._environ
        if exc is None:
            exc = environ.get(EXCEPTION_KEY)
        self._tracer.finish(self._request, environ.get(ROUTE_KEY), exc)
