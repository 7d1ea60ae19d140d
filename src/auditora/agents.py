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

import os
from dataclasses import dataclass
from time import time_ns
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional, Tuple

from . import _emit
from ._config import settings
from .core._bifrost import bifrost_sync
from .core._paragon import active
from .records import AgentMessage

__all__ = [
    "Step",
    "Trajectory",
    "agent",
    "agent_graph",
    "conversation_graph",
    "current_agent",
    "handoff",
    "send_message",
    "trajectory",
]


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


# -- trajectories -------------------------------------------------------------
#: Run types that are steps of a trajectory; runs of other types (function,
#: chain, workflow, ...) are structure, and only what happens inside them counts.
STEP_KINDS = ("agent", "tool", "llm")
#: Run attributes that may name a tool, most specific first (the run's name otherwise).
_TOOL_NAME_KEYS = ("gen_ai.tool.name", "tool.name", "tool")


@dataclass(frozen=True)
class Step:
    """One step of a :class:`Trajectory`.

    ``kind`` is ``agent``, ``tool``, ``llm`` or ``handoff``. Tokens and cost of an
    agent or tool step are those of everything inside it (its roll-ups); an llm
    step's are its call's. ``arguments`` and ``output`` are None unless content
    was captured (``configure(capture_content=True)`` or ``@sentinel(capture=True)``).
    """

    index: int
    kind: str
    name: str
    agent: Optional[str]
    tool: Optional[str]
    arguments: Any
    output: Any
    status: str
    error: Optional[str]
    tokens: Optional[int]
    cost: Optional[float]
    duration: Optional[float]
    start_ns: Optional[int]
    run_id: Optional[str]
    parent_id: Optional[str]
    depth: int
    #: The agent of the run enclosing this step (for an agent step: the agent that
    #: called it), or None at the top of the trace.
    caller: Optional[str] = None
    #: For a hand-off: the agent handing over (``agent``) hands to ``recipient``.
    recipient: Optional[str] = None
    #: For an llm step: the model.
    model: Optional[str] = None

    def to_dict(self) -> Dict[str, Any]:
        """The step as a plain dict (for JSON)."""
        return dict(self.__dict__)


@dataclass(frozen=True)
class Trajectory:
    """The ordered steps of one trace: agents, tool calls, LLM calls and hand-offs."""

    trace_id: str
    steps: Tuple[Step, ...]
    #: Wall time of the trace (earliest start to latest end), seconds.
    duration: Optional[float]
    status: str

    def __iter__(self) -> Iterator[Step]:
        return iter(self.steps)

    def __len__(self) -> int:
        return len(self.steps)

    def of_kind(self, *kinds: str) -> List[Step]:
        """The steps of the given kinds, in order."""
        return [s for s in self.steps if s.kind in kinds]

    @property
    def tools(self) -> List[str]:
        """The tools called, in order (one entry per call)."""
        return [s.tool or s.name for s in self.steps if s.kind == "tool"]

    @property
    def agents(self) -> List[str]:
        """The agents that ran, in order of first appearance."""
        return list(dict.fromkeys(s.agent for s in self.steps if s.agent))

    @property
    def handoffs(self) -> List[Tuple[str, str]]:
        """``(from, to)`` for every hand-off, in order."""
        return [(s.agent or "unknown", s.recipient or "unknown") for s in self.of_kind("handoff")]

    @property
    def actions(self) -> List[Step]:
        """Tool calls and LLM calls: what :func:`auditora.scorers.max_steps` counts."""
        return self.of_kind("tool", "llm")

    @property
    def tokens(self) -> int:
        """Tokens of every LLM call of the trace (each counted once)."""
        return sum(s.tokens or 0 for s in self.steps if s.kind == "llm")

    @property
    def cost(self) -> Optional[float]:
        """Cost in USD of the trace's priced LLM calls, or None when none was priced."""
        costs = [s.cost for s in self.steps if s.kind == "llm" and s.cost is not None]
        return sum(costs) if costs else None

    @property
    def errors(self) -> List[Step]:
        """Steps that failed."""
        return [s for s in self.steps if s.status not in ("ok", "running")]

    def to_dict(self) -> Dict[str, Any]:
        """The trajectory as a plain dict (what ``auditora trajectory --json`` prints)."""
        return {
            "trace_id": self.trace_id,
            "status": self.status,
            "duration": self.duration,
            "tokens": self.tokens,
            "cost": self.cost,
            "agents": self.agents,
            "tools": self.tools,
            "handoffs": [list(h) for h in self.handoffs],
            "steps": [s.to_dict() for s in self.steps],
        }


