"""Requests per second through a minimal FastAPI endpoint under uvicorn on 127.0.0.1:
bare, with Auditora's ASGI middleware, and with OpenTelemetry's ASGI instrumentation.

Run from the repository root::

    python benchmarks/asgi.py                       # 5 rounds of 3 s per variant
    python benchmarks/asgi.py --rounds 9 --seconds 2 --connections 16

Variants, one uvicorn server process each (``--serve VARIANT`` is the server side):

- ``bare``: ``GET /items/{item_id}`` returning a small JSON body;
- ``auditora``: the same app with ``auditora.integrations.fastapi.instrument(app)``,
  records delivered to a SQLite store (the default pipeline, in the server process);
- ``auditora-nosink``: the middleware with no sink (the run and metrics, no delivery);
- ``sentinel``: no middleware, the endpoint a ``@sentinel()`` writing to a SQLite store:
  what recording one run per request costs by itself, for comparison;
- ``otel-asgi``: ``opentelemetry.instrumentation.asgi.OpenTelemetryMiddleware``
  with a ``TracerProvider``, a ``BatchSpanProcessor`` and an exporter that
  discards (no network), from ``auditora[bench]``.

The load comes from this process: ``--connections`` keep-alive HTTP/1.1
connections on raw asyncio streams (a client far cheaper than the server, so
the server is the bottleneck), each sending one request after another for
``--seconds``. All servers run for the whole benchmark; each round measures
every variant once, in a shuffled order, so background load on a shared
machine spreads over all of them. Figures are medians over rounds; ratios are
taken to ``bare`` in the same run. Beside each rate: the CPU time the server
process and its children (the store's writer process) spent per request, which
the machine's load moves far less than a rate. The budget: the middleware costs
at most 5 % of throughput.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict, List, Sequence

from _proc import cpu_seconds  # this directory is the script's: first on sys.path

VARIANTS = ("bare", "auditora", "auditora-nosink", "sentinel", "otel-asgi")
REQUEST = b"GET /items/42 HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: bench\r\n\r\n"
BUDGET = 0.05


# -- the server side ------------------------------------------------------------


def make_app(variant: str, store: str) -> Any:
    from fastapi import FastAPI

    app = FastAPI()

    async def item(item_id: int) -> Dict[str, int]:
        return {"item": item_id}

    if variant == "sentinel":
        import auditora

        auditora.configure(store=store, console=False)
        item = auditora.sentinel()(item)
    app.get("/items/{item_id}")(item)

    if variant.startswith("auditora"):
        import auditora
        from auditora.integrations.fastapi import instrument

        if variant == "auditora":
            auditora.configure(store=store, console=False)
        else:
            auditora.configure(sinks=[], console=False)
        instrument(app)
        return app
    if variant == "otel-asgi":
        from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import (
            BatchSpanProcessor,
            SpanExporter,
            SpanExportResult,
        )

        class Discard(SpanExporter):
            def export(self, spans: Sequence[Any]) -> SpanExportResult:
                return SpanExportResult.SUCCESS

        provider = TracerProvider()
        provider.add_span_processor(BatchSpanProcessor(Discard()))
        return OpenTelemetryMiddleware(app, tracer_provider=provider)
    return app


def serve(variant: str, store: str) -> None:
    import uvicorn

    app = make_app(variant, store)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted sockets inherit it (Linux): without it a response written in two
    # parts waits for the client's delayed ACK (40 ms) and every variant measures that.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    print(sock.getsockname()[1], flush=True)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    uvicorn.Server(config).run(sockets=[sock])


# -- the load side --------------------------------------------------------------


async def _connection(port: int, until: float, counts: List[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    done = 0
    try:
        while time.perf_counter() < until:
            writer.write(REQUEST)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            done += 1
    finally:
        counts.append(done)
        writer.close()


async def _load(port: int, seconds: float, connections: int) -> float:
    counts: List[int] = []
    start = time.perf_counter()
    until = start + seconds
    await asyncio.gather(*(_connection(port, until, counts) for _ in range(connections)))
    return sum(counts) / (time.perf_counter() - start)


def load(port: int, seconds: float, connections: int) -> float:
    """Requests per second ``connections`` keep-alive connections get from ``port``."""
    return asyncio.run(_load(port, seconds, connections))


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--serve", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--store", help=argparse.SUPPRESS)
    parser.add_argument("--rounds", type=int, default=5, help="rounds (5)")
    parser.add_argument("--seconds", type=float, default=3.0, help="seconds per sample (3)")
    parser.add_argument("--connections", type=int, default=8, help="connections (8)")
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve, args.store)
        return 0
    variants = [v for v in VARIANTS if v != "otel-asgi"]
    if importlib.util.find_spec("opentelemetry.instrumentation.asgi") is not None:
        variants.append("otel-asgi")
    else:
        print("otel-asgi skipped: pip install 'auditora[bench]'", file=sys.stderr)
    tmp = tempfile.mkdtemp(prefix="auditora-bench-asgi-")
    servers: Dict[str, subprocess.Popen[str]] = {}
    ports: Dict[str, int] = {}
    try:
        for variant in variants:
            proc = subprocess.Popen(
                [sys.executable, __file__, "--serve", variant, "--store", f"{tmp}/{variant}.db"],
                stdout=subprocess.PIPE,
                text=True,
            )
            servers[variant] = proc
            assert proc.stdout is not None
            ports[variant] = int(proc.stdout.readline())
        for variant in variants:  # warm-up: imports, first requests, JIT-free caches
            load(ports[variant], min(1.0, args.seconds), args.connections)
        rps: Dict[str, List[float]] = {v: [] for v in variants}
        #: CPU microseconds the server process and its children (the store's writer)
        #: spent per request: far steadier than a rate on a shared machine.
        cpu: Dict[str, List[float]] = {v: [] for v in variants}
        for round_no in range(args.rounds):
            order = random.sample(variants, len(variants))
            for variant in order:
                pid = servers[variant].pid
                before, start = cpu_seconds(pid), time.perf_counter()
                rate = load(ports[variant], args.seconds, args.connections)
                requests = rate * (time.perf_counter() - start)
                rps[variant].append(rate)
                cpu[variant].append((cpu_seconds(pid) - before) / max(requests, 1) * 1e6)
            figures = "  ".join(f"{v} {rps[v][-1]:,.0f}" for v in variants)
            print(f"round {round_no + 1}: {figures}", file=sys.stderr)
    finally:
        for proc in servers.values():
            proc.terminate()
        for proc in servers.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        for name in os.listdir(tmp):
            os.remove(os.path.join(tmp, name))
        os.rmdir(tmp)
    bare = statistics.median(rps["bare"])
    bare_cpu = statistics.median(cpu["bare"])
    print(
        f"\n{'variant':<18}{'req/s (median)':>16}{'min':>10}{'max':>10}{'vs bare':>10}"
        f"{'CPU us/req':>12}{'vs bare':>10}"
    )
    for variant in variants:
        med = statistics.median(rps[variant])
        used = statistics.median(cpu[variant])
        print(
            f"{variant:<18}{med:>16,.0f}{min(rps[variant]):>10,.0f}{max(rps[variant]):>10,.0f}"
            f"{med / bare - 1:>+10.1%}{used:>12,.1f}{used / bare_cpu - 1:>+10.1%}"
        )
    # Per-round ratios: each taken between samples of one round, less noisy than medians.
    for variant in variants[1:]:
        ratios = [a / b - 1 for a, b in zip(rps[variant], rps["bare"])]
        print(f"{variant} per-round cost: median {statistics.median(ratios):+.1%}")
    cost = 1 - statistics.median(rps["auditora"]) / bare
    verdict = "within" if cost <= BUDGET else "OVER"
    print(f"auditora middleware cost {cost:.1%} of throughput: {verdict} the {BUDGET:.0%} budget")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
