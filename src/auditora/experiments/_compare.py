"""Comparing two experiments: per-metric deltas with paired bootstrap intervals,
per-item changes, cost and latency; and the gate that fails on a significant drop."""

from __future__ import annotations

import math
import os
import xml.etree.ElementTree as ET
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

from ._model import ExperimentResult, ItemResult, load_experiment, percentile
from ._stats import DEFAULT_RESAMPLES, DEFAULT_SEED, paired_bootstrap

__all__ = ["SUCCESS", "Comparison", "ExperimentGate", "compare", "gate_experiment"]

#: Score differences smaller than this are equal (float noise, not a change).
_EPS = 1e-9

Ref = Union[str, ExperimentResult]

#: The metric compared when either run has failed items: the share of an item's trials
#: whose task returned.
SUCCESS = "task_success"


def _load(store: Any, ref: Ref) -> ExperimentResult:
    if isinstance(ref, ExperimentResult):
        return ref
    if store is None:
        raise ValueError(f"comparing {ref!r} by name needs a store")
    if isinstance(store, (str, os.PathLike)):
        from ..store import open_store

        with open_store(store) as opened:
            return load_experiment(opened, ref)
    return load_experiment(store, ref)


def _by_item(result: ExperimentResult) -> Dict[str, List[ItemResult]]:
    out: Dict[str, List[ItemResult]] = {}
    for r in result.items:
        out.setdefault(r.item_id, []).append(r)
    return out


def _success(by_item: Dict[str, List[ItemResult]]) -> Dict[str, float]:
    return {k: sum(r.ok for r in rs) / len(rs) for k, rs in by_item.items()}


def _worse(direction: str, delta: float) -> bool:
    return delta < -_EPS if direction == "higher" else delta > _EPS


def _better(direction: str, delta: float) -> bool:
    return _worse("lower" if direction == "higher" else "higher", delta)


def _usage(result: ExperimentResult) -> Dict[str, Optional[float]]:
    costs = [r.cost for r in result.items if r.cost is not None]
    lat = [r.latency_s for r in result.items if r.latency_s is not None]
    item_costs = [sum(c) for c in (_costs(rs) for rs in _by_item(result).values()) if c]
    return {
        "cost_total": math.fsum(costs) if costs else None,
        "cost_p50": percentile(item_costs, 50),
        "cost_p95": percentile(item_costs, 95),
        "latency_total": math.fsum(lat) if lat else None,
        "latency_p50": percentile(lat, 50),
        "latency_p95": percentile(lat, 95),
    }


def _costs(rs: List[ItemResult]) -> List[float]:
    return [r.cost for r in rs if r.cost is not None]


def _minus(a: Optional[float], b: Optional[float]) -> Optional[float]:
    return None if a is None or b is None else a - b


def _first_output(rs: List[ItemResult]) -> Tuple[Any, Optional[str], Optional[str]]:
    r = rs[0]
    return r.output, r.error, r.trace_id


