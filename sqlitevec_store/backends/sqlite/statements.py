"""The SQL a collection runs: searches, reads, writes, the change log, the registry and file statistics.

Pure functions returning SQL text (and, for the driver probe, statements with
their parameters); every identifier comes quoted from :mod:`.ddl`, every value
is bound by the caller.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from ...errors import InvalidInputError
from .ddl import (
    REGISTRY_TABLE,
    CollectionTables,
    create_changes_sql,
    create_fts_sql,
    create_items_sql,
    create_vec_sql,
    fill_keywords_sql,
    quote_identifier,
    unquote,
)


def keyword_sql(tables: CollectionTables, filter_sql: str | None) -> str:
    """BM25 keyword search, optionally restricted by a filter.

    The filter is part of the ``WHERE`` clause evaluated before ``ORDER BY
    ... LIMIT``, so the result is the exact top-k among matching rows.
    Parameters: ``:match`` (an FTS5 query), ``:k`` and the filter's own.
    Columns: pk, id, text, metadata, doc_id, extra, bm25 (FTS5's ``bm25()``:
    negative, lower is better).
    """
    restrict = f" AND {tables.fts}.rowid IN (SELECT pk FROM {tables.items} WHERE {filter_sql})" if filter_sql else ""
    return (
        f"SELECT i.pk, i.id, i.text, i.metadata, i.doc_id, i.extra, bm25({tables.fts}) AS score "
        f"FROM {tables.fts} JOIN {tables.items} AS i ON i.pk = {tables.fts}.rowid "
        f"WHERE {tables.fts} MATCH :match{restrict} ORDER BY score, i.pk LIMIT :k"
    )


def knn_sql(tables: CollectionTables, filter_sql: str | None, *, with_vectors: bool = False) -> str:
    """Exact k-nearest-neighbour search, optionally restricted by a filter.

    The filter restricts the rowids vec0 scans (``rowid IN (SELECT ...)``),
    which sqlite-vec applies before its top-k cut, so the result is the exact
    top-k among matching rows. The filter SQL must refer to the column
    ``metadata`` unqualified. Parameters: ``:query`` (float32 blob), ``:k``,
    and the filter's own. Columns: pk, id, text, metadata, doc_id, extra,
    distance (L2 between unit vectors) and, with ``with_vectors``, embedding.
    """
    restrict = f" AND rowid IN (SELECT pk FROM {tables.items} WHERE {filter_sql})" if filter_sql else ""
    vector = ", embedding" if with_vectors else ""
    return (
        f"WITH knn AS (SELECT rowid, distance{vector} FROM {tables.vec} "
        f"WHERE embedding MATCH :query AND k = :k{restrict}) "
        f"SELECT i.pk, i.id, i.text, i.metadata, i.doc_id, i.extra, knn.distance"
        + (", knn.embedding" if with_vectors else "")
        + f" FROM knn JOIN {tables.items} AS i ON i.pk = knn.rowid ORDER BY knn.distance, i.pk"
    )


def scan_sql(tables: CollectionTables, filter_sql: str | None) -> str:
    """Every (matching) vector with its rowid, for exact search beyond vec0's ``k`` cap."""
    restrict = f" WHERE rowid IN (SELECT pk FROM {tables.items} WHERE {filter_sql})" if filter_sql else ""
    return f"SELECT rowid, embedding FROM {tables.vec}{restrict}"


def all_vectors_sql(tables: CollectionTables) -> str:
    """Every vector with its rowid (to fill a RAM copy)."""
    return f"SELECT rowid, embedding FROM {tables.vec}"


def vec0_layout_sql(tables: CollectionTables) -> str:
    """The sqlite-vec version that created the vec0 table (its ``_info`` shadow table)."""
    return f"SELECT value FROM {quote_identifier(unquote(tables.vec) + '_info')} WHERE key = 'CREATE_VERSION'"


