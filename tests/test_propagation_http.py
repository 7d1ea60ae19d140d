"""Two services over loopback HTTP form one trace tree in a shared store."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import urllib.request
from pathlib import Path
from typing import Any, Dict

import auditora
from auditora import report, sentinel
from auditora.propagation import headers
from auditora.store import open_store
from auditora.testing import capture

# Service B: an http.server on 127.0.0.1 that continues the caller's trace for
# one request, records into the same store, and exits.
SERVICE_B = textwrap.dedent(
    """
    import sys
    from http.server import BaseHTTPRequestHandler, HTTPServer

    import auditora
    from auditora import report, sentinel
    from auditora.propagation import continue_trace

    auditora.configure(store=sys.argv[1], console=False)

    @sentinel(session_id="service-b")
    def lookup(key):
        report.info("looked up", key=key)
        return key.upper()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            with continue_trace(self.headers, name="GET /lookup"):
                body = lookup(self.path.rsplit("/", 1)[-1]).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    server.timeout = 60
    print(server.server_address[1], flush=True)
    server.handle_request()
    server.server_close()
    auditora.shutdown(10.0)
    """
)


@sentinel(session_id="service-a")
def ask(port: int, key: str) -> str:
    """Service A: calls service B with the trace headers of its current run."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}/lookup/{key}", headers=headers())
    with urllib.request.urlopen(request, timeout=30) as response:
        answer = response.read().decode()
    report.info("got answer", answer=answer)
    return answer


def shape(node: Dict[str, Any]) -> Any:
    """A run tree as (name, session, children shapes)."""
    return (node["name"], node["session_id"], [shape(c) for c in node["children"]])


def test_two_services_over_loopback_http_form_one_trace(tmp_path: Path) -> None:
    """B's runs are children of A's calling run, in A's trace, both in one store."""
    db = str(tmp_path / "auditora.db")
    auditora.configure(store=db, console=False)
    service_b = subprocess.Popen(
        [sys.executable, "-c", SERVICE_B, db],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert service_b.stdout is not None
        port = int(service_b.stdout.readline())
        with capture() as records:
            answer = ask(port, "abc")
        _, errors = service_b.communicate(timeout=60)
    finally:
        if service_b.poll() is None:
            service_b.kill()
            service_b.wait(timeout=10)
    assert auditora.flush(10.0)
    (run_a,) = records.runs
    with open_store(db) as store:
        roots = store.trace_tree(run_a.trace_id)
    assert (answer, service_b.returncode, errors) == ("ABC", 0, "")
    # The continued run belongs to the caller's session (from baggage); the
    # sentinel inside it keeps its own session.
    assert [shape(r) for r in roots] == [
        (
            "ask",
            "service-a",
            [("GET /lookup", "service-a", [("lookup", "service-b", [])])],
        )
    ]
