"""@sentinel on plain functions and methods: runs, ids, metadata, exceptions."""

from __future__ import annotations

import inspect
import re

import pytest

from auditora import (
    DefaultMonitor,
    DefaultReport,
    DefaultSession,
    Paragon,
    report,
    sentinel,
    session,
)
from auditora.testing import capture

HEX16 = re.compile(r"^[0-9a-f]{16}$")
HEX32 = re.compile(r"^[0-9a-f]{32}$")


def test_bare_and_called_forms_both_decorate() -> None:
    """@sentinel and @sentinel() both produce a watched function."""

    @sentinel
    def bare() -> str:
        return session.session_id

    @sentinel()
    def called() -> str:
        return session.session_id

    assert bare() == bare._session.session_id
    assert called() == called._session.session_id


def test_adats_are_created_once_and_shared_by_every_call() -> None:
    """The adats exist at decoration time and every call uses the same ones."""

    @sentinel()
    def count() -> None:
        session.set("n", session.get("n", 0) + 1)

    assert isinstance(count._session, DefaultSession)
    assert isinstance(count._monitor, DefaultMonitor)
    assert isinstance(count._report, DefaultReport)
    count()
    count()
    assert count._session.get("n") == 2


def test_given_adats_are_used() -> None:
    """session=, monitor=, report= and session_id= are honoured."""
    s, m, r = DefaultSession("given"), DefaultMonitor(), DefaultReport(echo=False)

    @sentinel(session=s, monitor=m, report=r)
    def job() -> None:
        report.info("x")

    job()
    assert (job._session, job._monitor, job._report) == (s, m, r)
    assert [rec.session_id for rec in r.get_records()] == ["given"]


def test_each_call_is_a_separate_run_with_w3c_ids() -> None:
    """A run per call: fresh 64-bit run id, 128-bit trace id, times, status ok."""

    @sentinel()
    def job() -> int:
        return 1

    with capture() as records:
        job()
        job()
    first, second = records.runs
    assert first.run_id != second.run_id
    assert first.trace_id != second.trace_id
    for run in (first, second):
        assert HEX16.match(run.run_id) and HEX32.match(run.trace_id)
        assert run.parent_id is None
        assert run.name == "test_each_call_is_a_separate_run_with_w3c_ids.<locals>.job"
        assert run.status == "ok"
        assert run.run_kind == "function"
        assert run.end_ns >= run.start_ns
        assert run.duration_ns >= 0
        assert (run.error_type, run.error_message) == (None, None)


def test_nested_runs_form_one_trace_tree_across_sessions() -> None:
    """A run's parent is the enclosing run, even when it belongs to another session."""

    @sentinel(session_id="leaf")
    def leaf() -> None:
        pass

    @sentinel(session_id="middle", name="middle-step")
    def middle() -> None:
        leaf()
        leaf()

    @sentinel(session_id="root")
    def root() -> None:
        middle()

    with capture() as records:
        root()
    by_name = {}
    for run in records.runs:
        by_name.setdefault(run.name.rsplit(".", 1)[-1], []).append(run)
    [root_run], [middle_run], leaves = by_name["root"], by_name["middle-step"], by_name["leaf"]
    assert middle_run.parent_id == root_run.run_id
    assert [r.parent_id for r in leaves] == [middle_run.run_id] * 2
    assert {r.trace_id for r in records.runs} == {root_run.trace_id}
    assert [r.session_id for r in leaves] == ["leaf", "leaf"]


def test_exception_propagates_unchanged_and_is_recorded() -> None:
    """The same exception object propagates; the run and the report record it."""
    boom = ValueError("bad input")

    @sentinel(report=DefaultReport(echo=False))
    def job() -> None:
        raise boom

    with capture() as records, pytest.raises(ValueError) as info:
        job()
    assert info.value is boom
    [run] = records.runs
    assert (run.status, run.error_type, run.error_message) == ("error", "ValueError", "bad input")
    [error] = job._report.get_records()
    assert error.level == "ERROR"
    assert error.fields == {"error_type": "ValueError", "error_message": "bad input"}
    assert error.run_id == run.run_id
    assert Paragon.current() is None