def vec0_chunks_sql(tables: CollectionTables) -> str:
    """vec0's storage read chunk by chunk (sqlite-vec 0.1 layout): size, validity bitmap, rowids, vectors."""
    base = unquote(tables.vec)
    chunks, vectors = quote_identifier(base + "_chunks"), quote_identifier(base + "_vector_chunks00")
    return (
        f"SELECT c.size, c.validity, c.rowids, v.vectors FROM {chunks} AS c "
        f"JOIN {vectors} AS v ON v.rowid = c.chunk_id ORDER BY c.chunk_id"
    )


def changes_state_sql(tables: CollectionTables) -> str:
    """The change log's epoch, oldest kept ``seq`` (0 if none) and newest ``seq``."""
    c = tables.changes
    return (
        f"SELECT (SELECT pk FROM {c} WHERE seq = 0), "
        f"IFNULL((SELECT MIN(seq) FROM {c} WHERE seq > 0), 0), IFNULL((SELECT MAX(seq) FROM {c}), 0)"
    )


def changed_pks_sql(tables: CollectionTables) -> str:
    """Pks logged after a given ``seq`` (parameter)."""
    return f"SELECT DISTINCT pk FROM {tables.changes} WHERE seq > ?"


def pks_above_sql(tables: CollectionTables) -> str:
    """Pks of records above a given pk (parameter): the ones inserted since."""
    return f"SELECT pk FROM {tables.items} WHERE pk > ?"


def trim_changes_sql(tables: CollectionTables) -> str:
    """Keep only the newest ``?`` rows of the change log (and the epoch row)."""
    c = tables.changes
    return f"DELETE FROM {c} WHERE seq > 0 AND seq <= (SELECT MAX(seq) FROM {c}) - ?"


def data_version_sql() -> str:
    """A number that changes when another connection commits to the file."""
    return "PRAGMA data_version"


def candidates_matching_sql(tables: CollectionTables, filter_sql: str) -> str:
    """Which of the candidate pks (parameter ``:svs_candidates``, a JSON array) match a filter."""
    return (
        f"SELECT pk FROM {tables.items} WHERE pk IN (SELECT value FROM json_each(:svs_candidates)) AND ({filter_sql})"
    )


ITEM_COLUMNS = "pk, id, text, metadata, doc_id, extra"


def select_items_sql(tables: CollectionTables, where: str, *, order: str = "pk") -> str:
    """Records matching ``where`` (SQL built by the core over unqualified columns)."""
    return f"SELECT {ITEM_COLUMNS} FROM {tables.items} WHERE {where} ORDER BY {order}"


def page_items_sql(tables: CollectionTables) -> str:
    """Up to ``:limit`` records with ``pk > :after``, in pk order (keyset paging: a rowid seek, then ``limit`` rows)."""
    return f"SELECT {ITEM_COLUMNS} FROM {tables.items} WHERE pk > :after ORDER BY pk LIMIT :limit"


def select_vectors_sql(tables: CollectionTables, count: int) -> str:
    """The vectors of ``count`` rowids, bound as positional parameters."""
    return f"SELECT rowid, embedding FROM {tables.vec} WHERE rowid IN ({placeholders(count)})"


def placeholders(count: int) -> str:
    """``?, ?, ...`` for ``count`` positional parameters."""
    return ", ".join("?" * count)


# --- registry statements ----------------------------------------------------


def objects_named_sql(count: int) -> str:
    """Objects of ``sqlite_master`` among ``count`` lower-case names (positional parameters).

    SQLite's names are case-insensitive, so the comparison is too. Columns:
    lower-case name, type, sql.
    """
    return f"SELECT lower(name), type, sql FROM sqlite_master WHERE lower(name) IN ({placeholders(count)})"


def table_columns_sql(quoted_table: str) -> str:
    """A table's columns (``PRAGMA table_info``; the name is in column 1)."""
    return f"PRAGMA table_info({quoted_table})"


def vec0_declaration_sql() -> str:
    """The ``CREATE`` statement of a vector table. Parameter: its (unquoted) name."""
    return "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?"


def registry_exists_sql() -> str:
    """Does the registry table exist? Parameter: the table name."""
    return "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"


