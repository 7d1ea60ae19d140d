"""Alias of :mod:`auditora.adats.report` (same objects, not copies)."""

from ..adats.report import DefaultReport

__all__ = ["DefaultReport"]
