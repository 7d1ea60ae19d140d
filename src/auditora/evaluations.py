"""Evaluation statistics and a CI gate.

:func:`aggregate` turns evaluation records (objects from
``report.get_evaluations()`` / ``auditora.testing.capture()``, or rows from a
store) into per-metric statistics: count, mean, min, max, passed, failed and
pass rate; :func:`aggregate_by_session` does it per session; :func:`summary` returns the
same as plain dicts from a store path, a JSONL file or records.

:func:`gate` checks those statistics against bars and returns a
:class:`GateResult` (truthy when everything passed); :func:`gate_command` is the
same as a command line — ``auditora gate STORE --min-pass-rate 0.9`` — that
exits non-zero and prints which metrics failed. ``auditora gate STORE
--experiment CAND --baseline BASE`` instead fails when an experiment's metric
dropped significantly against a baseline (:mod:`auditora.experiments`)::

    from auditora.evaluations import gate

    result = gate(evaluate._report.get_evaluations(), min_pass_rate=0.9,
                  rules=["coherence.mean >= 0.7", "latency.max <= 2"])
    assert result, result.format()
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

__all__ = [
    "GateFailedError",
    "GateFailure",
    "GateResult",
    "MetricStats",
    "Rule",
    "aggregate",
    "aggregate_by_session",
    "gate",
    "gate_command",
    "load_evaluations",
    "summary",
]

_STATS = ("count", "mean", "min", "max", "pass_rate", "passed", "failed")
_OPS = {
    ">=": lambda a, b: a >= b,
    ">": lambda a, b: a > b,
    "<=": lambda a, b: a <= b,
    "<": lambda a, b: a < b,
    "==": lambda a, b: a == b,
}
_RULE = re.compile(
    r"^\s*(?P<metric>.+?)\.(?P<stat>[a-z_]+)\s*(?P<op>>=|<=|==|>|<)\s*(?P<bar>\S+)\s*$"
)


class MetricStats:
    """Statistics of one metric's evaluations.

    ``mean``, ``min`` and ``max`` ignore values that are not finite numbers
    (they are None when no value is); ``pass_rate`` is ``passed / count``.
    ``direction`` is the metric's (``"higher"`` or ``"lower"`` is better).
    """

    __slots__ = ("count", "direction", "failed", "max", "mean", "metric", "min", "passed")

    def __init__(self, metric: str) -> None:
        self.metric = metric
        self.count = 0
        self.passed = 0
        self.failed = 0
        self.mean: Optional[float] = None
        self.min: Optional[float] = None
        self.max: Optional[float] = None
        self.direction = "higher"

    @property
    def pass_rate(self) -> Optional[float]:
        """Share of evaluations that passed (None when there are none)."""
        return self.passed / self.count if self.count else None

    def to_dict(self) -> Dict[str, Any]:
        """The statistics as a JSON-friendly dict."""
        return {
            "count": self.count,
            "mean": self.mean,
            "min": self.min,
            "max": self.max,
            "passed": self.passed,
            "failed": self.failed,
            "pass_rate": self.pass_rate,
            "direction": self.direction,
        }

    def __repr__(self) -> str:
        return f"MetricStats({self.metric!r}, {self.to_dict()})"


def _get(record: Any, name: str, default: Any = None) -> Any:
    if isinstance(record, Mapping):
        return record.get(name, default)
    return getattr(record, name, default)


def _number(value: Any) -> Optional[float]:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        v = float(value)
        return v if math.isfinite(v) else None
    return None


def aggregate(records: Iterable[Any]) -> Dict[str, MetricStats]:
    """Per metric name (in first-seen order): the statistics of ``records``.

    ``records`` are evaluation records or dicts with ``metric_name``, ``value``
    and ``status`` (store rows, ``to_dict()`` output); other records are skipped.
    """
    out: Dict[str, MetricStats] = {}
    sums: Dict[str, Tuple[float, int]] = {}
    for r in records:
        kind = _get(r, "kind", "evaluation")
        name = _get(r, "metric_name")
        if kind != "evaluation" or name is None:
            continue
        stats = out.get(name)
        if stats is None:
            stats = out[name] = MetricStats(name)
        stats.count += 1
        if _get(r, "status") == "PASS":
            stats.passed += 1
        else:
            stats.failed += 1
        stats.direction = _get(r, "direction") or stats.direction
        v = _number(_get(r, "value"))
        if v is None:
            continue
        total, n = sums.get(name, (0.0, 0))
        sums[name] = (total + v, n + 1)
        stats.min = v if stats.min is None or v < stats.min else stats.min
        stats.max = v if stats.max is None or v > stats.max else stats.max
    for name, (total, n) in sums.items():
        out[name].mean = total / n
    return out


def aggregate_by_session(records: Iterable[Any]) -> Dict[Optional[str], Dict[str, MetricStats]]:
    """Per session id, then per metric: the statistics of ``records``."""
    groups: Dict[Optional[str], List[Any]] = {}
    for r in records:
        groups.setdefault(_get(r, "session_id"), []).append(r)
    return {sid: aggregate(items) for sid, items in groups.items()}


def summary(
    source: Any, session_id: Optional[str] = None, *, by_session: bool = False
) -> Dict[Any, Any]:
    """Per-metric statistics as plain dicts, from any source :func:`gate` accepts.

    ``{metric: {"count", "mean", "min", "max", "passed", "failed", "pass_rate",
    "direction"}}``; with ``by_session`` one such dict per session id.
    """
    records = load_evaluations(source, session_id)
    if by_session:
        return {
            sid: {name: s.to_dict() for name, s in stats.items()}
            for sid, stats in aggregate_by_session(records).items()
        }
    return {name: s.to_dict() for name, s in aggregate(records).items()}


class Rule:
    """A bar one metric statistic must meet: ``"coherence.mean >= 0.7"``.

    ``metric`` may be ``*`` for every metric. ``stat`` is one of ``count``,
    ``mean``, ``min``, ``max``, ``pass_rate``, ``passed``, ``failed``.
    """

    __slots__ = ("bar", "metric", "op", "stat")

    def __init__(self, metric: str, stat: str, op: str, bar: float) -> None:
        if stat not in _STATS:
            raise ValueError(f"unknown statistic {stat!r}; use one of {', '.join(_STATS)}")
        if op not in _OPS:
            raise ValueError(f"unknown comparison {op!r}; use one of {', '.join(_OPS)}")
        self.metric = metric
        self.stat = stat
        self.op = op
        self.bar = float(bar)

    @classmethod
    def parse(cls, text: str) -> Rule:
        """Parse ``"METRIC.STAT OP NUMBER"``."""
        m = _RULE.match(text)
        if m is None:
            raise ValueError(f"cannot parse rule {text!r}; expected e.g. 'coherence.mean >= 0.7'")
        try:
            bar = float(m["bar"])
        except ValueError:
            raise ValueError(f"rule {text!r}: {m['bar']!r} is not a number") from None
        return cls(m["metric"].strip(), m["stat"], m["op"], bar)

    def __str__(self) -> str:
        return f"{self.metric}.{self.stat} {self.op} {self.bar:g}"

    __repr__ = __str__


class GateFailure:
    """One unmet bar: which metric, which rule, and the actual value (None if absent)."""

    __slots__ = ("actual", "metric", "rule")

    def __init__(self, metric: str, rule: Rule, actual: Optional[float]) -> None:
        self.metric = metric
        self.rule = rule
        self.actual = actual

    def __str__(self) -> str:
        shown = "no value" if self.actual is None else f"{self.actual:.4g}"
        return (
            f"{self.metric}: {self.rule.stat} = {shown}, required {self.rule.op} {self.rule.bar:g}"
        )

    __repr__ = __str__


class GateFailedError(AssertionError):
    """Raised by ``gate(..., raise_on_failure=True)``; ``result`` is the :class:`GateResult`."""

    def __init__(self, result: GateResult) -> None:
        self.result = result
        super().__init__(result.format())


class GateResult:
    """What :func:`gate` found: truthy when every bar was met."""

    def __init__(self, stats: Dict[str, MetricStats], failures: List[GateFailure]) -> None:
        self.stats = stats
        self.failures = failures

    @property
    def passed(self) -> bool:
        """Whether every rule held."""
        return not self.failures

    def __bool__(self) -> bool:
        return self.passed

    @property
    def failed_metrics(self) -> List[str]:
        """Names of the metrics that failed a rule, in order, once each."""
        seen: List[str] = []
        for f in self.failures:
            if f.metric not in seen:
                seen.append(f.metric)
        return seen

    def format(self) -> str:
        """A human-readable table of the metrics and the failures."""
        lines = []
        width = max([len(n) for n in self.stats] + [6])
        lines.append(
            f"{'metric':<{width}}  {'count':>5}  {'mean':>8}  {'min':>8}  {'max':>8}  {'pass':>6}"
        )
        for name, s in self.stats.items():
            lines.append(
                f"{name:<{width}}  {s.count:>5}  {_fmt(s.mean):>8}  {_fmt(s.min):>8}  "
                f"{_fmt(s.max):>8}  {_fmt_rate(s.pass_rate):>6}"
            )
        if self.failures:
            lines.append(f"FAILED: {len(self.failed_metrics)} metric(s) below the bar")
            lines.extend(f"  {f}" for f in self.failures)
        else:
            lines.append("PASSED")
        return "\n".join(lines)

    def to_dict(self) -> Dict[str, Any]:
        """The result as a JSON-friendly dict."""
        return {
            "passed": self.passed,
            "metrics": {n: s.to_dict() for n, s in self.stats.items()},
            "failures": [
                {"metric": f.metric, "rule": str(f.rule), "actual": f.actual} for f in self.failures
            ],
        }

    def __repr__(self) -> str:
        return f"GateResult(passed={self.passed}, failed_metrics={self.failed_metrics})"


def _fmt(v: Optional[float]) -> str:
    return "-" if v is None else f"{v:.4g}"


def _fmt_rate(v: Optional[float]) -> str:
    return "-" if v is None else f"{v:.0%}"


def load_evaluations(source: Any, session_id: Optional[str] = None) -> List[Any]:
    """Evaluation records from ``source``.

    ``source`` is an iterable of records or dicts, a store object (with an
    ``evaluations()`` method), a store's path or URL (SQLite, or
    ``postgresql://``), or a path to a JSONL file of records. ``session_id``
    keeps only that session's.
    """
    if isinstance(source, (str, bytes)) or hasattr(source, "__fspath__"):
        path = str(source if not isinstance(source, bytes) else source.decode())
        from .store import open_store
        from .store._url import parse_store

        if parse_store(path).backend == "sqlite" and path.endswith((".jsonl", ".ndjson", ".json")):
            return _from_jsonl(path, session_id)  # (a database URL is never a JSONL file)

        with open_store(path) as store:
            return list(store.evaluations(session_id=session_id, limit=None))
    if hasattr(source, "evaluations") and callable(source.evaluations):
        return list(source.evaluations(session_id=session_id, limit=None))
    records = [r for r in source if _get(r, "kind", "evaluation") == "evaluation"]
    if session_id is not None:
        records = [r for r in records if _get(r, "session_id") == session_id]
    return records


def _from_jsonl(path: str, session_id: Optional[str]) -> List[Any]:
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                item = json.loads(line)
            except ValueError:
                continue
            if not isinstance(item, dict) or item.get("kind") != "evaluation":
                continue
            if session_id is None or item.get("session_id") == session_id:
                out.append(item)
    return out


def gate(
    source: Any,
    *,
    min_pass_rate: Optional[float] = None,
    min_mean: Optional[float] = None,
    rules: Sequence[Union[str, Rule]] = (),
    metrics: Optional[Sequence[str]] = None,
    session_id: Optional[str] = None,
    allow_empty: bool = False,
    raise_on_failure: bool = False,
) -> GateResult:
    """Check evaluation statistics against bars (see :func:`load_evaluations` for ``source``).

    ``min_pass_rate`` applies to every metric. ``min_mean`` applies to every
    metric whose direction is ``"higher"`` (for ``"lower"`` metrics it is a
    *maximum* mean). ``rules`` add per-metric bars such as
    ``"latency.mean <= 2.5"`` or ``"*.min >= 0.2"``. ``metrics`` limits the
    gate to those names; a named metric with no evaluations fails. No
    evaluations at all fail too, unless ``allow_empty``. With
    ``raise_on_failure`` a failed gate raises :class:`GateFailedError`.
    """
    records = load_evaluations(source, session_id)
    stats = aggregate(records)
    if metrics is not None:
        wanted = list(metrics)
        stats = {name: stats.get(name, MetricStats(name)) for name in wanted}
    parsed = [r if isinstance(r, Rule) else Rule.parse(r) for r in rules]
    failures: List[GateFailure] = []
    if not stats and not allow_empty:
        failures.append(GateFailure("*", Rule("*", "count", ">=", 1), 0))
    for name, s in stats.items():
        checks: List[Rule] = []
        if min_pass_rate is not None:
            checks.append(Rule(name, "pass_rate", ">=", min_pass_rate))
        if min_mean is not None:
            checks.append(Rule(name, "mean", ">=" if s.direction == "higher" else "<=", min_mean))
        checks.extend(r for r in parsed if r.metric in (name, "*"))
        if metrics is not None and s.count == 0:
            failures.append(GateFailure(name, Rule(name, "count", ">=", 1), 0))
            continue
        for rule in checks:
            actual = s.pass_rate if rule.stat == "pass_rate" else getattr(s, rule.stat)
            if actual is None or not _OPS[rule.op](actual, rule.bar):
                failures.append(GateFailure(name, rule, actual))
    for rule in parsed:  # a rule about a metric that never appeared fails
        if rule.metric != "*" and rule.metric not in stats:
            failures.append(GateFailure(rule.metric, rule, None))
    result = GateResult(stats, failures)
    if raise_on_failure and not result:
        raise GateFailedError(result)
    return result


def gate_command(argv: Optional[List[str]] = None) -> int:
    """``auditora gate``: exit 0 when every bar is met, 1 when not, 2 on a usage error.

    Prints a table of the metrics and the failed bars (or JSON with ``--json``).
    """
    from ._argparse import Parser  # usage errors in one line, as every auditora command

    parser = Parser(
        prog="auditora gate",
        description="Fail (exit 1) when evaluation metrics in a store are below a bar.",
    )
    parser.add_argument(
        "source", help="a store (a SQLite path or a postgresql:// URL), or a JSONL file of records"
    )
    parser.add_argument("--session", help="only this session's evaluations")
    parser.add_argument("--metric", action="append", help="only this metric (repeatable)")
    parser.add_argument("--min-pass-rate", type=float, help="every metric's pass rate >= X")
    parser.add_argument(
        "--min-mean", type=float, help="every metric's mean >= X (<= X if lower is better)"
    )
    parser.add_argument(
        "--rule",
        action="append",
        default=[],
        help="a bar such as 'coherence.mean>=0.7' or '*.min>=0.1' (repeatable)",
    )
    parser.add_argument("--allow-empty", action="store_true", help="pass with no evaluations")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    group = parser.add_argument_group(
        "comparing with a baseline experiment",
        "fail when a metric of CAND dropped significantly, by more than its margin, "
        "against BASE (see docs/experiments.md)",
    )
    group.add_argument("--experiment", metavar="CAND", help="the candidate experiment")
    group.add_argument("--baseline", metavar="BASE", help="the baseline experiment")
    group.add_argument(
        "--max-drop",
        action="append",
        default=[],
        metavar="METRIC=X",
        help="allowed drop of METRIC ('*' for every metric; default 0; repeatable)",
    )
    group.add_argument(
        "--confidence",
        type=float,
        default=0.95,
        metavar="P",
        help="confidence of the paired bootstrap interval (default 0.95)",
    )
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0) if not isinstance(exc.code, str) else 2
    if args.experiment is not None or args.baseline is not None:
        return _experiment_gate(args)
    try:
        rules = [Rule.parse(r) for r in args.rule]
    except ValueError as exc:
        print(f"auditora gate: {exc}", file=sys.stderr)
        return 2
    if args.min_pass_rate is None and args.min_mean is None and not rules:
        print(
            "auditora gate: give at least one bar (--min-pass-rate, --min-mean or --rule)",
            file=sys.stderr,
        )
        return 2
    try:
        result = gate(
            args.source,
            min_pass_rate=args.min_pass_rate,
            min_mean=args.min_mean,
            rules=rules,
            metrics=args.metric,
            session_id=args.session,
            allow_empty=args.allow_empty,
        )
    except (OSError, ValueError) as exc:
        print(f"auditora gate: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # StoreError and friends: a clear message, no traceback
        print(f"auditora gate: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(result.format())
    return 0 if result else 1


def _parse_margins(items: Sequence[str]) -> Dict[str, float]:
    """``["acc=0.02", "*=0.01"]`` -> ``{"acc": 0.02, "*": 0.01}`` (ValueError when malformed)."""
    margins: Dict[str, float] = {}
    for text in items:
        metric, sep, value = text.rpartition("=")
        try:
            margin = float(value)
        except ValueError:
            margin = math.nan
        if not sep or not metric.strip() or not math.isfinite(margin) or margin < 0:
            raise ValueError(f"--max-drop {text!r}: expected METRIC=X with X >= 0, e.g. acc=0.02")
        margins[metric.strip()] = margin
    return margins


def _experiment_gate(args: argparse.Namespace) -> int:
    """``auditora gate STORE --experiment CAND --baseline BASE``: exit 1 on a significant drop."""
    if args.experiment is None or args.baseline is None:
        print("auditora gate: --experiment and --baseline go together", file=sys.stderr)
        return 2
    if args.rule or args.min_pass_rate is not None or args.min_mean is not None:
        print(
            "auditora gate: --experiment compares with a baseline; give bars "
            "(--rule, --min-pass-rate, --min-mean) in a separate call",
            file=sys.stderr,
        )
        return 2
    if not 0 < args.confidence < 1:
        print("auditora gate: --confidence must be between 0 and 1", file=sys.stderr)
        return 2
    from .experiments._compare import compare, gate_experiment

    try:
        margins = _parse_margins(args.max_drop)
        comparison = compare(
            args.source, args.baseline, args.experiment, confidence=args.confidence
        )
        result = gate_experiment(comparison, margins)
    except (OSError, ValueError, LookupError) as exc:
        message = exc.args[0] if isinstance(exc, LookupError) and exc.args else exc
        print(f"auditora gate: {message}", file=sys.stderr)
        return 2
    except Exception as exc:  # StoreError and friends: a clear message, no traceback
        print(f"auditora gate: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result.to_dict(), indent=2, default=repr))
    else:
        print(result.format())
    return 0 if result else 1
