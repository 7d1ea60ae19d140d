"""Safe, bounded conversion of records and arbitrary user values to JSON-ready data.

Runs off the hot path (in the recorder's threads). The rules, documented in
``docs/records.md``:

- ``None``, ``bool``, ``int``, ``str`` and finite ``float`` pass through; NaN and
  the infinities become the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"``.
- dicts (any mapping) become dicts with string keys; lists, tuples, sets,
  frozensets and deques become lists.
- anything else becomes its ``repr``, masked by ``redaction.redact_text`` (a
  ``repr`` shows what ``redact`` could not look inside); a ``repr`` that raises
  becomes ``"<unrepresentable TypeName>"``. The same holds for a dict key that
  is not a string, number, bool or None.
- a string that is not valid Unicode (a lone surrogate, as ``"\\ud800"`` or a
  badly decoded byte gives) has each lone surrogate replaced by U+FFFD, in keys
  and values alike: no sink can write such a string as UTF-8.
- strings longer than ``max_string_length`` are cut and end with
  ``"…[+N chars]"``; containers wider than ``max_items`` keep the first items
  plus a marker (``"…": "+N items"`` in a dict, ``"…[+N items]"`` in a list);
  values nested deeper than ``max_depth`` become ``"<max depth>"``; a container
  met again inside itself becomes ``"<cycle>"``; once ``max_nodes`` values were
  visited for one record the rest become ``"<size limit>"``.

Nothing here raises into the caller: :func:`to_jsonable` and :func:`sanitize`
catch every error and fall back to a placeholder.
"""

from __future__ import annotations

import json
import json.encoder
import math
import re
from collections import deque
from collections.abc import Mapping
from itertools import chain
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple

from ._config import settings
from .records import SCHEMA_VERSION
from .redaction import redact_text, redact_texts

__all__ = [
    "Part",
    "captured",
    "captured_arguments",
    "dicts",
    "dumps",
    "json_text",
    "json_texts",
    "sanitize",
    "scalar",
    "serialize",
    "to_jsonable",
    "to_jsonable_many",
]

#: Record fields holding user-provided values: redacted, then sanitized.
USER_FIELDS = frozenset(
    {
        "fields",
        "metadata",
        "state",
        "extra",
        "request",
        "input",
        "inputs",
        "output",
        "system_instructions",
        "content",
        "attributes",
        "tags",
        "metrics",
    }
)

_SIMPLE = (str, int, bool, type(None))
_c_make_encoder: Any = getattr(json.encoder, "c_make_encoder", None)
_encode_str: Any = json.encoder.encode_basestring
_SEQUENCES = (list, tuple, set, frozenset, deque)
_TRUNC_KEY = "…"

_redact: Optional[Callable[[Any], Any]] = None
_redact_loaded = False
# The redaction module's own redact, masking_profile and is_sensitive_key: the
# fast paths skip redact only while _redact is that very function.
_module_redact: Optional[Callable[[Any], Any]] = None
_profile: Optional[Callable[[], Any]] = None
_sensitive: Optional[Callable[[Any], bool]] = None


def _redactor() -> Optional[Callable[[Any], Any]]:
    """``auditora.redaction.redact`` if that module exists (imported once), else None."""
    global _redact, _redact_loaded, _module_redact, _profile, _sensitive
    if not _redact_loaded:
        try:
            from . import redaction  # type: ignore[attr-defined,unused-ignore]

            _profile = getattr(redaction, "masking_profile", None)
            _sensitive = getattr(redaction, "is_sensitive_key", None)
            _redact = _module_redact = redaction.redact
        except Exception:  # ImportError, or a broken module: never break serialization
            _redact = None
        # Set last: another thread never sees "loaded" before _redact is set.
        _redact_loaded = True
    return _redact


def _masking() -> Optional[Tuple[bool, Tuple[str, ...]]]:
    """What redaction may change in a plain value (``redaction.masking_profile()``);
    None when it cannot be told (anything may change: call the redactor).

    With no redactor nothing is masked, so nothing changes.
    """
    redact = _redactor()
    if redact is None:
        return (False, ())
    profile = _profile
    if redact is not _module_redact or profile is None or _sensitive is None:
        return None
    try:
        out: Optional[Tuple[bool, Tuple[str, ...]]] = profile()
    except Exception:
        return None
    return out


