"""The Postgres + pgvector implementation of :class:`~sqlitevec_store.backends.base.StorageBackend`.

One :class:`PostgresBackend` owns a psycopg connection pool (and, for the
``a...`` methods, one ``AsyncConnectionPool`` per event loop:
:mod:`.pools`). Each thread, or each asyncio task, takes a connection from
a pool for the length of a call (or of the ``atomic``/``snapshot`` block
around several calls), so calls run in parallel, each in its own
transaction; a forked child opens pools of its own.

What each call does in SQL is written once, as steps (:mod:`.operations`,
:mod:`.steps`); this module runs them on a sync connection for the sync
methods and on an async connection, through psycopg's async API, for the
async ones, and owns the transactions. Searches run in the database (no RAM
copy of the vectors):

* exact: a sequential scan ordering by pgvector's cosine distance ``<=>``
  (``index_type`` ``"flat"`` or ``"vec0"``);
* approximate: pgvector's HNSW index (``"hnsw"``, and ``"rescore"`` so an app
  moved from a file runs unchanged), built by the first such search, never
  short under a filter (:mod:`.operations`).
"""

from __future__ import annotations

import itertools
import logging
import os
import re
from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from ...errors import InvalidInputError, SchemaError, SqliteVecStoreError
from ...filters import Filter
from ...options import MAX_EF_SEARCH, IndexOptions
from ...records import CollectionInfo
from ...validation import Batch
from ..base import ChangeState, ChangeToken, CollectionStats, ScoredRow, StoredRow, VectorRows
from . import ddl, statements
from .app_state import PostgresAppState
from .connection import import_psycopg, libpq_url, new_pool, redacted_url, translated_driver_errors
from .driver import Driver
from .operations import DEFAULT_EF_SEARCH, Operations
from .pools import AsyncPools
from .statements import Where

__all__ = ["DEFAULT_EF_SEARCH", "DEFAULT_POOL_SIZE", "MAX_EF_SEARCH", "PostgresBackend"]

logger = logging.getLogger("sqlitevec_store")

_T = TypeVar("_T")

#: Connections each pool keeps at most (callers beyond it wait for one).
DEFAULT_POOL_SIZE = 8

#: Words taken from a plain keyword query at most (as in the file).
MAX_QUERY_TERMS = 128

#: A raw keyword query's largest length in characters (as in the file).
MAX_RAW_QUERY_LENGTH = 10_000

_WORD = re.compile(r"\w+")
#: Words of a raw (web-search) query that are operators, not terms.
_RAW_OPERATORS = frozenset({"or", "and", "not"})

# Pools of a parent process, kept referenced in a forked child so they are never closed there
# (closing would end the parent's sessions on the server).
_ABANDONED: list[Any] = []