def test_exception_is_logged_once_by_the_innermost_run() -> None:
    """Nested runs all record the error status; only the innermost logs it."""

    @sentinel(report=DefaultReport(echo=False))
    def inner() -> None:
        raise KeyError("k")

    @sentinel(report=DefaultReport(echo=False))
    def outer() -> None:
        inner()

    with capture() as records, pytest.raises(KeyError):
        outer()
    assert [r.status for r in records.runs] == ["error", "error"]
    assert len(inner._report.get_records()) == 1
    assert outer._report.get_records() == []


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (KeyboardInterrupt(), "cancelled"),
        (SystemExit(0), "ok"),
        (SystemExit(3), "error"),
        (GeneratorExit(), "ok"),
    ],
)
def test_base_exceptions_end_the_run_with_their_status(exc: BaseException, status: str) -> None:
    """KeyboardInterrupt, SystemExit and GeneratorExit propagate with the right run status."""

    @sentinel(report=DefaultReport(echo=False))
    def job() -> None:
        raise exc

    with capture() as records, pytest.raises(type(exc)) as info:
        job()
    assert info.value is exc
    assert [r.status for r in records.runs] == [status]
    assert Paragon.current() is None


def test_metadata_signature_and_wrapped_are_kept() -> None:
    """__name__, __doc__, __wrapped__ and the signature survive decoration."""

    def original(a: int, b: str = "x", *, c: float = 1.0) -> str:
        """Docstring."""
        return f"{a}{b}{c}"

    wrapped = sentinel()(original)
    assert wrapped.__name__ == "original"
    assert wrapped.__doc__ == "Docstring."
    assert wrapped.__wrapped__ is original
    assert inspect.signature(wrapped) == inspect.signature(original)
    assert wrapped(1, c=2.0) == "1x2.0"


class Service:
    """A class with every kind of method watched."""

    factor = 10

    def __init__(self) -> None:
        self.base = 1

    @sentinel(session_id="svc")
    def method(self, x: int) -> int:
        return self.base + x + len(session.session_id)

    @classmethod
    @sentinel()
    def class_method(cls, x: int) -> int:
        return cls.factor * x

    @sentinel()
    @classmethod
    def class_method_outer(cls, x: int) -> int:
        return cls.factor + x

    @staticmethod
    @sentinel()
    def static_method(x: int) -> int:
        return x * 2

    @sentinel()
    @staticmethod
    def static_method_outer(x: int) -> int:
        return x * 3


def test_methods_classmethods_and_staticmethods() -> None:
    """Instance methods, classmethods and staticmethods (either order) run as runs."""
    svc = Service()
    with capture() as records:
        assert svc.method(2) == 1 + 2 + 3
        assert Service.class_method(3) == 30
        assert svc.class_method_outer(3) == 13
        assert Service.static_method(4) == 8
        assert svc.static_method_outer(4) == 12
    assert [r.name for r in records.runs] == [
        "Service.method",
        "Service.class_method",
        "Service.class_method_outer",
        "Service.static_method",
        "Service.static_method_outer",
    ]


def test_bad_arguments_raise_clear_errors() -> None:
    """Positional adats, wrong types and conflicting ids are rejected at decoration."""
    with pytest.raises(TypeError, match="keyword arguments"):
        sentinel(DefaultSession())  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="session_id must be a str"):
        sentinel(session_id=123)  # type: ignore[call-overload]
    with pytest.raises(ValueError, match="either session= or session_id="):
        sentinel(session=DefaultSession(), session_id="x")
    with pytest.raises(TypeError, match="name must be a str"):
        sentinel(name=1)  # type: ignore[call-overload]


def test_name_and_agent_label_runs_and_agent_is_inherited() -> None:
    """name= names the run; agent= tags it and nested runs inherit the agent."""

    @sentinel()
    def tool() -> None:
        pass

    @sentinel(name="plan", agent="planner")
    def plan() -> None:
        tool()

    with capture() as records:
        plan()
    tool_run, plan_run = records.runs
    assert (plan_run.name, plan_run.agent) == ("plan", "planner")
    assert tool_run.agent == "planner"


def test_report_works_in_decorated_function() -> None:
    """The report proxy resolves to the sentinel's report inside the call."""

    @sentinel(report=DefaultReport(echo=False))
    def job() -> None:
        report.info("inside", k=1)

    job()
    [record] = job._report.get_records()
    assert (record.message, record.fields, record.level) == ("inside", {"k": 1}, "INFO")
