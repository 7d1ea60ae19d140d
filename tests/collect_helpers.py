"""Helpers for the collector tests: an in-process ``auditora collect`` writing a store."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Dict, Iterator, Tuple

import auditora
from auditora import _recorder
from auditora.collect import CollectorServer, make_server


@contextmanager
def collector(
    store: Path, settings: Dict[str, Any] | None = None, **kwargs: Any
) -> Iterator[CollectorServer]:
    """A collector on a free 127.0.0.1 port writing to ``store`` (``settings``: more
    ``configure`` arguments); stopped (and flushed) after."""
    auditora.configure(store=str(store), console=False, **(settings or {}))
    server = make_server("127.0.0.1", 0, **kwargs)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
        _recorder.flush(10)


def post(
    server: CollectorServer,
    path: str,
    body: bytes,
    content_type: str = "application/json",
    headers: Dict[str, str] | None = None,
) -> Tuple[int, bytes]:
    """POST ``body`` to the collector; the status and the answer's body."""
    request = urllib.request.Request(
        server.endpoint + path,
        data=body,
        method="POST",
        headers={"Content-Type": content_type, **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def post_json(server: CollectorServer, path: str, body: Any) -> Tuple[int, Any]:
    status, data = post(server, path, json.dumps(body).encode())
    return status, json.loads(data) if data else None
