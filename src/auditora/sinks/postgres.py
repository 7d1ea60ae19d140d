"""The PostgreSQL sink: writes records into a PostgreSQL store (``docs/store.md``)."""

from __future__ import annotations

import importlib.util
from typing import Any, Dict

from ..store._postgres import INSTALL_HINT
from ..store._schema import StoreError
from ..store._url import parse_store
from ._store import StoreSink

__all__ = ["PostgresSink"]


class PostgresSink(StoreSink):
    """Writes each batch into the PostgreSQL store at ``url`` in one transaction.

    The same contract as :class:`~auditora.sinks.SQLiteSink`: the database is
    connected to and migrated lazily, on the first batch; a record that cannot
    be stored costs that record alone (counted as ``unstorable`` by kind,
    logged once, and raised as :class:`~auditora.sinks.SinkWriteError` after
    storing the rest); the transactions are run by a writer process (the URL
    is handed to it down a pipe, never on its command line), or in this
    process with ``process=False`` or where no child can be started.

    When the server goes away (a restart, a network cut) the writer reconnects
    with backoff and sends the batch again, for up to ``retry_for`` seconds
    per batch, while the recorder's bounded queue holds the records behind it
    (the sink's next ``export`` waits for that answer); only past that bound is
    the batch lost, counted as ``unreachable``. The URL's password never
    appears in its errors, logs, ``stats()`` or repr. Needs
    ``pip install 'auditora[postgres]'``.
    """

    name = "postgres"

    def __init__(
        self,
        url: str,
        *,
        retry_for: float = 30.0,
        connect_timeout: float = 5.0,
        process: bool = True,
    ) -> None:
        parsed = parse_store(url)
        if parsed.backend != "postgresql":
            raise StoreError(f"{parsed.display!r} is not a postgresql:// URL")
        if importlib.util.find_spec("psycopg") is None:
            raise StoreError(f"the store {parsed.display} needs psycopg 3: {INSTALL_HINT}")
        if not retry_for > 0:
            raise ValueError(f"retry_for must be a positive number, not {retry_for!r}")
        options = {"retry_for": float(retry_for), "connect_timeout": float(connect_timeout)}
        super().__init__("postgresql", parsed.target, parsed.display, options, process=process)
        self.url = parsed.display  # what may be shown; the writers alone hold the password

    def stats(self) -> Dict[str, Any]:
        """The store (masked), records it could not keep by kind, records lost while the
        server was unreachable past the bound, the reconnections made, and where
        batches are written (as :meth:`SQLiteSink.stats`)."""
        return {
            "store": self.url,
            **super().stats(),
            "unreachable": self._unreachable,
            "reconnects": self._reconnects(),
        }

    def writes_to(self, store: str) -> bool:
        """Whether ``store`` (a path or URL) names the database this sink writes."""
        parsed = parse_store(store)
        return parsed.backend == "postgresql" and parsed.target == self._target

    def __repr__(self) -> str:
        extra = "" if self._process else ", process=False"
        return f"PostgresSink({self.url!r}{extra})"
