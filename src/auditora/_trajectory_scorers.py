"""Scorers over agent trajectories (re-exported by :mod:`auditora.scorers`).

Each factory returns a scorer ``(output, item=None) -> Score`` whose ``output``
is a :class:`~auditora.agents.Trajectory`. In an experiment the harness hands a
trajectory scorer the trajectory of the item's trace (it sees the scorer's
``needs_trajectory`` attribute); on stored traces, call it yourself::

    from auditora.agents import trajectory
    from auditora.scorers import tool_sequence

    score = tool_sequence(["search", "answer"], mode="in_order")(trajectory("a.db", trace_id))

Every score is 1.0 (pass) or 0.0 (fail), with an explanation saying what was seen.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from typing import Any, Callable, List, Optional, Sequence

from .agents import Trajectory
from .experiments._model import Score

__all__ = [
    "forbidden_tools",
    "handoff_to",
    "max_cost",
    "max_latency",
    "max_steps",
    "no_loops",
    "tool_sequence",
]

TrajectoryScorer = Callable[..., Score]
_MODES = ("exact", "in_order", "any_order")


def _scorer(name: str, check: Callable[[Trajectory], Score]) -> TrajectoryScorer:
    def score(output: Any, item: Any = None) -> Score:
        if not isinstance(output, Trajectory):
            raise TypeError(
                f"{name} scores a Trajectory (auditora.agents.trajectory(...)), "
                f"not {type(output).__name__}"
            )
        return check(output)

    score.__name__ = score.__qualname__ = name
    score.needs_trajectory = True  # type: ignore[attr-defined]
    return score


def _verdict(ok: bool, explanation: str) -> Score:
    return Score(ok, label="pass" if ok else "fail", explanation=explanation)


def _names(values: Sequence[str], what: str) -> List[str]:
    if isinstance(values, str) or not all(isinstance(v, str) and v for v in values):
        raise TypeError(f"{what} must be a list of non-empty str")
    return list(values)


def _is_subsequence(wanted: Sequence[str], seen: Sequence[str]) -> bool:
    it = iter(seen)
    return all(any(s == w for s in it) for w in wanted)


def tool_sequence(expected: Sequence[str], mode: str = "exact") -> TrajectoryScorer:
    """The tools called, against ``expected``.

    ``exact``: exactly these calls in this order. ``in_order``: these calls in this
    order, others allowed between them. ``any_order``: each of these calls (as
    many times as listed) in any order, others allowed.
    """
    wanted = _names(expected, "expected")
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {', '.join(_MODES)}, not {mode!r}")

    def check(t: Trajectory) -> Score:
        seen = t.tools
        if mode == "exact":
            ok = seen == wanted
        elif mode == "in_order":
            ok = _is_subsequence(wanted, seen)
        else:
            ok = not (Counter(wanted) - Counter(seen))
        return _verdict(ok, f"expected {wanted} ({mode}), called {seen}")

    return _scorer("tool_sequence", check)


def forbidden_tools(tools: Sequence[str]) -> TrajectoryScorer:
    """Fails when any of ``tools`` was called."""
    banned = set(_names(tools, "tools"))

    def check(t: Trajectory) -> Score:
        called = sorted(banned.intersection(t.tools))
        return _verdict(not called, f"called forbidden {called}" if called else "none called")

    return _scorer("forbidden_tools", check)


def _positive(value: Any, what: str, integer: bool = False) -> None:
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or not value >= 0:
        raise ValueError(f"{what} must be a {'count' if integer else 'number'} >= 0, not {value!r}")
    if not integer and math.isinf(value):
        raise ValueError(f"{what} must be finite")


def max_steps(n: int) -> TrajectoryScorer:
    """Passes when the trace took at most ``n`` actions (tool calls and LLM calls)."""
    _positive(n, "n", integer=True)

    def check(t: Trajectory) -> Score:
        steps = len(t.actions)
        return _verdict(steps <= n, f"{steps} actions (at most {n})")

    return _scorer("max_steps", check)


def max_cost(usd: float) -> TrajectoryScorer:
    """Passes when the trace's LLM calls cost at most ``usd`` (unpriced calls count 0)."""
    _positive(usd, "usd")

    def check(t: Trajectory) -> Score:
        cost = t.cost or 0.0
        return _verdict(cost <= usd, f"cost ${cost:.6g} (at most ${usd:.6g})")

    return _scorer("max_cost", check)


def max_latency(seconds: float) -> TrajectoryScorer:
    """Passes when the trace lasted at most ``seconds`` (first start to last end)."""
    _positive(seconds, "seconds")

    def check(t: Trajectory) -> Score:
        if t.duration is None:
            return _verdict(False, "the trace has no finished run")
        return _verdict(t.duration <= seconds, f"{t.duration:.6g} s (at most {seconds:.6g} s)")

    return _scorer("max_latency", check)


def _arguments_key(arguments: Any) -> Optional[str]:
    if arguments is None:
        return None
    return json.dumps(arguments, sort_keys=True, default=repr)


def no_loops(k: int = 3) -> TrajectoryScorer:
    """Fails when the same tool is called with the same arguments ``k`` times or more.

    Without captured arguments every call of a tool counts as the same call.
    """
    _positive(k, "k", integer=True)
    if k < 2:
        raise ValueError("k must be at least 2")

    def check(t: Trajectory) -> Score:
        calls = Counter((s.tool or s.name, _arguments_key(s.arguments)) for s in t.of_kind("tool"))
        loops = sorted(tool for (tool, _), count in calls.items() if count >= k)
        if loops:
            return _verdict(False, f"repeated {k}+ times with the same arguments: {loops}")
        return _verdict(True, f"no tool call repeated {k} times")

    return _scorer("no_loops", check)


def handoff_to(agent: str) -> TrajectoryScorer:
    """Passes when some agent handed the work to ``agent``."""
    if not isinstance(agent, str) or not agent:
        raise TypeError("agent must be a non-empty str")

    def check(t: Trajectory) -> Score:
        ok = any(to == agent for _, to in t.handoffs)
        return _verdict(ok, f"hand-offs {t.handoffs}, wanted one to {agent!r}")

    return _scorer("handoff_to", check)
