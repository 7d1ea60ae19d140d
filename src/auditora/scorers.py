"""Scorers for :func:`auditora.experiments.run`: ``(output, item) -> float | bool | Score``.

Deterministic (standard library only): :func:`exact_match`, :func:`contains`,
:func:`regex_match`, :func:`json_valid`, :func:`json_schema`,
:func:`numeric_close`, :func:`similarity` and :func:`levenshtein`. Model-graded:
:func:`llm_judge`, which calls an OpenAI- or Anthropic-compatible client you
give it, traces each call and caches the replies on disk. Over an agent's
steps: :func:`tool_sequence`, :func:`forbidden_tools`, :func:`max_steps`,
:func:`max_cost`, :func:`max_latency`, :func:`no_loops`, :func:`handoff_to`
(from :mod:`auditora._trajectory_scorers`; given the item's trajectory).

``item`` is an :class:`~auditora.experiments.Item` (its ``expected`` is used),
or the expected value itself when a scorer is called by hand. The factories
(``regex_match(...)``, ``json_schema(...)``, ...) return scorers; their metric
name is the scorer's ``name`` attribute. A scorer's ``direction`` says which
way is better (all of these: ``"higher"``). See ``docs/experiments.md``.
"""

from __future__ import annotations

import difflib
import hashlib
import inspect
import json
import math
import os
import re
import time
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple, Union

from ._trajectory_scorers import (
    forbidden_tools,
    handoff_to,
    max_cost,
    max_latency,
    max_steps,
    no_loops,
    tool_sequence,
)
from .experiments._model import Score

__all__ = [
    "DEFAULT_JUDGE_CACHE",
    "JUDGE_SYSTEM_PROMPT",
    "contains",
    "exact_match",
    "forbidden_tools",
    "handoff_to",
    "json_schema",
    "json_valid",
    "levenshtein",
    "levenshtein_distance",
    "llm_judge",
    "max_cost",
    "max_latency",
    "max_steps",
    "no_loops",
    "numeric_close",
    "regex_match",
    "schema_errors",
    "similarity",
    "tool_sequence",
]


def _expected(item: Any) -> Any:
    """The expected value: ``item.expected`` for an item, else ``item`` itself."""
    if hasattr(item, "expected") and hasattr(item, "input"):
        return item.expected
    return item


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def _named(fn: Callable[..., Any], name: str) -> Callable[..., Any]:
    fn.name = name  # type: ignore[attr-defined]
    fn.__name__ = name
    return fn


# -- deterministic -------------------------------------------------------------


def exact_match(output: Any, item: Any) -> bool:
    """True when the output equals the expected value (``==``; no normalization)."""
    return bool(output == _expected(item))


def contains(output: Any, item: Any) -> bool:
    """True when the expected text (or every text of an expected list) is in the output."""
    expected = _expected(item)
    text = _text(output)
    if isinstance(expected, (list, tuple)):
        return all(_text(e) in text for e in expected)
    return _text(expected) in text


def regex_match(pattern: Union[str, re.Pattern[str]], flags: int = 0) -> Callable[..., bool]:
    """A scorer: True when ``pattern`` matches somewhere in the output (``re.search``)."""
    compiled = re.compile(pattern, flags) if isinstance(pattern, str) else pattern

    def regex_match(output: Any, item: Any = None) -> bool:
        return compiled.search(_text(output)) is not None

    return _named(regex_match, "regex_match")


def _parse_json(output: Any) -> Tuple[bool, Any, str]:
    """``(ok, value, error)``: a string is parsed, anything else is taken as it is."""
    if isinstance(output, (bytes, bytearray)):
        output = output.decode("utf-8", "replace")
    if not isinstance(output, str):
        return True, output, ""
    try:
        return True, json.loads(output), ""
    except ValueError as exc:
        return False, None, f"not JSON: {exc}"


def json_valid(output: Any, item: Any = None) -> Score:
    """1 when the output is a JSON text (or already a parsed value), else 0 with the reason."""
    ok, _, error = _parse_json(output)
    return Score(ok, label="valid" if ok else "invalid", explanation=error or None)


#: The JSON Schema keywords :func:`json_schema` checks (others are refused).
SCHEMA_KEYWORDS = frozenset(
    {
        "type", "enum", "const", "properties", "required", "additionalProperties", "items",
        "minItems", "maxItems", "uniqueItems", "minLength", "maxLength", "pattern", "minimum",
        "maximum", "exclusiveMinimum", "exclusiveMaximum", "anyOf", "oneOf", "allOf", "not",
        "$schema", "title", "description", "default", "examples", "$comment",
    }
)  # fmt: skip

