"""A sink that keeps records in a list, for tests and interactive use."""

from __future__ import annotations

import threading
from collections import deque
from typing import Deque, List, Optional, Sequence

from ..records import Record
from ._base import Sink

__all__ = ["MemorySink"]


class MemorySink(Sink):
    """Keeps the records it receives, oldest first, in memory.

    ``max_records`` bounds memory: beyond it the oldest are discarded (and
    counted in :attr:`discarded`). Thread-safe: it may also be fed directly
    (``sink.export([record])``) as ``auditora.testing.capture()`` does.
    """

    name = "memory"

    def __init__(self, max_records: Optional[int] = None) -> None:
        self._records: Deque[Record] = deque(maxlen=max_records)
        self._lock = threading.Lock()
        #: Records discarded because ``max_records`` was reached.
        self.discarded = 0

    def export(self, batch: Sequence[Record]) -> None:
        """Append the batch."""
        with self._lock:
            limit = self._records.maxlen
            if limit is not None:
                over = len(self._records) + len(batch) - limit
                if over > 0:
                    self.discarded += over
            self._records.extend(batch)

    @property
    def records(self) -> List[Record]:
        """A copy of the records kept, oldest first."""
        with self._lock:
            return list(self._records)

    def clear(self) -> None:
        """Forget every record."""
        with self._lock:
            self._records.clear()

    def _after_fork_in_child(self) -> None:
        # The parent's records are the parent's: the child starts empty.
        self._lock = threading.Lock()
        self._records = deque(maxlen=self._records.maxlen)

    def __len__(self) -> int:
        return len(self._records)
