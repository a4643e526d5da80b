"""One collection's records in SQLite: write checked batches, delete, read, and search (vec0 KNN, FTS5).

Functions over an open connection, called by :class:`.backend.SqliteBackend`
with the lock (and, for writes, the transaction) held. Filters arrive
compiled (:class:`CompiledFilter`); values are always bound.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from ...errors import DimensionMismatchError
from ...records import CollectionInfo, chunks
from ...search.kernels import dot
from ...validation import Batch
from ..base import ScoredRow, StoredRow
from . import ddl, statements, vec0
from .connection import Connection

__all__ = [
    "CHANGE_LOG_KEEP",
    "CompiledFilter",
    "count",
    "delete_where",
    "keyword",
    "knn",
    "matching",
    "matching_among",
    "page",
    "rows_by_pk",
    "scan",
    "select",
    "where_clause",
    "write",
]

#: The change log keeps this many newest entries (a RAM copy further behind reloads in full).
CHANGE_LOG_KEEP = 100_000

#: Pks or ids bound per statement (under SQLite's parameter limit).
CHUNK = 1000


class CompiledFilter(NamedTuple):
    """A filter tree compiled to a ``WHERE`` fragment over the records table, and its parameters."""

    sql: str
    params: dict[str, Any]


#: The record's columns (:data:`.ddl.ITEM_COLUMN_NAMES`) lead every row read here; a search's own follow.
_ITEM_WIDTH = len(ddl.ITEM_COLUMN_NAMES)


def stored_row(row: Sequence[Any]) -> StoredRow:
    """The leading columns of a records-table row (:data:`.ddl.ITEM_COLUMN_NAMES`)."""
    return StoredRow(*row[:_ITEM_WIDTH])


def where_clause(
    ids: Sequence[str] | None, doc_ids: Sequence[str] | None, compiled: CompiledFilter | None
) -> CompiledFilter:
    """One ``WHERE`` clause (AND) over the records table's columns."""
    parts: list[str] = []
    params: dict[str, Any] = {}
    if ids is not None:
        sql, p = statements.in_list_sql("id", ids, "id")
        parts.append(sql)
        params.update(p)
    if doc_ids is not None:
        sql, p = statements.in_list_sql("doc_id", doc_ids, "doc")
        parts.append(sql)
        params.update(p)
    if compiled is not None:
        parts.append(compiled.sql)
        params.update(compiled.params)
    return CompiledFilter(" AND ".join(f"({p})" for p in parts) if parts else "1", params)


def write(conn: Connection, info: CollectionInfo, dimension: int, batches: Iterable[Batch]) -> list[str]:
    """Inside a write: upsert every batch (all of ``dimension``); the ids in order."""
    tables = ddl.CollectionTables(info.name)
    versioned = info.schema_version >= ddl.CHANGE_LOG_VERSION
    if versioned:
        next_pk = int(conn.execute(statements.next_pk_sql(tables)).fetchone()[0])
    else:
        next_pk = int(conn.execute(statements.max_pk_sql(tables)).fetchone()[0]) + 1
    first_new_pk = next_pk
    all_ids: list[str] = []
    for batch in batches:
        matrix = batch.vectors
        assert matrix is not None  # check_batches yields only batches with vectors
        if matrix.shape[1] != dimension:
            raise DimensionMismatchError(
                f"Collection {info.name!r} holds {dimension}-dimensional vectors; "
                f"got {matrix.shape[1]}-dimensional ones"
            )
        ids = batch.ids
        vec0.grow_vector_table(conn, tables, dimension, len(ids))
        next_pk = _write_chunk(conn, info, tables, batch, matrix=matrix, next_pk=next_pk)
        all_ids.extend(ids)
    if next_pk > first_new_pk and info.schema_version >= ddl.KEYWORD_FILL_VERSION:
        # one statement for every record the call added: 2.7-4x faster than a trigger per row
        conn.execute(ddl.fill_keywords_sql(tables), (first_new_pk,))
    if versioned:
        conn.execute(statements.set_high_water_sql(tables), {"pk": next_pk - 1})
    return all_ids


