"""The adapter between :class:`auditora.store.Store` and the views' :class:`~._model.Source`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional

from ..store._reader import MAX_PAGE

if TYPE_CHECKING:
    from ..store import Store

__all__ = ["StoreSource"]


class StoreSource:
    """Read a whole store through its public query API (no row limits).

    It implements every method of :class:`~._model.Source`; the CLI, the
    viewer's server and the HTML report all give the views one of these.
    """

    def __init__(self, store: Store) -> None:
        self.store = store

    def sessions(self) -> List[Dict[str, Any]]:
        """Every session row of the store, with its aggregates (``Store.sessions()``)."""
        return list(self.store.sessions())

    def session(self, session_id: str) -> Optional[Dict[str, Any]]:
        """One session row with its aggregates (``Store.session()``), or None."""
        return self.store.session(session_id)

    def trace_count(self, session_id: str) -> int:
        """How many traces have a run in the session."""
        return len(self.store.traces(session_id=session_id, limit=None))

    def summary(self) -> Dict[str, Any]:
        """Store-wide totals (``Store.summary()``)."""
        return self.store.summary()

    def runs(
        self, *, session_id: Optional[str] = None, trace_id: Optional[str] = None
    ) -> List[Dict[str, Any]]:
        """Runs of a session or trace (or all), oldest first."""
        return list(self.store.runs(session_id=session_id, trace_id=trace_id, limit=None))

    def run(self, run_id: str) -> Optional[Dict[str, Any]]:
        """One run or None."""
        return self.store.run(run_id)

    def records(
        self,
        kind: str,
        *,
        session_id: Optional[str] = None,
        trace_id: Optional[str] = None,
        run_id: Optional[str] = None,
    ) -> List[Dict[str, Any]]:
        """Records of one kind, oldest first, filtered by any of the ids given."""
        if kind == "metric":  # Store.metrics() takes no trace_id: filter here
            rows = self.store.metrics(session_id=session_id, run_id=run_id, limit=None)
            if trace_id is not None:
                rows = [r for r in rows if r.get("trace_id") == trace_id]
            return list(rows)
        tables: Dict[str, Callable[..., List[Dict[str, Any]]]] = {
            "event": self.store.events,
            "log": self.store.logs,
            "llm_call": self.store.llm_calls,
            "evaluation": self.store.evaluations,
            "agent_message": self.store.agent_messages,
        }
        read = tables[kind]
        return list(read(session_id=session_id, run_id=run_id, trace_id=trace_id, limit=None))

    def newest(
        self, kind: str, limit: int, *, session_id: Optional[str] = None
    ) -> List[Dict[str, Any]]:
        """The newest ``limit`` LLM calls or evaluations, oldest first (pages of
        ``Store.find_llm_calls`` / ``find_evaluations``, newest first)."""
        find: Dict[str, Callable[..., Any]] = {
            "llm_call": self.store.find_llm_calls,
            "evaluation": self.store.find_evaluations,
        }
        rows: List[Dict[str, Any]] = []
        while len(rows) < limit:
            page = find[kind](
                session_id=session_id, limit=min(MAX_PAGE, limit - len(rows)), offset=len(rows)
            )
            rows.extend(page.rows)
            if len(page.rows) < page.limit:
                break
        return rows[::-1]

    def llm_models(self, session_id: Optional[str] = None) -> List[Dict[str, Any]]:
        """``Store.llm_models()``."""
        return self.store.llm_models(session_id)

    def evaluation_metrics(self, session_id: Optional[str] = None) -> List[Dict[str, Any]]:
        """``Store.evaluation_metrics()``."""
        return self.store.evaluation_metrics(session_id)

    def metric_totals(self, session_id: Optional[str], bins: int) -> List[Dict[str, Any]]:
        """``Store.metric_totals()``."""
        return self.store.metric_totals(session_id, bins)

    def timer_stats(self, session_id: Optional[str], bins: int) -> List[Dict[str, Any]]:
        """``Store.timer_stats()``."""
        return self.store.timer_stats(session_id, bins)
