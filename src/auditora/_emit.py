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
from contextvars import ContextVar
from typing import Callable, Tuple

from .records import Record

Target = Callable[[Record], None]

#: True while records are produced where waiting could deadlock: inside a
#: logging handler (which holds the handler's lock the recorder's own threads
#: may need to log). A full queue then drops instead of making the producer wait.
no_wait: ContextVar[bool] = ContextVar("auditora_no_wait", default=False)

#: The active targets; replaced (never mutated) under ``_lock``.
targets: Tuple[Target, ...] = ()
#: Targets that guard themselves (never raise): they may be called directly.
_trusted: Tuple[Target, ...] = ()
_lock = threading.Lock()
_failures = 0
_logger = logging.getLogger("auditora")


def _emit_all(record: Record) -> None:
    """Hand ``record`` to every target; a failing target is counted, never raised."""
    global _failures
    for target in targets:
        try:
            target(record)
        except Exception:  # never break the host
            _failures += 1
            if _failures == 1:
                _logger.exception("auditora: a record target failed; further failures are counted")


#: What producers call (after checking ``targets``): :func:`_emit_all`, or the
#: only target itself when it is trusted (the recorder's ``submit``), which
#: saves a frame, a loop and a ``try`` per record.
emit: Target = _emit_all


def _rebind() -> None:
    global emit
    only = targets[0] if len(targets) == 1 else None
    emit = only if only is not None and only in _trusted else _emit_all


def add_target(target: Target, trusted: bool = False) -> None:
    """Start sending records to ``target``. ``trusted``: it never raises (it
    guards itself), so it may be called without the failure guard."""
    global targets, _trusted
    with _lock:
        targets = (*targets, target)
        if trusted:
            _trusted = (*_trusted, target)
        _rebind()


def remove_target(target: Target) -> None:
    """Stop sending records to ``target`` (no error when it is not registered)."""
    global targets, _trusted
    with _lock:
        items = list(targets)
        if target in items:
            items.remove(target)
        targets = tuple(items)
        if target in _trusted and target not in targets:
            _trusted = tuple(t for t in _trusted if t != target)
        _rebind()


def _swap_target(old: Target, new: Target) -> None:
    """Replace ``old`` by ``new`` in place (used in a forked child)."""
    global targets, _trusted
    targets = tuple(new if t == old else t for t in targets)
    _trusted = tuple(new if t == old else t for t in _trusted)
    _rebind()


def reset() -> None:
    """Forget every target (for tests)."""
    global targets, _trusted
    with _lock:
        targets = _trusted = ()
        _rebind()


def _after_fork_in_child() -> None:
    # A lock held by another thread at fork time would stay held forever.
    global _lock
    _lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def failures() -> int:
    """How many times a target raised."""
    return _failures