def _write_chunk(
    conn: Connection,
    info: CollectionInfo,
    tables: ddl.CollectionTables,
    batch: Batch,
    *,
    matrix: npt.NDArray[np.float32],
    next_pk: int,
) -> int:
    """Write one checked chunk; returns the next free pk."""
    ids = batch.ids
    existing = dict(conn.execute(statements.existing_ids_sql(tables, len(ids)), list(ids)).fetchall())
    inserts: list[tuple[Any, ...]] = []
    updates: list[tuple[Any, ...]] = []
    vectors: list[tuple[int, bytes]] = []
    for n, row in enumerate(batch.rows):
        if row.id in existing:
            pk = existing[row.id]
            updates.append((row.text, row.metadata, row.doc_id, row.extra, pk))
        else:
            pk = next_pk
            next_pk += 1
            inserts.append((pk, row.id, row.text, row.metadata, row.doc_id, row.extra))
        vectors.append((pk, matrix[n].tobytes()))
    if updates:
        conn.executemany(statements.update_item_sql(tables), updates)
        conn.executemany(statements.delete_vector_sql(tables), [(u[-1],) for u in updates])
        trim_changes(conn, info, tables)
    if inserts:
        conn.executemany(statements.insert_item_sql(tables), inserts)
    conn.executemany(statements.insert_vector_sql(tables), vectors)
    return next_pk


def trim_changes(conn: Connection, info: CollectionInfo, tables: ddl.CollectionTables) -> None:
    """Inside a write: keep the change log short (a RAM copy older than it reloads in full)."""
    if info.schema_version >= ddl.CHANGE_LOG_VERSION:
        conn.execute(statements.trim_changes_sql(tables), (CHANGE_LOG_KEEP,))


def delete_where(conn: Connection, info: CollectionInfo, where: CompiledFilter) -> int:
    """Inside a write: delete the matching records and their vectors; how many."""
    tables = ddl.CollectionTables(info.name)
    pks = [row[0] for row in conn.execute(statements.pks_where_sql(tables, where.sql), where.params)]
    if pks and info.dimension is not None:
        conn.executemany(statements.delete_vector_sql(tables), [(pk,) for pk in pks])
    conn.executemany(statements.delete_items_sql(tables), [(pk,) for pk in pks])
    if pks:
        trim_changes(conn, info, tables)
    return len(pks)


def count(conn: Connection, tables: ddl.CollectionTables, where: CompiledFilter) -> int:
    """How many records match."""
    return int(conn.execute(statements.count_sql(tables, where.sql), where.params).fetchone()[0])


def select(
    conn: Connection, tables: ddl.CollectionTables, where: CompiledFilter, limit: int | None, offset: int
) -> list[StoredRow]:
    """Matching records in pk order, ``limit``/``offset`` applied."""
    sql = statements.select_items_sql(tables, where.sql)
    params = where.params
    if limit is not None or offset:
        sql += " LIMIT :limit OFFSET :offset"
        params = {**params, "limit": -1 if limit is None else limit, "offset": offset}
    return [stored_row(row) for row in conn.execute(sql, params)]


def page(conn: Connection, tables: ddl.CollectionTables, after_pk: int, limit: int) -> list[StoredRow]:
    """Up to ``limit`` records with a pk above ``after_pk``, in pk order."""
    sql = statements.page_items_sql(tables)
    return [stored_row(row) for row in conn.execute(sql, {"after": after_pk, "limit": limit})]


def rows_by_pk(conn: Connection, tables: ddl.CollectionTables, pks: Sequence[int]) -> dict[int, StoredRow]:
    """Records by pk (missing ones left out)."""
    found: dict[int, StoredRow] = {}
    for chunk in chunks(pks, CHUNK):
        sql = statements.select_items_sql(tables, f"pk IN ({statements.placeholders(len(chunk))})")
        found.update((row[0], stored_row(row)) for row in conn.execute(sql, chunk))
    return found


