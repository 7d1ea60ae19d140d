"""``auditora collect``: OTLP/JSON ingest rate (spans/s) and the collector's memory under load.

Run from the repository root::

    python benchmarks/collect.py                     # 3 rounds of 5 s, 4 client connections
    python benchmarks/collect.py --rounds 5 --seconds 10 --connections 8 --batch 512

The collector runs as ``python -m auditora collect --store TMP --port 0`` in its own
process (the real command, writing a SQLite store). This process is the client:
``--connections`` keep-alive HTTP/1.1 connections, each POSTing the same prebuilt
``/v1/traces`` JSON body of ``--batch`` spans (half GenAI chat spans with usage,
half plain spans with a few attributes, as an instrumented app sends them) one
request after another, as fast as the collector answers, for ``--seconds``. Each
request gets new trace and span ids and the current time, as an app's next spans
would (the store indexes runs by time; an app's span times only grow, where a body
that repeated the same times in every request inserted into every part of those
indexes).

Figures, per round and as the median:

- **accepted spans/s**: spans in 200 answers over the sending time (decode, mapping
  to records, hand-off to the recorder's bounded queue; when the queue is full the
  request waits, so this is also bounded by the store's write rate);
- **accepted spans per collector CPU-second**: the same spans over the CPU time the
  collector used meanwhile (its process and its store's writer process): the figure
  that does not depend on what else the machine runs;
- **stored spans/s**: runs in the store after the collector was stopped with
  SIGINT (which flushes), over sending plus flushing time;
- **collector RSS**: the collector's and its store writer's, sampled every 0.1 s from
  ``/proc/PID/status`` during the round:
  the first sample, the peak in the first half and the peak in the second half.
  Bounded memory means the second half's peak is not above the first's by more
  than noise, however long the client keeps sending.

Before the rounds it prints two figures measured in this process, which tell the
collector's own cost from the store writer's:

- **decode + mapping alone**: spans per CPU-second through ``decode_json`` (JSON parsing
  and the records made, no HTTP, no store);
- **store writer alone**: those records written by the SQLite sink in batches of 4,096
  (what the recorder hands a store that falls behind), in spans per CPU-second and per
  second, into a new store until it holds as many spans as a round stores. The
  collector runs both in one interpreter (one core's worth of Python at a time), so
  each span costs it about the sum of the two: its accepted spans per CPU-second stay
  below ``1 / (1/decode + 1/write)``, and its accepted spans/s below the writer's rate.

Budget: accepted spans/s >= 20,000 on this machine.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Tuple

from _proc import cpu_seconds, rss_kib  # this directory is the script's: first on sys.path

ROOT = Path(__file__).resolve().parents[1]
BUDGET = 20_000
#: Eight characters of every trace and span id that each request replaces, so every
#: request is a new trace of new spans (the store keys runs by id).
PLACEHOLDER = "ffffeeee"
#: The seconds of every span's start and end time, which each request replaces with
#: the current ones (ten digits: the nanoseconds below them are the body's own).
TIME_PLACEHOLDER = "tttttttttt"


def _attr(key: str, value: Any) -> Dict[str, Any]:
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    return {"key": key, "value": {"stringValue": str(value)}}


def body(batch: int) -> bytes:
    """One export request of ``batch`` spans in one trace (ids unique within it)."""
    spans: List[Dict[str, Any]] = []
    trace = PLACEHOLDER + "0" * 24  # the client puts a new id into PLACEHOLDER per request
    for i in range(batch):
        attrs = [_attr("http.route", "/chat"), _attr("session.id", f"s-{i % 10}")]
        name = f"step {i}"
        if i % 2:
            name = "chat gpt-4o-mini"
            attrs += [
                _attr("gen_ai.operation.name", "chat"),
                _attr("gen_ai.provider.name", "openai"),
                _attr("gen_ai.request.model", "gpt-4o-mini"),
                _attr("gen_ai.response.model", "gpt-4o-mini-2024-07-18"),
                _attr("gen_ai.usage.input_tokens", 1200),
                _attr("gen_ai.usage.output_tokens", 300),
                _attr("gen_ai.usage.cache_read.input_tokens", 200),
                _attr("gen_ai.response.id", f"chatcmpl-{i}"),
            ]
        spans.append(
            {
                "traceId": trace,
                "spanId": f"{PLACEHOLDER}{i + 1:08x}",
                "parentSpanId": "" if i == 0 else f"{PLACEHOLDER}00000001",
                "name": name,
                "kind": 3 if i % 2 else 1,
                "startTimeUnixNano": f"{TIME_PLACEHOLDER}{i * 1000:09d}",
                "endTimeUnixNano": f"{TIME_PLACEHOLDER}{i * 1000 + 500_000:09d}",
                "attributes": attrs,
            }
        )
    request = {
        "resourceSpans": [
            {
                "resource": {"attributes": [_attr("service.name", "bench")]},
                "scopeSpans": [{"scope": {"name": "bench"}, "spans": spans}],
            }
        ]
    }
    return json.dumps(request).encode()


def fresh(data: bytes) -> bytes:
    """The request ``data`` as the next one an app sends: new ids, the current time."""
    now = str(time.time_ns() // 1_000_000_000).encode()
    ids = os.urandom(4).hex().encode()
    return data.replace(PLACEHOLDER.encode(), ids).replace(TIME_PLACEHOLDER.encode(), now)


def _client(host: str, port: int, data: bytes, stop: float, counts: List[int], batch: int) -> None:
    conn = http.client.HTTPConnection(host, port, timeout=60)
    sent = 0
    headers = {"Content-Type": "application/json"}
    while time.monotonic() < stop:
        conn.request("POST", "/v1/traces", fresh(data), headers)
        response = conn.getresponse()
        response.read()
        if response.status == 200:
            sent += batch
    conn.close()
    counts.append(sent)


def one_round(seconds: float, connections: int, batch: int, data: bytes) -> Dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "bench.db"
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
        proc = subprocess.Popen(
            [sys.executable, "-m", "auditora", "collect", "--store", str(store), "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert proc.stdout is not None
        line = proc.stdout.readline()
        endpoint = line.split("OTLP/HTTP at http://", 1)[1].split()[0]
        host, port = endpoint.rsplit(":", 1)
        samples: List[Tuple[float, int]] = []
        counts: List[int] = []
        cpu0 = cpu_seconds(proc.pid)
        start = time.monotonic()
        stop = start + seconds
        threads = [
            threading.Thread(target=_client, args=(host, int(port), data, stop, counts, batch))
            for _ in range(connections)
        ]
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            samples.append((time.monotonic() - start, rss_kib(proc.pid)))
            time.sleep(0.1)
        sending = time.monotonic() - start
        cpu_sending = cpu_seconds(proc.pid) - cpu0
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=300)
        total = time.monotonic() - start
        with sqlite3.connect(store) as db:
            stored = db.execute("SELECT count(*) FROM runs").fetchone()[0]
        half = seconds / 2
        first = [kib for t, kib in samples if t < half] or [0]
        second = [kib for t, kib in samples if t >= half] or [0]
        return {
            "accepted": sum(counts) / sending,
            "accepted_per_cpu": sum(counts) / max(cpu_sending, 1e-9),
            "stored": stored / total,
            "stored_count": stored,
            "sent_count": sum(counts),
            "rss_start": samples[0][1] / 1024 if samples else 0.0,
            "rss_peak_1": max(first) / 1024,
            "rss_peak_2": max(second) / 1024,
        }


def decode_rate(data: bytes, batch: int, repeats: int = 20) -> float:
    """Spans per CPU-second through decoding and mapping alone (in this process, no store)."""
    sys.path.insert(0, str(ROOT / "src"))
    from auditora.collect._otlp import decode_json

    bodies = [fresh(data) for _ in range(repeats)]
    for body in bodies[:3]:
        decode_json("traces", body)
    start = time.process_time()
    for body in bodies:
        decode_json("traces", body)
    return batch * repeats / (time.process_time() - start)


def write_rate(data: bytes, batch: int, requests: int = 100) -> Tuple[float, float]:
    """Spans per CPU-second and per second through the SQLite sink alone (in this process),
    writing ``requests`` requests' records into a new store, as much as a round stores."""
    sys.path.insert(0, str(ROOT / "src"))
    from auditora._recorder import MERGE_MAX
    from auditora.collect._otlp import decode_json
    from auditora.sinks import RecordBatch
    from auditora.sinks.sqlite import SQLiteSink

    wall = cpu = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        sink = SQLiteSink(Path(tmp) / "write.db")
        sink.export(RecordBatch(decode_json("traces", fresh(data)).records[:1]))  # create it
        for _ in range(0, requests, 8):  # 8 requests' records at a time: bounded memory
            records = [r for _ in range(8) for r in decode_json("traces", fresh(data)).records]
            wall0, cpu0 = time.monotonic(), time.process_time()
            for start in range(0, len(records), MERGE_MAX):
                sink.export(RecordBatch(records[start : start + MERGE_MAX]))
            wall, cpu = wall + time.monotonic() - wall0, cpu + time.process_time() - cpu0
        sink.close()
    spans = batch * 8 * len(range(0, requests, 8))
    return spans / cpu, spans / wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--batch", type=int, default=512)
    args = parser.parse_args()
    data = body(args.batch)
    print(
        f"auditora collect, OTLP/JSON: {args.rounds} rounds x {args.seconds:g} s, "
        f"{args.connections} connections, {args.batch} spans per request "
        f"({len(data) / 1024:.0f} KiB)"
    )
    decoded = decode_rate(data, args.batch)
    print(f"decode + mapping alone: {decoded:,.0f} spans per CPU-second")
    written_cpu, written = write_rate(data, args.batch)
    print(f"store writer alone: {written_cpu:,.0f} spans per CPU-second, {written:,.0f} spans/s")
    results = []
    for index in range(args.rounds):
        r = one_round(args.seconds, args.connections, args.batch, data)
        results.append(r)
        print(
            f"  round {index + 1}: accepted {r['accepted']:,.0f} spans/s "
            f"({r['accepted_per_cpu']:,.0f} per collector CPU-second), "
            f"stored {r['stored']:,.0f} spans/s "
            f"({r['stored_count']:,.0f} of {r['sent_count']:,.0f} kept); "
            f"RSS start {r['rss_start']:.0f} MiB, peak first half {r['rss_peak_1']:.0f} MiB, "
            f"second half {r['rss_peak_2']:.0f} MiB"
        )
        if r["stored_count"] != r["sent_count"]:
            print("  WARNING: the store does not hold every accepted span")
    accepted = statistics.median(r["accepted"] for r in results)
    stored = statistics.median(r["stored"] for r in results)
    verdict = "ok" if accepted >= BUDGET else "MISSED"
    print(f"median accepted: {accepted:,.0f} spans/s (budget >= {BUDGET:,}: {verdict})")
    per_cpu = statistics.median(r["accepted_per_cpu"] for r in results)
    print(f"median accepted per collector CPU-second: {per_cpu:,.0f} spans")
    print(f"median stored:   {stored:,.0f} spans/s")
    print(f"load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"max RSS: {max(max(r['rss_peak_1'], r['rss_peak_2']) for r in results):.0f} MiB")


if __name__ == "__main__":
    main()