_TYPES: Dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: (
        (isinstance(v, int) and not isinstance(v, bool))
        or (isinstance(v, float) and v.is_integer())
    ),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
}


def _check_schema(schema: Any, where: str = "#") -> None:
    if isinstance(schema, bool):
        return
    if not isinstance(schema, Mapping):
        raise ValueError(f"schema {where}: must be an object or a bool")
    unknown = sorted(set(schema) - SCHEMA_KEYWORDS)
    if unknown:
        raise ValueError(
            f"schema {where}: unsupported keyword(s) {', '.join(unknown)} "
            "(auditora.scorers.json_schema checks a subset: see docs/experiments.md)"
        )
    types = schema.get("type")
    for t in types if isinstance(types, list) else [types] if types is not None else []:
        if t not in _TYPES:
            raise ValueError(f"schema {where}: unknown type {t!r}")
    if "pattern" in schema:
        re.compile(schema["pattern"])
    for key, sub in (schema.get("properties") or {}).items():
        _check_schema(sub, f"{where}/properties/{key}")
    for key in ("items", "additionalProperties", "not"):
        if key in schema and not isinstance(schema[key], bool):
            _check_schema(schema[key], f"{where}/{key}")
    for key in ("anyOf", "oneOf", "allOf"):
        for i, sub in enumerate(schema.get(key) or []):
            _check_schema(sub, f"{where}/{key}/{i}")


def schema_errors(value: Any, schema: Any, path: str = "$") -> List[str]:
    """The ways ``value`` breaks ``schema`` (the subset in :data:`SCHEMA_KEYWORDS`), each as
    ``"$.path: reason"``; an empty list when it conforms."""
    if schema is True:
        return []
    if schema is False:
        return [f"{path}: no value is allowed here"]
    errors: List[str] = []
    types = schema.get("type")
    if types is not None:
        names = types if isinstance(types, list) else [types]
        if not any(_TYPES[t](value) for t in names):
            return [f"{path}: expected {' or '.join(names)}, got {_json_type(value)}"]
    if "enum" in schema and not any(_same(value, e) for e in schema["enum"]):
        errors.append(f"{path}: {value!r} is not one of {schema['enum']!r}")
    if "const" in schema and not _same(value, schema["const"]):
        errors.append(f"{path}: must be {schema['const']!r}")
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            errors.append(f"{path}: shorter than {schema['minLength']}")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            errors.append(f"{path}: longer than {schema['maxLength']}")
        if "pattern" in schema and re.search(schema["pattern"], value) is None:
            errors.append(f"{path}: does not match {schema['pattern']!r}")
    if _TYPES["number"](value):
        for key, bad in (
            ("minimum", lambda v, b: v < b),
            ("maximum", lambda v, b: v > b),
            ("exclusiveMinimum", lambda v, b: v <= b),
            ("exclusiveMaximum", lambda v, b: v >= b),
        ):
            if key in schema and bad(value, schema[key]):
                errors.append(f"{path}: {value!r} breaks {key} {schema[key]!r}")
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        for key in schema.get("required") or []:
            if key not in value:
                errors.append(f"{path}: missing required property {key!r}")
        extra = schema.get("additionalProperties", True)
        for key, sub in value.items():
            if key in props:
                errors += schema_errors(sub, props[key], f"{path}.{key}")
            elif extra is False:
                errors.append(f"{path}: unexpected property {key!r}")
            elif isinstance(extra, Mapping):
                errors += schema_errors(sub, extra, f"{path}.{key}")
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            errors.append(f"{path}: fewer than {schema['minItems']} items")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            errors.append(f"{path}: more than {schema['maxItems']} items")
        if schema.get("uniqueItems"):
            seen = [json.dumps(v, sort_keys=True, default=repr) for v in value]
            if len(set(seen)) != len(seen):
                errors.append(f"{path}: items are not unique")
        if "items" in schema:
            for i, sub in enumerate(value):
                errors += schema_errors(sub, schema["items"], f"{path}[{i}]")
    if "allOf" in schema:
        for sub in schema["allOf"]:
            errors += schema_errors(value, sub, path)
    if "anyOf" in schema and not any(not schema_errors(value, s, path) for s in schema["anyOf"]):
        errors.append(f"{path}: matches none of anyOf")
    if "oneOf" in schema:
        matches = sum(1 for s in schema["oneOf"] if not schema_errors(value, s, path))
        if matches != 1:
            errors.append(f"{path}: matches {matches} of oneOf, not exactly 1")
    if "not" in schema and not schema_errors(value, schema["not"], path):
        errors.append(f"{path}: must not match the 'not' schema")
    return errors


