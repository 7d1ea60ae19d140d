"""Redaction: secrets are masked before any record leaves the process.

:func:`redact` walks a value (dicts, lists, tuples, sets, nested) and returns a
copy in which

* the value under a *sensitive key* (``password``, ``api_key``,
  ``authorization``, ``token``, ``secret``, ``cookie``, ``private_key``, …) is
  replaced by :data:`MASK`, whatever it is;
* every substring of a string that looks like a secret (OpenAI / Anthropic style
  keys, AWS access key ids, ``Bearer`` tokens, GitHub, Google and Slack tokens,
  JSON Web Tokens, PEM private keys) is replaced by :data:`MASK`;
* dict keys are masked by the same patterns (a key that is not a string,
  a number, a bool or None by those of its ``repr``, which the serializer would
  store); keys that become equal once masked stay distinct: the second is
  suffixed ``#2``, the next ``#3``, in the dict's order (see :func:`redact`);
* a user hook (see :func:`configure`) may replace any leaf further (e-mails,
  phone numbers, names…).

It *fails closed*: when the hook raises, or redaction itself meets something it
cannot handle, the affected value becomes :data:`FAILED` — never the raw value.
It never raises. Objects that are not containers or strings are returned as
they are; the serializer turns them into their ``repr`` and redacts that string
again.

The recorder's serializer calls :func:`redact` on every record before a sink
sees it, and the console line of the report is redacted the same way.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import deque
from collections.abc import Mapping
from typing import Any, Callable, Dict, Iterable, List, Optional, Pattern, Sequence, Tuple

__all__ = [
    "ANYWHERE_KEYS",
    "DEFAULT_KEYS",
    "DEFAULT_PATTERNS",
    "FAILED",
    "MASK",
    "configure",
    "is_sensitive_key",
    "masking_profile",
    "redact",
    "redact_text",
    "redact_texts",
    "reset",
]

#: What a masked value becomes.
MASK = "[REDACTED]"
#: What a value becomes when the user hook (or redaction itself) failed on it.
FAILED = "[REDACTED: redaction failed]"

#: Key names that mark a value as secret. A key is split into lower-case words
#: (``X-Api-Key`` -> ``x api key``; ``accessToken`` -> ``access token``) and
#: these phrases must *end* it: ``token``, ``access_token`` and ``api_key`` are
#: masked, while ``max_tokens``, ``input_tokens`` or ``token_count`` are not.
DEFAULT_KEYS: Tuple[str, ...] = (
    "pwd",
    "token",
    "api key",
    "apikey",
    "access key",
    "private key",
    "secret key",
    "authorization",
    "auth",
    "cookie",
    "set cookie",
    "credential",
    "credentials",
    "session key",
    "signature",
    "client secret",
    "x api key",
    "bearer",
)

#: Words that mark a key as secret wherever they appear in it (``password_hash``,
#: ``client_secret_ref``). Keys added with ``configure(extra_keys=...)`` join them.
ANYWHERE_KEYS: Tuple[str, ...] = (
    "password",
    "passwd",
    "passphrase",
    "secret",
    "credential",
    "credentials",
)

#: Regular expressions of secret-looking values, each replaced by :data:`MASK`.
DEFAULT_PATTERNS: Tuple[str, ...] = (
    # OpenAI (sk-..., sk-proj-...) and Anthropic (sk-ant-api03-...) keys.
    r"\bsk-[A-Za-z0-9_\-]{16,}",
    # AWS access key ids.
    r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA)[0-9A-Z]{16}\b",
    # Bearer / Basic credentials in a header value.
    r"\b(?i:bearer|basic)\s+[A-Za-z0-9\-._~+/]{8,}=*",
    # GitHub tokens.
    r"\bgh[pousr]_[A-Za-z0-9]{30,}\b",
    r"\bgithub_pat_[A-Za-z0-9_]{30,}\b",
    # Google API keys.
    r"\bAIza[0-9A-Za-z\-_]{35}\b",
    # Slack tokens.
    r"\bxox[abposr]-[A-Za-z0-9\-]{10,}",
    # JSON Web Tokens.
    r"\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}",
    # PEM private keys.
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----",
)

# Lower-case substrings at least one of which every default pattern's match
# contains: a string with none of them is skipped without running the regex
# (which costs ~100 ns per character).
_TRIGGERS = (
    "sk-",
    "akia",
    "asia",
    "agpa",
    "aida",
    "aroa",
    "anpa",
    "bearer",
    "basic",
    "ghp_",
    "gho_",
    "ghu_",
    "ghs_",
    "ghr_",
    "github_pat_",
    "aiza",
    "xox",
    "eyj",
    "-----begin",
)

#: A user hook: ``hook(key, value) -> value``; ``key`` is the enclosing dict key
#: (or None). Called on every leaf after the default masking.
Hook = Callable[[Optional[str], Any], Any]

_MAX_DEPTH = 64
_WORDS = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")
_logger = logging.getLogger("auditora")


class _State:
    __slots__ = (
        "anywhere",
        "enabled",
        "extra_pattern",
        "hook",
        "key_cache",
        "keys",
        "pattern",
        "patterns",
        "plain_keys",
    )

    def __init__(self) -> None:
        self.enabled = True
        self.keys: Tuple[Tuple[str, ...], ...] = tuple(tuple(k.split()) for k in DEFAULT_KEYS)
        self.anywhere: Tuple[Tuple[str, ...], ...] = tuple((k,) for k in ANYWHERE_KEYS)
        self.patterns: Tuple[str, ...] = ()
        self.pattern: Pattern[str] = re.compile("|".join(f"(?:{p})" for p in DEFAULT_PATTERNS))
        self.extra_pattern: Optional[Pattern[str]] = None
        self.hook: Optional[Hook] = None
        self.key_cache: Dict[str, bool] = {}
        # Dict keys (exact str) that masking leaves as they are -> whether they
        # are sensitive: one lookup per key on the walk. Never holds a key
        # that masking changes, so no secret is kept here.
        self.plain_keys: Dict[str, bool] = {}

    def changed(self) -> _State:
        """A copy with empty caches. configure() edits the copy and then swaps
        it in whole, so a walk that started on the old state never caches a
        verdict made under one set of rules into the other's caches."""
        new = _State()  # its caches start empty
        for name in _State.__slots__:
            if name not in ("key_cache", "plain_keys"):
                setattr(new, name, getattr(self, name))
        return new


