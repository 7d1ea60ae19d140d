"""``configure()``: the top of Auditora's global-state department.

The department has two floors, as structlog's ``_config.py`` has one:

- :mod:`auditora._config`, at the bottom, holds the settings and reads the
  ``AUDITORA_*`` environment variables; it imports nothing else of Auditora,
  so every module may read it.
- This module, at the top, changes them: :func:`configure` writes the
  settings, builds sinks from their names (:func:`sink_from_spec`) and
  installs them in the recorder; :func:`configure_from_environment` installs
  the sinks that ``AUDITORA_STORE`` / ``AUDITORA_SINKS`` name (``import
  auditora`` calls it, once, explicitly); :func:`reset` returns every piece of
  process-wide state to its default (``auditora.testing.reset``).

It may import anything below it (the sink names are parsed here, not in
:mod:`auditora.sinks`, because ``otel`` names an integration, a layer above the
sinks); nothing imports it but the package root (``auditora.configure``, and
the environment's sinks at import) and :mod:`auditora.testing`.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from typing import Any, Iterable, List, Optional, Union

from . import _config, _emit, _recorder, llm, redaction
from ._config import settings
from .core._paragon import Paragon
from .sinks import ConsoleSink, JSONLSink, MemorySink, Sink, store_sink
from .store._schema import StoreError
from .store._url import mask

__all__ = ["configure", "configure_from_environment", "reset", "sink_from_spec"]

_logger = logging.getLogger("auditora")
_UNSET: Any = object()
#: Serializes configure() calls (the settings and the sinks change together).
_lock = threading.RLock()

#: Integrations that patch or hook something process-wide, undone by reset().
#: Looked up in ``sys.modules``, never imported: one never imported has
#: instrumented nothing, and importing it would import its SDK.
_INSTRUMENTING = (
    "auditora.integrations.openai",
    "auditora.integrations.anthropic",
    "auditora.integrations.otel",
)

SinkSpecs = Union[str, Sink, Iterable[Union[str, Sink]]]


def sink_from_spec(spec: Union[str, Sink]) -> Sink:
    """A sink from a name: ``memory``, ``console``, ``jsonl:PATH``, ``sqlite:PATH``,
    ``postgresql://user@host/db`` or ``otel``.

    ``otel`` builds an :class:`~auditora.integrations.otel.OTelSink` configured by the
    standard ``OTEL_EXPORTER_OTLP_*`` variables (needs ``pip install 'auditora[otel]'``).

    A :class:`~auditora.sinks.Sink` instance is returned unchanged. Raises
    ``ValueError`` for an unknown name or a missing path.
    """
    if isinstance(spec, Sink):
        return spec
    if not isinstance(spec, str):
        raise TypeError(f"a sink must be a Sink or a name, not {type(spec).__name__}")
    name, _, arg = spec.strip().partition(":")
    name = name.strip().lower()
    arg = arg.strip()
    if name == "memory" and not arg:
        return MemorySink()
    if name == "console" and not arg:
        return ConsoleSink()
    if name in ("jsonl", "sqlite"):
        if not arg:
            raise ValueError(f"sink {spec!r} needs a path, e.g. '{name}:records.{name}'")
        return JSONLSink(arg) if name == "jsonl" else store_sink(spec.strip())
    if name in ("postgresql", "postgres"):
        return store_sink(spec.strip())
    if name == "otel" and not arg:
        from .integrations.otel import OTelSink  # lazy: the SDK is an optional extra

        return OTelSink()
    raise ValueError(
        f"unknown sink {mask(spec)!r}; expected memory, console, jsonl:PATH, sqlite:PATH, "
        "postgresql://... or otel"
    )


def _sinks_from_specs(specs: SinkSpecs) -> List[Sink]:
    """Sinks from one instance, one name, a comma-separated string, or a list of those."""
    if isinstance(specs, Sink):
        return [specs]
    if isinstance(specs, str):
        specs = [s for s in specs.split(",") if s.strip()]
    return [sink_from_spec(s) for s in specs]


def configure(
    *,
    store: Optional[Union[str, os.PathLike[str]]] = None,
    sinks: Optional[SinkSpecs] = None,
    console: Optional[bool] = None,
    disabled: Optional[bool] = None,
    capture_content: Optional[bool] = None,
    log_level: Optional[str] = None,
    queue_size: Optional[int] = None,
    batch_size: Optional[int] = None,
    flush_interval: Optional[float] = None,
    export_timeout: Optional[float] = None,
    sink_backlog: Optional[int] = None,
    atexit_timeout: Optional[float] = None,
    overflow: Optional[str] = None,
    block_timeout: Optional[float] = None,
    max_string_length: Optional[int] = None,
    max_items: Optional[int] = None,
    max_depth: Optional[int] = None,
    max_nodes: Optional[int] = None,
    sampler: Any = _UNSET,
) -> None:
    """Configure Auditora for this process. Arguments left as None are unchanged.

    ``store="auditora.db"`` keeps records in that SQLite store; ``sinks`` takes
    :class:`~auditora.sinks.Sink` instances and/or names (``"memory"``,
    ``"console"``, ``"jsonl:PATH"``, ``"sqlite:PATH"``, ``"otel"``, or one
    comma-separated string). Giving ``store`` or ``sinks`` *replaces* the
    current sinks (the old ones are flushed and closed first); ``sinks=[]``
    removes them all. ``console`` turns the report's echo on or off;
    ``disabled=True`` makes ``@sentinel`` (for functions decorated afterwards)
    and the proxies no-ops.
    ``capture_content`` records LLM prompts/completions. ``log_level`` is the
    minimum level of log records sent to sinks. ``overflow`` is what a full
    queue does: ``"block"`` (the default: the producer waits for room, at most
    ``block_timeout`` seconds, so nothing is lost for being produced fast) or
    ``"drop"`` (the record is dropped and counted; the app never waits).
    ``queue_size``, ``batch_size``, ``flush_interval``, ``export_timeout``,
    ``sink_backlog`` and ``atexit_timeout`` tune the recorder; ``max_*``
    bound serialization.
    ``sampler(record) -> bool`` decides which records are kept (``None``
    removes it); it runs on the hot path, so keep it cheap.

    Environment variables provide the defaults (``docs/configuration.md``).
    """
    with _lock:
        for name, value in (
            ("console", console),
            ("disabled", disabled),
            ("capture_content", capture_content),
        ):
            if value is not None:
                setattr(settings, name, bool(value))
        if overflow is not None:
            if overflow not in _config.OVERFLOW_POLICIES:
                raise ValueError(f"overflow must be 'block' or 'drop', not {overflow!r}")
            settings.overflow = overflow
        if log_level is not None:
            level = str(log_level).upper()
            if level not in _config.LEVELS:
                raise ValueError(f"unknown log level {log_level!r}")
            settings.log_level = level
        for name, number in (
            ("queue_size", queue_size),
            ("batch_size", batch_size),
            ("sink_backlog", sink_backlog),
            ("max_string_length", max_string_length),
            ("max_items", max_items),
            ("max_depth", max_depth),
            ("max_nodes", max_nodes),
        ):
            if number is not None:
                if not isinstance(number, int) or number < 1:
                    raise ValueError(f"{name} must be a positive int, not {number!r}")
                setattr(settings, name, number)
        for name, seconds in (
            ("flush_interval", flush_interval),
            ("export_timeout", export_timeout),
            ("atexit_timeout", atexit_timeout),
            ("block_timeout", block_timeout),
        ):
            if seconds is not None:
                if not isinstance(seconds, (int, float)) or seconds <= 0:
                    raise ValueError(f"{name} must be a positive number, not {seconds!r}")
                setattr(settings, name, float(seconds))
        if sampler is not _UNSET:
            if sampler is not None and not callable(sampler):
                raise TypeError("sampler must be a callable record -> bool, or None")
            _recorder.set_sampler(sampler)
        new_sinks: Optional[List[Sink]] = None
        if sinks is not None:
            new_sinks = _sinks_from_specs(sinks)
        if store is not None:
            new_sinks = [*(new_sinks or []), store_sink(store)]
        if new_sinks is not None:
            _recorder.install(new_sinks, settings.atexit_timeout)
        elif queue_size is not None or batch_size is not None:
            _recorder.resize(settings.atexit_timeout)


def configure_from_environment() -> None:
    """Install the sinks ``AUDITORA_STORE`` / ``AUDITORA_SINKS`` name; nothing when unset.

    ``import auditora`` calls it once, so records reach those sinks with no
    ``configure()`` call; :func:`reset` calls it again after re-reading the
    environment. Only registers the recorder: no thread is started and no file
    is opened before the first record. An invalid value is logged, never raised.
    """
    if not (settings.store or settings.sinks):
        return
    try:
        sinks = _sinks_from_specs(settings.sinks) if settings.sinks else []
        if settings.store:
            sinks.append(store_sink(settings.store))
        with _lock:
            _recorder.install(sinks, settings.atexit_timeout)
    except (StoreError, ValueError) as exc:
        _logger.error(
            "auditora: invalid AUDITORA_STORE / AUDITORA_SINKS (%s); records are not kept",
            mask(str(exc)),
        )
    except Exception:
        _logger.exception("auditora: invalid AUDITORA_STORE / AUDITORA_SINKS; records are not kept")


def _uninstrument() -> None:
    for name in _INSTRUMENTING:
        module = sys.modules.get(name)
        if module is not None:
            module.uninstrument()


def _forget_recent_responses() -> None:
    instrument = sys.modules.get("auditora.llm._instrument")
    if instrument is not None:  # never imported: nothing recorded
        instrument.forget_recent()


def _zero_foreign_resets() -> None:
    Paragon.foreign_resets = 0


def reset(timeout: float = 2.0) -> None:
    """Return every piece of Auditora's process-wide state to its default.

    The implementation of :func:`auditora.testing.reset` (documented there).
    Each step is guarded: one that fails is logged and the others still run.
    """
    steps = (
        ("the recorder", lambda: _recorder.reset(timeout)),
        ("the record targets", _emit.reset),
        ("the settings", _config.reset),
        ("the LLM budgets", llm.clear_budgets),
        ("the LLM prices", llm.reset_prices),
        ("the redaction rules", redaction.reset),
        ("the SDK instrumentation", _uninstrument),
        ("the recent LLM response ids", _forget_recent_responses),
        ("the foreign-reset count", _zero_foreign_resets),
        ("the environment's sinks", configure_from_environment),
    )
    with _lock:
        for what, step in steps:
            try:
                step()
            except Exception:
                _logger.exception("auditora: reset: restoring %s failed", what)


def _after_fork_in_child() -> None:
    # A lock held by another thread at fork time would stay held forever.
    global _lock
    _lock = threading.RLock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
