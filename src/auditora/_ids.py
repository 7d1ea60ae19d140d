"""W3C trace-context compatible ids, cheap enough for the hot path.

``random.getrandbits`` uses the module's global generator, which CPython
re-seeds in a forked child, so parent and child never mint the same ids.
"""

from __future__ import annotations

from random import getrandbits

__all__ = ["new_span_id", "new_trace_id"]


def new_span_id() -> str:
    """A random 64-bit id as 16 lowercase hex digits, never all zeros."""
    return "%016x" % (getrandbits(64) or 1)


def new_trace_id() -> str:
    """A random 128-bit id as 32 lowercase hex digits, never all zeros."""
    return "%032x" % (getrandbits(128) or 1)
