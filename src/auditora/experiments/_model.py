"""Datasets, scores and experiment results, and reading experiments back from a store.

Pure data and store reads (the domain layer): the harness that runs tasks is
:mod:`auditora.experiments._run`.

How an experiment lives in a store (no table of its own, so any store reads it):

* one **session** per experiment run, id ``experiment:<name>:<suffix>`` (the
  suffix is time-ordered hex, so the newest run of a name sorts last), name
  ``<name>``, tag ``experiment``, and its description in the session state
  under ``"experiment"`` (:data:`STATE_KEY`);
* one **root run** per item and trial, attributes ``experiment``,
  ``experiment.item``, ``experiment.trial`` (output and input captured);
* the scores as **evaluation** records linked to that run.

Listing is a range scan of the sessions' primary key; everything else is read
by ``session_id``, which every record table indexes.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

__all__ = [
    "ID_PREFIX",
    "STATE_KEY",
    "Dataset",
    "ExperimentResult",
    "Item",
    "ItemResult",
    "Score",
    "experiment_prefix",
    "list_experiments",
    "load_experiment",
    "percentile",
    "resolve_experiment",
]

#: Every experiment session id starts with this.
ID_PREFIX = "experiment:"
#: The session state key holding an experiment's description.
STATE_KEY = "experiment"


def _repr(value: Any) -> str:
    try:
        return repr(value)
    except Exception:  # a hostile __repr__ must not break a dataset
        return f"<{type(value).__qualname__}>"


def _canonical(value: Any) -> str:
    """A stable text for hashing: sorted keys, non-JSON values by their repr."""
    return json.dumps(value, sort_keys=True, default=_repr, ensure_ascii=False, allow_nan=True)


def _hash(value: Any, length: int) -> str:
    return hashlib.sha256(_canonical(value).encode("utf-8", "surrogatepass")).hexdigest()[:length]


class Item:
    """One dataset item: an ``id``, an ``input``, an optional ``expected`` and ``metadata``."""

    __slots__ = ("expected", "id", "input", "metadata")

    def __init__(
        self,
        input: Any,
        expected: Any = None,
        *,
        id: Optional[str] = None,
        metadata: Optional[Mapping[str, Any]] = None,
    ) -> None:
        if id is not None and not isinstance(id, str):
            id = str(id)
        if id == "":
            raise ValueError("an item id must not be empty")
        self.input = input
        self.expected = expected
        self.metadata: Dict[str, Any] = dict(metadata or {})
        #: Given, or derived from the content (input and expected), so it is
        #: stable across runs and machines.
        self.id: str = id if id is not None else _hash([input, expected], 12)

    def to_dict(self) -> Dict[str, Any]:
        """The item as a plain dict."""
        return {
            "id": self.id,
            "input": self.input,
            "expected": self.expected,
            "metadata": self.metadata,
        }

    def __repr__(self) -> str:
        return f"Item(id={self.id!r}, input={self.input!r}, expected={self.expected!r})"


class Dataset:
    """An ordered set of :class:`Item` with unique ids; ``version`` hashes its content.

    ``Dataset(items)`` takes :class:`Item` objects or dicts with ``input`` (and
    optionally ``expected``, ``id``, ``metadata``); :meth:`from_jsonl` and
    :meth:`from_csv` read files.
    """

    def __init__(self, items: Iterable[Union[Item, Mapping[str, Any]]], name: Optional[str] = None):
        self.name = name
        self.items: List[Item] = []
        seen: Dict[str, int] = {}
        for index, raw in enumerate(items):
            item = raw if isinstance(raw, Item) else _item_from_mapping(raw, f"item {index}")
            if item.id in seen:
                raise ValueError(
                    f"item {index} has the id {item.id!r} of item {seen[item.id]}"
                    " (give distinct ids, or remove the duplicate)"
                )
            seen[item.id] = index
            self.items.append(item)
        self._by_id = {item.id: item for item in self.items}
        #: A hash of the items' ids, inputs, expected values and metadata.
        self.version: str = _hash([i.to_dict() for i in self.items], 16)

    @classmethod
    def from_jsonl(
        cls,
        path: Union[str, os.PathLike[str]],
        *,
        input: str = "input",
        expected: str = "expected",
        id: str = "id",
        metadata: str = "metadata",
    ) -> Dataset:
        """One JSON object per line; the keys named by the arguments (blank lines skipped)."""
        path = os.fspath(path)
        items = []
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except ValueError as exc:
                    raise ValueError(f"{path}:{number}: not JSON ({exc})") from None
                if not isinstance(row, dict):
                    raise ValueError(f"{path}:{number}: expected a JSON object")
                keys = {"input": input, "expected": expected, "id": id, "metadata": metadata}
                items.append(_item_from_mapping(row, f"{path}:{number}", keys))
        return cls(items, name=os.path.basename(path))

    @classmethod
    def from_csv(
        cls,
        path: Union[str, os.PathLike[str]],
        *,
        input: str = "input",
        expected: str = "expected",
        id: str = "id",
    ) -> Dataset:
        """A CSV file with a header row: the ``input`` column (required), ``expected`` and
        ``id`` (optional); every other column goes to the item's metadata. Values are text."""
        path = os.fspath(path)
        with open(path, encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f)
            columns = reader.fieldnames or []
            if input not in columns:
                raise ValueError(
                    f"{path}: no {input!r} column (columns: {', '.join(columns) or 'none'})"
                )
            items = []
            for row in reader:
                meta = {k: v for k, v in row.items() if k not in (input, expected, id) and k}
                items.append(
                    Item(
                        row[input],
                        row.get(expected) if expected in columns else None,
                        id=(row.get(id) or None) if id in columns else None,
                        metadata=meta,
                    )
                )
        return cls(items, name=os.path.basename(path))

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[Item]:
        return iter(self.items)

    def __getitem__(self, item_id: str) -> Item:
        return self._by_id[item_id]

    def __repr__(self) -> str:
        return f"Dataset({len(self.items)} items, version={self.version!r})"


