"""The recorder: a bounded queue between the hot path and the sinks.

:func:`install` (called by ``auditora.configure()``, :mod:`auditora._configure`)
puts in a :class:`_Pipeline` whose :meth:`_Pipeline.submit` is registered as an
:mod:`auditora._emit` target. ``submit`` appends to a deque and returns (no
lock, no I/O, never raises); only when the queue is full does it wait, as the
overflow policy below says. A daemon *worker* thread, started
lazily with the first record, drains the deque in batches and hands each batch
to one *runner* thread per sink; a runner owns its sink, so a sink never runs
concurrently with itself.

Overflow (``settings.overflow``):

``"block"`` (the default)
    Nothing is dropped for being produced fast. A producer that finds the
    queue full waits for room, up to ``block_timeout`` seconds; the worker
    likewise waits for room in a sink's backlog, up to ``export_timeout``.
    Only a sink that stays stuck past those bounds loses records (counted),
    and until it moves again producers do not wait for it. The recorder's own
    threads, and code inside a logging handler (:data:`auditora._emit.no_wait`),
    never wait: their records are dropped when the queue is full.
``"drop"``
    A full queue drops the new record, a full backlog the new batch for that
    sink; the app never waits.

Every drop is counted by reason in :func:`stats`, logged once, and makes the
next :func:`flush` return False:

``queue_full``   the queue holds ``queue_size`` records (and waiting is not allowed or timed out)
``sampled``      the configured sampler returned False (intended: not a loss)
``sink_backlog`` ``sink_backlog`` records already wait for a sink: the new batch is dropped for it
``sink_error``   a sink's ``export`` raised (e.g. ``OSError`` on a full disk)
``unstorable``   a sink could not keep single records (it says which, by kind)
``reentrant``    a record produced inside the recorder's own threads (e.g. by logging)
``shutdown``     records still queued when ``shutdown()`` ran out of time

Fork safety: a fork first waits for the sinks' exports in flight (bounded by
``atexit_timeout``), so no sink thread holds a library's lock at fork time; then
``os.register_at_fork`` gives a forked child a fresh pipeline (empty
queue, no threads, new locks) over the same sinks, each told to drop inherited
handles; records queued in the parent stay the parent's.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections import deque
from threading import get_ident
from typing import Any, Callable, Deque, Dict, List, Optional, Sequence, Union

from . import _emit, _ids
from ._config import LEVELS, settings
from .records import Record
from .sinks import RecordBatch, Sink, SinkWriteError

__all__ = ["flush", "install", "reset", "resize", "set_sampler", "shutdown", "sinks", "stats"]

_logger = logging.getLogger("auditora")

Sampler = Callable[[Record], bool]

#: Most records a sink is handed at once when queued batches are merged (see
#: _Runner._merge).
MERGE_MAX = 4096

#: Queued records that wake the recorder worker (it also wakes every flush_interval).
_WAKE_AT = 256
#: Drop reasons that are not a loss: the user's sampling, and records the
#: recorder's own threads produce (a sink logging), refused to break a loop.
_INTENDED = frozenset({"sampled", "sampler_error_kept", "reentrant"})


class _Marker:
    """A control item travelling through the queues behind the records before it."""

    __slots__ = ("action", "deadline", "done", "lock", "ok", "pending")

    def __init__(self, action: str, deadline: float) -> None:
        self.action = action  # "flush" or "stop"
        self.deadline = deadline
        self.done = threading.Event()
        self.lock = threading.Lock()
        self.ok = True
        self.pending = 0

    def remaining(self) -> float:
        return max(0.0, self.deadline - time.monotonic())

    def arrive(self, ok: bool) -> None:
        with self.lock:
            self.ok = self.ok and ok
            self.pending -= 1
            if self.pending <= 0:
                self.done.set()


class _Runner:
    """One sink, its bounded backlog of batches and the thread that feeds it."""

    def __init__(self, sink: Sink, name: str, pipeline: _Pipeline) -> None:
        self.sink = sink
        self.name = name
        self.pipeline = pipeline
        self.backlog: Deque[Union[RecordBatch, _Marker]] = deque()
        #: Records in the backlog (bounded by ``settings.sink_backlog``).
        self.waiting = 0
        self.cond = threading.Condition(threading.Lock())
        self.thread: Optional[threading.Thread] = None
        self.exported = 0
        self.failed_batches = 0
        self.dropped: Dict[str, int] = {}
        self.busy_since: Optional[float] = None
        self.hang_reported = False
        #: Calls that stayed busy longer than ``export_timeout``.
        self.hangs = 0
        self.error_logged = False
        self.closed = False
        #: Held while the sink exports: a fork waits for it (see _before_fork),
        #: so the child never inherits a library lock (SQLite's, a socket's)
        #: taken by this thread mid-write.
        self.exporting = threading.Lock()
        #: The backlog stayed full past ``export_timeout``: batches are dropped
        #: at once, without waiting, until the sink has drained it.
        self.stalled = False

    def queued(self) -> int:
        return self.waiting

    def start(self) -> None:
        self.thread = threading.Thread(
            target=self._run, name=f"auditora-sink-{self.name}", daemon=True
        )
        self.thread.start()

    def _full(self, n: int) -> bool:
        return bool(self.waiting) and self.waiting + n > settings.sink_backlog

    def put(self, item: Union[RecordBatch, _Marker]) -> None:
        """Queue ``item`` for the sink. A batch finding the backlog full waits for
        room (``overflow="block"``, up to ``export_timeout``) or is dropped."""
        with self.cond:
            if self.closed:
                if isinstance(item, _Marker):
                    item.arrive(True)
                return
            if isinstance(item, RecordBatch):
                n = len(item)
                if self._full(n) and settings.overflow == "block" and not self.stalled:
                    if not self.cond.wait_for(
                        lambda: not self._full(n) or self.closed, settings.export_timeout
                    ):
                        # Stuck: stop waiting for this sink until it drains again.
                        self.stalled = True
                    if self.closed:
                        return
                if self._full(n):
                    self._count("sink_backlog", n)
                    return
                self.waiting += n
            self.backlog.append(item)
            self.cond.notify_all()

    def _count(self, reason: str, n: int) -> None:
        self.dropped[reason] = self.dropped.get(reason, 0) + n
        self.pipeline._lose(n)
        self.pipeline._log_drop_once(reason, self.name)

    def check_hung(self, now: float) -> None:
        since = self.busy_since
        if since is not None and not self.hang_reported and now - since > settings.export_timeout:
            self.hang_reported = True  # once per stuck call
            self.hangs += 1
            if self.hangs == 1:
                _logger.warning(
                    "auditora: sink %s has been busy for over %.1fs; its batches queue up "
                    "(and are dropped beyond its backlog) while the app and other sinks go "
                    "on; further hangs are only counted (auditora.stats())",
                    self.name,
                    settings.export_timeout,
                )

    def _run(self) -> None:
        self.pipeline._own.add(get_ident())
        while True:
            with self.cond:
                while not self.backlog:
                    self.cond.wait()
                item = self.backlog.popleft()
                if isinstance(item, RecordBatch):
                    item = self._merge(item)
                    self.waiting -= len(item)
                    if self.stalled and not self.waiting:
                        self.stalled = False
                    self.cond.notify_all()  # room for a batch the worker holds
            if isinstance(item, RecordBatch):
                self._export(item)
                continue
            ok = True
            self.busy_since = time.monotonic()
            try:
                if item.action == "flush":
                    ok = bool(self.sink.flush(item.remaining()))
                else:
                    self.sink.close(item.remaining())
            except Exception as exc:
                ok = False
                lost = getattr(exc, "records_lost", None)
                if isinstance(lost, int):
                    self.exported -= lost
                    self._failed(exc, lost)
                else:
                    _logger.exception("auditora: sink %s failed to %s", self.name, item.action)
            finally:
                self.busy_since = None
            if item.action == "stop":
                with self.cond:
                    self.closed = True
                    left = self.waiting
                    self.waiting = 0
                    self.backlog.clear()
                if left:
                    self._count("shutdown", left)
                item.arrive(ok)
                return
            item.arrive(ok)

    def _merge(self, batch: RecordBatch) -> RecordBatch:
        """``batch`` and the batches queued right behind it, as one batch of at
        most :data:`MERGE_MAX` records (called with the lock held).

        A sink that falls behind then gets fewer, larger batches: a store commits
        once for all of them (measured on benchmarks/end_to_end.py, a store
        writes a record in half the time in batches of 4,096 as in batches of
        256), and an idle sink still gets each batch as soon as it is made.
        A lone batch is passed on as it is, sharing its serialization with the
        other sinks."""
        backlog = self.backlog
        if not backlog or not isinstance(backlog[0], RecordBatch):
            return batch
        merged = RecordBatch(batch)
        while backlog:
            head = backlog[0]
            if not isinstance(head, RecordBatch) or len(merged) + len(head) > MERGE_MAX:
                break
            backlog.popleft()
            merged.extend(head)
        return merged if len(merged) > len(batch) else batch

    def _failed(self, exc: BaseException, lost: int) -> None:
        self.failed_batches += 1
        self.pipeline._export_failures += 1
        self.pipeline._lose(lost)
        reason = getattr(exc, "reason", None)
        reason = reason if isinstance(reason, str) and reason else "sink_error"
        self.dropped[reason] = self.dropped.get(reason, 0) + lost
        # A sink reporting unstorable records names them in its own log line.
        if not self.error_logged and reason != "unstorable":
            self.error_logged = True
            _logger.error(
                "auditora: sink %s failed to export %d records (%s: %s); further "
                "failures of this sink are only counted (auditora.stats())",
                self.name,
                lost,
                type(exc).__name__,
                exc,
                exc_info=not isinstance(exc, (OSError, SinkWriteError)),
            )

    def _export(self, batch: RecordBatch) -> None:
        self.busy_since = time.monotonic()
        try:
            with self.exporting:
                self.sink.export(batch)
        except BaseException as exc:
            # A sink that writes asynchronously reports an earlier batch's loss
            # through ``records_lost``; this batch was then accepted.
            lost = getattr(exc, "records_lost", None)
            if isinstance(lost, int):
                self.exported += len(batch) - lost
            self._failed(exc, len(batch) if not isinstance(lost, int) else lost)
            if not isinstance(exc, Exception):
                raise
        else:
            self.exported += len(batch)
        finally:
            self.busy_since = None
            self.hang_reported = False


class _Pipeline:
    """The queue, worker and runners for one configuration of sinks."""

    def __init__(self, sinks: Sequence[Sink], sampler: Optional[Sampler]) -> None:
        self.sinks = list(sinks)
        self.sampler = sampler
        self.queue: Deque[Any] = deque()
        self.maxsize = max(1, int(settings.queue_size))
        self.batch_size = max(1, int(settings.batch_size))
        # Wake the worker early, not at a full batch: records that wait less are
        # collected young, and a busy app's idle moments are used sooner (a
        # sustained load measured ~10 % faster per call than waking at 2,048).
        self.wake_at = min(self.batch_size, _WAKE_AT)
        self.wake = threading.Event()
        self.lock = threading.Lock()
        self.worker: Optional[threading.Thread] = None
        self.stopped = False
        self.received = 0
        self.filtered = 0
        self.dropped: Dict[str, int] = {}
        self._logged: set = set()
        self._own: set = set()
        self._export_failures = 0
        #: Records lost (every drop but sampling), and that count when the last
        #: flush returned: a flush is True only if none were lost in between.
        self.lost = 0
        self._lost_reported = 0
        #: Producers wait here for room in a full queue (``overflow="block"``).
        self.room = threading.Condition(threading.Lock())
        self.waiters = 0
        #: The queue stayed full past ``block_timeout``: producers drop at once
        #: until the worker has made room.
        self.stalled = False
        names: Dict[str, int] = {}
        self.runners: List[_Runner] = []
        for sink in self.sinks:
            base = getattr(sink, "name", "") or type(sink).__name__
            names[base] = names.get(base, 0) + 1
            name = base if names[base] == 1 else f"{base}#{names[base]}"
            self.runners.append(_Runner(sink, name, self))
        #: What producers call for each record (see :meth:`_make_submit`).
        self.submit = self._make_submit()

    # -- hot path ----------------------------------------------------------
    def _make_submit(self) -> Callable[[Record], None]:
        """The hot-path hand-off, as a closure over what it reads (a local read
        costs less than an attribute read; this runs once per record)."""
        queue = self.queue
        append = queue.append
        maxsize = self.maxsize
        wake_at = self.wake_at - 1
        own = self._own
        is_set = self.wake.is_set
        wake = self.wake.set
        drop = self._drop
        pipeline = self

        def submit(record: Record) -> None:
            """Queue ``record`` for the sinks: a bounded append that never raises
            (producers call it unguarded: ``_emit.add_target(trusted=True)``) and
            waits only for room in a full queue, under ``overflow="block"``."""
            try:
                sampler = pipeline.sampler  # configure() may swap it in place
                if sampler is not None:
                    try:
                        keep = sampler(record)
                    except Exception:
                        keep = True
                        drop("sampler_error_kept")
                    if not keep:
                        drop("sampled")
                        return
                n = len(queue)
                if get_ident() in own:
                    drop("reentrant")
                    return
                if n >= maxsize and not pipeline._wait_for_room():
                    drop("queue_full")
                    return
                append(record)
                if pipeline.worker is None:
                    pipeline._start()
                elif n >= wake_at and not is_set():
                    wake()
            except Exception:  # a bug here must not reach the host
                drop("recorder_error")

        return submit

    # -- slow paths ---------------------------------------------------------
    def _wait_for_room(self) -> bool:
        """Wait (bounded) until the full queue has room; False when the record
        must be dropped instead: ``overflow="drop"``, a producer that must not
        wait, or a queue that stayed full past ``block_timeout``."""
        if settings.overflow != "block" or self.stalled or _emit.no_wait.get():
            return False
        if self.worker is None:
            self._start()
        maxsize = self.maxsize
        with self.room:
            self.waiters += 1
            try:
                self.wake.set()
                ok = self.room.wait_for(
                    lambda: len(self.queue) < maxsize or self.stopped, settings.block_timeout
                )
            finally:
                self.waiters -= 1
        if not ok and not self.stalled:
            self.stalled = True
            _logger.warning(
                "auditora: the recorder's queue stayed full for %.1fs (a sink is stuck?); "
                "records are dropped until it drains (auditora.stats())",
                settings.block_timeout,
            )
        return ok and not self.stopped

    def _made_room(self) -> None:
        """Called by the worker after taking records from the queue."""
        if self.stalled:
            self.stalled = False
        if self.waiters:
            with self.room:
                self.room.notify_all()

    def _lose(self, n: int) -> None:
        with self.lock:
            self.lost += n

    def _drop(self, reason: str, n: int = 1) -> None:
        try:
            with self.lock:
                self.dropped[reason] = self.dropped.get(reason, 0) + n
                if reason not in _INTENDED:
                    self.lost += n
            self._log_drop_once(reason, None)
        except Exception:
            pass

    def _log_drop_once(self, reason: str, sink: Optional[str]) -> None:
        if reason in _INTENDED or (reason, sink) in self._logged:
            return
        self._logged.add((reason, sink))
        where = f" for sink {sink}" if sink else ""
        _logger.warning(
            "auditora: dropping records%s (reason: %s); further drops are only counted "
            "(auditora.stats())",
            where,
            reason,
        )

    def _start(self) -> None:
        with self.lock:
            if self.worker is not None or self.stopped:
                return
            _register_atexit()
            try:
                for runner in self.runners:
                    if runner.thread is None:
                        runner.start()
                worker = threading.Thread(target=self._work, name="auditora-recorder", daemon=True)
                worker.start()
            except RuntimeError:
                # No new threads at interpreter shutdown (Python 3.12+): deliver
                # what is queued synchronously instead of leaving it behind.
                self.stopped = True
                self._deliver_inline()
                return
            self.worker = worker

    def _deliver_inline(self) -> None:
        batch = RecordBatch(r for r in self.queue if not isinstance(r, _Marker))
        self.queue.clear()
        self.received += len(batch)
        for runner in self.runners:
            try:
                runner.sink.export(batch)
                runner.sink.close(settings.atexit_timeout)
                runner.exported += len(batch)
            except Exception as exc:
                runner._failed(exc, len(batch))

    def _work(self) -> None:
        self._own.add(get_ident())
        while True:
            try:
                if self._drain():
                    return
            except Exception:  # a bug here must not silently stop recording
                if "worker" not in self._logged:
                    self._logged.add("worker")
                    _logger.exception("auditora: the recorder's worker failed; it goes on")

    def _drain(self) -> bool:
        """Wait for records, then batch and dispatch them; True once told to stop."""
        queue = self.queue
        if not queue:
            self.wake.wait(settings.flush_interval)
        self.wake.clear()
        # New ids' time prefixes (_ids) are kept current here, at least every
        # flush_interval, rather than at every run end on the hot path.
        _ids.keep_current(time.time_ns())
        threshold = LEVELS.get(str(settings.log_level or "").upper(), 0)
        now = time.monotonic()
        for runner in self.runners:
            runner.check_hung(now)
        size = self.batch_size
        popleft = queue.popleft
        batch = RecordBatch()
        while queue:
            # Take up to a batch at once (only this thread pops, so the queue
            # holds at least this many); records are checked a chunk at a time.
            items = [popleft() for _ in range(min(size - len(batch), len(queue)))]
            self._made_room()
            if threshold or _Marker in set(map(type, items)):
                for i, item in enumerate(items):
                    if isinstance(item, _Marker):
                        self._dispatch(batch)
                        batch = RecordBatch()
                        if self._control(item):
                            queue.extendleft(reversed(items[i + 1 :]))  # not ours to take
                            return True
                        continue
                    if threshold and item.kind == "log" and LEVELS.get(item.level, 0) < threshold:
                        self.filtered += 1
                        continue
                    batch.append(item)
            else:
                batch.extend(items)
            if len(batch) >= size:
                self._dispatch(batch)
                batch = RecordBatch()
        self._dispatch(batch)
        return False

    def _dispatch(self, batch: RecordBatch) -> None:
        if not batch:
            return
        self.received += len(batch)
        for runner in self.runners:
            runner.put(batch)

    def _control(self, marker: _Marker) -> bool:
        """Forward a flush/stop marker to every runner; True when the worker must exit."""
        with marker.lock:
            marker.pending = len(self.runners)
        if not self.runners:
            marker.done.set()
        for runner in self.runners:
            runner.put(marker)
        return marker.action == "stop"

    # -- control -------------------------------------------------------------
    def deliver(self, timeout: float) -> bool:
        """Wait until every record produced before the call was handed to every
        sink and flushed; True when that happened in time (losses aside)."""
        if self.worker is None:
            return not self.queue
        marker = _Marker("flush", time.monotonic() + timeout)
        self.queue.append(marker)
        self.wake.set()
        return marker.done.wait(timeout) and marker.ok

    def flush(self, timeout: float) -> bool:
        """True when every record produced before the call reached every sink and
        none was lost since the previous flush returned."""
        done = self.deliver(timeout)
        with self.lock:
            lost = self.lost - self._lost_reported
            self._lost_reported = self.lost
        if lost:
            _logger.warning(
                "auditora: flush: %d records were lost since the last flush (%s)",
                lost,
                ", ".join(f"{k}: {v}" for k, v in sorted(self._losses().items())),
            )
        return done and not lost

    def progress(self) -> int:
        """Records taken from the queue plus records exported: grows while the
        recorder gets anything done."""
        return self.received + sum(r.exported for r in self.runners)

    def _losses(self) -> Dict[str, int]:
        """Records lost so far, by reason, the sinks' included."""
        with self.lock:
            out = {k: v for k, v in self.dropped.items() if k not in _INTENDED}
        for runner in self.runners:
            for k, v in list(runner.dropped.items()):
                out[k] = out.get(k, 0) + v
        return out

    def shutdown(self, timeout: float) -> bool:
        with self.lock:
            self.stopped = True
            worker = self.worker
        if worker is None or not worker.is_alive():
            left = sum(1 for r in self.queue if not isinstance(r, _Marker))
            if left:
                self._drop("shutdown", left)
            for runner in self.runners:
                try:
                    runner.sink.close(timeout)
                except Exception:
                    _logger.exception("auditora: closing sink %s failed", runner.name)
            return True
        marker = _Marker("stop", time.monotonic() + timeout)
        self.queue.append(marker)
        self.wake.set()
        with self.room:
            self.room.notify_all()  # waiting producers give up: nothing more is taken
        done = marker.done.wait(timeout)
        if not done:
            left = sum(1 for r in self.queue if not isinstance(r, _Marker))
            if left:
                self._drop("shutdown", left)
        with self.lock:
            lost = self.lost - self._lost_reported
            self._lost_reported = self.lost
        return done and marker.ok and not lost

    def stats(self) -> Dict[str, Any]:
        with self.lock:
            dropped = dict(self.dropped)
        sinks = {}
        for r in self.runners:
            sinks[r.name] = {
                "queued": r.queued(),
                "exported": r.exported,
                "failed_batches": r.failed_batches,
                "dropped": dict(r.dropped),
                "busy": r.busy_since is not None,
                "hangs": r.hangs,
            }
            try:
                extra = r.sink.stats()
            except Exception:
                extra = {}
            if isinstance(extra, dict):
                sinks[r.name].update(extra)
        return {
            "queued": sum(1 for r in list(self.queue) if not isinstance(r, _Marker)),
            "capacity": self.maxsize,
            "overflow": settings.overflow,
            "received": self.received,
            "filtered": self.filtered,
            "dropped": dropped,
            "lost": self.lost,
            "sinks": sinks,
            "running": self.worker is not None and self.worker.is_alive(),
        }


