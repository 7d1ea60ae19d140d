"""Auditora: non-invasive observability for LLM-powered systems and data pipelines.

Decorate a function with :func:`sentinel` and use :data:`session`,
:data:`monitor` and :data:`report` anywhere below it, with no parameters.
"""

from __future__ import annotations

from typing import Any

from . import _config
from ._version import __version__ as __version__
from .adats import DefaultMonitor, DefaultReport, DefaultSession
from .core._bifrost import bifrost_async, bifrost_sync
from .core._errors import ContextError
from .core._paragon import Paragon
from .core._proxies import monitor, report, session
from .core._sentinel import sentinel
from .core._threads import bind
from .records import Run

# Names provided by modules that are imported on first use, so that
# ``import auditora`` stays light: name -> module.
_LAZY = {
    "configure": "auditora._configure",
    "flush": "auditora._recorder",
    "shutdown": "auditora._recorder",
    "stats": "auditora._recorder",
}

__all__ = [
    "ContextError",
    "DefaultMonitor",
    "DefaultReport",
    "DefaultSession",
    "Paragon",
    "Run",
    "bifrost_async",
    "bifrost_sync",
    "bind",
    "configure",
    "current_run",
    "flush",
    "monitor",
    "report",
    "sentinel",
    "session",
    "shutdown",
    "stats",
]


def current_run() -> Run | None:
    """The active run, or None outside any context."""
    return Paragon.current()


#: Public submodules, imported on first use as attributes (``auditora.testing.capture()``
#: after a plain ``import auditora``).
_SUBMODULES = frozenset(
    {
        "agents",
        "evaluations",
        "experiments",
        "integrations",
        "llm",
        "logging_bridge",
        "propagation",
        "records",
        "redaction",
        "sampling",
        "scorers",
        "sinks",
        "store",
        "testing",
        "typing",
        "viewer",
    }
)


def __getattr__(name: str) -> Any:
    import importlib

    if name in _SUBMODULES:
        return importlib.import_module(f"auditora.{name}")
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'auditora' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


# AUDITORA_STORE / AUDITORA_SINKS take effect at import, with no configure() call:
# called here, once, explicitly (not as a side effect of importing some module),
# and only when one is set, so that an unconfigured `import auditora` stays light.
if _config.settings.store or _config.settings.sinks:
    from ._configure import configure_from_environment

    configure_from_environment()
