"""Every Postgres operation of the backend, as steps (:mod:`.steps`): SQL, search planning, caches.

:class:`Operations` holds what the backend remembers between calls (table
ids by collection name, which collections have their HNSW index, filters'
measured shares, the last compiled filter) and one generator per operation.
A generator yields :mod:`.steps` and returns the operation's value; the
backend drives it on a sync or an async connection (:mod:`.backend`), so
both kinds of method share this one implementation.

Filtered HNSW search stays "never short": a filter's share of the rows is
measured (and cached for :data:`SHARE_TTL` seconds); a rare filter is
scanned exactly, a common one walks HNSW with ``ef_search`` widened to expect
``2k`` matches, and a walk that still comes back short is retried at
:data:`~sqlitevec_store.options.MAX_EF_SEARCH`, then answered exactly.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from ...errors import DatabaseError, DimensionMismatchError, InvalidInputError, SchemaError
from ...filters import Filter, LastCompiled
from ...options import MAX_EF_SEARCH, IndexOptions
from ...records import CollectionInfo
from ...registry import RegistryRow, info_from_row
from ...validation import Batch
from ..base import ScoredRow, StoredRow
from . import ddl, statements
from .filter_sql import compile_filter
from .statements import Where
from .steps import CopyRows, EfSearch, Fetch, InTransaction, Query, Steps

__all__ = ["DEFAULT_EF_SEARCH", "HNSW_EF_CONSTRUCTION", "HNSW_M", "Operations", "SHARE_TTL"]

logger = logging.getLogger("sqlitevec_store")

#: pgvector's default ``hnsw.ef_search``; a search of ``k`` uses at least ``k``.
DEFAULT_EF_SEARCH = 40

#: HNSW build parameters (pgvector's defaults).
HNSW_M = 16
HNSW_EF_CONSTRUCTION = 64

#: A filter's measured share of the rows is trusted this long (seconds) before it is measured again.
SHARE_TTL = 300.0

#: Filters whose share is remembered, per backend.
SHARE_CACHE_SIZE = 256

# A JSON text's escaped NUL (\u0000 preceded by an even number of backslashes): Postgres cannot store it.
_JSON_NUL = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")

_WIDTH = len(StoredRow._fields)
_STAGE_TYPES = ("int8", "text", "text", "text", "text", "text", "vector")
_TABLE_TYPES = ("text", "text", "bytea", "text", "text", "text", "vector")  # metadata: jsonb's binary form
_UNIQUE_VIOLATION = "23505"


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


def _scored(rows: Iterable[Sequence[Any]], vectors: bool) -> list[ScoredRow]:
    """Rows of a KNN statement (record columns, distance, maybe the vector) as scored rows."""
    return [
        ScoredRow(StoredRow(*row[:_WIDTH]), max(float(row[_WIDTH]), 0.0), row[_WIDTH + 1] if vectors else None)
        for row in rows
    ]


def _list(values: Sequence[str] | None) -> list[str] | None:
    return None if values is None else list(values)


class Operations:
    """The backend's operations as step generators, and what they remember between calls.

    Args:
        read_only: The database was opened read-only (no HNSW index is built then).

    """

    def __init__(self, *, read_only: bool) -> None:
        """Start with nothing remembered."""
        self.read_only = read_only
        self.tables: dict[str, int] = {}
        self.hnsw_ready: set[int] = set()
        self.keyword_ready: set[int] = set()
        self.shares: dict[tuple[int, Filter], tuple[int, int, float]] = {}
        self._compile = LastCompiled(lambda tree: Where(*compile_filter(tree, "metadata")))

    # -- registry ---------------------------------------------------------------

    def _info(self, row: Sequence[Any]) -> CollectionInfo:
        info = info_from_row(
            RegistryRow(*row[:6]), latest_version=ddl.SCHEMA_VERSION, max_dimension=ddl.VECTOR_MAX_DIMENSION
        )
        self.tables[info.name.lower()] = int(row[6])
        return info

    def entry(self, name: str) -> Steps[CollectionInfo | None]:
        """The checked registry entry of ``name`` (read each time: other processes may change it)."""
        row = yield Query(ddl.registry_select_sql(one=True), (name,), Fetch.ONE)
        return None if row is None else self._info(row)

    def entries(self) -> Steps[list[CollectionInfo]]:
        """Every entry, values checked, by name."""
        rows = yield Query(ddl.registry_select_sql(one=False), None, Fetch.ALL)
        return [self._info(row) for row in rows]

    def names(self, info: CollectionInfo) -> Steps[ddl.CollectionTable]:
        """The table names of ``info``'s collection (its table id read from the registry when not known)."""
        table_id = self.tables.get(info.name.lower())
        if table_id is None:
            yield from self.entry(info.name)
            table_id = self.tables.get(info.name.lower())
            if table_id is None:
                raise SchemaError(f"Collection {info.name!r} is not registered in this database")
        return ddl.CollectionTable(table_id)

    def _lock_registry(self) -> Query:
        return Query("SELECT pg_advisory_xact_lock(%s)", (ddl.REGISTRY_LOCK_KEY,))

    def create_collection(self, name: str, dimension: int | None, model_id: str | None) -> Steps[None]:
        """In a write: register ``name`` and create its table (nothing when another process just did)."""
        yield self._lock_registry()
        if (yield from self.entry(name)) is not None:
            return
        row = yield Query(ddl.registry_insert_sql(), (name, dimension, model_id, ddl.SCHEMA_VERSION), Fetch.ONE)
        table_id = int(row[0])
        for statement in ddl.create_table_sql(ddl.CollectionTable(table_id), dimension):
            yield Query(statement)
        self.tables[name.lower()] = table_id

    def drop_collection(self, name: str) -> Steps[bool]:
        """In a write: drop ``name``'s table and entry; ``False`` when it does not exist."""
        yield self._lock_registry()
        row = yield Query(ddl.registry_select_sql(one=True), (name,), Fetch.ONE)
        if row is None:
            return False
        table_id = int(row[6])
        yield Query(ddl.drop_table_sql(ddl.CollectionTable(table_id)))
        yield Query(ddl.registry_delete_sql(), (table_id,))
        self.forget(str(row[0]), table_id)
        return True

    def forget(self, name: str, table_id: int) -> None:
        """Drop what is remembered about a dropped collection."""
        self.tables.pop(name.lower(), None)
        self.hnsw_ready.discard(table_id)
        self.keyword_ready.discard(table_id)
        self.shares = {key: value for key, value in self.shares.items() if key[0] != table_id}

    def set_dimension(self, info: CollectionInfo, dimension: int) -> Steps[None]:
        """In a write: fix the dimension on first write (or check it)."""
        yield self._lock_registry()
        current = yield from self.entry(info.name)
        if current is None:
            raise SchemaError(f"Collection {info.name!r} is not registered in this database")
        if current.dimension is not None:
            if current.dimension != dimension:
                raise DimensionMismatchError(
                    f"Collection {info.name!r} holds {current.dimension}-dimensional vectors; "
                    f"got {dimension}-dimensional ones"
                )
            return
        names = yield from self.names(current)
        for statement in ddl.set_dimension_sql(names, dimension):
            yield Query(statement)
        yield Query(ddl.registry_update_sql("dimension"), (dimension, names.table_id))

    def set_model_id(self, info: CollectionInfo, model_id: str) -> Steps[None]:
        """In a write: record the model id."""
        names = yield from self.names(info)
        yield Query(ddl.registry_update_sql("model_id"), (model_id, names.table_id))

    # -- filters ----------------------------------------------------------------

    def compiled(self, filter: Filter | None) -> Where | None:
        """``filter`` compiled to SQL (the last one remembered: a search and its check share it)."""
        return self._compile(filter)

    def _where(
        self, filter: Filter | None, ids: Sequence[str] | None = None, doc_ids: Sequence[str] | None = None
    ) -> Where:
        return statements.where(_list(ids), _list(doc_ids), self.compiled(filter))

    # -- writes -----------------------------------------------------------------

    def write(self, info: CollectionInfo, batches: Iterable[Batch]) -> Steps[list[str]]:
        """In a write: upsert the batches, each by a binary ``COPY``.

        A batch none of whose ids is stored goes straight into the table (in a
        savepoint: should another writer store one of its ids meanwhile, the
        unique index refuses the copy and the batch takes the other way);
        otherwise it is copied into a staging table and upserted from there
        (``ON CONFLICT``: a known id keeps its pk). Measured: the direct copy
        spares the staging table's write and read (benchmarks/README.md).
        """
        names = yield from self.names(info)
        ids: list[str] = []
        staged = False
        for batch in batches:
            _refuse_nul(batch)
            stored = yield Query(statements.any_stored_sql(names), {"ids": batch.ids}, Fetch.ONE)
            if not stored[0]:
                try:
                    yield InTransaction(self._copy_new(names, batch), write=True)
                except DatabaseError as exc:  # rolled back to the savepoint
                    if getattr(exc.__cause__, "sqlstate", None) != _UNIQUE_VIOLATION:
                        raise
                    # another writer stored one of these ids meanwhile: upsert them
                else:
                    ids.extend(batch.ids)
                    continue
            if not staged:
                yield Query(statements.create_stage_sql())
                staged = True
            yield from self._upsert_staged(names, batch)
            ids.extend(batch.ids)
        return ids

    def _copy_new(self, names: ddl.CollectionTable, batch: Batch) -> Steps[None]:
        """``COPY`` a batch of new records straight into the table."""
        vectors = batch.vectors
        assert vectors is not None
        jsonb = statements.jsonb_bytes
        rows = [
            (row.id, row.text, jsonb(row.metadata), row.metadata, row.doc_id, row.extra, vector)
            for row, vector in zip(batch.rows, vectors, strict=True)
        ]
        yield CopyRows(statements.copy_table_sql(names), _TABLE_TYPES, rows)

    def _upsert_staged(self, names: ddl.CollectionTable, batch: Batch) -> Steps[None]:
        """Copy a batch into the staging table, then upsert it from there in order."""
        vectors = batch.vectors
        assert vectors is not None
        rows = [
            (order, row.id, row.text, row.metadata, row.doc_id, row.extra, vector)
            for order, (row, vector) in enumerate(zip(batch.rows, vectors, strict=True))
        ]
        yield CopyRows(statements.copy_stage_sql(), _STAGE_TYPES, rows)
        yield Query(statements.upsert_from_stage_sql(names))
        yield Query(statements.clear_stage_sql())

    def delete(
        self, info: CollectionInfo, ids: Sequence[str] | None, doc_ids: Sequence[str] | None, filter: Filter | None
    ) -> Steps[int]:
        """In a write: delete the records meeting every condition; how many."""
        condition = self._where(filter, ids, doc_ids)
        names = yield from self.names(info)
        deleted = yield Query(statements.delete_sql(names, condition), condition.params, Fetch.ROWCOUNT)
        return int(deleted)

    # -- reads ------------------------------------------------------------------

    def count(self, info: CollectionInfo, filter: Filter | None) -> Steps[int]:
        """How many records match."""
        condition = self._where(filter)
        names = yield from self.names(info)
        row = yield Query(statements.count_sql(names, condition), condition.params, Fetch.ONE)
        return int(row[0])

    def select(
        self,
        info: CollectionInfo,
        ids: Sequence[str] | None,
        doc_ids: Sequence[str] | None,
        filter: Filter | None,
        *,
        limit: int | None,
        offset: int,
    ) -> Steps[list[StoredRow]]:
        """Records meeting every condition, in pk order."""
        condition = self._where(filter, ids, doc_ids)
        names = yield from self.names(info)
        sql = statements.select_sql(names, condition, limited=limit is not None, offset=offset > 0)
        rows = yield Query(sql, dict(condition.params, limit=limit, offset=offset), Fetch.ALL)
        return [StoredRow(*row) for row in rows]

    def page(self, info: CollectionInfo, after_pk: int, limit: int) -> Steps[list[StoredRow]]:
        """Up to ``limit`` records with pk above ``after_pk``, in pk order."""
        names = yield from self.names(info)
        rows = yield Query(statements.page_sql(names), {"after": after_pk, "limit": limit}, Fetch.ALL)
        return [StoredRow(*row) for row in rows]

    def rows(self, info: CollectionInfo, pks: Sequence[int]) -> Steps[dict[int, StoredRow]]:
        """Records by pk."""
        if not pks:
            return {}
        names = yield from self.names(info)
        rows = yield Query(statements.rows_by_pk_sql(names), {"pks": list(pks)}, Fetch.ALL)
        return {row[0]: StoredRow(*row) for row in rows}

    def vectors(self, info: CollectionInfo, pks: Sequence[int]) -> Steps[dict[int, npt.NDArray[np.float32]]]:
        """Stored unit vectors by pk."""
        if not pks or info.dimension is None:
            return {}
        names = yield from self.names(info)
        rows = yield Query(statements.vectors_by_pk_sql(names), {"pks": list(pks)}, Fetch.ALL, binary=True)
        return {int(pk): vector for pk, vector in rows}

    def matching(self, info: CollectionInfo, filter: Filter, pks: Sequence[int] | None) -> Steps[list[int]]:
        """The pks the filter matches (among ``pks`` when given), in pk order."""
        condition = self._where(filter)
        names = yield from self.names(info)
        params = condition.params if pks is None else dict(condition.params, pks=[int(pk) for pk in pks])
        rows = yield Query(statements.matching_sql(names, condition, among=pks is not None), params, Fetch.ALL)
        return [int(row[0]) for row in rows]

    # -- search -----------------------------------------------------------------

    def knn(
        self,
        info: CollectionInfo,
        query: npt.NDArray[np.float32],
        k: int,
        filter: Filter | None,
        *,
        include_vectors: bool,
        options: IndexOptions | None,
    ) -> Steps[list[ScoredRow]]:
        """The ``k`` nearest matching rows: exact, or through HNSW when ``options`` ask for it, never short."""
        names = yield from self.names(info)
        condition = self._where(filter)
        params = dict(condition.params, q=query, k=k)
        approximate = options is not None and options.index_type in ("hnsw", "rescore") and k <= MAX_EF_SEARCH
        if approximate and (yield from self._hnsw_ready(info, names)):
            assert options is not None
            ef = yield from self._ef_search(names, filter, condition, k=k, options=options)
            sql = statements.hnsw_knn_sql(names, condition, include_vectors=include_vectors)
            for walk in () if ef is None else dict.fromkeys((ef, MAX_EF_SEARCH)):
                yield EfSearch(walk)
                found = _scored((yield Query(sql, params, Fetch.ALL, binary=True)), include_vectors)
                if len(found) >= k:
                    return found
        exact = self._exact(statements.exact_knn_sql(names, condition, include_vectors=include_vectors), params)
        return _scored((yield InTransaction(exact, write=False)), include_vectors)

    def _exact(self, sql: str, params: dict[str, Any]) -> Steps[list[Any]]:
        """In a read transaction: the exact scan with index scans off, so no index serves its ``ORDER BY``.

        The setting is put back after the scan (the transaction may be a caller's).
        """
        was = yield Query(statements.index_scan_setting_sql(), None, Fetch.ONE)
        yield Query(statements.index_scans_sql(), {"value": "off"})
        rows = yield Query(sql, params, Fetch.ALL, binary=True)
        yield Query(statements.index_scans_sql(), {"value": was[0]})
        return list(rows)

    def _ef_search(
        self, names: ddl.CollectionTable, filter: Filter | None, condition: Where, *, k: int, options: IndexOptions
    ) -> Steps[int | None]:
        """``ef_search`` for an HNSW walk expected to hold ``2k`` matches, or ``None``: scan exactly instead."""
        ef = max(options.ef_search or DEFAULT_EF_SEARCH, k)
        if filter is None:
            return min(ef, MAX_EF_SEARCH)
        matches, total = yield from self._share(names, filter, condition)
        if matches <= k or total == 0:
            return None  # every match is in the result: the exact scan of them is the answer
        wanted = math.ceil(2 * k * total / matches)
        if wanted > MAX_EF_SEARCH:
            return None  # a rare filter: scanning its rows exactly is cheaper than a walk this wide
        return max(ef, wanted)

    def _share(self, names: ddl.CollectionTable, filter: Filter, condition: Where) -> Steps[tuple[int, int]]:
        """How many rows the filter matches and how many have vectors (measured, then cached a while)."""
        key = (names.table_id, filter)
        cached = self.shares.get(key)
        now = time.monotonic()
        if cached is not None and now - cached[2] < SHARE_TTL:
            return cached[0], cached[1]
        row = yield Query(statements.share_sql(names, condition), condition.params, Fetch.ONE)
        matches, total = int(row[0]), int(row[1])
        if len(self.shares) >= SHARE_CACHE_SIZE:
            self.shares.pop(next(iter(self.shares)))
        self.shares[key] = (matches, total, now)
        return matches, total

    def _hnsw_ready(self, info: CollectionInfo, names: ddl.CollectionTable) -> Steps[bool]:
        """Whether the HNSW index exists, building it if missing (read-only: ``False``, search exactly)."""
        if names.table_id in self.hnsw_ready:
            return True
        assert info.dimension is not None
        if info.dimension > ddl.HNSW_MAX_DIMENSION:
            raise InvalidInputError(
                f"Collection {info.name!r} holds {info.dimension}-dimensional vectors; pgvector's HNSW index "
                f"takes at most {ddl.HNSW_MAX_DIMENSION}. Use index_type='flat' (exact) for it."
            )
        exists = (yield Query(statements.hnsw_exists_sql(), {"name": names.hnsw_name}, Fetch.ONE)) is not None
        if not exists:
            if self.read_only:
                logger.warning(
                    "collection %r has no HNSW index and the database is read-only: searching exactly", info.name
                )
                return False
            logger.info("building the HNSW index of collection %r (once; writes wait meanwhile)", info.name)
            yield InTransaction(self._build_hnsw(names), write=True)
        self.hnsw_ready.add(names.table_id)
        return True

    def _build_hnsw(self, names: ddl.CollectionTable) -> Steps[None]:
        yield self._lock_registry()
        yield Query("SELECT set_config('maintenance_work_mem', '1GB', true)")
        yield Query(ddl.create_hnsw_sql(names, HNSW_M, HNSW_EF_CONSTRUCTION))

    def keyword_search(self, info: CollectionInfo, match: str, k: int, filter: Filter | None) -> Steps[list[ScoredRow]]:
        """The ``k`` best ``ts_rank_cd`` matches of a web-search query (score: higher is better)."""
        condition = self._where(filter)
        names = yield from self.names(info)
        params = dict(condition.params, query=match, k=k)
        sql = statements.keyword_sql(names, condition, indexed=names.table_id in self.keyword_ready)
        rows = yield Query(sql, params, Fetch.ALL)
        return [ScoredRow(StoredRow(*row[:_WIDTH]), float(row[_WIDTH])) for row in rows]

    def ensure_keyword_index(self, info: CollectionInfo, *, in_transaction: bool) -> Steps[None]:
        """Add the keyword index (``tsv`` and its GIN index) if missing; read-only: search without it.

        Inside a caller's transaction (``in_transaction``) the index may be its
        own, undone by a rollback: it is trusted once found outside one.
        """
        names = yield from self.names(info)
        if names.table_id in self.keyword_ready:
            return
        exists = (yield Query(statements.index_exists_sql(), {"name": names.tsv_name}, Fetch.ONE)) is not None
        if not exists:
            if self.read_only:
                logger.warning(
                    "collection %r has no keyword index and the database is read-only: each keyword search scans "
                    "every row (one keyword search from a writable opening builds the index)",
                    info.name,
                )
                return
            logger.info("building the keyword index of collection %r (once; writes wait meanwhile)", info.name)
            yield InTransaction(self._build_keyword_index(names), write=True)
        if not in_transaction:
            self.keyword_ready.add(names.table_id)

    def _build_keyword_index(self, names: ddl.CollectionTable) -> Steps[None]:
        yield self._lock_registry()
        yield Query("SELECT set_config('maintenance_work_mem', '1GB', true)")
        for statement in ddl.keyword_index_sql(names):
            yield Query(statement)
