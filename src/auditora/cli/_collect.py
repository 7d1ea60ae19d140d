"""``auditora collect --store STORE``: receive OTLP from any instrumented app into a store."""

from __future__ import annotations

import argparse
import gc
import signal
import sys
from typing import Any

from .._argparse import port as port_type

__all__ = ["add_parser", "run"]

_DESCRIPTION = """\
Receive OpenTelemetry traces, logs and metrics over OTLP/HTTP (POST /v1/traces,
/v1/logs, /v1/metrics; JSON, or protobuf with `pip install 'auditora[otlp]'`;
gzip accepted) and write them to a store (a SQLite file or a postgresql:// URL) as
Auditora records: spans become
runs, GenAI and OpenInference model spans become priced LLM calls. Point an app
at it with OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318. Ctrl+C stops it
after writing every record received."""


def add_parser(sub: Any) -> None:
    """Register the ``collect`` subcommand on ``sub`` (argparse subparsers)."""
    p = sub.add_parser(
        "collect",
        help="receive OTLP spans, logs and metrics from any instrumented app into a store",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--store",
        required=True,
        help="the store to write: a SQLite file (created if missing) or a postgresql:// URL",
    )
    p.add_argument(
        "--port", type=port_type, default=4318, help="port (default 4318; 0 picks a free one)"
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow a --host other than loopback (anyone who reaches it can write records)",
    )
    p.add_argument("--verbose", action="store_true", help="log every request")


def _err(message: str) -> int:
    print(f"auditora: {message}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    """Serve until Ctrl+C (or SIGTERM), then flush every record to the store."""
    from .. import _configure, _recorder
    from ..collect import make_server
    from ..collect._server import LOOPBACK
    from ..store import StoreError
    from ..store._url import mask

    if args.host not in LOOPBACK:
        if not args.allow_remote:
            return _err(
                f"--host {args.host} is not a loopback address: add --allow-remote to accept "
                "records from other machines"
            )
        print(
            f"auditora: warning: listening on {args.host}: anyone who can reach it can write "
            "records into the store",
            file=sys.stderr,
        )
    try:
        _configure.configure(store=args.store, console=False)
    except (StoreError, ValueError, OSError) as exc:
        return _err(f"cannot open the store {mask(args.store)}: {mask(str(exc))}")
    try:
        server = make_server(args.host, args.port, verbose=args.verbose)
    except OSError as exc:
        return _err(
            f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc} "
            "(is another collector running? try --port 0 for a free port)"
        )

    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    # Decoding allocates many short-lived, acyclic dicts: with the default thresholds the
    # cyclic collector runs every few hundred of them, walking everything imported too.
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)
    print(
        f"auditora collect: OTLP/HTTP at {server.endpoint} writing to {mask(args.store)}"
        "  (Ctrl+C to stop)",
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.server_close()
        complete = _recorder.shutdown(timeout=30.0)
    stats = server.stats()
    print(
        "auditora collect: stopped; records written: "
        f"{stats.get('traces', 0)} from spans, {stats.get('logs', 0)} logs, "
        f"{stats.get('metrics', 0)} metric snapshots; rejected {stats.get('rejected', 0)}",
        flush=True,
    )
    if not complete:
        print("auditora: warning: some records could not be written (see above)", file=sys.stderr)
        return 1
    return 0
