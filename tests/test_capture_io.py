"""Inputs and outputs: what a run keeps of its call when capture is on."""

from __future__ import annotations

import asyncio
from typing import Any, Dict, Iterator, List

import pytest

import auditora
from auditora import sentinel
from auditora.testing import capture

SECRET = "sk-proj-" + "a1B2c3D4" * 5


@pytest.fixture(autouse=True)
def _quiet() -> Iterator[None]:
    auditora.configure(console=False)
    yield


def test_nothing_is_captured_by_default() -> None:
    """With capture_content off and no capture=, runs keep no inputs or output."""

    @sentinel()
    def f(x: int) -> int:
        return x + 1

    with capture() as records:
        f(1)
    assert (records.runs[0].inputs, records.runs[0].output) == (None, None)


def test_capture_content_switch_keeps_arguments_by_name_and_the_return_value() -> None:
    """configure(capture_content=True) captures positional and keyword arguments by
    parameter name (defaults not filled in) and the return value."""
    auditora.configure(capture_content=True)

    @sentinel()
    def f(question: str, k: int = 3, *, model: str = "m") -> Dict[str, Any]:
        return {"answer": question.upper(), "k": k}

    with capture() as records:
        f("why?", model="gpt")
    run = records.runs[0]
    assert run.inputs == {"question": "why?", "model": "gpt"}
    assert run.output == {"answer": "WHY?", "k": 3}


def test_per_sentinel_override_beats_the_global_switch() -> None:
    """capture=True captures with the switch off; capture=False never captures."""

    @sentinel(capture=True)
    def on(x: int) -> int:
        return x

    @sentinel(capture=False)
    def off(x: int) -> int:
        return x

    with capture() as records:
        on(1)
    assert records.runs[0].inputs == {"x": 1}
    auditora.configure(capture_content=True)
    with capture() as records:
        off(1)
    assert (records.runs[0].inputs, records.runs[0].output) == (None, None)


def test_self_and_cls_are_left_out_and_extra_arguments_keep_their_names() -> None:
    """Methods do not capture self/cls; *args and **kwargs keep their own names."""

    class Agent:
        @sentinel(capture=True)
        def act(self, goal: str, *steps: str, **options: Any) -> str:
            return goal

        @sentinel(capture=True)
        @classmethod
        def build(cls, name: str) -> str:
            return name

    with capture() as records:
        Agent().act("plan", "a", "b", retries=2)
        Agent.build("x")
    act, build = records.runs
    assert act.inputs == {"goal": "plan", "steps": ["a", "b"], "retries": 2}
    assert build.inputs == {"name": "x"}


def test_captured_values_do_not_change_when_the_objects_are_mutated_later() -> None:
    """Inputs are converted when the run starts and the output when it ends: mutating
    the argument or the returned object afterwards changes nothing recorded."""

    @sentinel(capture=True)
    def f(items: List[int], meta: Dict[str, str]) -> Dict[str, List[int]]:
        return {"items": items}

    items, meta = [1, 2], {"a": "b"}
    with capture() as records:
        out = f(items, meta)
        items.append(3)
        meta["c"] = "d"
        out["items"].append(4)
        out["new"] = []
    run = records.runs[0]
    assert run.inputs == {"items": [1, 2], "meta": {"a": "b"}}
    assert run.output == {"items": [1, 2]}


def test_captured_values_are_redacted_and_bounded() -> None:
    """Secrets in values and under sensitive names are masked; long strings and large
    collections are cut by the serialization limits."""
    auditora.configure(max_string_length=50, max_items=5)

    @sentinel(capture=True)
    def f(api_key: str, prompt: str, numbers: List[int]) -> str:
        return "token " + SECRET

    with capture() as records:
        f("plain-looking", "x" * 500, list(range(100)))
    run = records.runs[0]
    assert SECRET not in repr(run.output) and "plain-looking" not in repr(run.inputs)
    assert len(run.inputs["prompt"]) < 100
    assert len(run.inputs["numbers"]) <= 6


def test_unserializable_arguments_become_their_repr() -> None:
    """An object with no JSON form is kept as its (bounded) repr, and never breaks the call."""

    class Thing:
        def __repr__(self) -> str:
            return "<Thing>"

    @sentinel(capture=True)
    def f(thing: Thing) -> Thing:
        return thing

    with capture() as records:
        f(Thing())
    assert records.runs[0].inputs == {"thing": "<Thing>"}
    assert records.runs[0].output == "<Thing>"


def test_coroutines_capture_their_awaited_result() -> None:
    """A coroutine's output is what it returned, not the coroutine object."""

    @sentinel(capture=True)
    async def f(x: int) -> int:
        await asyncio.sleep(0)
        return x * 2

    with capture() as records:
        asyncio.run(f(21))
    assert (records.runs[0].inputs, records.runs[0].output) == ({"x": 21}, 42)


def test_generators_keep_a_count_and_the_first_items() -> None:
    """A generator's output counts every item and keeps the first 20."""

    @sentinel(capture=True)
    def numbers(n: int) -> Iterator[int]:
        yield from range(n)

    with capture() as records:
        assert sum(numbers(100)) == 4950
    assert records.runs[0].output == {"yielded": 100, "items": list(range(20))}


def test_text_generators_keep_the_text_they_streamed() -> None:
    """When every item is text (a streamed answer), the output is the joined text."""

    @sentinel(capture=True)
    async def stream() -> Any:
        for piece in ("Hel", "lo", "!"):
            yield piece

    async def main() -> List[str]:
        return [p async for p in stream()]

    with capture() as records:
        asyncio.run(main())
    assert records.runs[0].output == {"yielded": 3, "text": "Hello!"}


def test_captured_inputs_reach_the_store(tmp_path: Any) -> None:
    """Inputs and output are stored as JSON and read back as values."""
    path = str(tmp_path / "s.db")
    auditora.configure(sinks=[f"sqlite:{path}"], capture_content=True)

    @sentinel()
    def f(q: str) -> Dict[str, int]:
        return {"n": len(q)}

    f("hello")
    assert auditora.flush()
    from auditora.store import open_store

    with open_store(path) as store:
        (run,) = store.runs()
    assert (run["inputs"], run["output"]) == ({"q": "hello"}, {"n": 5})