def _as_dict(record: Any) -> Optional[Dict[str, Any]]:
    if isinstance(record, Mapping):
        return dict(record)
    to_dict = getattr(record, "to_dict", None)
    return to_dict() if callable(to_dict) else None


def _trace_rows(source: Any, trace_id: str) -> Tuple[List[Dict[str, Any]], ...]:
    """(runs, llm calls, agent messages) of ``trace_id`` from any kind of source."""
    from .store import Store, open_store

    if isinstance(source, (str, os.PathLike)):
        with open_store(source) as store:
            return _trace_rows(store, trace_id)
    if isinstance(source, Store):
        return (
            source.runs(trace_id=trace_id, limit=None),
            source.llm_calls(trace_id=trace_id, limit=None),
            source.agent_messages(trace_id=trace_id, limit=None),
        )
    if not isinstance(source, Iterable):
        raise TypeError(
            "trajectory source must be a store path, a Store or records "
            f"(e.g. testing.capture()), not {type(source).__name__}"
        )
    wanted: Dict[str, List[Dict[str, Any]]] = {"run": [], "llm_call": [], "agent_message": []}
    for record in source:
        row = _as_dict(record)
        if row is not None and row.get("trace_id") == trace_id and row.get("kind") in wanted:
            wanted[row["kind"]].append(row)
    return wanted["run"], wanted["llm_call"], wanted["agent_message"]


def _number(value: Any) -> Optional[float]:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _call_start(call: Dict[str, Any]) -> Optional[int]:
    start = call.get("start_ns")
    if isinstance(start, int):
        return start
    end, rt = call.get("time_ns"), _number(call.get("response_time"))
    if isinstance(end, int):
        return end - int(rt * 1e9) if rt is not None else end
    return None


