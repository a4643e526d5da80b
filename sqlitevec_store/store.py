"""The database file and its collections: write, read, delete and search.

:class:`Database` wraps one SQLite connection (opened here, or passed in) and
holds any number of named :class:`Collection` objects. All SQL text comes
from :mod:`sqlitevec_store.schema` and :mod:`sqlitevec_store.filters`; this
module validates input, runs statements and shapes results.

Guarantees:

* **Atomic writes.** One :meth:`Collection.upsert` call is one transaction,
  whatever its size: its texts, metadata and vectors commit together or not at
  all. The whole batch is validated before anything is written.
* **Exact filtered search.** A filter restricts the rows sqlite-vec scans
  before its top-k cut, so a search returns the ``k`` nearest among the
  matching rows, however rare they are. ``k`` above sqlite-vec's cap of 4096
  falls back to an exact in-process scan.
* **Scores.** Vector search: ``distance`` is the cosine distance ``1 - cos``
  in ``[0, 2]``, ``similarity`` is ``1 - distance`` in ``[-1, 1]``. Keyword
  and hybrid search: ``similarity`` in ``[0, 1]`` (squashed BM25, or the fused
  score) and ``distance = 1 - similarity``; ``Hit.score`` is the raw ranking
  score (see :class:`~sqlitevec_store.records.Hit`).
* **Keyword index.** Each collection's FTS5 index is kept in sync by triggers
  on the records table, so it commits or rolls back with the records.
  Collections written by schema version 1 get it when a writable database is
  opened (:meth:`Database.migrate`).
* **Threads.** A :class:`Database` may be shared between threads (for example
  the thread pool frameworks run async methods on); access to its connection
  is serialized by a lock. After ``os.fork()`` a file database reopens its
  connection in the child instead of sharing the parent's.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import threading
import weakref
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from . import registry
from .backends.sqlite import ddl, keywords, statements
from .backends.sqlite.connection import (
    DEFAULT_BUSY_TIMEOUT_MS,
    Connection,
    database_errors,
    driver_for,
    enable_wal,
    logger,
    open_connection,
    prepare_connection,
    translate_driver_error,
    translated_driver_errors,
)
from .errors import (
    CollectionNotFoundError,
    DatabaseError,
    DimensionMismatchError,
    InvalidCollectionNameError,
    InvalidInputError,
    InvalidInputTypeError,
    ModelMismatchError,
    ReadOnlyError,
    SchemaError,
    SqliteVecStoreError,
)
from .filters import Filter, compile_filter
from .fusion import DEFAULT_ALPHA, FUSION_METHODS, RRF_K, alpha_fusion, rrf_fusion
from .index import DEFAULT_OVERSAMPLE, INDEX_TYPES, VectorIndex, dot, top_k
from .records import CollectionInfo, Hit, Record, check_count, chunks, is_int
from .validation import (
    Batch,
    check_batches,
    check_dimension,
    check_encodable,
    check_k,
    check_strings,
    vector_matrix,
)

__all__ = ["Collection", "Database", "DEFAULT_COLLECTION", "DEFAULT_HYBRID_FETCH_K", "WRITE_CHUNK_SIZE"]

#: The collection used when none is named (both adapters and the CLI agree).
DEFAULT_COLLECTION = "default"

#: Records are validated and written this many at a time (bounding memory
#: for generators); the whole call stays one transaction.
WRITE_CHUNK_SIZE = 1000

#: How many candidates hybrid search takes from each ranking by default (at least ``k``).
DEFAULT_HYBRID_FETCH_K = 20

#: Per Database, the match rate of this many recent filters is remembered (see ``_index_search``).
FILTER_SHARES_KEPT = 256

#: A filter whose last search checked more candidates than this gets, when it comes again, a
#: mask of every matching row (one scan of the metadata), reused until the collection changes.
MASK_AFTER_CHECKS = 256

#: Per Database, at most this many filter masks are kept (one byte per row each).
FILTER_MASKS_KEPT = 32

#: The change log keeps this many newest entries (a RAM copy further behind reloads in full).
CHANGE_LOG_KEEP = 100_000

_EXPECTED_REGISTRY_COLUMNS = ("name", "dimension", "model_id", "distance", "schema_version", "created_at")


# Every open Database, so a forked child can (1) reset locks that another
# thread of the parent held at the moment of the fork (the child has no such
# thread, and would wait on them forever) and (2) close the connections it
# inherited. SQLite keeps its file-lock bookkeeping per process and fork copies
# it without the locks themselves: while an inherited connection stays open in
# the child, the child's own connections do not take the shared-memory lock,
# so the parent closing its connection would checkpoint and delete the WAL the
# child is still committing into (measured: 20 of 22 child commits lost).
# Closing the inherited copy in the child releases no lock of the parent's
# (POSIX locks belong to the process that took them) and fixes that.
_LIVE_DATABASES: weakref.WeakSet[Database] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for database in list(_LIVE_DATABASES):
        database._lock = threading.RLock()
        database._savepoints = 0
        if database._owns_connection and database.path not in (None, ":memory:", "") and not database._closed:
            with contextlib.suppress(Exception):
                database._conn.close()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _rollback(conn: Connection, *statements: str) -> None:
    """Undo a failed transaction (or savepoint) while an error is propagating; never mask that error.

    SQLite rolls a transaction back by itself after some errors (a full disk, an
    I/O error, an interrupt): a ROLLBACK then fails with "cannot rollback - no
    transaction is active", which would hide the real error. So nothing is run
    when no transaction is open, and an error of the rollback itself is logged.
    """
    if not conn.in_transaction:
        return
    try:
        for statement in statements:
            conn.execute(statement)
    except database_errors() as exc:
        logger.warning("rollback failed after an error: %s", exc)


class Database:
    """One SQLite file (or in-memory database) holding named collections.

    Args:
        database: A file path, ``":memory:"``, or an open ``sqlite3`` /
            ``sqlean`` connection. A passed connection is used as is (sqlite-vec
            is loaded into it) and is not closed by :meth:`close`.
        busy_timeout_ms: How long a write waits for another connection's lock.
        read_only: Open the file read-only.

    Raises:
        ExtensionLoadError: sqlite-vec cannot be loaded.
        SchemaError: The file holds a registry table this package did not write.

    Example:
        >>> db = Database(":memory:")
        >>> docs = db.collection("docs")
        >>> docs.upsert([Record("hello", [1.0, 0.0], {"lang": "en"}, id="a")])
        ['a']
        >>> [h.id for h in docs.search([1.0, 0.1], k=1)]
        ['a']
        >>> db.close()

    """

    def __init__(
        self,
        database: str | Path | Connection | Any = ":memory:",
        *,
        busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS,
        read_only: bool = False,
    ) -> None:
        self._lock = threading.RLock()
        busy_timeout_ms = check_count(busy_timeout_ms, "busy_timeout_ms", minimum=0)
        self._busy_timeout_ms = busy_timeout_ms
        self._read_only = read_only
        self._savepoints = 0
        self._closed = False
        # RAM copies of collections' vectors, shared by every Collection object of this Database.
        self._indexes: dict[tuple[str, bool], VectorIndex] = {}
        # Bumped whenever the connection is replaced, so a RAM copy checks the file again.
        self._conn_serial = 0
        # The share of rows recent filters matched (insertion-ordered: the oldest is dropped first).
        self._filter_shares: dict[tuple[str, str, str], tuple[float, int]] = {}
        # Full match masks of filters that come again: (index version, mask over its slots).
        self._filter_masks: dict[tuple[str, str, str], tuple[tuple[int, int], npt.NDArray[np.bool_]]] = {}
        # True while snapshot() holds a read transaction it began itself (committed state only).
        self._clean_read = False
        # Registry entries (lower-case name, dimension, schema version) whose tables were checked.
        self._verified: set[tuple[str, int | None, int]] = set()
        if isinstance(database, (str, Path)):
            self.path: str | None = str(database)
            self._owns_connection = True
            self._conn = open_connection(database, busy_timeout_ms=busy_timeout_ms, read_only=read_only)
        elif hasattr(database, "execute") and hasattr(database, "cursor"):
            self.path = None
            self._owns_connection = False
            self._conn = prepare_connection(database)
        else:
            raise InvalidInputTypeError(
                f"database must be a path, ':memory:' or an open sqlite3 connection, got {type(database).__name__}"
            )
        self._pid = os.getpid()
        _LIVE_DATABASES.add(self)
        try:
            self._check_registry()
            if self._owns_connection and not read_only and self.path not in (":memory:", ""):
                self._maybe_enable_wal()
            if not read_only:
                self.migrate(strict=False)
        except BaseException:
            if self._owns_connection:
                self._conn.close()
            raise

    # -- connection ---------------------------------------------------------

    @property
    def conn(self) -> Connection:
        """The live connection (reopened after ``fork`` for file databases)."""
        if self._closed:
            raise SqliteVecStoreError("This database is closed")
        if self._pid != os.getpid() and self._owns_connection and self.path not in (None, ":memory:", ""):
            # A connection must not cross a fork: open our own in the child
            # (locks were reset by _reset_locks_after_fork).
            assert self.path is not None
            self._conn = open_connection(self.path, busy_timeout_ms=self._busy_timeout_ms, read_only=self._read_only)
            self._pid = os.getpid()
            self._conn_serial += 1
        return self._conn

    def __repr__(self) -> str:
        if self._closed:
            return f"Database({self.path!r}, closed)"
        driver = driver_for(self._conn)
        mode = ", read_only=True" if self._read_only else ""
        return f"Database({self.path!r}{mode}, driver={driver.__name__}, SQLite {driver.sqlite_version})"

    def close(self) -> None:
        """Close the connection if this object opened it. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._indexes.clear()
            self._filter_masks.clear()
            if self._owns_connection and self._pid == os.getpid():
                self._conn.close()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextmanager
    def _session(self) -> Iterator[Connection]:
        """Hold the lock and yield the connection; a driver error escaping is raised as a :class:`DatabaseError`.

        Every public method that runs SQL goes through this (or :meth:`atomic`,
        :meth:`snapshot`, ``Collection._guard``, which use it), so no
        ``sqlite3.Error`` / ``sqlean.Error`` reaches a caller: it is the
        ``__cause__`` of the package error instead.
        """
        with self._lock, translated_driver_errors(self.path):
            yield self.conn

    @contextmanager
    def atomic(self) -> Iterator[Connection]:
        """A write transaction: ``BEGIN IMMEDIATE`` ... ``COMMIT``, or a savepoint when nested.

        Rolls back on any exception. When the caller's connection is already
        in a transaction, a savepoint is used and committing is left to the
        caller. SQLite errors (the block's own included) are raised as
        :class:`~sqlitevec_store.errors.DatabaseError`; when SQLite has
        already rolled the transaction back itself (a full disk, an I/O
        error), the error that made it do so is the one raised.
        """
        if self._read_only:
            raise ReadOnlyError(f"{self.path} was opened read-only; open it without read_only=True to write")
        with self._session() as conn:
            if not conn.in_transaction:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield conn
                except database_errors() as exc:
                    if not conn.in_transaction:  # SQLite rolled back by itself: say so, and never mask exc
                        raise translate_driver_error(exc, self.path, rolled_back=True) from exc
                    _rollback(conn, "ROLLBACK")
                    raise
                except BaseException:
                    _rollback(conn, "ROLLBACK")
                    raise
                try:
                    conn.execute("COMMIT")
                except BaseException:
                    # A failed COMMIT (disk full, I/O error) can leave the transaction open.
                    _rollback(conn, "ROLLBACK")
                    raise
            else:
                self._clean_read = False
                self._savepoints += 1
                name = f"svs_sp_{self._savepoints}"
                conn.execute(f"SAVEPOINT {name}")
                try:
                    yield conn
                except BaseException:
                    _rollback(conn, f"ROLLBACK TO {name}", f"RELEASE {name}")
                    raise
                finally:
                    self._savepoints -= 1
                conn.execute(f"RELEASE {name}")

    @contextmanager
    def snapshot(self) -> Iterator[Connection]:
        """A read transaction, so several statements see one state of the file."""
        with self._session() as conn:
            if conn.in_transaction:
                yield conn
                return
            conn.execute("BEGIN")
            self._clean_read = True
            try:
                yield conn
            finally:
                self._clean_read = False
                if conn.in_transaction:  # SQLite may have ended it after an I/O error
                    conn.execute("COMMIT")

    def _sees_committed_state(self) -> bool:
        """Whether the connection reads only committed data: no write transaction is open."""
        return not self.conn.in_transaction or self._clean_read

    # -- registry -----------------------------------------------------------

    def _registry_exists(self, conn: Connection) -> bool:
        try:
            row = conn.execute(statements.registry_exists_sql(), (ddl.REGISTRY_TABLE,)).fetchone()
        except database_errors() as exc:
            raise SchemaError(f"Cannot read {self.path or 'the database'}: {exc}") from exc
        return row is not None

    def _check_registry(self) -> None:
        with self._session() as conn:
            if not self._registry_exists(conn):
                return
            columns = tuple(row[1] for row in conn.execute(statements.registry_columns_sql()))
            if columns != _EXPECTED_REGISTRY_COLUMNS:
                raise SchemaError(
                    f"The table {ddl.REGISTRY_TABLE!r} was not written by sqlitevec-store "
                    f"(columns {columns}); refusing to use this file"
                )

    def migrate(self, *, strict: bool = True) -> list[str]:
        """Bring every collection written by an older schema version up to date.

        Each collection is migrated in its own transaction: the steps of
        :data:`ddl.MIGRATIONS` from its version to :data:`ddl.SCHEMA_VERSION`,
        then the new version in the registry (a failure leaves that
        collection as it was). Opening a writable database calls this with
        ``strict=False``; collections of a newer version are left alone
        (opening them raises :class:`SchemaError`).

        Args:
            strict: Raise when a collection cannot be migrated (with
                ``False``, log a warning and go on; keyword search on it will
                try again and raise).

        Returns:
            The names of the collections migrated.
        """
        migrated: list[str] = []
        with self._session() as conn:
            if not self._registry_exists(conn):
                return migrated
            stale = []
            for name, version in conn.execute(statements.registry_versions_sql()).fetchall():
                if not is_int(version) or version < 1:
                    # A damaged row: opening that collection raises SchemaError saying so.
                    if strict:
                        raise SchemaError(_bad_version_message(name, version))
                    logger.warning("collection %r not migrated: %s", name, _bad_version_message(name, version))
                elif version < ddl.SCHEMA_VERSION:
                    stale.append(name)
            for name in stale:
                try:
                    if self._migrate_one(name):
                        migrated.append(name)
                except DatabaseError as exc:  # atomic() raises SQLite's errors as DatabaseError
                    if strict:
                        raise SchemaError(f"Cannot migrate collection {name!r}: {exc}") from exc.__cause__
                    logger.warning("collection %r not migrated: %s", name, exc)
        return migrated

    def _migrate_one(self, name: str) -> bool:
        with self.atomic() as conn:
            # Read again inside the write transaction: another connection may have migrated it meanwhile.
            row = conn.execute(statements.registry_select_sql(one=True), (name,)).fetchone()
            if row is None or row[4] >= ddl.SCHEMA_VERSION:
                return False
            info = _info_from_row(row)
            tables = ddl.CollectionTables(name)
            for step in range(info.schema_version, ddl.SCHEMA_VERSION):
                for statement in ddl.MIGRATIONS[step](tables):
                    conn.execute(statement)
            conn.execute(statements.registry_set_version_sql(), (ddl.SCHEMA_VERSION, name))
        return True

    def _maybe_enable_wal(self) -> None:
        """Use WAL for new files and files this package already uses.

        A database the user made for other purposes keeps its journal mode
        until they call :meth:`enable_wal`: switching it rewrites the file
        header, and opening a file should not change it.
        """
        with self._session() as conn:
            if self._registry_exists(conn) or conn.execute(statements.table_count_sql()).fetchone()[0] == 0:
                enable_wal(conn)

    def enable_wal(self) -> None:
        """Switch this file to WAL journaling (done automatically for files this package created)."""
        with self._session() as conn:
            enable_wal(conn)

    @property
    def read_only(self) -> bool:
        """Whether the database was opened read-only."""
        return self._read_only

    def vacuum(self) -> None:
        """Rebuild the file to return free pages to the file system (``VACUUM``).

        Needs free disk space of about the file's size, and waits for other
        connections' transactions. Run it after :meth:`Collection.compact` or
        large deletions.
        """
        with self._session() as conn:
            if conn.in_transaction:
                raise SqliteVecStoreError("Cannot VACUUM inside a transaction")
            conn.execute("VACUUM")

    def file_stats(self) -> dict[str, int]:
        """The file's ``page_size``, ``page_count``, ``free_pages`` and ``size_bytes``."""
        with self._session() as conn:
            page_size, page_count, free = (int(conn.execute(sql).fetchone()[0]) for sql in statements.page_stats_sql())
        return {
            "page_size": page_size,
            "page_count": page_count,
            "free_pages": free,
            "size_bytes": page_size * page_count,
        }

    def _ensure_registry(self, conn: Connection) -> None:
        conn.execute(ddl.create_registry_sql())

    def _info(self, conn: Connection, name: str) -> CollectionInfo | None:
        if not self._registry_exists(conn):
            return None
        row = conn.execute(statements.registry_select_sql(one=True), (name,)).fetchone()
        return None if row is None else self._checked_info(conn, row)

    def _checked_info(self, conn: Connection, row: Sequence[Any]) -> CollectionInfo:
        """A registry row checked: its values (every time, cheap) and its tables (once per state of the row).

        Raises:
            SchemaError: The row or the collection's tables are not what this
                package writes (a hand-edited or damaged file).

        """
        info = _info_from_row(row)
        key = (info.name.lower(), info.dimension, info.schema_version)
        if key not in self._verified:
            _check_collection_tables(conn, info)
            self._verified.add(key)
        return info

    def collections(self) -> list[CollectionInfo]:
        """Every collection in the file, by name.

        Only the registry is read: a collection whose tables were damaged is
        listed, and opening it raises :class:`SchemaError`.

        Raises:
            SchemaError: A registry entry holds a value this package never
                writes (:meth:`drop_collection` still removes such a collection).

        """
        with self._session() as conn:
            if not self._registry_exists(conn):
                return []
            return [_info_from_row(r) for r in conn.execute(statements.registry_select_sql(one=False))]

    def collection_names(self) -> list[str]:
        """The names of every collection in the file."""
        return [info.name for info in self.collections()]

    def has_collection(self, name: str) -> bool:
        """Whether a collection of this name exists (names are case-insensitive)."""
        registry.validate_collection_name(name)
        with self._session() as conn:
            return self._info(conn, name) is not None

    def create_collection(
        self,
        name: str,
        *,
        dimension: int | None = None,
        model_id: str | None = None,
        exist_ok: bool = True,
        index_type: str = "flat",
        oversample: int = DEFAULT_OVERSAMPLE,
    ) -> Collection:
        """Create a collection (or return the existing one when ``exist_ok``).

        Args:
            name: The collection name (see :data:`registry.COLLECTION_NAME_PATTERN`).
            dimension: The vector dimension, if known; otherwise the first
                batch of vectors sets it.
            model_id: The embedding model's canonical id, recorded now.
            exist_ok: Return an existing collection instead of raising.
            index_type: How searches run (see :class:`Collection`).
            oversample: For ``index_type="rescore"``: candidates per result.

        Raises:
            InvalidCollectionNameError: Bad name, or (for a new collection) one
                of the names its tables would take is already taken in the
                file by something no collection owns, such as your own table
                ``svs_<name>_fts``; nothing is written.
            InvalidInputError: The collection exists and ``exist_ok`` is false;
                ``dimension`` is not an integer from 1 to
                :data:`ddl.VEC0_MAX_DIMENSION`.
            DimensionMismatchError, ModelMismatchError: It exists with another
                dimension or model.

        """
        registry.validate_collection_name(name)
        if dimension is not None:
            check_dimension(dimension)
        with self.atomic() as conn:
            info = self._info(conn, name)
            if info is not None and not exist_ok:
                raise InvalidInputError(f"Collection {name!r} already exists")
            if info is None:
                tables = ddl.CollectionTables(name)
                _refuse_taken_names(conn, name, tables)
                self._ensure_registry(conn)
                conn.execute(statements.registry_insert_sql(), (name, dimension, model_id, ddl.SCHEMA_VERSION))
                for statement in [
                    *ddl.create_items_sql(tables),
                    *ddl.create_fts_sql(tables),
                    *ddl.create_changes_sql(tables),
                ]:
                    conn.execute(statement)
                if dimension is not None:
                    conn.execute(ddl.create_vec_sql(tables, dimension, ddl.vec0_chunk_size_for(0)))
            elif dimension is not None and info.dimension not in (None, dimension):
                raise DimensionMismatchError(
                    f"Collection {info.name!r} has dimension {info.dimension}, not {dimension}"
                )
        return Collection(self, name, model_id=model_id, index_type=index_type, oversample=oversample)

    def collection(
        self,
        name: str = DEFAULT_COLLECTION,
        *,
        model_id: str | None = None,
        create: bool = True,
        index_type: str = "flat",
        oversample: int = DEFAULT_OVERSAMPLE,
    ) -> Collection:
        """Open a collection, creating it if needed (unless ``create=False``).

        Opening never embeds anything: the dimension comes from the registry
        or, for a new collection, from the first batch of vectors.

        Args:
            name: The collection name.
            model_id: The canonical id of the embedding model the caller uses,
                or ``None`` when the caller brings its own vectors. A new
                collection records it at once; an existing one without a model
                id records it on the first write.
            create: Create a missing collection (registering it writes to the file).
            index_type: How searches run: ``"flat"`` (exact, default),
                ``"rescore"`` (approximate) or ``"vec0"`` (exact, no RAM copy);
                see :class:`Collection`.
            oversample: For ``"rescore"``: candidates ranked exactly per result.

        Raises:
            CollectionNotFoundError: Missing and ``create`` is false.
            ModelMismatchError: The collection was built with another named model.

        """
        registry.validate_collection_name(name)
        with self._session() as conn:
            info = self._info(conn, name)
        if info is None:
            if not create or self._read_only:
                hint = " (the database is open read-only)" if self._read_only else ""
                raise CollectionNotFoundError(f"No collection named {name!r} in this database{hint}")
            return self.create_collection(name, model_id=model_id, index_type=index_type, oversample=oversample)
        return Collection(self, info.name, model_id=model_id, index_type=index_type, oversample=oversample)

    def drop_collection(self, name: str, *, missing_ok: bool = False) -> bool:
        """Delete a collection, its records and its tables.

        Only tables of the shape this package creates are dropped. A
        collection whose registry entry was damaged can still be dropped.

        Returns:
            Whether a collection was dropped.

        Raises:
            CollectionNotFoundError: Missing and ``missing_ok`` is false.
            SchemaError: One of the collection's table names holds a table this
                package did not create; nothing is dropped.

        """
        registry.validate_collection_name(name)
        with self.atomic() as conn:
            row = (
                conn.execute(statements.registry_select_sql(one=True), (name,)).fetchone()
                if self._registry_exists(conn)
                else None
            )
            if row is None:
                if missing_ok:
                    return False
                raise CollectionNotFoundError(f"No collection named {name!r} in this database")
            registered = row[0]
            if not isinstance(registered, str) or not registry.COLLECTION_NAME_PATTERN.fullmatch(registered):
                raise SchemaError(f"The registry holds an invalid collection name {registered!r}; refusing to drop it")
            tables = ddl.CollectionTables(registered)
            objects = _objects(conn, tables.object_names())
            foreign = _foreign_tables(conn, tables, objects)
            if foreign:
                raise SchemaError(
                    f"Refusing to drop collection {registered!r}: {', '.join(foreign)} "
                    "was not created by sqlitevec-store. Rename or drop it yourself first."
                )
            for table in tables.all_tables():
                if table[1:-1] in objects:
                    conn.execute(statements.drop_table_sql(table))
            conn.execute(statements.registry_delete_sql(), (registered,))
            self._forget_indexes(registered)
        return True

    def _forget_indexes(self, name: str) -> None:
        for key in [key for key in self._indexes if key[0] == name.lower()]:
            del self._indexes[key]
        self._verified = {key for key in self._verified if key[0] != name.lower()}


