"""The experiment harness: run a task over a dataset, score it, record it all."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import inspect
import logging
import os
import queue
import sys
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import (
    Any,
    Callable,
    Deque,
    Dict,
    Iterable,
    Iterator,
    List,
    Mapping,
    Optional,
    Set,
    Tuple,
)

from .. import _emit
from .._config import settings
from ..adats import DefaultMonitor, DefaultReport, DefaultSession
from ..core._paragon import Paragon
from ..core._runs import end_run, start_run
from ..records import Record, Run, SessionRecord
from ..store._url import parse_store
from ._model import (
    STATE_KEY,
    Dataset,
    ExperimentResult,
    Item,
    ItemResult,
    Score,
    experiment_prefix,
    load_experiment,
)

__all__ = ["arun", "run"]

_logger = logging.getLogger("auditora")

Scorer = Callable[[Any, Item], Any]


class _ScorerSpec:
    """A scorer with its metric name, direction and pass threshold (from its attributes)."""

    __slots__ = ("direction", "fn", "is_async", "name", "needs_trajectory", "threshold")

    def __init__(self, fn: Any) -> None:
        if not callable(fn):
            raise TypeError(f"a scorer must be callable, not {type(fn).__name__}")
        name = getattr(fn, "name", None) or getattr(fn, "__name__", None)
        if not isinstance(name, str) or not name or name == "<lambda>":
            raise ValueError(
                f"scorer {fn!r} has no name: use a named function, or set its .name attribute"
            )
        direction = getattr(fn, "direction", "higher")
        if direction not in ("higher", "lower"):
            raise ValueError(f"scorer {name!r}: direction must be 'higher' or 'lower'")
        self.fn = fn
        self.name = name
        self.direction = direction
        threshold = getattr(fn, "threshold", None)
        self.threshold = float(threshold) if isinstance(threshold, (int, float)) else None
        self.is_async = _is_async(fn)
        #: Scored on the trajectory of the item's trace, not on the output.
        self.needs_trajectory = bool(getattr(fn, "needs_trajectory", False))


def _as_score(value: Any) -> Score:
    if isinstance(value, Score):
        return value
    if isinstance(value, (bool, int, float)):
        return Score(value)
    raise TypeError(f"a scorer must return a number, a bool or a Score, not {type(value).__name__}")


class _Progress:
    """A one-line progress bar with an ETA on stderr, redrawn at most 10 times a second."""

    def __init__(self, name: str, total: int, enabled: Optional[bool]) -> None:
        stream = sys.stderr
        if enabled is None:
            enabled = bool(getattr(stream, "isatty", lambda: False)())
        self.enabled = enabled and total > 0
        self.name = name
        self.total = total
        self.done = 0
        self.failed = 0
        self.start = time.monotonic()
        self.last = 0.0
        self.lock = threading.Lock()

    def step(self, failed: bool) -> None:
        with self.lock:
            self.done += 1
            self.failed += failed
            if not self.enabled:
                return
            now = time.monotonic()
            if now - self.last < 0.1 and self.done < self.total:
                return
            self.last = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        elapsed = now - self.start
        frac = self.done / self.total
        eta = elapsed / frac - elapsed if frac else 0.0
        bar = "#" * int(frac * 24)
        fails = f" {self.failed} failed" if self.failed else ""
        line = (
            f"\r{self.name} [{bar:<24}] {self.done}/{self.total}{fails} "
            f"{elapsed:.0f}s elapsed, ETA {eta:.0f}s "
        )
        try:
            sys.stderr.write(line)
            sys.stderr.flush()
        except Exception:
            self.enabled = False

    def close(self) -> None:
        if self.enabled:
            try:
                sys.stderr.write("\n")
                sys.stderr.flush()
            except Exception:
                pass


class _StoreWriter:
    """Writes the experiment's records (its session's and its items' traces') to a store
    as they come, a batch at a time in a background thread (the items do not wait for
    SQLite), so a crash loses little and ``resume`` finds the rest.
    """

    def __init__(self, store: str, session_id: str) -> None:
        from ..sinks import store_sink

        self.sink = store_sink(store)  # a SQLite file or a PostgreSQL database
        self.display = parse_store(store).display
        self.session_id = session_id
        self.traces: Set[str] = set()
        # Appended to by any thread, drained by flush: a deque needs no lock for that
        # (a list swapped for a new one could take an append after it was written).
        self.pending: Deque[Record] = deque()
        self.lock = threading.Lock()
        self.last = time.monotonic()
        self.lost = 0
        self.batches: queue.SimpleQueue[Optional[List[Record]]] = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._work, name="auditora-experiment", daemon=True)
        self.thread.start()

    def keep(self, record: Record) -> None:
        # An emit target: cheap, never raises.
        if (
            getattr(record, "session_id", None) == self.session_id
            or getattr(record, "trace_id", None) in self.traces
        ):
            self.pending.append(record)

    def maybe_flush(self) -> None:
        if len(self.pending) >= 512 or time.monotonic() - self.last > 1.0:
            self.flush()

    def flush(self) -> None:
        with self.lock:
            self.last = time.monotonic()
            batch = []
            pending = self.pending
            while pending:
                batch.append(pending.popleft())
        if batch:
            self.batches.put(batch)

    def _work(self) -> None:
        from ..sinks._base import RecordBatch, SinkWriteError

        while True:
            batch = self.batches.get()
            if batch is None:
                return
            try:
                self.sink.export(RecordBatch(batch))
            except SinkWriteError as exc:
                self.lost += exc.records_lost
                _logger.warning("auditora: experiment: %s", exc)
            except Exception:  # the store failed as a whole: say so, keep the experiment going
                self.lost += len(batch)
                _logger.exception("auditora: experiment: writing to %s failed", self.display)

    def close(self) -> None:
        """Write what is left and wait for it."""
        self.flush()
        self.batches.put(None)
        self.thread.join()
        self.sink.close()


class _TraceRecords:
    """Keeps the records of the item traces being scored, for trajectory scorers."""

    def __init__(self) -> None:
        self.records: Dict[str, List[Record]] = {}

    def keep(self, record: Record) -> None:
        # An emit target: cheap, never raises. A trace is watched from its root's start.
        bucket = self.records.get(getattr(record, "trace_id", None))  # type: ignore[arg-type]
        if bucket is not None:
            bucket.append(record)

    def watch(self, trace_id: str) -> None:
        self.records[trace_id] = []

    def take(self, trace_id: Optional[str]) -> List[Record]:
        return self.records.pop(trace_id, []) if trace_id is not None else []


def _configured_store(store: str) -> bool:
    """Whether the recorder already writes to ``store`` (configure(store=...))."""
    from .. import _recorder

    pipeline = getattr(_recorder, "_pipeline", None)
    for sink in getattr(pipeline, "sinks", ()) or ():
        writes_to = getattr(sink, "writes_to", None)
        if writes_to is not None and writes_to(store):
            return True
    return False


class _Experiment:
    """One experiment run's state, shared by the item workers."""

    def __init__(
        self,
        name: str,
        dataset: Dataset,
        task: Callable[[Any], Any],
        scorers: List[_ScorerSpec],
        trials: int,
        store: Optional[str],
        metadata: Dict[str, Any],
        resume: bool,
        progress: Optional[bool],
    ) -> None:
        self.name = name
        self.dataset = dataset
        self.task = task
        self.task_name = getattr(task, "__name__", None) or type(task).__name__
        if self.task_name == "<lambda>":
            self.task_name = "task"
        self.task_is_async = _is_async(task)
        self.scorers = scorers
        self.trials = trials
        self.store = store
        self.results: List[ItemResult] = []
        self.previous: Optional[ExperimentResult] = None
        session_id = None
        if resume:
            self.previous = _previous(store, name, dataset)
            if self.previous is not None:
                session_id = self.previous.experiment_id
        self.started_ns = (
            self.previous.started_ns if self.previous and self.previous.started_ns else None
        ) or time.time_ns()
        if session_id is None:
            suffix = f"{time.time_ns():016x}{os.urandom(2).hex()}"
            session_id = f"{experiment_prefix(name)}{suffix}"
        self.session = DefaultSession(session_id=session_id, name=name)
        self.session.add_tag("experiment")
        self.monitor = DefaultMonitor()
        # Not echoed: one line per score would drown the progress bar; the records
        # still reach the sinks and the store.
        self.report = DefaultReport(echo=False)
        self.description: Dict[str, Any] = {
            "name": name,
            "id": session_id,
            "dataset": dataset.version,
            "dataset_name": dataset.name,
            "dataset_size": len(dataset),
            "trials": trials,
            "metadata": metadata,
            "task": self.task_name,
            "directions": {s.name: s.direction for s in scorers},
            "started_ns": self.started_ns,
            "ended_ns": None,
            "status": "running",
        }
        done: Set[Tuple[str, int]] = set()
        if self.previous is not None:
            kept = [r for r in self.previous.items if r.ok]
            done = {(r.item_id, r.trial) for r in kept}
            self.results.extend(kept)
        self.todo = [
            (item, k) for item in dataset for k in range(trials) if (item.id, k) not in done
        ]
        self.progress = _Progress(name, len(self.todo), progress)
        self.writer: Optional[_StoreWriter] = None
        self.traces: Optional[_TraceRecords] = (
            _TraceRecords() if any(sp.needs_trajectory for sp in scorers) else None
        )
        self.flush_recorder = False
        self.disabled = settings.disabled
        self.lock = threading.Lock()

    # -- recording -------------------------------------------------------------
    def open(self) -> None:
        if self.store is not None:
            if _configured_store(self.store):
                self.flush_recorder = True
            else:
                self.writer = _StoreWriter(self.store, self.session.session_id)
                _emit.add_target(self.writer.keep)
        if self.traces is not None:
            _emit.add_target(self.traces.keep)
        self.session.set(STATE_KEY, dict(self.description))
        self._emit_session()

    def _emit_session(self) -> None:
        if _emit.targets and not settings.disabled:
            snap = self.session.get_state_snapshot()
            _emit.emit(
                SessionRecord(
                    snap["session_id"], snap["name"], snap["tags"], snap["state"], time.time_ns()
                )
            )

    def close(self, result: ExperimentResult) -> None:
        self.description.update(
            ended_ns=result.ended_ns, status="done", summary=_plain(result.summary)
        )
        self.session.set(STATE_KEY, dict(self.description))
        self._emit_session()
        if self.traces is not None:
            _emit.remove_target(self.traces.keep)
        if self.writer is not None:
            _emit.remove_target(self.writer.keep)
            self.writer.close()
        elif self.flush_recorder:
            from .. import _recorder

            _recorder.flush(10.0)

    def abort(self) -> None:
        if self.traces is not None:
            _emit.remove_target(self.traces.keep)
        if self.writer is not None:
            _emit.remove_target(self.writer.keep)
            self.writer.close()

    # -- one item --------------------------------------------------------------
    @contextlib.contextmanager
    def _item_run(self) -> Iterator[Optional[Run]]:
        """The item's run, active in the block (None while Auditora is disabled).

        The core's run start and end, as a bifrost block uses them, without building
        a block (and resolving its adats) per item.
        """
        if self.disabled:
            yield None
            return
        run = start_run(self.session, self.monitor, self.report, self.task_name, "block")
        token = Paragon.set(run)
        try:
            yield run
        except BaseException as exc:
            Paragon.reset(token)
            end_run(run, exc)
            raise
        Paragon.reset(token)
        end_run(run, None)

    def _begin(self, run: Optional[Run], item: Item, trial: int) -> ItemResult:
        r = ItemResult(item.id, trial)
        r.input = item.input
        r.expected = item.expected
        if run is not None:
            attrs = {"experiment": self.name, "experiment.item": item.id, "experiment.trial": trial}
            if item.expected is not None:
                attrs["experiment.expected"] = item.expected
            run.attributes = attrs
            run.inputs = {"input": item.input}
            r.run_id = run.run_id
            r.trace_id = run.trace_id
            if self.writer is not None:
                self.writer.traces.add(r.trace_id)
            if self.traces is not None:
                self.traces.watch(r.trace_id)
        return r

    def _scored(self, spec: _ScorerSpec, output: Any, r: ItemResult, steps: List[Record]) -> Any:
        """What ``spec`` scores: the output, or the trajectory of the item's trace."""
        if not spec.needs_trajectory:
            return output
        from ..agents import trajectory

        if r.trace_id is None:
            raise RuntimeError("no trajectory: Auditora is disabled, so the item has no trace")
        return trajectory(steps, r.trace_id)

    def _ended(self, run: Optional[Run], r: ItemResult, t0: float, output: Any) -> None:
        r.latency_s = time.perf_counter() - t0
        if run is not None:
            if run.duration_ns is not None:
                r.latency_s = run.duration_ns / 1e9
            cost = (run.attributes or {}).get("llm.cost_usd")
            r.cost = float(cost) if isinstance(cost, (int, float)) else None
        r.output = output if r.ok else None

    def _failed(self, r: ItemResult, exc: BaseException) -> None:
        r.error = f"{type(exc).__name__}: {exc}"
        r.error_type = type(exc).__name__

    def _record_score(self, spec: _ScorerSpec, r: ItemResult, raw: Any) -> None:
        score = _as_score(raw)
        r.scores[spec.name] = score.value
        r.details[spec.name] = score
        threshold = spec.threshold
        if threshold is None and isinstance(raw, bool):
            threshold = 0.5  # a bool scorer passes when True
        self.report.log_evaluation_result(
            spec.name,
            score.value,
            threshold,
            direction=spec.direction,
            label=score.label,
            explanation=score.explanation,
            experiment=self.name,
            item=r.item_id,
            trial=r.trial,
        )

    def _scorer_failed(self, spec: _ScorerSpec, r: ItemResult, exc: BaseException) -> None:
        r.scorer_errors[spec.name] = f"{type(exc).__name__}: {exc}"
        self.report.error(
            f"scorer {spec.name!r} failed on item {r.item_id!r}: {type(exc).__name__}: {exc}",
            experiment=self.name,
            item=r.item_id,
        )

    def _finish(self, r: ItemResult) -> None:
        with self.lock:
            self.results.append(r)
        self.progress.step(not r.ok)
        if self.writer is not None:
            self.writer.maybe_flush()

    def run_sync(self, item: Item, trial: int) -> None:
        """One item's trial, in the calling thread: the task as a root run, then its scores."""
        outer = Paragon.set(None)  # a root run (its own trace), even inside another run
        try:
            run: Optional[Run] = None
            r = ItemResult(item.id, trial)
            output: Any = None
            t0 = time.perf_counter()
            try:
                with self._item_run() as run:
                    r = self._begin(run, item, trial)
                    output = self.task(item.input)
                    if inspect.isawaitable(output):
                        _close(output)
                        raise TypeError("the task returned an awaitable: make it an async def")
                    if run is not None:
                        run.output = output
            except Exception as exc:  # a failed item; the run recorded the error
                self._failed(r, exc)
            self._ended(run, r, t0, output)
            steps = self.traces.take(r.trace_id) if self.traces is not None else []
            if r.ok:
                if run is not None:
                    Paragon.set(run)  # the scores link to the item's run (and its trace)
                for spec in self.scorers:
                    try:
                        subject = self._scored(spec, output, r, steps)
                        self._record_score(spec, r, spec.fn(subject, item))
                    except Exception as exc:
                        self._scorer_failed(spec, r, exc)
        finally:
            Paragon.reset(outer)
        self._finish(r)

    async def run_async(self, item: Item, trial: int) -> None:
        """The asyncio form of :meth:`run_sync` (runs in its own task's context)."""
        Paragon.set(None)  # this task's own context: a root run
        run: Optional[Run] = None
        r = ItemResult(item.id, trial)
        output: Any = None
        t0 = time.perf_counter()
        try:
            with self._item_run() as run:  # the frame is this task's own
                r = self._begin(run, item, trial)
                if self.task_is_async:
                    output = await self.task(item.input)
                else:  # a sync task in a worker thread, in the item run's context
                    ctx = contextvars.copy_context()
                    loop = asyncio.get_running_loop()
                    output = await loop.run_in_executor(None, ctx.run, self.task, item.input)
                if run is not None:
                    run.output = output
        except Exception as exc:
            self._failed(r, exc)
        self._ended(run, r, t0, output)
        steps = self.traces.take(r.trace_id) if self.traces is not None else []
        if r.ok:
            if run is not None:
                Paragon.set(run)
            for spec in self.scorers:
                try:
                    raw = spec.fn(self._scored(spec, output, r, steps), item)
                    if inspect.isawaitable(raw):
                        raw = await raw
                    self._record_score(spec, r, raw)
                except Exception as exc:
                    self._scorer_failed(spec, r, exc)
        self._finish(r)

    def result(self) -> ExperimentResult:
        rank = {item.id: i for i, item in enumerate(self.dataset)}
        items = sorted(self.results, key=lambda r: (rank.get(r.item_id, 0), r.trial))
        return ExperimentResult(
            self.name,
            self.session.session_id,
            dataset_version=self.dataset.version,
            dataset_size=len(self.dataset),
            trials=self.trials,
            metadata=self.description["metadata"],
            directions=self.description["directions"],
            started_ns=self.started_ns,
            ended_ns=time.time_ns(),
            items=items,
            store=None if self.store is None else parse_store(self.store).display,
        )


