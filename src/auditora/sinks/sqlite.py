"""The SQLite sink: writes records into an Auditora store (``docs/store.md``)."""

from __future__ import annotations

import os
import sqlite3
from typing import Optional, Sequence, Union

from ..records import Record
from ..store._schema import connect_writer
from ..store._writer import write_batch
from ._base import Sink, jsonable

__all__ = ["SQLiteSink"]


class SQLiteSink(Sink):
    """Writes each batch into the store at ``path`` in one transaction.

    The file is created and migrated lazily, on the first batch, in the
    recorder's thread (never at import or configure time). WAL mode and a busy
    timeout let several processes write one file concurrently.
    """

    name = "sqlite"

    def __init__(self, path: Union[str, os.PathLike[str]]) -> None:
        self.path = os.fspath(path)
        self._conn: Optional[sqlite3.Connection] = None
        self._pid = os.getpid()

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None or self._pid != os.getpid():
            self._pid = os.getpid()
            parent = os.path.dirname(os.path.abspath(self.path))
            os.makedirs(parent, exist_ok=True)
            self._conn = connect_writer(self.path)
        return self._conn

    def export(self, batch: Sequence[Record]) -> None:
        """Insert the batch in one transaction (all or nothing)."""
        if not batch:
            return
        write_batch(self._connection(), jsonable(batch))

    def flush(self, timeout: float = 5.0) -> bool:
        """Committed batches are already durable against a process crash."""
        return True

    def close(self, timeout: float = 5.0) -> None:
        """Checkpoint (best effort) and close the connection."""
        conn = self._conn
        self._conn = None
        if conn is None or self._pid != os.getpid():
            return
        try:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error:
            pass
        conn.close()

    def _after_fork_in_child(self) -> None:
        # A SQLite connection must never be used across fork: forget it (without
        # closing, which would touch the parent's locks) and reconnect lazily.
        self._conn = None
        self._pid = os.getpid()

    def __repr__(self) -> str:
        return f"SQLiteSink({self.path!r})"
