"""ASGI middleware: every HTTP request a ``server`` run (Starlette, FastAPI, any ASGI app).

::

    from auditora.integrations.asgi import AuditoraMiddleware

    app = AuditoraMiddleware(app, exclude_paths=["/health"])   # any ASGI app
    starlette_app.add_middleware(AuditoraMiddleware)           # Starlette / FastAPI

The run is active in the request's task from the first byte to the last: the
app and every task it starts inherit it (ASGI servers run each request in its
own task; Starlette copies the context into its threadpool for sync endpoints
and sync body iterators), so a streamed body stays inside the request's run and
the LLM and sentinel calls made while it streams nest under it. The run ends
when the app returns, that is after the last chunk, or once the client has
disconnected (status ``cancelled``, attribute ``http.client_disconnected``).

Pure ASGI: no third-party import. The route template is read from
``scope["route"]``, which Starlette's (and FastAPI's) router sets. See
``docs/http.md``.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable, Dict, Iterable, MutableMapping, Optional

from .._config import settings
from ..core._paragon import Paragon
from ._http import RequestTracer

__all__ = ["AuditoraMiddleware"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class AuditoraMiddleware:
    """Record every HTTP request through ``app`` as a root run of kind ``server``.

    - ``exclude_paths``: paths (and what lies below them) passed through unrecorded;
    - ``session_header``: the request header naming the session (default
      ``x-session-id``; else the ``session.id`` baggage member; else a new session);
    - ``error_status``: status codes from this one up make the run an error
      (default 500; 400 counts client errors too);
    - ``monitor`` / ``report``: the adats every request shares (defaults made
      here); the route metrics add up in :attr:`monitor`.

    Lifespan and websocket scopes, excluded paths, and everything while Auditora
    is disabled (``AUDITORA_DISABLED``) pass straight through.
    """

    def __init__(
        self,
        app: ASGIApp,
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
        self._wanted = {
            b"traceparent": "traceparent",
            b"baggage": "baggage",
            b"user-agent": "user-agent",
            self.tracer.session_header.encode("latin-1"): self.tracer.session_header,
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") != "http" or settings.disabled:
            await self.app(scope, receive, send)
            return
        path = scope.get("path") or "/"
        tracer = self.tracer
        if tracer.excluded(path):
            await self.app(scope, receive, send)
            return
        headers = self._headers(scope)
        client = scope.get("client")
        request = tracer.start(
            str(scope.get("method") or "GET"),
            path,
            headers,
            str(client[0]) if client else None,
            headers.get("user-agent"),
        )
        root_path = scope.get("root_path") or ""

        async def receive_watched() -> Message:
            message = await receive()
            if message.get("type") == "http.disconnect" and not request.complete:
                request.disconnected = True
            return message

        async def send_watched(message: Message) -> None:
            kind = message.get("type")
            if kind == "http.response.start":
                request.status = int(message.get("status") or 0) or None
            elif kind == "http.response.body" and not message.get("more_body", False):
                await send(message)
                request.complete = True
                return
            await send(message)

        # Set in this task: the app, and every task and thread it hands work to
        # with a copy of this context, sees the request's run; reset in this task.
        token = Paragon.set(request.run)
        error: Optional[BaseException] = None
        try:
            await self.app(scope, receive_watched, send_watched)
        except BaseException as exc:
            error = exc
            raise
        finally:
            Paragon.reset(token)
            tracer.finish(request, _route(scope, root_path), error)

    def _headers(self, scope: Scope) -> Dict[str, Optional[str]]:
        """The few request headers the run needs, by lower-case name."""
        wanted = self._wanted
        out: Dict[str, Optional[str]] = {}
        for name, value in scope.get("headers") or ():
            key = wanted.get(name.lower())  # servers send them lower-case; a proxy may not
            if key is not None:
                out[key] = value.decode("latin-1")
        return out


def _route(scope: Scope, root_path: str) -> Optional[str]:
    """The template of the route that handled the request (``/items/{id}``), with
    the prefix of any mount it lies under, or None when no route matched."""
    route = scope.get("route")
    if route is None:
        return None
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    if not isinstance(template, str):
        return None
    # A mount extends root_path by its own path: the part beyond the app's own
    # root_path is the prefix of a route inside it.
    prefix = str(scope.get("root_path") or "")[len(root_path) :]
    if hasattr(route, "routes") and prefix.endswith(template.split("/{", 1)[0]):
        prefix = prefix[: len(prefix) - len(template.split("/{", 1)[0])]  # the mount itself
    return prefix + template
