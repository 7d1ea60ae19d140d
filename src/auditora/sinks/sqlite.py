"""The SQLite sink: writes records into an Auditora store (``docs/store.md``)."""

from __future__ import annotations

import logging
import os
import sqlite3
from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Tuple, Union

from .._serialize import Part
from ..records import Record
from ..store._schema import StoreError, close_writer, connect_writer
from ..store._url import parse_store
from ..store._writer import Written, write_parts
from ..store._writer_process import WriterGone, WriterProcess
from ._base import Sink, SinkWriteError, serialized

__all__ = ["SQLiteSink", "SinkWriteError"]

_logger = logging.getLogger("auditora")

#: Writer processes one sink starts at most: the first, and replacements for two
#: that died. Past that, its batches are written in process.
_STARTS = 3


class _Loss(NamedTuple):
    """Records of a batch that were not stored, and why."""

    lost: int
    reason: str  # the recorder's drop reason: "unstorable" or "sink_error"
    message: str


class SQLiteSink(Sink):
    """Writes each batch into the store at ``path`` in one transaction.

    The file is created and migrated lazily, on the first batch, in the
    recorder's thread (never at import or configure time). WAL mode and a busy
    timeout let several processes write one file concurrently. The rows are
    the same serialized records the JSONL sink writes (shared per batch).

    **A writer process.** The transactions are run by a child Python process
    (:mod:`auditora.store._writer_process`), so that SQLite's work does not
    hold this process's interpreter lock: ``export`` serializes the batch,
    hands it over, and returns once the child has answered for the batch
    before it (one batch is in flight at a time; ``flush()`` waits for it).
    With ``process=False``, or where no child can be started (no usable
    ``sys.executable``, a frozen app, an embedding host, not POSIX), batches
    are written in this process, the same way; a child that dies is replaced
    (twice at most, then batches are written here) and the batch it held is
    written again. Each of these is logged once; ``stats()`` says where batches
    go (``writer``).

    **Nothing lost silently.** A record that cannot be stored costs that record
    alone: it is counted as ``unstorable`` (by kind in
    ``stats()["sinks"]["sqlite"]["unstorable"]``) and logged once with the
    reason. When the store itself fails (locked past the busy timeout, disk
    full) the batch is lost as a whole. Either way the next ``export``, or
    ``flush()``/``close()``, raises :class:`SinkWriteError` with the number of
    records lost, so the recorder counts them and ``auditora.flush()`` returns
    False.
    """

    name = "sqlite"

    def __init__(self, path: Union[str, os.PathLike[str]], *, process: bool = True) -> None:
        parsed = parse_store(path)  # a URL is never taken for a file name
        if parsed.backend != "sqlite":
            raise StoreError(
                f"{parsed.display!r} is not a SQLite store: use PostgresSink, or "
                "auditora.configure(store=...), which picks the sink for the URL"
            )
        if not isinstance(process, bool):
            raise TypeError(f"process must be True or False, not {process!r}")
        self.path = parsed.target
        self._process = process
        self._conn: Optional[sqlite3.Connection] = None
        self._writer: Optional[WriterProcess] = None
        #: Writer processes that may still be started.
        self._starts_left = _STARTS if process else 0
        self._writer_exits = 0
        #: The batch the writer process holds and has not answered for: (parts, records).
        self._in_flight: Optional[Tuple[List[Part], int]] = None
        self._pid = os.getpid()
        self._unstorable: Dict[str, int] = {}

    def export(self, batch: Sequence[Record]) -> None:
        """Hand ``batch`` to the writer (or store it here); raise :class:`SinkWriteError`
        for records of this batch or the one before that were not stored."""
        if not batch:
            return
        if self._pid != os.getpid():
            self._after_fork_in_child()
        parts = serialized(batch)
        earlier = self._settle()
        self._raise_for(earlier, self._hand_over(parts, len(batch)))

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until the writer has answered for every batch; raise
        :class:`SinkWriteError` for records it could not store."""
        if self._pid != os.getpid():
            self._after_fork_in_child()
        self._raise_for(self._settle())
        return True

    def _hand_over(self, parts: List[Part], count: int) -> Optional[_Loss]:
        """Send ``parts`` to the writer process, or store them here when there is none."""
        if self._writer is None:  # the store's directory, before a writer opens it
            os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        if self._writer is None and self._starts_left > 0:
            self._starts_left -= 1
            writer = WriterProcess(self.path)
            try:
                writer.start()
                self._writer = writer
            except WriterGone as exc:
                self._starts_left = 0
                _logger.warning(
                    "auditora: the store %s is written in this process (%s)", self.path, exc
                )
        if self._writer is not None:
            try:
                self._writer.send(parts)
                self._in_flight = (parts, count)
                return None
            except WriterGone as exc:
                self._writer_gone(exc)
        return self._store_here(parts, count)

    def _settle(self) -> Optional[_Loss]:
        """The writer's answer for the batch in flight (written here if the writer died)."""
        flight, self._in_flight = self._in_flight, None
        if flight is None:
            return None
        assert self._writer is not None
        try:
            written = self._writer.answer()
        except WriterGone as exc:
            # Written again here: had the child committed it before dying, a run
            # replaces itself and the other records of this one batch repeat.
            self._writer_gone(exc)
            return self._store_here(*flight)
        except Exception as exc:  # the store's own failure: the whole batch
            return _Loss(flight[1], "sink_error", f"{type(exc).__name__}: {exc}")
        return self._account(written, flight[1])

    def _store_here(self, parts: List[Part], count: int) -> Optional[_Loss]:
        try:
            if self._conn is None:
                self._conn = connect_writer(self.path)
            written = write_parts(self._conn, parts)
        except Exception as exc:  # the store's own failure: the whole batch
            return _Loss(count, "sink_error", f"{type(exc).__name__}: {exc}")
        return self._account(written, count)

    def _writer_gone(self, exc: WriterGone) -> None:
        self._writer = None
        self._writer_exits += 1
        _logger.warning(
            "auditora: the writer process of the store %s exited (%s); its batch is "
            "written in this process%s",
            self.path,
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
                    self.path,
                    kind,
                    written.reasons[kind],
                )
            self._unstorable[kind] = self._unstorable.get(kind, 0) + n
        return _Loss(
            written.lost,
            "unstorable",
            f"{written.lost} of {count} records could not be stored in {self.path}",
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

    def stats(self) -> Dict[str, Any]:
        """Records the store could not keep, by kind (``unstorable``); where batches are
        written (``writer``: ``"process"``, ``"in-process"``, or None before the
        first), the writer process's id (``writer_pid``) and how many times a
        writer process exited (``writer_exits``)."""
        writer = self._writer
        if writer is not None:
            where: Optional[str] = "process"
        else:
            where = "in-process" if self._conn is not None else None
        return {
            "unstorable": dict(self._unstorable),
            "writer": where,
            "writer_pid": writer.pid if writer is not None else None,
            "writer_exits": self._writer_exits,
        }

    def close(self, timeout: float = 5.0) -> None:
        """Wait for the writer's last answer, let it exit; checkpoint (best effort) and
        close this process's connection. Raises :class:`SinkWriteError` for records
        the last batch lost."""
        if self._pid != os.getpid():
            self._after_fork_in_child()
            return
        loss = self._settle()
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close(timeout)
        conn, self._conn = self._conn, None
        if conn is not None:
            close_writer(conn)
        self._raise_for(loss)

    def _after_fork_in_child(self) -> None:
        # A SQLite connection must never be used across fork: forget it
        # (without closing, which would touch the parent's locks) and open
        # afresh on the next batch. The parent's writer process, and the batch
        # it holds, are the parent's; this process starts a writer of its own.
        self._conn = None
        self._in_flight = None
        if self._writer is not None:
            self._writer.forget()
            self._writer = None
        self._starts_left = _STARTS if self._process else 0
        self._pid = os.getpid()

    def writes_to(self, store: Union[str, os.PathLike[str]]) -> bool:
        """Whether ``store`` (a path or URL) names the file this sink writes."""
        parsed = parse_store(store)
        return parsed.backend == "sqlite" and (
            os.path.abspath(parsed.target) == os.path.abspath(self.path)
        )

    def __repr__(self) -> str:
        extra = "" if self._process else ", process=False"
        return f"SQLiteSink({self.path!r}{extra})"
