"""The viewer's ``Source`` protocol: complete, met by every source, the views' only way in."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Set

import pytest

from auditora import DefaultReport, bifrost_sync, monitor, report, sentinel, session
from auditora.sinks import SQLiteSink
from auditora.store import Store, open_store
from auditora.testing import capture
from auditora.viewer import _model
from auditora.viewer._source import StoreSource
from test_viewer_model import FakeSource

#: Every class the views are given as a source (the CLI, the server and the
#: report all use StoreSource; FakeSource is the in-memory one of the tests).
SOURCES = (StoreSource, FakeSource)


def _protocol_methods() -> Dict[str, Callable[..., Any]]:
    """The methods ``Source`` declares, by name."""
    return {
        name: value
        for name, value in vars(_model.Source).items()
        if inspect.isfunction(value) and not name.startswith("_")
    }


_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
_VARIADIC = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)


def _incompatibilities(declared: inspect.Signature, actual: inspect.Signature) -> List[str]:
    """Why a method of signature ``actual`` cannot stand in for ``declared`` ([] when it can)."""
    problems = []
    mine = actual.parameters
    any_positional = any(q.kind is q.VAR_POSITIONAL for q in mine.values())
    any_keyword = any(q.kind is q.VAR_KEYWORD for q in mine.values())
    positional = [q for q in mine.values() if q.kind in _POSITIONAL]
    wanted = list(declared.parameters.values())
    for index, p in enumerate(p for p in wanted if p.kind in _POSITIONAL):
        if index >= len(positional):
            if not any_positional:
                problems.append(f"positional {p.name!r} missing")
        elif positional[index].name != p.name:
            problems.append(f"positional {index} is {positional[index].name!r}, not {p.name!r}")
        elif p.default is not p.empty and positional[index].default is p.empty:
            problems.append(f"{p.name!r} has no default")
    for p in wanted:
        if p.kind is not p.KEYWORD_ONLY:
            continue
        q = mine.get(p.name)
        if q is None or q.kind not in (q.KEYWORD_ONLY, q.POSITIONAL_OR_KEYWORD):
            if not (q is None and any_keyword):
                problems.append(f"keyword {p.name!r} missing")
        elif p.default is not p.empty and q.default is q.empty:
            problems.append(f"{p.name!r} has no default")
    names = {p.name for p in wanted}
    for q in mine.values():
        if q.name not in names and q.kind not in _VARIADIC and q.default is q.empty:
            problems.append(f"extra required parameter {q.name!r}")
    return problems


def test_the_protocol_declares_documented_methods() -> None:
    """``Source`` declares the twelve reading methods, each with a docstring."""
    methods = _protocol_methods()
    assert (
        sorted(methods),
        [name for name, fn in methods.items() if not (fn.__doc__ or "").strip()],
    ) == (
        sorted(
            [
                *["sessions", "session", "trace_count", "summary", "runs", "run", "records"],
                *["newest", "llm_models", "evaluation_metrics", "metric_totals", "timer_stats"],
            ]
        ),
        [],
    )


@pytest.mark.parametrize("source", SOURCES, ids=lambda c: c.__name__)
def test_every_source_implements_the_whole_protocol(source: type) -> None:
    """Each source defines every protocol method itself, documented, with a compatible signature."""
    problems = {}
    for name, declared in _protocol_methods().items():
        mine = getattr(source, name, None)
        if mine is None or mine is declared:
            problems[name] = ["not implemented"]
            continue
        found = _incompatibilities(inspect.signature(declared), inspect.signature(mine))
        if not (mine.__doc__ or "").strip():
            found.append("no docstring")
        if found:
            problems[name] = found
    assert problems == {}


def test_the_signature_check_catches_incompatible_methods() -> None:
    """The check refuses a missing, renamed or required-again argument, or an extra required one."""

    def declared(self: Any, kind: str, *, session_id: Any = None) -> None:
        """The shape asked for."""

    def no_keyword(self: Any, kind: str) -> None:
        """Cannot filter by session."""

    def renamed(self: Any, what: str, *, session_id: Any = None) -> None:
        """Its positional argument has another name."""

    def extra(self: Any, kind: str, limit: int, *, session_id: Any = None) -> None:
        """Needs one more argument."""

    def required(self: Any, kind: str, *, session_id: Any) -> None:
        """Must be given a session."""

    def flexible(self: Any, kind: str, **ids: Any) -> None:
        """Takes any keyword."""

    want = inspect.signature(declared)
    assert [
        bool(_incompatibilities(want, inspect.signature(f)))
        for f in (no_keyword, renamed, extra, required, flexible, declared)
    ] == [True, True, True, True, False, False]


# -- a small store ---------------------------------------------------------------
def _write_small_store(path: Path) -> Path:
    """Two sessions: a nested trace with priced and failed LLM calls, evaluations, metrics."""

    @sentinel(session_id="alpha", name="pipeline", report=DefaultReport(echo=False))
    def alpha() -> None:
        session.set("dataset", "tiny")
        session.add_tag("nightly")
        with bifrost_sync(name="retrieve"):
            report.info("fetched", docs=3)
            with monitor.timer("lookup"):
                pass
        with bifrost_sync(name="answer"):
            report.log_llm_call(
                model="m-priced", prompt_tokens=100, completion_tokens=20, cost=0.25
            )
            report.log_llm_call(
                model="m-priced", prompt_tokens=0, completion_tokens=0, success=False, cost=0.0
            )
            report.log_evaluation_result("faithfulness", 0.9, threshold=0.5)
            report.log_evaluation_result("faithfulness", 0.2, threshold=0.5)
        monitor.increment_metric("answered", 2)
        try:
            with bifrost_sync(name="broken"):
                raise ValueError("boom")
        except ValueError:
            pass

    @sentinel(session_id="beta", name="second", report=DefaultReport(echo=False))
    def beta() -> None:
        report.log_llm_call(model="m-other", prompt_tokens=7, completion_tokens=3, cost=0.5)
        report.log_evaluation_result("relevance", 1.0, threshold=0.5)

    with capture() as records:
        alpha()
        beta()
    sink = SQLiteSink(path)
    sink.export(list(records))
    sink.close(2.0)
    return path


@pytest.fixture(scope="module")
def small_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """The small store, open read-only for the module."""
    path = _write_small_store(tmp_path_factory.mktemp("source") / "small.db")
    store = open_store(path)
    yield store
    store.close()


class _OnlyTheProtocol:
    """Wraps a source: lends only the protocol's methods, and notes which were called."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.called: Set[str] = set()

    def __getattr__(self, name: str) -> Any:
        if name not in _protocol_methods():
            raise AttributeError(f"the views asked for {name!r}, which Source does not declare")
        self.called.add(name)
        return getattr(self._inner, name)


