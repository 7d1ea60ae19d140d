"""AUDITORA_DISABLED / configure(disabled=True): bifrost blocks become transparent.

A block constructed while disabled builds no adats, starts and records no run
and emits no record; the proxies inside act as inside a disabled ``@sentinel``
call (silent no-ops outside any enabled context); exceptions pass unchanged.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import auditora
from auditora import (
    DefaultMonitor,
    Paragon,
    bifrost_async,
    bifrost_sync,
    monitor,
    report,
    sentinel,
    session,
)
from auditora._config import settings
from auditora.testing import capture

SRC = Path(__file__).resolve().parents[1] / "src"


def _use_every_proxy() -> None:
    """The proxy calls instrumented code commonly makes."""
    session.set("k", 1)
    assert session.get("k", "default") == "default"
    session.add_tag("t")
    monitor.increment_metric("m")
    monitor.track("event", key="v")
    with monitor.timer("timed"):
        pass
    report.info("info", user="u1")
    report.debug("debug")
    report.warning("warning")
    report.error("error")
    report.log("log", "INFO")
    report.log_llm_call("gpt-4o", 10, 5, 0.1)
    report.log_evaluation_result("score", 0.9, threshold=0.5)


def test_disabled_sync_block_records_no_run_and_no_record() -> None:
    """A disabled bifrost_sync block produces nothing, proxies included."""
    auditora.configure(disabled=True)
    with capture() as records, bifrost_sync(name="step") as run:
        assert auditora.current_run() is None
        _use_every_proxy()
    assert run is None
    assert list(records) == []
    assert Paragon.current() is None


def test_disabled_async_block_records_no_run_and_no_record() -> None:
    """A disabled bifrost_async block produces nothing, proxies included."""
    auditora.configure(disabled=True)

    async def main() -> object:
        async with bifrost_async(name="step") as run:
            _use_every_proxy()
            await asyncio.sleep(0)
        return run

    with capture() as records:
        assert asyncio.run(main()) is None
    assert list(records) == []


def test_disabled_block_with_explicit_adats_builds_none_and_leaves_them_untouched() -> None:
    """Adats given to a disabled block are not activated: the proxies stay no-ops."""
    auditora.configure(disabled=True)
    m = DefaultMonitor()
    with capture() as records, bifrost_sync(monitor=m, session_id="s1") as run:
        monitor.increment_metric("m")
        assert session.session_id is None
    assert run is None
    assert m.get_metrics() == {}
    assert list(records) == []


def test_disabled_block_still_rejects_bad_arguments() -> None:
    """Arguments wrong when enabled are wrong when disabled too."""
    auditora.configure(disabled=True)
    with pytest.raises(TypeError):
        bifrost_sync(name=3)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        bifrost_sync(session=object(), session_id="s")
    with pytest.raises(TypeError):
        bifrost_sync(session_id=5)  # type: ignore[arg-type]


def test_exceptions_pass_through_disabled_blocks_as_the_same_object() -> None:
    """The user's exception leaves a disabled block unchanged, and nothing is logged."""
    auditora.configure(disabled=True)
    error = ValueError("boom")
    with capture() as records, pytest.raises(ValueError) as raised, bifrost_sync():
        raise error
    assert raised.value is error
    assert not hasattr(error, "_auditora_logged")
    assert list(records) == []
    assert Paragon.current() is None


def test_exceptions_pass_through_disabled_async_blocks_as_the_same_object() -> None:
    """The same for bifrost_async, cancellation included."""
    auditora.configure(disabled=True)
    error = KeyError("k")

    async def main() -> None:
        async with bifrost_async():
            raise error

    with pytest.raises(KeyError) as raised:
        asyncio.run(main())
    assert raised.value is error

    async def cancelled() -> None:
        async with bifrost_async():
            raise asyncio.CancelledError()

    with capture() as records, pytest.raises(asyncio.CancelledError):
        asyncio.run(cancelled())
    assert list(records) == []


def test_nested_disabled_blocks_and_a_reentered_instance_record_nothing() -> None:
    """Disabled blocks nest (in each other and in a disabled sentinel) without a trace."""
    auditora.configure(disabled=True)
    block = bifrost_sync(name="again")

    @sentinel()
    def job() -> int:
        with bifrost_sync(name="outer"), bifrost_async(name="inner"), block, block:
            monitor.increment_metric("m")
            return 7

    with capture() as records:
        assert job() == 7
    assert job._monitor.get_metrics() == {}
    assert list(records) == []
    assert Paragon.current() is None


def test_disabled_block_inside_an_enabled_run_is_transparent() -> None:
    """Like a disabled @sentinel call, it adds no run: the enclosing run stays active."""
    with capture() as records, bifrost_sync(name="outer") as outer:
        auditora.configure(disabled=True)
        with bifrost_sync(name="inner") as inner:
            assert inner is outer
            monitor.increment_metric("m")
        auditora.configure(disabled=False)
    assert outer is not None
    assert [r.name for r in records.runs] == ["outer"]
    assert outer.monitor.get_metrics() == {"m": 1.0}


def test_the_switch_is_read_when_the_block_is_constructed() -> None:
    """An instance keeps the mode it was constructed in, as a decorated function does."""
    on = bifrost_sync(name="on")
    auditora.configure(disabled=True)
    off = bifrost_sync(name="off")
    with capture() as records:
        with on as run:
            assert run is not None
        auditora.configure(disabled=False)
        with off as nothing:
            assert nothing is None
    assert [r.name for r in records.runs] == ["on"]


def test_enabling_again_restores_recording() -> None:
    """After disabled=False, new blocks record runs and the proxies' records again."""
    auditora.configure(disabled=True)
    with capture() as records, bifrost_sync(name="off"):
        report.info("lost")
    assert list(records) == []

    auditora.configure(disabled=False)
    assert settings.disabled is False
    with capture() as records, bifrost_sync(name="on") as run:
        report.info("kept")
    assert run is not None and run.status == "ok"
    assert [r.name for r in records.runs] == ["on"]
    assert [log.message for log in records.logs] == ["kept"]


_CHILD = """
import asyncio, json
import auditora
from auditora import bifrost_async, bifrost_sync, monitor, report, session
from auditora.testing import capture

async def main():
    async with bifrost_async(name="a") as run:
        report.info("x")
    return run

with capture() as records:
    with bifrost_sync(name="s") as run, bifrost_sync(session_id="nested"):
        session.set("k", 1)
        monitor.increment_metric("m")
        with monitor.timer("t"):
            report.log_evaluation_result("score", 1.0)
    arun = asyncio.run(main())
    error = ValueError("boom")
    try:
        with bifrost_sync():
            raise error
    except ValueError as caught:
        same = caught is error
print(json.dumps({"disabled": auditora._config.settings.disabled, "records": len(records),
                  "runs": [run, arun], "same": same}))
"""


def test_disabled_by_environment_in_a_fresh_process() -> None:
    """AUDITORA_DISABLED=1 read at import gives the same: no records, exceptions unchanged."""
    env = {**os.environ, "AUDITORA_DISABLED": "1"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH")]))
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD], env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # no report line echoed either
    result = json.loads(proc.stdout)
    assert result == {"disabled": True, "records": 0, "runs": [None, None], "same": True}
