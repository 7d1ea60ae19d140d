"""bifrost_sync / bifrost_async blocks: runs, adat resolution, restoration."""

from __future__ import annotations

import pytest

from auditora import (
    DefaultMonitor,
    DefaultReport,
    DefaultSession,
    Paragon,
    bifrost_sync,
    monitor,
    sentinel,
    session,
)
from auditora.testing import capture


def test_block_outside_any_context_gets_fresh_adats() -> None:
    """A bare block outside any context runs with new default adats."""
    with capture() as records, bifrost_sync() as run:
        session.set("k", 1)
        assert session.get("k") == 1
        assert isinstance(run.session, DefaultSession)
    assert Paragon.current() is None
    [recorded] = records.runs
    assert recorded is run
    assert (run.name, run.run_kind, run.status, run.parent_id) == ("bifrost", "block", "ok", None)


def test_bare_block_inside_a_sentinel_shares_its_adats_as_a_child_run() -> None:
    """With no arguments the block joins the enclosing adats and nests under its run."""

    @sentinel()
    def job() -> None:
        with bifrost_sync(name="step"):
            monitor.increment_metric("inside")

    with capture() as records:
        job()
    assert job._monitor.get_metrics() == {"inside": 1.0}
    step, outer = records.runs
    assert step.parent_id == outer.run_id
    assert step.session_id == outer.session_id


def test_explicit_adats_start_a_new_context_and_restore_the_previous() -> None:
    """Passing adats or session_id opens a new context; leaving restores the old one."""
    m = DefaultMonitor()

    @sentinel(session_id="outer")
    def job() -> str:
        with bifrost_sync(session_id="inner", monitor=m, report=DefaultReport(echo=False)):
            assert session.session_id == "inner"
            monitor.increment_metric("x")
        return session.session_id

    assert job() == "outer"
    assert m.get_metrics() == {"x": 1.0}


def test_exception_in_block_restores_and_records() -> None:
    """An exception leaves the block with the previous frame restored and the run in error."""
    with (
        capture() as records,
        pytest.raises(ZeroDivisionError),
        bifrost_sync(report=DefaultReport(echo=False)),
    ):
        1 / 0  # noqa: B018
    assert Paragon.current() is None
    [run] = records.runs
    assert (run.status, run.error_type) == ("error", "ZeroDivisionError")


def test_one_instance_can_be_reentered() -> None:
    """Entering the same bifrost object again nests a second run and unwinds correctly."""
    block = bifrost_sync(session_id="re", name="re")
    with capture() as records, block as first:
        with block as second:
            assert Paragon.current() is second
        assert Paragon.current() is first
    assert Paragon.current() is None
    assert records.runs[0].parent_id == records.runs[1].run_id


def test_bad_arguments_are_rejected() -> None:
    """Conflicting or mistyped arguments raise at construction."""
    with pytest.raises(ValueError):
        bifrost_sync(session=DefaultSession(), session_id="x")
    with pytest.raises(TypeError):
        bifrost_sync(name=3)  # type: ignore[arg-type]