class _SchemaObject(NamedTuple):
    """One row of ``sqlite_master``."""

    type: str
    sql: str | None


def _objects(conn: Connection, names: Sequence[str]) -> dict[str, _SchemaObject]:
    """The objects of the file among ``names`` (lower-case), by lower-case name."""
    rows = conn.execute(statements.objects_named_sql(len(names)), list(names))
    return {row[0]: _SchemaObject(row[1], row[2]) for row in rows}


def _foreign_tables(conn: Connection, tables: ddl.CollectionTables, objects: Mapping[str, _SchemaObject]) -> list[str]:
    """The collection's four table names that hold something of another shape than this package creates."""
    foreign = []
    for quoted in tables.all_tables():
        found = objects.get(quoted[1:-1])
        if found is None:
            continue
        if found.type != "table":
            ours = False
        elif quoted == tables.vec:
            ours = ddl.parse_vec0_declaration(found.sql) is not None
        elif quoted == tables.fts:
            ours = ddl.is_fts5_declaration(found.sql, tables)
        else:
            columns = tuple(row[1] for row in conn.execute(statements.table_columns_sql(quoted)))
            expected = ddl.ITEM_COLUMN_NAMES if quoted == tables.items else ddl.CHANGES_COLUMN_NAMES
            ours = columns == expected and not str(found.sql).upper().startswith("CREATE VIRTUAL")
        if not ours:
            foreign.append(f"the {found.type} {quoted[1:-1]!r}")
    return foreign


