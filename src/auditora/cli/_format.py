"""Formatting numbers and tables for the terminal.

The viewer's JavaScript formats numbers the same way (``static/app.js``), so a
value reads the same in the terminal and in the browser. Rounding is half-up
on the exact binary value, as JavaScript's ``toFixed`` and ``Math.round`` do.
"""

from __future__ import annotations

import shutil
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, List, Optional, Sequence

__all__ = ["cost", "duration", "pct", "table", "tokens", "truncate"]


def _fixed(value: float, digits: int) -> str:
    return str(Decimal(value).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP))


def duration(seconds: Optional[float]) -> str:
    """``0.8 ms``, ``12 ms``, ``1.23 s``, ``2m 05s`` (``-`` when unknown)."""
    if seconds is None:
        return "-"
    if seconds < 0.001:
        return f"{_fixed(seconds * 1000, 2)} ms"
    if seconds < 1:
        return f"{_fixed(seconds * 1000, 0)} ms"
    if seconds < 60:
        return f"{_fixed(seconds, 2)} s"
    minutes, secs = divmod(int(_fixed(seconds, 0)), 60)
    return f"{minutes}m {secs:02d}s"


def tokens(n: Optional[int]) -> str:
    """An integer with thousands separators (``-`` when unknown)."""
    return "-" if n is None else f"{int(n):,}"


def cost(dollars: Optional[float]) -> str:
    """``$0.0123`` (4 decimals, 2 above $100; ``-`` when unknown: never a silent 0)."""
    if dollars is None:
        return "-"
    if dollars >= 100:
        return f"${Decimal(_fixed(dollars, 2)):,}"
    return f"${_fixed(dollars, 4)}"


def pct(rate: Optional[float]) -> str:
    """A 0..1 rate as ``83.3%`` (``-`` when there is nothing to rate)."""
    return "-" if rate is None else f"{_fixed(rate * 100, 1)}%"


def truncate(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters, ending with an ellipsis when cut."""
    if len(text) <= width:
        return text
    return text[: max(0, width - 1)] + "\u2026"


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    # One line per row, whatever the user put in a name or message.
    return text.replace("\r", " ").replace("\n", " ").replace("\t", " ")


def table(
    headers: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    width: Optional[int] = None,
    right: Sequence[int] = (),
) -> str:
    """A plain-text table fitted to ``width`` (the terminal's width by default).

    When the natural width is too wide, the widest columns are shrunk (their
    cells truncated with an ellipsis) until it fits. ``right`` lists the
    indexes of right-aligned (numeric) columns.
    """
    if width is None:
        width = shutil.get_terminal_size((120, 24)).columns
    cells: List[List[str]] = [[_cell(h) for h in headers]] + [[_cell(c) for c in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    gap = 2
    floor = 6
    while sum(widths) + gap * (len(widths) - 1) > width:
        i = max(range(len(widths)), key=lambda k: widths[k])
        if widths[i] <= floor:
            break
        widths[i] -= 1
    lines = []
    for n, row in enumerate(cells):
        parts = []
        for i, text in enumerate(row):
            text = truncate(text, widths[i])
            parts.append(text.rjust(widths[i]) if i in right and n else text.ljust(widths[i]))
        lines.append((" " * gap).join(parts).rstrip())
        if n == 0:
            lines.append((" " * gap).join("-" * w for w in widths))
    return "\n".join(lines)
