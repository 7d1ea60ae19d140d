"""What a run keeps of its call when capture is on: arguments by name, the return
value, and for generators a count and a bounded reduction of what they yielded.

Everything is converted to its bounded, redacted JSON form on the app's thread
(:func:`auditora._serialize.captured`) as soon as it is known: the arguments
when the run starts, the result when it ends. Mutating them afterwards changes
nothing recorded.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Dict, List, Optional, Tuple

from .._config import settings
from .._serialize import captured, captured_arguments

__all__ = ["RUN_TYPES", "Yielded", "binder", "check_run_type"]

#: The kinds of run ``@sentinel(kind=...)`` and the bifrost blocks accept.
RUN_TYPES = (
    "function",
    "agent",
    "tool",
    "llm",
    "retriever",
    "embedding",
    "chain",
    "workflow",
    "evaluator",
    "server",  # one HTTP request served (auditora.integrations.asgi / wsgi)
)

#: Items of a generator's output kept one by one (all of them are counted).
YIELDED_ITEMS = 20

_SKIPPED = ("self", "cls")


def check_run_type(kind: Any, agent: Optional[str]) -> str:
    """The run type ``kind`` names (``agent=`` alone implies ``"agent"``)."""
    if kind is None:
        return "agent" if agent is not None else "function"
    if kind not in RUN_TYPES:
        raise ValueError(f"kind must be one of {', '.join(RUN_TYPES)}; got {kind!r}")
    return str(kind)


def binder(func: Callable[..., Any]) -> Callable[[Tuple[Any, ...], Dict[str, Any]], Any]:
    """A function turning a call's ``(args, kwargs)`` into the captured inputs: the
    arguments passed, by parameter name (``self``/``cls`` left out; extra
    positional arguments under the ``*args`` name). The signature is read once,
    here, not at every call."""
    try:
        params = list(inspect.signature(func).parameters.values())
    except (TypeError, ValueError):  # a builtin or a callable with no signature
        return _unnamed
    positional = [
        p.name
        for p in params
        if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    ]
    rest = next((p.name for p in params if p.kind is inspect.Parameter.VAR_POSITIONAL), None)
    skip = 1 if positional and positional[0] in _SKIPPED else 0
    names = positional[skip:]
    count = len(positional)

    def bind(args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> Any:
        out = dict(zip(names, args[skip:count]))
        if len(args) > count:
            out[rest or "args"] = list(args[count:])
        if kwargs:
            out.update(kwargs)
        return captured_arguments(out)

    return bind


def _unnamed(args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> Any:
    out: Dict[str, Any] = dict(kwargs)
    if args:
        out["args"] = list(args)
    return captured_arguments(out)


class Yielded:
    """What a generator's run keeps of its items: how many, and the first
    :data:`YIELDED_ITEMS` of them; when every item is text, the text they make
    together, up to the string limit (a streamed answer reads as one string)."""

    __slots__ = ("count", "items", "text", "size")

    def __init__(self) -> None:
        self.count = 0
        self.items: List[Any] = []
        self.text: Optional[List[str]] = []  # None once an item is not a str
        self.size = 0

    def add(self, item: Any) -> None:
        self.count += 1
        text = self.text
        if text is not None:
            if item.__class__ is str:
                if self.size <= settings.max_string_length:
                    text.append(item)
                    self.size += len(item)
            else:
                self.text = None
        if len(self.items) < YIELDED_ITEMS:
            self.items.append(captured(item))

    def output(self) -> Dict[str, Any]:
        """The run's ``output``: ``{"yielded": n, "text": ...}`` when every item
        was text, else ``{"yielded": n, "items": [...]}``."""
        if self.text is not None and self.count:
            return {"yielded": self.count, "text": captured("".join(self.text))}
        return {"yielded": self.count, "items": self.items}
