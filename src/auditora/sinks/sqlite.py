"""The SQLite sink: writes records into an Auditora store (``docs/store.md``)."""

from __future__ import annotations

import os
from typing import Union

from ..store._schema import StoreError
from ..store._url import parse_store
from ._base import SinkWriteError
from ._store import StoreSink

__all__ = ["SQLiteSink", "SinkWriteError"]


class SQLiteSink(StoreSink):
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
        super().__init__("sqlite", parsed.target, parsed.target, {}, process=process)
        self.path = parsed.target

    def writes_to(self, store: Union[str, os.PathLike[str]]) -> bool:
        """Whether ``store`` (a path or URL) names the file this sink writes."""
        parsed = parse_store(store)
        return parsed.backend == "sqlite" and (
            os.path.abspath(parsed.target) == os.path.abspath(self.path)
        )

    def __repr__(self) -> str:
        extra = "" if self._process else ", process=False"
        return f"SQLiteSink({self.path!r}{extra})"
