"""The OTLP/HTTP receiver: standard library HTTP server, loopback only by default.

``POST /v1/traces``, ``/v1/logs`` and ``/v1/metrics`` take an export request
(``application/json``, or ``application/x-protobuf`` with ``auditora[otlp]``),
gzip-compressed or not. The records decoded from it go to the recorder, which
writes them through the configured sinks (``auditora collect`` configures the
SQLite store). Answers follow the OTLP/HTTP specification: 200 with an empty
response or a partial success, 400 with a message for a malformed body, 413 for
a body over :data:`MAX_BODY` (compressed or not), 415 for another content type.

Memory stays bounded: at most :data:`MAX_CONCURRENT` requests are decoded at
once (others wait before their body is read), and the recorder's bounded queue
makes a request wait for room rather than growing: a fast client is slowed down,
never buffered without bound. Records the recorder still drops (a store stuck
past ``block_timeout``) are counted in the answer's partial success.
"""

from __future__ import annotations

import logging
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, Tuple

from .. import _recorder
from ._mapping import emit
from ._otlp import (
    OTLP_HINT,
    DecodeError,
    decode_json,
    decode_protobuf,
    encode_response,
    protobuf_available,
    status_body,
)

__all__ = ["LOOPBACK", "MAX_BODY", "MAX_CONCURRENT", "CollectorServer", "make_server"]

_logger = logging.getLogger("auditora")

#: Largest body accepted, in bytes, before and after gzip decompression (413 above).
MAX_BODY = 32 * 1024 * 1024
#: Requests decoded at the same time; the others wait (backpressure).
MAX_CONCURRENT = 4
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
_PATHS = {"/v1/traces": "traces", "/v1/logs": "logs", "/v1/metrics": "metrics"}
_JSON = "application/json"
_PROTOBUF = "application/x-protobuf"


def _queue_drops() -> int:
    """Records the recorder dropped so far for a full queue (the store not keeping up)."""
    dropped = _recorder.stats().get("dropped") or {}
    return int(dropped.get("queue_full", 0))


class _TooLarge(Exception):
    pass


def _gunzip(data: bytes, limit: int) -> bytes:
    """Decompress ``data`` (gzip or zlib framing), refusing to grow past ``limit`` bytes."""
    inflater = zlib.decompressobj(zlib.MAX_WBITS | 32)  # gzip or zlib header
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error as exc:
        raise DecodeError(f"invalid gzip body: {exc}") from exc
    if len(out) > limit or inflater.unconsumed_tail:
        raise _TooLarge
    if not inflater.eof:
        raise DecodeError("invalid gzip body: truncated")
    return out