class Comparison:
    """What :func:`compare` found. ``metrics`` and ``items`` are lists of plain dicts
    (see :meth:`to_dict`); ``format(kind)`` renders ``text``, ``md`` or ``junit``."""

    def __init__(
        self,
        base: ExperimentResult,
        candidate: ExperimentResult,
        metrics: List[Dict[str, Any]],
        items: List[Dict[str, Any]],
        only_base: List[str],
        only_candidate: List[str],
        usage: Dict[str, Dict[str, Optional[float]]],
        confidence: float,
    ) -> None:
        self.base = base
        self.candidate = candidate
        self.metrics = metrics
        self.items = items
        self.only_base = only_base
        self.only_candidate = only_candidate
        self.usage = usage
        self.confidence = confidence

    @property
    def regressed(self) -> List[Dict[str, Any]]:
        """The regressed items, worst first."""
        worst = [i for i in self.items if i["change"] == "regressed"]
        return sorted(worst, key=lambda i: i["severity"], reverse=True)

    @property
    def improved(self) -> List[Dict[str, Any]]:
        """The improved items."""
        return [i for i in self.items if i["change"] == "improved"]

    def metric(self, name: str) -> Dict[str, Any]:
        """One metric's entry (KeyError when neither experiment has it)."""
        for m in self.metrics:
            if m["name"] == name:
                return m
        raise KeyError(name)

    def counts(self) -> Dict[str, int]:
        """Items per change, and the items only one experiment has."""
        out = {"regressed": 0, "improved": 0, "unchanged": 0}
        for i in self.items:
            out[i["change"]] += 1
        out["only_base"] = len(self.only_base)
        out["only_candidate"] = len(self.only_candidate)
        return out

    def to_dict(self) -> Dict[str, Any]:
        """One JSON-friendly object: ``base``, ``candidate``, ``confidence``, ``metrics``,
        ``items``, ``only_base``, ``only_candidate``, ``counts``, ``cost``, ``latency``."""

        def side(r: ExperimentResult) -> Dict[str, Any]:
            return {"name": r.name, "id": r.experiment_id, "dataset": r.dataset_version}

        def deltas(prefix: str) -> Dict[str, Dict[str, Optional[float]]]:
            out = {}
            for stat in ("total", "p50", "p95"):
                key = f"{prefix}_{stat}"
                b, c = self.usage["base"][key], self.usage["candidate"][key]
                out[stat] = {"base": b, "candidate": c, "delta": _minus(c, b)}
            return out

        return {
            "base": side(self.base),
            "candidate": side(self.candidate),
            "same_dataset": self.base.dataset_version == self.candidate.dataset_version,
            "confidence": self.confidence,
            "metrics": self.metrics,
            "items": self.items,
            "only_base": self.only_base,
            "only_candidate": self.only_candidate,
            "counts": self.counts(),
            "cost": deltas("cost"),
            "latency": deltas("latency"),
        }

    # -- rendering -----------------------------------------------------------
    def format(self, kind: str = "text", *, max_items: int = 10) -> str:
        """The comparison as ``text`` (a terminal table), ``md`` (a pull-request comment)
        or ``junit`` (JUnit XML: one test case per metric, failed when it regressed
        significantly)."""
        if kind == "text":
            return self._text(max_items)
        if kind == "md":
            return self._markdown(max_items)
        if kind == "junit":
            return self._junit()
        raise ValueError(f"unknown format {kind!r}; use text, md or junit")

    def _rows(self) -> List[List[str]]:
        pct = f"{self.confidence:.0%} CI"
        rows = [["metric", "base", "candidate", "delta", pct, ""]]
        for m in self.metrics:
            ci = (
                "-"
                if m["ci_low"] is None
                else f"[{_num(m['ci_low'], signed=True)}, {_num(m['ci_high'], signed=True)}]"
            )
            rows.append(
                [
                    m["name"],
                    _num(m["base"]),
                    _num(m["candidate"]),
                    _num(m["delta"], signed=True),
                    ci,
                    _verdict(m),
                ]
            )
        return rows

    def _usage_lines(self) -> List[Tuple[str, str, str, str]]:
        lines = []
        for label, prefix, unit in (("cost", "cost", "$"), ("latency", "latency", "s")):
            for stat in ("total", "p50", "p95"):
                key = f"{prefix}_{stat}"
                b, c = self.usage["base"][key], self.usage["candidate"][key]
                if b is None and c is None:
                    continue
                lines.append(
                    (
                        f"{label} {stat}",
                        _amount(b, unit),
                        _amount(c, unit),
                        _amount(_minus(c, b), unit, True),
                    )
                )
        return lines

    def _header(self) -> str:
        b, c = self.base, self.candidate
        same = "" if b.dataset_version == c.dataset_version else " (different datasets!)"
        return f"{b.name} ({b.experiment_id}) -> {c.name} ({c.experiment_id}){same}"

    def _text(self, max_items: int) -> str:
        rows = self._rows()
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        out = [self._header(), ""]
        for r in rows:
            out.append("  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip())
        if len(rows) == 1:
            out.append("(no metric in common)")
        n = self.counts()
        out.append("")
        out.append(
            f"items: {n['regressed']} regressed, {n['improved']} improved, "
            f"{n['unchanged']} unchanged, {n['only_base']} only in base, "
            f"{n['only_candidate']} only in candidate"
        )
        for item in self.regressed[:max_items]:
            out.append(f"  regressed {item['item']}: {_item_scores(item)}")
        for label, ids in (
            ("only in base", self.only_base),
            ("only in candidate", self.only_candidate),
        ):
            if ids and max_items:
                more = f" (+{len(ids) - max_items} more)" if len(ids) > max_items else ""
                out.append(f"  {label}: {', '.join(ids[:max_items])}{more}")
        usage = self._usage_lines()
        if usage:
            out.append("")
            for name, b, c, d in usage:
                out.append(f"{name:<14} {b:>12} -> {c:>12}  ({d})")
        return "\n".join(out)

    def _markdown(self, max_items: int) -> str:
        rows = self._rows()
        out = [f"### Experiment comparison: {_md(self._header())}", ""]
        out.append("| " + " | ".join(rows[0][:5]) + " | |")
        out.append("| --- | ---: | ---: | ---: | --- | --- |")
        for r in rows[1:]:
            out.append("| " + " | ".join(_md(v) for v in r) + " |")
        n = self.counts()
        out.append("")
        out.append(
            f"**{n['regressed']}** regressed, **{n['improved']}** improved, "
            f"{n['unchanged']} unchanged, {n['only_base']} only in base, "
            f"{n['only_candidate']} only in candidate."
        )
        worst = self.regressed[:max_items]
        if worst:
            out += ["", "<details><summary>Worst regressed items</summary>", ""]
            out += [f"- `{_md(i['item'])}`: {_md(_item_scores(i))}" for i in worst]
            out += ["", "</details>"]
        usage = self._usage_lines()
        if usage:
            out += ["", "| | base | candidate | delta |", "| --- | ---: | ---: | ---: |"]
            out += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in usage]
        return "\n".join(out)

    def _junit(self) -> str:
        failures = [m for m in self.metrics if m["change"] == "regressed"]
        suite = ET.Element(
            "testsuite",
            name=_xml(f"auditora compare {self.base.name} -> {self.candidate.name}"),
            tests=str(len(self.metrics)),
            failures=str(len(failures)),
            errors="0",
        )
        for m in self.metrics:
            case = ET.SubElement(
                suite, "testcase", classname="auditora.experiments", name=m["name"]
            )
            text = (
                f"{m['name']}: base {_num(m['base'])}, candidate {_num(m['candidate'])}, "
                f"delta {_num(m['delta'], signed=True)}, CI "
                f"[{_num(m['ci_low'], signed=True)}, {_num(m['ci_high'], signed=True)}]"
            )
            if m["change"] == "regressed":
                failure = ET.SubElement(case, "failure", message=_xml(text), type="regression")
                worst = [i for i in self.regressed if m["name"] in i["scores"]][:10]
                failure.text = _xml(
                    "\n".join(f"{i['item']}: {_item_scores(i)}" for i in worst) or text
                )
            else:
                ET.SubElement(case, "system-out").text = _xml(text)
        ET.indent(suite)
        return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suite, "unicode")

    def __repr__(self) -> str:
        return f"Comparison({self._header()}, {self.counts()})"