_state = _State()
_lock = threading.Lock()
_hook_failures = 0


def configure(
    *,
    enabled: Optional[bool] = None,
    hook: Any = ...,
    extra_keys: Optional[Iterable[str]] = None,
    extra_patterns: Optional[Iterable[str]] = None,
) -> None:
    """Change what is masked (process-wide).

    ``enabled=False`` turns redaction off entirely (not recommended).
    ``hook`` is called as ``hook(key, value)`` on every leaf value and returns
    the value to keep (pass None to remove the hook). ``extra_keys`` are more
    key names to mask wherever they appear in a key (words, e.g. ``"ssn"`` or
    ``"card number"``);
    ``extra_patterns`` more regular expressions of values to mask.
    """
    global _state
    with _lock:
        state = _state.changed()
        if enabled is not None:
            state.enabled = bool(enabled)
        if hook is not ...:
            if hook is not None and not callable(hook):
                raise TypeError("hook must be callable or None")
            state.hook = hook
        if extra_keys is not None:
            added = tuple(tuple(_words(k)) for k in extra_keys)
            state.anywhere = state.anywhere + tuple(k for k in added if k)
        if extra_patterns is not None:
            new = tuple(extra_patterns)
            for p in new:
                re.compile(p)  # fail here, at configuration time, not on the hot path
            state.patterns = state.patterns + new
            state.extra_pattern = re.compile("|".join(f"(?:{p})" for p in state.patterns))
        _state = state


def reset() -> None:
    """Restore the default keys and patterns and remove the hook (for tests)."""
    global _state, _hook_failures
    with _lock:
        _state = _State()
        _hook_failures = 0


def _words(key: str) -> List[str]:
    return [w.lower() for w in _WORDS.findall(key)]


