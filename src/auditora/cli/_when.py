"""Reading a point in time from the command line: ``--since 30m``, ``--since 2026-12-01``."""

from __future__ import annotations

import argparse
import re
import time
from datetime import datetime
from typing import Optional

__all__ = ["parse_since", "since_arg"]

_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d|w)\s*$", re.IGNORECASE)
_UNIT_S = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_since(text: str, now_ns: Optional[int] = None) -> int:
    """Epoch nanoseconds of ``text``: an age before now (``90s``, ``30m``, ``1h``, ``2d``,
    ``1w``) or an ISO 8601 date or date-time (``2026-12-01``, ``2026-12-01T09:30``,
    ``2026-12-01 09:30:00+01:00``; without an offset, local time). ValueError otherwise."""
    now = time.time_ns() if now_ns is None else now_ns
    age = _AGE.match(text)
    if age:
        seconds = float(age.group(1)) * _UNIT_S[age.group(2).lower()]
        return now - int(seconds * 1e9)
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"expected an age (30m, 1h, 2d, 1w) or an ISO date/time (2026-12-01T09:30), "
            f"got {text!r}"
        ) from None
    if moment.tzinfo is None:
        moment = moment.astimezone()  # naive: the local time zone
    return int(moment.timestamp() * 1e9)


def since_arg(text: str) -> int:
    """:func:`parse_since` as an argparse ``type`` (errors become usage errors)."""
    try:
        return parse_since(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