def _type_name(value: Any) -> str:
    try:
        return type(value).__qualname__
    except Exception:
        return "object"


def _safe_repr(value: Any, limit: int) -> str:
    try:
        text = repr(value)
        if not isinstance(text, str):
            raise TypeError("__repr__ returned a non-string")
    except Exception:
        return f"<unrepresentable {_type_name(value)}>"
    # Masked before the cut: a secret cut short no longer matches its pattern.
    return _cut(redact_text(text), limit)


_SURROGATE = re.compile("[\ud800-\udfff]")


def _valid(text: str) -> str:
    """``text`` with each lone surrogate replaced by U+FFFD (most texts: unchanged)."""
    if text.isascii() or _SURROGATE.search(text) is None:
        return text
    return _SURROGATE.sub("\ufffd", text)


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]}…[+{len(text) - limit} chars]"


class _Walker:
    """One bounded walk: limits read once, a node budget, the current path for cycles."""

    __slots__ = ("budget", "max_depth", "max_items", "max_string", "path")

    def __init__(self) -> None:
        self.max_string = max(16, int(settings.max_string_length))
        self.max_items = max(1, int(settings.max_items))
        # Bounded well below the interpreter's recursion limit.
        self.max_depth = min(max(1, int(settings.max_depth)), 200)
        self.budget = max(1, int(settings.max_nodes))
        self.path: set[int] = set()

    def walk(self, value: Any, depth: int) -> Any:
        self.budget -= 1
        if self.budget < 0:
            return "<size limit>"
        t = type(value)
        if t is str:
            value = _valid(value)
            return value if len(value) <= self.max_string else _cut(value, self.max_string)
        if t is int or t is bool or value is None:
            return value
        if t is float:
            if math.isfinite(value):
                return value
            return "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")
        if isinstance(value, (dict, Mapping, *_SEQUENCES)):
            if depth >= self.max_depth:
                return "<max depth>"
            key = id(value)
            if key in self.path:
                return "<cycle>"
            self.path.add(key)
            try:
                if isinstance(value, (dict, Mapping)):
                    return self._mapping(value, depth)
                return self._sequence(value, depth)
            finally:
                self.path.discard(key)
        if isinstance(value, _SIMPLE):  # subclasses of str/int: keep the plain value
            if isinstance(value, str):
                return _cut(_valid(str.__str__(value)), self.max_string)
            return bool(value) if isinstance(value, bool) else int(value)  # type: ignore[arg-type]
        if isinstance(value, float):
            return self.walk(float(value), depth)
        if isinstance(value, (bytes, bytearray, memoryview)):
            try:
                head = bytes(value[: self.max_string])
                extra = len(value) - len(head)
            except Exception:
                return f"<unrepresentable {_type_name(value)}>"
            text = redact_text(repr(head))
            return text if extra <= 0 else f"{text}…[+{extra} bytes]"
        return _safe_repr(value, self.max_string)

    def _mapping(self, value: Any, depth: int) -> Dict[str, Any]:
        out: Dict[str, Any] = {}
        try:
            total = len(value)
        except Exception:
            total = -1
        n = 0
        try:
            for k, v in value.items():
                if n >= self.max_items or self.budget <= 0:
                    break
                n += 1
                name = _valid(k) if type(k) is str else self._key(k)
                out[name] = self.walk(v, depth + 1)
        except Exception:
            out[_TRUNC_KEY] = "<error while reading mapping>"
            return out
        if total > n:
            out[_TRUNC_KEY] = f"+{total - n} items"
        return out

    def _key(self, key: Any) -> str:
        if isinstance(key, str):
            return _cut(_valid(str.__str__(key)), self.max_string)
        if key is None or isinstance(key, (int, float, bool)):
            try:
                return json.dumps(self.walk(key, 0))
            except Exception:
                pass
        return _safe_repr(key, self.max_string)

    def _sequence(self, value: Any, depth: int) -> List[Any]:
        out: List[Any] = []
        try:
            total = len(value)
        except Exception:
            total = -1
        try:
            for item in value:
                if len(out) >= self.max_items or self.budget <= 0:
                    break
                out.append(self.walk(item, depth + 1))
        except Exception:
            out.append("<error while reading sequence>")
            return out
        if total > len(out):
            out.append(f"…[+{total - len(out)} items]")
        return out