class PostgresBackend(Driver):
    """Postgres + pgvector storage for every collection of one schema.

    Args:
        url: A ``postgresql://`` URL (libpq's; ``options=-csearch_path=...`` picks the schema).
        read_only: Refuse writes (the connections are read-only on the server too).
        pool_size: Connections kept at most, per pool.

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
        self._tokens = itertools.count(1)
        self._ops = Operations(read_only=read_only)
        self._versions = self._set_up()
        self._pid = os.getpid()
        self._pool = new_pool(self._url, read_only=read_only, size=pool_size)
        self._apools = AsyncPools(self._url, read_only=read_only, size=pool_size)
        self._app_state = PostgresAppState(self)
        super().__init__()

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

    def _here(self) -> None:
        """Raise if closed; in a forked child, leave the parent's pools alone and open new ones."""
        if self._closed:
            raise SqliteVecStoreError("This database is closed")
        if self._pid != os.getpid():
            _ABANDONED.append(self._pool)
            self._apools.abandon()
            self._forget_held()
            self._pid = os.getpid()
            self._pool = new_pool(self._url, read_only=self._read_only, size=self._pool_size)

    @property
    def connection(self) -> Any:
        """The psycopg ``ConnectionPool`` (``with db.backend.connection.connection() as conn: ...``)."""
        self._here()
        return self._pool

    @property
    def read_only(self) -> bool:
        """Whether writes are refused."""
        return self._read_only

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    @property
    def app_state(self) -> PostgresAppState:
        """The key-value space and record-key log in this schema (sync and async)."""
        return self._app_state

    @property
    def searches_in_engine(self) -> bool:
        """Searches run in Postgres (no RAM copy of the vectors)."""
        return True

    @property
    def is_async(self) -> bool:
        """The ``a...`` methods run on psycopg's async API (no worker thread)."""
        return True

    def describe(self) -> str:
        """``Postgres x.y, pgvector a.b.c`` for ``repr``."""
        return self._versions

    def close(self) -> None:
        """Close the pools (in the process that opened them). Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._pid == os.getpid():
            self._pool.close()
            self._apools.close()

    async def aclose(self) -> None:
        """:meth:`close`, awaiting the running loop's async pool. Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._pid == os.getpid():
            self._pool.close()
            await self._apools.aclose()

    # -- registry ---------------------------------------------------------------

    def collection_info(self, name: str) -> CollectionInfo | None:
        """The checked registry entry of ``name`` (read each time: other processes may change it)."""
        return self._run(self._ops.entry(name))

    async def acollection_info(self, name: str) -> CollectionInfo | None:
        """Async :meth:`collection_info`."""
        return await self._arun(self._ops.entry(name))

    def collections(self) -> list[CollectionInfo]:
        """Every entry, values checked, by name."""
        return self._run(self._ops.entries())

    def create_collection(self, name: str, dimension: int | None, model_id: str | None) -> None:
        """Inside :meth:`atomic`: register ``name`` and create its table (nothing when another process just did)."""
        with self.atomic():
            self._run(self._ops.create_collection(name, dimension, model_id))

    def drop_collection(self, name: str) -> bool:
        """Drop ``name``'s table and entry in one transaction; ``False`` when it does not exist."""
        with self.atomic():
            return self._run(self._ops.drop_collection(name))

    def set_dimension(self, info: CollectionInfo, dimension: int, incoming: int) -> None:
        """Inside :meth:`atomic`: fix the dimension on first write (or check it)."""
        del incoming  # Postgres needs no sizing ahead
        with self.atomic():
            self._run(self._ops.set_dimension(info, dimension))

    async def aset_dimension(self, info: CollectionInfo, dimension: int, incoming: int) -> None:
        """Async :meth:`set_dimension`."""
        del incoming
        async with self.aatomic():
            await self._arun(self._ops.set_dimension(info, dimension))

    def set_model_id(self, info: CollectionInfo, model_id: str) -> None:
        """Inside :meth:`atomic`: record the model id."""
        with self.atomic():
            self._run(self._ops.set_model_id(info, model_id))

    async def aset_model_id(self, info: CollectionInfo, model_id: str) -> None:
        """Async :meth:`set_model_id`."""
        async with self.aatomic():
            await self._arun(self._ops.set_model_id(info, model_id))

    def migrate(self, *, strict: bool) -> list[str]:
        """Nothing to migrate yet: Postgres collections start at their layout's first version."""
        del strict
        return []

    def missing_storage(self, exc: BaseException) -> bool:
        """Whether ``exc`` says a collection's table is gone (dropped meanwhile)."""
        return getattr(exc.__cause__, "sqlstate", None) == "42P01"

    def enable_wal(self) -> None:
        """Nothing to do: Postgres always writes ahead."""

    def check_filter(self, filter: Filter) -> None:
        """Raise now if ``filter`` cannot run here (compiling it)."""
        self._ops.compiled(filter)

    def _names(self, info: CollectionInfo) -> ddl.CollectionTable:
        return self._run(self._ops.names(info))

    # -- writes -----------------------------------------------------------------

    def write(self, info: CollectionInfo, batches: Iterable[Batch]) -> list[str]:
        """Inside :meth:`atomic`: upsert the batches through a binary ``COPY`` into a staging table."""
        with self.atomic():
            return self._run(self._ops.write(info, batches))

    async def awrite(self, info: CollectionInfo, batches: Iterable[Batch]) -> list[str]:
        """Async :meth:`write`."""
        async with self.aatomic():
            return await self._arun(self._ops.write(info, batches))

    def delete(
        self, info: CollectionInfo, *, ids: Sequence[str] | None, doc_ids: Sequence[str] | None, filter: Filter | None
    ) -> int:
        """Delete the records meeting every condition, in one transaction."""
        with self.atomic():
            return self._run(self._ops.delete(info, ids, doc_ids, filter))

    async def adelete(
        self, info: CollectionInfo, *, ids: Sequence[str] | None, doc_ids: Sequence[str] | None, filter: Filter | None
    ) -> int:
        """Async :meth:`delete`."""
        async with self.aatomic():
            return await self._arun(self._ops.delete(info, ids, doc_ids, filter))

    def clear(self, info: CollectionInfo) -> int:
        """Delete every record."""
        return self.delete(info, ids=None, doc_ids=None, filter=None)

    async def aclear(self, info: CollectionInfo) -> int:
        """Async :meth:`clear`."""
        return await self.adelete(info, ids=None, doc_ids=None, filter=None)

    # -- reads ------------------------------------------------------------------

    def count(self, info: CollectionInfo, filter: Filter | None) -> int:
        """How many records match."""
        return self._run(self._ops.count(info, filter))

    async def acount(self, info: CollectionInfo, filter: Filter | None) -> int:
        """Async :meth:`count`."""
        return await self._arun(self._ops.count(info, filter))

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
        return self._run(self._ops.select(info, ids, doc_ids, filter, limit=limit, offset=offset))

    async def aselect(
        self,
        info: CollectionInfo,
        *,
        ids: Sequence[str] | None = None,
        doc_ids: Sequence[str] | None = None,
        filter: Filter | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[StoredRow]:
        """Async :meth:`select`."""
        return await self._arun(self._ops.select(info, ids, doc_ids, filter, limit=limit, offset=offset))

    def page(self, info: CollectionInfo, after_pk: int, limit: int) -> list[StoredRow]:
        """Up to ``limit`` records with pk above ``after_pk``, in pk order."""
        return self._run(self._ops.page(info, after_pk, limit))

    def rows(self, info: CollectionInfo, pks: Sequence[int]) -> dict[int, StoredRow]:
        """Records by pk."""
        return self._run(self._ops.rows(info, pks))

    def vectors(self, info: CollectionInfo, pks: Sequence[int]) -> dict[int, npt.NDArray[np.float32]]:
        """Stored unit vectors by pk."""
        return self._run(self._ops.vectors(info, pks))

    async def avectors(self, info: CollectionInfo, pks: Sequence[int]) -> dict[int, npt.NDArray[np.float32]]:
        """Async :meth:`vectors`."""
        return await self._arun(self._ops.vectors(info, pks))

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
        return self._run(self._ops.knn(info, query, k, filter, include_vectors=include_vectors, options=options))

    async def aknn(
        self,
        info: CollectionInfo,
        query: npt.NDArray[np.float32],
        k: int,
        filter: Filter | None,
        include_vectors: bool,
        *,
        options: IndexOptions | None = None,
    ) -> list[ScoredRow]:
        """Async :meth:`knn`."""
        return await self._arun(self._ops.knn(info, query, k, filter, include_vectors=include_vectors, options=options))

    def matching(self, info: CollectionInfo, filter: Filter) -> npt.NDArray[np.int64]:
        """Every pk the filter matches."""
        return np.asarray(self._run(self._ops.matching(info, filter, None)), dtype=np.int64)

    def matching_among(self, info: CollectionInfo, filter: Filter, pks: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """The pks among ``pks`` the filter matches."""
        return np.asarray(self._run(self._ops.matching(info, filter, [int(pk) for pk in pks])), dtype=np.int64)

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
        return self._run(self._ops.keyword_search(info, match, k, filter))

    async def akeyword_search(
        self, info: CollectionInfo, match: str, k: int, filter: Filter | None, *, raw: bool
    ) -> list[ScoredRow]:
        """Async :meth:`keyword_search`."""
        del raw
        return await self._arun(self._ops.keyword_search(info, match, k, filter))

    def ensure_keyword_index(self, info: CollectionInfo) -> None:
        """Add the keyword index (``tsv`` and its GIN index) if missing; read-only: search without it."""
        self._run(self._ops.ensure_keyword_index(info, in_transaction=self._in_transaction()))

    async def aensure_keyword_index(self, info: CollectionInfo) -> None:
        """Async :meth:`ensure_keyword_index`."""
        await self._arun(self._ops.ensure_keyword_index(info, in_transaction=self._task_in_transaction()))

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
            if not self._in_transaction() and not self._read_only:
                conn.execute(statements.vacuum_sql(names.table))

    def slots_needed(self, count: int) -> int:
        """One slot per vector."""
        return count

    def vacuum(self) -> None:
        """``VACUUM (ANALYZE)`` the registry and every collection's table (refused inside a transaction)."""
        with self.session() as conn:
            if self._in_transaction():
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
