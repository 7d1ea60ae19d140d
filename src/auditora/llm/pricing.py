"""Token prices and the cost of an LLM call.

A dated price table ships with the package (``prices.json``, US dollars per
million tokens). Users add or override prices in code with
:func:`register_price`, or from a JSON file with :func:`load_prices` (or the
``AUDITORA_PRICES`` environment variable, read on first use). A model that is
in no table gets cost ``None`` and one :class:`UnknownModelWarning` per model
name — never a silent 0.

Model names are matched exactly first, then with a provider prefix removed
(``openai/gpt-4o``, ``models/gemini-2.5-pro``, ``anthropic.claude-…``) and
version suffixes removed (``-2024-08-06``, ``-20241022``, ``-latest``,
``-0613``, ``@20240620``, ``-v2:0``), so dated snapshots price like their
family.
"""

from __future__ import annotations

import json
import os
import re
import sys
import threading
import warnings
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Union

__all__ = [
    "Price",
    "UnknownModelWarning",
    "compute_cost",
    "get_price",
    "load_prices",
    "prices_as_of",
    "register_price",
    "reset_prices",
]

_TABLE = Path(__file__).with_name("prices.json")
_PACKAGE = str(Path(__file__).resolve().parent.parent)
_SUFFIXES = re.compile(
    r"(?:-\d{4}-\d{2}-\d{2}|-\d{8}|-latest|-\d{3,4}|@\d{8}|@latest|-v\d+(?::\d+)?|:\d+)$"
)
_PREFIXES = re.compile(r"^(?:[a-z0-9_.\-]+/|(?:[a-z]{2}\.)?(?:anthropic|meta|mistral|cohere)\.)")


def user_stacklevel() -> int:
    """The ``stacklevel`` that makes a warning issued by the caller point at user code.

    Counts the caller's frame and every Auditora frame above it, so the warning
    names the first frame outside the package (wherever the call came from:
    ``report.log_llm_call``, a proxy, an SDK integration).
    """
    frame = sys._getframe(1)
    level = 1
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE):
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    return level


class UnknownModelWarning(UserWarning):
    """Emitted once per model name that has no price: its calls get cost None."""


class Price:
    """The price of one model in US dollars per million tokens.

    ``cached_input`` prices cache reads (defaults to ``input``); ``cache_write``
    prices tokens written to a prompt cache (Anthropic; defaults to ``input``).
    """

    __slots__ = ("cache_write", "cached_input", "input", "model", "output", "provider")

    def __init__(
        self,
        model: str,
        input: float,
        output: float,
        cached_input: Optional[float] = None,
        cache_write: Optional[float] = None,
        provider: Optional[str] = None,
    ) -> None:
        for name, value in (("input", input), ("output", output)):
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{name} price must be a non-negative number, not {value!r}")
        self.model = model
        self.input = float(input)
        self.output = float(output)
        self.cached_input = float(cached_input) if cached_input is not None else None
        self.cache_write = float(cache_write) if cache_write is not None else None
        self.provider = provider

    def cost(
        self,
        input_tokens: Optional[int],
        output_tokens: Optional[int],
        cached_tokens: Optional[int] = None,
        cache_write_tokens: Optional[int] = None,
    ) -> float:
        """Dollars for one call. ``input_tokens`` includes cached and cache-write tokens."""
        cached = cached_tokens or 0
        written = cache_write_tokens or 0
        plain = max((input_tokens or 0) - cached - written, 0)
        cached_price = self.input if self.cached_input is None else self.cached_input
        write_price = self.input if self.cache_write is None else self.cache_write
        total = (
            plain * self.input
            + cached * cached_price
            + written * write_price
            + (output_tokens or 0) * self.output
        )
        return total / 1_000_000

    def to_dict(self) -> Dict[str, Any]:
        """The price as a JSON-friendly dict (the file format's entry)."""
        out: Dict[str, Any] = {"input": self.input, "output": self.output}
        if self.cached_input is not None:
            out["cached_input"] = self.cached_input
        if self.cache_write is not None:
            out["cache_write"] = self.cache_write
        if self.provider is not None:
            out["provider"] = self.provider
        return out

    def __repr__(self) -> str:
        return f"Price({self.model!r}, input={self.input}, output={self.output})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Price):
            return NotImplemented
        return (self.model, self.to_dict()) == (other.model, other.to_dict())

    __hash__ = None  # type: ignore[assignment]


class _Table:
    def __init__(self) -> None:
        self.prices: Dict[str, Price] = {}
        self.as_of: Optional[str] = None
        self.resolved: Dict[str, Optional[Price]] = {}
        self.warned: set = set()
        self.loaded = False


_table = _Table()
_lock = threading.RLock()


