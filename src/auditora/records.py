"""Records: the immutable facts Auditora produces, schema version 2.

Every record carries the ids of the run that produced it (``run_id``, 16 hex
digits, a W3C span id), its trace (``trace_id``, 32 hex digits) and its
session, plus a wall-clock timestamp in nanoseconds. Records are created on the
hot path, so they are plain ``__slots__`` objects with no validation; turning
them into JSON-safe dicts (:meth:`Record.to_dict`) happens off the hot path, in
the recorder's thread. The field-by-field schema is ``docs/records.md``.

Users see records through ``monitor.get_events()``, ``report.get_records()``,
``auditora.testing.capture()`` and their own sinks; they never construct them.
"""

from __future__ import annotations

from time import perf_counter_ns, time_ns
from typing import TYPE_CHECKING, Any, ClassVar, Dict, List, Optional, Tuple, Union

if TYPE_CHECKING:  # pragma: no cover
    from .typing import Monitor, Report, Session

__all__ = [
    "SCHEMA_VERSION",
    "AgentMessage",
    "Evaluation",
    "Event",
    "LLMCall",
    "Log",
    "MetricSnapshot",
    "Record",
    "Run",
    "SessionRecord",
    "new_run",
]

#: Version of the record schema documented in ``docs/records.md``.
SCHEMA_VERSION = 2


class Record:
    """Base of every record. ``kind`` names the record type in serialized form."""

    __slots__ = ()
    kind: ClassVar[str] = "record"
    #: Slots that are serialized by :meth:`to_dict`, in order.
    _fields: ClassVar[Tuple[str, ...]] = ()

    def to_dict(self) -> Dict[str, Any]:
        """Return the record's fields as a dict (values are not sanitized here)."""
        out: Dict[str, Any] = {"kind": self.kind, "schema": SCHEMA_VERSION}
        for name in self._fields:
            out[name] = getattr(self, name)
        return out

    def __repr__(self) -> str:
        shown = ", ".join(f"{n}={getattr(self, n)!r}" for n in self._fields[:6])
        return f"{type(self).__name__}({shown}, ...)"


class _Timed(Record):
    """A record stamped with ``time_ns``."""

    __slots__ = ()
    time_ns: int

    @property
    def timestamp(self) -> float:
        """Wall-clock time in epoch seconds."""
        return self.time_ns / 1e9


class Run(Record):
    """One sentinel call or bifrost block: a span of the trace tree.

    While the run is active it is also the *frame* Paragon holds: it carries the
    ``session``, ``monitor`` and ``report`` adats the proxies resolve to. Those
    three are not part of the record. Once ``end_ns`` is set the run is final
    and must not change. Runs are made by :func:`new_run`.
    """

    # The three ids are stored as ints when minted here and formatted to hex on
    # first read (then cached): most runs are never read on the hot path, and
    # formatting costs more than the rest of a run's start.
    __slots__ = (
        "_run_id",
        "_trace_id",
        "_parent_id",
        "name",
        "session_id",
        "start_ns",
        "end_ns",
        "duration_ns",
        "status",
        "error_type",
        "error_message",
        "run_kind",
        "run_type",
        "agent",
        "attributes",
        "inputs",
        "output",
        "traceback",
        "remote_parent",
        "session",
        "monitor",
        "report",
        "_t0",
        "_parent",
    )
    kind = "run"
    _fields = (
        "run_id",
        "trace_id",
        "parent_id",
        "name",
        "session_id",
        "start_ns",
        "end_ns",
        "duration_ns",
        "status",
        "error_type",
        "error_message",
        "run_kind",
        "run_type",
        "agent",
        "attributes",
        "inputs",
        "output",
        "traceback",
        "remote_parent",
    )

    _run_id: Union[int, str]
    _trace_id: Union[int, str]
    _parent_id: Union[int, str, None]
    name: str
    session_id: Optional[str]
    start_ns: int
    end_ns: Optional[int]
    duration_ns: Optional[int]
    status: str
    error_type: Optional[str]
    error_message: Optional[str]
    run_kind: str
    run_type: str
    agent: Optional[str]
    attributes: Optional[Dict[str, Any]]
    inputs: Optional[Dict[str, Any]]
    output: Any
    traceback: Optional[str]
    #: True when the parent is another process's span (a ``traceparent`` continued,
    #: an OpenTelemetry span): the run is where its trace enters this service.
    remote_parent: Optional[bool]
    session: Session
    monitor: Monitor
    report: Report
    _t0: int
    _parent: Optional[Run]

    @property
    def run_id(self) -> str:
        """This run's id: 16 lowercase hex digits (a W3C span id)."""
        v = self._run_id
        if v.__class__ is int:
            v = self._run_id = v.to_bytes(8, "big").hex()
        return v  # type: ignore[return-value]

    @run_id.setter
    def run_id(self, value: str) -> None:
        self._run_id = value

    @property
    def trace_id(self) -> str:
        """The trace's id: 32 lowercase hex digits (a W3C trace id)."""
        v = self._trace_id
        if v.__class__ is int:
            v = self._trace_id = v.to_bytes(16, "big").hex()
        return v  # type: ignore[return-value]

    @trace_id.setter
    def trace_id(self, value: str) -> None:
        self._trace_id = value

    @property
    def parent_id(self) -> Optional[str]:
        """The enclosing run's id (16 hex digits), or None for a root run."""
        v = self._parent_id
        if v.__class__ is int:
            v = self._parent_id = v.to_bytes(8, "big").hex()
        return v  # type: ignore[return-value]

    @parent_id.setter
    def parent_id(self, value: Optional[str]) -> None:
        self._parent_id = value

    @property
    def parent(self) -> Optional[Run]:
        """The enclosing run object while this run is alive (None for a root run)."""
        return self._parent

    @property
    def duration(self) -> Optional[float]:
        """Duration in seconds (monotonic clock), or None while running."""
        d = self.duration_ns
        return None if d is None else d / 1e9


