"""Shared fixtures: every test starts and ends with Auditora's defaults and no active frame."""

from __future__ import annotations

from typing import Iterator

import pytest

import auditora
from auditora.testing import reset


@pytest.fixture(autouse=True)
def _clean_auditora_state() -> Iterator[None]:
    """Every piece of Auditora's global state is at its default around each test."""
    reset()
    yield
    reset()
    assert auditora.current_run() is None, "a test leaked an active Auditora frame"
