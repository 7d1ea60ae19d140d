"""Formatting numbers, times and tables for the terminal.

Tables round (costs to significant digits, durations in µs, ms or s, floats
to 4 significant digits); ``--json`` output never goes through this module,
so it keeps every value exact. Rounding is half-up on the exact binary value,
as JavaScript's ``toFixed`` and ``Math.round`` do, so the viewer's JavaScript
(``static/app.js``) can read the same.
"""

from __future__ import annotations

import math
import shutil
from datetime import datetime, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, List, Optional, Sequence, Tuple

__all__ = [
    "cost",
    "duration",
    "duration_ns",
    "number",
    "pct",
    "table",
    "time_column",
    "tokens",
    "truncate",
    "when",
]


def _fixed(value: float, digits: int) -> str:
    exact = Decimal(value).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)
    return format(exact, "f")  # plain notation, never 1E-9


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _significant(value: float, digits: int) -> str:
    """``value`` (> 0) rounded to ``digits`` significant digits, in plain notation."""
    exponent = math.floor(math.log10(value))
    text = _fixed(value, max(0, digits - 1 - exponent))
    # Rounding up can gain a digit (0.000999 -> 0.00100): round again at the new exponent.
    if math.floor(math.log10(float(text))) != exponent:
        text = _fixed(value, max(0, digits - 2 - exponent))
    return text


def duration(seconds: Optional[float]) -> str:
    """``4.0 µs``, ``250 µs``, ``4.2 ms``, ``235 ms``, ``1.50 s``, ``2m 06s``, ``1h 02m``.

    ``-`` when unknown (None, NaN).
    """
    if not _finite(seconds):
        return "-"
    assert seconds is not None
    if seconds < 0:
        return "-" + duration(-seconds)
    # Each unit's cut-off is where its rounded text would reach the next unit.
    if seconds * 1e6 < 9.95:
        return f"{_fixed(seconds * 1e6, 1)} \u00b5s"
    if seconds * 1e6 < 999.5:
        return f"{_fixed(seconds * 1e6, 0)} \u00b5s"
    if seconds * 1e3 < 9.95:
        return f"{_fixed(seconds * 1e3, 1)} ms"
    if seconds * 1e3 < 999.5:
        return f"{_fixed(seconds * 1e3, 0)} ms"
    if seconds < 59.995:
        return f"{_fixed(seconds, 2)} s"
    whole = int(_fixed(seconds, 0))
    if whole < 3600:
        minutes, secs = divmod(whole, 60)
        return f"{minutes}m {secs:02d}s"
    hours, rest = divmod(whole, 3600)
    return f"{hours}h {rest // 60:02d}m"


def duration_ns(ns: Optional[int]) -> str:
    """:func:`duration` of a nanosecond count."""
    return duration(None if ns is None else ns / 1e9)


def tokens(n: Optional[int]) -> str:
    """An integer with thousands separators (``-`` when unknown)."""
    return "-" if n is None else f"{int(n):,}"


def cost(dollars: Optional[float]) -> str:
    """``$0.000044``, ``$0.0288``, ``$0.50``, ``$1,234.57``; ``-`` when unknown (never a silent 0).

    Below $1 a cost keeps 3 significant digits (at least 2 decimals, trailing
    zeros dropped beyond them), so a tiny call is not shown as ``$0.00``; from
    $1 it has cents.
    """
    if not _finite(dollars):
        return "-"
    assert dollars is not None
    if dollars < 0:
        return "-" + cost(-dollars)
    if dollars == 0:
        return "$0.00"
    if float(_fixed(dollars, 2)) >= 1:
        return f"${Decimal(_fixed(dollars, 2)):,}"
    text = _significant(dollars, 3)
    whole, _, decimals = text.partition(".")
    decimals = decimals.rstrip("0").ljust(2, "0")
    return f"${whole}.{decimals}"


