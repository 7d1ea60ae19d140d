"""Secrets used as dict keys are masked like secrets in values, wherever a user
value goes, and keys that become equal once masked stay distinct entries."""

from __future__ import annotations

import json
from collections import deque
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar, Dict, Iterator, List, Optional, Tuple

import pytest

import auditora
from auditora import DefaultReport, monitor, report, sentinel, session
from auditora._serialize import USER_FIELDS, dumps, json_text, json_texts, sanitize, to_jsonable
from auditora.agents import send_message
from auditora.redaction import MASK, configure, redact
from auditora.redaction import reset as reset_redaction
from auditora.store import open_store
from auditora.testing import capture

# Synthetic credentials shaped like the real ones (length and alphabet).
OPENAI_KEY = "sk-proj-" + ("Xq7Lm2Vb9Rt4Nz6Kc1Pw8Hd3Gf5Js0Ay" * 5)[:156]
ANTHROPIC_KEY = "sk-ant-api03-" + ("Zr4Tq9Wm2Lx7Cv1Bn6Hk3Pd8Gs5Jf0" * 4)[:95] + "AA"
AWS_KEY = "AKIAIOSFODNN7EXAMPLE"
AWS_TEMP_KEY = "ASIAY34FZKBOKMUTVV7A"
GITHUB_TOKEN = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
GITHUB_PAT = "github_pat_11ABCDEFG0" + "x" * 40 + "_" + "Y" * 30
GOOGLE_KEY = "AIza" + "SyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY"
SLACK_TOKEN = "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
    "eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkFkYSJ9."
    "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)
BEARER = "Bearer mF_9.B5f-4.1JqM"
PEM = (
    "-----BEGIN RSA PRIVATE KEY-----\n"
    "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun\n"
    "-----END RSA PRIVATE KEY-----"
)

#: Every default pattern of ``auditora.redaction``, one secret each.
SECRETS = {
    "openai": OPENAI_KEY,
    "anthropic": ANTHROPIC_KEY,
    "aws": AWS_KEY,
    "aws_temporary": AWS_TEMP_KEY,
    "github": GITHUB_TOKEN,
    "github_pat": GITHUB_PAT,
    "google": GOOGLE_KEY,
    "slack": SLACK_TOKEN,
    "jwt": JWT,
    "bearer": BEARER,
    "pem": PEM,
}
SECRET_PARAMS = pytest.mark.parametrize("secret", list(SECRETS.values()), ids=list(SECRETS))
# A PEM block ends in "PRIVATE KEY-----", so as a key it is also a sensitive key
# *name*: its value is masked too. The others leave their value alone.
NAMELESS = {name: s for name, s in SECRETS.items() if name != "pem"}
NAMELESS_PARAMS = pytest.mark.parametrize("secret", list(NAMELESS.values()), ids=list(NAMELESS))
# The parts of each secret that must never be stored (the Bearer pattern keeps
# the word "Bearer" out of the match only to mask it along with the rest).
PEM_BODY = PEM.splitlines()[1]
NEEDLES = [
    OPENAI_KEY,
    ANTHROPIC_KEY,
    AWS_KEY,
    AWS_TEMP_KEY,
    GITHUB_TOKEN,
    GITHUB_PAT,
    GOOGLE_KEY,
    SLACK_TOKEN,
    JWT,
    "mF_9.B5f-4.1JqM",
    PEM_BODY,
]


@pytest.fixture(autouse=True)
def _reset() -> Iterator[None]:
    reset_redaction()
    yield
    reset_redaction()


def _text(value: Any) -> str:
    return json.dumps(value, default=repr, ensure_ascii=False)


# -- redact(): keys at any depth --------------------------------------------


@NAMELESS_PARAMS
def test_a_secret_as_a_top_level_key_is_masked_and_its_value_kept(secret: str) -> None:
    """The key becomes the mask; the value under it is not a secret and stays."""
    out = redact({secret: {"id": 7}, "user": "ada"})
    assert out == {MASK: {"id": 7}, "user": "ada"}


@NAMELESS_PARAMS
def test_a_secret_key_nested_in_a_dict_in_a_list_in_a_dict_is_masked(secret: str) -> None:
    """Containers are walked to any depth, keys included."""
    value = {"clients": [{"name": "a"}, {secret: 1, "ok": True}], "deeper": {"x": [[{secret: 2}]]}}
    out = redact(value)
    assert secret not in _text(out)
    assert out == {
        "clients": [{"name": "a"}, {MASK: 1, "ok": True}],
        "deeper": {"x": [[{MASK: 2}]]},
    }