def _close(awaitable: Any) -> None:
    """Close an awaitable never awaited (no "never awaited" warning)."""
    close = getattr(awaitable, "close", None)
    if callable(close):
        close()


def _plain(value: Any) -> Any:
    return {k: v for k, v in value.items()} if isinstance(value, Mapping) else value


def _previous(store: Optional[str], name: str, dataset: Dataset) -> Optional[ExperimentResult]:
    """The newest run of ``name`` in ``store`` to resume, or None (checked against ``dataset``)."""
    if store is None:
        raise ValueError("resume=True needs store= (the experiment's earlier records)")
    from ..store import StoreError, open_store

    try:
        opened = open_store(store)
    except StoreError:
        if parse_store(store).backend == "sqlite" and not os.path.exists(store):
            return None  # no store yet: nothing to resume
        raise
    with opened:
        try:
            previous = load_experiment(opened, name)
        except LookupError:
            return None
    if previous.dataset_version != dataset.version:
        raise ValueError(
            f"cannot resume {name!r}: its dataset was {previous.dataset_version}, "
            f"this one is {dataset.version} (use another name, or resume=False)"
        )
    return previous


def _prepare(
    name: Any,
    dataset: Any,
    task: Any,
    scorers: Iterable[Any],
    trials: Any,
    concurrency: Any,
    store: Any,
    metadata: Any,
    resume: bool,
    progress: Optional[bool],
) -> Tuple[_Experiment, int]:
    if not isinstance(name, str) or not name.strip():
        raise ValueError("an experiment needs a non-empty name")
    if not isinstance(dataset, Dataset):
        dataset = Dataset(dataset)
    if not callable(task):
        raise TypeError(f"task must be callable, not {type(task).__name__}")
    for label, number in (("trials", trials), ("concurrency", concurrency)):
        if not isinstance(number, int) or isinstance(number, bool) or number < 1:
            raise ValueError(f"{label} must be a positive int, not {number!r}")
    specs = [_ScorerSpec(s) for s in scorers]
    names = [s.name for s in specs]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"two scorers are named {', '.join(dupes)}: set .name on one of them")
    if metadata is not None and not isinstance(metadata, Mapping):
        raise TypeError("metadata must be a dict")
    if store is not None and not isinstance(store, (str, os.PathLike)):
        store = getattr(store, "target", store)  # an open Store: its file or URL
    path = os.fspath(store) if store is not None else None
    if path is not None:
        from ..store import open_store

        open_store(path, readonly=False).close()  # a bad path fails now, not mid-run
    exp = _Experiment(
        name, dataset, task, specs, trials, path, dict(metadata or {}), resume, progress
    )
    return exp, concurrency