def is_sensitive_key(key: Any) -> bool:
    """Whether values stored under ``key`` are masked whatever they look like."""
    state = _state
    if key.__class__ is str:
        # A key seen before is answered from the cache without a further call:
        # argument names are checked at every captured call.
        cached = state.key_cache.get(key)
        if cached is not None:
            return cached
    elif not isinstance(key, str):
        return False
    return _is_sensitive(key, state)


def _is_sensitive(key: str, state: _State) -> bool:
    cached = state.key_cache.get(key)
    if cached is not None:
        return cached
    words = tuple(_words(key))
    found = any(words[-len(phrase) :] == phrase for phrase in state.keys)
    if not found:
        for phrase in state.anywhere:
            n = len(phrase)
            if any(words[i : i + n] == phrase for i in range(len(words) - n + 1)):
                found = True
                break
    if len(state.key_cache) < 4096:
        state.key_cache[key] = found
    return found


def masking_profile() -> Optional[Tuple[bool, Tuple[str, ...]]]:
    """What :func:`redact` may change, for callers that skip it when nothing can.

    ``None``: anything may change (a hook or extra patterns are configured);
    call :func:`redact`. Otherwise ``(keys, triggers)``: :func:`redact` returns
    a plain value unchanged unless ``keys`` is true and a dict key is
    :func:`is_sensitive_key`, or the lower-cased text of a string — a value
    or a dict key — contains one of ``triggers`` (``(False, ())`` when
    redaction is off).
    """
    state = _state
    if not state.enabled:
        return (False, ())
    if state.hook is not None or state.extra_pattern is not None:
        return None
    return (True, _TRIGGERS)


def _mask(text: str, state: _State) -> str:
    low = text.lower()
    for trigger in _TRIGGERS:
        if trigger in low:
            text = state.pattern.sub(MASK, text)
            break
    extra = state.extra_pattern
    if extra is not None:
        text = extra.sub(MASK, text)
    return text


def redact_text(text: str) -> str:
    """``text`` with every secret-looking substring replaced by :data:`MASK`."""
    state = _state
    if not state.enabled:
        return text
    try:
        return _mask(text, state)
    except Exception:
        return FAILED


def redact_texts(values: Sequence[Any]) -> Sequence[Any]:
    """``values`` with every string passed through :func:`redact_text` (others
    kept). With the default patterns only, a column whose joined, lower-cased text
    holds no trigger is returned as it is: one scan in C instead of a scan per
    string (no trigger holds a newline, so joining cannot make one appear)."""
    state = _state
    if not state.enabled:
        return values
    try:
        if state.extra_pattern is None:
            low = "\n".join([v for v in values if v.__class__ is str]).lower()
            if not any(trigger in low for trigger in _TRIGGERS):
                return values
        return [_mask(v, state) if v.__class__ is str else v for v in values]
    except Exception:
        return [redact_text(v) if v.__class__ is str else v for v in values]


def redact(value: Any) -> Any:
    """A copy of ``value`` with secrets masked; see the module docstring.

    Never raises. Containers are copied (dicts stay dicts, other mappings become
    dicts, tuples stay tuples, sets and deques become lists); other objects are
    returned unchanged.

    Dict keys are masked like free text (:func:`redact_text`). A key that
    masking changed never replaces another entry: when its masked form is
    already taken — by a key left as it was, or by an earlier masked key — it
    gets the first free suffix ``#2``, ``#3``… in the dict's order, so
    ``{"sk-proj-…A": 1, "sk-proj-…B": 2}`` becomes
    ``{"[REDACTED]": 1, "[REDACTED]#2": 2}``.
    """
    state = _state
    if not state.enabled:
        return value
    try:
        return _walk(value, None, state, 0, set())
    except Exception:
        return FAILED


def _apply_hook(state: _State, key: Optional[str], value: Any) -> Any:
    global _hook_failures
    hook = state.hook
    if hook is None:
        return value
    try:
        return hook(key, value)
    except Exception:
        _hook_failures += 1
        if _hook_failures == 1:
            _logger.exception("auditora: the redaction hook raised; the value was masked")
        return FAILED


