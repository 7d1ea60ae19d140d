"""The adapter between :class:`auditora.store.Store` and the views' :class:`~._model.Source`."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

__all__ = ["StoreSource"]

_METHODS = {
    "event": "events",
    "log": "logs",
    "llm_call": "llm_calls",
    "evaluation": "evaluations",
    "agent_message": "agent_messages",
}


class StoreSource:
    """Read a whole store through its public query API (no row limits)."""

    def __init__(self, store: Any) -> None:
        self.store = store

    def sessions(self) -> List[Dict[str, Any]]:
        """Every session row of the store."""
        return list(self.store.sessions())

    def session(self, session_id: str) -> Optional[Dict[str, Any]]:
        """One session row with its aggregates, or None."""
        row: Optional[Dict[str, Any]] = self.store.session(session_id)
        return row

    def trace_count(self, session_id: str) -> int:
        """How many traces have a run in the session."""
        return len(self.store.traces(session_id=session_id, limit=None))

    def summary(self) -> Dict[str, Any]:
        """Store-wide totals (``Store.summary()``)."""
        totals: Dict[str, Any] = self.store.summary()
        return totals

    def runs(
        self, *, session_id: Optional[str] = None, trace_id: Optional[str] = None
    ) -> List[Dict[str, Any]]:
        """Runs of a session or trace (or all), oldest first."""
        return list(self.store.runs(session_id=session_id, trace_id=trace_id, limit=None))

    def run(self, run_id: str) -> Optional[Dict[str, Any]]:
        """One run or None."""
        run: Optional[Dict[str, Any]] = self.store.run(run_id)
        return run

    def records(
        self,
        kind: str,
        *,
        session_id: Optional[str] = None,
        trace_id: Optional[str] = None,
        run_id: Optional[str] = None,
    ) -> List[Dict[str, Any]]:
        """Records of one kind, oldest first, filtered by any of the ids given."""
        if kind == "metric":
            rows = self.store.metrics(session_id=session_id, run_id=run_id, limit=None)
            if trace_id is not None:
                rows = [r for r in rows if r.get("trace_id") == trace_id]
            return list(rows)
        method = getattr(self.store, _METHODS[kind])
        return list(method(session_id=session_id, run_id=run_id, trace_id=trace_id, limit=None))