def _xml(text: str) -> str:
    """Text safe for XML 1.0 (control characters dropped)."""
    return "".join(ch for ch in text if ch in "\t\n\r" or ord(ch) >= 0x20)


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("<", "&lt;").replace("\n", " ")


def _num(v: Optional[float], signed: bool = False) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return f"{v:+.4g}" if signed else f"{v:.4g}"


def _amount(v: Optional[float], unit: str, signed: bool = False) -> str:
    """Dollars with enough decimals for a fraction of a cent; seconds in s, ms or us."""
    if v is None:
        return "-"
    sign = "-" if v < 0 else "+" if signed else ""
    a = abs(v)
    if unit == "$":
        text = f"{a:.4f}" if a >= 0.01 or a == 0 else f"{a:.8f}".rstrip("0")
        return f"{sign}${text}"
    if a >= 1:
        return f"{sign}{a:.3f} s"
    if a >= 1e-3:
        return f"{sign}{a * 1e3:.3g} ms"
    return f"{sign}{a * 1e6:.3g} us"


def _verdict(m: Mapping[str, Any]) -> str:
    if m["change"] == "regressed":
        return "REGRESSED"
    if m["change"] == "improved":
        return "improved"
    return "" if m["ci_low"] is not None else "(too few items)"


def _item_scores(item: Mapping[str, Any]) -> str:
    parts = [
        f"{name} {_num(s['base'])} -> {_num(s['candidate'])}"
        for name, s in item["scores"].items()
        if s["base"] is not None or s["candidate"] is not None
    ]
    if item.get("candidate_error") and not item.get("base_error"):
        parts.append(f"failed: {item['candidate_error']}")
    return ", ".join(parts) or "-"


