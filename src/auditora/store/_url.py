"""Store URLs: which backend a store string names, and how to show it without its secrets.

Accepted forms (``docs/store.md``):

- ``postgresql://user:pass@host:5432/db`` (or ``postgres://``), with any libpq
  query parameters (``?sslmode=require``): a PostgreSQL store;
- ``sqlite:///abs/path.db``, ``sqlite:relative.db`` or a plain path: a SQLite store.

Any other ``scheme://`` (``mysql://``, ``http://``) is a :class:`StoreError`, never
a file name. A one-letter scheme is a Windows drive (``C:\\\\data\\\\a.db``), a path.

A password must never reach a terminal or a log: :func:`mask` replaces it with
``***`` (in the user info and in a ``password=`` parameter), and every error,
log line, ``stats()`` entry and repr that names a store goes through it.
"""

from __future__ import annotations

import os
import re
from typing import NamedTuple, Union

from ._schema import StoreError

__all__ = ["POSTGRES_SCHEMES", "StoreURL", "mask", "parse_store"]

#: Schemes of a PostgreSQL store (libpq accepts both).
POSTGRES_SCHEMES = ("postgresql", "postgres")

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
#: ``scheme://user:SECRET@`` and ``password=SECRET`` (a URL parameter or a libpq
#: ``key=value`` string). The secret runs to the last ``@`` of the word: a password
#: holding an unencoded ``@`` or ``/`` is hidden whole (more is masked, never less).
_USERINFO = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]*):\S*@")
_PASSWORD = re.compile(r"(?P<head>\bpassword\s*=\s*)(?:'[^']*'|[^&\s]+)", re.IGNORECASE)


def mask(text: str) -> str:
    """``text`` with every store password replaced by ``***``.

    >>> mask("postgresql://ann:s3cret@db:5432/auditora")
    'postgresql://ann:***@db:5432/auditora'
    """
    text = _USERINFO.sub(r"\g<head>:***@", text)
    return _PASSWORD.sub(r"\g<head>***", text)


class StoreURL(NamedTuple):
    """A parsed store string."""

    #: ``"sqlite"`` or ``"postgresql"``.
    backend: str
    #: The SQLite file's path, or the PostgreSQL URL to connect to (password included).
    target: str

    @property
    def display(self) -> str:
        """The store as it may be shown: the path, or the URL with its password masked."""
        return mask(self.target)

    def __repr__(self) -> str:
        return f"StoreURL({self.backend!r}, {self.display!r})"


def parse_store(value: Union[str, os.PathLike[str]]) -> StoreURL:
    """The backend and target ``value`` names; :class:`StoreError` for an unknown scheme."""
    text = os.fspath(value)
    if not isinstance(text, str):
        raise StoreError(f"a store is a path or a URL, not {type(text).__name__}")
    text = text.strip()
    if not text:
        raise StoreError("the store is empty: give a path or a postgresql:// URL")
    found = _SCHEME.match(text)
    if found is None or len(found.group(1)) == 1:
        return StoreURL("sqlite", text)
    scheme, rest = found.group(1).lower(), text[found.end() :]
    if scheme in POSTGRES_SCHEMES:
        if not rest.startswith("//"):
            raise StoreError(
                f"{mask(text)!r} is not a PostgreSQL URL: write postgresql://user@host:5432/db"
            )
        return StoreURL("postgresql", "postgresql:" + rest)
    if scheme == "sqlite":
        if rest.startswith("///"):  # sqlite:///abs/path
            rest = rest[2:]
        elif rest.startswith("//"):
            raise StoreError(
                f"{text!r}: a SQLite URL has no host; write sqlite:///abs/path.db or "
                "sqlite:relative.db"
            )
        if not rest:
            raise StoreError(f"{text!r} names no file: write sqlite:///abs/path.db")
        return StoreURL("sqlite", rest)
    if rest.startswith("//"):
        raise StoreError(
            f"unknown store scheme {scheme!r} in {mask(text)!r}: expected a path, "
            "sqlite:///path or postgresql://user@host/db"
        )
    return StoreURL("sqlite", text)  # a file name with a colon ("run:1.db")
