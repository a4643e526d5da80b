"""Open SQLite connections with sqlite-vec loaded.

This module is the one place that loads sqlite-vec. The standard library's
:mod:`sqlite3` is used when it can load extensions; where it cannot (Python
builds without ``--enable-loadable-sqlite-extensions``, macOS's system Python,
many pyenv builds), the connection comes from `sqlean-py`_, a declared
dependency.

Why sqlean-py rather than ``pysqlite3-binary`` or ``apsw``: sqlean-py is a
drop-in copy of the standard :mod:`sqlite3` module (same DB-API, so the rest of
the core has one code path), it ships wheels for Linux (x86-64 and ARM), macOS
(Intel and Apple silicon) and Windows, bundles a recent SQLite with extension
loading enabled, and needs no compiler. ``pysqlite3-binary`` publishes Linux
x86-64 wheels only, and ``apsw`` has its own non-DB-API interface.

.. _sqlean-py: https://pypi.org/project/sqlean-py/
"""

from __future__ import annotations

import logging
import sqlite3
import time
from pathlib import Path
from types import ModuleType
from typing import Any, cast

import sqlite_vec

from .errors import ExtensionLoadError, SqliteVecStoreError

__all__ = [
    "DEFAULT_BUSY_TIMEOUT_MS",
    "Connection",
    "database_errors",
    "enable_wal",
    "driver_for",
    "load_sqlite_vec",
    "open_connection",
    "prepare_connection",
]

logger = logging.getLogger("sqlitevec_store")

#: How long a writer waits for another connection's lock before failing.
DEFAULT_BUSY_TIMEOUT_MS = 30_000

#: Bytes of the database file to memory-map (SQLite clamps it to its build's maximum).
MMAP_SIZE = 8 * 1024**3

#: The page size of files this package creates (see ``_connect_any``).
PAGE_SIZE = 16384

#: The connection type the core works with. sqlean's connection class is a
#: copy of :class:`sqlite3.Connection` with the same interface.
Connection = sqlite3.Connection

_INSTALL_HINT = (
    "Install a SQLite that can load extensions: `pip install sqlean-py` "
    "(a dependency of sqlitevec-store; reinstall it if it is missing), or use a "
    "Python built with --enable-loadable-sqlite-extensions."
)


def _sqlean() -> ModuleType | None:
    try:
        import sqlean
    except ImportError:  # pragma: no cover - sqlean-py is a dependency
        return None
    return cast(ModuleType, sqlean)


def database_errors() -> tuple[type[Exception], ...]:
    """Return the ``Error`` base classes of every SQLite driver in use.

    sqlean's exceptions do not derive from :mod:`sqlite3`'s, so code that
    catches database errors must catch both.
    """
    errors: list[type[Exception]] = [sqlite3.Error]
    sqlean = _sqlean()
    if sqlean is not None:
        errors.append(sqlean.Error)
    return tuple(errors)


def driver_for(conn: Any) -> ModuleType:
    """Return the DB-API module (:mod:`sqlite3` or ``sqlean``) of ``conn``."""
    sqlean = _sqlean()
    if sqlean is not None and isinstance(conn, sqlean.Connection):
        return sqlean
    return sqlite3


def _vec_loaded(conn: Any) -> bool:
    try:
        conn.execute("SELECT vec_version()").fetchone()
    except database_errors():
        return False
    return True


def load_sqlite_vec(conn: Any) -> None:
    """Load sqlite-vec into ``conn``, then switch extension loading off again.

    Does nothing if sqlite-vec is already loaded.

    Raises:
        ExtensionLoadError: The connection cannot load extensions.

    """
    if _vec_loaded(conn):
        return
    enable = getattr(conn, "enable_load_extension", None)
    if enable is None:
        raise ExtensionLoadError(
            f"This {type(conn).__module__} connection cannot load extensions "
            f"(SQLite {driver_for(conn).sqlite_version}). Pass a file path instead of a "
            "connection, or open the connection with `sqlean.connect(...)`. " + _INSTALL_HINT
        )
    try:
        enable(True)
        try:
            sqlite_vec.load(conn)
        finally:
            enable(False)
    except Exception as exc:  # sqlite3.Error, sqlean.Error, OSError, AttributeError...
        raise ExtensionLoadError(
            f"sqlite-vec could not be loaded into this connection: {exc}. " + _INSTALL_HINT
        ) from exc


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def prepare_connection(conn: Any) -> Connection:
    """Make an open connection usable by the core.

    Loads sqlite-vec and registers the deterministic SQL function
    ``svs_lower`` (Unicode-aware :meth:`str.lower`, used by case-insensitive
    filters; SQLite's own ``lower()`` folds ASCII only).

    Raises:
        ExtensionLoadError: sqlite-vec cannot be loaded.

    """
    load_sqlite_vec(conn)
    conn.create_function("svs_lower", 1, _lower, deterministic=True)
    return cast(Connection, conn)


def _connect_with(
    module: ModuleType, database: str, busy_timeout_ms: int, read_only: bool, immutable: bool = False
) -> Connection:
    if read_only:
        uri = Path(database).resolve().as_uri() + ("?immutable=1" if immutable else "?mode=ro")
        conn = module.connect(
            uri,
            uri=True,
            check_same_thread=False,
            isolation_level=None,
            timeout=busy_timeout_ms / 1000,
        )
    else:
        conn = module.connect(
            database,
            check_same_thread=False,
            isolation_level=None,
            timeout=busy_timeout_ms / 1000,
        )
    try:
        return prepare_connection(conn)
    except ExtensionLoadError:
        conn.close()
        raise


