"""Open SQLite connections with sqlite-vec loaded.

This module is the one place that loads sqlite-vec and chooses the SQLite
driver. Two drivers can serve: the standard library's :mod:`sqlite3`, and
`sqlean-py`_ (a declared dependency with a recent SQLite). Each is *probed*
once per process (:func:`chosen_driver`): on an in-memory database with the
core's settings (``trusted_schema`` off) it must load sqlite-vec and run a
collection's whole write path (vec0, the FTS5 index its triggers write, the
change log). The standard library's driver is used when it passes, sqlean
otherwise. It fails on Pythons built without
``--enable-loadable-sqlite-extensions`` (macOS's system Python, many pyenv
builds) and on old SQLite builds that load extensions but refuse FTS5 writes
from triggers under ``trusted_schema=OFF`` (SQLite 3.40, Debian 12's system
Python: "unsafe use of virtual table").

The environment variable ``SQLITEVEC_STORE_DRIVER`` = ``auto`` (default),
``sqlite3`` or ``sqlean`` forces a driver. A forced driver that fails the
probe is refused with :class:`~sqlitevec_store.errors.ExtensionLoadError`,
except for read-only opens when it loads sqlite-vec (reading needs no
triggers): ``SQLITEVEC_STORE_DRIVER=sqlite3`` reads a file through
Debian's SQLite 3.40.

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
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any, NamedTuple, cast

import sqlite_vec

from ...errors import (
    CorruptDatabaseError,
    DatabaseError,
    DatabaseFullError,
    ExtensionLoadError,
    InvalidInputError,
    ReadOnlyFileError,
    SqliteVecStoreError,
)
from . import statements

__all__ = [
    "DEFAULT_BUSY_TIMEOUT_MS",
    "DRIVER_ENV",
    "Connection",
    "DriverChoice",
    "chosen_driver",
    "database_errors",
    "enable_wal",
    "driver_for",
    "load_sqlite_vec",
    "open_connection",
    "prepare_connection",
    "release_wal_files",
    "translate_driver_error",
    "translated_driver_errors",
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


# SQLite's primary result codes (the low byte of an extended code).
_SQLITE_READONLY = 8
_SQLITE_IOERR = 10
_SQLITE_CORRUPT = 11
_SQLITE_FULL = 13
_SQLITE_NOTADB = 26


def translate_driver_error(exc: BaseException, where: str | None = None, *, rolled_back: bool = False) -> DatabaseError:
    """The package error for a driver's exception (the caller raises it ``from exc``).

    Classified by SQLite's result code (``sqlite_errorcode``, Python 3.11+
    and sqlean), else by SQLite's message: a damaged file is a
    :class:`CorruptDatabaseError`, a full disk or file-size limit a
    :class:`DatabaseFullError`, a file that cannot be written a
    :class:`ReadOnlyFileError`, anything else a :class:`DatabaseError`.

    Args:
        exc: The ``sqlite3.Error`` or ``sqlean.Error``.
        where: The database's path, named in the message.
        rolled_back: SQLite rolled the transaction back by itself after this
            error (said in the message: extensions such as sqlite-vec may
            replace SQLite's own message with theirs).

    """
    code = getattr(exc, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    message = str(exc)
    lowered = message.lower()
    prefix = f"{where}: " if where else ""
    if rolled_back:
        message += (
            " (SQLite rolled the whole transaction back, as it does after errors such as a full disk, "
            "a file-size limit, an I/O error or running out of memory: nothing of it was written)"
        )
    if primary in (_SQLITE_CORRUPT, _SQLITE_NOTADB) or any(
        word in lowered for word in ("malformed", "not a database", "corrupt")
    ):
        return CorruptDatabaseError(
            f"{prefix}{message}. The file is damaged or is not a database; restore it from a backup "
            "(the sqlite3 shell's `.recover` salvages what can still be read)."
        )
    if primary == _SQLITE_FULL or "database or disk is full" in lowered:
        return DatabaseFullError(f"{prefix}{message}. Free disk space (or raise the file-size limit), then retry.")
    if primary == _SQLITE_READONLY or "readonly database" in lowered:
        return ReadOnlyFileError(
            f"{prefix}{message}. The file or its folder cannot be written by this process (permissions, "
            "a read-only file system); open it with read_only=True to read it."
        )
    if primary == _SQLITE_IOERR or "disk i/o error" in lowered:
        return DatabaseError(
            f"{prefix}{message}. Reading or writing the file failed: a full or failing disk, or a file-size limit."
        )
    return DatabaseError(f"{prefix}{message}")


@contextmanager
def translated_driver_errors(where: str | None = None) -> Iterator[None]:
    """Raise a driver error escaping the block as the package's :class:`DatabaseError`, caused by it."""
    try:
        yield
    except database_errors() as exc:
        raise translate_driver_error(exc, where) from exc


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


#: The environment variable that forces a driver: ``auto`` (default), ``sqlite3`` or ``sqlean``.
DRIVER_ENV = "SQLITEVEC_STORE_DRIVER"

_DRIVER_NAMES = ("sqlite3", "sqlean")


class _ProbeResult(NamedTuple):
    """What one driver can do, found by :func:`_probe_driver`."""

    loads: bool  # sqlite-vec loads (enough to read)
    writes: bool  # the whole write path runs under trusted_schema=OFF
    failure: str  # why not, when it cannot write


class DriverChoice(NamedTuple):
    """The SQLite driver this process uses for the connections it opens.

    Attributes:
        name: ``"sqlite3"`` (the standard library) or ``"sqlean"``.
        sqlite_version: The SQLite version of that driver.
        reason: Why it was chosen.
    """

    name: str
    sqlite_version: str
    reason: str

    def __str__(self) -> str:
        return f"{self.name} (SQLite {self.sqlite_version}): {self.reason}"


# Per process: driver name -> probe result. The probes cost ~1 ms each and run once.
_PROBES: dict[str, _ProbeResult] = {}
_PROBE_LOCK = threading.Lock()
_LOGGED_CHOICES: set[DriverChoice] = set()


def _driver_module(name: str) -> ModuleType | None:
    return sqlite3 if name == "sqlite3" else _sqlean()


def _probe_driver(name: str) -> _ProbeResult:
    """Load sqlite-vec and run a collection's write path on an in-memory database (cached per process)."""
    with _PROBE_LOCK:
        cached = _PROBES.get(name)
        if cached is not None:
            return cached
        module = _driver_module(name)
        result = _run_probe(module) if module is not None else _ProbeResult(False, False, "sqlean-py is not installed")
        logger.debug("SQLite driver %s (SQLite %s): %s", name, getattr(module, "sqlite_version", "?"), result)
        _PROBES[name] = result
        return result


def _run_probe(module: ModuleType) -> _ProbeResult:
    conn = module.connect(":memory:", isolation_level=None)
    try:
        try:
            prepare_connection(conn)
        except ExtensionLoadError as exc:
            return _ProbeResult(False, False, str(exc))
        conn.execute("PRAGMA trusted_schema = OFF")
        try:
            for statement in statements.driver_probe_statements():
                conn.execute(statement.sql, statement.params)
        except database_errors() as exc:
            return _ProbeResult(
                True,
                False,
                f"it loads sqlite-vec but cannot write a collection with trusted_schema=OFF: {exc}",
            )
        return _ProbeResult(True, True, "")
    finally:
        conn.close()


def chosen_driver(*, read_only: bool = False) -> DriverChoice:
    """Return the SQLite driver :func:`open_connection` uses in this process, and why.

    ``auto`` (the default of :data:`DRIVER_ENV`): the standard library's
    :mod:`sqlite3` when it passes the probe (loads sqlite-vec and runs the
    write path with ``trusted_schema`` off), else sqlean. A forced driver must
    pass the probe; for a read-only open, loading sqlite-vec is enough.

    Args:
        read_only: Choose for a read-only open.

    Raises:
        ExtensionLoadError: The forced driver, or every driver, fails the probe.
        InvalidInputError: :data:`DRIVER_ENV` has an unknown value.

    """
    wanted = os.environ.get(DRIVER_ENV, "").strip().lower() or "auto"
    if wanted not in ("auto", *_DRIVER_NAMES):
        raise InvalidInputError(f"{DRIVER_ENV} must be one of auto, sqlite3, sqlean; got {wanted!r}")
    if wanted != "auto":
        probe = _probe_driver(wanted)
        version = _sqlite_version(wanted)
        if probe.writes:
            choice = DriverChoice(wanted, version, f"forced by {DRIVER_ENV}")
        elif read_only and probe.loads:
            choice = DriverChoice(wanted, version, f"forced by {DRIVER_ENV}, read-only ({probe.failure})")
        else:
            raise ExtensionLoadError(
                f"{DRIVER_ENV}={wanted}: this driver (SQLite {version}) cannot serve the core: {probe.failure}. "
                f"Unset {DRIVER_ENV} to let the package choose. " + _INSTALL_HINT
            )
        return _log_choice(choice)
    failures: list[str] = []
    for name in _DRIVER_NAMES:
        probe = _probe_driver(name)
        if probe.writes:
            reason = "passes the probe" + (f"; {'; '.join(failures)}" if failures else "")
            return _log_choice(DriverChoice(name, _sqlite_version(name), reason))
        failures.append(f"{name} (SQLite {_sqlite_version(name)}) fails: {probe.failure}")
    raise ExtensionLoadError("No SQLite build can serve the core. Tried: " + "; ".join(failures) + ". " + _INSTALL_HINT)


def _sqlite_version(name: str) -> str:
    module = _driver_module(name)
    return str(module.sqlite_version) if module is not None else "not installed"


def _log_choice(choice: DriverChoice) -> DriverChoice:
    if choice not in _LOGGED_CHOICES:
        _LOGGED_CHOICES.add(choice)
        logger.info("SQLite driver: %s", choice)
    return choice


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
    immutable open, unless a non-empty ``-wal`` file lies beside it: an
    immutable open would ignore the committed transactions in it, so that
    is refused.

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
        if Path(name).is_dir():
            raise SqliteVecStoreError(
                f"Cannot open database {name!r}: it is a directory. Pass the path of a database file "
                "(a new one is created unless read_only=True)."
            )
        if read_only and not Path(name).exists():
            raise SqliteVecStoreError(f"Cannot open {name!r} read-only: the file does not exist.")

    try:
        conn = _connect_any(name, busy_timeout_ms, read_only)
    except database_errors() as exc:
        raise translate_driver_error(exc, f"Cannot open database {name!r}") from exc
    try:
        _probe(conn, name)
    except database_errors() as exc:
        conn.close()
        if not read_only or "not a database" in str(exc):
            raise translate_driver_error(exc, f"Cannot open database {name!r}") from exc
        # A WAL file on a read-only file system: the shared-memory file cannot
        # be created. Open it as immutable (no locks, no WAL; the file must not
        # change while it is open, which a read-only file system guarantees).
        # An immutable open ignores the -wal file: if it holds committed
        # transactions (a writer was killed before checkpointing), refuse
        # rather than answer from the older state in the main file.
        wal = Path(f"{name}-wal")
        if wal.is_file() and wal.stat().st_size > 0:
            raise SqliteVecStoreError(
                f"Cannot open {name!r} read-only: {str(wal)!r} holds committed changes that are not in the "
                f"database file yet, and SQLite cannot read them here ({exc}: it cannot create the shared-memory "
                "file -shm beside it, e.g. a read-only file system). Copy the database file together with its "
                "-wal file to a writable directory and open the copy, or open it once writable there (or run "
                "`PRAGMA wal_checkpoint(TRUNCATE)`) to checkpoint the -wal into the file."
            ) from exc
        logger.info("opening %s as immutable: %s", name, exc)
        try:
            conn = _connect_any(name, busy_timeout_ms, read_only, immutable=True)
            try:
                _probe(conn, name)
            except database_errors():
                conn.close()
                raise
        except database_errors() as exc2:
            raise translate_driver_error(exc2, f"Cannot open database {name!r} read-only") from exc2
    return conn


def release_wal_files(database: str | Path) -> bool:
    """Let SQLite remove a WAL file's idle ``-wal`` and ``-shm`` files, after a read-only use.

    A read-only connection to a WAL-mode file creates ``-wal`` (empty) and
    ``-shm`` beside it when they are missing, and cannot remove them when it
    closes: only a connection that may write checkpoints, and the last one to
    close removes both. So this opens the file read-write (it must exist),
    reads its schema and closes it. SQLite then removes them only if it gets
    the exclusive lock, that is when no other connection has the file open.
    Only an empty ``-wal`` is handled this way, so nothing is written to the
    database file. Call it only after closing your own connections to it.

    Args:
        database: The database file.

    Returns:
        Whether no ``-wal`` file is left. ``False`` when another connection
        still uses the file, the ``-wal`` is not empty, or the file or its
        directory is not writable (then the files stay, and SQLite reuses
        them next time).

    """
    path = Path(database).expanduser()
    wal = Path(f"{path}-wal")
    try:
        if wal.stat().st_size > 0 or not path.is_file():
            return False
    except FileNotFoundError:
        return True
    module = _driver_module(chosen_driver(read_only=True).name)
    assert module is not None
    try:
        conn = module.connect(path.resolve().as_uri() + "?mode=rw", uri=True, isolation_level=None)
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        finally:
            conn.close()
    except database_errors() as exc:
        logger.debug("left %s in place: %s", wal, exc)
    return not wal.exists()


def _connect_any(name: str, busy_timeout_ms: int, read_only: bool, immutable: bool = False) -> Connection:
    """Connect with the driver :func:`chosen_driver` picks, and apply the core's pragmas."""
    choice = chosen_driver(read_only=read_only)
    module = _driver_module(choice.name)
    assert module is not None  # chosen_driver only picks an installed driver
    conn = _connect_with(module, name, busy_timeout_ms, read_only, immutable)
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
