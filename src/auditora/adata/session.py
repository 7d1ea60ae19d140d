"""Alias of :mod:`auditora.adats.session` (same objects, not copies)."""

from ..adats.session import DefaultSession

__all__ = ["DefaultSession"]