def compare(
    store: Any,
    base: Ref,
    candidate: Ref,
    *,
    confidence: float = 0.95,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
) -> Comparison:
    """Compare experiment ``candidate`` with ``base``.

    ``store`` is a store path or an open :class:`~auditora.store.Store`;
    ``base`` and ``candidate`` are experiment names (their newest run), session
    ids, or :class:`ExperimentResult` objects (then ``store`` may be None).

    Per metric, over the items both experiments scored (an item's trials
    averaged): the means, the delta (candidate - base), a paired bootstrap
    interval at ``confidence`` and whether it excludes zero (``significant``).
    Per item: ``regressed`` (a metric worse, or the task now fails),
    ``improved`` (a metric better and none worse, or the task no longer fails)
    or ``unchanged``. Cost and latency: total, p50 and p95 of each, and deltas.
    """
    b = _load(store, base)
    c = _load(store, candidate)
    b_items, c_items = _by_item(b), _by_item(c)
    shared = [k for k in c_items if k in b_items]
    directions = {**b.directions, **c.directions}
    metrics = []
    b_scores = {m: b.scores(m) for m in b.metrics}
    c_scores = {m: c.scores(m) for m in c.metrics}
    compared = {m: (b_scores[m], c_scores[m]) for m in c.metrics if m in b_scores}
    if b.failed or c.failed:
        # Failed items have no scores, so the means alone would hide a candidate that
        # fails more often: the share of trials that ran is compared (and gated) too.
        compared[SUCCESS] = (_success(b_items), _success(c_items))
        directions.setdefault(SUCCESS, "higher")
    for name, (b_metric, c_metric) in compared.items():
        direction = directions.get(name, "higher")
        pairs = [(b_metric[k], c_metric[k]) for k in shared if k in b_metric and k in c_metric]
        xs, ys = [p[0] for p in pairs], [p[1] for p in pairs]
        delta, low, high = paired_bootstrap(
            xs, ys, confidence=confidence, resamples=resamples, seed=seed
        )
        significant = low is not None and high is not None and (low > 0 or high < 0)
        change = "unchanged"
        if significant:
            change = "regressed" if _worse(direction, delta) else "improved"
        metrics.append(
            {
                "name": name,
                "direction": direction,
                "n": len(pairs),
                "base": math.fsum(xs) / len(xs) if xs else None,
                "candidate": math.fsum(ys) / len(ys) if ys else None,
                "delta": delta if pairs else None,
                "ci_low": low,
                "ci_high": high,
                "significant": significant,
                "change": change,
            }
        )
    items = []
    for k in shared:
        scores: Dict[str, Dict[str, Optional[float]]] = {}
        worse = better = False
        severity = 0.0
        for name in dict.fromkeys([*b_scores, *c_scores]):
            bv, cv = b_scores.get(name, {}).get(k), c_scores.get(name, {}).get(k)
            d = _minus(cv, bv)
            scores[name] = {"base": bv, "candidate": cv, "delta": d}
            if d is None:
                continue
            direction = directions.get(name, "higher")
            if _worse(direction, d):
                worse = True
                severity += abs(d)
            elif _better(direction, d):
                better = True
        b_out, b_err, b_trace = _first_output(b_items[k])
        c_out, c_err, c_trace = _first_output(c_items[k])
        b_failed = any(not r.ok for r in b_items[k])
        c_failed = any(not r.ok for r in c_items[k])
        if c_failed and not b_failed:
            worse, severity = True, severity + 1.0
        elif b_failed and not c_failed:
            better = True
        change = "regressed" if worse else "improved" if better else "unchanged"
        items.append(
            {
                "item": k,
                "change": change,
                "severity": severity,
                "scores": scores,
                "input": b_items[k][0].input,
                "expected": b_items[k][0].expected,
                "base_output": b_out,
                "candidate_output": c_out,
                "base_error": b_err,
                "candidate_error": c_err,
                "base_trace": b_trace,
                "candidate_trace": c_trace,
            }
        )
    only_base = [k for k in b_items if k not in c_items]
    only_candidate = [k for k in c_items if k not in b_items]
    usage = {"base": _usage(b), "candidate": _usage(c)}
    return Comparison(b, c, metrics, items, only_base, only_candidate, usage, confidence)