def sanitize(value: Any) -> Any:
    """``value`` as JSON-ready data under the configured limits; never raises."""
    try:
        return _Walker().walk(value, 0)
    except BaseException:  # RecursionError, MemoryError, a hostile __eq__...
        return f"<unserializable {_type_name(value)}>"


#: Free-text fields a secret may be written into (a log message, an exception's
#: text): masked by pattern with ``redaction.redact_text``.
TEXT_FIELDS = frozenset({"message", "error_message", "error", "explanation", "label", "traceback"})


def _redacted(value: Any) -> Any:
    t = type(value)
    if (
        value is None
        or t is int
        or t is float
        or t is bool
        or ((t is dict or t is list) and not value)
    ):
        return value
    redact = _redactor()
    if redact is None:
        return value
    try:
        return redact(value)
    except Exception:
        # Never fall back to the unredacted value: it may hold a secret.
        return "<redaction failed>"


def _quick_limit() -> int:
    """Largest JSON text accepted by the fast path: within it no limit can be exceeded."""
    return max(
        1,
        min(int(settings.max_string_length), 2 * int(settings.max_items), int(settings.max_nodes)),
    )


_strict_py = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode


#: Exact types the JSON encoder writes without looking inside.
_SCALARS = frozenset({str, int, float, bool, type(None)})


def _no_default(value: Any) -> Any:
    raise TypeError("not JSON")


def _strict(value: Any, acyclic: bool = False) -> str:
    """Strict JSON text of ``value`` (raises on NaN, cycles and non-JSON types).

    Calls the C encoder directly: about twice as fast as ``JSONEncoder.encode``
    for the small dicts records carry. A fresh one per call keeps it thread-safe.
    ``acyclic=True`` (the caller knows no container holds another) skips the
    cycle bookkeeping, ~20 % of the encoding.
    """
    make = _c_make_encoder
    if make is None:  # pragma: no cover - interpreters without the C accelerator
        return _strict_py(value)
    markers: Optional[Dict[int, Any]] = None if acyclic else {}
    chunks = make(markers, _no_default, _encode_str, None, ":", ",", False, False, False)(value, 0)
    return "".join(chunks)


def _quick_text(value: Any, limit: int, max_depth: int) -> Optional[str]:
    """JSON text of a plain, small dict or list, or None when the full walk is needed.

    The C encoder rejects NaN, cycles and non-JSON types; a text no longer than
    ``limit`` cannot hold a too-long string or too many items, and one with at
    most ``max_depth`` brackets cannot be nested too deep.
    """
    t = type(value)
    if (t is dict or t is list) and len(value) <= limit:
        try:
            text = _strict(value)
        except Exception:  # TypeError, ValueError (NaN, cycle), RecursionError
            return None
        if len(text) <= limit and text.count("{") + text.count("[") <= max_depth:
            return text
    return None


_TRIGGER_SEARCH: Dict[Tuple[str, ...], Callable[[str], Any]] = {}
_LAST_SEARCH: List[Tuple[Any, Callable[[str], Any]]] = [((), re.compile("$^").search)]


def _trigger_search(triggers: Tuple[str, ...]) -> Callable[[str], Any]:
    """``search(text)``: a match when ``text`` contains any of ``triggers`` (literally)."""
    last = _LAST_SEARCH[0]
    if last[0] is triggers:
        # The same tuple as last time (redaction hands out one): no hashing of
        # its strings, which cost a captured call ~8 % (benchmarks/operations.py).
        return last[1]
    search = _TRIGGER_SEARCH.get(triggers)
    if search is None:
        search = re.compile("|".join(map(re.escape, triggers))).search
        if len(_TRIGGER_SEARCH) < 16:
            _TRIGGER_SEARCH[triggers] = search
    _LAST_SEARCH[0] = (triggers, search)
    return search


