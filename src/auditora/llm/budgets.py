"""Budgets: a dollar or token limit per session (or per sentinel) that warns or raises.

::

    from auditora.llm import set_budget, BudgetExceededError

    @sentinel(session_id="nightly-eval")
    def evaluate(): ...

    set_budget(evaluate, max_cost=5.00)          # the sentinel's session
    set_budget("nightly-eval", max_tokens=2_000_000, on_exceed="warn")

Every LLM call recorded in the session adds its cost and tokens. The call that
goes over the limit is recorded, and then either a :class:`BudgetWarning` is
issued (once) or :class:`BudgetExceededError` is raised. With ``"raise"``,
every later call raises too — and the SDK integrations raise *before* sending
the request, so an exhausted budget stops the spending.
"""

from __future__ import annotations

import threading
import warnings
from typing import Any, Dict, Optional

from .pricing import user_stacklevel

__all__ = [
    "Budget",
    "BudgetExceededError",
    "BudgetWarning",
    "check_budget",
    "clear_budgets",
    "get_budget",
    "set_budget",
]


class BudgetWarning(UserWarning):
    """Issued once when a budget with ``on_exceed="warn"`` is exceeded."""


class BudgetExceededError(RuntimeError):
    """Raised when a budget with ``on_exceed="raise"`` is exceeded.

    ``session_id`` names the session, ``unit`` is ``"usd"`` or ``"tokens"``,
    ``limit`` the limit and ``spent`` the amount recorded so far.
    """

    def __init__(self, session_id: Optional[str], unit: str, limit: float, spent: float) -> None:
        self.session_id = session_id
        self.unit = unit
        self.limit = limit
        self.spent = spent
        shown = (
            f"${spent:.4f} of ${limit:.4f}" if unit == "usd" else f"{spent:g} of {limit:g} tokens"
        )
        super().__init__(f"auditora: LLM budget of session {session_id!r} exceeded: {shown}")


class Budget:
    """A limit on the LLM cost (dollars) and/or tokens of one session.

    ``on_exceed`` is ``"raise"`` (default) or ``"warn"``. ``spent_cost`` and
    ``spent_tokens`` are what has been recorded since the budget was set.
    Calls of unknown price add tokens but no cost.
    """

    def __init__(
        self,
        session_id: Optional[str],
        max_cost: Optional[float] = None,
        max_tokens: Optional[int] = None,
        on_exceed: str = "raise",
    ) -> None:
        if max_cost is None and max_tokens is None:
            raise ValueError("a budget needs max_cost and/or max_tokens")
        if on_exceed not in ("raise", "warn"):
            raise ValueError(f"on_exceed must be 'raise' or 'warn', not {on_exceed!r}")
        self.session_id = session_id
        self.max_cost = max_cost
        self.max_tokens = max_tokens
        self.on_exceed = on_exceed
        self.spent_cost = 0.0
        self.spent_tokens = 0
        self._warned = False
        self._lock = threading.Lock()

    @property
    def exceeded(self) -> bool:
        """Whether the recorded spending is over a limit."""
        return self._over() is not None

    def _over(self) -> Optional[BudgetExceededError]:
        if self.max_cost is not None and self.spent_cost > self.max_cost:
            return BudgetExceededError(self.session_id, "usd", self.max_cost, self.spent_cost)
        if self.max_tokens is not None and self.spent_tokens > self.max_tokens:
            return BudgetExceededError(
                self.session_id, "tokens", self.max_tokens, self.spent_tokens
            )
        return None

    def add(self, cost: Optional[float], tokens: int) -> None:
        """Count one call's spending, then warn or raise if over the limit."""
        with self._lock:
            if cost is not None:
                self.spent_cost += cost
            self.spent_tokens += tokens
        self.check()

    def check(self) -> None:
        """Warn or raise when already over the limit (otherwise do nothing)."""
        over = self._over()
        if over is None:
            return
        if self.on_exceed == "raise":
            raise over
        if not self._warned:
            self._warned = True
            warnings.warn(str(over), BudgetWarning, stacklevel=user_stacklevel())

    def __repr__(self) -> str:
        return (
            f"Budget(session_id={self.session_id!r}, max_cost={self.max_cost}, "
            f"max_tokens={self.max_tokens}, spent_cost={self.spent_cost:.6f}, "
            f"spent_tokens={self.spent_tokens})"
        )


_budgets: Dict[str, Budget] = {}
_lock = threading.Lock()


def _session_id(target: Any) -> str:
    if isinstance(target, str):
        return target
    session = getattr(target, "_session", None)  # a sentinel-decorated function
    if session is not None:
        target = session
    sid = getattr(target, "session_id", None)
    if not isinstance(sid, str):
        raise TypeError(
            "set_budget() takes a session id, a session, or a @sentinel-decorated function"
        )
    return sid


def set_budget(
    target: Any,
    *,
    max_cost: Optional[float] = None,
    max_tokens: Optional[int] = None,
    on_exceed: str = "raise",
) -> Budget:
    """Limit the LLM spending of a session and return the (fresh) :class:`Budget`.

    ``target`` is a session id, a session object, or a function decorated with
    ``@sentinel`` (its session: every call of it shares the budget).
    """
    sid = _session_id(target)
    budget = Budget(sid, max_cost, max_tokens, on_exceed)
    with _lock:
        _budgets[sid] = budget
    return budget


def get_budget(target: Any) -> Optional[Budget]:
    """The budget of a session (id, session or sentinel function), or None."""
    if not _budgets:
        return None
    try:
        return _budgets.get(_session_id(target))
    except TypeError:
        return None


def check_budget(session_id: Optional[str]) -> None:
    """Raise (or warn) if the session's budget is already exhausted."""
    if session_id is None or not _budgets:
        return
    budget = _budgets.get(session_id)
    if budget is not None:
        budget.check()


def clear_budgets() -> None:
    """Remove every budget (for tests)."""
    with _lock:
        _budgets.clear()
