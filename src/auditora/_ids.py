"""W3C trace-context compatible ids, cheap enough for the hot path, and
time-ordered so that a store's indexes grow at their ends.

Random keys scatter every insert of a B-tree index over the whole index: once
a store outgrows the page cache, each record costs a page read and a page
write per index, and SQLite's insert rate fell from ~115,000 to ~15,000
records/s by a million records. Ids that start with the time keep inserts in a
few hot pages, and the rate stays flat (``docs/store.md``). Every id still ends
in random bits:

* trace id (128 bits): Unix milliseconds (48 bits), then 80 random bits (the
  layout of UUIDv7, less the version bits). The low 64 bits, which samplers
  read, are random, as W3C trace-context level 2 asks of the rightmost 56.
* run (span) id (64 bits): a ~1 ms time bucket that wraps every ~69 seconds
  (16 bits: ``start_ns >> 20``), then 48 random bits. Spread over the buckets,
  a store's runs collide no likelier than 64 random bits would (n² / 2^65);
  a thousand runs in one millisecond collide with probability ~2e-9.
* session id: a UUIDv7 string (RFC 9562).

The time prefixes are computed at import and refreshed (:func:`refresh`,
:func:`keep_current`) by the recorder's worker each time it wakes (at every few
hundred records, and at least every ``flush_interval`` while it runs) and by
``testing.capture()`` on entry. The hot path mints ids with
:func:`new_span_id_int` and :func:`new_trace_id_int`, which use the prefixes as
they are: one ``|`` per id, never the big-int arithmetic or a clock check. Ids
minted between two refreshes carry the time of the last one; with no recorder
running the prefixes stay the import-time ones. Either way ids are as unique,
only their order is coarser, and order matters only to a store.

``random.getrandbits`` uses the module's global generator, which CPython
re-seeds in a forked child, so parent and child never mint the same ids.
"""

from __future__ import annotations

from random import getrandbits
from time import time_ns
from typing import Tuple

__all__ = [
    "keep_current",
    "new_session_id",
    "new_span_id",
    "new_span_id_int",
    "new_trace_id",
    "new_trace_id_int",
    "prefix_window",
    "refresh",
    "span_id_int",
    "trace_id_int",
]

# The current prefixes and the window of Unix ns they are valid for. Each is
# replaced by refresh(), never mutated; a thread racing a refresh may mint with
# the previous prefix, which only places its id a bucket early.
_valid_from = 0
_valid_until = 0
_span_prefix = 0
_trace_prefix = 0


def refresh(now_ns: int) -> None:
    """Recompute the id prefixes for ``now_ns`` (Unix ns)."""
    global _valid_from, _valid_until, _span_prefix, _trace_prefix
    ms = now_ns // 1_000_000
    bucket = now_ns >> 20
    _span_prefix = (bucket & 0xFFFF) << 48
    _trace_prefix = ms << 80
    _valid_from = max(ms * 1_000_000, bucket << 20)
    _valid_until = min((ms + 1) * 1_000_000, (bucket + 1) << 20)


def prefix_window() -> Tuple[int, int]:
    """``(valid_from, valid_until)``: the Unix ns the current prefixes are right for."""
    return _valid_from, _valid_until


def keep_current(now_ns: int) -> None:
    """Refresh the prefixes unless they are already the ones for ``now_ns``
    (both ways: a wall clock stepped back is followed too)."""
    if not _valid_from <= now_ns < _valid_until:
        refresh(now_ns)


def new_span_id_int() -> int:
    """A run (span) id with the current prefix, never zero: the run start's id."""
    return _span_prefix | getrandbits(48) or 1


def new_trace_id_int() -> int:
    """A trace id with the current prefix, never zero: a root run's trace id."""
    return _trace_prefix | getrandbits(80) or 1


def span_id_int(now_ns: int) -> int:
    """A run (span) id for a run starting at ``now_ns`` (Unix ns), never zero."""
    keep_current(now_ns)
    return new_span_id_int()


def trace_id_int(now_ns: int) -> int:
    """A trace id for a trace starting at ``now_ns`` (Unix ns), never zero."""
    keep_current(now_ns)
    return new_trace_id_int()


def new_span_id() -> str:
    """A run (span) id as 16 lowercase hex digits."""
    return f"{span_id_int(time_ns()):016x}"


def new_trace_id() -> str:
    """A trace id as 32 lowercase hex digits."""
    return f"{trace_id_int(time_ns()):032x}"


def new_session_id() -> str:
    """A UUIDv7 string: 48 bits of Unix milliseconds, version 7, 74 random bits."""
    rand = getrandbits(74)
    value = (
        (time_ns() // 1_000_000) << 80
        | 0x7 << 76
        | (rand >> 62) << 64
        | 0b10 << 62
        | (rand & ((1 << 62) - 1))
    )
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


refresh(time_ns())
