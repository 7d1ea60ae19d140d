"""Shared fixtures: every test starts with default settings and no active frame."""

from __future__ import annotations

import importlib
from typing import Iterator

import pytest

from auditora import _config, _emit
from auditora.core._paragon import Paragon


def _reset_llm_state() -> None:
    """Budgets, prices, redaction rules and SDK instrumentation are process-global."""
    from auditora import llm, redaction
    from auditora.integrations import anthropic, openai

    llm.clear_budgets()
    llm.reset_prices()
    redaction.reset()
    openai.uninstrument()
    anthropic.uninstrument()


@pytest.fixture(autouse=True)
def _clean_auditora_state() -> Iterator[None]:
    """Reset configuration, the recorder and record targets around each test."""
    _config.reset()
    yield
    try:
        recorder = importlib.import_module("auditora._recorder")
    except ImportError:
        recorder = None
    reset = getattr(recorder, "reset", None)
    if reset is not None:
        reset()
    _reset_llm_state()
    _config.reset()
    _emit.reset()
    assert Paragon.current() is None, "a test leaked an active Auditora frame"