def _is_async(fn: Any) -> bool:
    call = type(fn).__call__ if not inspect.isroutine(fn) else None
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(call)


def run(
    name: str,
    dataset: Any,
    task: Callable[[Any], Any],
    scorers: Iterable[Scorer] = (),
    *,
    trials: int = 1,
    concurrency: int = 1,
    store: Any = None,
    metadata: Optional[Mapping[str, Any]] = None,
    resume: bool = False,
    progress: Optional[bool] = None,
) -> ExperimentResult:
    """Run ``task`` on every item of ``dataset`` (``trials`` times) and score each output.

    ``task(input)`` returns the item's output; a task that raises makes a
    failed item and the experiment goes on. Each call is a root run (a trace)
    with the attributes ``experiment``, ``experiment.item`` and
    ``experiment.trial``, in one session per experiment run. Each scorer
    ``(output, item) -> float | bool | Score`` gives an evaluation record linked
    to that run (not called on failed items; a scorer that raises is logged).

    An async ``task`` (or async scorers) runs on an event loop, ``concurrency``
    items at a time; a sync task runs on ``concurrency`` threads, each with the
    caller's context. ``store`` names a store to write to, a SQLite path or a
    ``postgresql://`` URL, or is an open :class:`~auditora.store.Store` (records also
    go to the configured sinks); ``resume=True`` continues the newest run of
    ``name`` in it, skipping the items it finished. ``progress`` shows a bar on
    stderr (default: when stderr is a terminal). From a running event loop use
    :func:`arun`.
    """
    exp, concurrency = _prepare(
        name, dataset, task, scorers, trials, concurrency, store, metadata, resume, progress
    )
    if exp.task_is_async or any(s.is_async for s in exp.scorers):
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(_drive_async(exp, concurrency))
        raise RuntimeError(
            "experiments.run was called in a running event loop: await experiments.arun(...)"
        )
    exp.open()
    try:
        if concurrency == 1 or len(exp.todo) <= 1:
            for item, trial in exp.todo:
                exp.run_sync(item, trial)
        else:
            with ThreadPoolExecutor(
                max_workers=concurrency, thread_name_prefix="experiment"
            ) as pool:
                futures = [
                    pool.submit(contextvars.copy_context().run, exp.run_sync, item, trial)
                    for item, trial in exp.todo
                ]
                for f in futures:
                    f.result()
    except BaseException:
        exp.progress.close()
        exp.abort()
        raise
    exp.progress.close()
    result = exp.result()
    exp.close(result)
    return result


async def _drive_async(exp: _Experiment, concurrency: int) -> ExperimentResult:
    exp.open()
    gate = asyncio.Semaphore(concurrency)

    async def one(item: Item, trial: int) -> None:
        async with gate:
            await exp.run_async(item, trial)

    try:
        # Each item is its own task: asyncio gives it a copy of the caller's context.
        await asyncio.gather(*(one(item, trial) for item, trial in exp.todo))
    except BaseException:
        exp.progress.close()
        exp.abort()
        raise
    exp.progress.close()
    result = exp.result()
    exp.close(result)
    return result


async def arun(
    name: str,
    dataset: Any,
    task: Callable[[Any], Any],
    scorers: Iterable[Scorer] = (),
    *,
    trials: int = 1,
    concurrency: int = 1,
    store: Any = None,
    metadata: Optional[Mapping[str, Any]] = None,
    resume: bool = False,
    progress: Optional[bool] = None,
) -> ExperimentResult:
    """:func:`run` from a running event loop: the same arguments, awaited. A sync task
    runs in the loop's default executor, ``concurrency`` items at a time."""
    exp, concurrency = _prepare(
        name, dataset, task, scorers, trials, concurrency, store, metadata, resume, progress
    )
    return await _drive_async(exp, concurrency)
