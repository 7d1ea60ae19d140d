"""The module-level ``session``, ``monitor`` and ``report`` objects.

Each proxy resolves the active frame's adat on every use, so code below a
``@sentinel`` function needs no parameters. The commonest calls have explicit
forwarding methods (one ContextVar read and one call of a method that
:mod:`auditora.typing` names); everything else goes through ``__getattr__`` so
user subclasses' own methods and attributes work.

Outside a context they raise :class:`ContextError`, except when Auditora is
disabled (``AUDITORA_DISABLED=1``), where every call is a silent no-op.
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any, ContextManager, List, Optional

from .._config import settings
from ._errors import ContextError
from ._paragon import active

__all__ = ["MonitorProxy", "ReportProxy", "SessionProxy", "monitor", "report", "session"]

_get = active


def _noop(*args: Any, **kwargs: Any) -> None:
    return None


class _Proxy:
    __slots__ = ()
    _slot = ""  # the Run attribute this proxy resolves to

    def _current(self) -> Any:
        """The adat this proxy resolves to right now (raises outside a context)."""
        run = _get()
        if run is None:
            raise ContextError(self._slot)
        return getattr(run, self._slot)

    def __getattr__(self, name: str) -> Any:
        if name[:2] == "__" == name[-2:]:
            # Tools probe dunders (copy, pickle, pytest, hasattr): answer as a
            # plain object would instead of raising ContextError at them.
            raise AttributeError(name)
        run = _get()
        if run is None:
            if settings.disabled:
                return _noop
            raise ContextError(self._slot)
        return getattr(getattr(run, self._slot), name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._current(), name, value)

    def __delattr__(self, name: str) -> None:
        delattr(self._current(), name)

    def __dir__(self) -> List[str]:
        run = _get()
        return dir(getattr(run, self._slot)) if run is not None else list(object.__dir__(self))

    def __repr__(self) -> str:
        run = _get()
        if run is None:
            return f"<auditora.{self._slot} proxy (no active context)>"
        return f"<auditora.{self._slot} proxy for {getattr(run, self._slot)!r}>"


def _outside(slot: str) -> None:
    if not settings.disabled:
        raise ContextError(slot)


class SessionProxy(_Proxy):
    """``session``: the active context's session (state, id, tags)."""

    __slots__ = ()
    _slot = "session"

    def get(self, key: str, default: Any = None) -> Any:
        run = _get()
        if run is None:
            _outside("session")
            return default
        return run.session.get(key, default)

    def set(self, key: str, value: Any) -> None:
        run = _get()
        if run is None:
            return _outside("session")
        run.session.set(key, value)

    @property
    def session_id(self) -> Optional[str]:
        run = _get()
        if run is None:
            _outside("session")
            return None
        sid: Optional[str] = run.session.session_id
        return sid


class MonitorProxy(_Proxy):
    """``monitor``: the active context's monitor (metrics, events, timers)."""

    __slots__ = ()
    _slot = "monitor"

    def increment_metric(self, name: str, value: float = 1.0) -> None:
        run = _get()
        if run is None:
            return _outside("monitor")
        run.monitor.increment_metric(name, value)

    def track(self, event: str, duration: Optional[float] = None, **metadata: Any) -> None:
        run = _get()
        if run is None:
            return _outside("monitor")
        run.monitor.track(event, duration, **metadata)

    def timer(self, name: str, **metadata: Any) -> ContextManager[Any]:
        run = _get()
        if run is None:
            _outside("monitor")
            # ``with monitor.timer(...):`` needs a context manager, not _noop's None.
            return nullcontext()
        cm: ContextManager[Any] = run.monitor.timer(name, **metadata)
        return cm


class ReportProxy(_Proxy):
    """``report``: the active context's report (logs, LLM calls, evaluations)."""

    __slots__ = ()
    _slot = "report"

    def info(self, message: str, **fields: Any) -> None:
        run = _get()
        if run is None:
            return _outside("report")
        run.report.info(message, **fields)

    def debug(self, message: str, **fields: Any) -> None:
        run = _get()
        if run is None:
            return _outside("report")
        run.report.debug(message, **fields)

    def warning(self, message: str, **fields: Any) -> None:
        run = _get()
        if run is None:
            return _outside("report")
        run.report.warning(message, **fields)

    def error(self, message: str, **fields: Any) -> None:
        run = _get()
        if run is None:
            return _outside("report")
        run.report.error(message, **fields)

    def log(self, message: str, level: Any = "INFO", **fields: Any) -> None:
        run = _get()
        if run is None:
            return _outside("report")
        run.report.log(message, level, **fields)

    def log_llm_call(self, model: str, *args: Any, **fields: Any) -> Any:
        run = _get()
        if run is None:
            return _outside("report")
        target: Any = run.report  # a method DefaultReport has, not every Report
        return target.log_llm_call(model, *args, **fields)

    def log_evaluation_result(self, metric_name: str, *args: Any, **fields: Any) -> Any:
        run = _get()
        if run is None:
            return _outside("report")
        target: Any = run.report
        return target.log_evaluation_result(metric_name, *args, **fields)


session: Any = SessionProxy()
monitor: Any = MonitorProxy()
report: Any = ReportProxy()