# -- module state ------------------------------------------------------------
_pipeline: Optional[_Pipeline] = None
_sampler: Optional[Sampler] = None
#: Serializes replacing the pipeline (install, shutdown, reset).
_lock = threading.RLock()
_atexit_registered = False


def _register_atexit() -> None:
    global _atexit_registered
    if not _atexit_registered:
        _atexit_registered = True
        atexit.register(_at_exit)


def _at_exit() -> None:
    """Deliver what is queued before the interpreter exits.

    Waits as long as the sinks make progress (a program that ends normally
    keeps every record, however many are queued); gives up once
    ``atexit_timeout`` passes with nothing delivered.
    """
    try:
        pipeline = _pipeline
        if pipeline is not None and pipeline.worker is not None:
            # Only a delivery still under way when time ran out is waited for
            # again, so a thread that keeps producing at exit cannot hold it open.
            while True:
                before = pipeline.progress()
                if pipeline.deliver(settings.atexit_timeout) or pipeline.progress() == before:
                    break
        shutdown(settings.atexit_timeout)
    except Exception:
        pass


def install(sinks: Sequence[Sink], timeout: float) -> None:
    """Replace the pipeline by one over ``sinks`` (none: no pipeline, no target).

    The old pipeline is unregistered first, then flushed and closed (bounded by
    ``timeout``), so records produced meanwhile go to the new sinks.
    """
    global _pipeline
    with _lock:
        old = _pipeline
        new = _Pipeline(sinks, _sampler) if sinks else None
        _pipeline = new
        if old is not None:
            _emit.remove_target(old.submit)
            old.shutdown(timeout)
        if new is not None:
            _emit.add_target(new.submit, trusted=True)


