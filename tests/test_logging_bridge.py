"""The logging bridge: stdlib records into reports, ids onto LogRecords, LoggerReport."""

from __future__ import annotations

import io
import logging
from typing import Any, Dict, Iterator, List

import pytest

from auditora import bifrost_sync, report, sentinel
from auditora.logging_bridge import (
    AuditoraFilter,
    AuditoraHandler,
    LoggerReport,
    add_auditora_ids,
    route_to_report,
)
from auditora.testing import capture


class ListHandler(logging.Handler):
    """Keeps the records it sees."""

    def __init__(self) -> None:
        super().__init__()
        self.records: List[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def app_logger() -> Iterator[logging.Logger]:
    logger = logging.getLogger("test_logging_bridge.app")
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    for flt in list(logger.filters):
        logger.removeFilter(flt)


def test_handler_routes_records_inside_a_context_into_the_report(
    app_logger: logging.Logger,
) -> None:
    """A stdlib log line inside a bifrost block becomes a Log record of that run."""
    app_logger.addHandler(AuditoraHandler())
    with capture() as records, bifrost_sync(session_id="log-s") as run:
        app_logger.warning("disk at %d%%", 91, extra={"volume": "/data"})
    (log,) = records.logs
    assert (log.level, log.message, log.fields) == (
        "WARNING",
        "disk at 91%",
        {"logger": "test_logging_bridge.app", "volume": "/data"},
    )
    assert (log.run_id, log.trace_id, log.session_id) == (run.run_id, run.trace_id, "log-s")
    assert run.report.get_records()[-1] is log


def test_handler_ignores_records_outside_any_context(app_logger: logging.Logger) -> None:
    """Without an active run nothing is recorded."""
    app_logger.addHandler(AuditoraHandler())
    with capture() as records:
        app_logger.error("outside")
    assert records.logs == []


def test_handler_records_exceptions_as_fields(app_logger: logging.Logger) -> None:
    """logger.exception adds error_type, error_message and the traceback."""
    app_logger.addHandler(AuditoraHandler())
    with capture() as records, bifrost_sync():
        try:
            raise KeyError("k")
        except KeyError:
            app_logger.exception("lookup failed")
    fields = records.logs[0].fields
    assert (fields["error_type"], fields["error_message"], "KeyError" in fields["traceback"]) == (
        "KeyError",
        "'k'",
        True,
    )


def test_handler_is_quiet_by_default_and_echoes_on_request(app_logger: logging.Logger) -> None:
    """echo=False keeps the report's console line out; echo=True lets the report print it."""
    stream = io.StringIO()

    @sentinel(report=__import__("auditora").DefaultReport(output_stream=stream))
    def work() -> None:
        app_logger.info("hello")

    quiet = AuditoraHandler()
    app_logger.addHandler(quiet)
    work()
    printed_quiet = stream.getvalue()
    app_logger.removeHandler(quiet)
    app_logger.addHandler(AuditoraHandler(echo=True))
    work()
    assert (printed_quiet, "hello" in stream.getvalue()) == ("", True)


def test_handler_respects_the_report_level(app_logger: logging.Logger) -> None:
    """Records below the report's log_level are not kept."""
    app_logger.addHandler(AuditoraHandler())
    with capture() as records, bifrost_sync():
        app_logger.debug("too chatty")
    assert records.logs == []


def test_auditoras_own_logger_is_never_routed_back() -> None:
    """Records of the 'auditora' logger are skipped, so errors cannot loop."""
    handler = AuditoraHandler()
    own = logging.getLogger("auditora")
    own.addHandler(handler)
    try:
        with capture() as records, bifrost_sync():
            own.warning("internal")
    finally:
        own.removeHandler(handler)
    assert records.logs == []


def test_filter_adds_ids_inside_and_defaults_outside(app_logger: logging.Logger) -> None:
    """AuditoraFilter stamps run, trace and session ids on every LogRecord."""
    seen = ListHandler()
    seen.addFilter(AuditoraFilter())
    app_logger.addHandler(seen)
    app_logger.info("before")
    with bifrost_sync(session_id="f-s") as run:
        app_logger.info("inside")
    got = [
        (r.auditora_run_id, r.auditora_trace_id, r.auditora_session_id)  # type: ignore[attr-defined]
        for r in seen.records
    ]
    assert got == [("-", "-", "-"), (run.run_id, run.trace_id, "f-s")]


def test_logger_report_forwards_report_lines_to_a_logger(app_logger: logging.Logger) -> None:
    """LoggerReport writes each kept record to the logger with ids as extra attributes."""
    seen = ListHandler()
    app_logger.addHandler(seen)

    @sentinel(session_id="lr", report=LoggerReport(app_logger))
    def work() -> None:
        report.warning("low score", score=0.2)

    work()
    (record,) = seen.records
    assert (record.levelno, record.getMessage(), record.auditora_session_id) == (  # type: ignore[attr-defined]
        logging.WARNING,
        "low score score=0.2",
        "lr",
    )
    assert record.auditora_fields == {"score": 0.2}  # type: ignore[attr-defined]


def test_logger_report_and_handler_together_do_not_loop(app_logger: logging.Logger) -> None:
    """A LoggerReport logging to a logger that has an AuditoraHandler records once."""
    app_logger.addHandler(AuditoraHandler())

    @sentinel(report=LoggerReport(app_logger))
    def work() -> None:
        report.info("once")

    with capture() as records:
        work()
    assert [r.message for r in records.logs] == ["once"]


def test_structlog_processors_add_ids_and_route_events() -> None:
    """add_auditora_ids stamps ids; route_to_report records the event quietly."""
    with capture() as records, bifrost_sync(session_id="sl") as run:
        event: Dict[str, Any] = {"event": "fetched", "rows": 3}
        event = dict(add_auditora_ids(None, "info", event))
        route_to_report(None, "warning", {"event": "slow", "ms": 900})
    assert event == {
        "event": "fetched",
        "rows": 3,
        "run_id": run.run_id,
        "trace_id": run.trace_id,
        "session_id": "sl",
    }
    assert [(r.level, r.message, r.fields) for r in records.logs] == [
        ("WARNING", "slow", {"ms": 900})
    ]


def test_structlog_pipeline_with_the_real_library() -> None:
    """The processors work inside a real structlog configuration."""
    structlog = pytest.importorskip("structlog")
    out: List[Dict[str, Any]] = []

    def keep(logger: Any, method_name: str, event_dict: Any) -> str:
        out.append(dict(event_dict))
        return ""

    log = structlog.wrap_logger(
        structlog.PrintLogger(io.StringIO()),
        processors=[add_auditora_ids, route_to_report, keep],
    )
    with capture() as records, bifrost_sync(session_id="real") as run:
        log.info("hello", n=1)
    assert (out[0]["trace_id"], records.logs[0].message) == (run.trace_id, "hello")
