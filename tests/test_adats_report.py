"""DefaultReport: levels, stream output, kept records, LLM calls, evaluations."""

from __future__ import annotations

import io

import pytest

import auditora
from auditora import DefaultReport, bifrost_sync, report


def test_levels_filter_records_and_lines() -> None:
    """Records below log_level are discarded; the rest are kept and written."""
    stream = io.StringIO()
    r = DefaultReport(output_stream=stream, log_level="WARNING")
    r.debug("d")
    r.info("i")
    r.warning("w", code=3)
    r.warn("w2")
    r.error("e")
    r.critical("c")
    r.log("custom", "error")
    assert [(x.level, x.message) for x in r.get_records()] == [
        ("WARNING", "w"),
        ("WARNING", "w2"),
        ("ERROR", "e"),
        ("CRITICAL", "c"),
        ("ERROR", "custom"),
    ]
    lines = stream.getvalue().splitlines()
    assert len(lines) == 5
    assert lines[0].endswith("WARNING  w code=3")
    assert [x.level for x in r.get_records(level="ERROR")] == ["ERROR", "CRITICAL", "ERROR"]


def test_default_stream_is_stderr_at_write_time(capsys) -> None:
    """With no stream the line goes to the current sys.stderr."""
    DefaultReport().info("to stderr")
    assert "INFO     to stderr" in capsys.readouterr().err


def test_echo_off_and_console_off_keep_records_silently(capsys) -> None:
    """echo=False or settings.console=False writes nothing but keeps the record."""
    quiet = DefaultReport(echo=False)
    quiet.info("a")
    auditora.configure(console=False)
    loud = DefaultReport()
    loud.info("b")
    assert capsys.readouterr().err == ""
    assert [r.message for r in quiet.get_records() + loud.get_records()] == ["a", "b"]


def test_bad_level_is_a_value_error() -> None:
    """An unknown level name raises ValueError naming the valid ones."""
    with pytest.raises(ValueError, match="DEBUG"):
        DefaultReport(log_level="LOUD")
    with pytest.raises(ValueError):
        DefaultReport(echo=False).log("x", "LOUD")


def test_records_carry_ids_of_the_current_run() -> None:
    """A record made inside a run carries its run, trace and session ids."""
    with bifrost_sync(session_id="s", report=DefaultReport(echo=False)) as run:
        report.info("inside", k=1)
    [record] = run.report.get_records()
    assert (record.run_id, record.trace_id, record.session_id) == (
        run.run_id,
        run.trace_id,
        "s",
    )
    assert record.fields == {"k": 1}
    assert record.timestamp > 0


def test_exception_logs_the_current_exception() -> None:
    """exception() records ERROR with the handled exception's type, message and traceback."""
    r = DefaultReport(echo=False)
    try:
        raise ValueError("nope")
    except ValueError:
        r.exception("failed")
    [record] = r.get_records()
    assert (record.level, record.fields["error_type"], record.fields["error_message"]) == (
        "ERROR",
        "ValueError",
        "nope",
    )
    assert "Traceback" in record.fields["traceback"]


def test_llm_call_appears_as_a_record_with_fields() -> None:
    """log_llm_call keeps the seed's names in .fields and returns the typed record."""
    r = DefaultReport(echo=False)
    call = r.log_llm_call("gpt-4", 10, 5, 0.2, request_id="abc")
    [kept] = r.get_records()
    assert kept is call
    assert kept.level == "INFO"
    assert {k: kept.fields[k] for k in ("model", "prompt_tokens", "completion_tokens")} == {
        "model": "gpt-4",
        "prompt_tokens": 10,
        "completion_tokens": 5,
    }
    assert kept.fields["request_id"] == "abc"
    failed = r.log_llm_call("gpt-4", 1, 0, 1.0, success=False, error="timeout")
    assert failed.level == "ERROR"


def test_evaluation_status_follows_threshold() -> None:
    """PASS at or above the threshold (or without one), else FAIL."""
    r = DefaultReport(echo=False)
    assert r.log_evaluation_result("acc", 0.5, threshold=0.5).status == "PASS"
    assert r.log_evaluation_result("acc", 0.4, threshold=0.5).status == "FAIL"
    assert r.log_evaluation_result("acc", 0.1).status == "PASS"
    assert [x.fields["status"] for x in r.get_records()] == ["PASS", "FAIL", "PASS"]


def test_record_buffer_is_bounded() -> None:
    """max_records bounds the kept records; drops are counted in the summary."""
    r = DefaultReport(echo=False, max_records=2)
    for i in range(4):
        r.info(str(i))
    assert [x.message for x in r.get_records()] == ["2", "3"]
    assert r.get_summary()["records_dropped"] == 2


def test_default_level_follows_the_configured_log_level() -> None:
    """Without log_level, a report uses settings.log_level (AUDITORA_LOG_LEVEL), else INFO."""
    assert DefaultReport().log_level == "INFO"
    auditora.configure(log_level="ERROR")
    assert DefaultReport().log_level == "ERROR"
    assert DefaultReport(log_level="DEBUG").log_level == "DEBUG"


def _info_from_threads(r: DefaultReport, threads: int, per_thread: int) -> None:
    import threading

    def work(t: int) -> None:
        with bifrost_sync(report=r):
            for i in range(per_thread):
                report.info("m", thread=t, i=i)

    pool = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()


def test_records_from_8_threads_on_one_report_are_all_kept_in_order_per_thread() -> None:
    """8 threads logging into one report lose no record, each thread's records keep
    that thread's order, and the summary counts them all."""
    r = DefaultReport(echo=False, max_records=100_000)
    _info_from_threads(r, 8, 2_000)
    records = r.get_records()
    assert len(records) == 16_000
    for t in range(8):
        assert [x.fields["i"] for x in records if x.fields["thread"] == t] == list(range(2_000))
    summary = r.get_summary()
    assert (summary["records_total"], summary["records_dropped"]) == (16_000, 0)
    assert summary["levels"] == {"INFO": 16_000}


def test_a_bounded_report_shared_by_threads_keeps_the_newest_and_counts_the_rest() -> None:
    """With more records than max_records from 8 threads, the report keeps exactly
    max_records (the newest, in order per thread) and counts every drop."""
    r = DefaultReport(echo=False, max_records=1_000)
    _info_from_threads(r, 8, 2_000)
    records = r.get_records()
    assert len(records) == 1_000
    for t in range(8):
        mine = [x.fields["i"] for x in records if x.fields["thread"] == t]
        assert mine == sorted(mine)
    assert records[-1].fields["i"] == 1_999  # the last one kept is the last one made
    summary = r.get_summary()
    assert (summary["records_total"], summary["records_dropped"]) == (16_000, 15_000)