def _walk(value: Any, key: Optional[str], state: _State, depth: int, active: set) -> Any:
    if value is None or isinstance(value, (bool, int, float)):
        return _apply_hook(state, key, value) if state.hook is not None else value
    if isinstance(value, str):
        value = _mask(value, state)
        return _apply_hook(state, key, value) if state.hook is not None else value
    if isinstance(value, dict):
        return _walk_mapping(value, state, depth, active)
    if isinstance(value, (list, tuple, set, frozenset, deque)):
        if depth >= _MAX_DEPTH:
            return FAILED
        ident = id(value)
        if ident in active:
            return "<cycle>"
        active.add(ident)
        try:
            items = [_walk(v, key, state, depth + 1, active) for v in list(value)]
        finally:
            active.discard(ident)
        if isinstance(value, tuple) and not hasattr(value, "_fields"):
            return tuple(items)
        return items
    if isinstance(value, bytes):
        return _walk(value.decode("utf-8", "replace"), key, state, depth, active)
    if isinstance(value, Mapping):
        # The serializer writes any mapping as a dict: walk it as one, or its
        # keys and values would be stored unmasked.
        return _walk_mapping(value, state, depth, active)
    # Other objects: left for the serializer, which masks their repr with
    # redact_text; the hook still sees them.
    return _apply_hook(state, key, value) if state.hook is not None else value


def _walk_mapping(value: Any, state: _State, depth: int, active: set) -> Any:
    if depth >= _MAX_DEPTH:
        return FAILED
    ident = id(value)
    if ident in active:
        return "<cycle>"
    active.add(ident)
    try:
        try:
            items = list(value.items())
        except Exception:  # a hostile mapping: fail closed for it alone
            return FAILED
        plain = state.plain_keys.get
        out: Dict[Any, Any] = {}
        # Set once a key was masked: (name, value, renamed) in order, so that
        # colliding names can be told apart once every kept name is known.
        entries: Optional[List[Tuple[Any, Any, bool]]] = None
        for k, v in items:
            sensitive = plain(k) if k.__class__ is str else None
            if sensitive is None:
                name, sensitive = _key(k, state)
            else:
                name = k
            if sensitive:
                v = MASK
            else:
                v = _walk(v, name if isinstance(k, str) else None, state, depth + 1, active)
            if entries is None:
                if name is k:
                    out[k] = v
                    continue
                entries = [(n, item, False) for n, item in out.items()]
            entries.append((name, v, name is not k))
        return out if entries is None else _distinct(entries)
    finally:
        active.discard(ident)


def _key(key: Any, state: _State) -> Tuple[Any, bool]:
    """``(name, sensitive)`` of a dict key: ``name`` is ``key`` itself when
    masking leaves it as it is, else its masked text.

    A key that is not a string, number, bool or None is stored by the
    serializer as its ``repr``, so that text is masked (and returned, always:
    a second ``repr`` need not be the same).
    """
    if key is None or isinstance(key, (bool, int, float)):
        return key, False
    if not isinstance(key, str):
        try:
            text = repr(key)
            if not isinstance(text, str):
                raise TypeError("__repr__ returned a non-string")
            text = str.__str__(text)
        except Exception:
            try:
                kind = type(key).__qualname__
            except Exception:
                kind = "object"
            return f"<unrepresentable {kind}>", False
        return _mask(text, state), False
    sensitive = _is_sensitive(key, state)
    text = key if key.__class__ is str else str.__str__(key)
    masked = _mask(text, state)
    if masked != text:
        return masked, sensitive
    if key.__class__ is str and len(state.plain_keys) < 4096:
        state.plain_keys[key] = sensitive
    return key, sensitive


def _distinct(entries: List[Tuple[Any, Any, bool]]) -> Dict[Any, Any]:
    """A dict of ``entries`` in order, where a renamed key never takes a name
    already used: keys left as they were keep theirs, the others get the first
    free ``#2``, ``#3``… suffix."""
    taken = {name for name, _, renamed in entries if not renamed}
    out: Dict[Any, Any] = {}
    for name, v, renamed in entries:
        if renamed:
            if name in taken:
                n = 2
                while f"{name}#{n}" in taken:
                    n += 1
                name = f"{name}#{n}"
            taken.add(name)
        out[name] = v
    return out