def test_a_pem_block_as_a_key_masks_the_key_and_its_value() -> None:
    """The PEM pattern masks the key; its words name a private key, so the
    value is masked as well."""
    assert redact({PEM: {"id": 7}, "n": [{PEM: 1}]}) == {MASK: MASK, "n": [{MASK: MASK}]}


def test_only_the_secret_part_of_a_key_is_masked() -> None:
    """A key is masked like free text: the words around the secret stay."""
    assert redact({f"client {AWS_KEY}": 1}) == {f"client {MASK}": 1}
    assert redact({f"tenant/{OPENAI_KEY}/quota": 3}) == {f"tenant/{MASK}/quota": 3}


def test_ordinary_keys_and_their_order_are_untouched() -> None:
    """Keys that hold no secret come out as they went in, in the same order."""
    value = {"z": 1, "model": "gpt-4o", "max_tokens": 10, "a": {"b": 2}, 3: "int key"}
    out = redact(value)
    assert out == value
    assert list(out) == list(value)
    assert list(redact({"b": 1, OPENAI_KEY: 2, "a": 3})) == ["b", MASK, "a"]


def test_a_secret_key_is_masked_in_every_kind_of_container() -> None:
    """Tuples, sets, deques and non-dict mappings are walked as well (the
    serializer writes them as lists and dicts, so their contents are stored)."""
    value = {
        "tuple": ({OPENAI_KEY: 1},),
        "deque": deque([{AWS_KEY: 2}, OPENAI_KEY]),
        "proxy": MappingProxyType({OPENAI_KEY: 3, "api_key": "hunter2", "v": AWS_KEY}),
    }
    out = redact(value)
    assert out == {
        "tuple": ({MASK: 1},),
        "deque": [{MASK: 2}, MASK],
        "proxy": {MASK: 3, "api_key": MASK, "v": MASK},
    }


def test_a_key_that_is_not_a_string_is_masked_as_the_text_it_is_stored_as() -> None:
    """Tuple and bytes keys are stored as their repr: that text is masked.
    Numbers, bools and None stay as they are."""
    out = redact({("tenant", OPENAI_KEY): 1, AWS_KEY.encode(): 2, 5: 3, None: 4, 1.5: 5})
    assert out == {f"('tenant', '{MASK}')": 1, f"b'{MASK}'": 2, 5: 3, None: 4, 1.5: 5}


def test_a_secret_key_with_a_secret_value_masks_both() -> None:
    """Masking the key does not stop the value under it being masked."""
    assert redact({OPENAI_KEY: AWS_KEY}) == {MASK: MASK}


def test_a_sensitive_key_name_still_masks_its_value() -> None:
    """Key-name masking is unchanged: ``api_key`` stays, its value is masked."""
    assert redact({"api_key": "hunter2", f"token {AWS_KEY}": "x"}) == {
        "api_key": MASK,
        f"token {MASK}": "x",
    }


def test_the_input_is_never_modified() -> None:
    """redact returns a copy; the caller's dict keeps its secret key."""
    value = {OPENAI_KEY: {AWS_KEY: 1}}
    redact(value)
    assert value == {OPENAI_KEY: {AWS_KEY: 1}}


# -- collisions ---------------------------------------------------------------


def test_two_secret_keys_of_one_dict_stay_two_entries() -> None:
    """The second masked key gets ``#2``: no entry replaces another."""
    other = OPENAI_KEY[:-1] + "Z"
    assert redact({OPENAI_KEY: 1, other: 2}) == {MASK: 1, f"{MASK}#2": 2}


def test_every_colliding_key_gets_the_next_suffix_in_dict_order() -> None:
    """Suffixes run #2, #3, … in the order the keys appear."""
    value = {OPENAI_KEY: "a", AWS_KEY: "b", GITHUB_TOKEN: "c", "plain": "d", JWT: "e"}
    out = redact(value)
    assert out == {MASK: "a", f"{MASK}#2": "b", f"{MASK}#3": "c", "plain": "d", f"{MASK}#4": "e"}
    assert list(out.values()) == ["a", "b", "c", "d", "e"]


def test_a_key_left_as_it_was_keeps_its_name_over_a_masked_one() -> None:
    """A literal ``[REDACTED]`` or ``[REDACTED]#2`` key is never renamed; masked
    keys take the first suffix still free, even when the literal comes later."""
    out = redact({OPENAI_KEY: 1, MASK: 2, AWS_KEY: 3, f"{MASK}#2": 4})
    assert out == {f"{MASK}#3": 1, MASK: 2, f"{MASK}#4": 3, f"{MASK}#2": 4}
    assert list(out.values()) == [1, 2, 3, 4]


