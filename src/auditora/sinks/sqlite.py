"""The SQLite sink: writes records into an Auditora store (``docs/store.md``)."""

from __future__ import annotations

import logging
import os
import sqlite3
from typing import Any, Dict, Optional, Sequence, Union

from ..records import Record
from ..store._schema import StoreError, connect_writer
from ..store._url import parse_store
from ..store._writer import write_parts
from ._base import Sink, SinkWriteError, serialized

__all__ = ["SQLiteSink", "SinkWriteError"]

_logger = logging.getLogger("auditora")


class SQLiteSink(Sink):
    """Writes each batch into the store at ``path`` in one transaction.

    The file is created and migrated lazily, on the first batch, in the
    recorder's thread (never at import or configure time). WAL mode and a busy
    timeout let several processes write one file concurrently. The rows are
    the same serialized records the JSONL sink writes (shared per batch).

    A record that cannot be stored costs that record alone: it is counted as
    ``unstorable`` (by kind in ``stats()["sinks"]["sqlite"]["unstorable"]``),
    logged once with the reason, and ``export`` raises
    :class:`SinkWriteError` after storing the rest, so ``auditora.flush()``
    reports the loss. When the store itself fails (locked past the busy
    timeout, disk full) the batch is lost as a whole and ``export`` raises.
    """

    name = "sqlite"

    def __init__(self, path: Union[str, os.PathLike[str]]) -> None:
        parsed = parse_store(path)  # a URL is never taken for a file name
        if parsed.backend != "sqlite":
            raise StoreError(
                f"{parsed.display!r} is not a SQLite store: use PostgresSink, or "
                "auditora.configure(store=...), which picks the sink for the URL"
            )
        self.path = parsed.target
        self._conn: Optional[sqlite3.Connection] = None
        self._pid = os.getpid()
        self._unstorable: Dict[str, int] = {}

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            parent = os.path.dirname(os.path.abspath(self.path))
            os.makedirs(parent, exist_ok=True)
            self._conn = connect_writer(self.path)
        return self._conn

    def export(self, batch: Sequence[Record]) -> None:
        """Store ``batch`` in one transaction; raise :class:`SinkWriteError` for what was not."""
        if not batch:
            return
        if self._pid != os.getpid():
            self._after_fork_in_child()
        written = write_parts(self._connection(), serialized(batch))
        if not written.unstorable:
            return
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
        raise SinkWriteError(
            f"{written.lost} of {len(batch)} records could not be stored in {self.path}",
            written.lost,
            reason="unstorable",
        )

    def stats(self) -> Dict[str, Any]:
        """``{"unstorable": {kind: n}}``: records the store could not keep, by kind."""
        return {"unstorable": dict(self._unstorable)}

    def close(self, timeout: float = 5.0) -> None:
        """Checkpoint (best effort) and close the connection."""
        if self._pid != os.getpid():
            self._after_fork_in_child()
            return
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
        # A SQLite connection must never be used across fork: forget it
        # (without closing, which would touch the parent's locks) and open
        # afresh on the next batch.
        self._conn = None
        self._pid = os.getpid()

    def writes_to(self, store: Union[str, os.PathLike[str]]) -> bool:
        """Whether ``store`` (a path or URL) names the file this sink writes."""
        parsed = parse_store(store)
        return parsed.backend == "sqlite" and (
            os.path.abspath(parsed.target) == os.path.abspath(self.path)
        )

    def __repr__(self) -> str:
        return f"SQLiteSink({self.path!r})"
