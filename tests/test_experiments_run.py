"""experiments.run: a task over a dataset, each call a root run tagged with the experiment
and item, failed items recorded, scorers' results linked as evaluations, sync and async,
threads and asyncio with the context carried, and a progress bar only on a terminal."""

from __future__ import annotations

import asyncio
import contextvars
import io
import threading
from typing import Any, List

import pytest

import auditora
from auditora import experiments, sentinel
from auditora.experiments import Dataset, Item, Score
from auditora.testing import capture

DATA = Dataset([{"input": i, "expected": i * 2, "id": f"i{i}"} for i in range(6)])


def exact(output: Any, item: Item) -> bool:
    return bool(output == item.expected)


def off_by(output: Any, item: Item) -> Score:
    return Score(abs(output - item.expected), label="distance", explanation="how far")


off_by.direction = "lower"  # type: ignore[attr-defined]


def test_each_task_call_is_a_root_run_tagged_with_experiment_and_item() -> None:
    """One trace per item and trial, in one session named after the experiment."""
    with capture() as records:
        result = experiments.run("doubling", DATA, lambda x: x * 2, [exact], trials=2)
    runs = [r for r in records.runs if (r.attributes or {}).get("experiment") == "doubling"]
    assert len(runs) == 12 and all(r.parent_id is None for r in runs)
    assert len({r.trace_id for r in runs}) == 12
    assert {(r.attributes["experiment.item"], r.attributes["experiment.trial"]) for r in runs} == {
        (f"i{i}", t) for i in range(6) for t in range(2)
    }
    assert {r.session_id for r in runs} == {result.experiment_id}
    assert result.experiment_id.startswith("experiment:doubling:")
    assert runs[0].inputs == {"input": int(runs[0].attributes["experiment.item"][1:])}
    assert result.summary["metrics"] == {"exact": 1.0} and result.summary["runs"] == 12


def test_scores_are_evaluation_records_linked_to_the_item_run() -> None:
    """Each scorer's result is an evaluation with the item run's ids, label and explanation."""
    with capture() as records:
        result = experiments.run("linked", DATA, lambda x: x * 2 + (x == 1), [exact, off_by])
    runs = {r.run_id: r for r in records.runs}
    evals = records.evaluations
    assert len(evals) == 12
    for ev in evals:
        run = runs[ev.run_id]
        assert ev.trace_id == run.trace_id and ev.session_id == result.experiment_id
        assert ev.extra["item"] == run.attributes["experiment.item"]
    wrong = [e for e in evals if e.metric_name == "exact" and e.value == 0.0]
    assert len(wrong) == 1 and wrong[0].status == "FAIL"
    far = next(e for e in evals if e.metric_name == "off_by" and e.value == 1.0)
    assert (far.label, far.explanation, far.direction) == ("distance", "how far", "lower")
    item = next(r for r in result.items if r.item_id == "i1")
    assert item.scores == {"exact": 0.0, "off_by": 1.0}
    assert item.details["off_by"].label == "distance"
    assert result.directions == {"exact": "higher", "off_by": "lower"}


def test_a_raising_task_is_a_failed_item_and_the_experiment_goes_on() -> None:
    """The run records the error; the other items are scored; scorers skip the failed one."""

    def task(x: int) -> int:
        if x == 2:
            raise ValueError("no twos")
        return x * 2

    with capture() as records:
        result = experiments.run("failing", DATA, task, [exact])
    failed = [r for r in result.items if not r.ok]
    assert [r.item_id for r in failed] == ["i2"] and failed[0].error == "ValueError: no twos"
    assert failed[0].error_type == "ValueError" and failed[0].scores == {}
    bad = [r for r in records.runs if r.status == "error"]
    assert len(bad) == 1 and bad[0].error_message == "no twos"
    assert len(records.evaluations) == 5 and result.summary["errors"] == 1


def test_a_raising_scorer_is_logged_and_the_others_still_score() -> None:
    """A scorer error costs that score only; it is logged as an error of the item's run."""

    def broken(output: Any, item: Item) -> float:
        raise KeyError("nope")

    with capture() as records:
        result = experiments.run("scorer-error", DATA, lambda x: x * 2, [broken, exact])
    assert all(r.scores == {"exact": 1.0} for r in result.items)
    assert result.items[0].scorer_errors == {"broken": "KeyError: 'nope'"}
    logs = [rec for rec in records.logs if rec.level == "ERROR"]
    assert len(logs) == 6 and "scorer 'broken' failed" in logs[0].message


def test_scorers_must_be_named_and_distinct_and_return_scores() -> None:
    """Nameless or duplicate scorers are refused up front; a bad return is a scorer error."""
    with pytest.raises(ValueError, match="has no name"):
        experiments.run("x", DATA, lambda x: x, [lambda o, i: 1.0])
    with pytest.raises(ValueError, match="two scorers are named exact"):
        experiments.run("x", DATA, lambda x: x, [exact, exact])
    with pytest.raises(ValueError, match="trials must be a positive int"):
        experiments.run("x", DATA, lambda x: x, [exact], trials=0)
    with pytest.raises(ValueError, match="non-empty name"):
        experiments.run(" ", DATA, lambda x: x, [exact])

    def text(output: Any, item: Item) -> str:
        return "good"

    result = experiments.run("x", DATA, lambda x: x, [text])
    assert "a scorer must return a number" in result.items[0].scorer_errors["text"]