def trajectory(source: Any, trace_id: str) -> Trajectory:
    """The ordered steps of trace ``trace_id``.

    ``source`` is a store path, a :class:`~auditora.store.Store`, or records (a
    ``testing.capture()`` list, a memory sink's records, or their dicts). Steps
    are the runs of type agent, tool and llm, the LLM call records (an llm run's
    own calls are folded into its step) and the hand-offs, ordered by start
    time, a parent before what it contains. Raises :class:`LookupError` when the
    source holds no run of that trace.
    """
    if not isinstance(trace_id, str) or not trace_id:
        raise TypeError("trace_id must be a non-empty str")
    runs, calls, messages = _trace_rows(source, trace_id)
    if not runs and not calls:
        raise LookupError(f"no run of trace {trace_id!r} in this source")
    by_id = {r["run_id"]: r for r in runs}

    def depth(run_id: Optional[str]) -> int:
        d, seen = 0, set()
        while run_id in by_id and run_id not in seen:
            seen.add(run_id)
            d += 1
            run_id = by_id[run_id].get("parent_id")
        return d

    llm_runs = {r["run_id"] for r in runs if r.get("run_type") == "llm"}
    folded: Dict[str, List[Dict[str, Any]]] = {}
    raw: List[Tuple[Tuple[int, int, int], Dict[str, Any]]] = []
    for call in calls:
        if call.get("run_id") in llm_runs:
            folded.setdefault(call["run_id"], []).append(call)
    for seq, run in enumerate(runs):
        kind = run.get("run_type")
        if kind not in STEP_KINDS:
            continue
        found = run.get("attributes")
        attrs: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
        own = folded.get(run["run_id"], [])
        if own:
            tokens: Optional[float] = sum(_call_tokens(c) for c in own)
            costs = [c["cost"] for c in own if _number(c.get("cost")) is not None]
            cost = sum(costs) if costs else None
        else:
            tokens = _number(attrs.get("llm.total_tokens"))
            cost = _number(attrs.get("llm.cost_usd"))
        tool = next((str(attrs[k]) for k in _TOOL_NAME_KEYS if attrs.get(k)), None)
        duration = _number(run.get("duration_ns"))
        d = depth(run["run_id"])
        step = {
            "kind": kind,
            "name": run.get("name") or "",
            "agent": run.get("agent"),
            "tool": (tool or run.get("name")) if kind == "tool" else None,
            "arguments": run.get("inputs"),
            "output": run.get("output"),
            "status": run.get("status") or "ok",
            "error": _error_text(run.get("error_type"), run.get("error_message")),
            "tokens": int(tokens) if tokens is not None else None,
            "cost": cost,
            "duration": duration / 1e9 if duration is not None else None,
            "start_ns": run.get("start_ns"),
            "run_id": run["run_id"],
            "parent_id": run.get("parent_id"),
            "depth": d,
            "caller": by_id.get(run.get("parent_id"), {}).get("agent"),
            "model": own[0].get("model") if own else None,
        }
        raw.append(((run.get("start_ns") or 0, d, seq), step))
    for seq, call in enumerate(calls):
        if call.get("run_id") in llm_runs:
            continue
        owner = by_id.get(call.get("run_id"), {})
        d = depth(call.get("run_id")) + 1
        rt = _number(call.get("response_time"))
        success = call.get("success")
        step = {
            "kind": "llm",
            "name": call.get("model") or "",
            "agent": owner.get("agent"),
            "tool": None,
            "arguments": call.get("input"),
            "output": call.get("output"),
            "status": "ok" if success or success is None else "error",
            "error": _error_text(call.get("error_type"), call.get("error")),
            "tokens": _call_tokens(call) if _has_tokens(call) else None,
            "cost": _number(call.get("cost")),
            "duration": rt,
            "start_ns": _call_start(call),
            "run_id": call.get("run_id"),
            "parent_id": owner.get("parent_id"),
            "depth": d,
            "caller": owner.get("agent"),
            "model": call.get("model"),
        }
        raw.append(((step["start_ns"] or 0, d, len(runs) + seq), step))
    for seq, msg in enumerate(messages):
        if msg.get("message_kind") != "handoff":
            continue
        owner = by_id.get(msg.get("run_id"), {})
        d = depth(msg.get("run_id")) + 1
        step = {
            "kind": "handoff",
            "name": f"{msg.get('sender')} -> {msg.get('recipient')}",
            "agent": msg.get("sender"),
            "tool": None,
            "arguments": msg.get("content"),
            "output": None,
            "status": "ok",
            "error": None,
            "tokens": None,
            "cost": None,
            "duration": None,
            "start_ns": msg.get("time_ns"),
            "run_id": msg.get("run_id"),
            "parent_id": owner.get("parent_id"),
            "depth": d,
            "caller": owner.get("agent"),
            "recipient": msg.get("recipient"),
        }
        raw.append(((msg.get("time_ns") or 0, d, len(runs) + len(calls) + seq), step))
    raw.sort(key=lambda pair: pair[0])
    steps = tuple(Step(index=i, **fields) for i, (_, fields) in enumerate(raw))
    starts = [r["start_ns"] for r in runs if isinstance(r.get("start_ns"), int)]
    ends = [r["end_ns"] for r in runs if isinstance(r.get("end_ns"), int)]
    duration = (max(ends) - min(starts)) / 1e9 if starts and ends else None
    failed = any(r.get("status") not in ("ok", "running", None) for r in runs)
    failed = failed or any(s.status == "error" for s in steps)
    return Trajectory(trace_id, steps, duration, "error" if failed else "ok")


