"""Ids: W3C-compatible hex, never zero, unique, time-ordered prefixes, random tails."""

from __future__ import annotations

import re
import time
import uuid

import auditora
from auditora import _ids, sentinel
from auditora._ids import new_session_id, new_span_id, new_trace_id, span_id_int, trace_id_int
from auditora.records import Run
from auditora.sinks import MemorySink
from auditora.testing import capture

_HEX16 = re.compile(r"[0-9a-f]{16}")
_HEX32 = re.compile(r"[0-9a-f]{32}")


def test_ids_are_lowercase_hex_of_w3c_widths() -> None:
    """Span ids are 16 hex digits, trace ids 32, none of them all zeros."""
    for _ in range(1000):
        span, trace = new_span_id(), new_trace_id()
        assert _HEX16.fullmatch(span) and span != "0" * 16
        assert _HEX32.fullmatch(trace) and trace != "0" * 32


def test_ids_do_not_repeat() -> None:
    """100,000 ids of each kind minted in a burst are all distinct."""
    assert len({new_span_id() for _ in range(100_000)}) == 100_000
    assert len({new_trace_id() for _ in range(100_000)}) == 100_000
    assert len({new_session_id() for _ in range(100_000)}) == 100_000


def test_trace_ids_start_with_unix_milliseconds() -> None:
    """The high 48 bits of a trace id are the Unix time in milliseconds (as in UUIDv7)."""
    now = time.time_ns()
    assert trace_id_int(now) >> 80 == now // 1_000_000
    assert trace_id_int(now + 1_000_000) >> 80 == now // 1_000_000 + 1


def test_span_ids_start_with_a_coarse_time_bucket() -> None:
    """The high 16 bits of a span id are ``start_ns >> 20`` (a ~1 ms bucket), wrapping."""
    now = time.time_ns()
    assert span_id_int(now) >> 48 == (now >> 20) & 0xFFFF
    # The bucket wraps: the id stays 64 bits wide however late the clock.
    assert span_id_int(2**63) < 2**64
    later = now + (1 << 20)
    assert span_id_int(later) >> 48 == (later >> 20) & 0xFFFF


def test_random_tails_are_uniform_enough_for_sampling() -> None:
    """The low 64 bits of trace ids (what samplers read) split evenly around the median."""
    lows = [int(new_trace_id()[-16:], 16) for _ in range(20_000)]
    below = sum(1 for v in lows if v < 2**63)
    assert 9_400 < below < 10_600  # 10,000 expected; sigma is ~71


def test_session_ids_are_uuid7_in_time_order() -> None:
    """Session ids are RFC 9562 UUIDv7 strings whose text order follows creation time."""
    first = new_session_id()
    time.sleep(0.002)
    second = new_session_id()
    for sid in (first, second):
        parsed = uuid.UUID(sid)
        assert (parsed.version, parsed.variant) == (7, uuid.RFC_4122)
    assert second > first
    assert abs((uuid.UUID(second).int >> 80) - time.time_ns() // 1_000_000) < 60_000


def _in_window(now_ns: int) -> bool:
    """Whether the current id prefixes are the ones for ``now_ns``."""
    valid_from, valid_until = _ids.prefix_window()
    return valid_from <= now_ns < valid_until


def _bucket_lag(run: Run) -> int:
    """How many ~1 ms buckets the run id's prefix trails the run's start."""
    return ((run.start_ns >> 20) - (int(run.run_id, 16) >> 48)) % 0x10000


def test_capture_mints_ids_with_the_current_time_prefix() -> None:
    """``capture()`` refreshes a stale prefix on entry: the runs inside carry their time."""

    @sentinel()
    def root() -> None:
        pass

    stale = time.time_ns() - 3 * 3600 * 10**9
    _ids.refresh(stale)
    with capture() as records:
        root()
    (run,) = records.runs
    assert _bucket_lag(run) <= 100  # ~100 ms of slack for a loaded machine
    assert 0 <= run.start_ns // 1_000_000 - (int(run.trace_id, 16) >> 80) <= 100


def test_the_recorder_worker_keeps_the_time_prefix_current() -> None:
    """While the recorder runs, its worker refreshes a stale prefix at its next wake
    (at most ``flush_interval`` later, even with nothing queued); the hot path never
    checks the clock for it."""

    @sentinel()
    def root() -> None:
        pass

    sink = MemorySink()
    auditora.configure(sinks=[sink], flush_interval=0.05)
    root()  # starts the worker
    assert auditora.flush(timeout=5)
    stale = time.time_ns() - 3 * 3600 * 10**9
    _ids.refresh(stale)
    deadline = time.monotonic() + 5
    while _in_window(stale) and time.monotonic() < deadline:
        time.sleep(0.01)
    root()
    assert auditora.flush(timeout=5)
    last = [r for r in sink.records if isinstance(r, Run)][-1]
    assert _bucket_lag(last) <= 100
    assert 0 <= last.start_ns // 1_000_000 - (int(last.trace_id, 16) >> 80) <= 100


def test_a_clock_stepped_back_is_followed() -> None:
    """A prefix computed for a later time is replaced when the clock reads earlier."""
    now = time.time_ns()
    _ids.refresh(now + 10**12)
    assert span_id_int(now) >> 48 == (now >> 20) & 0xFFFF
    assert _in_window(now)
