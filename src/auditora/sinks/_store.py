"""What the store sinks share: batches handed to a writer process, or written here,
and every record not stored counted, logged once and raised (``docs/store.md``)."""

from __future__ import annotations

import logging
import os
from collections import deque
from typing import Any, Deque, Dict, List, NamedTuple, Optional, Sequence, Tuple

from .._serialize import Part
from ..records import Record
from ..store._postgres import StoreUnavailable
from ..store._url import mask
from ..store._writer import Written
from ..store._writer_process import (
    StoreWriter,
    WriterFailed,
    WriterGone,
    WriterProcess,
    open_writer,
)
from ._base import Sink, SinkWriteError, serialized

__all__ = ["StoreSink"]

_logger = logging.getLogger("auditora")

#: Writer processes one sink starts at most: the first, and replacements for two
#: that died. Past that, its batches are written in process.
_STARTS = 3


class _Loss(NamedTuple):
    """Records of a batch that were not stored, and why."""

    lost: int
    reason: str  # the recorder's drop reason: "unstorable", "unreachable" or "sink_error"
    message: str


class StoreSink(Sink):
    """A sink writing the store ``target`` of ``backend`` with the writer
    :func:`~auditora.store._writer_process.open_writer` makes of ``options``.

    ``export`` serializes the batch and hands it to a writer process, then
    returns once that process has answered for the batches before it but the
    last few it may hold at once (one for SQLite, two for PostgreSQL: see
    :data:`~auditora.store._writer_process.AT_ONCE`; ``flush()`` and ``close()``
    wait for them all). With
    ``process=False``, or where no child can be started, batches are written in
    this process by the same writer; a child that dies is replaced (twice at
    most, then batches are written here) and the batch it held is written
    again. Records not stored are raised as :class:`SinkWriteError` by the next
    ``export``, ``flush()`` or ``close()``. ``display`` is how the store is
    named in logs and errors (a URL's password masked)."""

    def __init__(
        self,
        backend: str,
        target: str,
        display: str,
        options: Dict[str, Any],
        *,
        process: bool,
    ) -> None:
        if not isinstance(process, bool):
            raise TypeError(f"process must be True or False, not {process!r}")
        self._backend = backend
        self._target = target
        self._display = display
        self._options = options
        self._process = process
        self._here: Optional[StoreWriter] = None
        self._writer: Optional[WriterProcess] = None
        #: Writer processes that may still be started.
        self._starts_left = _STARTS if process else 0
        self._writer_exits = 0
        #: Reconnections made by writer processes that exited.
        self._reconnects_before = 0
        #: Batches the writer process holds and has not answered for, oldest first:
        #: (parts, records).
        self._in_flight: Deque[Tuple[List[Part], int]] = deque()
        self._pid = os.getpid()
        self._unstorable: Dict[str, int] = {}
        self._unreachable = 0

    def export(self, batch: Sequence[Record]) -> None:
        """Hand ``batch`` to the writer (or store it here); raise :class:`SinkWriteError`
        for records of this batch or the one before that were not stored."""
        if not batch:
            return
        if self._pid != os.getpid():
            self._after_fork_in_child()
        parts = serialized(batch)
        at_once = self._writer.at_once if self._writer is not None else 1
        earlier = self._settle(keep=at_once - 1)
        self._raise_for(*earlier, self._hand_over(parts, len(batch)))

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until the writer has answered for every batch; raise
        :class:`SinkWriteError` for records it could not store."""
        if self._pid != os.getpid():
            self._after_fork_in_child()
        self._raise_for(*self._settle())
        return True

    def _hand_over(self, parts: List[Part], count: int) -> Optional[_Loss]:
        """Send ``parts`` to the writer process, or store them here when there is none."""
        if self._writer is None and self._starts_left > 0:
            self._starts_left -= 1
            writer = WriterProcess(self._backend, self._target, self._options)
            try:
                writer.start()
                self._writer = writer
            except WriterGone as exc:
                self._starts_left = 0
                _logger.warning(
                    "auditora: the store %s is written in this process (%s)", self._display, exc
                )
        if self._writer is not None:
            try:
                self._writer.send(parts)
                self._in_flight.append((parts, count))
                return None
            except WriterGone as exc:
                self._writer_gone(exc)
        return self._store_here(parts, count)

    def _settle(self, keep: int = 0) -> List[Optional[_Loss]]:
        """The writer's answers for the batches in flight, oldest first, until ``keep``
        are left (every one written here if the writer died)."""
        losses: List[Optional[_Loss]] = []
        while len(self._in_flight) > keep:
            assert self._writer is not None
            count = self._in_flight[0][1]
            try:
                written = self._writer.answer()
            except WriterGone as exc:
                # Written again here: had the child committed one before dying, a run
                # replaces itself and the other records of that batch repeat.
                self._writer_gone(exc)
                while self._in_flight:
                    losses.append(self._store_here(*self._in_flight.popleft()))
                break
            except Exception as exc:
                losses.append(self._failed(exc, count))
            else:
                losses.append(self._account(written, count))
            self._in_flight.popleft()
        return losses

    def _store_here(self, parts: List[Part], count: int) -> Optional[_Loss]:
        try:
            if self._here is None:
                self._here = open_writer(self._backend, self._target, self._options)
            written = self._here.write(parts)
        except Exception as exc:
            return self._failed(exc, count)
        return self._account(written, count)

    def _failed(self, exc: Exception, count: int) -> _Loss:
        """The loss of a batch the store failed as a whole (or in part, when unreachable)."""
        if isinstance(exc, StoreUnavailable):
            lost = count - exc.stored
            self._unreachable += lost
            return _Loss(lost, "unreachable", f"{lost} of {count} records not stored: {exc}")
        # The child's failure already names its error's type.
        message = str(exc) if isinstance(exc, WriterFailed) else f"{type(exc).__name__}: {exc}"
        return _Loss(count, "sink_error", mask(message))

    def _writer_gone(self, exc: WriterGone) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            self._reconnects_before += writer.reconnects
        self._writer_exits += 1
        _logger.warning(
            "auditora: the writer process of the store %s exited (%s); its batch is "
            "written in this process%s",
            self._display,
            exc,
            ", the next ones by a new writer" if self._starts_left else ", and the next ones",
        )

    def _account(self, written: Written, count: int) -> Optional[_Loss]:
        """Count and log (once per kind) the records ``written`` left out."""
        if not written.unstorable:
            return None
        for kind, n in written.unstorable.items():
            if kind not in self._unstorable:
                _logger.warning(
                    "auditora: the store %s cannot keep a %s record (%s); it is left out, "
                    "the rest of its batch is stored; further ones are counted "
                    "(auditora.stats())",
                    self._display,
                    kind,
                    mask(written.reasons[kind]),
                )
            self._unstorable[kind] = self._unstorable.get(kind, 0) + n
        return _Loss(
            written.lost,
            "unstorable",
            f"{written.lost} of {count} records could not be stored in {self._display}",
        )

    def _raise_for(self, *losses: Optional[_Loss]) -> None:
        found = [loss for loss in losses if loss is not None]
        if not found:
            return
        reasons = {loss.reason for loss in found}
        raise SinkWriteError(
            "; ".join(loss.message for loss in found),
            sum(loss.lost for loss in found),
            reason=reasons.pop() if len(reasons) == 1 else "sink_error",
        )

    def _reconnects(self) -> int:
        """Reconnections made by every writer of this sink, here and in processes."""
        here = self._here.reconnects if self._here is not None else 0
        child = self._writer.reconnects if self._writer is not None else 0
        return self._reconnects_before + child + here

    def stats(self) -> Dict[str, Any]:
        """Records the store could not keep, by kind (``unstorable``); where batches are
        written (``writer``: ``"process"``, ``"in-process"``, or None before the
        first), the writer process's id (``writer_pid``) and how many times a
        writer process exited (``writer_exits``)."""
        writer = self._writer
        if writer is not None:
            where: Optional[str] = "process"
        else:
            where = "in-process" if self._here is not None else None
        return {
            "unstorable": dict(self._unstorable),
            "writer": where,
            "writer_pid": writer.pid if writer is not None else None,
            "writer_exits": self._writer_exits,
        }

    def close(self, timeout: float = 5.0) -> None:
        """Wait for the writer's last answer, let it exit; close this process's writer.
        Raises :class:`SinkWriteError` for records the last batch lost."""
        if self._pid != os.getpid():
            self._after_fork_in_child()
            return
        losses = self._settle()
        writer, self._writer = self._writer, None
        if writer is not None:
            self._reconnects_before += writer.reconnects
            writer.close(timeout)
        here, self._here = self._here, None
        if here is not None:
            self._reconnects_before += here.reconnects
            here.close()
        self._raise_for(*losses)

    def _after_fork_in_child(self) -> None:
        # The parent's connection and writer process, and the batch it holds, are
        # the parent's: let go of them untouched; this process starts its own.
        self._in_flight.clear()
        if self._here is not None:
            self._here.forget()
        if self._writer is not None:
            self._writer.forget()
            self._writer = None
        self._starts_left = _STARTS if self._process else 0
        self._pid = os.getpid()
