"""Bifrost: context managers that push a frame (a run) and always pop it."""

from __future__ import annotations

from contextvars import Token
from types import TracebackType
from typing import Any, List, Optional, Tuple, Type

from .._config import settings
from ..records import Run
from ._capture import check_run_type
from ._paragon import Paragon, active
from ._runs import end_run, start_run

__all__ = ["bifrost_async", "bifrost_sync", "check_adat_arguments", "resolve_adats"]


def resolve_adats(
    session: Any, monitor: Any, report: Any, session_id: Optional[str]
) -> Tuple[Any, Any, Any]:
    """Fill in missing adats with defaults (``session_id`` names a new session)."""
    from ..adats.monitor import DefaultMonitor
    from ..adats.report import DefaultReport
    from ..adats.session import DefaultSession

    check_adat_arguments(session, session_id)
    if session is None:
        session = DefaultSession(session_id=session_id)
    if monitor is None:
        monitor = DefaultMonitor()
    if report is None:
        report = DefaultReport()
    return session, monitor, report


def check_adat_arguments(session: Any, session_id: Optional[str]) -> None:
    """Reject a ``session``/``session_id`` pair :func:`resolve_adats` cannot use."""
    if session is not None and session_id is not None:
        raise ValueError("pass either session= or session_id=, not both")
    if session_id is not None and not isinstance(session_id, str):
        raise TypeError(f"session_id must be a str, not {type(session_id).__name__}")


class bifrost_sync:
    """Run a ``with`` block as a run in an Auditora context.

    With no adats (and no ``session_id``) the block joins the enclosing
    context's session, monitor and report as a child run; outside any context it
    gets fresh defaults. Giving any of them starts a new context: the ones not
    given are fresh defaults. ``as`` binds the :class:`~auditora.records.Run`.
    ``kind`` sets its run type, as ``@sentinel(kind=...)`` does.

    One instance may be entered again while it is active (each entry is its own
    run); the previous context is restored on every exit, even on error.

    Constructed while Auditora is disabled (``AUDITORA_DISABLED=1``), the block
    is transparent: no adats are built, no run is started or recorded, ``as``
    binds the run already active (None outside any context), and the proxies
    inside act as they do inside a disabled ``@sentinel`` call.
    """

    def __init__(
        self,
        session: Any = None,
        monitor: Any = None,
        report: Any = None,
        *,
        session_id: Optional[str] = None,
        name: str = "bifrost",
        agent: Optional[str] = None,
        kind: Optional[str] = None,
    ) -> None:
        if not isinstance(name, str):
            raise TypeError(f"name must be a str, not {type(name).__name__}")
        self.run_type = check_run_type(kind, agent)
        # Read once, here, as @sentinel reads it at decoration: an instance
        # keeps one mode for all its entries, so each exit undoes its entry.
        self._disabled: bool = settings.disabled
        self._explicit = (session, monitor, report, session_id) != (None, None, None, None)
        self._adats: Optional[Tuple[Any, Any, Any]] = None
        if self._explicit:
            if self._disabled:
                check_adat_arguments(session, session_id)  # wrong code fails either way
            else:
                self._adats = resolve_adats(session, monitor, report, session_id)
        self.name = name
        self.agent = agent
        self._stack: List[Tuple[Run, Token[Optional[Run]]]] = []

    def _push(self, run_kind: str) -> Run:
        adats = self._adats
        if adats is None:
            current = active()
            if current is not None:
                adats = (current.session, current.monitor, current.report)
            else:
                adats = resolve_adats(None, None, None, None)
        run = start_run(
            adats[0], adats[1], adats[2], self.name, run_kind, self.agent, self.run_type
        )
        self._stack.append((run, Paragon.set(run)))
        return run

    def _pop(self, exc: Optional[BaseException]) -> None:
        run, token = self._stack.pop()
        Paragon.reset(token)
        end_run(run, exc)

    def __enter__(self) -> Optional[Run]:
        if self._disabled:
            return active()  # what current_run() says inside a disabled @sentinel
        return self._push("block")

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        if not self._disabled:
            self._pop(exc)


class bifrost_async(bifrost_sync):
    """The ``async with`` form of :class:`bifrost_sync` (same arguments).

    The frame belongs to the task that enters the block; other tasks never see
    it, and tasks created inside the block inherit it (``asyncio`` copies the
    context when a task is created).
    """

    async def __aenter__(self) -> Optional[Run]:
        if self._disabled:
            return active()
        return self._push("block")

    async def __aexit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        if not self._disabled:
            self._pop(exc)