def registry_columns_sql() -> str:
    """The registry table's columns (``PRAGMA table_info``; the name is in column 1)."""
    return f"PRAGMA table_info({quote_identifier(REGISTRY_TABLE)})"


def registry_select_sql(one: bool) -> str:
    """Registry rows (all, or one by name)."""
    where = " WHERE name = ?" if one else ""
    return (
        f"SELECT name, dimension, model_id, distance, schema_version, created_at "
        f"FROM {quote_identifier(REGISTRY_TABLE)}{where} ORDER BY name"
    )


def registry_insert_sql() -> str:
    """Register a collection. Parameters: name, dimension, model_id, schema_version."""
    return (
        f"INSERT INTO {quote_identifier(REGISTRY_TABLE)} "
        "(name, dimension, model_id, schema_version) VALUES (?, ?, ?, ?)"
    )


def registry_update_sql(column: str) -> str:
    """Set ``dimension`` or ``model_id`` of one collection. Parameters: value, name."""
    if column not in ("dimension", "model_id"):
        raise InvalidInputError(f"Not a registry column: {column!r}")
    return f"UPDATE {quote_identifier(REGISTRY_TABLE)} SET {column} = ? WHERE name = ?"


def registry_set_version_sql() -> str:
    """Record a collection's schema version after a migration. Parameters: version, name."""
    return f"UPDATE {quote_identifier(REGISTRY_TABLE)} SET schema_version = ? WHERE name = ?"


def registry_versions_sql() -> str:
    """Every collection's name and schema version."""
    return f"SELECT name, schema_version FROM {quote_identifier(REGISTRY_TABLE)} ORDER BY name"


def registry_delete_sql() -> str:
    """Unregister a collection. Parameter: name."""
    return f"DELETE FROM {quote_identifier(REGISTRY_TABLE)} WHERE name = ?"


def drop_table_sql(quoted_table: str) -> str:
    """Drop one of a collection's (already quoted) tables."""
    return f"DROP TABLE IF EXISTS {quoted_table}"


# --- record statements ------------------------------------------------------


def existing_ids_sql(tables: CollectionTables, count: int) -> str:
    """``(id, pk)`` of the given ids, bound as positional parameters."""
    return f"SELECT id, pk FROM {tables.items} WHERE id IN ({placeholders(count)})"


def next_pk_sql(tables: CollectionTables) -> str:
    """The next free pk: above every pk in use and every pk ever given out (schema version 3)."""
    return (
        f"SELECT MAX(IFNULL((SELECT MAX(pk) FROM {tables.items}), 0), "
        f"IFNULL((SELECT pk FROM {tables.changes} WHERE seq = -1), 0)) + 1"
    )


def set_high_water_sql(tables: CollectionTables) -> str:
    """Record the largest pk given out (parameter), if above the one recorded."""
    return f"UPDATE {tables.changes} SET pk = :pk WHERE seq = -1 AND pk < :pk"


def max_pk_sql(tables: CollectionTables) -> str:
    """The largest pk in use (0 when empty)."""
    return f"SELECT IFNULL(MAX(pk), 0) FROM {tables.items}"


def insert_item_sql(tables: CollectionTables) -> str:
    """Insert one record. Parameters: pk, id, text, metadata, doc_id, extra."""
    return f"INSERT INTO {tables.items} (pk, id, text, metadata, doc_id, extra) VALUES (?, ?, ?, ?, ?, ?)"


def update_item_sql(tables: CollectionTables) -> str:
    """Replace one record's content. Parameters: text, metadata, doc_id, extra, pk."""
    return f"UPDATE {tables.items} SET text = ?, metadata = ?, doc_id = ?, extra = ? WHERE pk = ?"


def insert_vector_sql(tables: CollectionTables) -> str:
    """Insert one vector. Parameters: rowid, float32 blob."""
    return f"INSERT INTO {tables.vec} (rowid, embedding) VALUES (?, ?)"


def delete_vector_sql(tables: CollectionTables) -> str:
    """Delete one vector. Parameter: rowid."""
    return f"DELETE FROM {tables.vec} WHERE rowid = ?"


