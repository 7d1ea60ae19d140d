"""W3C trace-context propagation: inject, extract, remote parents, carried calls."""

from __future__ import annotations

import email.message
import pickle
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, Iterator, Optional, Tuple

import pytest

import auditora
from auditora import bifrost_sync, sentinel
from auditora.core import _runs
from auditora.propagation import (
    TraceContext,
    add_parent_provider,
    carry,
    continue_trace,
    current_context,
    extract,
    headers,
    inject,
    remote_parent,
    remove_parent_provider,
)
from auditora.sampling import Sampler, trace_id_ratio
from auditora.testing import capture

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN = "00f067aa0ba902b7"


@pytest.fixture(autouse=True)
def _restore_hook() -> Iterator[None]:
    saved = _runs.remote_parent_hook
    yield
    _runs.remote_parent_hook = saved


@sentinel(session_id="prop-session")
def traced_work() -> str:
    """A sentinel used as a root run in these tests."""
    return "done"


def add(a: int, b: int) -> int:
    """A module-level function, picklable for process pools."""
    traced_work()
    return a + b


def test_inject_writes_traceparent_and_session_baggage_for_the_active_run() -> None:
    """Inside a run, inject writes 00-<trace>-<run>-01 and session.id baggage."""
    with bifrost_sync(session_id="s-1") as run:
        carrier: Dict[str, str] = {}
        inject(carrier)
    expected = {
        "traceparent": f"00-{run.trace_id}-{run.run_id}-01",
        "baggage": "session.id=s-1",
    }
    assert expected == carrier


def test_inject_outside_any_context_leaves_the_carrier_untouched() -> None:
    """With no run and no remote parent there is nothing to propagate."""
    assert inject({}) == {}


def test_inject_keeps_foreign_baggage_members() -> None:
    """Existing baggage members survive; the session member is set or replaced."""
    carrier = {"baggage": "tenant=acme,session.id=old"}
    with bifrost_sync(session_id="new"):
        inject(carrier)
    assert extract(carrier).baggage == {"tenant": "acme", "session.id": "new"}  # type: ignore[union-attr]


def test_extract_reads_back_what_inject_wrote() -> None:
    """extract(inject(ctx)) == ctx, including percent-encoded baggage values."""
    ctx = TraceContext(TRACE, SPAN, session_id="a b,c=d", baggage={"k": "v"})
    back = extract(inject({}, ctx))
    expected = (TRACE, SPAN, True, "a b,c=d", {"k": "v", "session.id": "a b,c=d"})
    assert expected == (back.trace_id, back.span_id, back.sampled, back.session_id, back.baggage)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "value",
    [
        "garbage",
        f"00-{'0' * 32}-{SPAN}-01",
        f"00-{TRACE}-{'0' * 16}-01",
        f"ff-{TRACE}-{SPAN}-01",
        f"00-{TRACE}-{SPAN}-01-extra",
        f"00-{TRACE[:-1]}-{SPAN}-01",
    ],
)
def test_extract_ignores_invalid_traceparent(value: str) -> None:
    """Invalid or all-zero traceparent values yield no context."""
    assert extract({"traceparent": value}) is None


def test_extract_accepts_future_versions_with_extra_fields() -> None:
    """A higher version may append fields; the known prefix is used."""
    ctx = extract({"traceparent": f"01-{TRACE}-{SPAN}-00-more"})
    assert (ctx.trace_id, ctx.span_id, ctx.sampled) == (TRACE, SPAN, False)  # type: ignore[union-attr]


def test_extract_from_http_message_wsgi_environ_and_mixed_case_dict() -> None:
    """Header objects, WSGI environs and dicts with other casing all work."""
    msg = email.message.Message()
    msg["TraceParent"] = f"00-{TRACE}-{SPAN}-01"
    environ = {"HTTP_TRACEPARENT": f"00-{TRACE}-{SPAN}-01"}
    mixed = {"Traceparent": f"00-{TRACE}-{SPAN}-01"}
    found = [extract(c) for c in (msg, environ, mixed)]
    assert [(c.trace_id, c.span_id) for c in found] == [(TRACE, SPAN)] * 3  # type: ignore[union-attr]


def test_root_runs_inside_remote_parent_join_the_remote_trace() -> None:
    """A sentinel root run in the block is a child of the remote span."""
    with capture() as records, remote_parent({"traceparent": f"00-{TRACE}-{SPAN}-01"}):
        traced_work()
    (run,) = records.runs
    assert (run.trace_id, run.parent_id) == (TRACE, SPAN)


