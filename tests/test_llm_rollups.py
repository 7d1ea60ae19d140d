"""Token and cost roll-ups: monitor metrics per session, run attributes per run and trace."""

from __future__ import annotations

from typing import Iterator

import pytest

import auditora
from auditora import current_run, monitor, report, sentinel
from auditora.llm import METRICS, reset_prices, run_usage
from auditora.testing import capture


@pytest.fixture(autouse=True)
def _quiet() -> Iterator[None]:
    reset_prices()
    auditora.configure(console=False)
    yield


def test_llm_calls_roll_up_into_monitor_metrics() -> None:
    """Each call adds to the llm.* metrics of the session's monitor."""

    @sentinel()
    def work() -> None:
        report.log_llm_call("gpt-4o", 1000, 500, 0.1)
        report.log_llm_call("gpt-4o", 1000, 500, 0.1, success=False)
        report.log_llm_call("mystery", 10, 10, 0.1)

    with pytest.warns(UserWarning):
        work()
    metrics = work._monitor.get_metrics()
    assert {k: v for k, v in metrics.items() if k != "llm.cost_usd"} == {
        "llm.calls": 3.0,
        "llm.errors": 1.0,
        "llm.input_tokens": 2010.0,
        "llm.output_tokens": 1010.0,
        "llm.total_tokens": 3020.0,
        "llm.unpriced_calls": 1.0,
    }
    assert pytest.approx(metrics["llm.cost_usd"]) == 0.015
    assert set(metrics) <= set(METRICS)


def test_parent_runs_carry_the_totals_of_their_subtree() -> None:
    """A nested run's calls count in its own and every enclosing run; the root holds the trace."""
    seen = {}

    @sentinel(session_id="inner")
    def inner() -> None:
        report.log_llm_call("gpt-4o-mini", 100, 10, 0.1)
        seen["inner"] = run_usage(current_run())  # type: ignore[arg-type]

    @sentinel(session_id="outer")
    def outer() -> None:
        report.log_llm_call("gpt-4o-mini", 200, 20, 0.1)
        inner()
        seen["outer"] = run_usage(current_run())  # type: ignore[arg-type]

    with capture() as records:
        outer()
    assert seen["inner"]["llm.total_tokens"] == 110.0
    assert seen["outer"]["llm.total_tokens"] == 330.0
    assert seen["outer"]["llm.calls"] == 2.0
    root = next(r for r in records.runs if r.parent_id is None)
    assert root.attributes["llm.total_tokens"] == 330.0  # type: ignore[index]


def test_summary_has_cost_and_a_per_model_breakdown() -> None:
    """get_summary() reports cost, unpriced calls and totals per model."""

    @sentinel()
    def work() -> None:
        report.log_llm_call("gpt-4o", 1000, 0, 0.1, cached_tokens=200)
        report.log_llm_call("claude-3-5-haiku", 1000, 1000, 0.1, reasoning_tokens=100)

    work()
    llm = work._report.get_summary()["llm"]
    assert (
        llm["calls"],
        llm["input_tokens"],
        llm["output_tokens"],
        llm["total_tokens"],
        llm["cached_tokens"],
        llm["reasoning_tokens"],
        llm["unpriced_calls"],
    ) == (2, 2000, 1000, 3000, 200, 100, 0)
    assert list(llm["by_model"]) == ["gpt-4o", "claude-3-5-haiku"]
    gpt = (800 * 2.5 + 200 * 1.25) / 1e6
    haiku = (1000 * 0.8 + 1000 * 4) / 1e6
    assert gpt + haiku == pytest.approx(llm["cost"])
    assert haiku == pytest.approx(llm["by_model"]["claude-3-5-haiku"]["cost"])


def test_no_llm_call_means_no_llm_metrics() -> None:
    """Monitors of sessions without LLM calls stay exactly as the user left them."""

    @sentinel()
    def work() -> None:
        monitor.increment_metric("rows", 3)

    work()
    assert work._monitor.get_metrics() == {"rows": 3.0}