def number(value: Any) -> str:
    """A value for a table cell: floats to 4 significant digits (``0.8333``, ``1,234``),
    integers with separators, ``-`` for None, anything else as text."""
    if value is None:
        return "-"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if not math.isfinite(value):
        return str(value)  # nan, inf: shown, not hidden
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    magnitude = abs(value)
    if magnitude >= 1e4:
        return f"{sign}{Decimal(_fixed(magnitude, 0)):,}"
    if magnitude < 1e-4:
        return f"{value:.3e}"
    text = _significant(magnitude, 4)
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return sign + text


def pct(rate: Optional[float]) -> str:
    """A 0..1 rate as ``83.3%`` (``-`` when there is nothing to rate)."""
    return f"{_fixed(rate * 100, 1)}%" if _finite(rate) and rate is not None else "-"


def _moment(ns: Any) -> Optional[datetime]:
    if not _finite(ns):
        return None
    try:
        return datetime.fromtimestamp(ns / 1e9, tz=timezone.utc).astimezone()
    except (OverflowError, OSError, ValueError):
        return None


def _offset(moment: datetime) -> str:
    text = moment.strftime("%z")  # +0100
    return f"{text[:3]}:{text[3:]}" if text else ""


def when(ns: Optional[int], *, millis: bool = False, zone: bool = True) -> str:
    """A timestamp (epoch nanoseconds) with its date and the local time zone's offset:
    ``2026-12-02 14:21:50 +01:00`` (``.123`` after the seconds with ``millis``; no offset
    with ``zone=False``, for a column whose header carries it)."""
    moment = _moment(ns)
    if moment is None:
        return "-"
    text = moment.strftime("%Y-%m-%d %H:%M:%S")
    if millis:
        text += f".{moment.microsecond // 1000:03d}"
    return f"{text} {_offset(moment)}".rstrip() if zone else text


def time_column(header: str, values: Sequence[Optional[int]]) -> Tuple[str, List[str]]:
    """A table column of timestamps: ``("STARTED (+01:00)", ["2026-12-02 14:21:50", ...])``.

    The UTC offset goes once in the header when every row has the same one (a
    column that spans a daylight-saving change keeps it in each cell instead)."""
    offsets = {_offset(m) for m in map(_moment, values) if m is not None}
    if len(offsets) == 1:
        (offset,) = offsets
        return f"{header} ({offset})", [when(v, zone=False) for v in values]
    return header, [when(v) for v in values]


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
    keep: Sequence[int] = (),
) -> str:
    """A plain-text table fitted to ``width`` (the terminal's width by default).

    When the natural width is too wide, columns are shrunk (their cells cut
    with an ellipsis), the widest first, in this order until it fits: text
    columns; then the ``right`` (numeric, right-aligned) columns, but only their
    headers (a number is cut only when everything else is at its narrowest);
    then the columns in ``keep`` (ids, which must stay whole to be copied);
    then any column.
    """
    if width is None:
        width = shutil.get_terminal_size((120, 24)).columns
    cells: List[List[str]] = [[_cell(h) for h in headers]] + [[_cell(c) for c in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    gap = 2
    floor = 6

    def shrink(columns: Sequence[int], floors: Sequence[int]) -> None:
        while columns and sum(widths) + gap * (len(widths) - 1) > width:
            i = max(columns, key=lambda k: widths[k] - floors[k])
            if widths[i] <= floors[i]:
                break
            widths[i] -= 1

    everywhere = [floor] * len(widths)
    free = [i for i in range(len(widths)) if i not in keep and i not in right]
    shrink(free, everywhere)
    cell_widths = [max([len(row[i]) for row in cells[1:]] or [0]) for i in range(len(widths))]
    shrink([i for i in right if i < len(widths)], [max(floor, w) for w in cell_widths])
    shrink([i for i in keep if i < len(widths)], everywhere)
    shrink(range(len(widths)), everywhere)
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
