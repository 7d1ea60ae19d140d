"""Store URLs: a path, ``sqlite:`` or ``postgresql://`` picks the backend; anything else is a
one-line error, never a file; passwords are masked wherever a store is shown."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

import auditora
from auditora._configure import sink_from_spec, store_sink
from auditora.sinks import SQLiteSink
from auditora.store import StoreError
from auditora.store._url import mask, parse_store
from auditora.testing import reset

SECRET = "hunter2-Secret"
ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("value", "backend", "target"),
    [
        ("auditora.db", "sqlite", "auditora.db"),
        ("/abs/dir/a.db", "sqlite", "/abs/dir/a.db"),
        ("sqlite:///abs/a.db", "sqlite", "/abs/a.db"),
        ("sqlite:relative/a.db", "sqlite", "relative/a.db"),
        ("SQLITE:x.db", "sqlite", "x.db"),
        ("C:\\data\\a.db", "sqlite", "C:\\data\\a.db"),
        ("run:1.db", "sqlite", "run:1.db"),
        ("postgresql://u:p@db:5432/aud", "postgresql", "postgresql://u:p@db:5432/aud"),
        (
            "postgres://u@db/aud?sslmode=require",
            "postgresql",
            "postgresql://u@db/aud?sslmode=require",
        ),
        ("  postgresql://db/aud  ", "postgresql", "postgresql://db/aud"),
    ],
)
def test_a_store_string_names_its_backend_and_target(value: str, backend: str, target: str) -> None:
    """Paths and sqlite: URLs are SQLite files; postgres(ql):// URLs are PostgreSQL."""
    parsed = parse_store(value)
    assert (parsed.backend, parsed.target) == (backend, target)


def test_a_path_object_is_a_sqlite_store(tmp_path: Path) -> None:
    """os.PathLike values are paths."""
    assert parse_store(tmp_path / "a.db") == ("sqlite", str(tmp_path / "a.db"))


@pytest.mark.parametrize(
    "value",
    [
        "mysql://root:pw@host/db",
        "http://example.com/store",
        "sqlite://host/a.db",
        "postgresql:db",
        "sqlite:",
        "",
    ],
)
def test_an_unknown_or_malformed_store_is_a_one_line_error(value: str) -> None:
    """The error is one line, says what is expected, and never shows a password."""
    with pytest.raises(StoreError) as caught:
        parse_store(value)
    message = str(caught.value)
    assert "\n" not in message
    assert "pw@" not in message


def test_the_unknown_scheme_error_names_the_scheme() -> None:
    with pytest.raises(StoreError, match=r"unknown store scheme 'mysql'.*postgresql://"):
        parse_store("mysql://root:pw@host/db")


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("postgresql://ann:s3cr@t@db:5432/x", "postgresql://ann:***@db:5432/x"),
        ("postgresql://ann@db/x", "postgresql://ann@db/x"),
        (
            "postgresql://db/x?password=abc&sslmode=require",
            "postgresql://db/x?password=***&sslmode=require",
        ),
        ("host=db password='a b' user=ann", "host=db password=*** user=ann"),
        ("error at postgres://u:pw@h/d: refused", "error at postgres://u:***@h/d: refused"),
        ("/plain/path.db", "/plain/path.db"),
    ],
)
def test_mask_hides_every_password(text: str, masked: str) -> None:
    """In the user info, in a password= parameter, inside longer messages."""
    assert mask(text) == masked


def test_the_parsed_url_shows_itself_masked() -> None:
    parsed = parse_store(f"postgresql://ann:{SECRET}@db/x")
    assert SECRET not in repr(parsed)
    assert parsed.display == "postgresql://ann:***@db/x"
    assert SECRET in parsed.target  # what the driver needs


