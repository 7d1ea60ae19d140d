"""The adat contract: what Auditora calls on a session, a monitor and a report.

``@sentinel(session=..., monitor=..., report=...)`` and ``bifrost_sync(...)``
accept any object that has the methods of :class:`Session`, :class:`Monitor`
or :class:`Report`: a subclass of the defaults (``DefaultSession`` and its
siblings) or a class of your own that inherits nothing. These protocols name
every method and attribute that the core (the run start and end), the
``session`` / ``monitor`` / ``report`` proxies, the agents module and the LLM
call recording use; nothing else of an adat is ever touched. Anything more an
adat offers (your subclass's own methods) is reached through the proxies too.

The hooks the core calls at a run's end (``snapshot``, ``record_error``) are
called inside a guard: one that raises (or is missing) never breaks your
program; it is logged once per adat class to ``logging.getLogger("auditora")``.
The other methods are called from your own calls (``monitor.track(...)``,
``report.log_llm_call(...)``), and what they raise reaches you. The protocols
are ``runtime_checkable``: ``isinstance(obj, auditora.typing.Monitor)`` tells
whether an object has every method (not whether their signatures match).

Records that the core makes (runs, the snapshots an adat returns, LLM calls,
agent messages) are sent to the sinks by the core; an adat only decides what it
keeps.
"""

from __future__ import annotations

from typing import Any, ContextManager, Optional, Protocol, Union, runtime_checkable

from .records import Record, Run

__all__ = ["Monitor", "Report", "Session"]


@runtime_checkable
class Session(Protocol):
    """Key/value state shared by the runs of one sentinel or block, with an id."""

    @property
    def session_id(self) -> Optional[str]:
        """The id every run (and record) of this session carries; read at each run start."""

    def get(self, key: str, default: Any = None) -> Any:
        """``session.get(key, default)``: the value stored under ``key``, or ``default``."""

    def set(self, key: str, value: Any) -> None:
        """``session.set(key, value)``: store ``value`` under ``key``."""

    def snapshot(self, run: Run) -> Optional[Record]:
        """Called at the end of each of the session's runs while records are being kept.

        Return a record to send to the sinks (``DefaultSession`` returns a
        :class:`~auditora.records.SessionRecord` when its state changed since the
        last one), or None. Called often: make the no-change case cheap.
        """


@runtime_checkable
class Monitor(Protocol):
    """Metrics, events and timers."""

    def increment_metric(self, name: str, value: float = 1.0) -> None:
        """``monitor.increment_metric(name, value)``; also used by the LLM roll-ups
        (``llm.*``) and the agent message counters (``agents.*``)."""

    def track(self, event: str, duration: Optional[float] = None, **metadata: Any) -> None:
        """``monitor.track(event, duration, **metadata)``: something happened."""

    def timer(self, name: str, **metadata: Any) -> ContextManager[Any]:
        """``with monitor.timer(name):``: a context manager that times its block."""

    def snapshot(self, run: Run) -> Optional[Record]:
        """Called at the end of each run using this monitor while records are being kept.

        Return a record to send to the sinks (``DefaultMonitor`` returns a
        :class:`~auditora.records.MetricSnapshot` when a metric changed since the
        last one), or None. Called often: make the no-change case cheap.
        """


@runtime_checkable
class Report(Protocol):
    """Structured logs, plus the records the core makes on the report's behalf."""

    def log(self, message: str, level: Union[str, int] = "INFO", **fields: Any) -> None:
        """``report.log(message, level, **fields)``."""

    def debug(self, message: str, **fields: Any) -> None:
        """``report.debug(message, **fields)``."""

    def info(self, message: str, **fields: Any) -> None:
        """``report.info(message, **fields)``."""

    def warning(self, message: str, **fields: Any) -> None:
        """``report.warning(message, **fields)``."""

    def error(self, message: str, **fields: Any) -> None:
        """``report.error(message, **fields)``."""

    def keep(self, record: Record) -> None:
        """Take a record the core made in one of this report's runs.

        LLM calls (``auditora.llm``, the OpenAI / Anthropic integrations) and
        agent messages (``auditora.agents``) are built by the core, sent to the
        sinks, then handed here; the report keeps them (``DefaultReport`` keeps and
        echoes those at or above its level) or ignores them.
        """

    def record_error(self, run: Run, exc: BaseException) -> None:
        """Called once when an exception ends ``run`` with status ``error``.

        Only the innermost run the exception crosses calls it; ``run`` is already
        final (``run.error_type``, ``run.error_message`` are set). ``DefaultReport``
        writes one ERROR log line. The exception propagates afterwards regardless.
        """