def test_nested_runs_keep_their_local_parent_under_remote_parent() -> None:
    """Only root runs take the remote parent; nested runs stay children of their run."""
    with (
        capture() as records,
        remote_parent(TraceContext(TRACE, SPAN)),
        bifrost_sync(name="outer") as outer,
    ):
        traced_work()
    inner = next(r for r in records.runs if r.name != "outer")
    assert (TRACE, outer.run_id, SPAN) == (inner.trace_id, inner.parent_id, outer.parent_id)


def test_remote_parent_ends_with_the_block() -> None:
    """After the block root runs start new traces again."""
    with remote_parent(TraceContext(TRACE, SPAN)):
        pass
    with capture() as records:
        traced_work()
    assert (records.runs[0].parent_id, records.runs[0].trace_id == TRACE) == (None, False)


def test_remote_parent_with_nothing_to_extract_changes_nothing() -> None:
    """A carrier with no traceparent gives an ordinary root run."""
    with capture() as records, remote_parent({}) as ctx:
        traced_work()
    assert (ctx, records.runs[0].parent_id) == (None, None)


def test_continue_trace_opens_a_run_in_the_remote_session() -> None:
    """continue_trace runs a block under the remote parent with the baggage session."""
    carrier = inject({}, TraceContext(TRACE, SPAN, session_id="remote-session"))
    with capture() as records, continue_trace(carrier, name="handler") as run:
        traced_work()
    inner = next(r for r in records.runs if r.name != "handler")
    expected = ("handler", TRACE, SPAN, "remote-session", run.run_id)
    assert expected == (run.name, run.trace_id, run.parent_id, run.session_id, inner.parent_id)


def test_headers_returns_a_new_dict_for_outgoing_requests() -> None:
    """headers() is inject into a fresh dict."""
    with bifrost_sync(session_id="h") as run:
        out = headers()
    assert f"00-{run.trace_id}-{run.run_id}-01" == out["traceparent"]


def test_parent_providers_are_asked_after_an_explicit_remote_parent() -> None:
    """A provider supplies the parent unless a remote_parent block is active."""

    def provider() -> Optional[Tuple[str, Optional[str]]]:
        return ("1" * 32, "2" * 16)

    add_parent_provider(provider)
    try:
        with capture() as records:
            traced_work()
            with remote_parent(TraceContext(TRACE, SPAN)):
                traced_work()
        assert [(r.trace_id, r.parent_id) for r in records.runs] == [
            ("1" * 32, "2" * 16),
            (TRACE, SPAN),
        ]
        assert current_context().span_id == "2" * 16  # type: ignore[union-attr]
    finally:
        remove_parent_provider(provider)


def test_a_hook_installed_before_is_kept_as_a_provider() -> None:
    """Installing the propagation hook does not discard another integration's hook."""

    def foreign() -> Optional[Tuple[str, Optional[str]]]:
        return ("3" * 32, "4" * 16)

    _runs.remote_parent_hook = foreign
    try:
        with remote_parent(TraceContext(TRACE, SPAN)):
            pass
        with capture() as records:
            traced_work()
        assert (records.runs[0].trace_id, records.runs[0].parent_id) == ("3" * 32, "4" * 16)
    finally:
        remove_parent_provider(foreign)


def test_carry_is_picklable_and_runs_under_the_captured_context() -> None:
    """A carried function, pickled and called elsewhere, joins the submitting trace."""
    with bifrost_sync(session_id="parent-s", name="submit") as parent:
        wrapped = carry(add)
    clone: Any = pickle.loads(pickle.dumps(wrapped))
    # A pool thread starts in a fresh context, as another process would.
    with capture() as records, ThreadPoolExecutor(1) as pool:
        assert pool.submit(clone, 2, 3).result() == 5
    by_name = {r.name: r for r in records.runs}
    task, work = by_name["add"], by_name["traced_work"]
    expected = (parent.trace_id, parent.run_id, "parent-s", task.run_id)
    assert expected == (task.trace_id, task.parent_id, task.session_id, work.parent_id)


def test_carry_without_run_only_sets_the_remote_parent() -> None:
    """carry(run=False) opens no run; root runs in the function join directly."""
    with bifrost_sync(name="submit") as parent:
        wrapped = carry(add, run=False)
    with capture() as records:
        wrapped(1, 1)
    assert [("traced_work", parent.run_id)] == [(r.name, r.parent_id) for r in records.runs]


def test_traceparent_sampled_flag_follows_the_configured_sampler() -> None:
    """A trace the Sampler drops is propagated with flags 00, a kept one with 01."""
    auditora.configure(sinks=["memory"], sampler=Sampler(0.5), console=False)
    flags = {}
    for _ in range(40):
        with bifrost_sync() as run:
            flags[run.trace_id] = headers()["traceparent"][-2:]
    expected = {t: "01" if trace_id_ratio(t, 0.5) else "00" for t in flags}
    assert flags == expected
    assert set(flags.values()) == {"00", "01"}
