"""The SQLite sink: writes records into an Auditora store (``docs/store.md``)."""

from __future__ import annotations

import os
import sqlite3
import threading
from typing import Optional, Sequence, Union

from ..records import Record
from ..store._schema import connect_writer
from ..store._writer import Prepared, prepare_records, write_prepared
from ._base import Sink, SinkWriteError

__all__ = ["SQLiteSink", "SinkWriteError"]


class SQLiteSink(Sink):
    """Writes each batch into the store at ``path`` in one transaction.

    The file is created and migrated lazily, on the first batch, in the
    recorder's thread (never at import or configure time). WAL mode and a busy
    timeout let several processes write one file concurrently.

    Writing is pipelined: ``export`` builds the rows of a batch (Python work)
    while the previous batch is committed by the sink's writer thread (SQLite
    work, which releases the GIL), so both CPU cores are used. Batches that
    arrive while the writer is busy are merged into the next transaction (never
    split), so under load transactions grow and cost less per record. A failed
    commit is reported by the next ``export``/``flush``/``close`` as
    :class:`SinkWriteError` carrying the number of records lost.
    """

    name = "sqlite"

    #: A batch waiting for the writer takes in the following batches up to this
    #: many records: under load transactions grow, and each commit, index page
    #: write and GIL hand-over serves more records. It also bounds how far row
    #: building runs ahead of the writer, taking the GIL from the app during a
    #: burst (32,768 made a burst of calls ~25% slower than 8,192).
    MAX_TRANSACTION = 8_192

    def __init__(self, path: Union[str, os.PathLike[str]]) -> None:
        self.path = os.fspath(path)
        self._conn: Optional[sqlite3.Connection] = None
        self._pid = os.getpid()
        self._cond = threading.Condition(threading.Lock())
        self._job: Optional[Prepared] = None  # waiting for the writer
        self._busy = False  # the writer is writing a job
        self._error: Optional[BaseException] = None
        self._lost = 0
        self._thread: Optional[threading.Thread] = None

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            parent = os.path.dirname(os.path.abspath(self.path))
            os.makedirs(parent, exist_ok=True)
            self._conn = connect_writer(self.path)
        return self._conn

    # -- the writer thread -------------------------------------------------
    def _writer(self) -> None:
        while True:
            with self._cond:
                while self._job is None:
                    self._cond.wait()
                job = self._job
                self._job = None
                self._busy = True
                self._cond.notify_all()
            try:
                write_prepared(self._connection(), job)
            except BaseException as exc:
                with self._cond:
                    self._error = exc
                    self._lost += job.count
            with self._cond:
                self._busy = False
                self._cond.notify_all()

    def _idle(self) -> bool:
        return self._job is None and not self._busy

    def _raise_error(self) -> None:
        """Raise (once) the failure of an earlier batch; call with the lock held."""
        error, lost = self._error, self._lost
        self._error, self._lost = None, 0
        if error is not None:
            raise SinkWriteError(
                f"writing to {self.path} failed: {type(error).__name__}: {error}", lost
            ) from error

    def _wait(self, timeout: Optional[float]) -> bool:
        """Wait until every batch is written; raise if an earlier one failed."""
        with self._cond:
            done = self._cond.wait_for(self._idle, timeout)
            self._raise_error()
        return done

    # -- the sink contract ---------------------------------------------------
    def export(self, batch: Sequence[Record]) -> None:
        """Build the batch's rows, then hand them to the writer (one transaction).

        While the writer is busy, the batch joins the one waiting for it (up
        to :attr:`MAX_TRANSACTION` records; beyond, this call waits for the
        writer to take that one). An earlier batch's failure is raised after
        this batch was handed over.
        """
        if not batch:
            return
        if self._pid != os.getpid():
            self._after_fork_in_child()
        prepared = prepare_records(batch)
        with self._cond:
            if self._thread is None:
                thread: Optional[threading.Thread] = threading.Thread(
                    target=self._writer, name="auditora-sqlite-writer", daemon=True
                )
                try:
                    thread.start()  # type: ignore[union-attr]
                except RuntimeError:
                    thread = None  # interpreter shutdown (3.12+): no new threads
                if thread is None:
                    write_prepared(self._connection(), prepared)
                    return
                self._thread = thread
            limit = self.MAX_TRANSACTION
            self._cond.wait_for(
                lambda: self._job is None or self._job.count + prepared.count <= limit
            )
            if self._job is None:
                self._job = prepared
            else:
                self._job.merge(prepared)
            self._cond.notify_all()
            self._raise_error()

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait for the batch in flight to commit; committed data survives a process crash."""
        return self._wait(timeout)

    def close(self, timeout: float = 5.0) -> None:
        """Wait for the batch in flight, checkpoint (best effort), close the connection."""
        if self._pid != os.getpid():
            self._after_fork_in_child()
            return
        if not self._wait(timeout):
            return  # still writing: leave the connection to the writer thread
        conn = self._conn
        self._conn = None
        if conn is None:
            return
        try:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error:
            pass
        conn.close()

    def _after_fork_in_child(self) -> None:
        # A SQLite connection must never be used across fork, and the writer
        # thread does not exist here: forget both (without closing, which would
        # touch the parent's locks) and start afresh on the next batch. A batch
        # the parent had in flight is the parent's to write.
        self._conn = None
        self._pid = os.getpid()
        self._cond = threading.Condition(threading.Lock())
        self._job = None
        self._busy = False
        self._error = None
        self._lost = 0
        self._thread = None

    def __repr__(self) -> str:
        return f"SQLiteSink({self.path!r})"
