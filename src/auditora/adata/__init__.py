"""Alias of :mod:`auditora.adats` (the spelling the original README imports)."""

from ..adats import DefaultMonitor, DefaultReport, DefaultSession

__all__ = ["DefaultMonitor", "DefaultReport", "DefaultSession"]