def _refuse_taken_names(conn: Connection, name: str, tables: ddl.CollectionTables) -> None:
    """Before a collection is created: refuse it if any name it would use is taken in the file."""
    taken = sorted(_objects(conn, tables.object_names()))
    if taken:
        raise InvalidCollectionNameError(
            f"Cannot create collection {name!r}: the file already has {', '.join(map(repr, taken))}, "
            "a name this collection needs, and no collection owns it (your own table, or one left "
            "from an old or damaged file). sqlitevec-store never takes over or drops tables it did "
            "not create: choose another collection name, or rename that table."
        )


def _check_collection_tables(conn: Connection, info: CollectionInfo) -> None:
    """Check that a registered collection's tables are there and agree with its registry entry.

    Raises:
        SchemaError: A table is missing, is not of the shape this package
            creates, or the vector table's declared dimension is not the
            registry's.

    """
    tables = ddl.CollectionTables(info.name)
    objects = _objects(conn, [quoted[1:-1] for quoted in tables.all_tables()])
    problems = _foreign_tables(conn, tables, objects)
    required = [tables.items]
    if info.schema_version >= ddl.KEYWORD_INDEX_VERSION:
        required.append(tables.fts)
    if info.schema_version >= ddl.CHANGE_LOG_VERSION:
        required.append(tables.changes)
    problems += [f"its table {quoted[1:-1]!r} is missing" for quoted in required if quoted[1:-1] not in objects]
    vec = objects.get(tables.vec[1:-1])
    if info.dimension is None and vec is not None:
        problems.append("it has a vector table but the registry records no dimension")
    elif info.dimension is not None and vec is None:
        problems.append(f"its vector table {tables.vec[1:-1]!r} is missing")
    elif info.dimension is not None and vec is not None:
        declared = ddl.parse_vec0_declaration(vec.sql)
        if declared is not None and declared.dimension != info.dimension:
            problems.append(
                f"the registry records dimension {info.dimension} but its vector table holds "
                f"{declared.dimension}-dimensional vectors"
            )
    if problems:
        raise SchemaError(
            f"Collection {info.name!r} cannot be used: {'; '.join(problems)}. The file was edited or damaged."
        )


