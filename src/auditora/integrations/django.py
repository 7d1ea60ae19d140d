"""Django: every HTTP request a ``server`` run, from ``settings.MIDDLEWARE``.

::

    MIDDLEWARE = [
        "auditora.integrations.django.AuditoraMiddleware",  # first: it sees every request
        ...
    ]
    # Optional: the options of auditora.integrations.wsgi.AuditoraMiddleware.
    from auditora.integrations.django import RouteMonitor
    HTTP_MONITOR = RouteMonitor()   # read the route metrics from it
    AUDITORA_MIDDLEWARE = {"exclude_paths": ["/health"], "monitor": HTTP_MONITOR}

The run is named after the URL pattern that matched (``request.resolver_match.route``,
``items/<int:id>``, written ``GET /items/<int:id>`` as Flask's rules are). An exception
a view raises reaches :meth:`AuditoraMiddleware.process_exception` before Django answers
it, so the run keeps its traceback; Django's own 4xx exceptions (``Http404``,
``PermissionDenied``) are answers, not errors, unless their status reaches
``error_status``. A ``StreamingHttpResponse``'s content is wrapped as the WSGI
middleware wraps a body (:class:`~auditora.integrations.wsgi.WatchedBody`): the run is
active around each chunk and ends when the content is exhausted or the response is
closed before its end (a disconnect); an async one (under ASGI) likewise
(:class:`WatchedAsyncBody`). Trace context, session and route metrics are the
WSGI middleware's (shared helpers). See ``docs/http.md``.
"""

from __future__ import annotations

import asyncio
from typing import Any, AsyncIterable, AsyncIterator, Callable, Dict, Optional

from .._config import settings
from ..core._paragon import Paragon
from ._http import Request, RequestTracer, RouteMonitor
from .wsgi import EXCEPTION_KEY, ROUTE_KEY, WatchedBody, environ_key, start_request

# RouteMonitor: the default monitor, to make one in settings and read the route metrics.
__all__ = ["OPTIONS", "SETTING", "AuditoraMiddleware", "RouteMonitor", "route_template"]

#: The Django setting holding the middleware's options (a dict).
SETTING = "AUDITORA_MIDDLEWARE"
#: The options that setting may hold (those of the WSGI middleware).
OPTIONS = frozenset({"exclude_paths", "session_header", "error_status", "monitor", "report"})


def _django_settings() -> Any:
    try:
        from django.conf import settings as django_settings
    except ImportError as exc:
        raise ImportError(
            "auditora.integrations.django needs Django: pip install 'auditora[django]'"
        ) from exc
    return django_settings


def _options(django_settings: Any) -> Dict[str, Any]:
    from django.core.exceptions import ImproperlyConfigured

    options = getattr(django_settings, SETTING, None) or {}
    if not isinstance(options, dict):
        raise ImproperlyConfigured(f"{SETTING} must be a dict, not {type(options).__name__}")
    unknown = sorted(set(options) - OPTIONS)
    if unknown:
        raise ImproperlyConfigured(
            f"{SETTING} has unknown options {unknown}; it takes {sorted(OPTIONS)}"
        )
    return dict(options)


def route_template(request: Any) -> Optional[str]:
    """The URL pattern that matched ``request``, from the root (``/items/<int:id>``), or
    None when none did. A ``re_path`` pattern keeps its regex, without ``^`` and ``$``."""
    route = getattr(getattr(request, "resolver_match", None), "route", None)
    if not isinstance(route, str):
        return None
    route = route[1:] if route.startswith("^") else route
    for end in ("\\Z", "$"):
        if route.endswith(end):
            route = route[: -len(end)]
            break
    return "/" + route


class AuditoraMiddleware:
    """Record every request Django handles as a root run of kind ``server``.

    Put it first in ``MIDDLEWARE``; its options come from the ``AUDITORA_MIDDLEWARE``
    setting (``exclude_paths``, ``session_header``, ``error_status``, ``monitor``,
    ``report``), read when Django builds its middleware chain. The route metrics add
    up in :attr:`monitor` (pass your own ``monitor`` to read them). Everything passes
    straight through while Auditora is disabled.
    """

    sync_capable = True
    async_capable = False  # under ASGI, Django runs it in a thread (the context follows)

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        self.get_response = get_response
        self.tracer = RequestTracer(**_options(_django_settings()))
        self.monitor = self.tracer.monitor
        self._session_key = environ_key(self.tracer.session_header)

    def __call__(self, request: Any) -> Any:
        if settings.disabled:
            return self.get_response(request)
        path = request.path
        tracer = self.tracer
        if tracer.excluded(path):
            return self.get_response(request)
        meta = request.META  # the WSGI environ (under ASGI, Django builds the same keys)
        traced = start_request(tracer, meta, path, self._session_key)
        token = Paragon.set(traced.run)
        try:
            response = self.get_response(request)
        except BaseException as exc:  # raised past Django's own handling
            Paragon.reset(token)
            tracer.finish(traced, route_template(request), exc)
            raise
        Paragon.reset(token)
        traced.status = response.status_code
        route = route_template(request)
        raised = meta.pop(EXCEPTION_KEY, None)
        if raised is not None and response.status_code < tracer.error_status:
            raised = None  # answered below the error bar (Http404, PermissionDenied, ...)
        if (
            raised is None
            and getattr(response, "streaming", False)
            and getattr(response, "file_to_stream", None) is None
        ):
            # The server iterates the content after this returns; the run ends with it.
            # (A FileResponse is left to the server's file wrapper: no app code runs
            # while a file is sent, and wrapping it would lose sendfile.)
            meta[ROUTE_KEY] = route
            watch = WatchedAsyncBody if getattr(response, "is_async", False) else WatchedBody
            response.streaming_content = watch(response.streaming_content, traced, tracer, meta)
            return response
        tracer.finish(traced, route, raised)
        return response

    def process_exception(self, request: Any, exception: BaseException) -> None:
        """Keep the exception a view raised for the run (Django then answers it)."""
        request.META[EXCEPTION_KEY] = exception


class WatchedAsyncBody:
    """An async ``StreamingHttpResponse``'s content (served by Django's ASGI handler),
    stepped with the request's run active, as :class:`WatchedBody` steps a sync one: the
    run ends when the content is exhausted or fails; cancelled (the client went away,
    Django cancels the response) or closed before its end, it is a disconnect."""

    def __init__(
        self,
        body: AsyncIterable[bytes],
        request: Request,
        tracer: RequestTracer,
        environ: Dict[str, Any],
    ) -> None:
        self._body = body
        self._request = request
        self._tracer = tracer
        self._environ = environ

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._steps()

    async def _steps(self) -> AsyncIterator[bytes]:
        request, error = self._request, None
        chunks = self._body.__aiter__()
        try:
            while True:
                token = Paragon.set(request.run)
                try:
                    chunk = await chunks.__anext__()
                except StopAsyncIteration:
                    request.complete = True
                    return
                finally:
                    Paragon.reset(token)
                yield chunk
        except (asyncio.CancelledError, GeneratorExit):
            request.disconnected = True
            raise
        except BaseException as exc:
            error = exc
            raise
        finally:
            if not request.complete and error is None:
                request.disconnected = True
            environ = self._environ
            self._tracer.finish(
                request, environ.get(ROUTE_KEY), error or environ.get(EXCEPTION_KEY)
            )