def matching(conn: Connection, tables: ddl.CollectionTables, compiled: CompiledFilter) -> npt.NDArray[np.int64]:
    """Every pk the filter matches."""
    rows = conn.execute(statements.pks_where_sql(tables, compiled.sql), compiled.params)
    return np.fromiter((row[0] for row in rows), np.int64)


def matching_among(
    conn: Connection, tables: ddl.CollectionTables, compiled: CompiledFilter, pks: npt.NDArray[np.int64]
) -> npt.NDArray[np.int64]:
    """The pks among ``pks`` the filter matches."""
    sql = statements.candidates_matching_sql(tables, compiled.sql)
    params = {**compiled.params, "svs_candidates": json.dumps(pks.tolist())}
    return np.array([row[0] for row in conn.execute(sql, params)], np.int64)


def _distance_from_l2(l2: float) -> float:
    """Cosine distance from the L2 distance between unit vectors."""
    return min(max(l2 * l2 / 2.0, 0.0), 2.0)


def knn(
    conn: Connection,
    tables: ddl.CollectionTables,
    query: npt.NDArray[np.float32],
    k: int,
    compiled: CompiledFilter | None,
    *,
    include_vectors: bool,
) -> list[ScoredRow]:
    """sqlite-vec's exact KNN (``k`` up to :data:`.ddl.VEC0_MAX_K`), filtered before its top-k cut."""
    sql = statements.knn_sql(tables, compiled.sql if compiled else None, with_vectors=include_vectors)
    params = compiled.params if compiled else {}
    found = []
    for row in conn.execute(sql, {**params, "query": query.tobytes(), "k": k}).fetchall():
        # The columns of knn_sql: the record's, the L2 distance, then the vector when asked for.
        l2, *blob = row[_ITEM_WIDTH:]
        vector = np.frombuffer(blob[0], np.float32).copy() if include_vectors else None
        found.append(ScoredRow(stored_row(row), _distance_from_l2(l2), vector))
    return found


def scan(
    conn: Connection,
    tables: ddl.CollectionTables,
    query: npt.NDArray[np.float32],
    k: int,
    compiled: CompiledFilter | None,
    *,
    include_vectors: bool,
) -> list[ScoredRow]:
    """Exact search by reading every (matching) vector: for ``k`` above vec0's cap (inside a snapshot)."""
    params = compiled.params if compiled else {}
    rows = conn.execute(statements.scan_sql(tables, compiled.sql if compiled else None), params).fetchall()
    if not rows:
        return []
    pks = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    matrix = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), -1)
    distances = np.clip(1.0 - dot(matrix, query), 0.0, 2.0)
    order = np.lexsort((pks, distances))[:k]
    by_pk = rows_by_pk(conn, tables, [int(pks[i]) for i in order])
    return [
        ScoredRow(by_pk[int(pks[i])], float(distances[i]), matrix[i].copy() if include_vectors else None)
        for i in order
        if int(pks[i]) in by_pk
    ]


def keyword(
    conn: Connection, tables: ddl.CollectionTables, match: str, k: int, compiled: CompiledFilter | None
) -> list[ScoredRow]:
    """FTS5's BM25 top-``k`` for an FTS5 ``match`` expression; ``score`` the BM25 score (higher is better)."""
    sql = statements.keyword_sql(tables, compiled.sql if compiled else None)
    params = compiled.params if compiled else {}
    rows = conn.execute(sql, {**params, "match": match, "k": k}).fetchall()
    # The columns of keyword_sql: the record's, then FTS5's bm25 (lower is better).
    return [ScoredRow(stored_row(row), max(-float(row[_ITEM_WIDTH]), 0.0)) for row in rows]
