"""Bridges between Auditora and the standard library's :mod:`logging` (and structlog).

Four pieces, each optional:

* :class:`AuditoraHandler` -- a ``logging.Handler`` that routes log records
  emitted *inside* an Auditora context (a sentinel call or bifrost block) into
  that context's report, as :class:`~auditora.records.Log` records carrying the
  run, trace and session ids. Records emitted outside any context are ignored.
* :class:`AuditoraFilter` -- a ``logging.Filter`` that adds
  ``auditora_run_id``, ``auditora_trace_id`` and ``auditora_session_id`` to
  every ``LogRecord``, for users who keep their own handlers and formatters.
* :func:`add_auditora_ids` and :func:`route_to_report` -- structlog processors
  (plain functions; structlog itself is not imported).
* :class:`LoggerReport` -- a report that writes its lines to a
  ``logging.Logger`` instead of a stream.

Loops are prevented: Auditora's own loggers (``auditora`` and below) are never
routed back into a report, and a record the bridge is itself forwarding is not
picked up again by a handler on the same path.
"""

from __future__ import annotations

import contextvars
import logging
import traceback
from time import time_ns
from typing import IO, Any, Dict, MutableMapping, Optional, Union

from . import _emit
from .adats.report import LEVELS, DefaultReport
from .core._paragon import active
from .records import Log

__all__ = [
    "AuditoraFilter",
    "AuditoraHandler",
    "LoggerReport",
    "add_auditora_ids",
    "route_to_report",
]

# Set while the bridge itself is writing, so its own output is not re-routed.
_forwarding: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "auditora_logging_forwarding", default=False
)

# Attributes every LogRecord has; anything else came from ``extra=``.
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "taskName",
    "auditora_run_id",
    "auditora_trace_id",
    "auditora_session_id",
}


def _own(name: str) -> bool:
    return name == "auditora" or name.startswith("auditora.")


def _level_name(levelno: int) -> str:
    for name, number in LEVELS.items():
        if number == levelno:
            return name
    return f"LEVEL{levelno}"


class AuditoraHandler(logging.Handler):
    """Route standard-library log records into the current Auditora report.

    Attach it to the loggers whose output belongs in your reports (often the
    root logger)::

        logging.getLogger().addHandler(AuditoraHandler())

    Inside a sentinel call or bifrost block each record becomes a ``Log`` in
    that context's report, at the record's level (the report's own
    ``log_level`` still applies), with the message as formatted by
    ``record.getMessage()`` and as fields: ``logger``, any ``extra=`` values,
    and ``error_type``/``error_message``/``traceback`` when the record carries
    an exception. Outside any context the handler does nothing.

    ``echo=False`` (the default) keeps the record in the report and sends it to
    the sinks without also printing the report's console line -- your own
    logging handlers print it already. ``echo=True`` lets the report print it.
    """

    def __init__(self, level: Union[int, str] = logging.NOTSET, *, echo: bool = False) -> None:
        super().__init__(level)
        self.echo = echo

    def emit(self, record: logging.LogRecord) -> None:
        """Add ``record`` to the active run's report (no-op outside a context)."""
        if _forwarding.get() or _own(record.name):
            return
        run = active()
        if run is None:
            return
        report = getattr(run, "report", None)
        if report is None or record.levelno < getattr(report, "levelno", 0):
            return
        token = _forwarding.set(True)
        # This handler's lock is held: a full queue must drop, not wait.
        no_wait = _emit.no_wait.set(True)
        try:
            fields = _fields(record)
            message = record.getMessage()
            if self.echo or not isinstance(report, DefaultReport):
                report.log(message, level=record.levelno, **fields)
            else:
                _keep_quietly(report, record.levelno, message, fields, run)
        except Exception:
            self.handleError(record)
        finally:
            _emit.no_wait.reset(no_wait)
            _forwarding.reset(token)


def _fields(record: logging.LogRecord) -> Dict[str, Any]:
    fields: Dict[str, Any] = {"logger": record.name}
    for key, value in record.__dict__.items():
        if key not in _STANDARD and not key.startswith("_"):
            fields[key] = value
    if record.exc_info and record.exc_info[1] is not None:
        exc = record.exc_info[1]
        fields.setdefault("error_type", type(exc).__qualname__)
        fields.setdefault("error_message", str(exc))
        lines = traceback.format_exception(type(exc), exc, exc.__traceback__)
        fields.setdefault("traceback", "".join(lines))
    return fields


def _keep_quietly(
    report: DefaultReport, levelno: int, message: str, fields: Dict[str, Any], run: Any
) -> None:
    """What ``report.log`` does, minus the console line."""
    record = Log(
        _level_name(levelno),
        message,
        fields,
        time_ns(),
        run.run_id,
        run.trace_id,
        run.session_id,
    )
    with report._lock:
        report._records.append(record)
        report._total += 1
    if _emit.targets:
        _emit.emit(record)


