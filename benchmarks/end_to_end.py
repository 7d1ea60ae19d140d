"""End to end: a small LLM pipeline recorded, delivered and counted, one process per variant.

Run from the repository root::

    python benchmarks/end_to_end.py                      # N=10,000 root calls, 3 repeats
    python benchmarks/end_to_end.py --n 1000 --repeats 1 # rough figures in seconds
    python benchmarks/end_to_end.py --json               # JSON on stdout, the table on stderr

The workload: ``N`` root calls, each making 3 nested instrumented calls that
together track 2 events, write 1 log, 1 LLM call and 1 evaluation. Variants:

- ``auditora-store``: ``configure(store=..., console=False)``, default settings;
  every record kept in SQLite.
- ``auditora-noop``: the same records handed to a sink that only counts them.
- ``auditora-otel``: ``OTelSink`` with counting span and log exporters (no metrics).
- ``otel-batch``: the OpenTelemetry SDK decorator, ``BatchSpanProcessor`` and an
  exporter that counts spans and keeps nothing.

Each variant runs in a fresh process (peak RSS is per process), ``--repeats``
times, interleaved in a shuffled order per round. The timed part is the calls
plus the flush that delivers them; it follows 20 warm-up calls and a
``gc.collect()``. Ratios are taken between medians of the same run. Nothing
here opens a network connection.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import os
import random
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from typing import Any, Callable, Dict, List, NamedTuple, Optional

VARIANTS = ("auditora-store", "auditora-noop", "auditora-otel", "otel-batch")
OTEL_VARIANTS = ("auditora-otel", "otel-batch")
OTEL_HINT = "pip install 'auditora[otel]'"
WARMUP = 20
#: Spans per root call in both OTel variants: root, 3 steps and the LLM call's CLIENT span.
SPANS_PER_ROOT = 5
LLM_ATTRIBUTES: Dict[str, Any] = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-4o-mini",
    "gen_ai.usage.input_tokens": 120,
    "gen_ai.usage.output_tokens": 30,
}

#: Budgets of issue 12.
SPEEDUP_STORE = 2.0  # otel-batch wall time / auditora-store's, at least
SPEEDUP_OTEL = 3.0  # otel-batch wall time / auditora-otel's, at least
RATE_TARGET = 100_000.0  # auditora-store records persisted per second
RSS_TARGET_MB = 30.0  # auditora-store peak RSS added

#: What each variant does with what it is handed: the rows compare different work.
KEEPS = {
    "auditora-store": "keeps all (SQLite)",
    "auditora-noop": "counts, keeps none",
    "auditora-otel": "spans+logs, counted",
    "otel-batch": "spans, counted",
}


# -- the child: one variant, one process ---------------------------------------


class Pipeline(NamedTuple):
    root: Callable[[int], None]
    flush: Callable[[], bool]
    #: Items delivered so far (records or spans), and variant-specific figures.
    counts: Callable[[], Dict[str, Any]]
    unit: str


def _auditora_root() -> Callable[[int], None]:
    from auditora import monitor, report, sentinel

    @sentinel(name="retrieve")
    def retrieve(i: int) -> None:
        monitor.track("cache_miss", key=i % 97)
        monitor.track("retrieved", docs=3)

    @sentinel(name="generate")
    def generate(i: int) -> None:
        report.info("generating", attempt=1)
        report.log_llm_call(
            "gpt-4o-mini", prompt_tokens=120, completion_tokens=30, response_time=0.42
        )

    @sentinel(name="judge")
    def judge(i: int) -> None:
        report.log_evaluation_result("accuracy", 0.9, threshold=0.8)

    @sentinel(name="root")
    def root(i: int) -> None:
        retrieve(i)
        generate(i)
        judge(i)

    return root


def _exported() -> int:
    import auditora

    return sum(s.get("exported", 0) for s in auditora.stats().get("sinks", {}).values())


def _store_rows(path: str) -> Dict[str, int]:
    """Rows per table of the store (its own ``meta`` table left out)."""
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        names = [
            r[0]
            for r in con.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
            if r[0] != "meta"
        ]
        return {t: con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in names}
    finally:
        con.close()


def _setup_auditora_store(store: str) -> Pipeline:
    import auditora

    auditora.configure(store=store, console=False)
    return Pipeline(
        _auditora_root(),
        lambda: auditora.flush(timeout=600),
        lambda: {"delivered": _exported(), "rows": _store_rows(store), **_writer_peak()},
        "records",
    )


def _writer_peak() -> Dict[str, float]:
    """The store's writer process's peak RSS so far (a process of its own, so not in
    this one's), in MB; nothing when it writes in process or this is not Linux."""
    import auditora

    sinks = auditora.stats()["sinks"]
    pid = next((s["writer_pid"] for s in sinks.values() if s.get("writer_pid")), None)
    peak = _proc_status("VmHWM", pid=str(pid)).get("VmHWM") if pid else None
    return {} if peak is None else {"writer_peak_mb": peak / 1024}


def _setup_auditora_noop(store: str) -> Pipeline:
    import auditora
    from auditora.sinks import Sink

    class Count(Sink):
        name = "count"
        records = 0

        def export(self, batch: Any) -> None:
            self.records += len(batch)

    sink = Count()
    auditora.configure(sinks=[sink], console=False)
    return Pipeline(
        _auditora_root(),
        lambda: auditora.flush(timeout=600),
        lambda: {"delivered": sink.records},
        "records",
    )


def _span_counter() -> Any:
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

    class CountSpans(SpanExporter):
        """Counts spans and their events; keeps nothing."""

        spans = events = 0

        def export(self, spans: Any) -> SpanExportResult:
            self.spans += len(spans)
            self.events += sum(len(s.events) for s in spans)
            return SpanExportResult.SUCCESS

        def shutdown(self) -> None:
            return None

        def force_flush(self, timeout_millis: int = 30_000) -> bool:
            return True

    return CountSpans()


class _CountLogs:
    """A log exporter (duck-typed: the SDK renamed its base class) that only counts."""

    def __init__(self) -> None:
        self.records = 0

    def export(self, batch: Any) -> None:  # None is success to OTelSink
        self.records += len(batch)

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True

    def shutdown(self) -> None:
        return None


def _setup_auditora_otel(store: str) -> Pipeline:
    import auditora
    from auditora.integrations.otel import OTelSink

    spans, logs = _span_counter(), _CountLogs()
    # Exporters passed in: the sink builds no OTLP exporter, so nothing leaves the process.
    sink = OTelSink(span_exporter=spans, log_exporter=logs, metrics=False)
    auditora.configure(sinks=[sink], console=False)
    return Pipeline(
        _auditora_root(),
        lambda: auditora.flush(timeout=600),
        lambda: {"delivered": spans.spans, "span_events": spans.events, "logs": logs.records},
        "spans",
    )


def _setup_otel_batch(store: str) -> Pipeline:
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.trace import SpanKind

    exporter = _span_counter()
    provider = TracerProvider()  # private: the global provider is left alone
    provider.add_span_processor(BatchSpanProcessor(exporter))  # its default queue and batch
    tracer = provider.get_tracer("end-to-end")
    current = trace.get_current_span

    # The same shape: events and the log as span events, the LLM call as a CLIENT span.
    @tracer.start_as_current_span("retrieve")
    def retrieve(i: int) -> None:
        span = current()
        span.add_event("cache_miss", {"key": i % 97})
        span.add_event("retrieved", {"docs": 3})

    @tracer.start_as_current_span("generate")
    def generate(i: int) -> None:
        current().add_event("log", {"message": "generating", "level": "INFO", "attempt": 1})
        with tracer.start_as_current_span(
            "chat gpt-4o-mini", kind=SpanKind.CLIENT, attributes=LLM_ATTRIBUTES
        ):
            pass

    @tracer.start_as_current_span("judge")
    def judge(i: int) -> None:
        current().add_event(
            "gen_ai.evaluation.result",
            {
                "gen_ai.evaluation.name": "accuracy",
                "gen_ai.evaluation.score.value": 0.9,
                "threshold": 0.8,
            },
        )

    @tracer.start_as_current_span("root")
    def root(i: int) -> None:
        retrieve(i)
        generate(i)
        judge(i)

    return Pipeline(
        root,
        lambda: bool(provider.force_flush(600_000)),
        lambda: {"delivered": exporter.spans, "span_events": exporter.events},
        "spans",
    )


SETUPS: Dict[str, Callable[[str], Pipeline]] = {
    "auditora-store": _setup_auditora_store,
    "auditora-noop": _setup_auditora_noop,
    "auditora-otel": _setup_auditora_otel,
    "otel-batch": _setup_otel_batch,
}


def _maxrss_kb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 if sys.platform == "darwin" else float(peak)  # bytes on macOS


def _proc_status(*keys: str, pid: str = "self") -> Dict[str, float]:
    try:
        with open(f"/proc/{pid}/status") as f:
            return {
                k: float(v.split()[0]) for k, v in (line.split(":", 1) for line in f) if k in keys
            }
    except OSError:
        return {}


def _rss_start() -> Dict[str, Any]:
    """RSS now and the peak reset to it, so the peak read later is the timed part's.

    ``ru_maxrss`` alone misleads here: on Linux a child starts with its parent's
    peak (it survives fork and exec), so a parent bigger than the child hides the
    child's growth. ``VmHWM`` belongs to the process's own memory map and
    ``/proc/self/clear_refs`` resets it."""
    start: Dict[str, Any] = {"maxrss_kb": _maxrss_kb(), "method": "ru_maxrss"}
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # 5: reset the peak RSS (VmHWM) to the current RSS
    except OSError:
        return start  # not Linux: ru_maxrss, as good as the parent is small
    start.update(rss_kb=_proc_status("VmRSS")["VmRSS"], method="VmHWM")
    return start


def _rss_added_kb(start: Dict[str, Any]) -> Dict[str, Any]:
    maxrss = _maxrss_kb()
    out = {"method": start["method"], "maxrss_added_kb": maxrss - start["maxrss_kb"]}
    if start["method"] == "VmHWM":
        peak = _proc_status("VmHWM")["VmHWM"]
        out.update(rss_before_kb=start["rss_kb"], rss_peak_kb=peak)
    else:
        out.update(rss_before_kb=start["maxrss_kb"], rss_peak_kb=maxrss)
    out["rss_added_kb"] = out["rss_peak_kb"] - out["rss_before_kb"]
    return out


def _losses() -> Dict[str, Any]:
    import auditora

    st = auditora.stats()
    dropped = {k: v for k, v in st.get("dropped", {}).items() if v}
    for name, sink in st.get("sinks", {}).items():
        for reason, k in sink.get("dropped", {}).items():
            if k:
                dropped[f"{name}:{reason}"] = k
    return {"dropped": dropped, "lost": st.get("lost", 0)}


def child(variant: str, n: int, store: str) -> Dict[str, Any]:
    """Run one variant in this process; its figures as a dict."""
    pipeline = SETUPS[variant](store)
    per_root: Optional[Dict[str, int]] = None
    for i in range(WARMUP - 1):
        pipeline.root(i)
    if variant.startswith("auditora"):
        from auditora.testing import capture

        # What one root call produces, seen at the source: the records expected.
        with capture() as made:
            pipeline.root(WARMUP - 1)
        per_root = dict(Counter(r.kind for r in made))
    else:
        pipeline.root(WARMUP - 1)
    if variant in OTEL_VARIANTS:
        expected = SPANS_PER_ROOT * n
    else:
        expected = sum((per_root or {}).values()) * n
    warm_ok = pipeline.flush()
    before = pipeline.counts()
    gc.collect()
    rss = _rss_start()

    t0 = time.perf_counter()
    for i in range(n):
        pipeline.root(i)
    t1 = time.perf_counter()
    flushed = pipeline.flush()
    t2 = time.perf_counter()

    memory = _rss_added_kb(rss)
    after = pipeline.counts()
    delivered = after["delivered"] - before["delivered"]
    out: Dict[str, Any] = {
        "variant": variant,
        "n": n,
        "unit": pipeline.unit,
        "calls_s": t1 - t0,
        "flush_s": t2 - t1,
        "wall_s": t2 - t0,
        "flush_ok": bool(flushed and warm_ok),
        "delivered": delivered,
        "expected": expected,
        "delivered_per_s": delivered / (t2 - t0),
        "rss_added_mb": memory["rss_added_kb"] / 1024,
        "rss": memory,
        "per_root": per_root,
    }
    if "writer_peak_mb" in after:
        out["writer_peak_mb"] = after["writer_peak_mb"]
    if "rows" in after:
        out["rows_added"] = {t: k - before["rows"].get(t, 0) for t, k in after["rows"].items()}
    for key in ("span_events", "logs"):
        if key in after:
            out[key] = after[key] - before[key]
    if variant.startswith("auditora"):
        out.update(_losses())
    else:
        # The batch processor drops silently when its queue is full: the shortfall is the loss.
        out.update({"dropped": {}, "lost": expected - delivered})
    return out


# -- the parent: rounds, medians, ratios, budgets --------------------------------


def _otel_installed() -> bool:
    try:
        return importlib.util.find_spec("opentelemetry.sdk") is not None
    except ModuleNotFoundError:  # not even the API
        return False


def _run_child(variant: str, n: int, tmpdir: str, round_no: int) -> Dict[str, Any]:
    store = os.path.join(tmpdir, f"e2e-{round_no}.db")
    proc = subprocess.run(
        [
            sys.executable,
            os.path.abspath(__file__),
            "--child",
            variant,
            "--n",
            str(n),
            *("--store", store),
        ],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{variant} failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    if proc.stderr.strip():  # warnings, e.g. the recorder reporting drops
        print(f"[{variant}] {proc.stderr.strip()}", file=sys.stderr)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _summary(runs: List[Dict[str, Any]]) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    for key in ("wall_s", "calls_s", "flush_s", "delivered", "delivered_per_s", "rss_added_mb"):
        values = [r[key] for r in runs]
        out[key] = {"median": statistics.median(values), "min": min(values), "max": max(values)}
    peaks = [r["writer_peak_mb"] for r in runs if "writer_peak_mb" in r]
    if peaks:
        out["writer_peak_mb"] = {"median": statistics.median(peaks), "max": max(peaks)}
    out["expected"] = runs[0]["expected"]
    out["unit"] = runs[0]["unit"]
    out["all_delivered"] = all(r["delivered"] == r["expected"] for r in runs)
    # What did not arrive, whatever the library's own counters say.
    out["missing"] = sum(r["expected"] - r["delivered"] for r in runs)
    out["counted_drops"] = sum(sum(r["dropped"].values()) for r in runs)
    return out


def _speedup(
    results: Dict[str, List[Dict[str, Any]]], ours: str, peer: str, budget: Optional[float]
) -> Optional[Dict[str, Any]]:
    """``peer``'s median wall time / ``ours``: how many times faster ours is."""
    if ours not in results or peer not in results:
        return None
    a = statistics.median(r["wall_s"] for r in results[ours])
    b = statistics.median(r["wall_s"] for r in results[peer])
    # Pairs from the same round ran under the same background load.
    rounds = [p["wall_s"] / o["wall_s"] for o, p in zip(results[ours], results[peer])]
    complete = all(r["delivered"] == r["expected"] for r in results[ours])
    out: Dict[str, Any] = {
        "ours_s": a,
        "peer_s": b,
        "speedup": b / a,
        "per_round_min": min(rounds),
        "per_round_max": max(rounds),
        "ours_delivered_all": complete,
    }
    if budget is not None:
        out["budget"] = budget
        # Faster by losing records would not count.
        out["met"] = b / a >= budget and complete
    return out


def _fmt_range(s: Dict[str, float], fmt: str) -> str:
    return f"{s['median']:{fmt}} ({s['min']:{fmt}}-{s['max']:{fmt}})"


def report(doc: Dict[str, Any], out: Any) -> None:
    """The figures table, the ratios and the budgets, as text."""
    p = lambda *a: print(*a, file=out)  # noqa: E731
    m = doc["machine"]
    p(f"machine: {m['cpu']} ({m['cpus']} cpus), {m['platform']}; python {m['python']}")
    p(f"versions: {', '.join(f'{k} {v}' for k, v in doc['versions'].items())}")
    p(
        f"end to end: {doc['n']:,} root calls x (3 nested calls, 2 events, 1 log, 1 LLM call, "
        f"1 evaluation); {doc['repeats']} interleaved repeat(s), one process each; "
        "median (min-max)"
    )
    for name, why in doc.get("skipped", {}).items():
        p(f"  {name}: skipped ({why})")
    p("")
    p(
        f"  {'variant':<15} {'keeps':<20} {'wall s':>20} {'calls s':>8} {'flush s':>8}"
        f"  {'delivered / expected':>28} {'delivered/s':>11} {'RSS added MB':>17} {'missing':>7}"
    )
    for name, s in doc["summary"].items():
        got = f"{s['delivered']['median']:,.0f} / {s['expected']:,} {s['unit']}"
        p(
            f"  {name:<15} {KEEPS[name]:<20} {_fmt_range(s['wall_s'], '.3f'):>20}"
            f" {s['calls_s']['median']:>8.3f} {s['flush_s']['median']:>8.3f}  {got:>28}"
            f" {s['delivered_per_s']['median']:>11,.0f} {_fmt_range(s['rss_added_mb'], '.1f'):>17}"
            f" {s['missing']:>7,}"
        )
    p("  (missing: expected - delivered, summed over the repeats)")

    p("\nratios (medians of this run; the per-round range in brackets)")
    rows = (
        ("store_vs_otel", "auditora-store vs otel-batch", "different work: keeps all vs discards"),
        ("noop_vs_otel", "auditora-noop vs otel-batch", "like for like: both hand over, keep none"),
        ("otel_vs_otel", "auditora-otel vs otel-batch", "both deliver spans to a discarding end"),
    )
    for key, label, note in rows:
        r = doc["ratios"].get(key)
        if r is None:
            continue
        verdict = ""
        if "budget" in r:
            verdict = f"  budget >= {r['budget']:g}x: {'met' if r['met'] else 'missed'}"
            if not r["ours_delivered_all"]:
                verdict += " (records lost)"
        p(
            f"  {label:<30} {r['ours_s']:.3f} s vs {r['peer_s']:.3f} s = {r['speedup']:.2f}x "
            f"as fast [{r['per_round_min']:.2f}-{r['per_round_max']:.2f}]{verdict}  ({note})"
        )
    store = doc["summary"].get("auditora-store")
    if store is not None:
        b = doc["budgets"]
        p(
            f"  {'auditora-store persisted/s':<30} {store['delivered_per_s']['median']:,.0f} "
            f"records/s  budget >= {RATE_TARGET:,.0f}/s: {'met' if b['rate_met'] else 'missed'}"
        )
        p(
            f"  {'auditora-store RSS added':<30} {store['rss_added_mb']['median']:.1f} MB  "
            f"budget <= {RSS_TARGET_MB:g} MB: {'met' if b['rss_met'] else 'missed'}"
        )
        if "writer_peak_mb" in store:
            writer = store["writer_peak_mb"]["median"]
            total = store["rss_added_mb"]["median"] + writer
            p(
                f"  {'  + its writer process':<30} {writer:.1f} MB peak RSS, interpreter "
                f"included: {total:.1f} MB in all, "
                f"{'within' if total <= RSS_TARGET_MB else 'over'} the budget"
            )
    p(
        "\notel-batch keeps nothing (its exporter counts spans and drops them) while\n"
        "auditora-store keeps every record in SQLite: that row compares different work.\n"
        "auditora-noop vs otel-batch is the like-for-like row."
    )


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--n", type=int, default=10_000, help="root calls (default 10,000)")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument(
        "--json", action="store_true", help="JSON on stdout; the table goes to stderr"
    )
    parser.add_argument(
        "--variants", default=",".join(VARIANTS), help=f"comma-separated, of {', '.join(VARIANTS)}"
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of the per-round order")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--store", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        print(json.dumps(child(args.child, args.n, args.store)), flush=True)
        os._exit(0)  # the recorder's atexit shutdown is not part of the figures

    chosen = [v for v in args.variants.split(",") if v]
    unknown = set(chosen) - set(VARIANTS)
    if unknown:
        parser.error(f"unknown variants: {', '.join(sorted(unknown))}")
    skipped: Dict[str, str] = {}
    if not _otel_installed():
        for v in OTEL_VARIANTS:
            if v in chosen:
                chosen.remove(v)
                skipped[v] = f"opentelemetry-sdk is not installed; {OTEL_HINT}"

    results: Dict[str, List[Dict[str, Any]]] = {v: [] for v in chosen}
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="auditora-e2e-") as tmp:
        for r in range(args.repeats):
            order = list(chosen)
            rng.shuffle(order)
            for v in order:
                print(f"round {r + 1}/{args.repeats}: {v}", file=sys.stderr, flush=True)
                results[v].append(_run_child(v, args.n, tmp, r))

    # Imported only now: the children start with this process's peak RSS as theirs.
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from peers import dist_version
    from run import machine

    summary = {v: _summary(results[v]) for v in chosen}
    store = summary.get("auditora-store")
    doc: Dict[str, Any] = {
        "machine": machine(),
        "versions": {
            d: dist_version(d)
            for d in ("auditora", "opentelemetry-sdk")
            if d == "auditora" or set(OTEL_VARIANTS) & set(chosen)
        },
        "date": time.strftime("%Y-%m-%d"),
        "n": args.n,
        "repeats": args.repeats,
        "skipped": skipped,
        "summary": summary,
        "ratios": {
            k: v
            for k, v in {
                "store_vs_otel": _speedup(results, "auditora-store", "otel-batch", SPEEDUP_STORE),
                "noop_vs_otel": _speedup(results, "auditora-noop", "otel-batch", None),
                "otel_vs_otel": _speedup(results, "auditora-otel", "otel-batch", SPEEDUP_OTEL),
            }.items()
            if v is not None
        },
        "budgets": {}
        if store is None
        else {
            "rate_met": store["delivered_per_s"]["median"] >= RATE_TARGET
            and store["all_delivered"],
            "rss_met": store["rss_added_mb"]["median"] <= RSS_TARGET_MB,
        },
        "runs": results,
    }
    report(doc, sys.stderr if args.json else sys.stdout)
    if args.json:
        json.dump(doc, sys.stdout, indent=1)
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