def _flat_limits() -> Tuple[int, int]:
    """``(max text length, max keys)`` of a flat dict the sanitizer keeps unchanged."""
    max_string = max(1, int(settings.max_string_length))
    keys = max(0, min(int(settings.max_items), int(settings.max_nodes) - 1))
    return max_string, keys


def _flat_text(
    value: Any, masking: Tuple[bool, Tuple[str, ...]], max_string: int, max_keys: int
) -> Optional[str]:
    """JSON text of a *flat* dict (str keys; str, int, finite float, bool or None
    values) that redaction and sanitizing would leave unchanged, else None.

    ``masking`` is :func:`_masking`'s profile (not None). The text is exactly
    what ``json_text`` builds the long way: redaction only masks values under
    sensitive keys and strings — values and keys alike — holding a trigger
    substring, both ruled out here (the scan is of the whole JSON text, keys
    included; JSON escapes no character a trigger holds).
    """
    if value.__class__ is not dict or len(value) > max_keys:
        return None
    keys, triggers = masking
    sensitive = _sensitive
    for k in value:
        if k.__class__ is not str or (keys and sensitive is not None and sensitive(k)):
            return None
    # Flat is told by the values' types, not by brackets in the text: a string may
    # hold one, as a route template ("/items/{id}") does.
    if not set(map(type, value.values())) <= _SCALARS:
        return None
    try:
        text = _strict(value, acyclic=True)
    except Exception:  # ValueError: NaN or an infinity
        return None
    if len(text) > max_string:
        return None
    if triggers and _trigger_search(triggers)(text.lower()) is not None:
        return None
    return text


def _flat_batch(
    dicts: Sequence[Any], masking: Tuple[bool, Tuple[str, ...]], max_string: int, max_keys: int
) -> Optional[List[str]]:
    """:func:`_flat_text` of many dicts with one encoder call, or None when any is
    not flat (the caller then goes value by value)."""
    if not dicts or max(map(len, dicts)) > max_keys:
        return None
    # Every key an exact str (whose == and hash can be trusted), none sensitive.
    if set(map(type, chain.from_iterable(dicts))) - {str}:
        return None
    keys, triggers = masking
    sensitive = _sensitive
    if keys and sensitive is not None:
        for k in set(chain.from_iterable(dicts)):
            if sensitive(k):
                return None
    # Values all scalars: the list holds dicts that hold no container, so no
    # cycle can exist and the encoder need not look for one.
    try:
        if not set(map(type, chain.from_iterable(map(dict.values, dicts)))) <= _SCALARS:
            return None
        text = _strict(dicts, acyclic=True)
    except Exception:  # ValueError: NaN or an infinity
        return None
    if text.count("{") == len(dicts):
        # No string holds a brace, so "},{" occurs only between two dicts. NUL is
        # always escaped in JSON.
        pieces = text[1:-1].replace("},{", "}\x00{").split("\x00")
        if len(pieces) != len(dicts):
            return None
    else:
        # A string holds a brace (an HTTP run's route template "/items/{id}"): a
        # text per dict, still far cheaper than the walk (such a run serialized in
        # 4.4-6.9 µs instead of 8.0-13.3, alternating runs).
        pieces = [_strict(d, acyclic=True) for d in dicts]
    # Repeated values (the same metadata on many records) are measured and
    # scanned once.
    distinct = set(pieces) if triggers or pieces[0] == pieces[-1] else pieces
    if max(map(len, distinct)) > max_string:
        return None
    if triggers:
        # Pieces hold the keys as well as the values: a key holding a secret
        # sends the batch down the long way too.
        scan = "\x00".join(distinct) if 2 * len(distinct) <= len(pieces) else text
        if _trigger_search(triggers)(scan.lower()) is not None:
            return None
    return pieces