def test_keys_masked_to_the_same_partial_text_are_suffixed_too() -> None:
    """Collision handling covers keys that are only partly masked."""
    out = redact({f"client {OPENAI_KEY}": 1, f"client {ANTHROPIC_KEY}": 2})
    assert out == {f"client {MASK}": 1, f"client {MASK}#2": 2}


def test_a_masked_non_string_key_does_not_replace_a_string_key() -> None:
    """A tuple key whose repr equals a string key of the same dict is suffixed."""
    assert redact({("a",): 1, "('a',)": 2}) == {"('a',)#2": 1, "('a',)": 2}


def test_collisions_are_resolved_the_same_way_every_time() -> None:
    """The scheme is deterministic: the same dict gives the same keys."""
    value = {k: i for i, k in enumerate(NAMELESS.values())}
    first = redact(value)
    assert first == redact(dict(value))
    assert list(first) == [MASK] + [f"{MASK}#{n}" for n in range(2, len(NAMELESS) + 1)]
    assert list(first.values()) == list(range(len(NAMELESS)))


def test_collisions_are_kept_distinct_at_every_depth() -> None:
    """Each nested dict resolves its own collisions."""
    out = redact({"a": [{OPENAI_KEY: 1, AWS_KEY: 2}], "b": {OPENAI_KEY: {AWS_KEY: 3, JWT: 4}}})
    assert out == {
        "a": [{MASK: 1, f"{MASK}#2": 2}],
        "b": {MASK: {MASK: 3, f"{MASK}#2": 4}},
    }


# -- configuration -----------------------------------------------------------


def test_extra_patterns_mask_keys_even_after_the_key_was_seen() -> None:
    """A key already judged clean is checked again once patterns are added."""
    assert redact({"ssn 123-45-6789": 1}) == {"ssn 123-45-6789": 1}
    configure(extra_patterns=[r"\b\d{3}-\d{2}-\d{4}\b"])
    assert redact({"ssn 123-45-6789": 1}) == {f"ssn {MASK}": 1}


def test_extra_keys_apply_to_keys_already_seen() -> None:
    """Key-name rules added later take effect for a key met before."""
    assert redact({"card number": "4111"}) == {"card number": "4111"}
    configure(extra_keys=["card number"])
    assert redact({"card number": "4111"}) == {"card number": MASK}


def test_the_hook_sees_the_masked_key_never_the_secret() -> None:
    """The hook is given leaves with their masked key; it is not applied to keys."""
    seen: List[Optional[str]] = []

    def hook(key: Optional[str], value: Any) -> Any:
        seen.append(key)
        return value

    configure(hook=hook)
    assert redact({OPENAI_KEY: 1, "n": 2}) == {MASK: 1, "n": 2}
    assert seen == [MASK, "n"]


def test_redaction_turned_off_leaves_keys_alone() -> None:
    """``configure(enabled=False)`` masks nothing, keys included."""
    configure(enabled=False)
    assert redact({OPENAI_KEY: 1}) == {OPENAI_KEY: 1}


# -- the serializer's paths ----------------------------------------------------


@NAMELESS_PARAMS
def test_json_text_never_lets_a_secret_key_through(secret: str) -> None:
    """The flat-dict fast path's trigger scan covers keys: a flat dict with a
    secret key goes the long way and is masked."""
    text = json_text({secret: 1, "n": 2})
    assert text is not None
    assert secret not in text
    assert json.loads(text) == {MASK: 1, "n": 2}


def test_json_text_masks_a_pem_block_used_as_a_key() -> None:
    """A key with newlines (escaped in JSON) still trips the fast path's scan."""
    text = json_text({PEM: 1, "n": 2})
    assert text is not None and PEM_BODY not in text
    assert json.loads(text) == {MASK: MASK, "n": 2}


def test_json_texts_never_lets_a_secret_key_through() -> None:
    """The batch fast path, with distinct and with repeated dicts, and with Nones."""
    flat = [{"n": i} for i in range(20)]
    for batch in (
        [*flat, {OPENAI_KEY: 1}],
        [{AWS_KEY: 1}] * 30 + [{"a": 1}] * 30,
        [None, {"x": 1}, None, {OPENAI_KEY: 2, AWS_KEY: 3}],
    ):
        texts = json_texts(batch)
        joined = "\n".join(t for t in texts if t is not None)
        assert OPENAI_KEY not in joined and AWS_KEY not in joined
        assert MASK in joined
    assert json_texts([{OPENAI_KEY: 1, AWS_KEY: 2}]) == [f'{{"{MASK}":1,"{MASK}#2":2}}']


