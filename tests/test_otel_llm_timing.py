"""OTelSink: an LLM span starts at the call's recorded start (else its end minus the response
time) and never before its parent run, on spans decoded from what the real OTLP/HTTP exporter
sent to a receiver on 127.0.0.1."""

from __future__ import annotations

import time
from typing import Any, Dict, Iterator, List, Optional

import pytest

pytest.importorskip("opentelemetry.sdk")
pytest.importorskip("opentelemetry.exporter.otlp.proto.http")
pytest.importorskip("opentelemetry.proto")

from auditora import report, sentinel
from auditora.integrations.otel import OTelSink
from auditora.records import LLMCall, Record, Run, new_run
from auditora.testing import capture
from otlp_receiver import Receiver, running

TRACE = 0x0123_4567_89AB_CDEF_0123_4567_89AB_CDEF
SECOND = 1_000_000_000


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from running()


def make_run(start_ns: int, duration_ns: int, run_id: int = 0x1234_5678_9ABC_DEF0) -> Run:
    """A finished root run record that started at ``start_ns``."""
    run = new_run(
        run_id,
        TRACE,
        None,
        "step",
        "timing",
        "function",
        "function",
        None,
        None,  # type: ignore[arg-type]  # the adats are not part of the record
        None,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        None,
    )
    run.start_ns, run.duration_ns = start_ns, duration_ns
    run.end_ns, run.status = start_ns + duration_ns, "ok"
    return run


def make_call(run: Run, end_ns: int, response_time: float, start_ns: Optional[int]) -> LLMCall:
    return LLMCall(
        "gpt-4o",
        10,
        5,
        response_time,
        True,
        end_ns,
        run.run_id,
        run.trace_id,
        "timing",
        start_ns=start_ns,
    )


def exported(receiver: Receiver, *batches: List[Record]) -> Dict[str, Any]:
    """Export ``batches`` one export() call each; the decoded spans by name."""
    sink = OTelSink(endpoint=receiver.endpoint, signals=("traces",), join_otel_context=False)
    try:
        for batch in batches:
            sink.export(batch)
        assert sink.flush(10.0)
    finally:
        sink.close()
    return {span.name: span for span in receiver.spans()}


def test_a_recorded_start_is_the_llm_span_start(receiver: Receiver) -> None:
    """start_ns, when set, is the span's start (not time_ns - response_time)."""
    t0 = time.time_ns()
    run = make_run(t0, 10 * SECOND)
    call = make_call(run, t0 + 5 * SECOND, 1.0, start_ns=t0 + 2 * SECOND)
    spans = exported(receiver, [call, run])
    llm = spans["chat gpt-4o"]
    assert (llm.start_time_unix_nano, llm.end_time_unix_nano) == (t0 + 2 * SECOND, t0 + 5 * SECOND)


def test_without_a_start_the_span_starts_response_time_before_its_end(
    receiver: Receiver,
) -> None:
    """No start_ns: the span starts at time_ns - response_time."""
    t0 = time.time_ns()
    run = make_run(t0, 10 * SECOND)
    call = make_call(run, t0 + 5 * SECOND, 1.5, start_ns=None)
    llm = exported(receiver, [call, run])["chat gpt-4o"]
    assert llm.start_time_unix_nano == t0 + 5 * SECOND - int(1.5 * SECOND)


@pytest.mark.parametrize("start_ns", [None, "before"])
def test_an_llm_span_never_starts_before_its_run_in_the_same_batch(
    receiver: Receiver, start_ns: Optional[str]
) -> None:
    """A response_time longer than the run has lasted, or an unclamped start_ns from before
    the run: the span is clamped to the run's start (the run comes later in the batch, as
    it does when a run ends after its calls)."""
    t0 = time.time_ns()
    run = make_run(t0, SECOND // 10)
    start = t0 - 3 * SECOND if start_ns == "before" else None
    call = make_call(run, t0 + SECOND // 20, 5.0, start_ns=start)
    spans = exported(receiver, [call, run])
    llm, parent = spans["chat gpt-4o"], spans["step"]
    assert llm.parent_span_id == parent.span_id
    assert llm.start_time_unix_nano == parent.start_time_unix_nano == t0
    assert llm.end_time_unix_nano == t0 + SECOND // 20


def test_an_llm_span_is_clamped_to_a_run_exported_in_an_earlier_batch(
    receiver: Receiver,
) -> None:
    """A call recorded after its run was exported (a stream consumed later): the run's start
    is remembered and still bounds the span."""
    t0 = time.time_ns()
    run = make_run(t0, SECOND // 10)
    call = make_call(run, t0 + SECOND, 30.0, start_ns=None)
    spans = exported(receiver, [run], [call])
    assert spans["chat gpt-4o"].start_time_unix_nano == t0


def test_a_span_whose_run_is_not_known_is_not_clamped(receiver: Receiver) -> None:
    """The documented limit: when the run is neither in the batch nor exported before by
    this sink, the start is the recorded one (llm/_calls.py clamps at record time)."""
    t0 = time.time_ns()
    run = make_run(t0, SECOND)
    call = make_call(run, t0 + SECOND // 2, 2.0, start_ns=None)
    llm = exported(receiver, [call])["chat gpt-4o"]
    assert llm.start_time_unix_nano == t0 + SECOND // 2 - 2 * SECOND


def test_no_llm_span_of_a_sentinel_run_starts_before_its_parent(receiver: Receiver) -> None:
    """Through the real sentinel and report.log_llm_call: calls claiming 30 s of latency and
    a start time before the run, inside a run of a few milliseconds, all start within it."""

    @sentinel(session_id="timing")
    def quick() -> None:
        report.log_llm_call(model="gpt-4o", prompt_tokens=1, completion_tokens=1, response_time=30)
        report.log_llm_call(
            model="gpt-4o-mini",
            prompt_tokens=1,
            completion_tokens=1,
            response_time=0.001,
            start_ns=time.time_ns() - 60 * SECOND,
        )
        inner()

    @sentinel()
    def inner() -> None:
        report.log_llm_call(model="o3", prompt_tokens=1, completion_tokens=1, response_time=9.0)

    with capture() as records:
        quick()
    spans = exported(receiver, list(records))
    by_id = {span.span_id: span for span in spans.values()}
    llm_spans = [s for name, s in spans.items() if name.startswith("chat ")]
    assert len(llm_spans) == 3
    for span in llm_spans:
        parent = by_id[span.parent_span_id]
        assert span.start_time_unix_nano >= parent.start_time_unix_nano, span.name
        assert span.end_time_unix_nano >= span.start_time_unix_nano
