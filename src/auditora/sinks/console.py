"""A sink that prints one human-readable line per record."""

from __future__ import annotations

import sys
import time
from typing import IO, Any, Optional, Sequence

from ..records import Record
from ._base import Sink

__all__ = ["ConsoleSink"]

_COLOURS = {"error": "\033[31m", "warning": "\033[33m", "ok": "\033[32m", "dim": "\033[2m"}
_RESET = "\033[0m"


def _clock(ns: Any) -> str:
    if not isinstance(ns, int):
        return "--:--:--.---"
    ms = (ns // 1_000_000) % 1000
    return f"{time.strftime('%H:%M:%S', time.localtime(ns // 1_000_000_000))}.{ms:03d}"


class ConsoleSink(Sink):
    """Writes every record as one line to ``stream`` (standard error by default).

    Colour is used only when the stream is a TTY (``colour=None``) or when
    forced with ``colour=True``. Unlike the report's own echo (which prints log
    lines as they happen), this sink shows every record kind: runs with their
    duration and status, events, LLM calls, evaluations, metrics and sessions.
    """

    name = "console"

    def __init__(self, stream: Optional[IO[str]] = None, colour: Optional[bool] = None) -> None:
        self.stream = stream
        self.colour = colour

    def _target(self) -> IO[str]:
        return self.stream if self.stream is not None else sys.stderr

    def _use_colour(self, stream: IO[str]) -> bool:
        if self.colour is not None:
            return self.colour
        try:
            return bool(stream.isatty())
        except Exception:
            return False

    def format(self, record: Record) -> str:
        """The line (without newline) printed for ``record``."""
        kind = record.kind
        r: Any = record
        if kind == "run":
            ms = (r.duration_ns or 0) / 1e6
            err = f" {r.error_type}: {r.error_message}" if r.error_type else ""
            body = f"run {r.name} {r.status} {ms:.1f}ms{err} (run {r.run_id})"
            when = r.end_ns
        elif kind == "event":
            extra = "" if r.duration is None else f" {r.duration:.3f}s"
            body = f"event {r.name}{extra} {r.metadata or ''}".rstrip()
            when = r.time_ns
        elif kind in ("log", "llm_call", "evaluation"):
            body = f"{r.level:<8} {r.message}"
            when = r.time_ns
        elif kind == "metric":
            body = "metrics " + ", ".join(f"{k}={v}" for k, v in dict(r.metrics).items())
            when = r.time_ns
        elif kind == "session":
            body = f"session {r.session_id} tags={list(r.tags)} keys={sorted(map(str, r.state))}"
            when = r.time_ns
        elif kind == "agent_message":
            body = f"agent {r.sender} -> {r.recipient} ({r.message_kind})"
            when = r.time_ns
        else:
            body, when = repr(record), getattr(record, "time_ns", None)
        sid = getattr(record, "session_id", None)
        where = f" [{sid}]" if sid else ""
        return f"{_clock(when)}{where} {body}"

    def _paint(self, record: Record, line: str) -> str:
        r: Any = record
        if record.kind == "run":
            colour = _COLOURS["error" if r.status == "error" else "ok"]
        elif record.kind in ("log", "llm_call", "evaluation"):
            level = r.level
            colour = (
                _COLOURS.get(
                    "error"
                    if level in ("ERROR", "CRITICAL")
                    else "warning"
                    if level == "WARNING"
                    else ""
                )
                or _COLOURS["dim"]
            )
        else:
            colour = _COLOURS["dim"]
        return f"{colour}{line}{_RESET}"

    def export(self, batch: Sequence[Record]) -> None:
        """Write one line per record, then flush the stream."""
        stream = self._target()
        colour = self._use_colour(stream)
        lines = []
        for record in batch:
            try:
                line = self.format(record)
            except Exception:
                line = f"<{record.kind} record>"
            lines.append((self._paint(record, line) if colour else line) + "\n")
        stream.write("".join(lines))
        stream.flush()

    def flush(self, timeout: float = 5.0) -> bool:
        """Flush the stream."""
        try:
            self._target().flush()
        except Exception:
            return False
        return True
