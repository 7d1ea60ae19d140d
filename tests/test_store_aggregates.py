"""The store's summary aggregates (``Store.llm_models``, ``evaluation_metrics``,
``metric_totals``, ``timer_stats``) and the roll-ups the writers keep for them.

Every test runs on both backends (``store_url``). The expected figures are worked
out here from the records written, so a roll-up that drifts from its records, a
quantile off by one rank or a session filter that leaks fails a test.
"""

from __future__ import annotations

import math
import sqlite3
import time
from pathlib import Path
from typing import Any, Dict, List

import pytest

from _backends import is_postgres, pg_server, pg_url, store_url
from _backends import write as write_to
from auditora.store import SCHEMA_VERSION, open_store
from auditora.store._rollups import HOUR_NS, hour

_ = (pg_server, pg_url, store_url)  # fixtures

H0 = 1_800_000_000 * 10**9  # an hour's start (a multiple of HOUR_NS)


def _call(i: int, model: Any, sid: str, **extra: Any) -> Dict[str, Any]:
    row = {
        "kind": "llm_call",
        "model": model,
        "provider": "openai" if model else None,
        "input_tokens": 10 + i,
        "output_tokens": i,
        "response_time": 0.1 * (i + 1),
        "success": i % 4 != 0,
        "cost": 0.001 * i if model != "local" else None,
        "time_ns": H0 + i * HOUR_NS // 3,  # three calls an hour
        "session_id": sid,
        "run_id": f"{i:016x}",
        "trace_id": "t" * 32,
    }
    row.update(extra)
    return row


CALLS = [_call(i, ("gpt-4o", "local", None)[i % 3], f"s{i % 2}") for i in range(30)]


