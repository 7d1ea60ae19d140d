"""The embedded SQLite store: its schema and the API to read it.

Records reach a store through the SQLite sink (``auditora.configure(store=
"auditora.db")``); the CLI, the viewer and your own scripts read it with
:func:`open_store`::

    from auditora.store import open_store

    with open_store("auditora.db") as store:
        for s in store.sessions():
            print(s["session_id"], s["run_count"], s["eval_pass_rate"])
        tree = store.trace_tree(store.runs(limit=1)[0]["trace_id"])

Every query returns plain dicts and lists. The schema is ``docs/store.md``.
"""

from __future__ import annotations

from ._reader import AmbiguousId, NotFound, Page, Store, open_store
from ._schema import SCHEMA_VERSION, StoreError
from ._writer import write_batch, write_records

__all__ = [
    "SCHEMA_VERSION",
    "AmbiguousId",
    "NotFound",
    "Page",
    "Store",
    "StoreError",
    "open_store",
    "write_batch",
    "write_records",
]