def _every_view(src: Any, store: Store) -> Dict[str, Any]:
    """Every page's data for ``src``, as the server and the report ask for it."""
    out: Dict[str, Any] = {
        "overview": _model.overview(src),
        "sessions": _model.sessions(src),
        "llm": _model.llm_table(src),
        "evaluations": _model.evaluations_table(src),
        "metrics": _model.metrics_view(src),
    }
    for s in store.sessions():
        sid = s["session_id"]
        out["session:" + sid] = _model.session_detail(src, sid)
        out["llm:" + sid] = _model.llm_table(src, sid)
        out["evaluations:" + sid] = _model.evaluations_table(src, sid)
        out["metrics:" + sid] = _model.metrics_view(src, sid)
    for r in store.runs(limit=None):
        out["trace:" + r["trace_id"]] = _model.trace_detail(src, r["trace_id"])
        out["run:" + r["run_id"]] = _model.run_detail(src, r["run_id"])
    return out


def test_the_views_call_nothing_the_protocol_does_not_declare(small_store: Store) -> None:
    """Through a wrapper lending only ``Source``'s methods, every view works and uses them all."""
    src = _OnlyTheProtocol(StoreSource(small_store))
    views = _every_view(src, small_store)
    assert (views == _every_view(StoreSource(small_store), small_store), src.called) == (
        True,
        set(_protocol_methods()),
    )


