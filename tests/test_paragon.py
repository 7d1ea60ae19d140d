"""Paragon: token-exact restore, and safe reset of a token from a foreign context."""

from __future__ import annotations

import contextvars
import logging

from auditora import Paragon, bifrost_sync
from auditora.core import _paragon


def test_set_and_reset_restore_exactly() -> None:
    """Nested sets unwind to exactly the previous frame at each reset."""
    with bifrost_sync() as a:
        token = Paragon.set(None)
        assert Paragon.current() is None
        assert Paragon.reset(token) is True
        assert Paragon.current() is a
    assert Paragon.current() is None


def test_reset_in_a_foreign_context_does_not_raise(caplog) -> None:
    """A token reset in another Context restores the old value, counts it and logs once."""
    _paragon.Paragon.foreign_resets = 0
    holder = {}

    def make_token() -> None:
        with bifrost_sync() as run:
            holder["run"] = run
            holder["token"] = Paragon.set(None)

    # Create the token inside its own context, then reset it here.
    contextvars.copy_context().run(make_token)
    with caplog.at_level(logging.WARNING, logger="auditora"):
        assert Paragon.reset(holder["token"]) is False
        assert Paragon.reset(holder["token"]) is False
    assert Paragon.foreign_resets == 2
    assert Paragon.current() is holder["run"]
    assert len([r for r in caplog.records if "reset outside" in r.getMessage()]) == 1
    Paragon.set(None)
