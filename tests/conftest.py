"""Shared fixtures: every test starts and ends with Auditora's defaults and no active frame."""

from __future__ import annotations

import signal
from typing import Iterator

import pytest

import auditora
from auditora.testing import reset

# Tests stop the processes they start with SIGINT (Ctrl+C, as a terminal sends it). A
# harness that starts pytest in the background hands it SIGINT ignored, and its children
# would inherit that and never see a KeyboardInterrupt: give this process Python's own
# handler again (a caught signal is reset to the default in a child it execs).
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(autouse=True)
def _clean_auditora_state() -> Iterator[None]:
    """Every piece of Auditora's global state is at its default around each test."""
    reset()
    yield
    reset()
    assert auditora.current_run() is None, "a test leaked an active Auditora frame"