def new_run(
    run_id: Union[int, str],
    trace_id: Union[int, str],
    parent_id: Union[int, str, None],
    name: str,
    session_id: Optional[str],
    run_kind: str,
    run_type: str,
    agent: Optional[str],
    session: Session,
    monitor: Monitor,
    report: Report,
    parent: Optional[Run],
    remote_parent: Optional[bool] = None,
) -> Run:
    """A :class:`Run` that starts now (status ``running``): the one way runs are made
    (:func:`auditora.core._runs.start_run` calls it). It fills every slot of Run.

    The ids may be ints (formatted to hex on first read) or hex strings. The clocks
    are read last, so the run's duration covers only what follows.

    A function beside the class rather than ``Run.__init__``: before Python 3.13 a
    class call with a Python ``__init__`` re-enters the interpreter from C. Measured
    interleaved against the previous (hand-inlined) run start, a decorated sync call
    cost +27 % with ``__init__`` and +13 % with this plain Python call.
    """
    run = Run()
    run._run_id = run_id
    run._trace_id = trace_id
    run._parent_id = parent_id
    run.name = name
    run.session_id = session_id
    run.run_kind = run_kind
    run.run_type = run_type
    run.agent = agent
    run.session = session
    run.monitor = monitor
    run.report = report
    run._parent = parent
    run.attributes = None
    run.inputs = None
    run.output = None
    run.traceback = None
    run.remote_parent = remote_parent
    run.status = "running"
    run.error_type = None
    run.error_message = None
    run.end_ns = None
    run.duration_ns = None
    run.start_ns = time_ns()
    run._t0 = perf_counter_ns()
    return run


class Event(_Timed):
    """A named occurrence recorded by ``monitor.track`` (or a timer)."""

    __slots__ = ("name", "time_ns", "duration", "metadata", "run_id", "trace_id", "session_id")
    kind = "event"
    _fields = ("name", "time_ns", "duration", "metadata", "run_id", "trace_id", "session_id")

    def __init__(
        self,
        name: str,
        time_ns: int,
        duration: Optional[float],
        metadata: Dict[str, Any],
        run_id: Optional[str],
        trace_id: Optional[str],
        session_id: Optional[str],
    ) -> None:
        self.name = name
        self.time_ns = time_ns
        self.duration = duration
        self.metadata = metadata
        self.run_id = run_id
        self.trace_id = trace_id
        self.session_id = session_id


class Log(_Timed):
    """A structured log line written through the report."""

    __slots__ = ("level", "message", "fields", "time_ns", "run_id", "trace_id", "session_id")
    kind = "log"
    _fields = ("level", "message", "fields", "time_ns", "run_id", "trace_id", "session_id")

    def __init__(
        self,
        level: str,
        message: str,
        fields: Dict[str, Any],
        time_ns: int,
        run_id: Optional[str],
        trace_id: Optional[str],
        session_id: Optional[str],
    ) -> None:
        self.level = level
        self.message = message
        self.fields = fields
        self.time_ns = time_ns
        self.run_id = run_id
        self.trace_id = trace_id
        self.session_id = session_id


