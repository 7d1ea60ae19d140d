"""One line for a Flask app: ``instrument(app)``.

::

    from flask import Flask
    from auditora.integrations.flask import instrument

    app = Flask(__name__)
    monitor = instrument(app, exclude_paths=["/health"])

It wraps ``app.wsgi_app`` in :class:`auditora.integrations.wsgi.AuditoraMiddleware`
and connects two Flask signals: ``request_started`` hands the matched URL rule
(``/items/<int:item_id>``) to the run's name, and ``got_request_exception``
hands over the exception Flask answers with a 500, so the run keeps its
traceback. See ``docs/http.md``.
"""

from __future__ import annotations

from typing import Any

from .wsgi import EXCEPTION_KEY, ROUTE_KEY, AuditoraMiddleware

__all__ = ["instrument"]


def _flask() -> Any:
    try:
        import flask
    except ImportError as exc:
        raise ImportError(
            "auditora.integrations.flask needs Flask: pip install flask "
            "(the WSGI middleware itself, auditora.integrations.wsgi, needs nothing)"
        ) from exc
    return flask


def _route_started(sender: Any, **_: Any) -> None:
    flask = _flask()
    rule = flask.request.url_rule
    if rule is not None:
        flask.request.environ[ROUTE_KEY] = rule.rule


def _exception_raised(sender: Any, exception: BaseException, **_: Any) -> None:
    flask = _flask()
    flask.request.environ[EXCEPTION_KEY] = exception


def instrument(app: Any, **options: Any) -> Any:
    """Record every HTTP request of the Flask ``app`` as a ``server`` run.

    ``options`` are those of :class:`~auditora.integrations.wsgi.AuditoraMiddleware`.
    Returns the monitor the route metrics are counted in; instrumenting an app
    twice returns the first monitor.
    """
    flask = _flask()
    if not isinstance(app, flask.Flask):
        raise TypeError(f"instrument() takes a Flask app, not {type(app).__name__}")
    existing = app.extensions.get("auditora")
    if existing is not None:
        return existing.monitor
    middleware = AuditoraMiddleware(app.wsgi_app, **options)
    app.wsgi_app = middleware
    # weak=False: blinker holds module functions weakly by default; these must stay.
    flask.request_started.connect(_route_started, app, weak=False)
    flask.got_request_exception.connect(_exception_raised, app, weak=False)
    app.extensions["auditora"] = middleware
    return middleware.monitor
