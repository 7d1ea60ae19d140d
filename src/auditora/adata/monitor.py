"""Alias of :mod:`auditora.adats.monitor` (same objects, not copies)."""

from ..adats.monitor import DefaultMonitor

__all__ = ["DefaultMonitor"]
