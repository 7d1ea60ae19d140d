"""The viewer's HTTP server: read-only, standard library only, 127.0.0.1 by default.

It serves the single-page front-end shipped in ``static/`` and a small JSON
API over the store. Only ``GET`` and ``HEAD`` are accepted. Responses carry a
strict Content-Security-Policy (scripts and styles from this server only, no
inline script), so even a rendering bug could not run injected markup; the
front-end also never turns user content into HTML. When bound to a loopback
address, requests whose ``Host`` header names another host are refused, which
stops DNS-rebinding pages from reading the store through the browser.
"""

from __future__ import annotations

import json
import math
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple
from urllib.parse import parse_qs, urlsplit

from . import _lists, _model
from ._source import StoreSource

__all__ = ["CSP", "ViewerServer", "api_response", "make_server", "to_json"]

STATIC = Path(__file__).with_name("static")

#: The Content-Security-Policy of every viewer response.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

_STATIC_TYPES = {
    "app.js": "text/javascript; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
}
_LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}


def _clean(value: Any) -> Any:
    """Make ``value`` strict JSON: NaN and infinities become strings."""
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def to_json(value: Any) -> str:
    """Strict JSON text for ``value`` (non-JSON values as their ``repr``)."""
    return json.dumps(
        _clean(value), ensure_ascii=False, default=repr, allow_nan=False, separators=(",", ":")
    )


def _param(query: Dict[str, Any], name: str) -> Optional[str]:
    values = query.get(name)
    return values[0] if values else None


def _experiments(store: Any, query: Dict[str, Any]) -> Tuple[int, Any]:
    from ._experiments import experiments_view

    return 200, experiments_view(store)


def _compare(store: Any, query: Dict[str, Any]) -> Tuple[int, Any]:
    from ._experiments import comparison_view

    base, candidate = _param(query, "base"), _param(query, "candidate")
    if base is None or candidate is None:
        return 400, {"error": "missing ?base= or ?candidate= (experiment names or ids)"}
    try:
        confidence = float(_param(query, "confidence") or 0.95)
        sort = _param(query, "sort") or "change"
        return 200, comparison_view(store, base, candidate, confidence=confidence, sort=sort)
    except ValueError as exc:
        return 400, {"error": str(exc)}


#: Traces an agent graph aggregates at most (a session's newest).
AGENT_GRAPH_TRACES = 200


def _trace_ids(store: Any, query: Dict[str, Any]) -> Tuple[Optional[str], List[str]]:
    trace, session = _param(query, "trace"), _param(query, "session")
    if trace is not None:
        return None, [trace]
    if session is None:
        return "missing ?trace= or ?session=", []
    page = store.find_traces(session_id=session, limit=AGENT_GRAPH_TRACES)
    return None, [row["trace_id"] for row in page.rows]


def _agent_graph(store: Any, query: Dict[str, Any]) -> Tuple[int, Any]:
    """The agent graph of one trace (``?trace=``) or of a session's newest traces."""
    from ..agents import agent_graph, trajectory

    error, trace_ids = _trace_ids(store, query)
    if error:
        return 400, {"error": error}
    trajectories = []
    for trace_id in trace_ids:
        try:
            trajectories.append(trajectory(store, trace_id))
        except LookupError:
            if _param(query, "trace") is not None:
                raise
    return 200, agent_graph(trajectories)


def _trajectory(store: Any, query: Dict[str, Any]) -> Tuple[int, Any]:
    from ..agents import trajectory

    trace = _param(query, "trace")
    if trace is None:
        return 400, {"error": "missing ?trace="}
    return 200, trajectory(store, trace).to_dict()


#: Endpoints of the experiment and agent views: ``(store, query) -> (status, body)``.
_EXTRA: Dict[str, Callable[[Any, Dict[str, Any]], Tuple[int, Any]]] = {
    "/api/experiments": _experiments,
    "/api/compare": _compare,
    "/api/agent_graph": _agent_graph,
    "/api/trajectory": _trajectory,
}


def api_response(store: Any, path: str, query: Dict[str, Any]) -> Tuple[int, Any]:
    """Answer one API request: ``(HTTP status, JSON-ready body)``."""
    src: _model.Source = StoreSource(store)
    session = _param(query, "session")
    lists: Dict[str, Callable[[Any, Any], Any]] = {
        "/api/traces": _lists.traces_page,
        "/api/runs": _lists.runs_page,
        "/api/sessions": _lists.sessions_page,
        "/api/llm_calls": _lists.llm_calls_page,
        "/api/evaluation_results": _lists.evaluations_page,
    }
    try:
        if path in lists:
            return 200, lists[path](store, query)
        if path in ("/api/trace_window", "/api/run_detail"):
            ident = _param(query, "id")
            if ident is None:
                return 400, {"error": "missing ?id="}
            if path == "/api/run_detail":
                return 200, _lists.run_page(store, ident)
            return 200, _lists.trace_window(store, ident, query)
        if path in _EXTRA:
            return _EXTRA[path](store, query)
        if path == "/api/overview":
            body = _model.overview(src)
            body["store"] = os.path.basename(store.path)
            return 200, body
        if path in ("/api/session", "/api/trace", "/api/run"):
            ident = _param(query, "id")
            if ident is None:
                return 400, {"error": "missing ?id="}
            view: Callable[[Any, str], Any] = {
                "/api/session": _model.session_detail,
                "/api/trace": _model.trace_detail,
                "/api/run": _model.run_detail,
            }[path]
            return 200, view(src, ident)
        # Totals only: the page lists the calls and results a page at a time
        # (/api/llm_calls, /api/evaluation_results), so no answer grows with the store.
        if path == "/api/llm":
            return 200, _model.llm_table(src, session, rows=0)
        if path == "/api/evaluations":
            return 200, _model.evaluations_table(src, session, rows=0)
        if path == "/api/metrics":
            return 200, _model.metrics_view(src, session)
    except _lists.BadRequest as exc:
        return 400, {"error": str(exc)}
    except (_model.NotFound, LookupError) as exc:
        return 404, {"error": str(exc).strip("'\"")}
    return 404, {"error": f"no such API endpoint: {path}"}