def _item_from_mapping(row: Any, where: str, keys: Optional[Mapping[str, str]] = None) -> Item:
    k = keys or {"input": "input", "expected": "expected", "id": "id", "metadata": "metadata"}
    if not isinstance(row, Mapping):
        raise TypeError(f"{where}: an item must be an Item or a dict, not {type(row).__name__}")
    if k["input"] not in row:
        raise ValueError(f"{where}: no {k['input']!r} key (keys: {', '.join(map(str, row))})")
    meta = row.get(k["metadata"])
    if meta is not None and not isinstance(meta, Mapping):
        raise ValueError(f"{where}: {k['metadata']!r} must be an object")
    given = row.get(k["id"])
    return Item(row[k["input"]], row.get(k["expected"]), id=given, metadata=meta)


class Score:
    """What a scorer may return: a ``value`` (a number or a bool) with a ``label``
    and an ``explanation``. A plain number or bool is a Score with just a value."""

    __slots__ = ("explanation", "label", "value")

    def __init__(
        self,
        value: Union[float, bool],
        label: Optional[str] = None,
        explanation: Optional[str] = None,
    ) -> None:
        if isinstance(value, bool):
            value = float(value)
        if not isinstance(value, (int, float)):
            raise TypeError(f"a score value must be a number or a bool, not {type(value).__name__}")
        self.value = float(value)
        self.label = label
        self.explanation = explanation

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Score):
            return NotImplemented
        return (self.value, self.label, self.explanation) == (
            other.value,
            other.label,
            other.explanation,
        )

    def __repr__(self) -> str:
        return f"Score({self.value!r}, label={self.label!r}, explanation={self.explanation!r})"