def test_roll_ups_are_exact_across_threads() -> None:
    """8 threads logging 500 calls each into one run lose no token and no cent."""
    from concurrent.futures import ThreadPoolExecutor

    import auditora

    def work(_: int) -> None:
        for _ in range(500):
            report.log_llm_call("gpt-4o-mini", 10, 5, 0.01)

    @sentinel()
    def pipeline() -> dict:
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(auditora.bind(work), range(8)))
        return run_usage(current_run())  # type: ignore[arg-type]

    usage = pipeline()
    metrics = pipeline._monitor.get_metrics()
    assert (usage["llm.calls"], usage["llm.total_tokens"]) == (4000, 60000)
    assert (metrics["llm.calls"], metrics["llm.total_tokens"]) == (4000.0, 60000.0)
    assert metrics["llm.cost_usd"] == pytest.approx(4000 * (10 * 0.15 + 5 * 0.6) / 1e6)


# -- roll-ups applied once: each call to its own run, each run's totals to its parent at its end


def _calls_of(records: object, name: str) -> float:
    (run,) = [r for r in records.runs if r.name == name]  # type: ignore[attr-defined]
    return (run.attributes or {}).get("llm.calls", 0.0)


def test_nested_sync_runs_each_carry_their_subtree_totals() -> None:
    """At every level of a nested chain, the ended run's record holds its own calls plus
    those of every run below it, and the shared monitor counts each call once."""
    from auditora import DefaultMonitor, DefaultReport, bifrost_sync

    mon = DefaultMonitor()
    root = bifrost_sync(monitor=mon, report=DefaultReport(echo=False), name="l0")
    with capture() as records, root:
        report.log_llm_call("gpt-4o-mini", 100, 10, 0.1)
        with bifrost_sync(name="l1"):
            report.log_llm_call("gpt-4o-mini", 100, 10, 0.1)
            report.log_llm_call("gpt-4o-mini", 100, 10, 0.1)
            with bifrost_sync(name="l2"):
                report.log_llm_call("gpt-4o-mini", 100, 10, 0.1)
            with bifrost_sync(name="l2-empty"):
                pass
    assert [_calls_of(records, n) for n in ("l0", "l1", "l2", "l2-empty")] == [4, 3, 1, 0]
    (l1,) = [r for r in records.runs if r.name == "l1"]
    assert l1.attributes["llm.total_tokens"] == 330.0  # type: ignore[index]
    assert mon.get_metrics()["llm.calls"] == 4.0  # not 4 + 3 + 1
    assert mon.get_metrics()["llm.total_tokens"] == 440.0


def test_a_running_run_shows_its_own_calls_and_those_of_its_ended_children() -> None:
    """run_usage of a live run: its calls so far plus those of its ended nested runs."""
    from auditora import bifrost_sync

    seen = []

    @sentinel()
    def root() -> None:
        report.log_llm_call("gpt-4o-mini", 10, 1, 0.1)
        with bifrost_sync():
            report.log_llm_call("gpt-4o-mini", 10, 1, 0.1)
            seen.append(run_usage(current_run().parent)["llm.calls"])  # type: ignore[union-attr]
        seen.append(run_usage(current_run())["llm.calls"])  # type: ignore[arg-type]

    root()
    assert seen == [1.0, 2.0]


def test_async_tasks_fold_into_the_run_that_created_them() -> None:
    """Child runs in asyncio tasks add their totals to the enclosing run when they end."""
    import asyncio

    from auditora import DefaultMonitor, DefaultReport, bifrost_async

    mon = DefaultMonitor()

    async def child(i: int) -> None:
        async with bifrost_async(name=f"task{i}"):
            await asyncio.sleep(0)
            report.log_llm_call("gpt-4o-mini", 100, 10, 0.1)
            report.log_llm_call("gpt-4o-mini", 100, 10, 0.1)

    async def main() -> None:
        async with bifrost_async(monitor=mon, report=DefaultReport(echo=False), name="root"):
            report.log_llm_call("gpt-4o-mini", 100, 10, 0.1)
            await asyncio.gather(*(child(i) for i in range(3)))

    with capture() as records:
        asyncio.run(main())
    assert _calls_of(records, "root") == 7
    assert [_calls_of(records, f"task{i}") for i in range(3)] == [2, 2, 2]
    assert mon.get_metrics()["llm.calls"] == 7.0


