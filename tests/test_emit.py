"""The hand-off to record targets: every target gets each record; a raising target
is counted and never reaches the producer; a lone trusted target is called directly."""

from __future__ import annotations

from typing import Any, List

import pytest

from auditora import _emit, monitor, sentinel


def _boom(record: Any) -> None:
    raise ValueError("target bug")


def test_every_target_gets_each_record_in_order() -> None:
    """Two targets both receive the event and then the run."""
    first: List[Any] = []
    second: List[Any] = []
    _emit.add_target(first.append)
    _emit.add_target(second.append)

    @sentinel()
    def work() -> None:
        monitor.track("hit")

    work()
    assert [r.kind for r in first] == ["event", "run", "session"]
    assert [r.kind for r in second] == ["event", "run", "session"]


def test_a_raising_target_is_counted_and_the_others_still_receive(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A target that raises does not stop the next one nor the producer; logged once."""
    got: List[Any] = []
    before = _emit.failures()
    _emit.add_target(_boom)
    _emit.add_target(got.append)

    @sentinel()
    def work() -> int:
        monitor.track("a")
        monitor.track("b")
        return 7

    with caplog.at_level("ERROR", logger="auditora"):
        assert work() == 7
    assert [r.kind for r in got] == ["event", "event", "run", "session"]
    assert _emit.failures() - before == 4
    assert sum("a record target failed" in r.getMessage() for r in caplog.records) <= 1


def test_a_lone_untrusted_target_is_still_guarded() -> None:
    """One target that may raise is called through the guard, not directly."""
    _emit.add_target(_boom)
    assert _emit.emit is _emit._emit_all

    @sentinel()
    def work() -> str:
        monitor.track("a")
        return "ok"

    assert work() == "ok"


def test_a_lone_trusted_target_is_called_directly_and_unbound_on_removal() -> None:
    """The recorder's submit (trusted) becomes ``emit`` itself; adding a second target
    or removing it restores the guarded loop."""
    got: List[Any] = []
    trusted = got.append
    _emit.add_target(trusted, trusted=True)
    assert _emit.emit == trusted
    other: List[Any] = []
    _emit.add_target(other.append)
    assert _emit.emit is _emit._emit_all
    _emit.remove_target(other.append)
    assert _emit.emit == trusted
    _emit.remove_target(trusted)
    assert (_emit.targets, _emit.emit) == ((), _emit._emit_all)


def test_the_recorder_registers_its_submit_as_trusted(tmp_path: Any) -> None:
    """With a store configured, producers hand records straight to the recorder."""
    import auditora

    auditora.configure(store=str(tmp_path / "a.db"))
    assert len(_emit.targets) == 1
    assert _emit.emit == _emit.targets[0]
    auditora.configure(sinks=[])
    assert _emit.emit is _emit._emit_all