def json_texts(
    values: Sequence[Any], limits: Optional[Tuple[int, int]] = None
) -> List[Optional[str]]:
    """``[json_text(v, True, limits) for v in values]``, much faster for flat dicts.

    Used for a JSON column of a batch of records. Never raises.
    """
    try:
        masking = _masking()
        if masking is not None:
            max_string, max_keys = _flat_limits()
            types = set(map(type, values))
            if types == {type(None)}:
                return [None] * len(values)
            if types == {dict}:
                texts = _flat_batch(values, masking, max_string, max_keys)
                if texts is not None:
                    return list(texts)
            elif types == {dict, type(None)}:
                dicts = [v for v in values if v is not None]
                texts = _flat_batch(dicts, masking, max_string, max_keys)
                if texts is not None:
                    it = iter(texts)
                    return [None if v is None else next(it) for v in values]
    except Exception:
        pass
    if limits is None:
        limits = quick_limits()
    return [json_text(v, True, limits) for v in values]


def json_text(
    value: Any, redact: bool = True, limits: Optional[Tuple[int, int]] = None
) -> Optional[str]:
    """``value`` redacted (optionally), sanitized and encoded as JSON text; None for None.

    Used for the JSON columns of the SQLite store. ``limits`` is
    :func:`quick_limits`, passed by callers that encode many values. Never raises.
    """
    if value is None:
        return None
    try:
        if value.__class__ is dict:
            masking = _masking() if redact else (False, ())
            if masking is not None:
                max_string, max_keys = _flat_limits()
                text = _flat_text(value, masking, max_string, max_keys)
                if text is not None:
                    return text
        if redact:
            value = _redacted(value)
        limit, max_depth = limits if limits is not None else quick_limits()
        text = _quick_text(value, limit, max_depth)
        if text is not None:
            return text
        return _encode(sanitize(value))
    except BaseException:
        return '"<unserializable>"'


def quick_limits() -> Tuple[int, int]:
    """``(text limit, max depth)`` of the fast path, from the current settings."""
    return _quick_limit(), int(settings.max_depth)


def scalar(value: Any) -> Any:
    """A value for a typed (non-JSON) column: primitives kept, anything else sanitized.

    Never raises; a container that survives sanitizing becomes JSON text.
    """
    t = type(value)
    if t is str:
        limit = int(settings.max_string_length)
        return value if len(value) <= limit else _cut(value, limit)
    if value is None or t is int or t is bool:
        return value
    if t is float and value - value == 0:
        return value
    out = sanitize(value)
    if isinstance(out, (dict, list)):
        try:
            return _encode(out)
        except Exception:
            return "<unserializable>"
    return out


class _Limits:
    """The serialization limits, read once for a batch."""

    __slots__ = ("max_depth", "max_keys", "max_string", "quick")

    def __init__(self) -> None:
        self.quick = _quick_limit()
        self.max_string = int(settings.max_string_length)
        self.max_depth = int(settings.max_depth)
        self.max_keys = _flat_limits()[1]


def _field(name: str, value: Any, limits: _Limits) -> Any:
    """One field of a record made safe: the rules of the module docstring, value by value."""
    if name in USER_FIELDS:
        if value is None:
            return None
        value = _redacted(value)
        text = _quick_text(value, limits.quick, limits.max_depth)
        if text is not None and (text.isascii() or _SURROGATE.search(text) is None):
            return value  # plain JSON within every limit: keep as is
    else:
        t = type(value)
        if t is str:
            if name in TEXT_FIELDS:
                value = redact_text(value)
            value = _valid(value)
            if len(value) <= limits.max_string:
                return value
        elif value is None or t is int or t is bool or (t is float and value - value == 0):
            return value
    try:
        return _Walker().walk(value, 0)
    except BaseException:
        return f"<unserializable {_type_name(value)}>"


#: Types a plain field may hold as it is (floats when finite).
_PLAIN = frozenset({str, int, float, bool, type(None)})


