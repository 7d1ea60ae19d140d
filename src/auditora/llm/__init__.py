"""LLM-native support: token prices and cost, roll-ups and budgets.

* :mod:`auditora.llm.pricing` — the bundled, dated price table; register or
  load your own prices; an unknown model costs ``None`` with one warning.
* :mod:`auditora.llm.rollups` — tokens and cost per run, trace and session, as
  monitor metrics (``llm.*``) and run attributes.
* :mod:`auditora.llm.budgets` — per-session dollar or token limits.

``report.log_llm_call`` and the OpenAI / Anthropic integrations use all three.
See ``docs/llm.md``.
"""

from __future__ import annotations

from .budgets import (
    Budget,
    BudgetExceededError,
    BudgetWarning,
    check_budget,
    clear_budgets,
    get_budget,
    set_budget,
)
from .pricing import (
    Price,
    UnknownModelWarning,
    compute_cost,
    get_price,
    load_prices,
    prices_as_of,
    register_price,
    reset_prices,
)
from .rollups import METRICS, run_usage

__all__ = [
    "METRICS",
    "Budget",
    "BudgetExceededError",
    "BudgetWarning",
    "Price",
    "UnknownModelWarning",
    "check_budget",
    "clear_budgets",
    "compute_cost",
    "get_budget",
    "get_price",
    "load_prices",
    "prices_as_of",
    "register_price",
    "reset_prices",
    "run_usage",
    "set_budget",
]
