"""Sinks: where records go once they leave the hot path.

Built in: :class:`MemorySink`, :class:`ConsoleSink`, :class:`JSONLSink` and
:class:`SQLiteSink` (the embedded store). Write your own by subclassing
:class:`Sink` (``export``, ``flush``, ``close``); see ``docs/sinks.md``.

Sinks are named (``memory``, ``console``, ``jsonl:PATH``, ``sqlite:PATH``,
``otel``) in ``auditora.configure(sinks=[...])`` and ``AUDITORA_SINKS``; the
names are resolved by ``configure`` (:mod:`auditora._configure`), since
``otel`` names an integration, a layer above the sinks.
"""

from __future__ import annotations

import os
from typing import Union

from ..store._url import parse_store
from ._base import RecordBatch, Sink, SinkWriteError, jsonable
from .console import ConsoleSink
from .jsonl import JSONLSink
from .memory import MemorySink
from .sqlite import SQLiteSink

__all__ = [
    "ConsoleSink",
    "JSONLSink",
    "MemorySink",
    "RecordBatch",
    "SQLiteSink",
    "Sink",
    "SinkWriteError",
    "jsonable",
    "store_sink",
]


def store_sink(store: Union[str, os.PathLike[str]]) -> Sink:
    """The sink of a store: a path or ``sqlite:`` URL, or a ``postgresql://`` URL
    (``docs/store.md``); :class:`~auditora.store.StoreError` for an unknown scheme."""
    parsed = parse_store(store)
    if parsed.backend == "postgresql":
        from .postgres import PostgresSink  # lazy: it is of use with psycopg only

        return PostgresSink(parsed.target)
    return SQLiteSink(parsed.target)