def _same(a: Any, b: Any) -> bool:
    """JSON equality: ``True`` is not ``1``."""
    return (type(a) is type(b) and a == b) or (
        _TYPES["number"](a) and _TYPES["number"](b) and a == b
    )


def _json_type(value: Any) -> str:
    for name in ("null", "boolean", "integer", "number", "string", "array", "object"):
        if _TYPES[name](value):
            return name
    return type(value).__name__


def json_schema(schema: Mapping[str, Any]) -> Callable[..., Score]:
    """A scorer: 1 when the output (a JSON text, or a parsed value) conforms to ``schema``.

    A documented subset of JSON Schema is checked (:data:`SCHEMA_KEYWORDS`:
    types, enum/const, properties/required/additionalProperties, items and
    array bounds, string length and pattern, numeric bounds, anyOf/oneOf/
    allOf/not); a schema using any other keyword (``$ref``, ``format``, ...)
    is refused with ``ValueError`` rather than half-checked. The explanation
    lists the first errors.
    """
    _check_schema(schema)

    def json_schema(output: Any, item: Any = None) -> Score:
        ok, value, error = _parse_json(output)
        if not ok:
            return Score(0.0, label="invalid", explanation=error)
        errors = schema_errors(value, schema)
        if errors:
            return Score(0.0, label="invalid", explanation="; ".join(errors[:5]))
        return Score(1.0, label="valid")

    return _named(json_schema, "json_schema")


def numeric_close(tolerance: float = 1e-6, *, relative: bool = False) -> Callable[..., Score]:
    """A scorer: 1 when the output, as a number, is within ``tolerance`` of the expected
    (``relative``: of ``tolerance * |expected|``); 0 otherwise, or when either is not a number."""
    if not isinstance(tolerance, (int, float)) or tolerance < 0 or math.isnan(tolerance):
        raise ValueError(f"tolerance must be a number >= 0, not {tolerance!r}")

    def numeric_close(output: Any, item: Any) -> Score:
        try:
            got, want = _number(output), _number(_expected(item))
        except ValueError as exc:
            return Score(0.0, label="not a number", explanation=str(exc))
        bound = tolerance * abs(want) if relative else tolerance
        diff = abs(got - want)
        return Score(diff <= bound, explanation=f"|{got!r} - {want!r}| = {diff:.6g}")

    return _named(numeric_close, "numeric_close")


def _number(value: Any) -> float:
    if isinstance(value, bool) or value is None:
        raise ValueError(f"{value!r} is not a number")
    try:
        number = float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError):
        raise ValueError(f"{_text(value)[:80]!r} is not a number") from None
    if math.isnan(number):
        raise ValueError("NaN is not a number to compare")
    return number


def similarity(output: Any, item: Any) -> float:
    """The :class:`difflib.SequenceMatcher` ratio of the output and expected texts (0 to 1)."""
    a, b = _text(output), _text(_expected(item))
    if not a and not b:
        return 1.0
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()


