"""The session adat: key/value state, an id, a name and tags."""

from __future__ import annotations

import threading
from time import time_ns
from typing import Any, Dict, List, Optional

from .._ids import new_session_id
from ..records import Run, SessionRecord

__all__ = ["DefaultSession"]


class DefaultSession:
    """Key/value state shared by every run of a sentinel (or a bifrost block).

    ``session_id`` defaults to a UUIDv7 string (time-ordered, 74 random bits). All methods are
    thread-safe. Subclass it to add your own state (call ``super().__init__``). It
    implements :class:`auditora.typing.Session`.
    """

    def __init__(self, session_id: Optional[str] = None, name: Optional[str] = None) -> None:
        if session_id is not None and not isinstance(session_id, str):
            raise TypeError(f"session_id must be a str, not {type(session_id).__name__}")
        if name is not None and not isinstance(name, str):
            raise TypeError(f"name must be a str, not {type(name).__name__}")
        self.session_id: str = session_id if session_id is not None else new_session_id()
        self.name = name
        self.created_ns = time_ns()
        self._state: Dict[str, Any] = {}
        self._tags: List[str] = []
        self._lock = threading.Lock()
        self._version = 0
        self._snapshot_version = -1  # never sent: the first run end sends one

    def get(self, key: str, default: Any = None) -> Any:
        """The value stored under ``key``, or ``default``."""
        return self._state.get(key, default)

    def set(self, key: str, value: Any) -> None:
        """Store ``value`` under ``key``."""
        with self._lock:
            self._state[key] = value
            self._version += 1

    def delete(self, key: str) -> None:
        """Remove ``key`` (no error when absent)."""
        with self._lock:
            if self._state.pop(key, _MISSING) is not _MISSING:
                self._version += 1

    def update(self, values: Dict[str, Any]) -> None:
        """Store every item of ``values``."""
        with self._lock:
            self._state.update(values)
            self._version += 1

    def add_tag(self, tag: str) -> None:
        """Attach a tag to the session (duplicates are ignored)."""
        if not isinstance(tag, str):
            raise TypeError(f"tag must be a str, not {type(tag).__name__}")
        with self._lock:
            if tag not in self._tags:
                self._tags.append(tag)
                self._version += 1

    def get_tags(self) -> List[str]:
        """The session's tags, in the order they were added."""
        with self._lock:
            return list(self._tags)

    def get_state(self) -> Dict[str, Any]:
        """A shallow copy of the key/value state."""
        with self._lock:
            return dict(self._state)

    def get_state_snapshot(self) -> Dict[str, Any]:
        """Id, name, tags and a shallow copy of the state, as one dict."""
        with self._lock:
            return {
                "session_id": self.session_id,
                "name": self.name,
                "tags": list(self._tags),
                "state": dict(self._state),
                "created_ns": self.created_ns,
            }

    def snapshot(self, run: Run) -> Optional[SessionRecord]:
        """A session record when anything changed since the last one (or none was
        sent yet), else None (called by the core at each run's end while records are kept)."""
        # Unlocked first look, as in DefaultMonitor.snapshot.
        if self._snapshot_version == self._version:
            return None
        with self._lock:
            if self._snapshot_version == self._version:
                return None
            self._snapshot_version = self._version
            return SessionRecord(
                self.session_id, self.name, list(self._tags), dict(self._state), time_ns()
            )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(session_id={self.session_id!r})"


_MISSING = object()