def resize(timeout: float) -> None:
    """Rebuild a pipeline that has not started yet, so that it takes the current
    ``queue_size`` and ``batch_size``; a running one keeps its sizes."""
    with _lock:
        pipeline = _pipeline
        if pipeline is not None and pipeline.worker is None:
            install(pipeline.sinks, timeout)


def set_sampler(sampler: Optional[Sampler]) -> None:
    """Use ``sampler`` (None: keep every record) for this pipeline and the next ones."""
    global _sampler
    with _lock:
        _sampler = sampler
        if _pipeline is not None:
            _pipeline.sampler = sampler  # submit reads it per record: swapped in place


def flush(timeout: float = 5.0) -> bool:
    """Deliver every record produced so far to every sink; True when all were delivered.

    True only if every record produced since the previous ``flush`` reached
    every sink: False when time ran out, a sink failed or is hung, or any
    record was dropped or lost meanwhile (then a warning says how many, by
    reason; ``stats()`` has the counts). Returns within ``timeout`` seconds.
    Records keep flowing meanwhile.
    """
    pipeline = _pipeline
    if pipeline is None:
        return True
    try:
        return pipeline.flush(max(0.0, float(timeout)))
    except Exception:
        _logger.exception("auditora: flush failed")
        return False


def shutdown(timeout: float = 5.0) -> bool:
    """Flush, close every sink and stop the recorder's threads, within ``timeout`` seconds.

    True when everything was delivered and closed in time. Records produced
    afterwards are no longer recorded (until ``configure`` is called again).
    Called automatically at interpreter exit with ``atexit_timeout`` (2 s).
    """
    global _pipeline
    with _lock:
        pipeline = _pipeline
        _pipeline = None
        if pipeline is None:
            return True
        _emit.remove_target(pipeline.submit)
    try:
        return pipeline.shutdown(max(0.0, float(timeout)))
    except Exception:
        _logger.exception("auditora: shutdown failed")
        return False