class LLMCall(_Timed):
    """One call to a language model, with usage, latency and cost.

    It also reads like a :class:`Log` (``level``, ``message``, ``fields``), so it
    appears in ``report.get_records()`` next to ordinary log lines.
    """

    __slots__ = (
        "model",
        "provider",
        "operation",
        "input_tokens",
        "output_tokens",
        "cached_tokens",
        "reasoning_tokens",
        "response_time",
        "time_to_first_token",
        "success",
        "finish_reason",
        "error",
        "cost",
        "request",
        "input",
        "output",
        "extra",
        "time_ns",
        "request_model",
        "response_model",
        "response_id",
        "cache_write_tokens",
        "error_type",
        "start_ns",
        "system_instructions",
        "run_id",
        "trace_id",
        "session_id",
    )
    kind = "llm_call"
    _fields = __slots__

    def __init__(
        self,
        model: str,
        input_tokens: Optional[int],
        output_tokens: Optional[int],
        response_time: Optional[float],
        success: bool,
        time_ns: int,
        run_id: Optional[str],
        trace_id: Optional[str],
        session_id: Optional[str],
        *,
        provider: Optional[str] = None,
        operation: str = "chat",
        cached_tokens: Optional[int] = None,
        reasoning_tokens: Optional[int] = None,
        time_to_first_token: Optional[float] = None,
        finish_reason: Optional[str] = None,
        error: Optional[str] = None,
        cost: Optional[float] = None,
        request: Optional[Dict[str, Any]] = None,
        input: Any = None,
        output: Any = None,
        extra: Optional[Dict[str, Any]] = None,
        request_model: Optional[str] = None,
        response_model: Optional[str] = None,
        response_id: Optional[str] = None,
        cache_write_tokens: Optional[int] = None,
        error_type: Optional[str] = None,
        start_ns: Optional[int] = None,
        system_instructions: Any = None,
    ) -> None:
        self.model = model
        self.provider = provider
        self.operation = operation
        self.input_tokens = input_tokens
        self.output_tokens = output_tokens
        self.cached_tokens = cached_tokens
        self.reasoning_tokens = reasoning_tokens
        self.response_time = response_time
        self.time_to_first_token = time_to_first_token
        self.success = success
        self.finish_reason = finish_reason
        self.error = error
        self.cost = cost
        self.request = request
        self.input = input
        self.output = output
        self.extra = extra if extra is not None else {}
        self.time_ns = time_ns
        self.request_model = request_model
        self.response_model = response_model
        self.response_id = response_id
        self.cache_write_tokens = cache_write_tokens
        self.error_type = error_type
        self.start_ns = start_ns
        self.system_instructions = system_instructions
        self.run_id = run_id
        self.trace_id = trace_id
        self.session_id = session_id

    @property
    def total_tokens(self) -> int:
        """Input plus output tokens (unknown counts count as 0)."""
        return (self.input_tokens or 0) + (self.output_tokens or 0)

    @property
    def level(self) -> str:
        return "INFO" if self.success else "ERROR"

    @property
    def message(self) -> str:
        state = "ok" if self.success else f"failed: {self.error}" if self.error else "failed"
        return (
            f"LLM call {self.model}: {self.input_tokens or 0} in / "
            f"{self.output_tokens or 0} out tokens, {self.response_time}s, {state}"
        )

    @property
    def fields(self) -> Dict[str, Any]:
        """Log-style view: the seed's names (prompt/completion tokens) plus the rest."""
        out: Dict[str, Any] = {
            "model": self.model,
            "prompt_tokens": self.input_tokens,
            "completion_tokens": self.output_tokens,
            "total_tokens": self.total_tokens,
            "response_time": self.response_time,
            "success": self.success,
        }
        for name in (
            "provider",
            "cached_tokens",
            "cache_write_tokens",
            "reasoning_tokens",
            "time_to_first_token",
            "finish_reason",
            "error",
            "cost",
        ):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        out.update(self.extra)
        return out