def test_the_store_source_answers_as_the_store(small_store: Store) -> None:
    """``StoreSource``'s lookups and totals are the store's own queries, with no row limit."""
    src = StoreSource(small_store)
    assert (
        src.sessions() == small_store.sessions(),
        src.session("alpha") == small_store.session("alpha"),
        src.session("nope"),
        [src.trace_count(s) for s in ("alpha", "beta", "nope")],
        src.summary() == small_store.summary(),
        src.runs() == small_store.runs(limit=None),
        src.run("nope"),
    ) == (True, True, None, [1, 1, 0], True, True, None)


def test_the_views_give_the_store_numbers(small_store: Store) -> None:
    """Overview, sessions list and session page of the small store show the expected totals."""
    src = StoreSource(small_store)
    overview = _model.overview(src)
    listed = {s["session_id"]: s for s in _model.sessions(src)}
    keys = ("runs", "traces", "errors", "llm_calls", "tokens", "cost", "evaluations", "passed")
    detail = _model.session_detail(src, "alpha")
    assert (
        [overview[k] for k in (*keys, "sessions", "llm_failures", "pass_rate")],
        [listed["alpha"][k] for k in keys],
        [listed["beta"][k] for k in keys],
        [detail["summary"][k] for k in (*keys, "llm_failures")],
        detail["session"],
        [(t["root"], t["status"], t["runs"]) for t in detail["traces"]],
        [(r["name"], r["depth"], r["status"]) for r in detail["runs"]],
        {m["name"]: m["value"] for m in detail["metrics"]}["answered"],
    ) == (
        [5, 2, 1, 3, 130, 0.75, 3, 2, 2, 1, 2 / 3],  # llm_failures: one failed call,
        [4, 1, 1, 2, 120, 0.25, 2, 1],
        [1, 1, 0, 1, 10, 0.5, 1, 1],
        [4, 1, 1, 2, 120, 0.25, 2, 1, 1],
        {"session_id": "alpha", "name": None, "tags": ["nightly"], "state": {"dataset": "tiny"}},
        [("pipeline", "ok", 4)],
        [("pipeline", 0, "ok"), ("retrieve", 1, "ok"), ("answer", 1, "ok"), ("broken", 1, "error")],
        2.0,
    )


class _WithoutAggregates(StoreSource):
    """The store's rows with only the session columns: the views must total the records."""

    def sessions(self) -> List[Dict[str, Any]]:
        """Session rows without their aggregate columns."""
        keep = ("session_id", "name", "tags", "state", "first_ns", "last_ns")
        return [{k: s[k] for k in keep} for s in super().sessions()]


def test_sessions_without_aggregates_are_totalled_from_their_records(small_store: Store) -> None:
    """A source whose session rows lack the store's aggregates lists the same totals."""
    keys = ("runs", "traces", "errors", "llm_calls", "tokens", "cost", "evaluations", "passed")
    listed = [
        {s["session_id"]: [s[k] for k in keys] for s in _model.sessions(src)}
        for src in (StoreSource(small_store), _WithoutAggregates(small_store))
    ]
    assert listed[0] == listed[1]


def test_unknown_ids_are_not_found_through_the_store_source(small_store: Store) -> None:
    """An unknown session, trace or run raises NotFound, as with any source."""
    src = StoreSource(small_store)
    raised = []
    for view in (_model.session_detail, _model.trace_detail, _model.run_detail):
        with pytest.raises(_model.NotFound):
            view(src, "nope")
        raised.append(view.__name__)
    assert raised == ["session_detail", "trace_detail", "run_detail"]