def open_connection(
    database: str | Path,
    *,
    busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS,
    read_only: bool = False,
) -> Connection:
    """Open ``database`` (a path or ``":memory:"``) with sqlite-vec loaded.

    The connection is in autocommit mode (``isolation_level=None``); the core
    opens its own transactions. It may be used from any thread, one thread at a
    time (the core serializes access with a lock). It has a busy timeout,
    memory-maps the file, and applies defensive settings (``trusted_schema``
    off, ``cell_size_check`` on). Nothing is written: the journal mode is left
    to :func:`enable_wal`. A read-only open of a WAL file whose shared-memory
    file cannot be created (a read-only file system) falls back to an
    immutable open.

    Args:
        database: A file path or ``":memory:"``.
        busy_timeout_ms: How long to wait for another connection's write lock.
        read_only: Open the file read-only (it must exist).

    Raises:
        ExtensionLoadError: No available SQLite build can load sqlite-vec.
        SqliteVecStoreError: The file cannot be opened.

    """
    name = str(database)
    in_memory = name in {":memory:", ""}
    if not in_memory:
        parent = Path(name).expanduser().resolve().parent
        if not parent.is_dir():
            raise SqliteVecStoreError(f"Cannot open database {name!r}: the directory {str(parent)!r} does not exist.")
        name = str(Path(name).expanduser())
        if read_only and not Path(name).exists():
            raise SqliteVecStoreError(f"Cannot open {name!r} read-only: the file does not exist.")

    conn = _connect_any(name, busy_timeout_ms, read_only)
    try:
        _probe(conn, name)
    except database_errors() as exc:
        conn.close()
        if not read_only or "not a database" in str(exc):
            raise SqliteVecStoreError(f"Cannot open database {name!r}: {exc}") from exc
        # A WAL file on a read-only file system: the shared-memory file cannot
        # be created. Open it as immutable (no locks, no WAL; the file must not
        # change while it is open, which a read-only file system guarantees).
        logger.info("opening %s as immutable: %s", name, exc)
        conn = _connect_any(name, busy_timeout_ms, read_only, immutable=True)
        try:
            _probe(conn, name)
        except database_errors() as exc2:
            conn.close()
            raise SqliteVecStoreError(f"Cannot open database {name!r} read-only: {exc2}") from exc2
    return conn


def _connect_any(name: str, busy_timeout_ms: int, read_only: bool, immutable: bool = False) -> Connection:
    """Connect with the first driver that can load sqlite-vec, and apply the core's pragmas."""
    errors: list[str] = []
    conn: Connection | None = None
    for module in (sqlite3, _sqlean()):
        if module is None:
            continue
        try:
            conn = _connect_with(module, name, busy_timeout_ms, read_only, immutable)
            break
        except ExtensionLoadError as exc:
            errors.append(f"{module.__name__} (SQLite {module.sqlite_version}): {exc}")
            logger.debug("%s cannot load sqlite-vec, trying the next driver", module.__name__)
    if conn is None:
        raise ExtensionLoadError("No SQLite build could load sqlite-vec. Tried: " + "; ".join(errors))
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
    # Memory-map the file: vec0 reads its vector chunks through the page cache,
    # and with SQLite's default 2 MB cache a file search ran ~1.8x slower than
    # in memory (100K x 384: 67 ms vs 38 ms). mmap costs address space, not RAM;
    # SQLite caps the size at its compile-time maximum.
    conn.execute(f"PRAGMA mmap_size = {MMAP_SIZE}")
    if not read_only:
        # Takes effect only when the file is created (a no-op for an existing
        # one). vec0 writes each vector into a chunk blob that spans many
        # overflow pages; with 16 KiB pages instead of 4 KiB, inserts measured
        # 35-60% faster at 384 dimensions, with the same file size.
        conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")
    # Defensive settings for files from elsewhere: functions and virtual tables
    # used by a file's own schema (views, triggers) must be marked innocuous,
    # and b-tree cells are bounds-checked, so a crafted file cannot make
    # reading it run arbitrary SQL functions or read out of bounds.
    conn.execute("PRAGMA trusted_schema = OFF")
    conn.execute("PRAGMA cell_size_check = ON")
    return conn


def _is_busy(exc: BaseException) -> bool:
    message = str(exc).lower()
    return "locked" in message or "busy" in message


def _probe(conn: Connection, name: str) -> None:
    """Read the schema once, so a file that is not a database fails here, before anything is written."""
    conn.execute("SELECT count(*) FROM sqlite_master").fetchone()


def enable_wal(conn: Connection) -> None:
    """Switch a file database to WAL journaling (readers never block the writer).

    Raises:
        SqliteVecStoreError: The journal mode cannot be changed.
    """
    # Switching needs a write lock, and SQLite does not call the busy handler
    # for that upgrade: when several processes open a new file at once, retry
    # while SQLite says busy, for up to the busy timeout.
    timeout_ms = int(conn.execute("PRAGMA busy_timeout").fetchone()[0]) or DEFAULT_BUSY_TIMEOUT_MS
    deadline = time.monotonic() + timeout_ms / 1000
    delay = 0.001
    while True:
        try:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            break
        except database_errors() as exc:
            if not _is_busy(exc) or time.monotonic() >= deadline:
                raise SqliteVecStoreError(f"Cannot switch the database to WAL: {exc}") from exc
            time.sleep(delay)
            delay = min(delay * 2, 0.05)
    if str(mode).lower() != "wal":
        logger.warning("journal mode is %s, not WAL: concurrent readers may wait for writers", mode)