class Evaluation(_Timed):
    """An evaluation score with its threshold and PASS/FAIL status."""

    __slots__ = (
        "metric_name",
        "value",
        "threshold",
        "status",
        "direction",
        "label",
        "explanation",
        "extra",
        "time_ns",
        "run_id",
        "trace_id",
        "session_id",
    )
    kind = "evaluation"
    _fields = __slots__

    def __init__(
        self,
        metric_name: str,
        value: float,
        threshold: Optional[float],
        status: str,
        time_ns: int,
        run_id: Optional[str],
        trace_id: Optional[str],
        session_id: Optional[str],
        *,
        direction: str = "higher",
        label: Optional[str] = None,
        explanation: Optional[str] = None,
        extra: Optional[Dict[str, Any]] = None,
    ) -> None:
        self.metric_name = metric_name
        self.value = value
        self.threshold = threshold
        self.status = status
        self.direction = direction
        self.label = label
        self.explanation = explanation
        self.extra = extra if extra is not None else {}
        self.time_ns = time_ns
        self.run_id = run_id
        self.trace_id = trace_id
        self.session_id = session_id

    @property
    def passed(self) -> bool:
        return self.status == "PASS"

    @property
    def level(self) -> str:
        return "INFO" if self.status == "PASS" else "WARNING"

    @property
    def message(self) -> str:
        bar = "" if self.threshold is None else f" (threshold {self.threshold})"
        return f"Evaluation {self.metric_name}: {self.value}{bar} {self.status}"

    @property
    def fields(self) -> Dict[str, Any]:
        """Log-style view of the evaluation."""
        out: Dict[str, Any] = {
            "metric_name": self.metric_name,
            "value": self.value,
            "threshold": self.threshold,
            "status": self.status,
            "direction": self.direction,
        }
        if self.label is not None:
            out["label"] = self.label
        if self.explanation is not None:
            out["explanation"] = self.explanation
        out.update(self.extra)
        return out


class AgentMessage(_Timed):
    """A message or hand-off between two agents of a multi-agent system."""

    __slots__ = (
        "sender",
        "recipient",
        "message_kind",
        "content",
        "extra",
        "time_ns",
        "run_id",
        "trace_id",
        "session_id",
    )
    kind = "agent_message"
    _fields = __slots__

    def __init__(
        self,
        sender: str,
        recipient: str,
        message_kind: str,
        content: Any,
        time_ns: int,
        run_id: Optional[str],
        trace_id: Optional[str],
        session_id: Optional[str],
        extra: Optional[Dict[str, Any]] = None,
    ) -> None:
        self.sender = sender
        self.recipient = recipient
        self.message_kind = message_kind
        self.content = content
        self.extra = extra if extra is not None else {}
        self.time_ns = time_ns
        self.run_id = run_id
        self.trace_id = trace_id
        self.session_id = session_id

    @property
    def level(self) -> str:
        return "INFO"

    @property
    def message(self) -> str:
        return f"Agent {self.message_kind} {self.sender} -> {self.recipient}"

    @property
    def fields(self) -> Dict[str, Any]:
        """Log-style view of the message."""
        out: Dict[str, Any] = {
            "sender": self.sender,
            "recipient": self.recipient,
            "message_kind": self.message_kind,
        }
        if self.content is not None:
            out["content"] = self.content
        out.update(self.extra)
        return out


class MetricSnapshot(_Timed):
    """The values of a monitor's metrics when a run of its session ended."""

    __slots__ = ("metrics", "time_ns", "run_id", "trace_id", "session_id")
    kind = "metric"
    _fields = __slots__

    def __init__(
        self,
        metrics: Dict[str, float],
        time_ns: int,
        run_id: Optional[str],
        trace_id: Optional[str],
        session_id: Optional[str],
    ) -> None:
        self.metrics = metrics
        self.time_ns = time_ns
        self.run_id = run_id
        self.trace_id = trace_id
        self.session_id = session_id


class SessionRecord(_Timed):
    """A session's id, name, tags and state, as of the end of one of its runs."""

    __slots__ = ("session_id", "name", "tags", "state", "time_ns")
    kind = "session"
    _fields = __slots__

    def __init__(
        self,
        session_id: str,
        name: Optional[str],
        tags: List[str],
        state: Dict[str, Any],
        time_ns: int,
    ) -> None:
        self.session_id = session_id
        self.name = name
        self.tags = tags
        self.state = state
        self.time_ns = time_ns
