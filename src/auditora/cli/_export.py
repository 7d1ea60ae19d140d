"""``auditora export``: every record of a store, streamed in constant memory.

Each table is read in batches by a keyset query on its rowid (``WHERE rowid >
last ORDER BY rowid LIMIT n``: an index seek, so the thousandth batch costs what
the first did, unlike ``OFFSET``), and each batch is written before the next is
read. Memory is one batch, whatever the size of the store. Records come in the
order they were written; a table's export stops at the last row it held when
its export began, so a store being written still gives a finite export.
"""

from __future__ import annotations

import csv
import json
import os
import sqlite3
from typing import IO, Any, Dict, Iterator, List, Sequence
from urllib.parse import quote

from ..store._schema import JSON_COLUMNS, TABLES

__all__ = [
    "BATCH",
    "KINDS",
    "columns",
    "connect",
    "decoded",
    "iter_records",
    "write_csv",
    "write_jsonl",
]

#: Rows read per query.
BATCH = 2000

#: Table name -> the kind of the records it keeps, in the schema's order.
KINDS: Dict[str, str] = {t.name: t.kind for t in TABLES}


def connect(path: str) -> sqlite3.Connection:
    """A read-only connection to the store at ``path`` (never locks out writers)."""
    uri = "file:" + quote(os.path.abspath(path)) + "?mode=ro"
    conn = sqlite3.connect(uri, uri=True, isolation_level=None)
    conn.execute("PRAGMA busy_timeout = 5000")
    return conn


def _tables(kind: str) -> List[str]:
    return list(KINDS) if kind == "all" else [kind]


def columns(conn: sqlite3.Connection, kind: str) -> List[str]:
    """The export's columns: ``kind``, then every column of the tables, in schema order.

    Read from the file (an older store lacks the newer columns)."""
    out: Dict[str, None] = {"kind": None}
    for table in _tables(kind):
        for row in conn.execute(f"PRAGMA table_info({table})"):
            out[row[1]] = None
    return list(out)


def decoded(names: Sequence[str], row: Sequence[Any]) -> Dict[str, Any]:
    item: Dict[str, Any] = {}
    for name, value in zip(names, row):
        if name in JSON_COLUMNS and isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                pass  # kept as the text stored
        item[name] = value
    if item.get("success") is not None:
        item["success"] = bool(item["success"])
    return item


def iter_records(conn: sqlite3.Connection, kind: str = "all") -> Iterator[Dict[str, Any]]:
    """Every record of one table (or ``"all"``), as dicts with a ``kind`` first, batch by batch."""
    for table in _tables(kind):
        record_kind = KINDS[table]
        (end,) = conn.execute(f"SELECT coalesce(max(rowid), 0) FROM {table}").fetchone()
        last = 0
        while last < end:
            cur = conn.execute(
                f"SELECT rowid, * FROM {table} WHERE rowid > ? AND rowid <= ? "
                "ORDER BY rowid LIMIT ?",
                (last, end, BATCH),
            )
            names = [d[0] for d in cur.description][1:]
            rows = cur.fetchall()
            if not rows:
                break
            last = rows[-1][0]
            for row in rows:
                yield {"kind": record_kind, **decoded(names, row[1:])}


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=repr)


def write_jsonl(records: Iterator[Dict[str, Any]], out: IO[str]) -> int:
    """One JSON object per line; returns how many were written."""
    n = 0
    for r in records:
        out.write(_json(r) + "\n")
        n += 1
    return n


def write_csv(records: Iterator[Dict[str, Any]], out: IO[str], fieldnames: List[str]) -> int:
    """CSV with ``fieldnames`` as header (nested values as JSON text); returns the row count."""
    writer = csv.DictWriter(out, fieldnames=fieldnames, extrasaction="ignore", restval="")
    writer.writeheader()
    n = 0
    for r in records:
        writer.writerow({k: _json(v) if isinstance(v, (dict, list)) else v for k, v in r.items()})
        n += 1
    return n
