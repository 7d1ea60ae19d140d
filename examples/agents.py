"""A multi-agent support desk with Auditora: agents, tools, hand-offs, trajectories, scores.

A triage agent reads each ticket and hands it to a billing agent or a tech agent.
Each specialist calls tools (look up an invoice, search the knowledge base, issue
a refund) and a stand-in model. Every function is a ``@sentinel``: agents with
``agent=``, tools with ``kind="tool"``. Afterwards each ticket's trace is read
back as a trajectory and scored: did it call the expected tools, in order; did
it avoid the forbidden ones; did it loop; did it stay within budget.

Run it::

    python examples/agents.py --store agents.db
    auditora trajectory agents.db <trace id printed below>
    auditora view agents.db

It needs no network and no API key. The exit status is 0 when every ticket's
trajectory passes its checks, 1 otherwise (as a CI job would use it).
"""

from __future__ import annotations

import argparse
import sys
from typing import Dict, List

import auditora
from auditora import report, sentinel
from auditora.agents import agent_graph, handoff, trajectory
from auditora.scorers import forbidden_tools, max_cost, no_loops, tool_sequence
from auditora.store import open_store

TICKETS = [
    {
        "id": "T-1",
        "text": "I was charged twice for invoice 1042",
        "expect": ["lookup_invoice", "refund"],
    },
    {"id": "T-2", "text": "The app crashes when I export a report", "expect": ["search_kb"]},
    {
        "id": "T-3",
        "text": "Refund invoice 2077 please, it was a mistake",
        "expect": ["lookup_invoice", "refund"],
    },
]
INVOICES: Dict[str, float] = {"1042": 49.0, "2077": 12.5}


def think(prompt: str) -> str:
    """A deterministic stand-in for a chat model, priced like gpt-4o-mini."""
    report.log_llm_call(
        "gpt-4o-mini",
        prompt_tokens=40 + len(prompt) // 4,
        completion_tokens=12,
        response_time=0.002,
    )
    return "billing" if any(w in prompt for w in ("charged", "refund", "Refund")) else "tech"


@sentinel(kind="tool", name="lookup_invoice")
def lookup_invoice(number: str) -> float:
    return INVOICES[number]


@sentinel(kind="tool", name="refund")
def refund(number: str, amount: float) -> str:
    return f"refunded {amount:.2f} on {number}"


@sentinel(kind="tool", name="search_kb")
def search_kb(query: str) -> List[str]:
    return [f"kb/{word}" for word in query.lower().split() if len(word) > 5][:2]


@sentinel(agent="billing", name="billing")
def billing(ticket: Dict[str, str]) -> str:
    think(ticket["text"])
    number = next(w for w in ticket["text"].split() if w.isdigit())
    return refund(number, lookup_invoice(number))


@sentinel(agent="tech", name="tech")
def tech(ticket: Dict[str, str]) -> str:
    think(ticket["text"])
    return "see " + ", ".join(search_kb(ticket["text"]))


@sentinel(agent="triage", name="triage")
def triage(ticket: Dict[str, str]) -> str:
    desk = think(ticket["text"])
    handoff(desk, ticket["id"])
    return billing(ticket) if desk == "billing" else tech(ticket)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", default="agents.db", help="SQLite store to write (agents.db)")
    args = parser.parse_args()
    # Tool arguments are kept only under the content switch; no_loops compares them.
    auditora.configure(store=args.store, console=False, capture_content=True)

    for ticket in TICKETS:
        print(f"{ticket['id']}: {triage(ticket)}")
    if not auditora.flush():
        print("not every record reached the store", file=sys.stderr)
        return 1

    failures = 0
    trajectories = []
    with open_store(args.store) as store:
        roots = [r for r in store.runs(name="triage", limit=None) if r["parent_id"] is None]
        for ticket, root in zip(TICKETS, roots[-len(TICKETS) :]):
            t = trajectory(store, root["trace_id"])
            trajectories.append(t)
            checks = [
                tool_sequence(ticket["expect"], mode="in_order"),
                forbidden_tools(["refund"] if ticket["expect"] == ["search_kb"] else ["delete"]),
                no_loops(3),
                max_cost(0.01),
            ]
            scores = {check.__name__: check(t) for check in checks}
            failed = [name for name, s in scores.items() if not s.value]
            failures += bool(failed)
            print(
                f"{ticket['id']} trace {t.trace_id}: agents {' -> '.join(t.agents)}, "
                f"tools {t.tools}, {t.tokens} tokens: {'FAILED ' + str(failed) if failed else 'ok'}"
            )
    graph = agent_graph(trajectories)
    names = {n["id"]: n["name"] for n in graph["nodes"]}
    edges = ", ".join(
        f"{names[e['source']]} -{e['kind']}-> {names[e['target']]} x{e['count']}"
        for e in graph["edges"]
    )
    print(f"agent graph over {graph['traces']} traces: {edges}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
