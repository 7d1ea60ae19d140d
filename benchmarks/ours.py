"""Auditora's own cases, and the bare operations every group is compared to."""

from __future__ import annotations

import asyncio
from itertools import repeat
from time import perf_counter_ns
from typing import Any, Callable, List

from harness import Case, Runner, timed

import auditora
from auditora import DefaultMonitor, DefaultReport, bifrost_sync, monitor, report, sentinel
from auditora._config import settings

#: The budgets of issues 2 and 7 on the reference 2-core machine, in ns.
TARGETS = {
    "call.sync": 1000.0,
    "call.async": 1300.0,
    "generator.step": 500.0,
    "metric.increment": 250.0,
    "event": 500.0,
    "log": 1500.0,
    "call.disabled": 300.0,
}


#: Groups in display order.
GROUPS = (
    "call.sync",
    "call.async",
    "generator.step",
    "metric.increment",
    "event",
    "log",
    "block",
)


def quiet_report() -> DefaultReport:
    """A report that keeps its records and writes nothing."""
    return DefaultReport(echo=False)


def call_loop(fn: Callable[[], Any]) -> Runner:
    """Time ``n`` calls of ``fn()``."""

    def loop(n: int) -> None:
        for _ in repeat(None, n):
            fn()

    return timed(loop)


def async_call_loop(fn: Callable[[], Any]) -> Runner:
    """Time ``n`` awaits of ``fn()`` inside one running event loop."""
    loop = asyncio.new_event_loop()

    async def body(n: int) -> int:
        t0 = perf_counter_ns()
        for _ in repeat(None, n):
            await fn()
        return perf_counter_ns() - t0

    def run(n: int) -> int:
        return loop.run_until_complete(body(n))

    return run


def gen_loop(gen_fn: Callable[[int], Any]) -> Runner:
    """Time ``n`` steps of the generator ``gen_fn(n)`` (creation and end amortised)."""

    def loop(n: int) -> None:
        for _ in gen_fn(n):
            pass

    return timed(loop)


def in_context(body: Callable[[int], None]) -> Runner:
    """Time ``body(n)`` inside an Auditora context with a silent report."""
    adats = {"monitor": DefaultMonitor(), "report": quiet_report()}

    def run(n: int) -> int:
        with bifrost_sync(**adats):
            t0 = perf_counter_ns()
            body(n)
            return perf_counter_ns() - t0

    return run


def disabled_loop(loop: Callable[[int], None]) -> Runner:
    """Time ``loop(n)`` with Auditora disabled (blocks read the switch when built)."""

    def run(n: int) -> int:
        previous = settings.disabled
        settings.disabled = True
        try:
            t0 = perf_counter_ns()
            loop(n)
            return perf_counter_ns() - t0
        finally:
            settings.disabled = previous

    return run


class BareBlock:
    """The bare ``with`` statement a bifrost block is compared to."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> None:
        return None


def bare() -> None:
    """The bare call every ratio is taken to."""


async def bare_async() -> None:
    """The bare coroutine call."""


def bare_gen(n: int) -> Any:
    yield from repeat(None, n)


def bare_args(name: str, value: float = 1.0, **fields: Any) -> None:
    """A bare call with the argument shape of the metric/event/log calls."""


def cases() -> List[Case]:
    """Every Auditora case plus the bare baselines."""
    out: List[Case] = []

    # -- decorated calls ---------------------------------------------------
    @sentinel(report=quiet_report())
    def watched() -> None:
        return None

    @sentinel(report=quiet_report())
    async def watched_async() -> None:
        return None

    @sentinel(report=quiet_report())
    def watched_gen(n: int) -> Any:
        yield from repeat(None, n)

    previous = settings.disabled
    settings.disabled = True
    try:

        @sentinel(report=quiet_report())
        def disabled() -> None:
            return None

    finally:
        settings.disabled = previous

    out += [
        Case("call.sync", "bare call", call_loop(bare), baseline=True),
        Case(
            "call.sync",
            "auditora @sentinel()",
            call_loop(watched),
            ours=True,
            target_ns=TARGETS["call.sync"],
        ),
        Case(
            "call.sync",
            "auditora disabled",
            call_loop(disabled),
            ours=True,
            target_ns=TARGETS["call.disabled"],
            note="AUDITORA_DISABLED=1",
        ),
        Case("call.async", "bare coroutine", async_call_loop(bare_async), baseline=True),
        Case(
            "call.async",
            "auditora @sentinel()",
            async_call_loop(watched_async),
            ours=True,
            target_ns=TARGETS["call.async"],
        ),
        Case("generator.step", "bare generator", gen_loop(bare_gen), baseline=True),
        Case(
            "generator.step",
            "auditora @sentinel()",
            gen_loop(watched_gen),
            ours=True,
            target_ns=TARGETS["generator.step"],
        ),
    ]

    # -- proxy calls inside a context --------------------------------------
    def bare_metric(n: int) -> None:
        for _ in repeat(None, n):
            bare_args("requests")

    def increments(n: int) -> None:
        for _ in repeat(None, n):
            monitor.increment_metric("requests")

    def bare_event(n: int) -> None:
        for _ in repeat(None, n):
            bare_args("cache_miss", None, key="k1")

    def tracks(n: int) -> None:
        for _ in repeat(None, n):
            monitor.track("cache_miss", key="k1")

    def bare_log(n: int) -> None:
        for _ in repeat(None, n):
            bare_args("request handled", user="u1")

    def infos(n: int) -> None:
        for _ in repeat(None, n):
            report.info("request handled", user="u1")

    out += [
        Case("metric.increment", "bare call", timed(bare_metric), baseline=True),
        Case(
            "metric.increment",
            "auditora monitor.increment_metric",
            in_context(increments),
            ours=True,
            target_ns=TARGETS["metric.increment"],
        ),
        Case("event", "bare call", timed(bare_event), baseline=True),
        Case(
            "event",
            "auditora monitor.track",
            in_context(tracks),
            ours=True,
            target_ns=TARGETS["event"],
        ),
        Case("log", "bare call", timed(bare_log), baseline=True),
        Case(
            "log",
            "auditora report.info",
            in_context(infos),
            ours=True,
            target_ns=TARGETS["log"],
            note="kept in memory, no console",
        ),
    ]

    # -- with blocks, one proxy call inside --------------------------------
    def bare_blocks(n: int) -> None:
        for _ in repeat(None, n):
            with BareBlock():
                bare_args("requests")

    def blocks(n: int) -> None:
        for _ in repeat(None, n):
            with bifrost_sync():
                monitor.increment_metric("requests")

    out += [
        Case("block", "bare with", timed(bare_blocks), baseline=True),
        Case(
            "block",
            "auditora bifrost_sync()",
            timed(blocks),
            ours=True,
            note="top level: fresh default adats per block",
        ),
        Case(
            "block",
            "auditora bifrost_sync() in a run",
            in_context(blocks),
            ours=True,
            note="joins the enclosing adats",
        ),
        Case(
            "block",
            "auditora bifrost_sync() disabled",
            disabled_loop(blocks),
            ours=True,
            note="AUDITORA_DISABLED=1",
        ),
    ]
    return out


def version() -> str:
    return auditora.__version__
