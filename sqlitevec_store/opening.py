"""One way for the adapters (and anything else) to open or adopt a database.

A framework store can be given a file path, an open ``sqlite3``/``sqlean``
connection, or a core :class:`~sqlitevec_store.Database` that other code
shares. :func:`open_database` checks that at most one was given, opens what
needs opening, and says who closes it: a store closes what it opened (a
``Database`` made from a path or a connection; a passed connection itself is
never closed) and leaves a passed ``Database`` to its owner.
"""

from __future__ import annotations

import os
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, urlencode, urlsplit

from .backends.postgres.connection import is_postgres_url  # the one rule, shared with Database
from .database import Database
from .errors import InvalidInputError, InvalidInputTypeError

__all__ = ["OpenedDatabase", "display_location", "is_postgres_url", "open_database"]


def display_location(location: str) -> str:
    """``location`` fit to print: a file path as is, a URL with its password (in either place) shown as ``***``."""
    if not is_postgres_url(location):
        return location
    parts = urlsplit(location)
    query = parse_qsl(parts.query, keep_blank_values=True)
    if parts.password is None and all(key != "password" for key, _ in query):
        return location
    if parts.password is not None:
        user, host = parts.netloc.rsplit("@", 1)
        parts = parts._replace(netloc=f"{user.split(':', 1)[0]}:***@{host}")
    if any(key == "password" for key, _ in query):
        hidden = [(key, "***" if key == "password" else value) for key, value in query]
        parts = parts._replace(query=urlencode(hidden, safe="*/"))
    query_part = f"?{parts.query}" if parts.query else ""
    return f"{parts.scheme}://{parts.netloc}{parts.path}{query_part}"


class OpenedDatabase(NamedTuple):
    """A database and whether the caller that opened it must close it."""

    database: Database
    owned: bool


def open_database(
    *,
    db_path: str | os.PathLike[str] | None = None,
    connection: Any = None,
    database: Database | None = None,
) -> OpenedDatabase:
    """Open ``db_path`` (``None``: ``":memory:"``), wrap ``connection``, or adopt ``database``.

    Args:
        db_path: A database file or ``":memory:"``.
        connection: An open ``sqlite3`` / ``sqlean`` connection.
        database: A core :class:`~sqlitevec_store.Database`, used as is.

    Returns:
        The database, and ``owned=False`` only for an adopted ``database``.

    Raises:
        InvalidInputError: More than one of the three was given.
        InvalidInputTypeError: One of them has the wrong type.

    """
    given = [
        name
        for name, value in (("db_path", db_path), ("connection", connection), ("database", database))
        if value is not None
    ]
    if len(given) > 1:
        raise InvalidInputError(f"Pass at most one of db_path, connection and database; got {' and '.join(given)}")
    if database is not None:
        if not isinstance(database, Database):
            raise InvalidInputTypeError(f"database must be a sqlitevec_store.Database, got {type(database).__name__}")
        return OpenedDatabase(database, owned=False)
    if connection is not None:
        if isinstance(connection, (str, bytes, os.PathLike)) or not callable(getattr(connection, "execute", None)):
            raise InvalidInputTypeError(
                f"connection must be an open sqlite3 connection, got {type(connection).__name__}; "
                "pass a file path as db_path"
            )
        return OpenedDatabase(Database(connection), owned=True)
    if db_path is not None and not isinstance(db_path, (str, os.PathLike)):
        raise InvalidInputTypeError(f"db_path must be a str or Path, got {type(db_path).__name__}")
    return OpenedDatabase(Database(":memory:" if db_path is None else os.fspath(db_path)), owned=True)