class AuditoraFilter(logging.Filter):
    """Add the active run's ids to every ``LogRecord`` (never filters anything out).

    Sets ``auditora_run_id``, ``auditora_trace_id`` and ``auditora_session_id``
    (``default``, ``"-"`` unless given, outside any context) so formats can use
    them::

        handler.addFilter(AuditoraFilter())
        handler.setFormatter(logging.Formatter(
            "%(levelname)s [%(auditora_session_id)s %(auditora_trace_id)s] %(message)s"))

    Add it to a *handler* to cover records from every logger that reaches it
    (filters on a logger only see records logged on that exact logger).
    """

    def __init__(self, name: str = "", *, default: str = "-") -> None:
        super().__init__(name)
        self.default = default

    def filter(self, record: logging.LogRecord) -> bool:
        """Annotate ``record``; always True."""
        run = active()
        if run is None:
            record.auditora_run_id = self.default
            record.auditora_trace_id = self.default
            record.auditora_session_id = self.default
        else:
            record.auditora_run_id = run.run_id
            record.auditora_trace_id = run.trace_id
            record.auditora_session_id = run.session_id or self.default
        return True


# -- structlog ------------------------------------------------------------------


def add_auditora_ids(
    logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: add ``run_id``, ``trace_id`` and ``session_id`` inside a context.

    Keys already in the event are left alone; outside any context nothing is
    added::

        structlog.configure(processors=[add_auditora_ids, structlog.processors.JSONRenderer()])
    """
    run = active()
    if run is not None:
        event_dict.setdefault("run_id", run.run_id)
        event_dict.setdefault("trace_id", run.trace_id)
        if run.session_id is not None:
            event_dict.setdefault("session_id", run.session_id)
    return event_dict


_NOT_FIELDS = frozenset({"event", "level", "run_id", "trace_id", "session_id"})
_STRUCTLOG_LEVELS = {"warn": 30, "exception": 40, "fatal": 50, "msg": 20}


def route_to_report(
    logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: also record the event in the current report (quietly).

    The ``event`` key is the message and the other keys are the fields; the
    level comes from the method name (``log.warning(...)`` -> WARNING). Returns
    the event unchanged so the chain continues. Outside a context it only
    passes the event on.
    """
    run = active()
    if run is None or _forwarding.get():
        return event_dict
    report = getattr(run, "report", None)
    if report is None:
        return event_dict
    name = str(event_dict.get("level", method_name)).upper()
    levelno = LEVELS.get(name) or _STRUCTLOG_LEVELS.get(method_name, 20)
    if levelno < getattr(report, "levelno", 0):
        return event_dict
    # The ids are the Log record's own; add_auditora_ids may have copied them in.
    fields = {k: v for k, v in event_dict.items() if k not in _NOT_FIELDS}
    message = str(event_dict.get("event", ""))
    token = _forwarding.set(True)
    try:
        if isinstance(report, DefaultReport):
            _keep_quietly(report, levelno, message, fields, run)
        else:
            report.log(message, level=levelno, **fields)
    finally:
        _forwarding.reset(token)
    return event_dict


# -- a report that writes to logging ------------------------------------------------


class LoggerReport(DefaultReport):
    """A report whose lines go to a ``logging.Logger`` instead of a stream.

    ``logger`` is a logger or a logger name (default ``"auditora.report"``).
    Each kept record is logged once at its level, with the message and the
    record's fields as ``key=value`` pairs, and with ``extra`` attributes
    ``auditora_run_id``, ``auditora_trace_id``, ``auditora_session_id``,
    ``auditora_kind`` and ``auditora_fields`` for structured handlers. As with
    :class:`DefaultReport`, ``echo=False`` or ``auditora.configure(console=False)``
    turns the forwarding off (records are still kept and sent to sinks)::

        @sentinel(report=LoggerReport("myapp.audit"))
        def evaluate(...): ...
    """

    def __init__(
        self,
        logger: Union[str, logging.Logger, None] = None,
        log_level: Union[str, int] = "INFO",
        *,
        echo: bool = True,
        max_records: int = 10_000,
        output_stream: Optional[IO[str]] = None,
    ) -> None:
        super().__init__(output_stream, log_level, echo=echo, max_records=max_records)
        if logger is None or isinstance(logger, str):
            logger = logging.getLogger(logger or "auditora.report")
        self.logger = logger

    def _write(self, record: Any) -> None:
        level = record.level
        levelno = LEVELS.get(level)
        if levelno is None:
            digits = level[5:] if level.startswith("LEVEL") else ""
            levelno = int(digits) if digits.isdigit() else logging.INFO
        if not self.logger.isEnabledFor(levelno):
            return
        fields = record.fields if record.kind == "log" else {}
        message = record.message
        if fields:
            message += "".join(f" {k}={v!r}" for k, v in fields.items())
        extra = {
            "auditora_run_id": record.run_id,
            "auditora_trace_id": record.trace_id,
            "auditora_session_id": record.session_id,
            "auditora_kind": record.kind,
            "auditora_fields": record.fields,
        }
        token = _forwarding.set(True)
        try:
            self.logger.log(levelno, message, extra=extra)
        except Exception:  # a broken handler must not break the host
            pass
        finally:
            _forwarding.reset(token)