def test_json_texts_keeps_ordinary_flat_dicts_as_before() -> None:
    """The common case is untouched: plain dicts encode to their plain JSON."""
    batch = [{"step": i, "model": "gpt-4o", "ok": True} for i in range(50)]
    assert json_texts(batch) == [json.dumps(d, separators=(",", ":")) for d in batch]


class _Fields:
    """A record-like object holding one value in every user field."""

    kind: ClassVar[str] = "probe"
    _fields: ClassVar[Tuple[str, ...]] = tuple(sorted(USER_FIELDS))

    def __init__(self, value: Any) -> None:
        for name in self._fields:
            setattr(self, name, value)


def test_to_jsonable_masks_secret_keys_in_every_user_field() -> None:
    """fields, state, metadata, extra, request, input, output, content,
    attributes, tags and metrics: every user field masks its keys."""
    value = {OPENAI_KEY: 1, "n": [{AWS_KEY: 2}]}
    data = to_jsonable(_Fields(value))
    for name in USER_FIELDS:
        assert data[name] == {MASK: 1, "n": [{MASK: 2}]}, name
    line = dumps(_Fields(value))
    assert OPENAI_KEY not in line and AWS_KEY not in line


class _Leaky:
    def __repr__(self) -> str:
        return f"Client({OPENAI_KEY})"


def test_object_keys_and_values_are_stored_as_masked_reprs() -> None:
    """An object's repr is what the serializer stores: it is masked, as a key
    and as a value, even when sanitize is called without redact first."""
    text = json_text({_Leaky(): _Leaky(), "b": AWS_KEY.encode()})
    assert text is not None and OPENAI_KEY not in text and AWS_KEY not in text
    assert json.loads(text) == {f"Client({MASK})": f"Client({MASK})", "b": MASK}
    assert sanitize({_Leaky(): AWS_KEY.encode()}) == {f"Client({MASK})": f"b'{MASK}'"}


# -- records ---------------------------------------------------------------------


def _serialized(records: List[Any]) -> str:
    return "\n".join(dumps(r) for r in records)


def test_records_of_every_kind_mask_secret_keys() -> None:
    """Log fields, session state and tags, event metadata, LLM request, input,
    output and extras, evaluation extras, agent message content and extras,
    metric names: none holds a secret key once serialized."""
    auditora.configure(capture_content=True)

    @sentinel(report=DefaultReport(echo=False))
    def job() -> None:
        report.info("calling", clients={OPENAI_KEY: "c1", "all": [{AWS_KEY: "c2"}]})
        session.set("keys", {AWS_KEY: "v"})
        session.set(OPENAI_KEY, 1)
        session.add_tag(GITHUB_TOKEN)
        session.set("headers", {BEARER: 1, GITHUB_PAT: 2})
        monitor.track("ev", meta={OPENAI_KEY: 1})
        monitor.increment_metric(f"calls.{AWS_KEY}")
        report.log_llm_call(
            "gpt-4o",
            10,
            5,
            0.2,
            request={OPENAI_KEY: 1},
            input=[{"role": "user", "content": {GOOGLE_KEY: "hi"}}],
            output={AWS_KEY: "out"},
            extra_field={JWT: 1},
        )
        report.log_evaluation_result("acc", 0.9, threshold=0.5, details={OPENAI_KEY: 1})
        send_message("bob", {OPENAI_KEY: "hello"}, note={AWS_KEY: 1})

    with capture() as records:
        job()
    text = _serialized(list(records))
    for needle in NEEDLES:
        assert needle not in text
    kinds = {r.kind for r in records}
    assert {"log", "session", "event", "metric", "llm_call", "evaluation", "agent_message"} <= kinds
    log = to_jsonable(records.logs[0])
    assert log["fields"] == {"clients": {MASK: "c1", "all": [{MASK: "c2"}]}}
    state = to_jsonable(records.sessions[-1])["state"]
    assert state == {"keys": {MASK: "v"}, MASK: 1, "headers": {MASK: 1, f"{MASK}#2": 2}}
    llm = to_jsonable(records.llm_calls[0])
    assert llm["request"] == {MASK: 1}
    assert llm["input"] == [{"role": "user", "content": {MASK: "hi"}}]
    assert llm["output"] == {MASK: "out"}


# -- end to end: the bytes of the files ---------------------------------------


