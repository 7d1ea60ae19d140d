"""Bad requests get the OTLP/HTTP answers (400, 413, 415, 404, 405, 403) with a message,
and the collector keeps serving after each of them."""

from __future__ import annotations

import gzip
import http.client
import json
from pathlib import Path

import pytest

from auditora.collect import MAX_BODY
from auditora.store import open_store
from collect_helpers import collector, post, post_json

GOOD = {
    "resourceSpans": [
        {
            "scopeSpans": [
                {
                    "spans": [
                        {
                            "traceId": "5b8efff798038103d269b633813fc60c",
                            "spanId": "eee19b7ec3c1b174",
                            "name": "still-alive",
                            "startTimeUnixNano": "1",
                            "endTimeUnixNano": "2",
                        }
                    ]
                }
            ]
        }
    ]
}


def _protobuf_request() -> bytes:
    pytest.importorskip("opentelemetry.proto")
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

    span = Span(trace_id=b"\x01" * 16, span_id=b"\x02" * 8, name="p" * 40, start_time_unix_nano=1)
    request = ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=[span])])]
    )
    return bytes(request.SerializeToString())


def test_each_bad_body_gets_its_status_and_the_server_keeps_serving(tmp_path: Path) -> None:
    """Truncated protobuf, invalid JSON, JSON of the wrong shape, a wrong content type, a
    gzip body that is not gzip: each is answered with its status and a message."""
    data = _protobuf_request()
    with collector(tmp_path / "s.db") as server:
        status, body = post(server, "/v1/traces", data[: len(data) // 2], "application/x-protobuf")
        assert status == 400
        status, body = post(server, "/v1/traces", b'{"resourceSpans": [', "application/json")
        assert (status, "invalid JSON" in json.loads(body)["message"]) == (400, True)
        status, body = post(server, "/v1/traces", b'{"resourceSpans": 5}')
        assert (status, "must be a list" in json.loads(body)["message"]) == (400, True)
        status, body = post(server, "/v1/traces", b"[1, 2]")
        assert status == 400
        status, body = post(server, "/v1/traces", b"{}", "text/plain")
        assert (status, "unsupported content type" in json.loads(body)["message"]) == (415, True)
        status, body = post(server, "/v1/traces", b"not gzip", headers={"Content-Encoding": "gzip"})
        assert (status, "gzip" in json.loads(body)["message"]) == (400, True)
        assert post(server, "/v1/spans", b"{}")[0] == 404
        assert post_json(server, "/v1/traces", GOOD) == (200, {})
        errors = server.stats()["errors"]
    assert errors == 7
    with open_store(tmp_path / "s.db") as s:
        assert [r["name"] for r in s.runs(limit=None)] == ["still-alive"]


def test_a_body_over_the_limit_is_413_before_it_is_read(tmp_path: Path) -> None:
    """A Content-Length over MAX_BODY is refused at once (413), without reading the body."""
    with collector(tmp_path / "s.db") as server:
        host, port = server.address
        conn = http.client.HTTPConnection(host, port, timeout=10)
        conn.putrequest("POST", "/v1/traces")
        conn.putheader("Content-Type", "application/json")
        conn.putheader("Content-Length", str(MAX_BODY + 1))
        conn.endheaders()
        response = conn.getresponse()
        assert (response.status, b"over the limit" in response.read()) == (413, True)
        conn.close()
        assert post_json(server, "/v1/traces", GOOD)[0] == 200


def test_a_gzip_bomb_is_413(tmp_path: Path) -> None:
    """A small gzip body that would inflate past the limit is refused (413), not inflated."""
    bomb = gzip.compress(b" " * (4 * 1024 * 1024))
    with collector(tmp_path / "s.db", max_body=1024 * 1024) as server:
        status, body = post(server, "/v1/traces", bomb, headers={"Content-Encoding": "gzip"})
        assert (status, b"decompressed body over the limit" in body) == (413, True)
        ok = gzip.compress(json.dumps(GOOD).encode())
        assert post(server, "/v1/traces", ok, headers={"Content-Encoding": "gzip"})[0] == 200


def test_protobuf_without_the_extra_is_415_with_the_install_hint(tmp_path: Path) -> None:
    """Without opentelemetry-proto a protobuf body is answered 415 naming auditora[otlp]."""
    with collector(tmp_path / "s.db") as server:
        server.protobuf = False  # as when opentelemetry-proto is not installed
        status, body = post(server, "/v1/traces", b"\x0a\x00", "application/x-protobuf")
    assert (status, "pip install 'auditora[otlp]'" in json.loads(body)["message"]) == (415, True)


def test_only_post_and_only_loopback_host_names(tmp_path: Path) -> None:
    """GET is 405; a request naming another host (DNS rebinding) is 403."""
    with collector(tmp_path / "s.db") as server:
        host, port = server.address
        conn = http.client.HTTPConnection(host, port, timeout=10)
        conn.request("GET", "/v1/traces")
        assert conn.getresponse().status == 405
        conn.close()
        status, _ = post(server, "/v1/traces", b"{}", headers={"Host": "evil.example:4318"})
        assert status == 403


def test_protobuf_partial_success_is_a_protobuf_answer(tmp_path: Path) -> None:
    """A protobuf request with a span lacking ids is answered with a protobuf
    ExportTraceServiceResponse whose partial_success counts it."""
    pytest.importorskip("opentelemetry.proto")
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
        ExportTraceServiceResponse,
    )
    from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

    spans = [Span(trace_id=b"\x01" * 16, span_id=b"\x02" * 8, name="kept"), Span(name="no ids")]
    request = ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=spans)])]
    )
    with collector(tmp_path / "s.db") as server:
        status, body = post(
            server, "/v1/traces", request.SerializeToString(), "application/x-protobuf"
        )
    answer = ExportTraceServiceResponse.FromString(body)
    assert (status, answer.partial_success.rejected_spans) == (200, 1)
    with open_store(tmp_path / "s.db") as s:
        (run,) = s.runs(limit=None)
    assert (run["name"], run["trace_id"], run["run_id"]) == ("kept", "01" * 16, "02" * 8)