def levenshtein_distance(a: str, b: str) -> int:
    """The edit distance (insertions, deletions, substitutions) between two strings."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def levenshtein(output: Any, item: Any) -> float:
    """``1 - distance / longer length`` of the output and expected texts: 1 when equal,
    0 when nothing is shared (higher is better, as for every scorer here)."""
    a, b = _text(output), _text(_expected(item))
    longest = max(len(a), len(b))
    return 1.0 if longest == 0 else 1.0 - levenshtein_distance(a, b) / longest


# -- trajectory scorers ----------------------------------------------------------
# tool_sequence, forbidden_tools, max_steps, max_cost, max_latency, no_loops and
# handoff_to (imported above from auditora._trajectory_scorers) score the
# trajectory of the item's trace: the harness passes it to scorers that carry
# ``needs_trajectory = True`` instead of the output.


# -- model-graded ----------------------------------------------------------------

#: The judge's instructions (the rubric, input, expected and output follow in the user turn).
JUDGE_SYSTEM_PROMPT = (
    "You are an impartial evaluator. Grade the OUTPUT against the RUBRIC. "
    'Reply with one JSON object and nothing else: {"score": <number from 0 to 1>, '
    '"label": "<one or two words>", "explanation": "<one sentence>"}.'
)

#: Where judge replies are cached (``AUDITORA_JUDGE_CACHE`` overrides it).
DEFAULT_JUDGE_CACHE = os.path.join(".auditora-cache", "judge")

_NUMBER = re.compile(r"(?i)score\W{0,3}(-?\d+(?:\.\d+)?)|^\s*(-?\d+(?:\.\d+)?)\s*(?:/|$)")


def _judge_prompt(rubric: str, output: Any, item: Any) -> str:
    parts = [f"RUBRIC:\n{rubric}"]
    if hasattr(item, "input"):
        parts.append(f"INPUT:\n{_dump(item.input)}")
    expected = _expected(item)
    if expected is not None:
        parts.append(f"EXPECTED:\n{_dump(expected)}")
    parts.append(f"OUTPUT:\n{_dump(output)}")
    return "\n\n".join(parts)


def _dump(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=repr, ensure_ascii=False)


def parse_judgement(text: str) -> Score:
    """A :class:`Score` from a judge's reply: a JSON object with ``score`` (and ``label``,
    ``explanation``), else a number after "score" or at the start. ``ValueError`` if none."""
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        try:
            data = json.loads(text[start : end + 1])
        except ValueError:
            data = None
        if isinstance(data, dict) and isinstance(data.get("score"), (int, float, bool)):
            label = data.get("label")
            why = data.get("explanation")
            return Score(
                float(data["score"]),
                label=str(label) if label is not None else None,
                explanation=str(why) if why is not None else None,
            )
    m = _NUMBER.search(text)
    if m is not None:
        return Score(float(m.group(1) or m.group(2)), explanation=text.strip()[:500] or None)
    raise ValueError(f"the judge's reply has no score: {text[:200]!r}")


class _Cache:
    """Replies on disk, one JSON file per key (written atomically, so concurrent runs are safe)."""

    def __init__(self, directory: str) -> None:
        self.directory = directory

    def _path(self, key: str) -> str:
        return os.path.join(self.directory, key[:2], key + ".json")

    def get(self, key: str) -> Optional[Dict[str, Any]]:
        try:
            with open(self._path(key), encoding="utf-8") as f:
                data = json.load(f)
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) and isinstance(data.get("text"), str) else None

    def put(self, key: str, value: Dict[str, Any]) -> None:
        path = self._path(key)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{os.getpid()}.{time.monotonic_ns()}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(value, f)
        os.replace(tmp, path)


def _flavor(client: Any) -> Tuple[str, Callable[..., Any]]:
    chat = getattr(getattr(client, "chat", None), "completions", None)
    if chat is not None and callable(getattr(chat, "create", None)):
        return "openai", chat.create
    messages = getattr(client, "messages", None)
    if messages is not None and callable(getattr(messages, "create", None)):
        return "anthropic", messages.create
    raise TypeError(
        "llm_judge needs an OpenAI-compatible client (client.chat.completions.create) "
        "or an Anthropic-compatible one (client.messages.create)"
    )


def _accepts(fn: Callable[..., Any], name: str) -> bool:
    """Whether ``fn`` takes the keyword ``name`` (True when its signature is unknown)."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return True
    return name in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def _reply(flavor: str, response: Any) -> Dict[str, Any]:
    """Text, model, token counts and id of a response, in either API's shape."""

    def get(obj: Any, name: str) -> Any:
        return obj.get(name) if isinstance(obj, Mapping) else getattr(obj, name, None)

    usage = get(response, "usage")
    if flavor == "openai":
        choices = get(response, "choices") or []
        message = get(choices[0], "message") if choices else None
        text = get(message, "content") if message is not None else None
        tokens = (get(usage, "prompt_tokens"), get(usage, "completion_tokens"))
    else:
        blocks = get(response, "content") or []
        text = "".join(get(b, "text") or "" for b in blocks if get(b, "type") == "text")
        tokens = (get(usage, "input_tokens"), get(usage, "output_tokens"))
    return {
        "text": text if isinstance(text, str) else "",
        "model": get(response, "model"),
        "input_tokens": tokens[0] if isinstance(tokens[0], int) else None,
        "output_tokens": tokens[1] if isinstance(tokens[1], int) else None,
        "id": get(response, "id"),
    }