@sentinel(report=DefaultReport(echo=False))
def _pipeline(n: int) -> int:
    report.info("loaded clients", clients={OPENAI_KEY: {"tier": "pro"}, ANTHROPIC_KEY: "x"})
    report.info("nested", batch={"items": [{AWS_KEY: n}]})
    session.set("owners_by_key", {AWS_KEY: "v", AWS_TEMP_KEY: "w"})
    session.set(GITHUB_TOKEN, "repo")
    session.add_tag(OPENAI_KEY)
    monitor.track("lookup", hits={JWT: 3}, certs={PEM: 1}, hooks={SLACK_TOKEN: 1})
    monitor.increment_metric(f"quota.{GOOGLE_KEY}", 2)
    report.log_llm_call(
        "gpt-4o-mini", 12, 3, 0.05, input=[{"role": "user", "content": {OPENAI_KEY: "q"}}]
    )
    report.log_evaluation_result("acc", 0.8, threshold=0.5, per_key={AWS_KEY: 0.8})
    send_message("reviewer", {ANTHROPIC_KEY: "draft"})
    return n


def _file_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    wal = path.with_name(path.name + "-wal")
    if wal.exists():
        data += wal.read_bytes()
    return data


def test_secret_keys_are_absent_from_the_store_and_jsonl_bytes(tmp_path: Path) -> None:
    """Run through the SQLite and JSONL sinks at once: no secret, as a key at
    any depth, is in either file's bytes; the masked keys are read back."""
    db, jsonl = tmp_path / "s.db", tmp_path / "r.jsonl"
    auditora.configure(
        sinks=[f"sqlite:{db}", f"jsonl:{jsonl}"], console=False, capture_content=True
    )
    assert _pipeline(1) == 1
    assert auditora.flush(10) is True
    auditora.shutdown()

    store_bytes, jsonl_bytes = _file_bytes(db), jsonl.read_bytes()
    for needle in NEEDLES:
        assert needle.encode() not in store_bytes
        assert needle.encode() not in jsonl_bytes
    assert MASK.encode() in jsonl_bytes

    with open_store(db) as store:
        logs = {row["message"]: row["fields"] for row in store.logs()}
        assert logs["loaded clients"] == {"clients": {MASK: {"tier": "pro"}, f"{MASK}#2": "x"}}
        assert logs["nested"] == {"batch": {"items": [{MASK: 1}]}}
        (sess,) = store.sessions()
        assert sess["state"] == {"owners_by_key": {MASK: "v", f"{MASK}#2": "w"}, MASK: "repo"}
        assert sess["tags"] == [MASK]
        (event,) = store.events()
        assert event["metadata"] == {"hits": {MASK: 3}, "certs": {MASK: MASK}, "hooks": {MASK: 1}}
        (llm,) = store.llm_calls()
        assert llm["input"] == [{"role": "user", "content": {MASK: "q"}}]
        (evaluation,) = store.evaluations()
        assert evaluation["extra"] == {"per_key": {MASK: 0.8}}
        (message,) = store.agent_messages()
        assert message["content"] == {MASK: "draft"}
        names = {row["name"] for row in store.metrics()}
        assert f"quota.{MASK}" in names

    lines: List[Dict[str, Any]] = [json.loads(line) for line in jsonl.read_text().splitlines()]
    (log,) = [r for r in lines if r["kind"] == "log" and r["message"] == "loaded clients"]
    assert log["fields"] == {"clients": {MASK: {"tier": "pro"}, f"{MASK}#2": "x"}}


class _RawReceiver:
    """An OTLP/HTTP endpoint on 127.0.0.1 keeping every request body as bytes."""

    def __init__(self) -> None:
        import gzip
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.bodies: Dict[str, List[bytes]] = {}
        bodies = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                bodies.setdefault(self.path, []).append(body)
                self.send_response(200)  # an empty protobuf response is a valid one
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )


def test_secret_keys_are_absent_from_what_an_otlp_receiver_gets() -> None:
    """Spans, logs and metrics exported over OTLP/HTTP hold no secret key."""
    pytest.importorskip("opentelemetry.sdk")
    pytest.importorskip("opentelemetry.exporter.otlp.proto.http")
    from auditora.integrations.otel import OTelSink

    receiver = _RawReceiver()
    receiver.thread.start()
    try:
        auditora.configure(capture_content=True)
        with capture() as records:
            _pipeline(2)
        sink = OTelSink(endpoint=receiver.endpoint)
        try:
            sink.export(list(records))
            assert sink.flush(10.0)
        finally:
            sink.close()
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()
        receiver.thread.join(timeout=10)
    assert {"/v1/traces", "/v1/logs", "/v1/metrics"} <= set(receiver.bodies)
    received = b"".join(b for bodies in receiver.bodies.values() for b in bodies)
    for needle in NEEDLES:
        assert needle.encode() not in received
    assert MASK.encode() in received
    assert b"quota." in received  # the metric went out, under its masked (then cleaned) name
