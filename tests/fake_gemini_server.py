"""A fake Gemini API (``generativelanguage.googleapis.com``) on 127.0.0.1.

Serves ``POST /{version}/models/{model}:generateContent`` (JSON) and
``:streamGenerateContent?alt=sse`` (Server-Sent Events, one chunk per text part,
usage on the last one), as the ``google-genai`` SDK calls them when given
``http_options={"base_url": server.url}``. ``x-fake-status: 429`` answers that
error in the API's format; ``x-fake-chunks: N`` streams N chunks (default 3).
Usage is fixed: :data:`GEMINI_USAGE`. Every request is kept in ``server.requests``.
"""

from __future__ import annotations

import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Tuple

#: prompt 30 (6 of them cached), candidates 8, thoughts 3.
GEMINI_USAGE = {"prompt": 30, "cached": 6, "candidates": 8, "thoughts": 3}
WORDS = ["Hello", " from", " Gemini", ".", " More"]


def _usage() -> Dict[str, Any]:
    u = GEMINI_USAGE
    return {
        "promptTokenCount": u["prompt"],
        "cachedContentTokenCount": u["cached"],
        "candidatesTokenCount": u["candidates"],
        "thoughtsTokenCount": u["thoughts"],
        "totalTokenCount": u["prompt"] + u["candidates"] + u["thoughts"],
    }


def _chunk(text: str, model: str, response_id: str, last: bool) -> Dict[str, Any]:
    candidate: Dict[str, Any] = {
        "content": {"role": "model", "parts": [{"text": text}]},
        "index": 0,
    }
    body: Dict[str, Any] = {
        "candidates": [candidate],
        "modelVersion": model,
        "responseId": response_id,
    }
    if last:
        candidate["finishReason"] = "STOP"
        body["usageMetadata"] = _usage()
    return body


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        with self.server.lock:
            self.server.requests.append((self.path, dict(self.headers), body))
        path = self.path.split("?", 1)[0]
        model = path.rsplit("/", 1)[-1].split(":", 1)[0]
        status = int(self.headers.get("x-fake-status") or 200)
        if status != 200:
            data = json.dumps(
                {"error": {"code": status, "message": "fake error", "status": "RESOURCE_EXHAUSTED"}}
            ).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        response_id = f"gem-{uuid.uuid4().hex[:12]}"
        if path.endswith(":streamGenerateContent"):
            chunks = int(self.headers.get("x-fake-chunks") or 3)
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Connection", "close")
            self.end_headers()
            for i in range(chunks):
                event = _chunk(WORDS[i % len(WORDS)], model, response_id, i == chunks - 1)
                self.wfile.write(f"data: {json.dumps(event)}\r\n\r\n".encode())
                self.wfile.flush()
            self.close_connection = True
            return
        data = json.dumps(_chunk("".join(WORDS[:3]), model, response_id, True)).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    lock: threading.Lock
    requests: List[Tuple[str, Dict[str, str], Dict[str, Any]]]


class FakeGeminiServer:
    """The fake API on a free port; a context manager. ``url`` is the SDK's base_url."""

    def __init__(self) -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.lock = threading.Lock()
        self._server.requests = []
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def requests(self) -> List[Tuple[str, Dict[str, str], Dict[str, Any]]]:
        with self._server.lock:
            return list(self._server.requests)

    def __enter__(self) -> FakeGeminiServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
