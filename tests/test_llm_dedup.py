"""When instrumentation layers stack, one LLM call is one record.

Two rules (``auditora.llm._instrument``): a patched SDK method called while
another patched method runs in the same context records nothing (the outer
one records); and a response id that one layer recorded is not recorded again
by another layer (the OpenAI SDK patch under LiteLLM's callback). One layer
seeing the same id twice records both: some servers answer constant ids.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any, Iterator

import pytest

import auditora
from offline_guard import offline, quiet_environment

openai = pytest.importorskip("openai")

from auditora import bifrost_sync  # noqa: E402
from auditora.integrations import openai as auditora_openai  # noqa: E402
from auditora.llm import reset_prices  # noqa: E402
from auditora.llm._instrument import CallTracker  # noqa: E402
from auditora.testing import capture  # noqa: E402
from fake_llm_server import OPENAI_USAGE, FakeLLMServer  # noqa: E402

# LiteLLM's own pydantic models warn on import and use; not ours to fix.
pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning:litellm.*"),
    pytest.mark.filterwarnings("ignore::UserWarning:pydantic.*"),
]

MESSAGES = [{"role": "user", "content": "Say hello"}]
U = OPENAI_USAGE


@pytest.fixture(scope="module")
def server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as srv:
        yield srv


@pytest.fixture(autouse=True)
def _instrumented() -> Iterator[None]:
    reset_prices()
    auditora.configure(console=False)
    auditora_openai.instrument()
    yield
    auditora_openai.uninstrument()


@pytest.fixture()
def client(server: FakeLLMServer) -> Iterator[Any]:
    c = openai.OpenAI(base_url=server.openai_base_url, api_key="sk-test", max_retries=0)
    yield c
    c.close()


def test_patched_method_built_on_another_patched_method_records_once(
    client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An SDK whose parse() calls create() (older openai versions did): one record, not two."""
    from openai.resources.chat.completions.completions import Completions

    auditora_openai.uninstrument()

    def parse_via_create(self: Any, **kwargs: Any) -> Any:
        return self.create(**kwargs)

    monkeypatch.setattr(Completions, "parse", parse_via_create)
    auditora_openai.instrument()  # now both parse and create are patched, one inside the other
    with capture() as records, bifrost_sync():
        client.chat.completions.parse(model="gpt-4o", messages=MESSAGES)
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES)  # still recorded
    assert [(r.input_tokens, r.output_tokens) for r in records.llm_calls] == [
        (U["input"], U["output"])
    ] * 2


def test_raw_response_wrapper_around_patched_create_is_one_record_with_usage(client: Any) -> None:
    """with_raw_response.create wraps the patched create: one record, with its usage."""
    with capture() as records, bifrost_sync():
        client.chat.completions.with_raw_response.create(model="gpt-4o", messages=MESSAGES).parse()
    assert [(r.input_tokens, r.response_id is not None) for r in records.llm_calls] == [
        (U["input"], True)
    ]


def _tracker(layer: str, response_id: str) -> CallTracker:
    tracker = CallTracker("openai", "chat", {"model": "gpt-4o"}, layer=layer)
    tracker.response_id = response_id
    tracker.input_tokens, tracker.output_tokens = 10, 2
    return tracker


def test_second_layer_recording_the_same_response_id_is_dropped() -> None:
    """The first layer to finish keeps the record; another layer's copy is dropped."""
    with capture() as records, bifrost_sync():
        _tracker("sdk", "chatcmpl-shared-1").finish()
        _tracker("litellm", "chatcmpl-shared-1").finish()
        _tracker("litellm", "chatcmpl-other-1").finish()
    assert [r.response_id for r in records.llm_calls] == ["chatcmpl-shared-1", "chatcmpl-other-1"]


def test_one_layer_seeing_an_id_again_records_both_calls() -> None:
    """Servers with constant ids: two calls through one layer stay two records."""
    with capture() as records, bifrost_sync():
        _tracker("sdk", "chatcmpl-constant").finish()
        _tracker("sdk", "chatcmpl-constant").finish()
    assert len(records.llm_calls) == 2


def test_calls_without_a_response_id_are_never_merged() -> None:
    """No id (a failed call, a stream closed early): nothing to deduplicate on."""
    with capture() as records, bifrost_sync():
        CallTracker("openai", "chat", {"model": "gpt-4o"}, layer="sdk").finish()
        CallTracker("openai", "chat", {"model": "gpt-4o"}, layer="litellm").finish()
    assert len(records.llm_calls) == 2


@contextlib.contextmanager
def _litellm_over_the_openai_sdk(server: FakeLLMServer) -> Iterator[Any]:
    """LiteLLM with a custom provider that calls the (instrumented) OpenAI SDK."""
    quiet_environment()
    with offline() as attempts:
        litellm = pytest.importorskip("litellm")
    assert not attempts, attempts
    from auditora.integrations import litellm as auditora_litellm

    sdk = openai.OpenAI(base_url=server.openai_base_url, api_key="sk-test", max_retries=0)

    class SdkBacked(litellm.CustomLLM):  # type: ignore[misc]
        def completion(self, *args: Any, **kwargs: Any) -> Any:
            answer = sdk.chat.completions.create(model="gpt-4o", messages=kwargs["messages"])
            return litellm.ModelResponse(**answer.model_dump())

    saved = list(litellm.custom_provider_map)
    litellm.custom_provider_map = [{"provider": "sdk-backed", "custom_handler": SdkBacked()}]
    auditora_litellm.instrument()
    try:
        with offline() as attempts:
            yield litellm
        assert not attempts, f"LiteLLM tried to reach outside 127.0.0.1: {attempts}"
    finally:
        auditora_litellm.uninstrument()
        litellm.custom_provider_map = saved
        sdk.close()


def test_litellm_callback_over_the_patched_openai_sdk_gives_one_record(
    server: FakeLLMServer,
) -> None:
    """Both layers see the call (LiteLLM's hook and the SDK patch): one record, with usage."""
    with _litellm_over_the_openai_sdk(server) as litellm, capture() as records:
        with bifrost_sync() as run:
            answer = litellm.completion(model="sdk-backed/gpt-4o", messages=MESSAGES)
        # LiteLLM's sync hook runs in a thread of its own: wait for it, and a bit more
        # for a duplicate to show.
        deadline = time.monotonic() + 10
        while not records.llm_calls and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.3)
        calls = list(records.llm_calls)
    assert [(r.response_id, r.input_tokens, r.run_id) for r in calls] == [
        (answer.id, U["input"], run.run_id)
    ]
