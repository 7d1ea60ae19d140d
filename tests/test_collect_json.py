"""Hand-built OTLP/JSON bodies: hex ids, GenAI names old and new, OpenInference spans,
evaluation events, sessions, and a partial success for the spans that cannot be kept."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Dict, List

from auditora.store import open_store
from collect_helpers import collector, post_json

TRACE = "5b8efff798038103d269b633813fc60c"
ROOT = "eee19b7ec3c1b174"
CHILD = "eee19b7ec3c1b173"
T0 = 1_700_000_000_000_000_000


def attr(key: str, value: Any) -> Dict[str, Any]:
    if isinstance(value, bool):
        return {"key": key, "value": {"boolValue": value}}
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}  # int64 as a string, as allowed
    if isinstance(value, float):
        return {"key": key, "value": {"doubleValue": value}}
    if isinstance(value, list):
        return {
            "key": key,
            "value": {"arrayValue": {"values": [{"stringValue": v} for v in value]}},
        }
    return {"key": key, "value": {"stringValue": value}}


def span(
    span_id: str, name: str, attrs: Dict[str, Any], parent: str = "", **extra: Any
) -> Dict[str, Any]:
    return {
        "traceId": TRACE,
        "spanId": span_id,
        "parentSpanId": parent,
        "name": name,
        "kind": extra.pop("kind", 1),
        "startTimeUnixNano": str(T0),
        "endTimeUnixNano": str(T0 + 2_000_000_000),
        "attributes": [attr(k, v) for k, v in attrs.items()],
        **extra,
    }


def traces(*spans: Dict[str, Any]) -> Dict[str, Any]:
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": [attr("service.name", "rag-api")]},
                "scopeSpans": [
                    {"scope": {"name": "openinference.instrumentation.x"}, "spans": list(spans)}
                ],
            }
        ]
    }


def test_openinference_spans_become_typed_runs_and_llm_calls(tmp_path: Path) -> None:
    """OpenInference's kinds give run types; an LLM span's llm.* attributes give the call,
    its flattened messages the input and output; unknown attributes stay on the run."""
    body = traces(
        span(
            ROOT,
            "retrieve",
            {"openinference.span.kind": "RETRIEVER", "input.value": "q?", "custom.k": 7},
        ),
        span(
            CHILD,
            "ChatCompletion",
            {
                "openinference.span.kind": "LLM",
                "llm.model_name": "gpt-4o",
                "llm.provider": "openai",
                "llm.token_count.prompt": 120,
                "llm.token_count.completion": 30,
                "llm.token_count.prompt_details.cache_read": 20,
                "llm.token_count.total": 150,
                "llm.invocation_parameters": '{"temperature": 0.1}',
                "llm.input_messages.0.message.role": "user",
                "llm.input_messages.0.message.content": "hi",
                "llm.output_messages.0.message.role": "assistant",
                "llm.output_messages.0.message.content": "hello",
                "session.id": "conv-7",
            },
            parent=ROOT,
        ),
    )
    with collector(tmp_path / "s.db") as server:
        assert post_json(server, "/v1/traces", body) == (200, {})
    with open_store(tmp_path / "s.db") as s:
        runs = {r["name"]: r for r in s.runs(limit=None)}
        (call,) = s.llm_calls(limit=None)
    assert (runs["retrieve"]["run_type"], runs["ChatCompletion"]["run_type"]) == (
        "retriever",
        "llm",
    )
    assert runs["retrieve"]["attributes"]["custom.k"] == 7
    assert runs["retrieve"]["attributes"]["service.name"] == "rag-api"
    assert runs["retrieve"]["inputs"] == {"input": "q?"}
    assert (call["model"], call["input_tokens"], call["output_tokens"], call["cached_tokens"]) == (
        "gpt-4o",
        120,
        30,
        20,
    )
    assert call["cost"] is not None and call["cost"] > 0
    assert call["request"] == {"temperature": 0.1}
    assert call["input"] == [{"role": "user", "content": "hi"}]
    assert call["output"] == [{"role": "assistant", "content": "hello"}]
    assert (call["session_id"], call["run_id"]) == ("conv-7", CHILD)


def test_older_genai_names_are_read(tmp_path: Path) -> None:
    """gen_ai.system and gen_ai.usage.prompt_tokens/completion_tokens (the names before the
    current conventions) give the provider and the tokens."""
    body = traces(
        span(
            ROOT,
            "chat claude",
            {
                "gen_ai.system": "anthropic",
                "gen_ai.request.model": "claude-3-5-haiku-20241022",
                "gen_ai.usage.prompt_tokens": 50,
                "gen_ai.usage.completion_tokens": 10,
                "gen_ai.usage.cache_creation_input_tokens": 5,
            },
            kind=3,
        )
    )
    with collector(tmp_path / "s.db") as server:
        assert post_json(server, "/v1/traces", body)[0] == 200
    with open_store(tmp_path / "s.db") as s:
        (call,) = s.llm_calls(limit=None)
        (run,) = s.runs(limit=None)
    assert (
        call["provider"],
        call["input_tokens"],
        call["output_tokens"],
        call["cache_write_tokens"],
    ) == (
        "anthropic",
        50,
        10,
        5,
    )
    assert run["attributes"]["otel.span.kind"] == "client"


def test_evaluation_events_and_conversation_ids(tmp_path: Path) -> None:
    """A gen_ai.evaluation.result span event is an evaluation of that run; other events are
    events; gen_ai.conversation.id names the session."""
    events: List[Dict[str, Any]] = [
        {
            "name": "gen_ai.evaluation.result",
            "timeUnixNano": str(T0 + 1),
            "attributes": [
                attr("gen_ai.evaluation.name", "relevance"),
                attr("gen_ai.evaluation.score.value", 0.4),
                attr("gen_ai.evaluation.score.label", "fail"),
                attr("gen_ai.evaluation.explanation", "off topic"),
            ],
        },
        {"name": "cache.miss", "timeUnixNano": str(T0 + 2), "attributes": [attr("key", "k1")]},
    ]
    body = traces(span(ROOT, "answer", {"gen_ai.conversation.id": "c-1"}, events=events))
    with collector(tmp_path / "s.db") as server:
        assert post_json(server, "/v1/traces", body)[0] == 200
    with open_store(tmp_path / "s.db") as s:
        (ev,) = s.evaluations(limit=None)
        (event,) = s.events(limit=None)
        sessions = s.sessions()
    assert (ev["metric_name"], ev["value"], ev["status"], ev["explanation"], ev["run_id"]) == (
        "relevance",
        0.4,
        "FAIL",
        "off topic",
        ROOT,
    )
    assert (event["name"], event["run_id"], event["session_id"]) == ("cache.miss", ROOT, "c-1")
    assert [x["session_id"] for x in sessions] == ["c-1"]


def test_a_label_only_evaluation_scores_its_verdict(tmp_path: Path) -> None:
    """An evaluation event with a label and no score is valued 1 (pass) or 0 (fail), and
    says its score came from the label."""
    events = [
        {
            "name": "gen_ai.evaluation.result",
            "timeUnixNano": str(T0 + 1),
            "attributes": [
                attr("gen_ai.evaluation.name", "faithful"),
                attr("gen_ai.evaluation.score.label", "fail"),
            ],
        }
    ]
    with collector(tmp_path / "s.db") as server:
        assert (
            post_json(server, "/v1/traces", traces(span(ROOT, "answer", {}, events=events)))[0]
            == 200
        )
    with open_store(tmp_path / "s.db") as s:
        (ev,) = s.evaluations(limit=None)
    # The label says no more than the status, so it is not kept twice.
    assert (ev["value"], ev["status"], ev["label"], ev["extra"]["score_from"]) == (
        0.0,
        "FAIL",
        None,
        "label",
    )


def test_invalid_ids_are_a_partial_success(tmp_path: Path) -> None:
    """A span whose ids are not hex (e.g. base64, which OTLP/JSON does not use) is rejected
    and counted in partialSuccess; the valid spans of the request are kept."""
    bad = span("7uGbfsPBsXQ=", "base64 id", {})
    body = traces(span(ROOT, "ok", {}), bad)
    with collector(tmp_path / "s.db") as server:
        status, answer = post_json(server, "/v1/traces", body)
    assert status == 200
    assert answer["partialSuccess"]["rejectedSpans"] == 1
    assert "invalid traceId or spanId" in answer["partialSuccess"]["errorMessage"]
    with open_store(tmp_path / "s.db") as s:
        assert [r["name"] for r in s.runs(limit=None)] == ["ok"]


def test_json_logs_with_an_evaluation_event_and_a_histogram(tmp_path: Path) -> None:
    """A log record is a log with its severity; a gen_ai.evaluation.result log event is an
    evaluation; a histogram point is its count and sum."""
    logs = {
        "resourceLogs": [
            {
                "resource": {"attributes": [attr("service.name", "svc")]},
                "scopeLogs": [
                    {
                        "logRecords": [
                            {
                                "timeUnixNano": str(T0),
                                "severityNumber": 17,
                                "body": {"stringValue": "boom"},
                                "traceId": TRACE,
                                "spanId": ROOT,
                                "attributes": [attr("session.id", "s-9")],
                            },
                            {
                                "timeUnixNano": str(T0),
                                "eventName": "gen_ai.evaluation.result",
                                "attributes": [
                                    attr("gen_ai.evaluation.name", "toxicity"),
                                    attr("gen_ai.evaluation.score.value", 0.0),
                                    attr("auditora.evaluation.threshold", 0.5),
                                    attr("auditora.evaluation.direction", "lower"),
                                ],
                            },
                        ]
                    }
                ],
            }
        ]
    }
    metrics = {
        "resourceMetrics": [
            {
                "scopeMetrics": [
                    {
                        "metrics": [
                            {
                                "name": "gen_ai.client.operation.duration",
                                "histogram": {
                                    "dataPoints": [
                                        {
                                            "timeUnixNano": str(T0),
                                            "count": "4",
                                            "sum": 2.5,
                                            "attributes": [],
                                        }
                                    ]
                                },
                            }
                        ]
                    }
                ]
            }
        ]
    }
    with collector(tmp_path / "s.db") as server:
        assert post_json(server, "/v1/logs", logs) == (200, {})
        assert post_json(server, "/v1/metrics", metrics) == (200, {})
    with open_store(tmp_path / "s.db") as s:
        (log,) = s.logs(limit=None)
        (ev,) = s.evaluations(limit=None)
        values = {m["name"]: m["value"] for m in s.metrics(limit=None)}
    assert (log["level"], log["message"], log["run_id"], log["session_id"]) == (
        "ERROR",
        "boom",
        ROOT,
        "s-9",
    )
    assert (ev["metric_name"], ev["status"]) == ("toxicity", "PASS")
    assert values == {
        "gen_ai.client.operation.duration.count": 4.0,
        "gen_ai.client.operation.duration.sum": 2.5,
    }
    assert not math.isnan(ev["value"])


def test_records_the_recorder_drops_are_a_partial_success(tmp_path: Path) -> None:
    """When the recorder drops records (here: overflow="drop" and a tiny queue), the answer
    counts them as rejected instead of claiming they were kept."""
    many = traces(*(span(f"{i + 1:016x}", f"s{i}", {}) for i in range(2000)))
    with collector(tmp_path / "s.db", {"overflow": "drop", "queue_size": 16}) as server:
        status, answer = post_json(server, "/v1/traces", many)
    assert status == 200
    rejected = answer["partialSuccess"]["rejectedSpans"]
    assert rejected > 0 and "not keeping up" in answer["partialSuccess"]["errorMessage"]
    with open_store(tmp_path / "s.db") as s:
        kept = len(s.runs(limit=None))
    assert kept + rejected == 2000


def test_each_drop_is_claimed_by_one_answer(tmp_path: Path) -> None:
    """Over several requests in a row, the drops the answers report add up to exactly the
    spans missing from the store: none told twice, none left out."""
    batches = [
        traces(*(span(f"{n * 1000 + i + 1:016x}", f"s{i}", {}) for i in range(1000)))
        for n in range(3)
    ]
    rejected = 0
    with collector(tmp_path / "s.db", {"overflow": "drop", "queue_size": 16}) as server:
        for body in batches:
            status, answer = post_json(server, "/v1/traces", body)
            assert status == 200
            rejected += (answer or {}).get("partialSuccess", {}).get("rejectedSpans", 0)
    with open_store(tmp_path / "s.db") as s:
        kept = len(s.runs(limit=None))
    assert rejected > 0
    assert kept + rejected == 3000


def test_claim_drops_counts_each_drop_once(monkeypatch: Any) -> None:
    """``claim_drops`` returns the drops since the last claim (those before the server
    started are not its own), and starts again from zero after a fresh configure."""
    from auditora.collect import _server

    readings = iter([5, 5, 12, 12, 3])
    monkeypatch.setattr(_server, "_queue_drops", lambda: next(readings))
    server = _server.make_server("127.0.0.1", 0)
    try:
        assert [server.claim_drops() for _ in range(4)] == [0, 7, 0, 3]
    finally:
        server.server_close()


def test_ids_must_be_plain_hex_digits(tmp_path: Path) -> None:
    """An id is exactly its bytes' hex digits: a ``0x`` prefix, a sign, underscores or
    spaces make the span rejected (not stored under a mangled id); upper case is read as
    lower case."""
    bad = [
        "0x" + TRACE[2:],
        "+" + TRACE[1:],
        TRACE[:8] + "_" + TRACE[9:],
        TRACE[:8] + " " + TRACE[9:],
    ]
    spans = [dict(span(ROOT, "upper", {}), traceId=TRACE.upper())]
    spans += [dict(span(f"{i + 1:016x}", f"bad {i}", {}), traceId=t) for i, t in enumerate(bad)]
    with collector(tmp_path / "s.db") as server:
        status, answer = post_json(server, "/v1/traces", traces(*spans))
    assert status == 200
    assert answer["partialSuccess"]["rejectedSpans"] == len(bad)
    with open_store(tmp_path / "s.db") as s:
        assert [(r["name"], r["trace_id"]) for r in s.runs(limit=None)] == [("upper", TRACE)]


def test_a_time_that_is_not_a_number_is_zero_not_a_bad_request(tmp_path: Path) -> None:
    """A start time that is not decimal digits (here a superscript two, which ``isdigit``
    accepts and ``int`` refuses) counts as unset; the span is kept."""
    odd = dict(span(ROOT, "odd clock", {}), startTimeUnixNano="\u00b2")
    with collector(tmp_path / "s.db") as server:
        status, _ = post_json(server, "/v1/traces", traces(odd))
    assert status == 200
    with open_store(tmp_path / "s.db") as s:
        assert [r["name"] for r in s.runs(limit=None)] == ["odd clock"]


def test_inline_evaluation_attributes_stay_without_an_evaluation_event() -> None:
    """``gen_ai.evaluation.*`` attributes are dropped as a copy only when the span also has
    the evaluation event; on their own they stay run attributes."""
    from auditora.collect._otlp import decode_json

    attrs = {"gen_ai.evaluation.name": "relevance", "gen_ai.evaluation.score.value": 0.9}
    event = {
        "name": "gen_ai.evaluation.result",
        "timeUnixNano": str(T0 + 1),
        "attributes": [attr(k, v) for k, v in attrs.items()],
    }
    with_event = span(ROOT, "judged", attrs, events=[event])
    alone = span(CHILD, "annotated", attrs, parent=ROOT)
    records = decode_json("traces", json.dumps(traces(with_event, alone)).encode()).records
    runs = {r.name: r for r in records if r.__class__.__name__ == "Run"}
    assert runs["judged"].attributes == {
        "service.name": "rag-api",
        "otel.scope.name": "openinference.instrumentation.x",
    }
    assert runs["annotated"].attributes["gen_ai.evaluation.name"] == "relevance"
