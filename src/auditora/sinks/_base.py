"""The sink contract and the batch type the recorder hands to sinks."""

from __future__ import annotations

import threading
from typing import Any, Dict, Iterable, List, Optional, Sequence

from .._serialize import Part, dicts, serialize, to_jsonable_many
from ..records import Record

__all__ = ["RecordBatch", "Sink", "SinkWriteError", "jsonable", "serialized"]


class SinkWriteError(Exception):
    """Raised by a sink's ``export``/``flush``/``close`` when records were not delivered.

    ``records_lost`` says how many (of this batch, or of earlier batches a sink
    writes asynchronously); the recorder counts them under ``reason`` in
    ``auditora.stats()`` and makes ``flush()`` return False. A sink that raises
    any other exception from ``export`` loses the whole batch.
    """

    def __init__(self, message: str, records_lost: int, reason: str = "sink_error") -> None:
        super().__init__(message)
        #: Records not delivered.
        self.records_lost = records_lost
        #: The drop reason they are counted under (``sink_error``, ``unstorable``, ...).
        self.reason = reason


class RecordBatch(List[Record]):
    """A list of records that serializes each record at most once for all sinks."""

    def __init__(self, records: Iterable[Record] = ()) -> None:
        super().__init__(records)
        self._parts: Optional[List[Part]] = None
        self._dicts: Optional[List[Dict[str, Any]]] = None
        self._lock = threading.Lock()

    def parts(self) -> List[Part]:
        """The records serialized a class at a time (:func:`auditora._serialize.serialize`,
        cached): what the store writes."""
        with self._lock:
            if self._parts is None:
                self._parts = serialize(self)
            return self._parts

    def jsonable(self) -> List[Dict[str, Any]]:
        """The records as :func:`auditora._serialize.to_jsonable` dicts (cached)."""
        parts = self.parts()
        with self._lock:
            if self._dicts is None:
                self._dicts = dicts(parts, len(self))
            return self._dicts


def jsonable(batch: Sequence[Record]) -> List[Dict[str, Any]]:
    """Serialized dicts for ``batch``, shared with other sinks when it is a RecordBatch."""
    if isinstance(batch, RecordBatch):
        return batch.jsonable()
    return to_jsonable_many(batch)


def serialized(batch: Sequence[Record]) -> List[Part]:
    """``batch`` serialized a record class at a time, shared when it is a RecordBatch."""
    if isinstance(batch, RecordBatch):
        return batch.parts()
    return serialize(batch)


class Sink:
    """Base class for a destination of records. Subclass it for your own sinks.

    The recorder calls these methods from its own background thread, one call
    at a time per sink (a sink never runs concurrently with itself), so a sink
    needs no locking of its own unless users call it directly too::

        import auditora
        from auditora.sinks import Sink

        class PrintErrors(Sink):
            def export(self, batch):
                for record in batch:
                    if record.kind == "run" and record.status == "error":
                        print("failed:", record.name, record.error_message)

        auditora.configure(sinks=[PrintErrors(), "sqlite:auditora.db"])

    Records are final and must not be modified. Use
    :func:`auditora.sinks.jsonable` (or ``record.to_dict()``) to get plain data.
    A sink that raises is counted and logged once; the app is never affected.
    """

    #: The name used in ``auditora.stats()`` (defaults to the class name).
    name: str = ""

    def export(self, batch: Sequence[Record]) -> None:
        """Deliver ``batch`` (records in production order). Raise on failure."""
        raise NotImplementedError

    def flush(self, timeout: float = 5.0) -> bool:
        """Make everything exported so far durable/visible; True when done in time."""
        return True

    def close(self, timeout: float = 5.0) -> None:
        """Flush and release resources; the sink receives nothing afterwards."""
        self.flush(timeout)

    def stats(self) -> Dict[str, Any]:
        """Sink-specific counters, merged into ``auditora.stats()["sinks"][name]``."""
        return {}

    def _after_fork_in_child(self) -> None:
        """Called in a forked child before the sink is used there: drop inherited state."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