def test_runs_in_bound_threads_fold_into_their_parent() -> None:
    """Child runs started in threads through auditora.bind add up in the parent exactly."""
    from concurrent.futures import ThreadPoolExecutor

    from auditora import bifrost_sync

    def work(i: int) -> None:
        with bifrost_sync(name=f"worker{i}"):
            for _ in range(50):
                report.log_llm_call("gpt-4o-mini", 10, 5, 0.01)

    @sentinel(name="pipeline")
    def pipeline() -> None:
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(auditora.bind(work), range(8)))

    with capture() as records:
        pipeline()
    (root,) = [r for r in records.runs if r.name == "pipeline"]
    assert (root.attributes["llm.calls"], root.attributes["llm.total_tokens"]) == (400, 6000)  # type: ignore[index]
    assert pipeline._monitor.get_metrics()["llm.calls"] == 400.0


def test_a_child_thread_that_outlives_its_parent_counts_in_the_monitor_only() -> None:
    """A run still running when its parent ends cannot change the parent's final record:
    its calls are added to the monitor the two share, not to the parent's attributes."""
    import threading

    from auditora import DefaultMonitor, DefaultReport, bifrost_sync

    mon = DefaultMonitor()
    logged, parent_done = threading.Event(), threading.Event()

    def detached() -> None:
        with bifrost_sync(name="detached"):
            report.log_llm_call("gpt-4o-mini", 100, 10, 0.1)
            logged.set()
            parent_done.wait(5)

    with capture() as records:
        with bifrost_sync(monitor=mon, report=DefaultReport(echo=False), name="parent") as parent:
            report.log_llm_call("gpt-4o-mini", 100, 10, 0.1)
            thread = threading.Thread(target=auditora.bind(detached))
            thread.start()
            logged.wait(5)
        assert mon.get_metrics()["llm.calls"] == 1.0  # the parent's own call
        parent_done.set()
        thread.join(5)
    assert run_usage(parent)["llm.calls"] == 1.0
    assert _calls_of(records, "parent") == 1 and _calls_of(records, "detached") == 1
    assert mon.get_metrics()["llm.calls"] == 2.0


def test_each_monitor_counts_the_calls_of_the_runs_that_use_it() -> None:
    """In a trace whose runs use two monitors, each monitor counts its runs' calls once
    and the root's attributes hold the whole trace."""
    from auditora import DefaultMonitor, DefaultReport, bifrost_sync

    first, second = DefaultMonitor(), DefaultMonitor()
    root = bifrost_sync(monitor=first, report=DefaultReport(echo=False), name="a")
    with capture() as records, root:
        report.log_llm_call("gpt-4o-mini", 1, 1, 0.1)
        with bifrost_sync(monitor=second, report=DefaultReport(echo=False), name="b"):
            report.log_llm_call("gpt-4o-mini", 1, 1, 0.1)
            with bifrost_sync(name="c"):  # joins b's adats
                report.log_llm_call("gpt-4o-mini", 1, 1, 0.1)
                report.log_llm_call("gpt-4o-mini", 1, 1, 0.1)
        with bifrost_sync(name="d"):  # joins a's adats
            report.log_llm_call("gpt-4o-mini", 1, 1, 0.1)
    assert first.get_metrics()["llm.calls"] == 2.0  # a and d
    assert second.get_metrics()["llm.calls"] == 3.0  # b and c
    assert [_calls_of(records, n) for n in "abcd"] == [5, 3, 2, 1]


def test_a_call_recorded_on_an_ended_run_counts_in_its_monitor_only() -> None:
    """A call finished after its run ended (a stream consumed later) leaves the run's
    final record unchanged and is counted in the run's monitor."""
    from auditora import DefaultMonitor, DefaultReport, bifrost_sync
    from auditora.llm._calls import record_llm_call

    mon = DefaultMonitor()
    with bifrost_sync(monitor=mon, report=DefaultReport(echo=False)) as run:
        pass
    record_llm_call(None, run, "gpt-4o-mini", 100, 10, 0.1, True, {}, {})
    assert run.attributes is None
    assert mon.get_metrics()["llm.calls"] == 1.0