class ItemResult:
    """One item's trial: its output (or error), scores, cost and latency, and its run's ids."""

    __slots__ = (
        "cost",
        "error",
        "error_type",
        "expected",
        "input",
        "item_id",
        "latency_s",
        "output",
        "run_id",
        "scorer_errors",
        "scores",
        "details",
        "trace_id",
        "trial",
    )

    def __init__(self, item_id: str, trial: int = 0) -> None:
        self.item_id = item_id
        self.trial = trial
        self.input: Any = None
        self.expected: Any = None
        self.output: Any = None
        #: ``{metric: value}``: the scores that could be computed.
        self.scores: Dict[str, float] = {}
        #: ``{metric: Score}``: with their labels and explanations.
        self.details: Dict[str, Score] = {}
        #: ``{metric: "Type: message"}`` for scorers that raised.
        self.scorer_errors: Dict[str, str] = {}
        self.error: Optional[str] = None
        self.error_type: Optional[str] = None
        self.latency_s: Optional[float] = None
        self.cost: Optional[float] = None
        self.run_id: Optional[str] = None
        self.trace_id: Optional[str] = None

    @property
    def ok(self) -> bool:
        """True when the task returned (did not raise)."""
        return self.error is None

    def to_dict(self) -> Dict[str, Any]:
        """A JSON-friendly dict."""
        return {
            "item": self.item_id,
            "trial": self.trial,
            "input": self.input,
            "expected": self.expected,
            "output": self.output,
            "scores": dict(self.scores),
            "labels": {k: s.label for k, s in self.details.items() if s.label is not None},
            "explanations": {
                k: s.explanation for k, s in self.details.items() if s.explanation is not None
            },
            "scorer_errors": dict(self.scorer_errors),
            "error": self.error,
            "error_type": self.error_type,
            "latency_s": self.latency_s,
            "cost": self.cost,
            "run_id": self.run_id,
            "trace_id": self.trace_id,
        }

    def __repr__(self) -> str:
        state = "ok" if self.ok else f"error={self.error!r}"
        return f"ItemResult({self.item_id!r}, trial={self.trial}, {state}, scores={self.scores})"


def percentile(values: Sequence[float], q: float) -> Optional[float]:
    """The ``q``-th percentile (0-100) by linear interpolation; None when empty."""
    data = sorted(v for v in values if isinstance(v, (int, float)) and math.isfinite(v))
    if not data:
        return None
    pos = (len(data) - 1) * q / 100.0
    low = math.floor(pos)
    high = min(low + 1, len(data) - 1)
    return data[low] + (data[high] - data[low]) * (pos - low)


class ExperimentResult:
    """An experiment run: its description and one :class:`ItemResult` per item and trial.

    ``experiment_id`` is the id of its session (also the id to pass to
    :func:`~auditora.experiments.compare` and the CLI).
    """

    def __init__(
        self,
        name: str,
        experiment_id: str,
        *,
        dataset_version: Optional[str] = None,
        dataset_size: int = 0,
        trials: int = 1,
        metadata: Optional[Dict[str, Any]] = None,
        directions: Optional[Dict[str, str]] = None,
        started_ns: Optional[int] = None,
        ended_ns: Optional[int] = None,
        items: Optional[List[ItemResult]] = None,
        store: Optional[str] = None,
    ) -> None:
        self.name = name
        self.experiment_id = experiment_id
        self.dataset_version = dataset_version
        self.dataset_size = dataset_size
        self.trials = trials
        self.metadata: Dict[str, Any] = dict(metadata or {})
        #: ``{metric: "higher" | "lower"}``: which way each metric is better.
        self.directions: Dict[str, str] = dict(directions or {})
        self.started_ns = started_ns
        self.ended_ns = ended_ns
        self.items: List[ItemResult] = list(items or [])
        #: The store it was written to, if any: its path, or its URL with the password masked.
        self.store = store

    @property
    def metrics(self) -> List[str]:
        """The metric names, in first-seen order."""
        seen: Dict[str, None] = dict.fromkeys(self.directions)
        for r in self.items:
            for name in r.scores:
                seen.setdefault(name, None)
        return list(seen)

    @property
    def failed(self) -> List[ItemResult]:
        """The item trials whose task raised."""
        return [r for r in self.items if not r.ok]

    def scores(self, metric: str) -> Dict[str, float]:
        """``{item id: mean over its trials}`` of ``metric`` (items without it left out)."""
        sums: Dict[str, Tuple[float, int]] = {}
        for r in self.items:
            v = r.scores.get(metric)
            if v is None or not math.isfinite(v):
                continue
            total, n = sums.get(r.item_id, (0.0, 0))
            sums[r.item_id] = (total + v, n + 1)
        return {k: t / n for k, (t, n) in sums.items()}

    def item_ids(self) -> List[str]:
        """The item ids, in order, once each."""
        return list(dict.fromkeys(r.item_id for r in self.items))

    @property
    def summary(self) -> Dict[str, Any]:
        """Items, trials, errors, per-metric means, total cost, latency p50/p95 and duration."""
        means = {}
        for metric in self.metrics:
            per_item = list(self.scores(metric).values())
            means[metric] = sum(per_item) / len(per_item) if per_item else None
        latencies = [r.latency_s for r in self.items if r.latency_s is not None]
        costs = [r.cost for r in self.items if r.cost is not None]
        duration = (
            (self.ended_ns - self.started_ns) / 1e9
            if self.ended_ns is not None and self.started_ns is not None
            else None
        )
        return {
            "items": len(self.item_ids()),
            "trials": self.trials,
            "runs": len(self.items),
            "errors": len(self.failed),
            "metrics": means,
            "cost": sum(costs) if costs else None,
            "latency_p50": percentile(latencies, 50),
            "latency_p95": percentile(latencies, 95),
            "duration_s": duration,
        }

    def to_dict(self) -> Dict[str, Any]:
        """A JSON-friendly dict: the description, the summary and every item."""
        return {
            "name": self.name,
            "id": self.experiment_id,
            "dataset": self.dataset_version,
            "dataset_size": self.dataset_size,
            "trials": self.trials,
            "metadata": self.metadata,
            "directions": self.directions,
            "started_ns": self.started_ns,
            "ended_ns": self.ended_ns,
            "summary": self.summary,
            "items": [r.to_dict() for r in self.items],
        }

    def __repr__(self) -> str:
        s = self.summary
        return (
            f"ExperimentResult({self.name!r}, id={self.experiment_id!r}, items={s['items']}, "
            f"errors={s['errors']}, metrics={s['metrics']})"
        )


