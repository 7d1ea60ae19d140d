"""DefaultSession: id, name, state, tags, snapshot, subclassing."""

from __future__ import annotations

import uuid

import pytest

from auditora import DefaultSession
from auditora.adata.session import DefaultSession as AliasSession


def test_default_id_is_a_uuid7_string() -> None:
    """Without an id the session gets a time-ordered UUIDv7 string (RFC 9562)."""
    s = DefaultSession()
    parsed = uuid.UUID(s.session_id)
    assert parsed.version == 7
    assert parsed.variant == uuid.RFC_4122
    assert str(parsed) == s.session_id
    assert DefaultSession().session_id != s.session_id


def test_state_tags_and_snapshot() -> None:
    """get/set/delete/update, tags without duplicates, and the snapshot dict."""
    s = DefaultSession("id1", name="nightly")
    s.set("a", 1)
    s.update({"b": 2})
    s.delete("missing")
    assert (s.get("a"), s.get("zzz", "dflt")) == (1, "dflt")
    s.delete("a")
    s.add_tag("eval")
    s.add_tag("eval")
    s.add_tag("prod")
    assert s.get_tags() == ["eval", "prod"]
    snap = s.get_state_snapshot()
    assert snap["session_id"] == "id1"
    assert snap["name"] == "nightly"
    assert snap["tags"] == ["eval", "prod"]
    assert snap["state"] == {"b": 2}


def test_snapshot_is_a_copy() -> None:
    """Changing the snapshot does not change the session."""
    s = DefaultSession()
    s.set("k", 1)
    s.get_state_snapshot()["state"]["k"] = 2
    assert s.get("k") == 1


def test_bad_values_are_rejected() -> None:
    """Non-string ids, names and tags raise TypeError."""
    with pytest.raises(TypeError):
        DefaultSession(42)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        DefaultSession(name=1)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        DefaultSession().add_tag(1)  # type: ignore[arg-type]


def test_adata_alias_is_the_same_class() -> None:
    """auditora.adata.session.DefaultSession is auditora's DefaultSession, not a copy."""
    from auditora.adata.monitor import DefaultMonitor
    from auditora.adata.report import DefaultReport
    from auditora.adats.monitor import DefaultMonitor as M
    from auditora.adats.report import DefaultReport as R

    assert AliasSession is DefaultSession
    assert (DefaultMonitor, DefaultReport) == (M, R)
