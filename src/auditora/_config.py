"""Auditora's settings and the environment variables that give their defaults.

The bottom of the global-state department: it imports nothing else of
Auditora, so every module may read it. The hot path reads plain attributes of
:data:`settings`; :func:`auditora.configure` (in :mod:`auditora._configure`,
the top of the department) and the ``AUDITORA_*`` environment variables write
them. :func:`reset` restores the settings alone; :func:`auditora.testing.reset`
restores everything.

Nothing here acts on a setting: the sinks that ``AUDITORA_STORE`` and
``AUDITORA_SINKS`` name are installed by ``import auditora``, which calls
:func:`auditora._configure.configure_from_environment` explicitly.

Environment variables (read at import and by :func:`reset`):

``AUDITORA_DISABLED=1``
    ``@sentinel`` and the proxies become near-free no-ops.
``AUDITORA_STORE=path.db`` (or ``sqlite:///path.db``, ``postgresql://user@host/db``)
    Keep records in that store (adds a SQLite or PostgreSQL sink; ``docs/store.md``).
``AUDITORA_SINKS=console,jsonl:out.jsonl,sqlite:path.db``
    Comma-separated sink specs (``memory``, ``console``, ``jsonl:PATH``, ``sqlite:PATH``,
    ``postgresql://...``, ``otel``).
``AUDITORA_LOG_LEVEL=INFO``
    Minimum level of log records that sinks receive.
``AUDITORA_CAPTURE_CONTENT=1``
    Record LLM prompts/completions and agent message contents.
``AUDITORA_QUEUE_SIZE=16384``
    Capacity of the recorder's queue.
``AUDITORA_OVERFLOW=block``
    What a full queue does: ``block`` (the producer waits for room, bounded by
    ``block_timeout``) or ``drop`` (the new record is dropped and counted).
"""

from __future__ import annotations

import logging
import os
from typing import Optional

__all__ = ["LEVELS", "OVERFLOW_POLICIES", "Settings", "reset", "settings"]

_TRUE = {"1", "true", "yes", "on"}


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in _TRUE


def _env_int(name: str, default: int) -> int:
    try:
        value = int(os.environ.get(name, "").strip())
    except ValueError:
        return default
    return value if value > 0 else default


#: The overflow policies: a full queue makes producers wait, or drops new records.
OVERFLOW_POLICIES = ("block", "drop")

#: The log levels ``log_level`` accepts, by name, with their numbers.
LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "WARN": 30, "ERROR": 40, "CRITICAL": 50}


def _env_overflow() -> str:
    value = os.environ.get("AUDITORA_OVERFLOW", "").strip().lower()
    if value in OVERFLOW_POLICIES:
        return value
    if value:
        logging.getLogger("auditora").warning(
            "auditora: AUDITORA_OVERFLOW=%r is not 'block' or 'drop'; using 'block'", value
        )
    return "block"


def _env_str(name: str) -> Optional[str]:
    value = os.environ.get(name, "").strip()
    return value or None


class Settings:
    """Process-wide switches. Read on the hot path, so plain attributes only."""

    __slots__ = (
        "atexit_timeout",
        "batch_size",
        "block_timeout",
        "capture_content",
        "console",
        "disabled",
        "export_timeout",
        "flush_interval",
        "log_level",
        "max_depth",
        "max_items",
        "max_nodes",
        "max_string_length",
        "overflow",
        "queue_size",
        "sink_backlog",
        "sinks",
        "store",
    )

    def __init__(self) -> None:
        #: Report lines are echoed to their stream (stderr by default).
        self.console = True
        #: ``@sentinel`` and the proxies become no-ops (``AUDITORA_DISABLED=1``).
        self.disabled = _env_flag("AUDITORA_DISABLED")
        #: LLM prompts/completions and agent message contents are recorded.
        self.capture_content = _env_flag("AUDITORA_CAPTURE_CONTENT")
        #: Minimum level of ``log`` records handed to sinks (``AUDITORA_LOG_LEVEL``).
        self.log_level: Optional[str] = _env_str("AUDITORA_LOG_LEVEL")
        #: Store path or URL from ``AUDITORA_STORE`` (None: no store).
        self.store: Optional[str] = _env_str("AUDITORA_STORE")
        #: Sink specs from ``AUDITORA_SINKS`` (None: none).
        self.sinks: Optional[str] = _env_str("AUDITORA_SINKS")
        #: Records the recorder's queue holds; beyond, ``overflow`` applies.
        self.queue_size = _env_int("AUDITORA_QUEUE_SIZE", 16_384)
        #: ``"block"``: a producer finding the queue full waits for room (up to
        #: ``block_timeout``); ``"drop"``: the new record is dropped and counted.
        self.overflow = _env_overflow()
        #: Seconds a producer waits for room in a full queue before its record is
        #: dropped (then producers drop at once until the recorder makes room).
        self.block_timeout = 15.0
        #: Records per batch handed to a sink.
        self.batch_size = 2048
        #: Seconds the worker waits for more records before exporting a partial batch.
        self.flush_interval = 0.2
        #: Seconds a sink's export may take before it is reported as hung; also
        #: how long (under ``overflow="block"``) the recorder waits for room in a
        #: sink's backlog before dropping that sink's batch.
        self.export_timeout = 10.0
        #: Records waiting for one sink; beyond, ``overflow`` applies to that sink.
        self.sink_backlog = 8_192
        #: Seconds the exit-time flush may go on without any record being
        #: delivered (it goes on while the sinks make progress).
        self.atexit_timeout = 2.0
        #: Serialization limits (see ``docs/records.md``).
        self.max_string_length = 16_384
        self.max_items = 1_000
        self.max_depth = 20
        self.max_nodes = 20_000


settings = Settings()


def reset() -> None:
    """Restore every setting to its default (environment variables re-read)."""
    fresh = Settings()
    for name in Settings.__slots__:
        setattr(settings, name, getattr(fresh, name))
