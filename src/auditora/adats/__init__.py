"""Adats: the pluggable session, monitor and report components.

Subclass :class:`DefaultSession`, :class:`DefaultMonitor` or
:class:`DefaultReport` (or write your own class with the same methods) and pass
an instance to ``@sentinel(session=...)``.
"""

from .monitor import DefaultMonitor
from .report import DefaultReport
from .session import DefaultSession

__all__ = ["DefaultMonitor", "DefaultReport", "DefaultSession"]