def test_configure_refuses_an_unknown_scheme_and_creates_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """configure(store="mysql://...") raises StoreError; no directory named after the scheme."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(StoreError, match="unknown store scheme"):
        auditora.configure(store="mysql://user@host/db")
    assert list(tmp_path.iterdir()) == []


def test_an_unknown_scheme_in_the_environment_is_one_logged_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """AUDITORA_STORE=mysql://... logs one masked line and keeps no file (import never raises)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AUDITORA_STORE", f"mysql://user:{SECRET}@host/db")
    with caplog.at_level(logging.ERROR, logger="auditora"):
        reset()
    assert "unknown store scheme 'mysql'" in caplog.text
    assert SECRET not in caplog.text
    assert all(r.exc_info is None for r in caplog.records)
    assert list(tmp_path.iterdir()) == []


def test_a_postgresql_store_in_the_environment_never_becomes_a_directory(
    tmp_path: Path,
) -> None:
    """The old failure: AUDITORA_STORE=postgresql://user@host/db made a 'postgresql:' directory."""
    env = {**os.environ, "AUDITORA_STORE": "postgresql://user@127.0.0.1:9/db"}
    env["PYTHONPATH"] = str(ROOT / "src")
    code = (
        "import auditora\n"
        "from auditora import _recorder\n"
        "print([type(s).__name__ for s in _recorder.sinks()])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['PostgresSink']"
    assert list(tmp_path.iterdir()) == []


def test_sqlite_urls_and_paths_make_sqlite_sinks(tmp_path: Path) -> None:
    """store=, sqlite:PATH and sqlite:///ABS all reach the same SQLite file."""
    target = tmp_path / "a.db"
    for sink in (
        store_sink(str(target)),
        store_sink(f"sqlite://{target}"),
        sink_from_spec(f"sqlite:{target}"),
        sink_from_spec(f"sqlite://{target}"),
    ):
        assert isinstance(sink, SQLiteSink)
        assert os.path.abspath(sink.path) == str(target)


def test_a_sqlite_sink_never_takes_a_url_for_a_file_name(tmp_path: Path) -> None:
    """SQLiteSink("postgresql://...") is a masked StoreError, never a ``postgresql:``
    directory; a sqlite: URL is its file."""
    with pytest.raises(StoreError, match="not a SQLite store") as caught:
        SQLiteSink(f"postgresql://ann:{SECRET}@127.0.0.1:9/db")
    assert SECRET not in str(caught.value)
    assert SQLiteSink(f"sqlite://{tmp_path}/b.db").path == f"{tmp_path}/b.db"


def test_a_store_sink_knows_the_store_it_writes(tmp_path: Path) -> None:
    """writes_to() matches a store however it is spelt (relative, sqlite:, the exact URL)
    and never another backend's or another database's."""
    target = tmp_path / "a.db"
    lite = store_sink(str(target))
    assert lite.writes_to(f"sqlite://{target}") and lite.writes_to(target)
    assert not lite.writes_to(tmp_path / "b.db")
    assert not lite.writes_to("postgresql://ann@127.0.0.1:9/db")
    pg = store_sink(f"postgresql://ann:{SECRET}@127.0.0.1:9/db")
    assert pg.writes_to(f"postgresql://ann:{SECRET}@127.0.0.1:9/db")
    assert not pg.writes_to("postgresql://ann@127.0.0.1:9/other")
    assert not pg.writes_to(str(target))


def test_a_postgresql_sink_spec_makes_a_masked_postgres_sink() -> None:
    """sinks=["postgresql://..."] builds the PostgreSQL sink (connected on its first batch)."""
    sink = sink_from_spec(f"postgresql://ann:{SECRET}@127.0.0.1:9/db")
    assert type(sink).__name__ == "PostgresSink"
    assert repr(sink) == "PostgresSink('postgresql://ann:***@127.0.0.1:9/db')"


def test_an_unknown_sink_spec_is_masked() -> None:
    with pytest.raises(ValueError) as caught:
        sink_from_spec(f"mysql://ann:{SECRET}@h/db")
    assert SECRET not in str(caught.value)
