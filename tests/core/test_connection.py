"""Loading sqlite-vec: stdlib sqlite3 when it can, sqlean otherwise, a clear error when nothing can."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from sqlitevec_store import Database, ExtensionLoadError, Record
from sqlitevec_store import connection as connection_module
from sqlitevec_store.connection import database_errors, driver_for, open_connection


def stdlib_can_load_extensions() -> bool:
    conn = sqlite3.connect(":memory:")
    try:
        conn.enable_load_extension(True)
    except (AttributeError, sqlite3.Error):
        return False
    finally:
        conn.close()
    return True


def test_open_connection_loads_sqlite_vec_with_some_driver() -> None:
    conn = open_connection(":memory:")
    try:
        (version,) = conn.execute("SELECT vec_version()").fetchone()
        assert version.startswith("v0.")
        expected = sqlite3 if stdlib_can_load_extensions() else __import__("sqlean")
        assert driver_for(conn) is expected
    finally:
        conn.close()


def test_extension_loading_is_switched_off_again(tmp_path: Path) -> None:
    conn = open_connection(tmp_path / "x.db")
    try:
        with pytest.raises(database_errors(), match="not authorized"):
            conn.execute("SELECT load_extension('/nonexistent/lib')")
    finally:
        conn.close()


def test_passed_sqlean_connection_is_used_and_not_closed() -> None:
    import sqlean

    conn = sqlean.connect(":memory:", check_same_thread=False)
    db = Database(conn)
    db.collection().upsert([Record("a", [1.0, 0.0], id="a")])
    db.close()
    # still open: the caller owns it
    assert conn.execute("SELECT COUNT(*) FROM svs_default_items").fetchone() == (1,)
    conn.close()


@pytest.mark.skipif(stdlib_can_load_extensions(), reason="this Python's sqlite3 can load extensions")
def test_passed_stdlib_connection_that_cannot_load_is_a_clear_error() -> None:
    conn = sqlite3.connect(":memory:")
    with pytest.raises(ExtensionLoadError, match="sqlean"):
        Database(conn)
    conn.close()


class NoExtensions:
    """A connection from a SQLite built without extension loading (like macOS's system Python)."""

    def __init__(self) -> None:
        self._conn = sqlite3.connect(":memory:")

    def execute(self, *args: Any) -> Any:
        return self._conn.execute(*args)

    def cursor(self) -> Any:
        return self._conn.cursor()


def test_connection_without_enable_load_extension_is_a_clear_error() -> None:
    with pytest.raises(ExtensionLoadError, match=r"cannot load extensions.*sqlean"):
        Database(NoExtensions())


def test_fallback_order_and_error_when_nothing_works(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(conn: Any) -> None:
        raise sqlite3.OperationalError("not authorized")

    monkeypatch.setattr(connection_module.sqlite_vec, "load", refuse)
    with pytest.raises(ExtensionLoadError) as info:
        open_connection(":memory:")
    message = str(info.value)
    assert "sqlite3" in message and "sqlean" in message  # both drivers were tried
    assert "pip install sqlean-py" in message


def test_fallback_without_sqlean_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(connection_module, "_sqlean", lambda: None)
    if stdlib_can_load_extensions():
        open_connection(":memory:").close()
    else:
        with pytest.raises(ExtensionLoadError, match="pip install sqlean-py"):
            open_connection(":memory:")
