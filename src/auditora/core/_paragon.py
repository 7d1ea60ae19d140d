"""Paragon: the one ContextVar that holds the active frame.

The frame is the active :class:`~auditora.records.Run`; it carries the session,
monitor and report the proxies resolve to. Every push returns a token and every
pop resets that exact token, so nesting restores the previous frame precisely.

A token can only be reset in the ``contextvars.Context`` that created it. Code
that pushes in one context and pops in another (a generator driven from two
tasks, a block split across threads) would make ``ContextVar.reset`` raise into
the user's code; :meth:`Paragon.reset` instead restores the token's old value in
the current context, counts the event and logs it once (as OpenTelemetry's
``detach`` does).
"""

from __future__ import annotations

import logging
from contextvars import ContextVar, Token
from typing import Optional

from ..records import Run

__all__ = ["Paragon", "active", "pop", "push"]

_frame: ContextVar[Optional[Run]] = ContextVar("auditora_frame", default=None)
_logger = logging.getLogger("auditora")

# The one way to the frame for the rest of the package: the ContextVar's own
# methods, bound once (a static method would add a call frame on the hot path).
#: The active run, or None outside any context.
active = _frame.get
#: Make a run active; returns the token that :data:`pop` (or :meth:`Paragon.reset`)
#: takes. Only for a push and pop in one context (one call, one generator step).
push = _frame.set
#: Restore the frame active before a :data:`push`, in the context that made it.
pop = _frame.reset


class Paragon:
    """Context-local storage of the active frame (a :class:`Run`).

    All methods are static: there is one Paragon per process, and the per-thread
    and per-task isolation comes from ``contextvars`` itself.
    """

    var = _frame
    foreign_resets = 0

    @staticmethod
    def current() -> Optional[Run]:
        """The active run, or None outside any context."""
        return _frame.get()

    @staticmethod
    def set(frame: Optional[Run]) -> Token[Optional[Run]]:
        """Make ``frame`` active; keep the token to restore the previous one."""
        return _frame.set(frame)

    @staticmethod
    def reset(token: Token[Optional[Run]]) -> bool:
        """Restore the frame that was active before ``token``'s ``set``.

        Returns False (and never raises) when the token belongs to another
        context or was already used; the old value is then set explicitly.
        """
        try:
            _frame.reset(token)
            return True
        except (ValueError, RuntimeError):
            Paragon.foreign_resets += 1
            if Paragon.foreign_resets == 1:
                _logger.warning(
                    "auditora: a context token was reset outside the context that created "
                    "it; the previous frame was restored by value. Further cases are counted "
                    "in Paragon.foreign_resets."
                )
            old = token.old_value
            _frame.set(None if old is Token.MISSING else old)
            return False