def delete_items_sql(tables: CollectionTables) -> str:
    """Delete one record. Parameter: pk."""
    return f"DELETE FROM {tables.items} WHERE pk = ?"


def count_sql(tables: CollectionTables, where: str) -> str:
    """Number of records matching ``where``."""
    return f"SELECT COUNT(*) FROM {tables.items} WHERE {where}"


def pks_where_sql(tables: CollectionTables, where: str) -> str:
    """Pks of records matching ``where``."""
    return f"SELECT pk FROM {tables.items} WHERE {where}"


def in_list_sql(column: str, values: Sequence[str], prefix: str) -> tuple[str, dict[str, str]]:
    """A ``where`` clause "``column`` is one of ``values``" with named parameters.

    ``column`` must be ``id`` or ``doc_id``.
    """
    if column not in ("id", "doc_id"):
        raise InvalidInputError(f"Not a filterable record column: {column!r}")
    if not values:
        return "0", {}
    params = {f"{prefix}{n}": value for n, value in enumerate(values)}
    return f"{column} IN ({', '.join(':' + name for name in params)})", params


# --- file-level statements ------------------------------------------------


def table_count_sql() -> str:
    """Number of tables, views, indexes and triggers in the file (0 for a new file)."""
    return "SELECT count(*) FROM sqlite_master"


def vec_slots_sql(tables: CollectionTables) -> str:
    """Allocated vector slots of vec0's chunk shadow table (sqlite-vec 0.1 layout)."""
    return f"SELECT IFNULL(SUM(size), 0) FROM {quote_identifier(unquote(tables.vec) + '_chunks')}"


def compact_copy_sql(tables: CollectionTables) -> list[str]:
    """Copy every vector into a temporary table (step 1 of compaction)."""
    return [
        "DROP TABLE IF EXISTS temp.svs_compact",
        f"CREATE TEMP TABLE svs_compact AS SELECT rowid AS pk, embedding FROM {tables.vec}",
    ]


def compact_restore_sql(tables: CollectionTables) -> list[str]:
    """Refill a freshly created vec0 table from the copy (step 3 of compaction)."""
    return [
        f"INSERT INTO {tables.vec} (rowid, embedding) SELECT pk, embedding FROM temp.svs_compact ORDER BY pk",
        "DROP TABLE temp.svs_compact",
    ]


def page_stats_sql() -> tuple[str, str, str]:
    """Page size, page count and free-list page count of the file."""
    return ("PRAGMA page_size", "PRAGMA page_count", "PRAGMA freelist_count")


class Statement(NamedTuple):
    """One SQL statement and its bound parameters."""

    sql: str
    params: tuple[object, ...] = ()


def driver_probe_statements() -> list[Statement]:
    """What a SQLite build must run for the core to write: one collection's whole write path.

    Run on an empty in-memory database with ``trusted_schema`` off (as every
    connection the core opens): the records table, a vec0 table, the FTS5
    index and the change log with their triggers, then an insert, an update
    and a delete. SQLite 3.40 (Debian 12's system Python) loads sqlite-vec but
    fails the insert: "unsafe use of virtual table" (FTS5 written by a trigger).
    """
    tables = CollectionTables("driver_probe")
    return [
        *(Statement(sql) for sql in create_items_sql(tables)),
        Statement(create_vec_sql(tables, 2)),
        *(Statement(sql) for sql in create_fts_sql(tables)),
        *(Statement(sql) for sql in create_changes_sql(tables)),
        Statement(insert_item_sql(tables), (1, "a", "probe text", "{}", None, None)),
        Statement(fill_keywords_sql(tables), (1,)),
        Statement(insert_vector_sql(tables), (1, b"\x00\x00\x80\x3f\x00\x00\x00\x00")),
        Statement(update_item_sql(tables), ("other text", "{}", None, None, 1)),
        Statement(delete_vector_sql(tables), (1,)),
        Statement(delete_items_sql(tables), (1,)),
    ]