def _plain_column(name: str, values: List[Any], limits: _Limits) -> Optional[List[Any]]:
    """``values`` of a non-user field when every one is already safe (checked with
    passes in C over the whole column), text fields masked; else None."""
    if name in TEXT_FIELDS:
        values = list(redact_texts(values))
    types = set(map(type, values))
    if not types <= _PLAIN:
        return None
    if float in types and not all(math.isfinite(v) for v in values if type(v) is float):
        return None
    if str in types:
        # Repeated strings (ids, names) are measured and scanned once.
        texts = {v for v in values if type(v) is str}
        if max(map(len, texts)) > limits.max_string:
            return None
        joined = "".join(texts)
        if not joined.isascii() and _SURROGATE.search(joined) is not None:
            return None
    return values


def _user_column(values: List[Any], limits: _Limits) -> Optional[List[Any]]:
    """``values`` of a user field when redaction and the sanitizer would leave
    every one unchanged (flat dicts, checked with one encoding and one scan for
    the whole column); else None."""
    present = [v for v in values if v is not None]
    if not present:
        return values
    masking = _masking()
    if masking is None or set(map(type, present)) != {dict}:
        return None
    texts = _flat_batch(present, masking, limits.max_string, limits.max_keys)
    if texts is None:
        return None
    joined = "".join(texts)
    if not joined.isascii() and _SURROGATE.search(joined) is not None:
        return None
    return values


def _column(name: str, values: List[Any], limits: _Limits) -> List[Any]:
    """One field of many records of one class, made safe: kept whole when a check of
    the column shows nothing to change, else value by value with :func:`_field`."""
    try:
        kept = (
            _user_column(values, limits)
            if name in USER_FIELDS
            else _plain_column(name, values, limits)
        )
    except Exception:  # a hostile __eq__ or __hash__ in a column: go value by value
        kept = None
    if kept is not None:
        return kept
    return [_field(name, v, limits) for v in values]


def captured(value: Any) -> Any:
    """``value`` as a user field is kept: redacted, then bounded by the limits, as
    JSON-ready data, sharing nothing mutable with ``value``. Used for what is
    captured on the app's thread (a run's inputs and output), so that mutating
    the value later changes nothing."""
    t = value.__class__
    if value is None or t is int or t is bool:
        return value
    # Small plain values (the usual arguments) are checked with the flat-dict
    # test of the columns instead of being walked; measured on
    # benchmarks/operations.py, this halves the cost of a captured call.
    if t is str or t is dict:
        masking = _masking()
        if masking is not None:
            if t is dict:
                if _flat_text(value, masking, *_flat_limits()) is not None:
                    return dict(value)  # scalar values only: a shallow copy is a snapshot
            elif (
                len(value) <= settings.max_string_length
                and (value.isascii() or _SURROGATE.search(value) is None)
                and not (masking[1] and _trigger_search(masking[1])(value.lower()))
            ):
                return value
    return _field("inputs", value, _Limits())


def captured_arguments(arguments: Dict[str, Any]) -> Any:
    """:func:`captured` of a call's arguments by name, a dict made for the purpose
    (so it may be returned as it is): arguments that are all short plain
    scalars, under names redaction leaves alone, are checked together and kept
    without being walked - the common case, which costs a fraction of the walk."""
    masking = _masking()
    if masking is not None and len(arguments) < min(settings.max_items, settings.max_nodes):
        keys, triggers = masking
        sensitive = _sensitive if keys else None
        limit = settings.max_string_length
        texts: List[str] = []
        for name, value in arguments.items():
            if sensitive is not None and sensitive(name):
                break
            t = value.__class__
            if t is str:
                if len(value) > limit:
                    break
                texts.append(value)
            elif not (
                value is None or t is int or t is bool or (t is float and value - value == 0)
            ):
                break
        else:
            if not texts:
                return arguments
            # All the strings scanned at once: no trigger holds a NUL, so none
            # can match across two of them.
            joined = "\x00".join(texts)
            if (joined.isascii() or _SURROGATE.search(joined) is None) and not (
                triggers and _trigger_search(triggers)(joined.lower())
            ):
                return arguments
    return captured(arguments)


