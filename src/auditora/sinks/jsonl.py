"""A sink appending one JSON object per line to a file, with optional rotation."""

from __future__ import annotations

import os
from typing import IO, Optional, Sequence, Union

from .._serialize import _encode
from ..records import Record
from ._base import Sink, jsonable

__all__ = ["JSONLSink"]


class JSONLSink(Sink):
    """Appends records to ``path`` as JSON Lines (the schema of ``docs/records.md``).

    The file is opened lazily (on the first batch, in the recorder's thread) in
    append mode, and each batch is written with one ``write`` and flushed, so
    several processes may append to the same file and a killed process loses
    at most the batch being written. With ``max_bytes``, a file that reached
    that size is renamed ``path.1`` (older ones ``path.2`` … up to
    ``backup_count``) before the next batch.
    """

    name = "jsonl"

    def __init__(
        self,
        path: Union[str, os.PathLike[str]],
        *,
        max_bytes: Optional[int] = None,
        backup_count: int = 3,
        fsync: bool = False,
    ) -> None:
        self.path = os.fspath(path)
        self.max_bytes = max_bytes
        self.backup_count = max(1, backup_count)
        self.fsync = fsync
        self._file: Optional[IO[str]] = None
        self._pid = os.getpid()

    def _open(self) -> IO[str]:
        if self._file is None or self._pid != os.getpid():
            self._pid = os.getpid()
            parent = os.path.dirname(os.path.abspath(self.path))
            os.makedirs(parent, exist_ok=True)
            self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115
        return self._file

    def _rotate(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        for i in range(self.backup_count - 1, 0, -1):
            older = f"{self.path}.{i}"
            if os.path.exists(older):
                os.replace(older, f"{self.path}.{i + 1}")
        os.replace(self.path, f"{self.path}.1")

    def export(self, batch: Sequence[Record]) -> None:
        """Append the batch as JSON lines and flush it to the operating system."""
        if not batch:
            return
        text = "".join(_encode(d) + "\n" for d in jsonable(batch))
        if self.max_bytes is not None:
            try:
                if os.path.getsize(self.path) >= self.max_bytes:
                    self._rotate()
            except FileNotFoundError:
                pass
        f = self._open()
        f.write(text)
        f.flush()
        if self.fsync:
            os.fsync(f.fileno())

    def flush(self, timeout: float = 5.0) -> bool:
        """Flush and fsync the file."""
        f = self._file
        if f is None or self._pid != os.getpid():
            return True
        try:
            f.flush()
            os.fsync(f.fileno())
        except OSError:
            return False
        return True

    def close(self, timeout: float = 5.0) -> None:
        """Flush and close the file."""
        self.flush(timeout)
        if self._file is not None and self._pid == os.getpid():
            try:
                self._file.close()
            finally:
                self._file = None

    def _after_fork_in_child(self) -> None:
        # Every batch is flushed after writing, so the inherited buffer is empty;
        # drop the handle without touching it and reopen on first use.
        self._file = None
        self._pid = os.getpid()

    def __repr__(self) -> str:
        return f"JSONLSink({self.path!r})"
