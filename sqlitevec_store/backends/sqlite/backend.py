"""The SQLite implementation of :class:`~sqlitevec_store.backends.base.StorageBackend`.

Owns one connection (opened here, or passed in), the lock that serializes it
between threads, transactions, fork safety, and caches of what is cheap to
know again: checked registry entries (per change token), verified table
shapes, the last compiled filter. The SQL itself is in :mod:`.ddl` and
:mod:`.statements`; per-collection work in :mod:`.rows`, :mod:`.catalog`,
:mod:`.vec0`.
"""

from __future__ import annotations

import contextlib
import os
import threading
import weakref
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ...errors import (
    DatabaseError,
    InvalidInputError,
    InvalidInputTypeError,
    ReadOnlyError,
    SchemaError,
    SqliteVecStoreError,
)
from ...filters import Filter, LastCompiled
from ...options import IndexOptions
from ...records import CollectionInfo
from ...registry import RegistryRow
from ...validation import Batch
from ..base import ChangeState, ChangeToken, CollectionStats, ScoredRow, StoredRow, VectorRows
from . import catalog, ddl, keywords, ownership, rows, statements, vec0
from .app_state import SqliteAppState
from .connection import (
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
from .filter_sql import compile_filter
from .rows import CompiledFilter

__all__ = ["SqliteBackend"]

# Every open backend, so a forked child can (1) reset locks that another
# thread of the parent held at the moment of the fork (the child has no such
# thread, and would wait on them forever) and (2) close the connections it
# inherited. SQLite keeps its file-lock bookkeeping per process and fork copies
# it without the locks themselves: while an inherited connection stays open in
# the child, the child's own connections do not take the shared-memory lock,
# so the parent closing its connection would checkpoint and delete the WAL the
# child is still committing into (measured: 20 of 22 child commits lost).
# Closing the inherited copy in the child releases no lock of the parent's
# (POSIX locks belong to the process that took them) and fixes that.
_LIVE: weakref.WeakSet[SqliteBackend] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for backend in list(_LIVE):
        backend._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _rollback(conn: Connection, *sql: str) -> None:
    """Undo a failed transaction (or savepoint) while an error is propagating; never mask that error.

    SQLite rolls a transaction back by itself after some errors (a full disk, an
    I/O error, an interrupt): a ROLLBACK then fails with "cannot rollback - no
    transaction is active", which would hide the real error. So nothing is run
    when no transaction is open, and an error of the rollback itself is logged.
    """
    if not conn.in_transaction:
        return
    try:
        for statement in sql:
            conn.execute(statement)
    except database_errors() as exc:
        logger.warning("rollback failed after an error: %s", exc)


def _driver_error(exc: BaseException) -> BaseException | None:
    """The driver's error behind ``exc``: itself, or the cause of a package error translated from it."""
    if isinstance(exc, database_errors()):
        return exc
    if isinstance(exc, DatabaseError) and isinstance(exc.__cause__, database_errors()):
        return exc.__cause__
    return None


#: How SQLite's messages about a bad FTS5 query begin (``no such column``: a
#: column filter naming a column other than ``text``).
_FTS_QUERY_ERRORS = ("fts5:", "no such column:", "unknown special query", "expected integer")


def _is_fts_query_error(exc: BaseException) -> bool:
    message = str(exc).lower()
    if message.startswith(_FTS_QUERY_ERRORS):
        return True
    return not any(word in message for word in ("locked", "busy", "no such table", "disk", "corrupt"))


class SqliteBackend:
    """SQLite + sqlite-vec + FTS5 storage for every collection of one file.

    Args:
        database: A file path, ``":memory:"``, or an open ``sqlite3`` /
            ``sqlean`` connection (used as is, sqlite-vec loaded into it, never closed here).
        busy_timeout_ms: How long a write waits for another connection's lock.
        read_only: Open the file read-only.

    """

    def __init__(self, database: str | Path | Any, *, busy_timeout_ms: int, read_only: bool) -> None:
        """Open or adopt the connection and check the registry table."""
        self._lock = threading.RLock()
        self._busy_timeout_ms = busy_timeout_ms
        self._read_only = read_only
        self._savepoints = 0
        self._closed = False
        # Bumped whenever the connection is replaced, so cached state checks the file again.
        self._serial = 0
        # True while snapshot() holds a read transaction it began itself (committed state only).
        self._clean_read = False
        self._snapshot_token: ChangeToken | None = None
        # Checked registry entries by lower-case name, valid while the change token stays the same.
        self._infos: dict[str, CollectionInfo | None] = {}
        self._infos_token: ChangeToken | None = None
        # Registry entries (lower-case name, dimension, schema version) whose tables were checked.
        self._verified: set[tuple[str, int | None, int]] = set()
        self._compile = LastCompiled(lambda tree: CompiledFilter(*compile_filter(tree, "metadata")))
        self._app_state = SqliteAppState(self)
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
        _LIVE.add(self)
        try:
            with self.session() as conn:
                catalog.check_registry(conn, self.path)
                # Use WAL for new files and files this package already uses; a file made for
                # other purposes keeps its journal mode (switching rewrites the header).
                if self._is_file and not read_only and self._owns_connection and self._ours_or_empty(conn):
                    enable_wal(conn)
        except BaseException:
            if self._owns_connection:
                self._conn.close()
            raise

    def _ours_or_empty(self, conn: Connection) -> bool:
        if catalog.registry_exists(conn, self.path):
            return True
        return int(conn.execute(statements.table_count_sql()).fetchone()[0]) == 0

    @property
    def _is_file(self) -> bool:
        return self.path not in (None, ":memory:", "")

    def _after_fork(self) -> None:
        self._lock = threading.RLock()
        self._savepoints = 0
        if self._owns_connection and self._is_file and not self._closed:
            with contextlib.suppress(Exception):
                self._conn.close()

    # -- connection and transactions ----------------------------------------

    @property
    def connection(self) -> Connection:
        """The live connection (reopened after ``fork`` for file databases)."""
        if self._closed:
            raise SqliteVecStoreError("This database is closed")
        if self._pid != os.getpid() and self._owns_connection and self._is_file:
            assert self.path is not None
            self._conn = open_connection(self.path, busy_timeout_ms=self._busy_timeout_ms, read_only=self._read_only)
            self._pid = os.getpid()
            self._serial += 1
        return self._conn

    @property
    def app_state(self) -> SqliteAppState:
        """The key-value space and record-key log in this file."""
        return self._app_state

    @property
    def searches_in_engine(self) -> bool:
        """``False``: ``flat`` and ``rescore`` search a RAM copy; only ``vec0`` runs in SQLite."""
        return False

    @property
    def read_only(self) -> bool:
        """Whether the file was opened read-only."""
        return self._read_only

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def describe(self) -> str:
        """``driver=..., SQLite x.y.z`` for ``repr``."""
        driver = driver_for(self._conn)
        return f"driver={driver.__name__}, SQLite {driver.sqlite_version}"

    def close(self) -> None:
        """Close the connection if this backend opened it. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._owns_connection and self._pid == os.getpid():
                self._conn.close()

    @contextmanager
    def session(self) -> Iterator[Connection]:
        """Hold the lock and yield the connection; a driver error escaping is raised as a ``DatabaseError``."""
        with self._lock, translated_driver_errors(self.path):
            yield self.connection

    @contextmanager
    def atomic(self) -> Iterator[Connection]:
        """A write transaction: ``BEGIN IMMEDIATE`` ... ``COMMIT``, or a savepoint when nested."""
        if self._read_only:
            raise ReadOnlyError(f"{self.path} was opened read-only; open it without read_only=True to write")
        with self.session() as conn:
            if not conn.in_transaction:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield conn
                except BaseException as exc:
                    cause = _driver_error(exc)
                    if cause is not None and not conn.in_transaction:
                        # SQLite rolled back by itself: say so, and never mask the error.
                        raise translate_driver_error(cause, self.path, rolled_back=True) from cause
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
                self._snapshot_token = None
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
        with self.session() as conn:
            if conn.in_transaction:
                yield conn
                return
            conn.execute("BEGIN")
            self._clean_read = True
            try:
                yield conn
            finally:
                self._clean_read = False
                self._snapshot_token = None
                if conn.in_transaction:  # SQLite may have ended it after an I/O error
                    conn.execute("COMMIT")

    def sees_committed_state(self) -> bool:
        """Whether the connection reads only committed data: no write transaction is open."""
        return not self.connection.in_transaction or self._clean_read

    # -- registry ---------------------------------------------------------------

    def collection_info(self, name: str) -> CollectionInfo | None:
        """The checked entry of ``name``; re-read only when the change token moved (or inside a write)."""
        with self.session() as conn:
            token = self.change_token() if self.sees_committed_state() else None
            if token is None or token != self._infos_token:
                self._infos = {}
                self._infos_token = token
            key = name.lower()
            if token is not None and key in self._infos:
                return self._infos[key]
            with self.snapshot():  # the row and the tables it names, read in one state of the file
                row = catalog.registry_row(conn, name, self.path)
                info = None if row is None else self._checked(conn, row)
            if token is not None:
                self._infos[key] = info
            return info

    def _checked(self, conn: Connection, row: RegistryRow) -> CollectionInfo:
        """A registry row checked: its values (every read) and its tables (once per state of the row)."""
        info = catalog.check_info(row)
        key = (info.name.lower(), info.dimension, info.schema_version)
        if key not in self._verified:
            ownership.check_collection_tables(conn, info)
            self._verified.add(key)
        return info

    def collections(self) -> list[CollectionInfo]:
        """Every entry, values checked (tables not: a damaged collection is listed)."""
        with self.session() as conn:
            return [catalog.check_info(row) for row in catalog.registry_rows(conn, self.path)]

    def create_collection(self, name: str, dimension: int | None, model_id: str | None) -> None:
        """Inside :meth:`atomic`: register ``name`` and create its tables."""
        with self.session() as conn:
            catalog.create(conn, name, dimension, model_id)

    def drop_collection(self, name: str) -> bool:
        """Drop ``name``'s tables (only ours) and registry entry, in one transaction."""
        with self.atomic() as conn:
            registered = catalog.drop(conn, name, self.path)
        if registered is None:
            return False
        self._verified = {key for key in self._verified if key[0] != registered.lower()}
        return True

    def set_dimension(self, info: CollectionInfo, dimension: int, incoming: int) -> None:
        """Inside :meth:`atomic`: fix the dimension on first write (or check it)."""
        with self.session() as conn:
            catalog.set_dimension(conn, info, dimension, incoming)

    def set_model_id(self, info: CollectionInfo, model_id: str) -> None:
        """Inside :meth:`atomic`: record the model id."""
        with self.session() as conn:
            catalog.set_model_id(conn, info, model_id)

    def migrate(self, *, strict: bool) -> list[str]:
        """Bring each collection of an older schema version up to date, each in its own transaction."""
        migrated: list[str] = []
        with self.session() as conn:
            for name in catalog.stale_collections(conn, self.path, strict=strict):
                try:
                    with self.atomic() as write:
                        if catalog.migrate_one(write, name):
                            migrated.append(name)
                except DatabaseError as exc:  # atomic() raises SQLite's errors as DatabaseError
                    if strict:
                        raise SchemaError(f"Cannot migrate collection {name!r}: {exc}") from exc.__cause__
                    logger.warning("collection %r not migrated: %s", name, exc)
        return migrated

    def missing_storage(self, exc: BaseException) -> bool:
        """Whether ``exc`` says a collection's table is gone (it was dropped meanwhile)."""
        return "no such table" in str(exc)

    def enable_wal(self) -> None:
        """Switch the file to WAL journaling."""
        with self.session() as conn:
            enable_wal(conn)

    # -- filters ----------------------------------------------------------------

    def _compiled(self, filter: Filter | None) -> CompiledFilter | None:
        """The filter compiled for the records table (the last one is kept: hybrid search asks twice)."""
        return self._compile(filter)

    def check_filter(self, filter: Filter) -> None:
        """Raise now if this backend cannot run ``filter`` (compiling it, kept for the calls that follow)."""
        self._compiled(filter)

    # -- writes -----------------------------------------------------------------

    def write(self, info: CollectionInfo, batches: Iterable[Batch]) -> list[str]:
        """Inside :meth:`atomic`: upsert the batches (of the registry's dimension)."""
        assert info.dimension is not None
        with self.session() as conn:
            return rows.write(conn, info, info.dimension, batches)

    def delete(
        self, info: CollectionInfo, *, ids: Sequence[str] | None, doc_ids: Sequence[str] | None, filter: Filter | None
    ) -> int:
        """Delete the records meeting every condition, in one transaction."""
        where = rows.where_clause(ids, doc_ids, self._compiled(filter))
        with self.atomic() as conn:
            return rows.delete_where(conn, info, where)

    def clear(self, info: CollectionInfo) -> int:
        """Delete every record."""
        with self.atomic() as conn:
            return rows.delete_where(conn, info, rows.where_clause(None, None, None))

    # -- reads ------------------------------------------------------------------

    def count(self, info: CollectionInfo, filter: Filter | None) -> int:
        """How many records match."""
        with self.session() as conn:
            return rows.count(
                conn, ddl.CollectionTables(info.name), rows.where_clause(None, None, self._compiled(filter))
            )

    def select(
        self,
        info: CollectionInfo,
        *,
        ids: Sequence[str] | None = None,
        doc_ids: Sequence[str] | None = None,
        filter: Filter | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[StoredRow]:
        """Records meeting every condition, in pk order."""
        where = rows.where_clause(ids, doc_ids, self._compiled(filter))
        with self.session() as conn:
            return rows.select(conn, ddl.CollectionTables(info.name), where, limit, offset)

    def page(self, info: CollectionInfo, after_pk: int, limit: int) -> list[StoredRow]:
        """Up to ``limit`` records with pk > ``after_pk``, in pk order (keyset paging: O(limit) per call)."""
        with self.session() as conn:
            return rows.page(conn, ddl.CollectionTables(info.name), after_pk, limit)

    def rows(self, info: CollectionInfo, pks: Sequence[int]) -> dict[int, StoredRow]:
        """Records by pk."""
        with self.session() as conn:
            return rows.rows_by_pk(conn, ddl.CollectionTables(info.name), pks)

    def vectors(self, info: CollectionInfo, pks: Sequence[int]) -> dict[int, npt.NDArray[np.float32]]:
        """Stored vectors by pk."""
        if not pks or info.dimension is None:
            return {}
        with self.session() as conn:
            return vec0.vectors_by_pk(conn, ddl.CollectionTables(info.name), pks)

    # -- search -----------------------------------------------------------------

    def knn(
        self,
        info: CollectionInfo,
        query: npt.NDArray[np.float32],
        k: int,
        filter: Filter | None,
        include_vectors: bool,
        *,
        options: IndexOptions | None = None,
    ) -> list[ScoredRow]:
        """Exact filtered KNN: sqlite-vec's up to its cap, an exact scan above it (``options`` change nothing here)."""
        compiled = self._compiled(filter)
        tables = ddl.CollectionTables(info.name)
        if k > ddl.VEC0_MAX_K:
            with self.snapshot() as conn:
                return rows.scan(conn, tables, query, k, compiled, include_vectors=include_vectors)
        with self.session() as conn:
            return rows.knn(conn, tables, query, k, compiled, include_vectors=include_vectors)

    def matching(self, info: CollectionInfo, filter: Filter) -> npt.NDArray[np.int64]:
        """Every pk the filter matches."""
        compiled = self._compiled(filter)
        assert compiled is not None
        with self.session() as conn:
            return rows.matching(conn, ddl.CollectionTables(info.name), compiled)

    def matching_among(self, info: CollectionInfo, filter: Filter, pks: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """The pks among ``pks`` the filter matches."""
        compiled = self._compiled(filter)
        assert compiled is not None
        with self.session() as conn:
            return rows.matching_among(conn, ddl.CollectionTables(info.name), compiled, pks)

    def keyword_query(self, text: str, *, raw: bool) -> str | None:
        """The FTS5 query for ``text`` (``None``: nothing to search); a raw one is checked against the limits."""
        if raw:
            keywords.check_raw_keyword_query(text)
            return text if text.strip() else None
        return keywords.keyword_match_expression(text)

    def keyword_search(
        self, info: CollectionInfo, match: str, k: int, filter: Filter | None, *, raw: bool
    ) -> list[ScoredRow]:
        """BM25 top-``k`` of an FTS5 query from :meth:`keyword_query`; a bad raw query is an InvalidInputError."""
        compiled = self._compiled(filter)
        with self.session() as conn:
            try:
                return rows.keyword(conn, ddl.CollectionTables(info.name), match, k, compiled)
            except database_errors() as exc:
                if raw and _is_fts_query_error(exc):
                    raise InvalidInputError(f"Invalid FTS5 query {match!r}: {exc}") from exc
                raise

    def ensure_keyword_index(self, info: CollectionInfo) -> None:
        """Build the keyword index of a collection written before it existed, or say why it cannot."""
        if info.schema_version >= ddl.KEYWORD_INDEX_VERSION:
            return
        if self._read_only:
            raise SchemaError(
                f"Collection {info.name!r} was written by an older sqlitevec-store (schema version "
                f"{info.schema_version}) and has no keyword index yet. Open the file once without "
                "read_only=True to build it; vector search works meanwhile."
            )
        self.migrate(strict=True)

    # -- change feed ------------------------------------------------------------

    def change_token(self) -> ChangeToken:
        """Connection serial, ``data_version`` (others' commits) and ``total_changes`` (this connection's writes).

        Inside a read transaction of :meth:`snapshot` nothing can move it, so it is read once per snapshot.
        """
        if self._clean_read and self._snapshot_token is not None:
            return self._snapshot_token
        with self.session() as conn:
            token = ChangeToken(
                self._serial,
                id(conn),
                int(conn.execute(statements.data_version_sql()).fetchone()[0]),
                int(conn.total_changes),
            )
        if self._clean_read:
            self._snapshot_token = token
        return token

    def change_state(self, info: CollectionInfo) -> ChangeState:
        """The change log's epoch and oldest/newest sequence (``epoch`` None before schema version 3)."""
        if info.schema_version < ddl.CHANGE_LOG_VERSION:
            return ChangeState(None, 0, 0)
        with self.session() as conn:
            epoch, oldest, newest = conn.execute(
                statements.changes_state_sql(ddl.CollectionTables(info.name))
            ).fetchone()
        return ChangeState(epoch, oldest, newest)

    def changed_since(self, info: CollectionInfo, seq: int, max_pk: int) -> set[int]:
        """Pks updated or deleted after ``seq``, and pks inserted above ``max_pk``."""
        tables = ddl.CollectionTables(info.name)
        with self.session() as conn:
            touched = {row[0] for row in conn.execute(statements.changed_pks_sql(tables), (seq,))}
            touched.update(row[0] for row in conn.execute(statements.pks_above_sql(tables), (max_pk,)))
        return touched

    def all_vectors(self, info: CollectionInfo) -> VectorRows:
        """Every vector: from vec0's chunks when their layout is known, else row by row."""
        dimension = info.dimension
        assert dimension is not None
        tables = ddl.CollectionTables(info.name)
        with self.session() as conn:
            expected = rows.count(conn, tables, rows.where_clause(None, None, None))
            loaded = vec0.read_vec0_chunks(conn, tables, dimension, expected)
            pks, matrix = loaded if loaded is not None else vec0.read_vectors(conn, tables, dimension, expected)
            max_pk = int(conn.execute(statements.max_pk_sql(tables)).fetchone()[0])
        return VectorRows(pks, matrix, max_pk)

    # -- maintenance ------------------------------------------------------------

    def stats(self, info: CollectionInfo) -> CollectionStats:
        """Record count and vector slots sqlite-vec allocated."""
        tables = ddl.CollectionTables(info.name)
        with self.session() as conn:
            count = rows.count(conn, tables, rows.where_clause(None, None, None))
            slots = int(conn.execute(statements.vec_slots_sql(tables)).fetchone()[0]) if info.dimension else 0
        return CollectionStats(count, slots)

    def compact(self, info: CollectionInfo) -> None:
        """Rebuild the vector table with the chunk size that fits; merge the keyword index's segments."""
        assert info.dimension is not None
        tables = ddl.CollectionTables(info.name)
        with self.atomic() as conn:
            count = rows.count(conn, tables, rows.where_clause(None, None, None))
            vec0.rebuild_vector_table(conn, tables, info.dimension, ddl.vec0_chunk_size_for(count))
            if info.schema_version >= ddl.KEYWORD_INDEX_VERSION:
                # The keyword index keeps its rows (compaction moves no record); merge its segments.
                conn.execute(ddl.fts_command_sql(tables, "optimize"))

    def slots_needed(self, count: int) -> int:
        """Vector slots ``count`` vectors take in a freshly built table."""
        chunk_size = ddl.vec0_chunk_size_for(count)
        return -(-count // chunk_size) * chunk_size

    def vacuum(self) -> None:
        """``VACUUM`` (refused inside a transaction)."""
        with self.session() as conn:
            if conn.in_transaction:
                raise SqliteVecStoreError("Cannot VACUUM inside a transaction")
            conn.execute("VACUUM")

    def file_stats(self) -> dict[str, int]:
        """The file's ``page_size``, ``page_count``, ``free_pages`` and ``size_bytes``."""
        with self.session() as conn:
            page_size, page_count, free = (int(conn.execute(sql).fetchone()[0]) for sql in statements.page_stats_sql())
        return {
            "page_size": page_size,
            "page_count": page_count,
            "free_pages": free,
            "size_bytes": page_size * page_count,
        }
