"""The Postgres + pgvector implementation of :class:`~sqlitevec_store.backends.base.StorageBackend`.

One :class:`PostgresBackend` owns a psycopg connection pool. Each thread
takes a connection from the pool for the length of a call (or of the
``atomic``/``snapshot`` block around several calls), so threads run in
parallel, each in its own transaction; a forked child opens a pool of its
own. Searches run in the database (no RAM copy of the vectors):

* exact: a sequential scan ordering by pgvector's cosine distance ``<=>``
  (``index_type`` ``"flat"`` or ``"vec0"``);
* approximate: pgvector's HNSW index (``"hnsw"``, and ``"rescore"`` so an app
  moved from a file runs unchanged), built by the first such search.

A filtered search stays exact in the sense of the core's promise: never
short. HNSW applies a ``WHERE`` after its graph walk, so a rare filter
could leave fewer than ``k`` rows; the backend measures the filter's share
of the rows (cached per filter) and either scans the matching rows exactly
or walks HNSW with ``ef_search`` widened to expect ``2k`` matches, and falls
back to the exact scan whenever the walk comes back short.
"""

from __future__ import annotations

import itertools
import logging
import math
import os
import re
import threading
import time
import weakref
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import numpy.typing as npt

from ...errors import (
    DatabaseError,
    DimensionMismatchError,
    InvalidInputError,
    ReadOnlyError,
    SchemaError,
    SqliteVecStoreError,
)
from ...filters import Filter
from ...options import MAX_EF_SEARCH, IndexOptions
from ...records import CollectionInfo
from ...registry import RegistryRow, info_from_row
from ...validation import Batch
from ..base import ChangeState, ChangeToken, CollectionStats, ScoredRow, StoredRow, VectorRows
from . import ddl, statements
from .connection import (
    driver_errors,
    import_psycopg,
    libpq_url,
    new_pool,
    redacted_url,
    translated_driver_errors,
)
from .filter_sql import compile_filter
from .statements import Where

__all__ = ["DEFAULT_EF_SEARCH", "DEFAULT_POOL_SIZE", "MAX_EF_SEARCH", "PostgresBackend"]

logger = logging.getLogger("sqlitevec_store")

#: Connections the pool keeps at most (threads beyond it wait for one).
DEFAULT_POOL_SIZE = 8

#: pgvector's default ``hnsw.ef_search``; a search of ``k`` uses at least ``k``.
DEFAULT_EF_SEARCH = 40

#: HNSW build parameters (pgvector's defaults).
HNSW_M = 16
HNSW_EF_CONSTRUCTION = 64

#: A filter's measured share of the rows is trusted this long (seconds) before it is measured again.
SHARE_TTL = 300.0

#: Filters whose share is remembered, per backend.
SHARE_CACHE_SIZE = 256

#: Words taken from a plain keyword query at most (as in the file).
MAX_QUERY_TERMS = 128

#: A raw keyword query's largest length in characters (as in the file).
MAX_RAW_QUERY_LENGTH = 10_000

_WORD = re.compile(r"\w+")
#: Words of a raw (web-search) query that are operators, not terms.
_RAW_OPERATORS = frozenset({"or", "and", "not"})
# A JSON text's escaped NUL (\u0000 preceded by an even number of backslashes): Postgres cannot store it.
_JSON_NUL = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")

# Pools of a parent process, kept referenced in a forked child so they are never closed there
# (closing would end the parent's sessions on the server).
_ABANDONED: list[Any] = []


class _ThreadState(threading.local):
    """The connection a thread holds and the transaction it has open on it."""

    conn: Any = None
    tx: str | None = None  # "write" (atomic) or "read" (snapshot)
    savepoints: int = 0


def _refuse_nul(batch: Batch) -> None:
    """Postgres stores no NUL character in text or jsonb: refuse such a batch before it is sent."""
    rows = batch.rows
    joined = "".join(value for row in rows for value in (row.id, row.text, row.doc_id or ""))
    jsons = "\n".join(value for row in rows for value in (row.metadata, row.extra) if value is not None)
    if "\x00" not in joined and _JSON_NUL.search(jsons) is None:
        return  # the common case, checked in two passes over the batch's joined text
    for row in rows:
        texts = (row.id, row.text, row.doc_id or "")
        if any("\x00" in value for value in texts) or any(
            value is not None and _JSON_NUL.search(value) for value in (row.metadata, row.extra)
        ):
            raise InvalidInputError(
                f"Record {row.id!r} holds a NUL character (\\x00) in its id, text, doc id or metadata; "
                "Postgres cannot store it in text or jsonb. Remove it (a file database accepts it)."
            )