def test_items_are_root_runs_even_inside_another_run() -> None:
    """An experiment started inside a decorated function still gives one trace per item."""

    @sentinel()
    def outer() -> Any:
        return experiments.run("nested", DATA, lambda x: x * 2, [exact])

    with capture() as records:
        result = outer()
    item_runs = [r for r in records.runs if (r.attributes or {}).get("experiment")]
    assert len(item_runs) == 6 and all(r.parent_id is None for r in item_runs)
    assert result.summary["metrics"]["exact"] == 1.0


VAR: contextvars.ContextVar[str] = contextvars.ContextVar("VAR", default="unset")


def test_threads_run_items_concurrently_with_the_callers_context() -> None:
    """``concurrency`` threads run items at once; each sees the caller's context variables,
    and the task's own nested runs land in the item's trace."""
    VAR.set("caller")
    barrier = threading.Barrier(3, timeout=5)
    seen: List[str] = []

    @sentinel()
    def step(x: int) -> int:
        return x * 2

    def task(x: int) -> int:
        if x < 3:
            barrier.wait()  # three items at once, or a BrokenBarrierError fails them
        seen.append(VAR.get())
        return step(x)

    with capture() as records:
        result = experiments.run("threads", DATA, task, [exact], concurrency=3)
    assert result.summary["errors"] == 0 and set(seen) == {"caller"}
    roots = {r.run_id: r for r in records.runs if r.parent_id is None}
    children = [r for r in records.runs if r.name.endswith("step")]
    assert len(children) == 6 and all(c.parent_id in roots for c in children)
    assert all(roots[c.parent_id].trace_id == c.trace_id for c in children)


def test_async_tasks_and_scorers_run_on_an_event_loop_with_concurrency() -> None:
    """An async task runs ``concurrency`` items at a time; async scorers are awaited."""
    running = 0
    peak = 0

    async def task(x: int) -> int:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.01)
        running -= 1
        return x * 2

    async def async_exact(output: Any, item: Item) -> bool:
        await asyncio.sleep(0)
        return bool(output == item.expected)

    with capture() as records:
        result = experiments.run("async", DATA, task, [async_exact], concurrency=3)
    assert peak == 3 and result.summary["metrics"] == {"async_exact": 1.0}
    assert len([r for r in records.runs if r.parent_id is None]) == 6
    assert all(e.run_id for e in records.evaluations)


def test_arun_works_inside_a_running_loop_and_run_says_to_use_it() -> None:
    """From async code ``await experiments.arun(...)``; ``run`` there raises a clear error."""

    async def task(x: int) -> int:
        return x * 2

    async def main() -> Any:
        with pytest.raises(RuntimeError, match=r"await experiments\.arun"):
            experiments.run("loop", DATA, task, [exact])
        sync_result = await experiments.arun("loop-sync", DATA, lambda x: x * 2, [exact])
        return await experiments.arun("loop", DATA, task, [exact], concurrency=2), sync_result

    result, sync_result = asyncio.run(main())
    assert result.summary["metrics"] == sync_result.summary["metrics"] == {"exact": 1.0}


def test_a_sync_task_returning_a_coroutine_fails_its_items_clearly() -> None:
    """A lambda wrapping an async function is caught, not scored as a coroutine object."""

    async def work(x: int) -> int:
        return x

    result = experiments.run("coro", DATA, lambda x: work(x), [exact])
    assert all("make it an async def" in (r.error or "") for r in result.items)


def test_the_progress_bar_draws_only_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """stderr that is not a TTY gets nothing; a TTY gets a bar with counts and an ETA."""

    class FakeTTY(io.StringIO):
        def __init__(self, tty: bool) -> None:
            super().__init__()
            self.tty = tty

        def isatty(self) -> bool:
            return self.tty

    quiet = FakeTTY(False)
    monkeypatch.setattr("sys.stderr", quiet)
    experiments.run("quiet", DATA, lambda x: x * 2, [exact])
    assert quiet.getvalue() == ""
    loud = FakeTTY(True)
    monkeypatch.setattr("sys.stderr", loud)
    experiments.run("loud", DATA, lambda x: x * 2, [exact])
    text = loud.getvalue()
    assert "\rloud [" in text and "6/6" in text and "ETA" in text and text.endswith("\n")


def test_disabled_auditora_still_runs_and_scores_the_experiment() -> None:
    """With records off the results are still computed, in memory, with no run ids."""
    auditora.configure(disabled=True)
    result = experiments.run("off", DATA, lambda x: x * 2, [exact])
    assert result.summary["metrics"] == {"exact": 1.0}
    assert result.items[0].run_id is None


def test_outputs_costs_and_latencies_are_kept_per_item() -> None:
    """The output, a latency from the run, and the cost rolled up from the task's LLM calls."""
    from auditora import report

    def task(x: int) -> str:
        report.log_llm_call("gpt-4o-mini", 1000, 500, 0.2, cost=0.01 * (x + 1))
        return f"answer {x}"

    result = experiments.run("costly", DATA, task, [])
    first = result.items[0]
    assert first.output == "answer 0" and first.latency_s is not None and first.latency_s >= 0
    assert first.cost == pytest.approx(0.01)
    assert result.summary["cost"] == pytest.approx(0.21)