def _bad_version_message(name: object, version: object) -> str:
    return (
        f"Collection {name!r} has schema_version {version!r} in the registry: expected an integer from 1 "
        f"to {ddl.SCHEMA_VERSION}. The registry was edited or damaged."
    )


def _info_from_row(row: Sequence[Any]) -> CollectionInfo:
    """A registry row as a :class:`CollectionInfo`, each value checked (the file may have been edited).

    Raises:
        SchemaError: A value this package never writes, or a newer schema version.

    """
    name, dimension, model_id, distance, version, created_at = row
    if not isinstance(name, str) or not registry.COLLECTION_NAME_PATTERN.fullmatch(name):
        raise SchemaError(f"The registry holds an invalid collection name {name!r}: it was edited or damaged.")
    if is_int(version) and version > ddl.SCHEMA_VERSION:
        raise SchemaError(
            f"Collection {name!r} was written with schema version {version}; "
            f"this sqlitevec-store reads up to {ddl.SCHEMA_VERSION}. Upgrade sqlitevec-store."
        )
    if not is_int(version) or version < 1:
        raise SchemaError(_bad_version_message(name, version))
    problem = None
    if dimension is not None and (not is_int(dimension) or not 1 <= dimension <= ddl.VEC0_MAX_DIMENSION):
        problem = f"dimension {dimension!r} (expected NULL or an integer from 1 to {ddl.VEC0_MAX_DIMENSION})"
    elif model_id is not None and not isinstance(model_id, str):
        problem = f"model_id {model_id!r} (expected NULL or text)"
    elif distance != "cosine":
        problem = f"distance {distance!r} (expected 'cosine')"
    elif not isinstance(created_at, str):
        problem = f"created_at {created_at!r} (expected text)"
    if problem is not None:
        raise SchemaError(f"Collection {name!r} has {problem} in the registry. The registry was edited or damaged.")
    return CollectionInfo(name, dimension, model_id, distance, version, created_at)


def _vectors_of(batch: Batch) -> npt.NDArray[np.float32]:
    """A checked batch's vectors (:func:`check_batches` yields only batches that have them)."""
    if batch.vectors is None:  # pragma: no cover - check_batches refuses such batches
        raise InvalidInputError("the Batch has no vectors yet; add them with Batch.with_vectors(...)")
    return batch.vectors


def _slots_needed(count: int) -> int:
    """Vector slots ``count`` vectors take in a freshly built table (whole chunks of the size chosen for them)."""
    chunk_size = ddl.vec0_chunk_size_for(count)
    return math.ceil(count / chunk_size) * chunk_size


def _distance_from_l2(l2: float) -> float:
    """Cosine distance from the L2 distance between unit vectors."""
    return min(max(l2 * l2 / 2.0, 0.0), 2.0)