def llm_judge(
    client: Any,
    model: str,
    rubric: str,
    *,
    name: str = "llm_judge",
    system_prompt: str = JUDGE_SYSTEM_PROMPT,
    max_tokens: int = 256,
    temperature: float = 0.0,
    cache: Union[bool, str, os.PathLike[str]] = True,
    threshold: Optional[float] = None,
    parse: Callable[[str], Score] = parse_judgement,
) -> Callable[..., Any]:
    """A scorer that asks a model to grade the output against ``rubric``.

    ``client`` is an OpenAI-compatible client (``client.chat.completions.create``:
    OpenAI, Azure, vLLM, Ollama, LiteLLM's proxy, ...) or an Anthropic one
    (``client.messages.create``); an async client gives an async scorer. The
    reply must hold a score (:func:`parse_judgement`, or your ``parse``).

    Each call is a run named ``name`` (run type ``evaluator``) in the item's
    trace, with the LLM call recorded (tokens, latency, cost), once even when
    the SDK is also instrumented. Replies are cached on disk by a hash of the
    model, prompts and settings (``cache=True``: ``$AUDITORA_JUDGE_CACHE`` or
    ``.auditora-cache/judge``; a path; or False), so a rerun is reproducible and
    free: a cached verdict makes no call and its run says ``cached``.
    """
    flavor, create = _flavor(client)
    if not isinstance(model, str) or not model:
        raise ValueError("llm_judge needs a model name")
    if not isinstance(rubric, str) or not rubric.strip():
        raise ValueError("llm_judge needs a rubric")
    # Some SDK versions' messages.create no longer take a temperature: send it only if taken.
    takes_temperature = _accepts(create, "temperature")
    is_async = inspect.iscoroutinefunction(inspect.unwrap(create))
    store: Optional[_Cache] = None
    if cache:
        directory = (
            os.fspath(cache)
            if not isinstance(cache, bool)
            else os.environ.get("AUDITORA_JUDGE_CACHE") or DEFAULT_JUDGE_CACHE
        )
        store = _Cache(directory)

    def request(output: Any, item: Any) -> Tuple[Dict[str, Any], str]:
        prompt = _judge_prompt(rubric, output, item)
        if flavor == "openai":
            kwargs: Dict[str, Any] = {
                "model": model,
                "messages": [
                    {"role": "system", "content": system_prompt},
                    {"role": "user", "content": prompt},
                ],
                "max_tokens": max_tokens,
                "temperature": temperature,
            }
        else:
            kwargs = {
                "model": model,
                "system": system_prompt,
                "messages": [{"role": "user", "content": prompt}],
                "max_tokens": max_tokens,
            }
            if takes_temperature:
                kwargs["temperature"] = temperature
        key = hashlib.sha256(
            json.dumps([flavor, kwargs], sort_keys=True, default=repr).encode()
        ).hexdigest()
        return kwargs, key

    def record(reply: Dict[str, Any], started: float, run: Any) -> None:
        from .core._proxies import report
        from .llm._instrument import _duplicate

        if run is not None:
            run.attributes = {**(run.attributes or {}), "judge.model": model}
        if _duplicate(reply.get("id"), "auditora.scorers"):
            return  # the instrumented SDK recorded this call already
        report.log_llm_call(
            reply.get("model") or model,
            reply.get("input_tokens"),
            reply.get("output_tokens"),
            time.perf_counter() - started,
            provider=flavor,
            operation="chat",
            response_id=reply.get("id"),
        )

    def failed(exc: BaseException, started: float) -> None:
        from .core._proxies import report

        report.log_llm_call(
            model,
            response_time=time.perf_counter() - started,
            success=False,
            provider=flavor,
            error=f"{type(exc).__name__}: {exc}",
        )

    def cached(key: str, run: Any) -> Optional[Score]:
        hit = store.get(key) if store is not None else None
        if hit is None:
            return None
        if run is not None:
            run.attributes = {**(run.attributes or {}), "judge.model": model, "judge.cached": True}
        return parse(hit["text"])

    def remember(key: str, reply: Dict[str, Any]) -> None:
        if store is not None:
            store.put(key, {"text": reply["text"], "model": reply.get("model")})

    from .core._bifrost import bifrost_async, bifrost_sync

    if is_async:

        async def judge_async(output: Any, item: Any) -> Score:
            kwargs, key = request(output, item)
            async with bifrost_async(name=name, kind="evaluator") as run:
                hit = cached(key, run)
                if hit is not None:
                    return hit
                started = time.perf_counter()
                try:
                    response = await create(**kwargs)
                except Exception as exc:
                    failed(exc, started)
                    raise
                reply = _reply(flavor, response)
                record(reply, started, run)
                score = parse(reply["text"])
                remember(key, reply)
                return score

        scorer: Callable[..., Any] = judge_async
    else:

        def judge(output: Any, item: Any) -> Score:
            kwargs, key = request(output, item)
            with bifrost_sync(name=name, kind="evaluator") as run:
                hit = cached(key, run)
                if hit is not None:
                    return hit
                started = time.perf_counter()
                try:
                    response = create(**kwargs)
                except Exception as exc:
                    failed(exc, started)
                    raise
                reply = _reply(flavor, response)
                record(reply, started, run)
                score = parse(reply["text"])
                remember(key, reply)  # only a reply that parsed is kept
                return score

        scorer = judge
    _named(scorer, name)
    scorer.threshold = threshold  # type: ignore[attr-defined]
    return scorer