# -- reading experiments from a store -----------------------------------------


def experiment_prefix(name: str) -> str:
    """The session-id prefix of the runs of experiment ``name``."""
    return f"{ID_PREFIX}{name}:"


def _description(session: Mapping[str, Any]) -> Optional[Dict[str, Any]]:
    state = session.get("state") or {}
    desc = state.get(STATE_KEY) if isinstance(state, Mapping) else None
    return dict(desc) if isinstance(desc, Mapping) else None


def _experiment_sessions(store: Any, prefix: str = ID_PREFIX) -> List[Dict[str, Any]]:
    """Experiment sessions (oldest first) whose id starts with ``prefix``."""
    out = []
    for row in store.sessions_by_prefix(prefix):
        desc = _description(row)
        if desc is not None:
            row["experiment"] = desc
            out.append(row)
    return out


def resolve_experiment(store: Any, ref: str) -> str:
    """The session id of experiment ``ref``: a session id, or a name (its newest run).

    Raises ``LookupError`` with the known names when there is none.
    """
    if not isinstance(ref, str) or not ref:
        raise ValueError("an experiment is named by a non-empty name or id")
    if ref.startswith(ID_PREFIX):
        rows = store.sessions_by_prefix(ref)
        if any(r["session_id"] == ref and _description(r) is not None for r in rows):
            return ref
    named = [r for r in _experiment_sessions(store, experiment_prefix(ref))]
    named = [r for r in named if r["experiment"].get("name") == ref]
    if named:
        return str(named[-1]["session_id"])  # ids sort by start: the newest
    known = sorted({str(r["experiment"].get("name")) for r in _experiment_sessions(store)})
    hint = f"; experiments: {', '.join(known[:10])}" if known else "; the store has none"
    raise LookupError(f"no experiment {ref!r} in {getattr(store, 'path', 'the store')}{hint}")