def _identity(path: str) -> Optional[Tuple[int, int]]:
    """The file's (device, inode), or None when it is missing (or a database URL)."""
    from ..store._url import parse_store

    store = parse_store(path)
    if store.backend != "sqlite":
        return None  # a database is never replaced under its URL
    try:
        st = os.stat(store.target)
    except OSError:
        return None
    return st.st_dev, st.st_ino


class _Handler(BaseHTTPRequestHandler):
    server: ViewerServer
    server_version = "auditora-viewer"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            super().log_message(format, *args)

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Security-Policy", CSP)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, value: Any) -> None:
        self._send(status, to_json(value).encode("utf-8"), "application/json; charset=utf-8")

    def _host_ok(self) -> bool:
        if not self.server.loopback:
            return True
        host = (self.headers.get("Host") or "").strip()
        name = host.rsplit(":", 1)[0] if not host.startswith("[") else host.split("]")[0] + "]"
        return name in _LOOPBACK

    def do_GET(self) -> None:
        """Serve the page, a static asset or an API answer."""
        if not self._host_ok():
            self._json(403, {"error": "forbidden host"})
            return
        parts = urlsplit(self.path)
        path = parts.path
        try:
            if path in ("/", "/index.html"):
                self._send(200, (STATIC / "index.html").read_bytes(), "text/html; charset=utf-8")
            elif path.startswith("/static/") and path[8:] in _STATIC_TYPES:
                name = path[8:]
                self._send(200, (STATIC / name).read_bytes(), _STATIC_TYPES[name])
            elif path.startswith("/api/"):
                with self.server.lock:
                    store = self.server.current_store()
                    status, body = api_response(store, path, parse_qs(parts.query))
                self._json(status, body)
            elif path == "/favicon.ico":
                self._send(204, b"", "image/x-icon")
            else:
                self._json(404, {"error": "not found"})
        except ConnectionError:
            # The client hung up (a tab closed, a page left while it loaded): there is
            # no one to answer, and nothing to print on the terminal.
            self.close_connection = True
        except Exception as exc:  # a bad store row must not kill the server
            try:
                self._json(500, {"error": f"{type(exc).__name__}: {exc}"})
            except ConnectionError:
                self.close_connection = True

    do_HEAD = do_GET

    def _read_only(self) -> None:
        self._json(405, {"error": "the viewer is read-only"})

    do_POST = do_PUT = do_DELETE = do_PATCH = _read_only


class ViewerServer(ThreadingHTTPServer):
    """The viewer's server; ``url`` is where it listens. Close with ``server_close()``."""

    daemon_threads = True

    def __init__(self, store_path: str, host: str, port: int, verbose: bool = False) -> None:
        from ..store import open_store

        self.store_path = store_path
        self.store = open_store(store_path)
        self._identity = _identity(store_path)
        self.lock = threading.Lock()
        self.verbose = verbose
        self.loopback = host in _LOOPBACK
        try:
            super().__init__((host, port), _Handler)
        except BaseException:
            self.store.close()
            raise

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up while its request was read is not an error to print."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)

    def current_store(self) -> Any:
        """The open store, reopened first when its file was replaced (a new inode:
        the file deleted and written anew, or another moved over it). Call it
        holding :attr:`lock`. A missing file keeps the old handle until one appears."""
        from ..store import StoreError, open_store

        now = _identity(self.store_path)
        if now is not None and now != self._identity:
            try:
                fresh = open_store(self.store_path)
            except StoreError:
                return self.store  # half-written: try again on the next request
            self.store.close()
            self.store, self._identity = fresh, now
        return self.store

    @property
    def url(self) -> str:
        """``http://host:port/`` of the running server."""
        host, port = self.server_address[:2]
        host = host.decode() if isinstance(host, bytes) else str(host)
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}/"

    def server_close(self) -> None:
        """Stop listening and close the store."""
        super().server_close()
        self.store.close()


def make_server(
    store_path: str | os.PathLike[str],
    host: str = "127.0.0.1",
    port: int = 8765,
    *,
    verbose: bool = False,
) -> ViewerServer:
    """Open the store and bind the viewer (``port=0`` picks a free port).

    Raises :class:`auditora.store.StoreError` for a bad store and ``OSError``
    when the address is in use. Call ``serve_forever()`` to serve.
    """
    return ViewerServer(os.fspath(store_path), host, port, verbose)