class _Handler(BaseHTTPRequestHandler):
    server: CollectorServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            super().log_message(format, *args)

    def _answer(self, status: int, body: bytes, content_type: str, close: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)

    def _error(
        self, status: int, message: str, protobuf: bool = False, close: bool = False
    ) -> None:
        self.server.count("errors")
        body, content_type = status_body(message, protobuf and self.server.protobuf)
        self._answer(status, body, content_type, close)

    def _host_ok(self) -> bool:
        if not self.server.loopback:
            return True
        host = (self.headers.get("Host") or "").strip()
        name = host.rsplit(":", 1)[0] if not host.startswith("[") else host.split("]")[0] + "]"
        return name in LOOPBACK

    def do_GET(self) -> None:
        self._error(405, "only POST is accepted", close=True)

    do_PUT = do_DELETE = do_PATCH = do_GET

    def do_POST(self) -> None:
        try:
            self._post()
        except (ConnectionError, TimeoutError):
            self.close_connection = True
        except Exception as exc:  # never crash the server on one request
            _logger.exception("auditora collect: a request failed")
            try:
                self._error(500, f"internal error: {type(exc).__name__}", close=True)
            except OSError:
                self.close_connection = True

    def _post(self) -> None:
        if not self._host_ok():
            self._error(403, "forbidden host", close=True)
            return
        signal = _PATHS.get(self.path.split("?", 1)[0])
        if signal is None:
            self._error(
                404,
                f"unknown path {self.path[:100]!r}: POST /v1/traces, /v1/logs or /v1/metrics",
                close=True,
            )
            return
        content_type = (self.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
        protobuf = content_type == _PROTOBUF
        length_text = self.headers.get("Content-Length")
        if length_text is None or not length_text.strip().isdigit():
            self._error(411, "a Content-Length header is required", protobuf, close=True)
            return
        length = int(length_text)
        limit = self.server.max_body
        if length > limit:
            self._error(
                413,
                f"body of {length} bytes is over the limit of {limit} bytes",
                protobuf,
                close=True,
            )
            return
        if content_type not in (_JSON, _PROTOBUF):
            self._error(
                415,
                f"unsupported content type {content_type!r}: use {_JSON} or {_PROTOBUF}",
                close=True,
            )
            return
        if protobuf and not self.server.protobuf:
            self._error(415, OTLP_HINT, close=True)
            return
        with self.server.slots:  # bounded decoding: the other requests wait here
            data = self.rfile.read(length)
            if len(data) < length:
                self._error(400, "body shorter than its Content-Length", protobuf, close=True)
                return
            encoding = (self.headers.get("Content-Encoding") or "identity").strip().lower()
            try:
                if encoding in ("gzip", "deflate"):
                    data = _gunzip(data, limit)
                elif encoding != "identity":
                    self._error(
                        415, f"unsupported Content-Encoding {encoding!r}: use gzip", protobuf
                    )
                    return
                result = decode_protobuf(signal, data) if protobuf else decode_json(signal, data)
            except _TooLarge:
                self._error(
                    413, f"decompressed body over the limit of {limit} bytes", protobuf, close=True
                )
                return
            except DecodeError as exc:
                self._error(400, str(exc)[:500], protobuf)
                return
            emit(result.records)
            dropped = self.server.claim_drops()
        if dropped > 0:
            # The recorder waited block_timeout for room and gave up: the client hears of
            # it as a partial success (retrying would duplicate the records that were kept).
            result.rejected += dropped
            result.errors.append(f"{dropped} records dropped: the store is not keeping up")
        self.server.count(signal, len(result.records))
        self.server.count("rejected", result.rejected)
        self._answer(
            200, encode_response(signal, result, protobuf), _PROTOBUF if protobuf else _JSON
        )


class CollectorServer(ThreadingHTTPServer):
    """The receiver; ``serve_forever()`` until ``shutdown()`` (or Ctrl+C in the CLI)."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        host: str,
        port: int,
        *,
        max_body: int = MAX_BODY,
        max_concurrent: int = MAX_CONCURRENT,
        verbose: bool = False,
    ) -> None:
        self.loopback = host in LOOPBACK
        self.max_body = max_body
        self.verbose = verbose
        self.slots = threading.BoundedSemaphore(max_concurrent)
        self.protobuf = protobuf_available()
        self._counts: Dict[str, int] = {}
        self._count_lock = threading.Lock()
        self._drops_claimed = _queue_drops()
        if ":" in host:
            import socket

            self.address_family = socket.AF_INET6
        super().__init__((host, port), _Handler)

    def count(self, name: str, n: int = 1) -> None:
        with self._count_lock:
            self._counts[name] = self._counts.get(name, 0) + n

    def claim_drops(self) -> int:
        """Records the recorder dropped for a full queue since the last claim.

        One reading per request, after its records were handed over, and each drop
        is claimed by exactly one answer: reading before and after every request
        counted a drop twice when two requests overlapped, and the reading is not
        free (``_recorder.stats()`` counts the whole queue, which is full exactly
        when drops happen). A drop is told to the request that reads it first,
        which may be another one running at the same time; the total is exact.
        """
        total = _queue_drops()
        with self._count_lock:
            # A recorder configured afresh counts from zero again.
            new = total - self._drops_claimed if total >= self._drops_claimed else total
            self._drops_claimed = total
        return new

    def stats(self) -> Dict[str, int]:
        """Records received by signal (``traces`` counts the records spans became),
        items rejected, and error answers."""
        with self._count_lock:
            return dict(self._counts)

    @property
    def address(self) -> Tuple[str, int]:
        host, port = self.server_address[:2]
        return (host.decode() if isinstance(host, bytes) else str(host)), int(port)

    @property
    def endpoint(self) -> str:
        """``http://host:port`` (what ``OTEL_EXPORTER_OTLP_ENDPOINT`` takes)."""
        host, port = self.address
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def make_server(host: str = "127.0.0.1", port: int = 4318, **kwargs: Any) -> CollectorServer:
    """A :class:`CollectorServer` bound to ``host:port`` (port 0 picks a free one)."""
    return CollectorServer(host, port, **kwargs)