def _nearest_rank(values: List[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def _expected_models(calls: List[Dict[str, Any]]) -> Dict[Any, Dict[str, Any]]:
    out: Dict[Any, Dict[str, Any]] = {}
    for model in dict.fromkeys(c["model"] for c in calls):
        group = [c for c in calls if c["model"] == model]
        costs = [c["cost"] for c in group if c["cost"] is not None]
        latencies = [c["response_time"] for c in group]
        out[model] = {
            "calls": len(group),
            "failures": sum(1 for c in group if not c["success"]),
            "input_tokens": sum(c["input_tokens"] for c in group),
            "output_tokens": sum(c["output_tokens"] for c in group),
            "cost": sum(costs) if costs else None,
            "mean_latency": sum(latencies) / len(latencies),
            "p95_latency": _nearest_rank(latencies, 0.95),
        }
    return out


def _check_models(got: List[Dict[str, Any]], calls: List[Dict[str, Any]]) -> None:
    expected = _expected_models(calls)
    assert {m["model"] for m in got} == set(expected)
    for m in got:
        want = expected[m["model"]]
        for key in ("calls", "failures", "input_tokens", "output_tokens"):
            assert m[key] == want[key], (m["model"], key)
        assert m["tokens"] == want["input_tokens"] + want["output_tokens"]
        for key in ("cost", "mean_latency", "p95_latency"):
            assert (m[key] is None) == (want[key] is None), (m["model"], key)
            if want[key] is not None:
                assert m[key] == pytest.approx(want[key]), (m["model"], key)


def test_llm_models_totals_every_call_per_model_with_an_exact_p95(store_url: str) -> None:
    """Per model: calls, failures, tokens, cost (None when never priced), mean and p95
    latency, equal to the same figures worked out from the calls themselves."""
    write_to(store_url, CALLS)
    with open_store(store_url) as store:
        _check_models(store.llm_models(), CALLS)
        local = next(m for m in store.llm_models() if m["model"] == "local")
        assert local["cost"] is None and local["provider"] == "openai"


def test_llm_models_of_one_session_count_only_its_calls(store_url: str) -> None:
    """``session_id=`` totals that session's calls alone (read from its records)."""
    write_to(store_url, CALLS)
    with open_store(store_url) as store:
        _check_models(store.llm_models("s1"), [c for c in CALLS if c["session_id"] == "s1"])
        assert store.llm_models("no-such-session") == []


def test_llm_totals_add_up_across_batches_and_hours(store_url: str) -> None:
    """The roll-up is kept per model and hour, batch after batch: writing the calls in
    three batches gives the totals of writing them at once."""
    for start in (0, 7, 19):
        write_to(store_url, CALLS[start : {0: 7, 7: 19, 19: 30}[start]])
    with open_store(store_url) as store:
        _check_models(store.llm_models(), CALLS)
        hours = store._query("SELECT count(*) AS n FROM llm_rollup")[0]["n"]
    assert hours == len({(c["model"] or "", hour(c["time_ns"])) for c in CALLS})


def test_a_batch_of_one_model_within_one_hour_is_totalled_whole(store_url: str) -> None:
    """The usual batch (one model, one hour) takes the roll-up's whole-column path:
    the same totals as the calls give, a NaN cost and a text latency left out."""
    calls = [_call(i, "gpt-4o", "s0", time_ns=H0 + i) for i in range(6)]
    calls[2]["cost"], calls[3]["response_time"] = float("nan"), "slow"
    write_to(store_url, calls)
    with open_store(store_url) as store:
        (m,) = store.llm_models()
    assert (m["calls"], m["failures"], m["input_tokens"]) == (6, 2, sum(10 + i for i in range(6)))
    assert m["cost"] == pytest.approx(0.001 * (0 + 1 + 3 + 4 + 5))
    assert m["mean_latency"] == pytest.approx((0.1 + 0.2 + 0.3 + 0.5 + 0.6) / 5)


def test_a_call_that_cannot_be_stored_is_not_counted_in_the_totals(store_url: str) -> None:
    """A record that fails its batch is retried alone and lost alone; the roll-up is written
    in the same transaction as the rows, so it never counts a record the store lacks."""
    bad = _call(99, "gpt-4o", "s0", run_id="\ud800")  # a lone surrogate: no encoding keeps it
    records = [*CALLS[:10], bad, *CALLS[10:]]
    stored = write_to(store_url, records)
    with open_store(store_url) as store:
        kept = store._query("SELECT count(*) AS n FROM llm_calls")[0]["n"]
        assert stored == kept
        calls = CALLS if kept == len(CALLS) else records
        _check_models(store.llm_models(), calls)


def test_hostile_numbers_are_left_out_of_the_totals_not_fatal(store_url: str) -> None:
    """Tokens, costs and latencies that are not numbers (text, NaN, a list) store and
    are not added, as SQL's sum leaves them out; the call still counts."""
    odd = [
        _call(1, "m", "s0", input_tokens="many", cost=float("nan"), response_time=None),
        _call(2, "m", "s0", output_tokens=[1, 2], cost="free"),
        _call(3, "m", "s0"),
    ]
    assert write_to(store_url, odd) == 3
    with open_store(store_url) as store:
        (m,) = store.llm_models()
        assert m["calls"] == 3
        assert m["input_tokens"] == 12 + 13 and m["output_tokens"] == 1 + 3
        assert m["cost"] == pytest.approx(0.003)
        assert m["mean_latency"] == pytest.approx((0.3 + 0.4) / 2)


EVALS = [
    {
        "kind": "evaluation",
        "metric_name": name,
        "value": v,
        "threshold": 0.5 if name == "coherence" and i > 0 else None,
        "status": "PASS" if v is not None and v >= 0.5 else "FAIL",
        "direction": "lower" if name == "toxicity" else None,
        "time_ns": H0 + i,
        "session_id": f"s{i % 2}",
    }
    for i, (name, v) in enumerate(
        [
            *[("coherence", 0.9), ("coherence", 0.2), ("coherence", 0.7), ("toxicity", 0.1)],
            *[("coherence", 0.6), ("toxicity", 0.05), ("coherence", None)],
        ]
    )
]


def test_evaluation_metrics_count_pass_rate_and_value_range(store_url: str) -> None:
    """Per metric: results, passes, fails, pass rate, mean / min / max of the values
    given, the first threshold recorded and the direction."""
    write_to(store_url, EVALS)
    with open_store(store_url) as store:
        got = {m["metric_name"]: m for m in store.evaluation_metrics()}
        session = {m["metric_name"]: m for m in store.evaluation_metrics("s1")}
    coherence = got["coherence"]
    assert (coherence["count"], coherence["passed"], coherence["failed"]) == (5, 3, 2)
    assert coherence["pass_rate"] == pytest.approx(3 / 5)
    assert coherence["mean"] == pytest.approx((0.9 + 0.2 + 0.7 + 0.6) / 4)
    assert (coherence["min"], coherence["max"]) == (0.2, 0.9)
    assert coherence["threshold"] == 0.5 and coherence["direction"] == "higher"
    assert got["toxicity"]["direction"] == "lower" and got["toxicity"]["threshold"] is None
    # Session s1 holds results 1, 3 and 5 only.
    assert session["coherence"]["count"] == 1 and session["coherence"]["min"] == 0.2
    assert session["toxicity"]["count"] == 2


def _metric(sid: str, t: int, **values: float) -> Dict[str, Any]:
    return {"kind": "metric", "metrics": values, "time_ns": H0 + t, "session_id": sid}


METRICS = [
    _metric("a", 1, requests=1.0, tokens=10.0),
    _metric("b", 2, requests=4.0),
    _metric("a", 3, requests=2.0, tokens=30.0),  # a's newer snapshot replaces the first
    _metric("c", 9, requests=8.0),
]


def test_metric_totals_sum_each_sessions_latest_value(store_url: str) -> None:
    """A metric's total is the sum over sessions of each one's latest snapshot, with a
    histogram of those values and a time series whose totals add up to it."""
    write_to(store_url, METRICS[:2])
    write_to(store_url, METRICS[2:])
    with open_store(store_url) as store:
        got = {m["name"]: m for m in store.metric_totals(bins=4)}
        one = {m["name"]: m for m in store.metric_totals("a", bins=4)}
    requests = got["requests"]
    assert (requests["sessions"], requests["total"]) == (3, 2.0 + 4.0 + 8.0)
    assert (requests["min"], requests["max"]) == (2.0, 8.0)
    assert [b["count"] for b in requests["histogram"]] == [1, 1, 0, 1]  # 2, 4, 8 over [2, 8]
    assert sum(p["total"] or 0 for p in requests["series"]) == pytest.approx(14.0)
    assert sum(p["count"] for p in requests["series"]) == 3
    assert requests["series"][0]["start_ns"] == H0 + 2  # exact: integer nanoseconds
    assert requests["series"][-1]["end_ns"] == H0 + 9
    assert got["tokens"]["total"] == 30.0 and got["tokens"]["histogram"] == [
        {"lo": 30.0, "hi": 30.0, "count": 1}
    ]
    assert one["requests"]["total"] == 2.0 and one["tokens"]["sessions"] == 1


def _timer(name: str, duration: float, t: int, sid: str = "s") -> Dict[str, Any]:
    return {"kind": "event", "name": name, "duration": duration, "time_ns": H0 + t} | {
        "session_id": sid
    }


def test_timer_stats_give_exact_quantiles_and_a_histogram(store_url: str) -> None:
    """Timed events per name: count, mean, min, p50, p95 (nearest rank), max, and a
    histogram whose counts add up to the count. Events without a duration are not timers."""
    durations = [0.01 * (i + 1) for i in range(40)]
    rows = [_timer("load", d, i, sid=f"s{i % 2}") for i, d in enumerate(durations)]
    rows.append({"kind": "event", "name": "step", "time_ns": H0, "session_id": "s0"})
    write_to(store_url, rows)
    with open_store(store_url) as store:
        (load,) = store.timer_stats(bins=5)
        (half,) = store.timer_stats("s1", bins=5)
    assert load["name"] == "load" and load["count"] == 40
    assert load["p50"] == pytest.approx(_nearest_rank(durations, 0.5))
    assert load["p95"] == pytest.approx(_nearest_rank(durations, 0.95))
    assert (load["min"], load["max"]) == (pytest.approx(0.01), pytest.approx(0.4))
    assert sum(b["count"] for b in load["histogram"]) == 40 and len(load["histogram"]) == 5
    assert half["count"] == 20
    assert half["p95"] == pytest.approx(_nearest_rank(durations[1::2], 0.95))


def test_bins_out_of_range_is_a_clear_error(store_url: str) -> None:
    with open_store(store_url, readonly=False) as store:
        for bad in (0, 1001, 2.5, True):
            with pytest.raises(ValueError, match="bins must be a whole number from 1 to 1000"):
                store.metric_totals(bins=bad)  # type: ignore[arg-type]


def test_an_empty_store_has_no_totals(store_url: str) -> None:
    with open_store(store_url, readonly=False) as store:
        assert store.llm_models() == store.evaluation_metrics() == []
        assert store.metric_totals() == store.timer_stats() == []


def test_a_version_3_store_gets_its_rollups_filled_from_its_records(tmp_path: Path) -> None:
    """A store written before the roll-ups existed is upgraded on open: migration 4 fills
    them from its records, so the totals are right at once."""
    from auditora.store._schema import MIGRATIONS, connect_writer

    path = tmp_path / "v3.db"
    write_to(str(path), [*CALLS, *EVALS, *METRICS])
    legacy = sqlite3.connect(path)  # back to version 3: the records, no roll-ups
    for table in ("llm_rollup", "evaluation_rollup", "metric_latest"):
        legacy.execute(f"DROP TABLE {table}")
    legacy.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")
    legacy.commit()
    legacy.close()
    assert max(MIGRATIONS) == SCHEMA_VERSION
    connect_writer(str(path)).close()  # runs migration 4 over the records
    with open_store(path) as store:
        assert store.schema_version() == SCHEMA_VERSION
        _check_models(store.llm_models(), CALLS)
        assert {m["metric_name"]: m["count"] for m in store.evaluation_metrics()} == {
            "coherence": 5,
            "toxicity": 2,
        }
        assert {m["name"]: m["total"] for m in store.metric_totals()} == {
            "requests": 14.0,
            "tokens": 30.0,
        }


def test_migrating_a_store_carries_its_totals(tmp_path: Path, store_url: str) -> None:
    """``auditora migrate`` writes the roll-ups of the rows it copies, so the copy's
    summary pages equal the source's."""
    from auditora.store._migrate import migrate_store

    source = str(tmp_path / "source.db")
    write_to(source, [*CALLS, *EVALS, *METRICS])
    target = store_url if is_postgres(store_url) else str(tmp_path / "copy.db")
    migrate_store(source, target)
    with open_store(source) as a, open_store(target) as b:
        assert b.llm_models() == a.llm_models()
        assert b.evaluation_metrics() == a.evaluation_metrics()
        assert b.metric_totals() == a.metric_totals()


def test_a_version_3_store_read_only_is_totalled_from_its_records(tmp_path: Path) -> None:
    """A reader that may not upgrade an older store (read-only) gets the same totals,
    worked out from the records."""
    path = tmp_path / "v3.db"
    write_to(str(path), [*CALLS, *EVALS, *METRICS])
    with open_store(path) as store:
        rolled = (store.llm_models(), store.evaluation_metrics(), store.metric_totals())
    legacy = sqlite3.connect(path)
    for table in ("llm_rollup", "evaluation_rollup", "metric_latest"):
        legacy.execute(f"DROP TABLE {table}")
    legacy.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")
    legacy.commit()
    legacy.close()
    with open_store(path) as store:
        assert store.schema_version() == 3
        assert (store.llm_models(), store.evaluation_metrics(), store.metric_totals()) == rolled


def test_a_timers_series_over_the_store_is_in_whole_hours(store_url: str) -> None:
    """Over the whole store a timer's series comes from its hourly roll-up: slices of
    whole hours from the first timing's hour to the last one's end, adding up to the
    count and the summed durations. Durations that are not numbers are not timings."""
    rows = [_timer("load", 0.5, h * HOUR_NS + 1) for h in (0, 0, 1, 4)]
    rows.append(_timer("load", "slow", 2 * HOUR_NS))  # type: ignore[arg-type]
    write_to(store_url, rows[:2])
    write_to(store_url, rows[2:])
    with open_store(store_url) as store:
        (load,) = store.timer_stats(bins=2)
    assert load["count"] == 4 and load["mean"] == pytest.approx(0.5)
    assert load["p50"] == load["p95"] == load["max"] == 0.5
    assert [(p["start_ns"] - H0, p["end_ns"] - H0) for p in load["series"]] == [
        (0, 3 * HOUR_NS),
        (3 * HOUR_NS, 5 * HOUR_NS),
    ]
    assert [p["count"] for p in load["series"]] == [3, 1]
    assert sum(p["total"] for p in load["series"]) == pytest.approx(2.0)


def test_postgres_writers_whose_batches_order_kinds_differently_never_deadlock(
    pg_url: str,
) -> None:
    """Two processes' writers update the same roll-up rows at once, one writing LLM calls
    before evaluations and the other after: the rows are locked in one order, so every
    batch commits and the totals count every record."""
    import threading

    import psycopg

    from auditora.store._postgres import PostgresWriter
    from auditora.store._writer import parts_of_rows

    def deadlocks() -> int:
        # The server's count for this database (its statistics lag a moment behind).
        time.sleep(1.5)
        with psycopg.connect(pg_url) as conn:
            row = conn.execute(
                "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()"
            ).fetchone()
        return int(row[0]) if row else 0

    open_store(pg_url, readonly=False).close()
    before = deadlocks()
    batches = 40
    calls = [_call(i, "gpt-4o", "s0") for i in range(20)]
    evals = [dict(e, metric_name="coherence") for e in EVALS[:5]]
    failures: List[BaseException] = []

    def writer(calls_first: bool) -> None:
        w = PostgresWriter(pg_url)
        try:
            for _ in range(batches):
                rows = [*calls, *evals] if calls_first else [*evals, *calls]
                written = w.write(parts_of_rows(rows))
                assert written.stored == len(rows), written.unstorable
        except BaseException as exc:  # reported below, in the test's thread
            failures.append(exc)
        finally:
            w.close()

    threads = [threading.Thread(target=writer, args=(first,)) for first in (True, False)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert failures == [] and not any(t.is_alive() for t in threads)
    assert deadlocks() == before
    with open_store(pg_url) as store:
        (model,) = store.llm_models()
        (metric,) = store.evaluation_metrics()
    assert model["calls"] == 2 * batches * len(calls)
    assert metric["count"] == 2 * batches * len(evals)