def load_experiment(store: Any, ref: str) -> ExperimentResult:
    """Read experiment ``ref`` (a name or session id, see :func:`resolve_experiment`)
    back from ``store`` (a :class:`~auditora.store.Store`).

    When an item's trial was run more than once (``resume=True`` after a failure),
    the latest run counts.
    """
    session_id = resolve_experiment(store, ref)
    session = store.session(session_id) or {}
    desc = _description(session) or {}
    latest: Dict[Tuple[str, int], Dict[str, Any]] = {}
    for run in store.runs(session_id=session_id, limit=None):
        attrs = run.get("attributes") or {}
        if not isinstance(attrs, Mapping) or "experiment.item" not in attrs:
            continue
        key = (str(attrs["experiment.item"]), int(attrs.get("experiment.trial") or 0))
        latest[key] = run
    by_run: Dict[str, ItemResult] = {}
    items = []
    for (item_id, trial), run in latest.items():
        attrs = run.get("attributes") or {}
        r = ItemResult(item_id, trial)
        inputs = run.get("inputs") or {}
        r.input = inputs.get("input") if isinstance(inputs, Mapping) else None
        r.expected = attrs.get("experiment.expected")
        r.output = run.get("output")
        if run.get("status") not in ("ok", None):
            r.error_type = run.get("error_type")
            message = run.get("error_message") or run.get("status")
            r.error = f"{r.error_type}: {message}" if r.error_type else str(message)
        duration = run.get("duration_ns")
        r.latency_s = duration / 1e9 if isinstance(duration, (int, float)) else None
        cost = attrs.get("llm.cost_usd")
        r.cost = float(cost) if isinstance(cost, (int, float)) else None
        r.run_id = run.get("run_id")
        r.trace_id = run.get("trace_id")
        items.append(r)
        if r.run_id:
            by_run[r.run_id] = r
    directions: Dict[str, str] = dict(desc.get("directions") or {})
    for ev in store.evaluations(session_id=session_id, limit=None):
        found = by_run.get(str(ev.get("run_id")))
        value = ev.get("value")
        if found is None or not isinstance(value, (int, float)) or isinstance(value, bool):
            continue
        name = ev["metric_name"]
        found.scores[name] = float(value)
        found.details[name] = Score(float(value), ev.get("label"), ev.get("explanation"))
        directions.setdefault(name, ev.get("direction") or "higher")
    # In the order the items first started (the dataset's order when run one at a time).
    first: Dict[str, int] = {}
    for index, r in enumerate(items):
        first.setdefault(r.item_id, index)
    items.sort(key=lambda r: (first[r.item_id], r.trial))
    return ExperimentResult(
        str(desc.get("name") or session.get("name") or session_id),
        session_id,
        dataset_version=desc.get("dataset"),
        dataset_size=int(desc.get("dataset_size") or 0),
        trials=int(desc.get("trials") or 1),
        metadata=desc.get("metadata") or {},
        directions=directions,
        started_ns=desc.get("started_ns"),
        ended_ns=desc.get("ended_ns"),
        items=items,
        store=getattr(store, "path", None),
    )


def list_experiments(store: Any) -> List[Dict[str, Any]]:
    """Every experiment run in ``store``, oldest first: ``id, name, dataset, items, trials,
    metrics`` (per-metric means), ``cost``, ``duration_s``, ``errors``, ``status``,
    ``started_ns``, ``metadata``.

    A finished run's figures come from its session state (one read of the
    sessions table); an unfinished one's are computed from its records.
    """
    out = []
    sessions = _experiment_sessions(store)  # in id order: by name, then start
    sessions.sort(key=lambda r: (r["experiment"].get("started_ns") or 0, r["session_id"]))
    for row in sessions:
        desc = row["experiment"]
        summary = desc.get("summary")
        if not isinstance(summary, Mapping):
            summary = load_experiment(store, row["session_id"]).summary
        out.append(
            {
                "id": row["session_id"],
                "name": desc.get("name"),
                "dataset": desc.get("dataset"),
                "dataset_size": desc.get("dataset_size"),
                "items": summary.get("items"),
                "trials": desc.get("trials"),
                "errors": summary.get("errors"),
                "metrics": dict(summary.get("metrics") or {}),
                "cost": summary.get("cost"),
                "duration_s": summary.get("duration_s"),
                "latency_p50": summary.get("latency_p50"),
                "latency_p95": summary.get("latency_p95"),
                "status": desc.get("status"),
                "started_ns": desc.get("started_ns"),
                "metadata": desc.get("metadata") or {},
            }
        )
    return out
