"""OTelSink: evaluations as gen_ai.evaluation.result events parented to the evaluated span
(the LLM call whose response they score, else the run that logged them), carrying
gen_ai.response.id, and repeated as OpenInference inline span feedback; decoded from what the
real OTLP/HTTP exporter sent to a receiver on 127.0.0.1."""

from __future__ import annotations

import time
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pytest

pytest.importorskip("opentelemetry.sdk")
pytest.importorskip("opentelemetry.exporter.otlp.proto.http")
pytest.importorskip("opentelemetry.proto")

from auditora.integrations.otel import OTelSink
from auditora.records import Evaluation, LLMCall, Record, Run, new_run
from otlp_receiver import Receiver, attrs, running

TRACE = 0x0123_4567_89AB_CDEF_0123_4567_89AB_CDEF


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from running()


def make_run() -> Run:
    run = new_run(
        0x1234_5678_9ABC_DEF0,
        TRACE,
        None,
        "answer",
        "evals",
        "function",
        "function",
        None,
        None,  # type: ignore[arg-type]  # the adats are not part of the record
        None,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        None,
    )
    run.duration_ns = 1_000_000
    run.end_ns, run.status = run.start_ns + run.duration_ns, "ok"
    return run


def make_call(run: Run, response_id: Optional[str] = "resp_1") -> LLMCall:
    return LLMCall(
        "gpt-4o",
        10,
        5,
        0.0001,
        True,
        time.time_ns(),
        run.run_id,
        run.trace_id,
        "evals",
        response_id=response_id,
    )


def make_evaluation(run: Run, response_id: Optional[str] = None, **extra: Any) -> Evaluation:
    if response_id is not None:
        extra["response_id"] = response_id
    return Evaluation(
        "faithfulness",
        0.8,
        0.5,
        "PASS",
        time.time_ns(),
        run.run_id,
        run.trace_id,
        "evals",
        label="faithful",
        explanation="every claim is in the context",
        extra=extra,
    )


def exported(receiver: Receiver, *batches: List[Record]) -> Tuple[Dict[str, Any], List[Any]]:
    """Export ``batches`` (one export() each); the decoded spans by name and the logs."""
    sink = OTelSink(endpoint=receiver.endpoint, signals=("traces", "logs"), join_otel_context=False)
    try:
        for batch in batches:
            sink.export(batch)
        assert sink.flush(10.0)
    finally:
        sink.close()
    spans = {span.name: span for span in receiver.spans()}
    logs = [log for log in receiver.logs() if log.event_name == "gen_ai.evaluation.result"]
    return spans, logs


EVALUATION = {
    "gen_ai.evaluation.name": "faithfulness",
    "gen_ai.evaluation.score.value": 0.8,
    "gen_ai.evaluation.score.label": "faithful",
    "gen_ai.evaluation.explanation": "every claim is in the context",
}

INLINE = {
    "evaluations.0.evaluation.name": "faithfulness",
    "evaluations.0.evaluation.score": 0.8,
    "evaluations.0.evaluation.label": "faithful",
    "evaluations.0.evaluation.explanation": "every claim is in the context",
}


def evaluation_events(span: Any) -> List[Dict[str, Any]]:
    return [attrs(e) for e in span.events if e.name == "gen_ai.evaluation.result"]


def test_an_evaluation_of_a_response_is_an_event_on_that_llm_span(receiver: Receiver) -> None:
    """Scoring a response (extra response_id) of an LLM call in the same batch: the event is
    on the LLM call's span, carries gen_ai.response.id, and the log-based event has that
    span's trace and span ids; the run's span has no evaluation."""
    run = make_run()
    spans, logs = exported(receiver, [make_call(run), make_evaluation(run, "resp_1"), run])
    llm, parent = spans["chat gpt-4o"], spans["answer"]
    (event,) = evaluation_events(llm)
    assert {k: event[k] for k in EVALUATION} == EVALUATION
    assert event["gen_ai.response.id"] == "resp_1"
    assert "auditora.evaluation.response_id" not in event
    assert evaluation_events(parent) == []
    (log,) = logs
    assert (log.trace_id, log.span_id) == (llm.trace_id, llm.span_id)
    assert attrs(log)["gen_ai.response.id"] == "resp_1"


def test_an_evaluated_llm_span_carries_openinference_inline_feedback(receiver: Receiver) -> None:
    """The LLM span repeats the evaluation as evaluations.0.evaluation.* (OpenInference's
    span feedback, for Phoenix)."""
    run = make_run()
    spans, _ = exported(receiver, [make_call(run), make_evaluation(run, "resp_1"), run])
    got = attrs(spans["chat gpt-4o"])
    assert {k: v for k, v in got.items() if k.startswith("evaluations.")} == INLINE
    assert not [k for k in attrs(spans["answer"]) if k.startswith("evaluations.")]


def test_an_evaluation_of_a_response_exported_earlier_is_parented_to_its_span(
    receiver: Receiver,
) -> None:
    """The LLM span already left in an earlier batch: the log-based event is still parented
    to it; the span event goes on the run, with gen_ai.response.id to correlate."""
    run = make_run()
    spans, logs = exported(receiver, [make_call(run)], [make_evaluation(run, "resp_1"), run])
    llm, parent = spans["chat gpt-4o"], spans["answer"]
    (log,) = logs
    assert (log.trace_id, log.span_id) == (llm.trace_id, llm.span_id)
    assert evaluation_events(llm) == []
    (event,) = evaluation_events(parent)
    assert event["gen_ai.response.id"] == "resp_1"


def test_an_evaluation_without_a_response_is_parented_to_its_run(receiver: Receiver) -> None:
    """No response id: the event is on the run's span (plus inline feedback there), and the
    log-based event has the run's ids."""
    run = make_run()
    spans, logs = exported(receiver, [make_call(run), make_evaluation(run), run])
    parent = spans["answer"]
    (event,) = evaluation_events(parent)
    assert {k: event[k] for k in EVALUATION} == EVALUATION
    assert "gen_ai.response.id" not in event
    got = attrs(parent)
    assert {k: v for k, v in got.items() if k.startswith("evaluations.")} == INLINE
    (log,) = logs
    assert (log.trace_id.hex(), log.span_id.hex()) == (run.trace_id, run.run_id)


def test_an_evaluation_of_an_unknown_response_keeps_the_response_id(receiver: Receiver) -> None:
    """A response this sink never saw (another process made the call): parented to the run,
    gen_ai.response.id lets the backend correlate."""
    run = make_run()
    spans, logs = exported(receiver, [make_evaluation(run, "resp_elsewhere"), run])
    (event,) = evaluation_events(spans["answer"])
    assert event["gen_ai.response.id"] == "resp_elsewhere"
    (log,) = logs
    assert (log.span_id.hex(), attrs(log)["gen_ai.response.id"]) == (run.run_id, "resp_elsewhere")


def test_other_evaluation_extras_stay_auditora_attributes(receiver: Receiver) -> None:
    """Extras besides response_id keep their auditora.evaluation.* names."""
    run = make_run()
    spans, _ = exported(receiver, [make_evaluation(run, judge="gpt-4o-mini"), run])
    (event,) = evaluation_events(spans["answer"])
    assert event["auditora.evaluation.judge"] == "gpt-4o-mini"