class ExperimentGate:
    """What :func:`gate_experiment` found: truthy when no metric dropped significantly
    beyond its margin. ``failures`` lists those metrics' entries (with ``margin``)."""

    def __init__(self, comparison: Comparison, failures: List[Dict[str, Any]], problem: str = ""):
        self.comparison = comparison
        self.failures = failures
        #: Why the gate could not compare at all (no metric in common), or "".
        self.problem = problem

    @property
    def passed(self) -> bool:
        """Whether the gate passed."""
        return not self.failures and not self.problem

    def __bool__(self) -> bool:
        return self.passed

    def format(self, max_items: int = 5) -> str:
        """The comparison table, then PASSED or the dropped metrics and the worst items."""
        lines = [self.comparison.format("text", max_items=0)]
        if self.problem:
            lines.append(f"FAILED: {self.problem}")
        elif self.failures:
            lines.append(f"FAILED: {len(self.failures)} metric(s) dropped significantly")
            for m in self.failures:
                lines.append(
                    f"  {m['name']}: {_num(m['base'])} -> {_num(m['candidate'])} "
                    f"(delta {_num(m['delta'], signed=True)}, CI "
                    f"[{_num(m['ci_low'], signed=True)}, {_num(m['ci_high'], signed=True)}], "
                    f"allowed drop {m['margin']:g})"
                )
            worst = self.comparison.regressed[:max_items]
            if worst:
                lines.append("worst regressed items:")
                lines.extend(f"  {i['item']}: {_item_scores(i)}" for i in worst)
        else:
            lines.append("PASSED")
        return "\n".join(lines)

    def to_dict(self) -> Dict[str, Any]:
        """JSON-friendly: ``passed``, ``problem``, ``failures``, ``worst_items``, ``comparison``."""
        return {
            "passed": self.passed,
            "problem": self.problem or None,
            "failures": self.failures,
            "worst_items": self.comparison.regressed[:10],
            "comparison": self.comparison.to_dict(),
        }


def gate_experiment(
    comparison: Comparison, max_drop: Optional[Mapping[str, float]] = None
) -> ExperimentGate:
    """Fail when a metric of ``comparison`` got worse by more than its allowed drop
    (``max_drop[metric]``, else ``max_drop["*"]``, else 0) *and* the difference is
    significant at the comparison's confidence. A margin for a metric neither
    experiment has is an error (``ValueError``), as is having no metric in common.
    """
    margins = dict(max_drop or {})
    names = {m["name"] for m in comparison.metrics}
    unknown = sorted(k for k in margins if k != "*" and k not in names)
    if unknown:
        raise ValueError(
            f"--max-drop names no compared metric: {', '.join(unknown)} "
            f"(metrics: {', '.join(sorted(names)) or 'none'})"
        )
    failures = []
    for m in comparison.metrics:
        margin = float(margins.get(m["name"], margins.get("*", 0.0)))
        if m["delta"] is None:
            continue
        drop = -m["delta"] if m["direction"] == "higher" else m["delta"]
        if m["significant"] and drop > margin + _EPS:
            failures.append({**m, "margin": margin, "drop": drop})
    problem = "" if comparison.metrics else "the experiments have no scored metric in common"
    return ExperimentGate(comparison, failures, problem)