class Collection:
    """A named set of records in a :class:`Database`. Light: create freely.

    Use :meth:`Database.collection` rather than this constructor.

    How vector searches run (``index_type``; a choice of this process, not
    stored in the file, see :mod:`sqlitevec_store.index`):

    * ``"flat"`` (default): exact. The first search reads the collection's
      vectors into RAM (``4 * dimension`` bytes each: ~155 MB per 100,000
      vectors of 384 dimensions) and later searches scan that copy with numpy.
      Before every search the copy is brought in step with the file, so writes
      by other connections and processes are seen; it reads only what changed
      (schema version 3's change log). Every :class:`Collection` of one
      :class:`Database` shares the copy.
    * ``"rescore"``: approximate. As ``"flat"``, plus 1-bit codes; a search
      ranks the codes, then the best ``k * oversample`` candidates by exact
      distance.
    * ``"vec0"``: exact, sqlite-vec's own KNN inside SQLite. No RAM copy and
      no load time; slower per search on large collections. Searches inside a
      write transaction always take this path (they must see uncommitted rows).

    Every type honours filters exactly (the ``k`` best among matching rows)
    and reports the same distances.
    """

    def __init__(
        self,
        db: Database,
        name: str,
        *,
        model_id: str | None = None,
        index_type: str = "flat",
        oversample: int = DEFAULT_OVERSAMPLE,
    ) -> None:
        """Bind to an existing collection and check the caller's model id against it."""
        if index_type not in INDEX_TYPES:
            raise InvalidInputError(f"index_type must be one of {INDEX_TYPES}, got {index_type!r}")
        self.index_type = index_type
        self.oversample = check_k(oversample, "oversample")
        self.db = db
        self.name = registry.validate_collection_name(name)
        self.tables = ddl.CollectionTables(name)
        self.model_id = model_id
        info = self.info()
        if model_id is not None and info.model_id is not None and info.model_id != model_id:
            raise ModelMismatchError(
                f"Collection {info.name!r} was built with the embedding model {info.model_id!r}; "
                f"it cannot be used with {model_id!r}. Use the same model, or another collection."
            )

    def __repr__(self) -> str:
        return f"Collection({self.name!r}, path={self.db.path!r})"

    @contextmanager
    def _guard(self) -> Iterator[Connection]:
        """Hold the lock, report a dropped collection as such, and any other SQLite error as a DatabaseError."""
        catch: tuple[type[Exception], ...] = (DatabaseError, *database_errors())  # DatabaseError: inner atomic()
        with self.db._session() as conn:
            try:
                yield conn
            except catch as exc:
                if "no such table" in str(exc) and not self.db.has_collection(self.name):
                    raise CollectionNotFoundError(f"No collection named {self.name!r} in this database") from exc
                raise

    # -- registry ---------------------------------------------------------

    def info(self) -> CollectionInfo:
        """The collection's registry entry, read fresh from the file.

        Raises:
            CollectionNotFoundError: It was dropped.

        """
        with self.db._session() as conn:
            info = self.db._info(conn, self.name)
        if info is None:
            raise CollectionNotFoundError(f"No collection named {self.name!r} in this database")
        return info

    @property
    def dimension(self) -> int | None:
        """The vector dimension, or ``None`` before the first vectors."""
        return self.info().dimension

    # -- writing ----------------------------------------------------------

    def add(
        self,
        texts: Iterable[str],
        vectors: Iterable[Sequence[float] | npt.NDArray[Any]],
        *,
        metadatas: Iterable[Mapping[str, Any] | None] | None = None,
        ids: Iterable[str | None] | None = None,
    ) -> list[str]:
        """Upsert parallel lists of texts, vectors, metadata and ids.

        Every iterable is consumed fully; their lengths must agree.

        Returns:
            The ids, in input order (generated UUIDs where none was given).

        """
        text_list = list(texts)
        vector_list = list(vectors)
        meta_list = list(metadatas) if metadatas is not None else [None] * len(text_list)
        id_list = list(ids) if ids is not None else [None] * len(text_list)
        lengths = {len(text_list), len(vector_list), len(meta_list), len(id_list)}
        if len(lengths) != 1:
            raise InvalidInputError(
                f"texts ({len(text_list)}), vectors ({len(vector_list)}), metadatas "
                f"({len(meta_list)}) and ids ({len(id_list)}) must have the same length"
            )
        return self.upsert(
            Record(text=t, vector=v, metadata=m or {}, id=i)
            for t, v, m, i in zip(text_list, vector_list, meta_list, id_list, strict=True)
        )

    def upsert(self, records: Iterable[Record] | Batch) -> list[str]:
        """Add records, replacing any with the same id (text, metadata and vector).

        ``records`` may be any iterable, a generator included: it is consumed
        in chunks of :data:`WRITE_CHUNK_SIZE`, so memory stays bounded however
        many records arrive. The whole call is still one transaction: each
        chunk is validated before it is written, and a bad record anywhere
        rolls back every chunk before it, leaving the file as it was. A
        :class:`~sqlitevec_store.validation.Batch` with vectors (from
        :func:`~sqlitevec_store.validation.check_texts`) was checked when it
        was built and is written without a second check.

        Returns:
            The ids, in input order.

        Raises:
            InvalidInputTypeError: A text is not a string, metadata is not a
                dict of JSON values, an id is not a string.
            InvalidInputError: Duplicate ids in the call, NaN/infinite/zero
                vectors, non-finite metadata numbers, a Batch without vectors.
            DimensionMismatchError: A vector's length differs from the
                collection's dimension (or from the rest of the call).
            ModelMismatchError: The collection was built with another named model.
        """
        batches = check_batches(records, WRITE_CHUNK_SIZE)
        # The first chunk is validated before the transaction starts: the
        # common small call never touches the file when it is refused.
        batch = next(batches, None)
        if batch is None:
            return []
        matrix = _vectors_of(batch)
        check_dimension(int(matrix.shape[1]), "the vectors' dimension")
        all_ids: list[str] = []
        with self.db.atomic() as conn:
            dimension = self._claim_dimension(conn, int(matrix.shape[1]), len(batch))
            versioned = self.info().schema_version >= ddl.CHANGE_LOG_VERSION
            if versioned:
                next_pk = int(conn.execute(statements.next_pk_sql(self.tables)).fetchone()[0])
            else:
                next_pk = int(conn.execute(statements.max_pk_sql(self.tables)).fetchone()[0]) + 1
            while batch is not None:
                matrix = _vectors_of(batch)
                if matrix.shape[1] != dimension:
                    raise DimensionMismatchError(
                        f"Collection {self.name!r} holds {dimension}-dimensional vectors; "
                        f"got {matrix.shape[1]}-dimensional ones"
                    )
                ids = batch.ids
                self._grow_vector_table(conn, dimension, len(ids))
                rows = [(row.text, row.metadata, row.doc_id, row.extra) for row in batch.rows]
                next_pk = self._write_chunk(conn, ids, rows, matrix, next_pk)
                all_ids.extend(ids)
                batch = next(batches, None)
            if versioned:
                conn.execute(statements.set_high_water_sql(self.tables), {"pk": next_pk - 1})
        return all_ids

    def _claim_dimension(self, conn: Connection, dimension: int, incoming: int) -> int:
        """Inside the write transaction: fix the dimension and model id on first write, or check them.

        The vector table made on first write is sized for the ``incoming`` records.
        """
        info = self.info()
        if info.dimension is None:
            check_dimension(dimension)
            conn.execute(statements.registry_update_sql("dimension"), (dimension, info.name))
            conn.execute(ddl.create_vec_sql(self.tables, dimension, ddl.vec0_chunk_size_for(incoming)))
        elif info.dimension != dimension:
            raise DimensionMismatchError(
                f"Collection {info.name!r} holds {info.dimension}-dimensional vectors; got {dimension}-dimensional ones"
            )
        if self.model_id is not None:
            if info.model_id is None:
                conn.execute(statements.registry_update_sql("model_id"), (self.model_id, info.name))
            elif info.model_id != self.model_id:
                raise ModelMismatchError(
                    f"Collection {info.name!r} was built with {info.model_id!r}, not {self.model_id!r}"
                )
        return dimension

    def _vec0_declaration(self, conn: Connection) -> ddl.Vec0Declaration | None:
        """The vector table's declared dimension and chunk size (``None``: no vector table)."""
        row = conn.execute(statements.vec0_declaration_sql(), (self.tables.vec[1:-1],)).fetchone()
        return None if row is None else ddl.parse_vec0_declaration(row[0])

    def _grow_vector_table(self, conn: Connection, dimension: int, incoming: int) -> None:
        """Inside a write, before ``incoming`` records: give the vector table larger chunks if it outgrows its own.

        Only tables of at most ~1,024 vectors have chunks smaller than the
        largest size, so a rebuild copies at most that many vectors (and at
        most twice in a collection's life: 16 -> 128 -> 1,024 slots).
        """
        declared = self._vec0_declaration(conn)
        if declared is None or declared.chunk_size >= ddl.VEC0_CHUNK_SIZES[-1]:
            return
        count = int(conn.execute(statements.count_sql(self.tables, "1")).fetchone()[0])
        chunk_size = ddl.vec0_chunk_size_for(count + incoming)
        if chunk_size > declared.chunk_size:
            self._rebuild_vector_table(conn, dimension, chunk_size)

    def _rebuild_vector_table(self, conn: Connection, dimension: int, chunk_size: int) -> None:
        """Inside a write: copy every vector into a fresh vec0 table with ``chunk_size`` slots per chunk."""
        for statement in statements.compact_copy_sql(self.tables):
            conn.execute(statement)
        conn.execute(statements.drop_table_sql(self.tables.vec))
        conn.execute(ddl.create_vec_sql(self.tables, dimension, chunk_size))
        for statement in statements.compact_restore_sql(self.tables):
            conn.execute(statement)

    def _write_chunk(
        self,
        conn: Connection,
        ids: Sequence[str],
        rows: Sequence[tuple[str, str, str | None, str | None]],
        matrix: npt.NDArray[np.float32],
        next_pk: int,
    ) -> int:
        """Write one validated chunk; returns the next free pk."""
        existing = dict(conn.execute(statements.existing_ids_sql(self.tables, len(ids)), list(ids)).fetchall())
        inserts: list[tuple[Any, ...]] = []
        updates: list[tuple[Any, ...]] = []
        vectors: list[tuple[int, bytes]] = []
        for n, record_id in enumerate(ids):
            text, metadata, doc_id, extra = rows[n]
            if record_id in existing:
                pk = existing[record_id]
                updates.append((text, metadata, doc_id, extra, pk))
            else:
                pk = next_pk
                next_pk += 1
                inserts.append((pk, record_id, text, metadata, doc_id, extra))
            vectors.append((pk, matrix[n].tobytes()))
        if updates:
            conn.executemany(statements.update_item_sql(self.tables), updates)
            conn.executemany(statements.delete_vector_sql(self.tables), [(u[-1],) for u in updates])
            self._trim_changes(conn)
        if inserts:
            conn.executemany(statements.insert_item_sql(self.tables), inserts)
        conn.executemany(statements.insert_vector_sql(self.tables), vectors)
        return next_pk

    def _where(
        self,
        *,
        ids: Sequence[str] | None = None,
        doc_ids: Sequence[str] | None = None,
        filter: Filter | None = None,
    ) -> tuple[str, dict[str, Any]]:
        """One ``where`` clause (AND) over the record table's columns."""
        parts: list[str] = []
        params: dict[str, Any] = {}
        if ids is not None:
            sql, p = statements.in_list_sql("id", check_strings(ids, "ids"), "id")
            parts.append(sql)
            params.update(p)
        if doc_ids is not None:
            sql, p = statements.in_list_sql("doc_id", check_strings(doc_ids, "doc_ids"), "doc")
            parts.append(sql)
            params.update(p)
        if filter is not None:
            sql, p = compile_filter(filter, "metadata")
            parts.append(sql)
            params.update(p)
        return (" AND ".join(f"({p})" for p in parts) if parts else "1"), params

    def delete(
        self,
        ids: Iterable[str] | None = None,
        *,
        filter: Filter | None = None,
        doc_ids: Iterable[str] | None = None,
    ) -> int:
        """Delete records by ids, by source-document ids, and/or by filter (all must hold).

        With none of them, nothing is deleted (use :meth:`clear` to empty the
        collection).

        Returns:
            The number of records deleted.

        """
        id_list = None if ids is None else check_strings(ids, "ids")
        doc_list = None if doc_ids is None else check_strings(doc_ids, "doc_ids")
        if id_list is None and doc_list is None and filter is None:
            return 0
        deleted = 0
        # Chunk id lists so one statement stays under SQLite's parameter limit.
        for id_chunk in _chunk_or_none(id_list):
            for doc_chunk in _chunk_or_none(doc_list):
                where, params = self._where(ids=id_chunk, doc_ids=doc_chunk, filter=filter)
                deleted += self._delete_where(where, params)
        return deleted

    def _delete_where(self, where: str, params: Mapping[str, Any]) -> int:
        with self._guard(), self.db.atomic() as conn:
            pks = [row[0] for row in conn.execute(statements.pks_where_sql(self.tables, where), params)]
            if pks and self._has_vec(conn):
                conn.executemany(statements.delete_vector_sql(self.tables), [(pk,) for pk in pks])
            conn.executemany(statements.delete_items_sql(self.tables), [(pk,) for pk in pks])
            if pks:
                self._trim_changes(conn)
        return len(pks)

    def _trim_changes(self, conn: Connection) -> None:
        """Inside a write: keep the change log short (a RAM copy older than it reloads in full)."""
        if self.info().schema_version >= ddl.CHANGE_LOG_VERSION:
            conn.execute(statements.trim_changes_sql(self.tables), (CHANGE_LOG_KEEP,))

    def clear(self) -> int:
        """Delete every record; keep the collection, its dimension and model.

        Returns:
            The number of records deleted.

        """
        return self._delete_where("1", {})

    def _has_vec(self, conn: Connection) -> bool:
        return self.info().dimension is not None

    # -- reading ----------------------------------------------------------

    def count(self, filter: Filter | None = None) -> int:
        """Number of records (matching ``filter``)."""
        where, params = self._where(filter=filter)
        with self._guard() as conn:
            return int(conn.execute(statements.count_sql(self.tables, where), params).fetchone()[0])

    def get(self, ids: Iterable[str], *, include_vectors: bool = False) -> list[Hit]:
        """Records by id, in input order; missing ids are skipped.

        The returned hits have ``distance`` 0 and ``similarity`` 1 (no query).
        """
        id_list = check_strings(ids, "ids")
        found: dict[str, Hit] = {}
        with self.db.snapshot():
            for chunk in chunks(dict.fromkeys(id_list), WRITE_CHUNK_SIZE):
                for hit in self._select(ids=chunk, include_vectors=include_vectors):
                    found[hit.id] = hit
        return [found[i] for i in id_list if i in found]

    def find(
        self,
        *,
        filter: Filter | None = None,
        ids: Sequence[str] | None = None,
        doc_ids: Sequence[str] | None = None,
        limit: int | None = None,
        offset: int = 0,
        include_vectors: bool = False,
    ) -> list[Hit]:
        """Records matching every given condition, in insertion order.

        Args:
            filter: A metadata filter.
            ids: Restrict to these ids.
            doc_ids: Restrict to these source-document ids.
            limit: At most this many (``None``: all).
            offset: Skip this many first.
            include_vectors: Return the stored vectors too.

        Raises:
            InvalidInputError: ``limit`` < 1, ``offset`` < 0, or either above
                :data:`~sqlitevec_store.records.MAX_COUNT` (2**63 - 1).

        """
        if limit is not None:
            limit = check_k(limit, "limit")
        offset = check_count(offset, "offset", minimum=0)
        with self.db.snapshot():
            return self._select(
                ids=ids,
                doc_ids=doc_ids,
                filter=filter,
                limit=limit,
                offset=offset,
                include_vectors=include_vectors,
            )

    def _select(
        self,
        *,
        ids: Sequence[str] | None = None,
        doc_ids: Sequence[str] | None = None,
        filter: Filter | None = None,
        limit: int | None = None,
        offset: int = 0,
        include_vectors: bool = False,
    ) -> list[Hit]:
        where, params = self._where(ids=ids, doc_ids=doc_ids, filter=filter)
        sql = statements.select_items_sql(self.tables, where)
        if limit is not None or offset:
            sql += " LIMIT :limit OFFSET :offset"
            params = {**params, "limit": -1 if limit is None else limit, "offset": offset}
        with self._guard() as conn:
            rows = conn.execute(sql, params).fetchall()
            vectors = self._vectors(conn, [r[0] for r in rows]) if include_vectors else {}
        return [_hit(row, 0.0, vectors.get(row[0])) for row in rows]

    def _vectors(self, conn: Connection, pks: Sequence[int]) -> dict[int, npt.NDArray[np.float32]]:
        if not pks or not self._has_vec(conn):
            return {}
        out: dict[int, npt.NDArray[np.float32]] = {}
        for chunk in chunks(pks, WRITE_CHUNK_SIZE):
            for rowid, blob in conn.execute(statements.select_vectors_sql(self.tables, len(chunk)), chunk):
                out[rowid] = np.frombuffer(blob, dtype=np.float32).copy()
        return out

    def _read_vectors(
        self, conn: Connection, dimension: int, expected: int
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
        """Every vector through vec0's own interface (row by row; the portable way)."""
        pks = np.empty(expected, np.int64)
        matrix = np.empty((expected, dimension), np.float32)
        count = 0
        cursor = conn.execute(statements.all_vectors_sql(self.tables))
        while batch := cursor.fetchmany(32768):
            end = count + len(batch)
            if end > len(pks):
                pks = np.resize(pks, end)
                matrix = np.resize(matrix, (end, dimension))
            pks[count:end] = [row[0] for row in batch]
            matrix[count:end] = np.frombuffer(b"".join([row[1] for row in batch]), np.float32).reshape(-1, dimension)
            count = end
        return pks[:count], matrix[:count]

    def _read_vec0_chunks(
        self, conn: Connection, dimension: int, expected: int
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]] | None:
        """Every vector read straight from vec0's chunk tables: ~10x faster than row by row.

        Only for tables created by sqlite-vec 0.1.x, whose layout this knows:
        each chunk row holds ``size`` slots, a validity bitmap, the slots'
        rowids (int64) and the vectors (float32). The result is checked (as
        many live vectors as records, and a sample compared with vec0's own
        answer); any surprise returns ``None`` and the caller reads row by row.
        """
        try:
            created = conn.execute(statements.vec0_layout_sql(self.tables)).fetchone()
            if created is None or not str(created[0]).startswith("v0.1."):
                return None
            pks = np.empty(expected, np.int64)
            matrix = np.empty((expected, dimension), np.float32)
            count = 0
            for size, validity, rowids, vectors in conn.execute(statements.vec0_chunks_sql(self.tables)):
                if len(rowids) != 8 * size or len(vectors) != 4 * size * dimension or len(validity) * 8 < size:
                    return None
                live = np.unpackbits(np.frombuffer(validity, np.uint8), bitorder="little")[:size].astype(np.bool_)
                found = int(live.sum())
                if count + found > expected:
                    return None
                end = count + found
                if found == size:
                    pks[count:end] = np.frombuffer(rowids, np.int64)
                    matrix[count:end] = np.frombuffer(vectors, np.float32).reshape(size, dimension)
                elif found:
                    pks[count:end] = np.frombuffer(rowids, np.int64)[live]
                    matrix[count:end] = np.frombuffer(vectors, np.float32).reshape(size, dimension)[live]
                count = end
        except database_errors():
            return None
        if count != expected:
            return None
        sample = sorted({0, len(pks) // 2, len(pks) - 1}) if len(pks) else []
        stored = self._vectors(conn, [int(pks[n]) for n in sample])
        if any(int(pks[n]) not in stored or not np.array_equal(stored[int(pks[n])], matrix[n]) for n in sample):
            return None
        return pks, matrix

    # -- maintenance --------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """Counts for this collection.

        Returns:
            ``count`` (records), ``dimension``, ``model_id``, ``vector_slots``
            (slots sqlite-vec has allocated), ``unused_slots`` (allocated but
            empty: holes left by deletions plus the unfilled tail of the last
            chunk, which later inserts fill) and ``reclaimable_slots`` (what
            :meth:`compact` would free: the slots beyond the whole chunks that
            the live vectors need, at the chunk size compact would choose).
        """
        info = self.info()
        with self._guard() as conn:
            count = int(conn.execute(statements.count_sql(self.tables, "1")).fetchone()[0])
            slots = int(conn.execute(statements.vec_slots_sql(self.tables)).fetchone()[0]) if info.dimension else 0
        return {
            "name": info.name,
            "count": count,
            "dimension": info.dimension,
            "model_id": info.model_id,
            "vector_slots": slots,
            "unused_slots": max(slots - count, 0),
            "reclaimable_slots": max(slots - _slots_needed(count), 0),
        }

    def compact(self) -> dict[str, int]:
        """Rebuild the vector table so deleted vectors no longer take space.

        sqlite-vec frees a chunk of vectors only when every slot in it is
        deleted; scattered deletions leave holes. This copies the live vectors
        into a fresh ``vec0`` table in one transaction (searches from other
        connections see the old or the new table, never a mix), with the chunk
        size that fits their number (:func:`ddl.vec0_chunk_size_for`: a
        collection that shrank, or a small one in a file written before chunk
        sizes were chosen, gets smaller chunks). The freed pages
        go to SQLite's free list and are reused by later writes; call
        :meth:`Database.vacuum` afterwards to shrink the file itself.

        Returns:
            ``slots_before`` and ``slots_after``.
        """
        before = self.stats()["vector_slots"]
        dimension = self.info().dimension
        if dimension is None:
            return {"slots_before": 0, "slots_after": 0}
        with self._guard(), self.db.atomic() as conn:
            count = int(conn.execute(statements.count_sql(self.tables, "1")).fetchone()[0])
            self._rebuild_vector_table(conn, dimension, ddl.vec0_chunk_size_for(count))
            if self.info().schema_version >= ddl.KEYWORD_INDEX_VERSION:
                # The keyword index keeps its rows (compaction moves no record); merge its segments.
                conn.execute(ddl.fts_command_sql(self.tables, "optimize"))
        return {"slots_before": before, "slots_after": self.stats()["vector_slots"]}

    # -- search -----------------------------------------------------------

    def _query_vector(self, vector: Sequence[float] | npt.NDArray[Any]) -> npt.NDArray[np.float32] | None:
        """The unit-length query, or ``None`` when the collection has no vectors yet."""
        matrix = vector_matrix([vector], "query vector")
        dimension = self.info().dimension
        if dimension is None:
            return None
        if matrix.shape[1] != dimension:
            raise DimensionMismatchError(
                f"Collection {self.name!r} holds {dimension}-dimensional vectors; the query has {matrix.shape[1]}"
            )
        query: npt.NDArray[np.float32] = matrix[0]
        return query

    def search(
        self,
        vector: Sequence[float] | npt.NDArray[Any],
        *,
        k: int = 4,
        filter: Filter | None = None,
        include_vectors: bool = False,
    ) -> list[Hit]:
        """The ``k`` records nearest to ``vector`` by cosine distance, nearest first.

        With a filter, the result is the exact top-``k`` among the matching
        records (fewer only when fewer match); with ``index_type="rescore"``
        it is approximate among them. Equal distances are ordered by insertion
        (with ``index_type="vec0"``, sqlite-vec picks among them).

        Raises:
            InvalidInputError: ``k`` < 1 or above
                :data:`~sqlitevec_store.records.MAX_COUNT` (2**63 - 1; any
                ``k`` up to it works, returning every match when fewer), or a
                NaN/infinite/zero query.
            DimensionMismatchError: The query's length is not the collection's dimension.

        """
        k = check_k(k)
        query = self._query_vector(vector)
        if query is None:
            return []
        filter_sql, params = compile_filter(filter, "metadata") if filter is not None else (None, {})
        with self._guard() as conn:
            if self.index_type != "vec0" and self.db._sees_committed_state():
                with self.db.snapshot():
                    index = self._synced_index(conn)
                    return self._index_search(
                        conn, index, query, k=k, filter_sql=filter_sql, params=params, include_vectors=include_vectors
                    )
        if k > ddl.VEC0_MAX_K:
            return self._scan_search(query, k, filter, include_vectors)
        sql = statements.knn_sql(self.tables, filter_sql, with_vectors=include_vectors)
        with self._guard() as conn:
            rows = conn.execute(sql, {**params, "query": query.tobytes(), "k": k}).fetchall()
        hits = []
        for row in rows:
            distance = _distance_from_l2(row[6])
            stored = np.frombuffer(row[7], np.float32).copy() if include_vectors else None
            hits.append(_hit(row, distance, stored, score=1.0 - distance))
        return hits

    def _index_search(
        self,
        conn: Connection,
        index: VectorIndex,
        query: npt.NDArray[np.float32],
        *,
        k: int,
        filter_sql: str | None,
        params: dict[str, Any],
        include_vectors: bool,
    ) -> list[Hit]:
        """Search the RAM copy; the filter is asked in SQL about candidates only (see :mod:`.index`)."""
        seen = [0, 0]  # rows asked about, rows that matched

        def check(pks: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
            assert filter_sql is not None
            sql = statements.candidates_matching_sql(self.tables, filter_sql)
            found = [row[0] for row in conn.execute(sql, {**params, "svs_candidates": json.dumps(pks.tolist())})]
            seen[0] += len(pks)
            seen[1] += len(found)
            return np.isin(pks, np.array(found, np.int64))

        def matching() -> npt.NDArray[np.int64]:
            assert filter_sql is not None
            rows = conn.execute(statements.pks_where_sql(self.tables, filter_sql), params)
            found = np.fromiter((row[0] for row in rows), np.int64)
            seen[0], seen[1] = len(index), len(found)
            return found

        # How much of the collection this filter matched last time: the first round asks about enough candidates.
        # A filter that needed many candidate checks and comes again gets its full match mask, kept per version.
        share_key = (self.name.lower(), filter_sql or "", repr(sorted(params.items())))
        shares, masks = self.db._filter_shares, self.db._filter_masks
        known = shares.get(share_key)
        allowed = None
        if filter_sql is not None:
            cached = masks.get(share_key)
            if cached is not None and cached[0] == index.version:
                allowed = cached[1]
            elif known is not None and known[1] > MASK_AFTER_CHECKS:
                allowed = np.zeros(len(index.pks), np.bool_)
                allowed[index.positions(matching())] = True
                masks.pop(share_key, None)
                masks[share_key] = (index.version, allowed)
                while len(masks) > FILTER_MASKS_KEPT:
                    del masks[next(iter(masks))]
                seen[0] = 0  # not a measurement of the candidate loop
        positions, distances = top_k(
            index,
            query,
            k,
            index_type=self.index_type,
            oversample=self.oversample,
            check=check if filter_sql is not None and allowed is None else None,
            matching=matching if filter_sql is not None and allowed is None else None,
            expected_share=known[0] if known is not None else None,
            allowed=allowed,
        )
        if seen[0]:
            shares.pop(share_key, None)
            shares[share_key] = (seen[1] / seen[0], seen[0])
            while len(shares) > FILTER_SHARES_KEPT:
                del shares[next(iter(shares))]
        chosen = [int(pk) for pk in index.pks[positions]]
        by_pk: dict[int, tuple[Any, ...]] = {}
        for chunk in chunks(chosen, WRITE_CHUNK_SIZE):
            sql = statements.select_items_sql(self.tables, f"pk IN ({statements.placeholders(len(chunk))})")
            by_pk.update((row[0], row) for row in conn.execute(sql, chunk))
        return [
            _hit(
                by_pk[pk],
                float(distance),
                index.vector(int(position)) if include_vectors else None,
                score=1.0 - float(distance),
            )
            for pk, position, distance in zip(chosen, positions, distances, strict=True)
            if pk in by_pk
        ]

    def _synced_index(self, conn: Connection) -> VectorIndex:
        """The shared RAM copy of the vectors, brought in step with the file (inside a read transaction).

        Cheap when nothing changed: the connection's ``data_version`` (moved by
        other connections' commits) and ``total_changes`` (this connection's
        writes) are compared with the last check. Otherwise the change log
        names the updated and deleted pks, and pks above the largest one seen
        are the inserted ones; only those vectors are read. A copy of another
        epoch (the collection was re-created), too far behind the log, or of a
        file without a log (schema version 2, read-only) is read in full.
        """
        info = self.info()
        dimension = info.dimension
        assert dimension is not None
        key = (self.name.lower(), self.index_type == "rescore")
        index = self.db._indexes.get(key)
        token = (
            self.db._conn_serial,
            id(conn),
            int(conn.execute(statements.data_version_sql()).fetchone()[0]),
            int(conn.total_changes),
        )
        if index is not None and index.token == token and index.dimension == dimension:
            return index
        epoch: int | None = None
        oldest = newest = 0
        if info.schema_version >= ddl.CHANGE_LOG_VERSION:
            epoch, oldest, newest = conn.execute(statements.changes_state_sql(self.tables)).fetchone()
        stale = (
            index is None
            or index.dimension != dimension
            or epoch is None
            or index.epoch != epoch
            or index.seq > newest
            or (oldest > 0 and index.seq < oldest - 1)
        )
        if not stale:
            assert index is not None
            touched = {row[0] for row in conn.execute(statements.changed_pks_sql(self.tables), (index.seq,))}
            touched.update(row[0] for row in conn.execute(statements.pks_above_sql(self.tables), (index.max_pk,)))
            if len(touched) > max(len(index), 1000) // 2:
                stale = True
            elif touched:
                present = self._vectors(conn, sorted(touched))
                index.apply(present, [pk for pk in touched if pk not in present])
                index.max_pk = max(index.max_pk, *touched)
        if stale or index is None:
            index = self._load_index(conn, dimension)
        index.epoch = epoch
        index.seq = newest
        index.token = token
        self.db._indexes[key] = index
        return index

    def _load_index(self, conn: Connection, dimension: int) -> VectorIndex:
        """Read every vector into a new RAM copy."""
        expected = int(conn.execute(statements.count_sql(self.tables, "1")).fetchone()[0])
        loaded = self._read_vec0_chunks(conn, dimension, expected)
        pks, matrix = loaded if loaded is not None else self._read_vectors(conn, dimension, expected)
        index = VectorIndex(dimension, quantized=self.index_type == "rescore")
        index.load(pks, matrix)
        index.max_pk = int(conn.execute(statements.max_pk_sql(self.tables)).fetchone()[0])
        return index

    def _scan_search(
        self, query: npt.NDArray[np.float32], k: int, filter: Filter | None, include_vectors: bool
    ) -> list[Hit]:
        """Exact search by reading every (matching) vector: for ``k`` above vec0's cap."""
        filter_sql, params = compile_filter(filter, "metadata") if filter is not None else (None, {})
        with self._guard(), self.db.snapshot() as conn:
            rows = conn.execute(statements.scan_sql(self.tables, filter_sql), params).fetchall()
            if not rows:
                return []
            pks = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            matrix = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), -1)
            distances = np.clip(1.0 - dot(matrix, query), 0.0, 2.0)
            order = np.lexsort((pks, distances))[:k]
            chosen = [int(pks[i]) for i in order]
            by_pk = {
                row[0]: row
                for chunk in chunks(chosen, WRITE_CHUNK_SIZE)
                for row in conn.execute(
                    statements.select_items_sql(self.tables, f"pk IN ({statements.placeholders(len(chunk))})"),
                    chunk,
                )
            }
        return [
            _hit(
                by_pk[int(pks[i])],
                float(distances[i]),
                matrix[i].copy() if include_vectors else None,
                score=1.0 - float(distances[i]),
            )
            for i in order
            if int(pks[i]) in by_pk
        ]

    def _require_keyword_index(self) -> None:
        """Build the keyword index of a collection written before it existed, or say why it cannot."""
        info = self.info()
        if info.schema_version >= ddl.KEYWORD_INDEX_VERSION:
            return
        if self.db.read_only:
            raise SchemaError(
                f"Collection {info.name!r} was written by an older sqlitevec-store (schema version "
                f"{info.schema_version}) and has no keyword index yet. Open the file once without "
                "read_only=True to build it; vector search works meanwhile."
            )
        self.db.migrate()

    def keyword_search(
        self,
        text: str,
        *,
        k: int = 4,
        filter: Filter | None = None,
        raw: bool = False,
    ) -> list[Hit]:
        """The ``k`` records best matching ``text`` by BM25 (SQLite FTS5), best first.

        Plain text (the default) is never parsed as FTS5 syntax: each
        whitespace-separated word becomes a quoted FTS5 string, common English
        stopwords are dropped, and the rest are ORed
        (:func:`keywords.keyword_match_expression`), so a record matching any
        word can be found and BM25 ranks those matching more and rarer words
        first. Text without any word (``""``, ``"?!"``) finds nothing. Only
        the first distinct words holding :data:`keywords.MAX_QUERY_TERMS` (128)
        tokens are used, so a long text (a pasted page, 1 MB) answers as fast
        as a 128-word one; the rest of it is ignored.

        Args:
            text: The query.
            k: How many hits at most.
            filter: A metadata filter; the result is the exact top-``k``
                among matching records.
            raw: Pass ``text`` to FTS5 as a query in its own syntax (``AND``,
                ``NEAR``, ``"phrases"``, ``prefix*``). A raw query may be at most
                :data:`keywords.MAX_RAW_QUERY_LENGTH` (10,000) characters long and
                hold at most :data:`keywords.MAX_QUERY_TERMS` (128) terms.

        Returns:
            Hits whose ``score`` is the BM25 score (higher is better) and
            ``similarity`` ``score / (1 + score)``; see :class:`Hit`.

        Raises:
            InvalidInputError: ``raw`` and ``text`` is not a valid FTS5 query
                (a column other than ``text`` included), or is over a limit.
            SchemaError: The collection predates the keyword index and the
                database is open read-only.

        """
        k = check_k(k)
        if not isinstance(text, str):
            raise InvalidInputTypeError(f"query text must be a string, got {type(text).__name__}")
        if raw:
            keywords.check_raw_keyword_query(text)
        check_encodable(text, "query text")
        match = (text if text.strip() else None) if raw else keywords.keyword_match_expression(text)
        if match is None:
            return []
        self._require_keyword_index()
        filter_sql, params = compile_filter(filter, "metadata") if filter is not None else (None, {})
        sql = statements.keyword_sql(self.tables, filter_sql)
        with self._guard() as conn:
            try:
                rows = conn.execute(sql, {**params, "match": match, "k": k}).fetchall()
            except database_errors() as exc:
                if raw and _is_fts_query_error(exc):
                    raise InvalidInputError(f"Invalid FTS5 query {text!r}: {exc}") from exc
                raise
        hits = []
        for row in rows:
            bm25 = max(-float(row[6]), 0.0)
            similarity = bm25 / (1.0 + bm25)
            hits.append(_hit(row, 1.0 - similarity, None, score=bm25, similarity=similarity))
        return hits

    def hybrid_search(
        self,
        vector: Sequence[float] | npt.NDArray[Any],
        text: str,
        *,
        k: int = 4,
        filter: Filter | None = None,
        alpha: float | None = None,
        fetch_k: int | None = None,
        fusion: str = "relative_score",
    ) -> list[Hit]:
        """Vector and keyword search fused into one ranking, best first.

        Takes the ``fetch_k`` nearest records by vector and the ``fetch_k``
        best by BM25 (both exact under ``filter``), and fuses them
        (:mod:`sqlitevec_store.fusion`):

        * ``fusion="relative_score"`` (default): ``alpha * vector + (1 -
          alpha) * keyword`` over min-max normalized scores; ``alpha=None``
          means :data:`fusion.DEFAULT_ALPHA` (0.7, the best fusion measured on
          benchmarks/hybrid_quality.py).
        * ``fusion="rrf"``: reciprocal rank fusion with ``c = 60``
          (:data:`fusion.RRF_K`), weights ``alpha`` and ``1 - alpha`` (0.5
          each when ``alpha`` is ``None``).

        ``alpha`` follows LlamaIndex's convention: 1 is pure vector search, 0
        pure keyword search.

        Args:
            vector: The query embedding.
            text: The query text (plain words; see :meth:`keyword_search`).
            k: How many hits at most.
            filter: A metadata filter; every hit matches it.
            alpha: The weight of the vector side in ``[0, 1]``, or ``None``
                for the default.
            fetch_k: Candidates per ranking (default
                ``max(k, DEFAULT_HYBRID_FETCH_K)``; at least ``k``).
            fusion: ``"relative_score"`` or ``"rrf"``.

        Returns:
            Hits whose ``similarity`` and ``score`` are the fused score in
            ``[0, 1]`` (1: ranked first by both) and ``distance`` is
            ``1 - score``.

        """
        k = check_k(k)
        fetch_k = max(k, DEFAULT_HYBRID_FETCH_K if fetch_k is None else check_k(fetch_k, "fetch_k"))
        if alpha is not None and (
            isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0.0 <= alpha <= 1.0
        ):
            raise InvalidInputError(f"alpha must be None or a number in [0, 1], got {alpha!r}")
        if fusion not in FUSION_METHODS:
            raise InvalidInputError(f"fusion must be one of {FUSION_METHODS}, got {fusion!r}")
        if not isinstance(text, str):
            raise InvalidInputTypeError(f"query text must be a string, got {type(text).__name__}")
        self._require_keyword_index()
        with self.db.snapshot():
            dense = self.search(vector, k=fetch_k, filter=filter)
            keyword = self.keyword_search(text, k=fetch_k, filter=filter)
        by_id = {hit.id: hit for hit in keyword}
        by_id.update((hit.id, hit) for hit in dense)
        if fusion == "rrf":
            weight = 0.5 if alpha is None else float(alpha)
            fused = rrf_fusion(
                [[h.id for h in dense], [h.id for h in keyword]], weights=[weight, 1.0 - weight], c=RRF_K
            )
        else:
            fused = alpha_fusion(
                [(h.id, h.similarity) for h in dense],
                [(h.id, h.score or 0.0) for h in keyword],
                alpha=DEFAULT_ALPHA if alpha is None else float(alpha),
            )
        return [_scored(by_id[key], score) for key, score in fused[:k]]

    def mmr(
        self,
        vector: Sequence[float] | npt.NDArray[Any],
        *,
        k: int = 4,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        filter: Filter | None = None,
        include_vectors: bool = False,
    ) -> list[Hit]:
        """Maximal marginal relevance: ``k`` hits that are relevant and diverse.

        Takes the ``fetch_k`` nearest (matching) records, then picks greedily
        the one maximizing ``lambda_mult * sim(query, d) - (1 - lambda_mult) *
        max sim(d, picked)``. ``lambda_mult`` 1 is plain relevance, 0 maximal
        diversity. Hits carry their distance to the query.
        """
        k = check_k(k)
        fetch_k = max(check_k(fetch_k, "fetch_k"), k)
        if isinstance(lambda_mult, bool) or not isinstance(lambda_mult, (int, float)) or not 0.0 <= lambda_mult <= 1.0:
            raise InvalidInputError(f"lambda_mult must be a number in [0, 1], got {lambda_mult!r}")
        query = self._query_vector(vector)
        if query is None:
            return []
        candidates = self.search(query, k=fetch_k, filter=filter, include_vectors=True)
        if not candidates:
            return []
        matrix = np.vstack([c.vector for c in candidates if c.vector is not None])
        picked = maximal_marginal_relevance(query, matrix, k=k, lambda_mult=float(lambda_mult))
        out = []
        for index in picked:
            hit = candidates[index]
            out.append(hit if include_vectors else _replace_vector(hit, None))
        return out