class PostgresBackend:
    """Postgres + pgvector storage for every collection of one schema.

    Args:
        url: A ``postgresql://`` URL (libpq's; ``options=-csearch_path=...`` picks the schema).
        read_only: Refuse writes (the connections are read-only on the server too).
        pool_size: Connections kept at most.

    Raises:
        MissingDependencyError: psycopg is not installed (the ``postgres`` extra).
        DatabaseError: The server cannot be reached, or pgvector cannot be installed.
        SchemaError: The registry table exists but was not written by this package.

    """

    def __init__(self, url: str, *, read_only: bool, pool_size: int = DEFAULT_POOL_SIZE) -> None:
        """Connect, install pgvector and the registry if missing, and open the pool."""
        self._psycopg = import_psycopg()
        self._url = libpq_url(url)
        self.path: str | None = redacted_url(url)
        self._read_only = read_only
        self._pool_size = pool_size
        self._closed = False
        self._state = _ThreadState()
        self._tokens = itertools.count(1)
        self._tables: dict[str, int] = {}
        self._hnsw_ready: set[int] = set()
        self._keyword_ready: set[int] = set()
        self._shares: dict[tuple[int, Filter], tuple[int, int, float]] = {}
        self._last_filter: tuple[Filter, Where] | None = None
        # The hnsw.ef_search each pooled connection was last given (session level), so it is set only on change.
        self._ef_of: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()
        self._versions = self._set_up()
        self._pid = os.getpid()
        self._pool = self._new_pool()

    # -- connections -------------------------------------------------------------

    def _set_up(self) -> str:
        """Create pgvector and the registry when writable, check the registry; the server's versions."""
        psycopg = self._psycopg
        with translated_driver_errors(self.path), psycopg.connect(self._url, autocommit=True) as conn:
            if not self._read_only:
                with conn.transaction():
                    conn.execute("SELECT pg_advisory_xact_lock(%s)", (ddl.REGISTRY_LOCK_KEY,))
                    if conn.execute("SELECT 1 FROM pg_type WHERE typname = 'vector'").fetchone() is None:
                        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
                    self._check_registry(conn)
                    for statement in ddl.create_registry_sql():
                        conn.execute(statement)
            else:
                self._check_registry(conn)
            server = conn.execute("SELECT current_setting('server_version')").fetchone()[0]
            row = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()
        return f"Postgres {server}, pgvector {row[0] if row else 'missing'}"

    def _check_registry(self, conn: Any) -> None:
        columns = tuple(row[0] for row in conn.execute(ddl.registry_columns_sql(), (ddl.REGISTRY_TABLE,)))
        if columns and sorted(columns) != sorted(ddl.REGISTRY_COLUMNS):
            raise SchemaError(
                f"The table {ddl.REGISTRY_TABLE!r} was not written by sqlitevec-store "
                f"(columns {columns}); refusing to use this database"
            )

    def _new_pool(self) -> Any:
        return new_pool(self._url, read_only=self._read_only, size=self._pool_size)

    def _pool_here(self) -> Any:
        """The pool of this process (a forked child makes its own and never touches the parent's)."""
        if self._pid != os.getpid():
            _ABANDONED.append(self._pool)
            self._state = _ThreadState()
            self._pid = os.getpid()
            self._pool = self._new_pool()
        return self._pool

    @property
    def connection(self) -> Any:
        """The psycopg ``ConnectionPool`` (``with db.backend.connection.connection() as conn: ...``)."""
        if self._closed:
            raise SqliteVecStoreError("This database is closed")
        return self._pool_here()

    @property
    def read_only(self) -> bool:
        """Whether writes are refused."""
        return self._read_only

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    @property
    def searches_in_engine(self) -> bool:
        """Searches run in Postgres (no RAM copy of the vectors)."""
        return True

    def describe(self) -> str:
        """``Postgres x.y, pgvector a.b.c`` for ``repr``."""
        return self._versions

    def close(self) -> None:
        """Close the pool (in the process that opened it). Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._pid == os.getpid():
            self._pool.close()

    @contextmanager
    def session(self) -> Iterator[Any]:
        """This thread's connection (taken from the pool for the outermost block); driver errors translated."""
        if self._closed:
            raise SqliteVecStoreError("This database is closed")
        pool = self._pool_here()
        state = self._state
        if state.conn is not None:
            with translated_driver_errors(self.path):
                yield state.conn
            return
        with translated_driver_errors(self.path), pool.connection() as conn:
            state.conn = conn
            try:
                yield conn
            finally:
                state.conn = None
                state.tx = None
                state.savepoints = 0

    @contextmanager
    def atomic(self) -> Iterator[Any]:
        """A write transaction (``BEGIN`` ... ``COMMIT``), or a savepoint when nested; rolled back on any error."""
        if self._read_only:
            raise ReadOnlyError(f"{self.path} was opened read-only; open it without read_only=True to write")
        with self.session() as conn:
            state = self._state
            if state.tx is None:
                conn.execute("BEGIN")
                state.tx = "write"
                try:
                    yield conn
                except BaseException:
                    state.tx = None
                    self._rollback(conn, "ROLLBACK")
                    raise
                state.tx = None
                conn.execute("COMMIT")
                return
            state.savepoints += 1
            name = f"svs_sp_{state.savepoints}"
            conn.execute(f"SAVEPOINT {name}")
            try:
                yield conn
            except BaseException:
                self._rollback(conn, f"ROLLBACK TO SAVEPOINT {name}", f"RELEASE SAVEPOINT {name}")
                raise
            finally:
                state.savepoints -= 1
            conn.execute(f"RELEASE SAVEPOINT {name}")

    def _rollback(self, conn: Any, *sql: str) -> None:
        """Undo while an error propagates; an error of the rollback itself (a lost connection) is only logged."""
        try:
            for statement in sql:
                conn.execute(statement)
        except driver_errors() as exc:
            logger.warning("rollback failed after an error: %s", exc)

    @contextmanager
    def snapshot(self) -> Iterator[Any]:
        """A ``REPEATABLE READ`` transaction, so several statements see one state (joins an open one)."""
        with self.session() as conn:
            state = self._state
            if state.tx is not None:
                yield conn
                return
            conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
            state.tx = "read"
            try:
                yield conn
            except BaseException:
                state.tx = None
                self._rollback(conn, "ROLLBACK")
                raise
            state.tx = None
            conn.execute("COMMIT")

    def sees_committed_state(self) -> bool:
        """Whether this thread has no write transaction open."""
        return self._state.tx != "write"

    # -- registry ---------------------------------------------------------------

    def _entry(self, conn: Any, name: str) -> CollectionInfo | None:
        row = conn.execute(ddl.registry_select_sql(one=True), (name,)).fetchone()
        if row is None:
            return None
        info = info_from_row(
            RegistryRow(*row[:6]), latest_version=ddl.SCHEMA_VERSION, max_dimension=ddl.VECTOR_MAX_DIMENSION
        )
        self._tables[info.name.lower()] = int(row[6])
        return info

    def collection_info(self, name: str) -> CollectionInfo | None:
        """The checked registry entry of ``name`` (read each time: other processes may change it)."""
        with self.session() as conn:
            return self._entry(conn, name)

    def collections(self) -> list[CollectionInfo]:
        """Every entry, values checked, by name."""
        with self.session() as conn:
            rows = conn.execute(ddl.registry_select_sql(one=False)).fetchall()
        infos = []
        for row in rows:
            info = info_from_row(
                RegistryRow(*row[:6]), latest_version=ddl.SCHEMA_VERSION, max_dimension=ddl.VECTOR_MAX_DIMENSION
            )
            self._tables[info.name.lower()] = int(row[6])
            infos.append(info)
        return infos

    def _names(self, info: CollectionInfo) -> ddl.CollectionTable:
        table_id = self._tables.get(info.name.lower())
        if table_id is None:
            self.collection_info(info.name)
            table_id = self._tables.get(info.name.lower())
            if table_id is None:
                raise SchemaError(f"Collection {info.name!r} is not registered in this database")
        return ddl.CollectionTable(table_id)

    def _lock_registry(self, conn: Any) -> None:
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (ddl.REGISTRY_LOCK_KEY,))

    def create_collection(self, name: str, dimension: int | None, model_id: str | None) -> None:
        """Inside :meth:`atomic`: register ``name`` and create its table (nothing when another process just did)."""
        with self.atomic() as conn:
            self._lock_registry(conn)
            if self._entry(conn, name) is not None:
                return
            table_id = conn.execute(
                ddl.registry_insert_sql(), (name, dimension, model_id, ddl.SCHEMA_VERSION)
            ).fetchone()[0]
            for statement in ddl.create_table_sql(ddl.CollectionTable(table_id), dimension):
                conn.execute(statement)
            self._tables[name.lower()] = int(table_id)

    def drop_collection(self, name: str) -> bool:
        """Drop ``name``'s table and entry in one transaction; ``False`` when it does not exist."""
        with self.atomic() as conn:
            self._lock_registry(conn)
            row = conn.execute(ddl.registry_select_sql(one=True), (name,)).fetchone()
            if row is None:
                return False
            table_id = int(row[6])
            conn.execute(ddl.drop_table_sql(ddl.CollectionTable(table_id)))
            conn.execute(ddl.registry_delete_sql(), (table_id,))
        self._tables.pop(str(row[0]).lower(), None)
        self._hnsw_ready.discard(table_id)
        self._keyword_ready.discard(table_id)
        self._shares = {key: value for key, value in self._shares.items() if key[0] != table_id}
        return True

    def set_dimension(self, info: CollectionInfo, dimension: int, incoming: int) -> None:
        """Inside :meth:`atomic`: fix the dimension on first write (or check it)."""
        del incoming  # Postgres needs no sizing ahead
        with self.atomic() as conn:
            self._lock_registry(conn)
            current = self._entry(conn, info.name)
            if current is None:
                raise SchemaError(f"Collection {info.name!r} is not registered in this database")
            if current.dimension is not None:
                if current.dimension != dimension:
                    raise DimensionMismatchError(
                        f"Collection {info.name!r} holds {current.dimension}-dimensional vectors; "
                        f"got {dimension}-dimensional ones"
                    )
                return
            names = self._names(current)
            for statement in ddl.set_dimension_sql(names, dimension):
                conn.execute(statement)
            conn.execute(ddl.registry_update_sql("dimension"), (dimension, self._tables[info.name.lower()]))

    def set_model_id(self, info: CollectionInfo, model_id: str) -> None:
        """Inside :meth:`atomic`: record the model id."""
        with self.atomic() as conn:
            conn.execute(ddl.registry_update_sql("model_id"), (model_id, self._names(info).table_id))

    def migrate(self, *, strict: bool) -> list[str]:
        """Nothing to migrate yet: Postgres collections start at their layout's first version."""
        del strict
        return []

    def missing_storage(self, exc: BaseException) -> bool:
        """Whether ``exc`` says a collection's table is gone (dropped meanwhile)."""
        return getattr(exc.__cause__, "sqlstate", None) == "42P01"

    def enable_wal(self) -> None:
        """Nothing to do: Postgres always writes ahead."""

    # -- filters ----------------------------------------------------------------

    def _compiled(self, filter: Filter | None) -> Where | None:
        if filter is None:
            return None
        last = self._last_filter
        if last is not None and last[0] is filter:
            return last[1]
        sql, params = compile_filter(filter, "metadata")
        compiled = Where(sql, params)
        self._last_filter = (filter, compiled)
        return compiled

    def check_filter(self, filter: Filter) -> None:
        """Raise now if ``filter`` cannot run here (compiling it)."""
        self._compiled(filter)

    # -- writes -----------------------------------------------------------------

    def write(self, info: CollectionInfo, batches: Iterable[Batch]) -> list[str]:
        """Inside :meth:`atomic`: upsert the batches, each by a binary ``COPY``.

        A batch none of whose ids is stored goes straight into the table (in a
        savepoint: should another writer store one of its ids meanwhile, the
        unique index refuses the copy and the batch takes the other way);
        otherwise it is copied into a staging table and upserted from there
        (``ON CONFLICT``: a known id keeps its pk). Measured: the direct copy
        spares the staging table's write and read (benchmarks/README.md).
        """
        names = self._names(info)
        ids: list[str] = []
        staged = False
        with self.atomic() as conn:
            for batch in batches:
                _refuse_nul(batch)
                if not conn.execute(statements.any_stored_sql(names), {"ids": batch.ids}).fetchone()[0]:
                    try:
                        with self.atomic():
                            self._copy_new(conn, names, batch)
                        ids.extend(batch.ids)
                        continue
                    except DatabaseError as exc:  # rolled back to the savepoint
                        if not isinstance(exc.__cause__, self._psycopg.errors.UniqueViolation):
                            raise
                        # another writer stored one of these ids meanwhile: upsert them
                if not staged:
                    conn.execute(statements.create_stage_sql())
                    staged = True
                self._upsert_staged(conn, names, batch)
                ids.extend(batch.ids)
        return ids

    def _copy_new(self, conn: Any, names: ddl.CollectionTable, batch: Batch) -> None:
        """``COPY`` a batch of new records straight into the table."""
        vectors = batch.vectors
        assert vectors is not None
        jsonb = statements.jsonb_bytes
        with conn.cursor() as cursor, cursor.copy(statements.copy_table_sql(names)) as copy:
            copy.set_types(["text", "text", "bytea", "text", "text", "text", "vector"])
            for row, vector in zip(batch.rows, vectors, strict=True):
                copy.write_row((row.id, row.text, jsonb(row.metadata), row.metadata, row.doc_id, row.extra, vector))

    def _upsert_staged(self, conn: Any, names: ddl.CollectionTable, batch: Batch) -> None:
        """Copy a batch into the staging table, then upsert it from there in order."""
        vectors = batch.vectors
        assert vectors is not None
        with conn.cursor() as cursor, cursor.copy(statements.copy_stage_sql()) as copy:
            copy.set_types(["int8", "text", "text", "text", "text", "text", "vector"])
            for order, (row, vector) in enumerate(zip(batch.rows, vectors, strict=True)):
                copy.write_row((order, row.id, row.text, row.metadata, row.doc_id, row.extra, vector))
        conn.execute(statements.upsert_from_stage_sql(names))
        conn.execute(statements.clear_stage_sql())

    def delete(
        self, info: CollectionInfo, *, ids: Sequence[str] | None, doc_ids: Sequence[str] | None, filter: Filter | None
    ) -> int:
        """Delete the records meeting every condition, in one transaction."""
        condition = statements.where(_list(ids), _list(doc_ids), self._compiled(filter))
        with self.atomic() as conn:
            return int(conn.execute(statements.delete_sql(self._names(info), condition), condition.params).rowcount)

    def clear(self, info: CollectionInfo) -> int:
        """Delete every record."""
        return self.delete(info, ids=None, doc_ids=None, filter=None)

    # -- reads ------------------------------------------------------------------

    def count(self, info: CollectionInfo, filter: Filter | None) -> int:
        """How many records match."""
        condition = statements.where(None, None, self._compiled(filter))
        with self.session() as conn:
            return int(conn.execute(statements.count_sql(self._names(info), condition), condition.params).fetchone()[0])

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
        condition = statements.where(_list(ids), _list(doc_ids), self._compiled(filter))
        params = dict(condition.params, limit=limit, offset=offset)
        sql = statements.select_sql(self._names(info), condition, limited=limit is not None, offset=offset > 0)
        with self.session() as conn:
            return [StoredRow(*row) for row in conn.execute(sql, params)]

    def page(self, info: CollectionInfo, after_pk: int, limit: int) -> list[StoredRow]:
        """Up to ``limit`` records with pk above ``after_pk``, in pk order."""
        with self.session() as conn:
            rows = conn.execute(statements.page_sql(self._names(info)), {"after": after_pk, "limit": limit})
            return [StoredRow(*row) for row in rows]

    def rows(self, info: CollectionInfo, pks: Sequence[int]) -> dict[int, StoredRow]:
        """Records by pk."""
        if not pks:
            return {}
        with self.session() as conn:
            found = conn.execute(statements.rows_by_pk_sql(self._names(info)), {"pks": list(pks)})
            return {row[0]: StoredRow(*row) for row in found}

    def vectors(self, info: CollectionInfo, pks: Sequence[int]) -> dict[int, npt.NDArray[np.float32]]:
        """Stored unit vectors by pk."""
        if not pks or info.dimension is None:
            return {}
        with self.session() as conn:
            found = conn.execute(statements.vectors_by_pk_sql(self._names(info)), {"pks": list(pks)}, binary=True)
            return {int(pk): vector for pk, vector in found}

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
        """The ``k`` nearest matching rows: exact, or through HNSW when ``options`` ask for it, never short."""
        names = self._names(info)
        condition = statements.where(None, None, self._compiled(filter))
        approximate = options is not None and options.index_type in ("hnsw", "rescore") and k <= MAX_EF_SEARCH
        if approximate:
            assert options is not None and info.dimension is not None
            self._ensure_hnsw(info, names)
            approximate = names.table_id in self._hnsw_ready
        if approximate:
            assert options is not None
            with self.session() as conn:
                ef = self._ef_search(conn, names, filter, condition, k=k, options=options)
                for walk in () if ef is None else dict.fromkeys((ef, MAX_EF_SEARCH)):
                    found = self._hnsw(conn, names, condition, query, k=k, ef=walk, vectors=include_vectors)
                    if len(found) >= k:
                        return found
        joined = self._state.tx is not None  # a caller's transaction: its setting is put back after the scan
        with self.snapshot() as conn:
            was = conn.execute(statements.index_scan_setting_sql()).fetchone()[0] if joined else None
            conn.execute(statements.index_scans_sql(), {"value": "off"})  # no index may serve the exact ORDER BY
            found = self._scored(
                conn,
                statements.exact_knn_sql(names, condition, include_vectors=include_vectors),
                dict(condition.params, q=query, k=k),
                include_vectors,
            )
            if was is not None:
                conn.execute(statements.index_scans_sql(), {"value": was})
            return found

    def _hnsw(
        self, conn: Any, names: ddl.CollectionTable, condition: Where, query: Any, *, k: int, ef: int, vectors: bool
    ) -> list[ScoredRow]:
        """One HNSW walk with ``ef_search`` = ``ef`` (set on the connection only when it has another value)."""
        if self._state.tx is not None:  # inside a transaction: for it alone (a rollback would undo a session value)
            conn.execute(statements.set_ef_search_sql(local=True), {"ef": str(ef)})
        elif self._ef_of.get(conn) != ef:
            conn.execute(statements.set_ef_search_sql(local=False), {"ef": str(ef)})
            self._ef_of[conn] = ef
        sql = statements.hnsw_knn_sql(names, condition, include_vectors=vectors)
        return self._scored(conn, sql, dict(condition.params, q=query, k=k), vectors)

    def _scored(self, conn: Any, sql: str, params: dict[str, Any], vectors: bool) -> list[ScoredRow]:
        width = len(StoredRow._fields)
        out = []
        for row in conn.execute(sql, params, binary=True):
            vector = row[width + 1] if vectors else None
            out.append(ScoredRow(StoredRow(*row[:width]), max(float(row[width]), 0.0), vector))
        return out

    def _ef_search(
        self,
        conn: Any,
        names: ddl.CollectionTable,
        filter: Filter | None,
        condition: Where,
        *,
        k: int,
        options: IndexOptions,
    ) -> int | None:
        """``ef_search`` for an HNSW walk expected to hold ``2k`` matches, or ``None``: scan exactly instead."""
        ef = max(options.ef_search or DEFAULT_EF_SEARCH, k)
        if filter is None:
            return min(ef, MAX_EF_SEARCH)
        matches, total = self._share(conn, names, filter, condition)
        if matches <= k or total == 0:
            return None  # every match is in the result: the exact scan of them is the answer
        wanted = math.ceil(2 * k * total / matches)
        if wanted > MAX_EF_SEARCH:
            return None  # a rare filter: scanning its rows exactly is cheaper than a walk this wide
        return max(ef, wanted)

    def _share(self, conn: Any, names: ddl.CollectionTable, filter: Filter, condition: Where) -> tuple[int, int]:
        """How many rows the filter matches and how many have vectors (measured, then cached a while)."""
        key = (names.table_id, filter)
        cached = self._shares.get(key)
        now = time.monotonic()
        if cached is not None and now - cached[2] < SHARE_TTL:
            return cached[0], cached[1]
        matches, total = conn.execute(statements.share_sql(names, condition), condition.params).fetchone()
        if len(self._shares) >= SHARE_CACHE_SIZE:
            self._shares.pop(next(iter(self._shares)))
        self._shares[key] = (int(matches), int(total), now)
        return int(matches), int(total)

    def _ensure_hnsw(self, info: CollectionInfo, names: ddl.CollectionTable) -> None:
        """Build the collection's HNSW index if missing (read-only: search exactly instead)."""
        if names.table_id in self._hnsw_ready:
            return
        assert info.dimension is not None
        if info.dimension > ddl.HNSW_MAX_DIMENSION:
            raise InvalidInputError(
                f"Collection {info.name!r} holds {info.dimension}-dimensional vectors; pgvector's HNSW index "
                f"takes at most {ddl.HNSW_MAX_DIMENSION}. Use index_type='flat' (exact) for it."
            )
        with self.session() as conn:
            exists = conn.execute(statements.hnsw_exists_sql(), {"name": names.hnsw_name}).fetchone() is not None
        if not exists:
            if self._read_only:
                logger.warning(
                    "collection %r has no HNSW index and the database is read-only: searching exactly", info.name
                )
                return
            logger.info("building the HNSW index of collection %r (once; writes wait meanwhile)", info.name)
            with self.atomic() as conn:
                self._lock_registry(conn)
                conn.execute("SELECT set_config('maintenance_work_mem', '1GB', true)")
                conn.execute(ddl.create_hnsw_sql(names, HNSW_M, HNSW_EF_CONSTRUCTION))
        self._hnsw_ready.add(names.table_id)

    def matching(self, info: CollectionInfo, filter: Filter) -> npt.NDArray[np.int64]:
        """Every pk the filter matches."""
        condition = statements.where(None, None, self._compiled(filter))
        with self.session() as conn:
            rows = conn.execute(statements.matching_sql(self._names(info), condition, among=False), condition.params)
            return np.fromiter((row[0] for row in rows), dtype=np.int64)

    def matching_among(self, info: CollectionInfo, filter: Filter, pks: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """The pks among ``pks`` the filter matches."""
        condition = statements.where(None, None, self._compiled(filter))
        params = dict(condition.params, pks=[int(pk) for pk in pks])
        with self.session() as conn:
            rows = conn.execute(statements.matching_sql(self._names(info), condition, among=True), params)
            return np.fromiter((row[0] for row in rows), dtype=np.int64)

    def keyword_query(self, text: str, *, raw: bool) -> str | None:
        """The ``websearch_to_tsquery`` text for ``text``: its words ORed, or ``text`` itself when raw.

        A raw query is Postgres's web-search syntax: words are ANDed, ``or``
        between words, ``"quoted phrases"``, ``-word`` to exclude; it never
        raises a syntax error. At most :data:`MAX_RAW_QUERY_LENGTH` characters
        and :data:`MAX_QUERY_TERMS` words (``or`` not counted), as in the file.
        """
        if raw:
            if len(text) > MAX_RAW_QUERY_LENGTH:
                raise InvalidInputError(
                    f"Raw keyword queries may be at most {MAX_RAW_QUERY_LENGTH} characters long, got {len(text)}"
                )
            terms = sum(1 for word in _WORD.findall(text) if word.lower() not in _RAW_OPERATORS)
            if terms > MAX_QUERY_TERMS:
                raise InvalidInputError(f"Raw keyword queries may hold at most {MAX_QUERY_TERMS} terms, got {terms}")
            return text if _WORD.search(text) else None
        words = list(dict.fromkeys(word.lower() for word in _WORD.findall(text)))[:MAX_QUERY_TERMS]
        return " or ".join(words) if words else None

    def keyword_search(
        self, info: CollectionInfo, match: str, k: int, filter: Filter | None, *, raw: bool
    ) -> list[ScoredRow]:
        """The ``k`` best ``ts_rank_cd`` matches of a :meth:`keyword_query` result (score: higher is better)."""
        del raw  # both kinds are web-search syntax by now
        condition = statements.where(None, None, self._compiled(filter))
        names = self._names(info)
        sql = statements.keyword_sql(names, condition, indexed=names.table_id in self._keyword_ready)
        params = dict(condition.params, query=match, k=k)
        width = len(StoredRow._fields)
        with self.session() as conn:
            rows = conn.execute(sql, params).fetchall()
        return [ScoredRow(StoredRow(*row[:width]), float(row[width])) for row in rows]

    def ensure_keyword_index(self, info: CollectionInfo) -> None:
        """Add the keyword index (``tsv`` and its GIN index) if missing; read-only: search without it."""
        names = self._names(info)
        if names.table_id in self._keyword_ready:
            return
        # Inside a caller's transaction an index may be its own, undone by a rollback: trusted once committed.
        outer = self._state.tx is not None
        with self.session() as conn:
            exists = conn.execute(statements.index_exists_sql(), {"name": names.tsv_name}).fetchone() is not None
        if not exists:
            if self._read_only:
                logger.warning(
                    "collection %r has no keyword index and the database is read-only: each keyword search scans "
                    "every row (one keyword search from a writable opening builds the index)",
                    info.name,
                )
                return
            logger.info("building the keyword index of collection %r (once; writes wait meanwhile)", info.name)
            with self.atomic() as conn:
                self._lock_registry(conn)
                conn.execute("SELECT set_config('maintenance_work_mem', '1GB', true)")
                for statement in ddl.keyword_index_sql(names):
                    conn.execute(statement)
        if not outer:
            self._keyword_ready.add(names.table_id)

    # -- change feed (no RAM copy here: every token is new, every copy reloads) --

    def change_token(self) -> ChangeToken:
        """A token that never repeats: Postgres offers no cheap "did anything change"."""
        return ChangeToken(next(self._tokens), 0, 0, 0)

    def change_state(self, info: CollectionInfo) -> ChangeState:
        """No change log: a RAM copy of a Postgres collection always reloads in full."""
        return ChangeState(None, 0, 0)

    def changed_since(self, info: CollectionInfo, seq: int, max_pk: int) -> set[int]:
        """Without a log every pk may have changed: all of them."""
        with self.session() as conn:
            return {
                int(row[0])
                for row in conn.execute(statements.matching_sql(self._names(info), Where("TRUE", {}), among=False))
            }

    def all_vectors(self, info: CollectionInfo) -> VectorRows:
        """Every vector, in pk order."""
        dimension = info.dimension
        assert dimension is not None
        names = self._names(info)
        with self.snapshot() as conn:
            rows = conn.execute(statements.all_vectors_sql(names), binary=True).fetchall()
            max_pk = int(conn.execute(statements.max_pk_sql(names)).fetchone()[0])
        pks = np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))
        matrix = np.vstack([row[1] for row in rows]) if rows else np.zeros((0, dimension), dtype=np.float32)
        return VectorRows(pks, matrix.astype(np.float32, copy=False), max_pk)

    # -- maintenance ------------------------------------------------------------

    def stats(self, info: CollectionInfo) -> CollectionStats:
        """Record count; every record holds its vector (no slots to allocate)."""
        count = self.count(info, None)
        return CollectionStats(count, count)

    def compact(self, info: CollectionInfo) -> None:
        """Rebuild the HNSW index (if any) and ``VACUUM (ANALYZE)`` the table (when no transaction is open)."""
        names = self._names(info)
        with self.session() as conn:
            if conn.execute(statements.hnsw_exists_sql(), {"name": names.hnsw_name}).fetchone() is not None:
                conn.execute(statements.reindex_sql(names.hnsw))
            if self._state.tx is None and not self._read_only:
                conn.execute(statements.vacuum_sql(names.table))

    def slots_needed(self, count: int) -> int:
        """One slot per vector."""
        return count

    def vacuum(self) -> None:
        """``VACUUM (ANALYZE)`` the registry and every collection's table (refused inside a transaction)."""
        with self.session() as conn:
            if self._state.tx is not None:
                raise SqliteVecStoreError("Cannot VACUUM inside a transaction")
            tables = [ddl.quote_identifier(ddl.REGISTRY_TABLE)] + [
                self._names(info).table for info in self.collections()
            ]
            for table in tables:
                conn.execute(statements.vacuum_sql(table))

    def file_stats(self) -> dict[str, int]:
        """Block size, blocks used by this package's tables (with indexes and TOAST), no free list, bytes."""
        with self.session() as conn:
            tables = [ddl.REGISTRY_TABLE] + [f"svs_c{self._names(info).table_id}" for info in self.collections()]
            block = int(conn.execute("SELECT current_setting('block_size')").fetchone()[0])
            size = int(conn.execute(statements.relation_size_sql(), {"names": tables}).fetchone()[0])
        return {"page_size": block, "page_count": -(-size // block), "free_pages": 0, "size_bytes": size}


def _list(values: Sequence[str] | None) -> list[str] | None:
    return None if values is None else list(values)
