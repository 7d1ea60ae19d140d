"""Auditora's benchmark suite: ns per operation against a bare call and the peers.

Run from the repository root::

    python benchmarks/run.py                    # full run (a few minutes)
    python benchmarks/run.py --quick            # smoke run (seconds), same figures, rough
    python benchmarks/run.py --plots docs/img   # also write the scaling plots

Peers (OpenTelemetry SDK, Logfire, Langfuse, structlog, prometheus_client) come
from the ``auditora[bench]`` extra; a missing peer is reported and skipped.
Nothing here opens a network connection.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
from typing import Any, Dict, List, Optional

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import memory
import ours
import peers
import scaling
import sqlite_sink
from harness import Case, fmt_ns, group_cases, measure

#: The peers' figures quoted in issue 7 (ns, or bytes), measured on the
#: reference machine; their ratio to this run's figures gives the machine's
#: speed relative to it, used to scale the targets (see docs/benchmarks.md).
REFERENCE = {
    "call.sync/opentelemetry (no processor)": 9_000.0,
    "call.sync/logfire @instrument": 50_000.0,
    "call.sync/langfuse @observe": 127_000.0,
    "metric.increment/prometheus_client Counter.inc": 225.0,
    "event/opentelemetry span.add_event": 2_600.0,
    "log/structlog (JSON, contextvars)": 5_700.0,
}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def machine() -> Dict[str, Any]:
    """The machine and versions the figures belong to."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpu": cpu,
        "cpus": os.cpu_count(),
    }


def slowdown(cases: List[Case]) -> Optional[float]:
    """This machine's time / the reference machine's, from the peers' figures (median)."""
    by_key = {c.key: c for c in cases}
    ratios = [by_key[k].median / ref for k, ref in REFERENCE.items() if k in by_key]
    return statistics.median(ratios) if ratios else None