def stats() -> Dict[str, Any]:
    """Counters of the recorder: queued, received, dropped by reason, and per sink.

    ``{"queued", "capacity", "received", "filtered", "dropped": {reason: n},
    "sinks": {name: {"queued", "exported", "failed_batches", "dropped", "busy",
    "hangs"}},
    "running"}``; all zero/empty when no sink is configured.
    """
    pipeline = _pipeline
    if pipeline is None:
        return {
            "queued": 0,
            "capacity": settings.queue_size,
            "overflow": settings.overflow,
            "received": 0,
            "filtered": 0,
            "dropped": {},
            "lost": 0,
            "sinks": {},
            "running": False,
        }
    return pipeline.stats()


def sinks() -> List[Sink]:
    """The sinks currently configured."""
    pipeline = _pipeline
    return list(pipeline.sinks) if pipeline is not None else []


def reset(timeout: float = 2.0) -> None:
    """Shut the recorder down (bounded by ``timeout``) and forget its sinks and sampler.

    Part of :func:`auditora.testing.reset`, which also restores the settings.
    """
    global _sampler
    shutdown(timeout)
    _sampler = None


def _after_fork_in_child() -> None:
    global _pipeline, _lock
    _held_for_fork.clear()  # the child's pipeline has locks of its own
    _lock = threading.RLock()
    old = _pipeline
    if old is None:
        return
    for sink in old.sinks:
        try:
            sink._after_fork_in_child()
        except Exception:
            pass
    new = _Pipeline(old.sinks, old.sampler)
    _pipeline = new
    _emit._swap_target(old.submit, new.submit)


#: Export locks taken before a fork, released after it in the parent.
_held_for_fork: List[threading.Lock] = []


def _before_fork() -> None:
    # Let exports in flight finish first (bounded: a hung sink does not hold
    # the fork up for long), so no sink thread is inside a library at fork time.
    pipeline = _pipeline
    if pipeline is None or pipeline.worker is None:
        return
    for runner in pipeline.runners:
        if runner.exporting.acquire(timeout=settings.atexit_timeout):
            _held_for_fork.append(runner.exporting)


def _after_fork_in_parent() -> None:
    while _held_for_fork:
        _held_for_fork.pop().release()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(
        before=_before_fork,
        after_in_parent=_after_fork_in_parent,
        after_in_child=_after_fork_in_child,
    )
