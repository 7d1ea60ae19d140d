"""The PostgreSQL sink: writes records into a PostgreSQL store (``docs/store.md``)."""

from __future__ import annotations

import importlib.util
import logging
import os
from typing import Any, Dict, Optional, Sequence

from ..records import Record
from ..store._postgres import INSTALL_HINT, PostgresWriter, StoreUnavailable
from ..store._schema import StoreError
from ..store._url import mask, parse_store
from ._base import Sink, SinkWriteError, serialized

__all__ = ["PostgresSink"]

_logger = logging.getLogger("auditora")


class PostgresSink(Sink):
    """Writes each batch into the PostgreSQL store at ``url`` in one transaction.

    The same contract as :class:`~auditora.sinks.SQLiteSink`: the database is
    connected to and migrated lazily, on the first batch, in the recorder's
    thread; a record that cannot be stored costs that record alone (counted as
    ``unstorable`` by kind, logged once, and ``export`` raises
    :class:`SinkWriteError` after storing the rest).

    When the server goes away (a restart, a network cut) the sink reconnects
    with backoff and sends the batch again, blocking its own thread for up to
    ``retry_for`` seconds per batch while the recorder's bounded queue holds the
    records behind it; only past that bound is the batch lost, counted as
    ``unreachable``. The URL's password never appears in its errors, logs,
    ``stats()`` or repr. Needs ``pip install 'auditora[postgres]'``.
    """

    name = "postgres"

    def __init__(self, url: str, *, retry_for: float = 30.0, connect_timeout: float = 5.0):
        parsed = parse_store(url)
        if parsed.backend != "postgresql":
            raise StoreError(f"{parsed.display!r} is not a postgresql:// URL")
        if importlib.util.find_spec("psycopg") is None:
            raise StoreError(f"the store {parsed.display} needs psycopg 3: {INSTALL_HINT}")
        if not retry_for > 0:
            raise ValueError(f"retry_for must be a positive number, not {retry_for!r}")
        self.url = parsed.display  # what may be shown; the writer alone holds the password
        self._target = parsed.target
        self._retry_for = float(retry_for)
        self._connect_timeout = float(connect_timeout)
        self._writer: Optional[PostgresWriter] = None
        self._pid = os.getpid()
        self._unstorable: Dict[str, int] = {}
        self._unreachable = 0

    def _get_writer(self) -> PostgresWriter:
        if self._writer is None:
            self._writer = PostgresWriter(
                self._target, retry_for=self._retry_for, connect_timeout=self._connect_timeout
            )
        return self._writer

    def export(self, batch: Sequence[Record]) -> None:
        """Store ``batch`` in one transaction; raise :class:`SinkWriteError` for what was not."""
        if not batch:
            return
        if self._pid != os.getpid():
            self._after_fork_in_child()
        try:
            written = self._get_writer().write(serialized(batch))
        except StoreUnavailable as exc:
            lost = len(batch) - exc.stored
            self._unreachable += lost
            raise SinkWriteError(
                f"{lost} of {len(batch)} records not stored: {exc}", lost, reason="unreachable"
            ) from None
        if not written.unstorable:
            return
        for kind, n in written.unstorable.items():
            if kind not in self._unstorable:
                _logger.warning(
                    "auditora: the store %s cannot keep a %s record (%s); it is left out, "
                    "the rest of its batch is stored; further ones are counted "
                    "(auditora.stats())",
                    self.url,
                    kind,
                    mask(written.reasons[kind]),
                )
            self._unstorable[kind] = self._unstorable.get(kind, 0) + n
        raise SinkWriteError(
            f"{written.lost} of {len(batch)} records could not be stored in {self.url}",
            written.lost,
            reason="unstorable",
        )

    def stats(self) -> Dict[str, Any]:
        """The store (masked), records it could not keep by kind, records lost while the
        server was unreachable past the bound, and the reconnections made."""
        writer = self._writer
        return {
            "store": self.url,
            "unstorable": dict(self._unstorable),
            "unreachable": self._unreachable,
            "reconnects": writer.reconnects if writer else 0,
        }

    def close(self, timeout: float = 5.0) -> None:
        """Close the connection (every batch was committed by ``export``)."""
        if self._pid != os.getpid():
            self._after_fork_in_child()
            return
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()

    def _after_fork_in_child(self) -> None:
        # The parent's connection (its socket) must not be used nor closed here.
        if self._writer is not None:
            self._writer.forget()
        self._pid = os.getpid()

    def writes_to(self, store: str) -> bool:
        """Whether ``store`` (a path or URL) names the database this sink writes."""
        parsed = parse_store(store)
        return parsed.backend == "postgresql" and parsed.target == self._target

    def __repr__(self) -> str:
        return f"PostgresSink({self.url!r})"