def maximal_marginal_relevance(
    query: npt.NDArray[np.float32], candidates: npt.NDArray[np.float32], *, k: int, lambda_mult: float
) -> list[int]:
    """Indices of ``k`` candidates chosen by MMR (unit-length vectors assumed).

    The first pick is the candidate most similar to the query; each next pick
    maximizes ``lambda_mult * sim(query, c) - (1 - lambda_mult) * max
    sim(c, picked)``. Ties go to the earlier (nearer) candidate.
    """
    if len(candidates) == 0:
        return []
    relevance = candidates @ query
    picked = [int(np.argmax(relevance))]
    redundancy = candidates @ candidates[picked[0]]
    while len(picked) < min(k, len(candidates)):
        score = lambda_mult * relevance - (1.0 - lambda_mult) * redundancy
        score[picked] = -np.inf
        best = int(np.argmax(score))
        picked.append(best)
        redundancy = np.maximum(redundancy, candidates @ candidates[best])
    return picked


def _replace_vector(hit: Hit, vector: npt.NDArray[np.float32] | None) -> Hit:
    return dataclasses.replace(hit, vector=vector)


def _hit(
    row: Sequence[Any],
    distance: float,
    vector: npt.NDArray[np.float32] | None,
    *,
    score: float | None = None,
    similarity: float | None = None,
) -> Hit:
    _pk, record_id, text, metadata, doc_id, extra = row[:6]
    return Hit(
        id=record_id,
        text=text,
        metadata=json.loads(metadata),
        distance=distance,
        similarity=1.0 - distance if similarity is None else similarity,
        doc_id=doc_id,
        extra=None if extra is None else json.loads(extra),
        vector=vector,
        score=score,
    )


def _scored(hit: Hit, score: float) -> Hit:
    """A hybrid hit: ``similarity`` and ``score`` are the fused score, ``distance`` its complement."""
    return dataclasses.replace(hit, similarity=score, distance=1.0 - score, score=score)


#: How SQLite's messages about a bad FTS5 query begin (``no such column``: a
#: column filter naming a column other than ``text``).
_FTS_QUERY_ERRORS = ("fts5:", "no such column:", "unknown special query", "expected integer")


def _is_fts_query_error(exc: BaseException) -> bool:
    message = str(exc).lower()
    if message.startswith(_FTS_QUERY_ERRORS):
        return True
    return not any(word in message for word in ("locked", "busy", "no such table", "disk", "corrupt"))


def _chunk_or_none(values: list[str] | None) -> Iterator[list[str] | None]:
    if values is None:
        yield None
        return
    if not values:
        yield []
        return
    yield from chunks(values, WRITE_CHUNK_SIZE)
