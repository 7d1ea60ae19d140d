"""One line for a FastAPI (or Starlette) app: ``instrument(app)``.

::

    from fastapi import FastAPI
    from auditora.integrations.fastapi import instrument

    app = FastAPI()
    monitor = instrument(app, exclude_paths=["/health"])

It adds :class:`auditora.integrations.asgi.AuditoraMiddleware` to the app's
middleware stack (inside Starlette's error handler, outside its exception
handlers: an unhandled exception reaches the run with its traceback, an
``HTTPException`` is a response). See ``docs/http.md``.
"""

from __future__ import annotations

from typing import Any

from .asgi import AuditoraMiddleware

__all__ = ["instrument"]


def instrument(app: Any, **options: Any) -> Any:
    """Record every HTTP request of the FastAPI or Starlette ``app`` as a ``server`` run.

    ``options`` are those of :class:`~auditora.integrations.asgi.AuditoraMiddleware`
    (``exclude_paths``, ``session_header``, ``error_status``, ``monitor``,
    ``report``). Returns the monitor the route metrics are counted in. Call it
    before the app serves its first request (Starlette builds its middleware
    stack then). Instrumenting an app twice returns the first monitor.
    """
    try:
        import starlette  # noqa: F401 - only to say what to install
    except ImportError as exc:
        raise ImportError(
            "auditora.integrations.fastapi needs Starlette (FastAPI brings it): "
            "pip install 'auditora[asgi]'"
        ) from exc
    add = getattr(app, "add_middleware", None)
    if add is None:
        raise TypeError(
            f"instrument() takes a FastAPI or Starlette app, not {type(app).__name__}; "
            "wrap any other ASGI app in auditora.integrations.asgi.AuditoraMiddleware"
        )
    state = getattr(app, "state", None)
    existing = getattr(state, "auditora_monitor", None)
    if existing is not None:
        return existing
    from ._http import RouteMonitor

    # Made here, not by the middleware (Starlette builds it at the first request),
    # so that it can be returned now.
    monitor = options.pop("monitor", None)
    if monitor is None:
        monitor = RouteMonitor()
    add(AuditoraMiddleware, monitor=monitor, **options)
    if state is not None:
        state.auditora_monitor = monitor
    return monitor
