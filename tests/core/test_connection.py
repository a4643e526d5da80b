"""Loading sqlite-vec: stdlib sqlite3 when it can, sqlean otherwise, a clear error when nothing can."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from sqlitevec_store import Database, ExtensionLoadError, InvalidInputError, Record
from sqlitevec_store.backends.sqlite import connection as connection_module
from sqlitevec_store.backends.sqlite.connection import (
    DRIVER_ENV,
    chosen_driver,
    database_errors,
    driver_for,
    open_connection,
)


@pytest.fixture(autouse=True)
def fresh_driver_probes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test probes the drivers again (the cache is per process) and starts without a forced driver."""
    monkeypatch.setattr(connection_module, "_PROBES", {})
    monkeypatch.delenv(DRIVER_ENV, raising=False)


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
        assert driver_for(conn).__name__ == chosen_driver().name
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
    if connection_module._probe_driver("sqlite3").writes:
        open_connection(":memory:").close()
    else:
        with pytest.raises(ExtensionLoadError, match="pip install sqlean-py"):
            open_connection(":memory:")


def stdlib_probe() -> Any:
    return connection_module._probe_driver("sqlite3")


def write_and_search(path: Path) -> None:
    with Database(path) as db:
        docs = db.collection("docs")
        docs.upsert([Record("backups run nightly", [1.0, 0.0], {"n": 1}, id="a"), Record("cats", [0.0, 1.0], id="b")])
        docs.upsert([Record("backups run weekly", [1.0, 0.1], {"n": 2}, id="a")])  # update: FTS and change triggers
        assert docs.delete(["b"]) == 1
        assert [h.id for h in docs.keyword_search("weekly", k=2)] == ["a"]


def test_auto_prefers_the_stdlib_only_when_it_passes_the_write_probe(tmp_path: Path) -> None:
    choice = chosen_driver()
    probe = stdlib_probe()
    assert choice.name == ("sqlite3" if probe.writes else "sqlean")
    assert choice.sqlite_version == driver_for(open_connection(":memory:")).sqlite_version
    write_and_search(tmp_path / "x.db")


def test_a_stdlib_that_loads_but_cannot_write_is_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Debian 12's /usr/bin/python3 (SQLite 3.40.1): loads sqlite-vec, but FTS5 triggers fail (simulated here)."""
    failure = 'it loads sqlite-vec but cannot write: unsafe use of virtual table "svs_driver_probe_fts"'
    connection_module._PROBES["sqlite3"] = connection_module._ProbeResult(True, False, failure)
    choice = chosen_driver()
    assert choice.name == "sqlean" and "unsafe use of virtual table" in choice.reason
    write_and_search(tmp_path / "x.db")
    monkeypatch.setenv(DRIVER_ENV, "sqlite3")
    with pytest.raises(ExtensionLoadError, match=rf"{DRIVER_ENV}=sqlite3.*SQLite {sqlite3.sqlite_version}.*unsafe use"):
        Database(tmp_path / "y.db")
    assert not (tmp_path / "y.db").exists()


@pytest.mark.skipif(not stdlib_can_load_extensions(), reason="this Python's sqlite3 cannot load extensions")
def test_real_stdlib_driver_is_used_only_if_it_can_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Under a system Python whose sqlite3 loads extensions (scripts/test_system_python.sh runs this)."""
    probe = stdlib_probe()
    assert probe.loads
    write_and_search(tmp_path / "x.db")  # whichever driver auto picked, writes work
    monkeypatch.setenv(DRIVER_ENV, "sqlite3")
    if probe.writes:
        with Database(tmp_path / "y.db") as db:
            assert driver_for(db.conn) is sqlite3
    else:  # e.g. SQLite 3.40.1: "unsafe use of virtual table"
        with pytest.raises(ExtensionLoadError, match=rf"SQLite {sqlite3.sqlite_version}.*{probe.failure[-30:]}"):
            Database(tmp_path / "y.db")


@pytest.mark.skipif(not stdlib_can_load_extensions(), reason="this Python's sqlite3 cannot load extensions")
def test_forced_stdlib_driver_reads_a_file_read_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The stdlib driver for real: even one that cannot write reads a file (vector and keyword search)."""
    path = tmp_path / "x.db"
    write_and_search(path)
    monkeypatch.setenv(DRIVER_ENV, "sqlite3")
    with Database(path, read_only=True) as db:
        assert driver_for(db.conn) is sqlite3
        docs = db.collection("docs")
        assert [h.id for h in docs.search([1.0, 0.0], k=1)] == ["a"]
        assert [h.id for h in docs.keyword_search("backups", k=1)] == ["a"]
        assert docs.get(["a"])[0].metadata == {"n": 2}


def test_forced_sqlean_and_an_unknown_value(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DRIVER_ENV, "sqlean")
    with Database(tmp_path / "x.db") as db:
        assert driver_for(db.conn).__name__ == "sqlean"
    assert chosen_driver().reason == f"forced by {DRIVER_ENV}"
    monkeypatch.setenv(DRIVER_ENV, "pysqlite3")
    with pytest.raises(InvalidInputError, match="auto, sqlite3, sqlean"):
        Database(tmp_path / "x.db")


def test_database_repr_names_the_driver(tmp_path: Path) -> None:
    db = Database(tmp_path / "x.db", read_only=False)
    driver = driver_for(db.conn)
    assert repr(db) == f"Database({str(tmp_path / 'x.db')!r}, driver={driver.__name__}, SQLite {driver.sqlite_version})"
    assert driver.__name__ == chosen_driver().name
    db.close()
    assert repr(db) == f"Database({str(tmp_path / 'x.db')!r}, closed)"
