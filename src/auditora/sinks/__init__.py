"""Sinks: where records go once they leave the hot path.

Built in: :class:`MemorySink`, :class:`ConsoleSink`, :class:`JSONLSink` and
:class:`SQLiteSink` (the embedded store). Write your own by subclassing
:class:`Sink` (``export``, ``flush``, ``close``); see ``docs/sinks.md``.
"""

from __future__ import annotations

from typing import Union

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
    "sink_from_spec",
]


def sink_from_spec(spec: Union[str, Sink]) -> Sink:
    """A sink from a name: ``memory``, ``console``, ``jsonl:PATH``, ``sqlite:PATH`` or ``otel``.

    ``otel`` builds an :class:`~auditora.integrations.otel.OTelSink` configured by the
    standard ``OTEL_EXPORTER_OTLP_*`` variables (needs ``pip install 'auditora[otel]'``).

    A :class:`Sink` instance is returned unchanged. Raises ``ValueError`` for an
    unknown name or a missing path.
    """
    if isinstance(spec, Sink):
        return spec
    if not isinstance(spec, str):
        raise TypeError(f"a sink must be a Sink or a name, not {type(spec).__name__}")
    name, _, arg = spec.strip().partition(":")
    name = name.strip().lower()
    arg = arg.strip()
    if name == "memory" and not arg:
        return MemorySink()
    if name == "console" and not arg:
        return ConsoleSink()
    if name in ("jsonl", "sqlite"):
        if not arg:
            raise ValueError(f"sink {spec!r} needs a path, e.g. '{name}:records.{name}'")
        return JSONLSink(arg) if name == "jsonl" else SQLiteSink(arg)
    if name == "otel" and not arg:
        from ..integrations.otel import OTelSink  # lazy: the SDK is an optional extra

        return OTelSink()
    raise ValueError(
        f"unknown sink {spec!r}; expected memory, console, jsonl:PATH, sqlite:PATH or otel"
    )