class Part(NamedTuple):
    """The serialized records of one class in a batch, a column per field."""

    #: The records' ``kind`` (``"value"`` / ``"invalid"`` for what is not a record).
    kind: str
    #: The field names, in the record class's order.
    names: Tuple[str, ...]
    #: One list per field: the serialized values, in the batch's order.
    columns: List[List[Any]]
    #: Where each record stands in the batch.
    where: List[int]


def serialize(records: Sequence[Any]) -> List[Part]:
    """The records made safe, a record class at a time: the one way every record is
    serialized. Never raises.

    Each field of a class's records is checked as one column of the batch, so
    the checks run once for the batch, and a column with nothing to change is
    kept as it is. The store reads these columns straight; :func:`to_jsonable_many`
    turns them into the dicts the JSONL and OpenTelemetry sinks read.
    """
    parts: List[Part] = []
    limits = _Limits()
    groups: Dict[type, List[int]] = {}
    for i, record in enumerate(records):
        groups.setdefault(type(record), []).append(i)
    for cls, where in groups.items():
        names = getattr(cls, "_fields", None)
        kind = getattr(cls, "kind", None)
        if names is None or not isinstance(kind, str):
            parts.append(Part("value", ("value",), [[sanitize(records[i]) for i in where]], where))
            continue
        try:
            items = [records[i] for i in where]
            columns = [_column(n, [getattr(r, n, None) for r in items], limits) for n in names]
            parts.append(Part(kind, tuple(names), columns, where))
        except Exception:
            # A failing column costs only the records that make it fail: each is tried alone.
            parts.extend(_one_by_one(kind, tuple(names), records, where, limits))
    return parts


def _one_by_one(
    kind: str, names: Tuple[str, ...], records: Sequence[Any], where: List[int], limits: _Limits
) -> List[Part]:
    """The records at ``where`` serialized one at a time: a part of those that could
    be, and an ``invalid`` part of those that could not (counted by the sinks)."""
    good: List[int] = []
    rows: List[List[Any]] = []
    bad: List[int] = []
    for i in where:
        try:
            rows.append([_column(n, [getattr(records[i], n, None)], limits)[0] for n in names])
            good.append(i)
        except Exception:
            bad.append(i)
    parts: List[Part] = []
    if good:
        parts.append(Part(kind, names, [list(c) for c in zip(*rows)], good))
    if bad:
        parts.append(Part("invalid", ("value",), [["<unserializable record>"] * len(bad)], bad))
    return parts


def to_jsonable_many(records: Sequence[Any]) -> List[Dict[str, Any]]:
    """Each record as :func:`to_jsonable` makes it, from :func:`serialize`. Never raises."""
    return dicts(serialize(records), len(records))


def dicts(parts: Sequence[Part], count: int) -> List[Dict[str, Any]]:
    """The ``count`` records of ``parts`` as JSON-ready dicts, in the batch's order."""
    out: List[Dict[str, Any]] = [{}] * count
    for part in parts:
        head = {"kind": part.kind, "schema": SCHEMA_VERSION}
        for i, row in zip(part.where, zip(*part.columns)):
            data = head.copy()
            data.update(zip(part.names, row))
            out[i] = data
    return out


def to_jsonable(record: Any) -> Dict[str, Any]:
    """A record as a JSON-ready dict: ``kind``, ``schema`` and its fields, made safe.

    User-provided fields go through ``auditora.redaction.redact`` (when that
    module exists) and then :func:`sanitize`. A non-record value is sanitized and
    wrapped as ``{"kind": "value", "value": ...}``. Never raises.
    """
    return to_jsonable_many([record])[0]


_encode = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, separators=(",", ":"), default=repr
).encode


def dumps(record: Any) -> str:
    """One record as a compact JSON line (no newline), via :func:`to_jsonable`."""
    data = to_jsonable(record)
    try:
        return _encode(data)
    except Exception:  # cannot happen for sanitized data; stay total anyway
        return _encode({"kind": data.get("kind", "invalid"), "value": "<unserializable record>"})