def print_groups(cases: List[Case], factor: Optional[float]) -> None:
    """One block per group: ns/op, spread, ratio to the bare call and to Auditora."""
    for group, members in group_cases(cases).items():
        base = next((c for c in members if c.baseline), None)
        mine = next(
            (c for c in members if c.ours and not c.baseline and "disabled" not in c.name), None
        )
        print(f"\n[{group}]")
        for c in members:
            x_bare = f"{c.median / base.median:7.1f}x bare" if base else ""
            x_ours = ""
            if mine is not None and c is not mine and not c.baseline:
                x_ours = f"  {c.median / mine.median:7.2f}x auditora"
            target = ""
            if c.target_ns is not None:
                met = "met" if c.median <= c.target_ns else "missed"
                target = f"  target {fmt_ns(c.target_ns)}: {met}"
                if factor:
                    met = "met" if c.median <= c.target_ns * factor else "missed"
                    target += f", at reference speed: {met}"
            print(
                f"  {c.name:<42} {c.median:10.1f} ns/op  ±{c.spread * 100:4.1f}%"
                f"  {x_bare}{x_ours}{target}"
            )


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: seconds, rough figures")
    parser.add_argument("--repeats", type=int, help="interleaved rounds (default 15, quick 3)")
    parser.add_argument("--sample-ms", type=float, help="length of one sample in ms")
    parser.add_argument("--json", metavar="PATH", help="write every figure as JSON")
    parser.add_argument("--plots", metavar="DIR", help="write bench_*.png scaling plots there")
    parser.add_argument(
        "--peers", help="comma-separated peers to load (default: all installed); 'none' for none"
    )
    parser.add_argument(
        "--skip", default="", help="comma-separated sections to skip: micro,memory,sqlite,scaling"
    )
    args = parser.parse_args(argv)
    quick = args.quick
    repeats = args.repeats or (3 if quick else 15)
    sample_ms = args.sample_ms or (3.0 if quick else 40.0)
    skip = set(filter(None, args.skip.split(",")))
    results: Dict[str, Any] = {"machine": machine(), "quick": quick}

    info = results["machine"]
    print(f"machine: {info['cpu']} ({info['cpus']} cpus), {info['platform']}")
    print(f"python {info['python']}; auditora {ours.version()}")
    only = None if args.peers is None else [p for p in args.peers.split(",") if p != "none"]

    # -- memory --------------------------------------------------------------
    if "memory" not in skip:
        n = 2_000 if quick else 20_000
        with_otel = only is None or "opentelemetry" in only
        try:
            import opentelemetry.sdk  # noqa: F401
        except ImportError:
            with_otel = False
        log(f"memory: {n} items per figure")
        mem = memory.measure_memory(n, with_otel)
        results["memory"] = mem
        print("\n[memory]")
        for name, value in mem.items():
            kind = "run" if name.endswith(("run", "span")) else "event"
            target = ""
            if name.startswith("auditora"):
                budget = memory.TARGETS[kind]
                target = f"  target {budget:.0f} B: {'met' if value <= budget else 'missed'}"
            print(f"  {name:<42} {value:10.1f} B/{kind}{target}")

    # -- SQLite store --------------------------------------------------------
    if "sqlite" not in skip and sqlite_sink.available():
        with tempfile.TemporaryDirectory(prefix="auditora-bench-") as tmp:
            drops: List[int] = []
            hot = sqlite_sink.hot_path_cases(tmp, drops)
            log("sqlite: hot path with the store on vs memory only")
            measure(hot, max(3, repeats // 2), sample_ms * 2)
            held, memory_only, store_on = hot
            ratio = store_on.median / memory_only.median
            log("sqlite: calls/s the store absorbs (tight loop until stored)")
            capacity = sqlite_sink.capacity(tmp, 3_000 if quick else 30_000)
            paced: Dict[int, Any] = {}
            for fraction in sqlite_sink.PACED_FRACTIONS:
                calls = max(sqlite_sink.BURST, int(capacity * fraction))
                lags: List[float] = []
                lost: List[int] = []
                cases = sqlite_sink.paced_cases(tmp, calls, 0.3 if quick else 1.0, lags, lost)
                log(f"sqlite: hot path at a sustained {calls} calls/s")
                measure(cases, 3 if quick else max(5, repeats // 2), sample_ms)
                paced[calls] = (cases, max(lags), sum(lost))
            records = 20_000 if quick else 300_000
            log(f"sqlite: persisting {records} records")
            rate = sqlite_sink.persisted_rate(tmp, records)
            log(f"sqlite: persisting {records} varied records")
            varied = sqlite_sink.persisted_rate(tmp, records, varied=True)
            queued = sqlite_sink.bytes_per_queued(2_000 if quick else 50_000)
            chunk = 20_000 if quick else 300_000
            log(f"sqlite: insert rate as one store grows by {chunk} records at a time")
            growth = sqlite_sink.growth_rates(tmp, 2 if quick else 4, chunk)
        results["sqlite"] = {
            "memory_only_ns": memory_only.median,
            "store_on_ns": store_on.median,
            "worker_held_ns": held.median,
            "ratio": ratio,
            "hot_path_drops": sum(drops),
            "capacity_calls_per_s": capacity,
            "paced": {
                str(calls): {
                    "fraction_of_capacity": calls / capacity,
                    "memory_only_ns": c[0].median,
                    "store_on_ns": c[1].median,
                    "ratio": c[1].median / c[0].median,
                    "max_catch_up_s": lag,
                    "dropped": lost,
                }
                for calls, (c, lag, lost) in paced.items()
            },
            **rate,
            "varied": varied,
            "bytes_per_queued_record": queued,
            "growth_chunk_records": chunk,
            "growth_rates_per_s": growth,
        }
        print("\n[sqlite store]  (unit: one call with one track and one info = 3 records)")
        print(f"  the store absorbs {capacity:,.0f} calls/s on this machine")
        print("  sustained load: bursts of 50 calls, idle in between (the budget's measure)")
        for calls, (cases, lag, lost) in paced.items():
            mem_c, store_c = cases
            paced_ratio = store_c.median / mem_c.median
            ok = "met" if paced_ratio <= sqlite_sink.RATIO_TARGET else "missed"
            print(
                f"  {calls / capacity:4.0%} = {calls:>6} calls/s: "
                f"memory only {mem_c.median:8.1f} ns  "
                f"store on {store_c.median:8.1f} ns  (±{store_c.spread * 100:4.1f}%)  "
                f"{paced_ratio:5.2f} x  target 1.5x: {ok}  "
                f"(caught up {lag:.2f} s after, {lost} dropped)"
            )
        print("  saturated: a tight loop producing ~10x what any store absorbs (the queue grows)")
        for c in hot:
            print(f"  {c.name:<42} {c.median:10.1f} ns/op  ±{c.spread * 100:4.1f}%")
        print(f"  {'store on / memory only':<42} {ratio:10.2f} x")
        held_ratio = held.median / memory_only.median
        print(f"  {'worker held / memory only':<42} {held_ratio:10.2f} x      (enqueue cost alone)")
        print(f"  {'records dropped while timing':<42} {sum(drops):10d}")
        ok = "met" if rate["persisted_per_s"] >= sqlite_sink.RATE_TARGET else "missed"
        print(
            f"  {'persisted records/s':<42} {rate['persisted_per_s']:10.0f} /s     "
            f"target 100,000/s: {ok}  ({rate['exported']:.0f} of {rate['records']:.0f} stored, "
            f"produced at {rate['produce_per_s']:.0f}/s)"
        )
        print(
            f"  {'  the same, varied names and metadata':<42} "
            f"{varied['persisted_per_s']:10.0f} /s     ({varied['exported']:.0f} of "
            f"{varied['records']:.0f} stored, produced at {varied['produce_per_s']:.0f}/s)"
        )
        print(f"  {'bytes per queued record':<42} {queued:10.1f} B")
        steps = "  ".join(f"{(i + 1) * chunk / 1e6:g}M: {r:,.0f}/s" for i, r in enumerate(growth))
        print(f"  {'records/s as the store grows':<42} {steps}")

    # -- scaling -------------------------------------------------------------
    scale: List[Case] = []
    if "scaling" not in skip:
        depths = (1, 10, 50) if quick else scaling.DEPTHS
        sessions = (1, 100, 10_000) if quick else scaling.SESSIONS
        threads = (1, 2) if quick else scaling.THREADS
        tracer = None
        if only is None or "opentelemetry" in only:
            try:
                tracer = peers.otel_tracers()[0]
            except ImportError:
                tracer = None
        scale = (
            scaling.depth_cases(depths, tracer)
            + scaling.session_cases(sessions)
            + scaling.thread_cases(threads)
        )
        log(f"scaling: {len(scale)} cases")
        measure(scale, max(5, repeats // 2), sample_ms)
        print("\n[scaling]  (ns per call)")
        for group, members in group_cases(scale).items():
            row = "  ".join(f"{c.name} {c.median:9.1f}" for c in members)
            print(f"  {group:<16} {row}")
        if args.plots:
            os.makedirs(args.plots, exist_ok=True)
            try:
                for path in scaling.plot(scale, os.path.join(args.plots, "")):
                    print(f"wrote {path}")
            except ImportError as exc:
                print(f"plots skipped: {exc}; pip install 'auditora[bench]'")

    # -- operations against the peers ----------------------------------------
    cases: List[Case] = []
    factor = None
    if "micro" not in skip:
        cases = ours.cases()
        peer_cases, peer_status = peers.load(only)
        for name, status in peer_status.items():
            print(f"peer {name}: {status}")
        results["peers"] = peer_status
        cases += peer_cases
        cases.sort(key=lambda c: list(ours.GROUPS).index(c.group))
        log(f"operations: {len(cases)} cases, {repeats} interleaved rounds of ~{sample_ms} ms")
        measure(cases, repeats, sample_ms)
        factor = slowdown(cases)
        if factor:
            print(f"\nthis machine / reference machine (peers' medians): {factor:.2f}")
        print_groups(cases, factor)
    results["slowdown"] = factor

    if args.json:
        results["cases"] = [_case_json(c) for c in cases + scale]
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


def _case_json(c: Case) -> Dict[str, Any]:
    return {
        "group": c.group,
        "name": c.name,
        "ours": c.ours,
        "baseline": c.baseline,
        "median_ns": c.median,
        "spread": c.spread,
        "samples_ns": c.samples,
        "n": c.n,
        "target_ns": c.target_ns,
    }


if __name__ == "__main__":
    sys.exit(main())