def _parse(data: Mapping[str, Any], source: str) -> Dict[str, Price]:
    models = data.get("models", data) if isinstance(data, Mapping) else None
    if not isinstance(models, Mapping):
        raise ValueError(f"{source}: expected an object of models")
    out: Dict[str, Price] = {}
    for model, entry in models.items():
        if not isinstance(entry, Mapping):
            if model in ("as_of", "currency", "unit", "note"):
                continue
            raise ValueError(f"{source}: price of {model!r} must be an object")
        try:
            out[model.lower()] = Price(
                model,
                entry["input"],
                entry["output"],
                entry.get("cached_input"),
                entry.get("cache_write"),
                entry.get("provider"),
            )
        except KeyError as exc:
            raise ValueError(f"{source}: price of {model!r} lacks {exc.args[0]!r}") from None
    return out


def _ensure_loaded() -> None:
    if _table.loaded:
        return
    with _lock:
        if _table.loaded:
            return
        data = json.loads(_TABLE.read_text(encoding="utf-8"))
        prices = _parse(data, str(_TABLE))
        prices.update(_table.prices)  # registrations made before first use win
        _table.prices = prices
        _table.as_of = data.get("as_of")
        _table.loaded = True
        extra = os.environ.get("AUDITORA_PRICES")
        if extra:
            load_prices(extra)


def prices_as_of() -> Optional[str]:
    """The date (``YYYY-MM-DD``) of the bundled price table."""
    _ensure_loaded()
    return _table.as_of


def register_price(
    model: str,
    input: float,
    output: float,
    cached_input: Optional[float] = None,
    cache_write: Optional[float] = None,
    provider: Optional[str] = None,
) -> Price:
    """Add or override the price of ``model`` (dollars per million tokens)."""
    if not isinstance(model, str) or not model:
        raise TypeError("model must be a non-empty str")
    price = Price(model, input, output, cached_input, cache_write, provider)
    with _lock:
        _table.prices[model.lower()] = price
        _table.resolved = {}
        _table.warned.discard(model)
    return price


def load_prices(source: Union[str, os.PathLike[str], Mapping[str, Any]]) -> int:
    """Add or override prices from a JSON file (or an already-parsed mapping).

    The format is the bundled table's: ``{"models": {"name": {"input": 2.5,
    "output": 10, "cached_input": 1.25}}}`` (``"models"`` may be omitted).
    Returns how many prices were loaded.
    """
    if isinstance(source, Mapping):
        prices = _parse(source, "prices")
    else:
        path = Path(source)
        prices = _parse(json.loads(path.read_text(encoding="utf-8")), str(path))
    with _lock:
        _table.prices.update(prices)
        _table.resolved = {}
        _table.warned.difference_update(p.model for p in prices.values())
    return len(prices)


def reset_prices() -> None:
    """Forget registered prices and warnings; reload the bundled table on next use."""
    global _table
    with _lock:
        _table = _Table()


def _candidates(model: str):  # type: ignore[no-untyped-def]
    name = model.strip().lower()
    yield name
    stripped = _PREFIXES.sub("", name)
    if stripped != name:
        yield stripped
    name = stripped
    for _ in range(3):
        shorter = _SUFFIXES.sub("", name)
        if shorter == name:
            break
        name = shorter
        yield name


def get_price(model: str) -> Optional[Price]:
    """The price that applies to ``model``, or None when it is unknown."""
    _ensure_loaded()
    table = _table
    try:
        return table.resolved[model]
    except KeyError:
        pass
    found: Optional[Price] = None
    if isinstance(model, str):
        for name in _candidates(model):
            found = table.prices.get(name)
            if found is not None:
                break
    with _lock:
        if len(table.resolved) < 10_000:
            table.resolved[model] = found
    return found


def compute_cost(
    model: str,
    input_tokens: Optional[int],
    output_tokens: Optional[int],
    cached_tokens: Optional[int] = None,
    cache_write_tokens: Optional[int] = None,
    *,
    warn: bool = True,
) -> Optional[float]:
    """Dollars for one call of ``model``, or None when the price or the usage is unknown.

    An unknown model warns once (:class:`UnknownModelWarning`) unless ``warn`` is
    false. ``input_tokens`` counts every input token, cached ones included.
    """
    if input_tokens is None and output_tokens is None:
        return None
    price = get_price(model)
    if price is None:
        if warn and model not in _table.warned:
            with _lock:
                first = model not in _table.warned
                _table.warned.add(model)
            if first:
                warnings.warn(
                    f"auditora: no price known for model {model!r}; its cost is recorded "
                    "as None. Add one with auditora.llm.register_price().",
                    UnknownModelWarning,
                    stacklevel=user_stacklevel(),
                )
        return None
    return price.cost(input_tokens, output_tokens, cached_tokens, cache_write_tokens)
