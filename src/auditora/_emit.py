"""The hand-off point between the hot path and everything that consumes records.

Producers (runs, adats) call :func:`emit` only when :data:`targets` is non-empty,
so an unconfigured process pays one attribute read per record. A target is a
callable taking one record; it must be cheap and must not block (the recorder's
``submit`` appends to a bounded queue; ``testing.capture`` appends to a list).
Targets are swapped as a whole tuple so iteration never sees a half-updated list.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Callable, Tuple

from .records import Record

Target = Callable[[Record], None]

#: The active targets; replaced (never mutated) under ``_lock``.
targets: Tuple[Target, ...] = ()
_lock = threading.Lock()
_failures = 0
_logger = logging.getLogger("auditora")


def emit(record: Record) -> None:
    """Hand ``record`` to every target; a failing target is counted, never raised."""
    global _failures
    for target in targets:
        try:
            target(record)
        except Exception:  # never break the host
            _failures += 1
            if _failures == 1:
                _logger.exception("auditora: a record target failed; further failures are counted")


def add_target(target: Target) -> None:
    """Start sending records to ``target``."""
    global targets
    with _lock:
        targets = (*targets, target)


def remove_target(target: Target) -> None:
    """Stop sending records to ``target`` (no error when it is not registered)."""
    global targets
    with _lock:
        items = list(targets)
        if target in items:
            items.remove(target)
        targets = tuple(items)


def _swap_target(old: Target, new: Target) -> None:
    """Replace ``old`` by ``new`` in place (used in a forked child)."""
    global targets
    targets = tuple(new if t == old else t for t in targets)


def _after_fork_in_child() -> None:
    # A lock held by another thread at fork time would stay held forever.
    global _lock
    _lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def failures() -> int:
    """How many times a target raised."""
    return _failures
