"""Multi-agent systems: who did what, and who talked to whom.

Name the agent of a run with ``@sentinel(agent="planner")`` (or
``bifrost_sync(agent=...)``, or the :func:`agent` block below); nested runs
inherit it. Record what passes between agents with :func:`send_message` and
:func:`handoff`: each becomes an :class:`~auditora.records.AgentMessage`
(sender, recipient, kind, content) kept by the current report and sent to the
sinks. Content is recorded only when ``capture_content`` is on (like LLM
prompts); otherwise only its size is kept. :func:`conversation_graph` turns the
messages back into "who talked to whom" counts.
"""

from __future__ import annotations

from time import time_ns
from typing import Any, Dict, Iterable, Optional, Tuple

from . import _emit
from ._config import settings
from .core._bifrost import bifrost_sync
from .core._paragon import active
from .records import AgentMessage

__all__ = ["agent", "conversation_graph", "current_agent", "handoff", "send_message"]


def current_agent() -> Optional[str]:
    """The agent name of the active run (inherited from enclosing runs), or None."""
    run = active()
    return run.agent if run is not None else None


def agent(name: str, **kwargs: Any) -> bifrost_sync:
    """A ``with`` block that runs as agent ``name`` (a child run of the current one).

    Keyword arguments go to :class:`~auditora.bifrost_sync` (``session=``, …).
    """
    if not isinstance(name, str) or not name:
        raise TypeError("agent name must be a non-empty str")
    kwargs.setdefault("name", name)
    return bifrost_sync(agent=name, **kwargs)


def _size(content: Any) -> Optional[int]:
    try:
        return len(content)
    except Exception:
        return None


def send_message(
    recipient: str,
    content: Any = None,
    *,
    sender: Optional[str] = None,
    kind: str = "message",
    **extra: Any,
) -> AgentMessage:
    """Record a message from ``sender`` (default: the current agent) to ``recipient``.

    ``kind`` describes it (``"message"``, ``"handoff"``, ``"tool_call"``, …);
    ``extra`` keyword arguments are kept as they are. Returns the record. Works
    outside a context too (the record then goes only to the sinks).
    """
    run = active()
    if sender is None:
        sender = (run.agent if run is not None else None) or "unknown"
    if not settings.capture_content and content is not None:
        size = _size(content)
        if size is not None:
            extra.setdefault("content_length", size)
        content = None
    if run is None:
        record = AgentMessage(
            str(sender), str(recipient), kind, content, time_ns(), None, None, None, extra
        )
        if _emit.targets:
            _emit.emit(record)
        return record
    record = AgentMessage(
        str(sender),
        str(recipient),
        kind,
        content,
        time_ns(),
        run.run_id,
        run.trace_id,
        run.session_id,
        extra,
    )
    if _emit.targets:
        _emit.emit(record)
    run.report.keep(record)
    run.monitor.increment_metric("agents.messages" if kind != "handoff" else "agents.handoffs")
    return record


def handoff(
    recipient: str, content: Any = None, *, sender: Optional[str] = None, **extra: Any
) -> AgentMessage:
    """Record that ``sender`` (default: the current agent) hands the work to ``recipient``."""
    return send_message(recipient, content, sender=sender, kind="handoff", **extra)


def conversation_graph(records: Iterable[Any]) -> Dict[Tuple[str, str], Dict[str, int]]:
    """``{(sender, recipient): {kind: count}}`` over agent message records or dicts."""
    graph: Dict[Tuple[str, str], Dict[str, int]] = {}
    for r in records:
        get = r.get if isinstance(r, dict) else lambda n, d=None, r=r: getattr(r, n, d)
        if get("kind") != "agent_message":
            continue
        edge = (str(get("sender")), str(get("recipient")))
        counts = graph.setdefault(edge, {})
        k = get("message_kind") or "message"
        counts[k] = counts.get(k, 0) + 1
    return graph