def _has_tokens(call: Dict[str, Any]) -> bool:
    return call.get("input_tokens") is not None or call.get("output_tokens") is not None


def _call_tokens(call: Dict[str, Any]) -> int:
    tokens = (_number(call.get(k)) or 0 for k in ("input_tokens", "output_tokens"))
    return int(sum(tokens))


def _error_text(error_type: Any, message: Any) -> Optional[str]:
    if not error_type and not message:
        return None
    if error_type and message:
        return f"{error_type}: {message}"
    return str(error_type or message)


def _node(nodes: Dict[str, Dict[str, Any]], kind: str, name: str) -> Dict[str, Any]:
    key = f"{kind}:{name}"
    node = nodes.get(key)
    if node is None:
        node = nodes[key] = {
            "id": key,
            "kind": kind,
            "name": name,
            "calls": 0,
            "errors": 0,
            "tokens": 0,
            "cost": None,
        }
    return node


def _add_cost(target: Dict[str, Any], cost: Optional[float]) -> None:
    if cost is not None:
        target["cost"] = (target["cost"] or 0.0) + cost


def agent_graph(trajectories: Iterable[Trajectory]) -> Dict[str, Any]:
    """Who called what, over one trajectory or many (a session's, an experiment's).

    Nodes are agents and tools: ``{id, kind, name, calls, errors, tokens, cost}``,
    an agent's tokens and cost being those of the LLM calls it made itself. Edges
    are ``{source, target, kind, count, errors, cost}`` with kind ``call`` (an
    agent calling a tool or another agent) or ``handoff``; an edge's cost is that
    of what ran inside the called step. Work done outside any agent hangs off the
    agent node ``(none)``. ``traces`` counts the trajectories.
    """
    nodes: Dict[str, Dict[str, Any]] = {}
    edges: Dict[Tuple[str, str, str], Dict[str, Any]] = {}
    traces = 0

    def edge(source: str, target: str, kind: str) -> Dict[str, Any]:
        found = edges.get((source, target, kind))
        if found is None:
            found = edges[(source, target, kind)] = {
                "source": source,
                "target": target,
                "kind": kind,
                "count": 0,
                "errors": 0,
                "cost": None,
            }
        return found

    for t in trajectories:
        traces += 1
        for s in t.steps:
            failed = s.status not in ("ok", "running")
            if s.kind == "agent":
                node = _node(nodes, "agent", s.agent or s.name)
                node["calls"] += 1
                node["errors"] += failed
                if s.caller and s.caller != node["name"]:
                    e = edge(f"agent:{s.caller}", node["id"], "call")
                    e["count"] += 1
                    e["errors"] += failed
                    _add_cost(e, s.cost)
            elif s.kind == "tool":
                node = _node(nodes, "tool", s.tool or s.name)
                node["calls"] += 1
                node["errors"] += failed
                _add_cost(node, s.cost)
                node["tokens"] += s.tokens or 0
                caller = _node(nodes, "agent", s.agent or "(none)")
                e = edge(caller["id"], node["id"], "call")
                e["count"] += 1
                e["errors"] += failed
                _add_cost(e, s.cost)
            elif s.kind == "llm":
                caller = _node(nodes, "agent", s.agent or "(none)")
                caller["tokens"] += s.tokens or 0
                caller["errors"] += failed
                _add_cost(caller, s.cost)
            elif s.kind == "handoff":
                source = _node(nodes, "agent", s.agent or "(none)")
                target = _node(nodes, "agent", s.recipient or "unknown")
                edge(source["id"], target["id"], "handoff")["count"] += 1
    return {"traces": traces, "nodes": list(nodes.values()), "edges": list(edges.values())}
