"""The Postgres layout: the registry table, one table per collection, its indexes.

Layout of one schema (the ``search_path``'s first; tables of your own beside
these are left alone):

``sqlitevec_store_collections``
    The registry, as in the file: ``name`` (case-insensitive: a unique index
    on ``lower(name)``), ``dimension``, ``model_id``, ``distance`` (always
    ``cosine``), ``schema_version``, ``created_at``; plus ``table_id``, which
    names the collection's table (collection names may be 64 characters, more
    than Postgres identifiers hold with a prefix).
``svs_c<table_id>``
    One row per record: ``pk`` (bigint identity: insertion order), ``id``
    (unique), ``text``, ``metadata`` (``jsonb``, what filters read),
    ``metadata_text`` (the same JSON as written: reads return it, so key order
    and number spelling come back exactly as from a file, which LlamaIndex's
    node hashes depend on), ``doc_id`` (indexed), ``extra`` (JSON text of the
    framework bookkeeping apart from the metadata; never filtered), ``embedding``
    (``vector(D)``: unit vectors; the dimension is set by the first write) and,
    once the collection has had a keyword or hybrid search, ``tsv`` (below). A
    GIN index on ``metadata`` (``jsonb_path_ops``) serves the filters' equality
    and list-membership tests (compiled to ``@>``).
``tsv`` and ``svs_c<table_id>_tsv``
    The keyword index: a ``tsvector`` column generated from ``text`` with the
    ``english`` configuration (so the database keeps it in step with every
    write) and its GIN index, added by the first keyword or hybrid search
    (:func:`keyword_index_sql`), as the HNSW index is by the first approximate
    one. Measured (benchmarks/README.md): ``to_tsvector('english', ...)`` of a
    ~340-character text alone runs at 8-11K rows/s on our machine, which held
    every write under 4,600 records/s; a collection never searched by keyword
    does not pay it. Tables made before carry it from the start.
``svs_c<table_id>_hnsw``
    The HNSW index (``vector_cosine_ops``), built by the first approximate
    search (``index_type="hnsw"`` or ``"rescore"``) and kept up to date by
    Postgres from then on.

Every identifier passes :func:`quote_identifier`; every value is bound.
"""

from __future__ import annotations

import re

from ...errors import SchemaError

__all__ = [
    "HNSW_MAX_DIMENSION",
    "REGISTRY_COLUMNS",
    "REGISTRY_TABLE",
    "SCHEMA_VERSION",
    "CollectionTable",
    "quote_identifier",
]

#: The layout version of a collection on Postgres (its own numbering: version 1 has everything).
SCHEMA_VERSION = 1

#: The registry table (the same name as in the file).
REGISTRY_TABLE = "sqlitevec_store_collections"

#: The registry's columns as read (``table_id`` last).
REGISTRY_COLUMNS = ("name", "dimension", "model_id", "distance", "schema_version", "created_at", "table_id")

#: pgvector 0.6's largest dimension for an HNSW index on ``vector``.
HNSW_MAX_DIMENSION = 2000

#: pgvector's largest ``vector`` dimension.
VECTOR_MAX_DIMENSION = 16000

#: The text search configuration of the keyword index (English stemming and stopwords).
TEXT_SEARCH_CONFIG = "english"

#: The document of a record for keyword search (what the ``tsv`` column holds).
TSVECTOR_OF_TEXT = f"to_tsvector('{TEXT_SEARCH_CONFIG}'::regconfig, text)"

_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}")

#: A key for ``pg_advisory_xact_lock``: registry changes (create, drop, set dimension) are serialized.
REGISTRY_LOCK_KEY = 0x5356_5352  # "SVSR"


def quote_identifier(name: str) -> str:
    """``"name"`` for one of our own identifiers (lower-case letters, digits and ``_``, at most 63)."""
    if not _IDENTIFIER.fullmatch(name):
        raise SchemaError(f"Not an identifier this package makes: {name!r}")
    return f'"{name}"'


class CollectionTable:
    """The quoted names of one collection's table and indexes."""

    def __init__(self, table_id: int) -> None:
        """Names for the collection registered with ``table_id``."""
        self.table_id = int(table_id)
        base = f"svs_c{self.table_id}"
        self.table = quote_identifier(base)
        self.hnsw = quote_identifier(f"{base}_hnsw")
        self.doc_index = quote_identifier(f"{base}_doc")
        self.tsv_index = quote_identifier(f"{base}_tsv")
        self.tsv_name = f"{base}_tsv"
        self.metadata_index = quote_identifier(f"{base}_meta")
        self.hnsw_name = f"{base}_hnsw"


def create_registry_sql() -> list[str]:
    """The registry table and its case-insensitive name index (idempotent)."""
    table = quote_identifier(REGISTRY_TABLE)
    return [
        f"""CREATE TABLE IF NOT EXISTS {table} (
            table_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            name text NOT NULL,
            dimension integer,
            model_id text,
            distance text NOT NULL DEFAULT 'cosine',
            schema_version integer NOT NULL,
            created_at text NOT NULL
        )""",
        f"CREATE UNIQUE INDEX IF NOT EXISTS {quote_identifier(REGISTRY_TABLE + '_name')} ON {table} (lower(name))",
    ]


def registry_columns_sql() -> str:
    """The registry's column names, in order (to refuse a table of that name we did not write)."""
    return (
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name = %s ORDER BY ordinal_position"
    )


def registry_select_sql(*, one: bool) -> str:
    """Entries (one by name, case-insensitive; or all by name)."""
    table = quote_identifier(REGISTRY_TABLE)
    columns = ", ".join(REGISTRY_COLUMNS)
    if one:
        return f"SELECT {columns} FROM {table} WHERE lower(name) = lower(%s)"
    return f"SELECT {columns} FROM {table} ORDER BY lower(name)"


def registry_insert_sql() -> str:
    """Register a collection; returns its ``table_id``."""
    return (
        f"INSERT INTO {quote_identifier(REGISTRY_TABLE)} (name, dimension, model_id, schema_version, created_at) "
        "VALUES (%s, %s, %s, %s, to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')) "
        "RETURNING table_id"
    )


def registry_update_sql(column: str) -> str:
    """Set ``dimension`` or ``model_id`` of one entry."""
    if column not in ("dimension", "model_id"):
        raise SchemaError(f"Not a registry column that changes: {column!r}")
    return f"UPDATE {quote_identifier(REGISTRY_TABLE)} SET {column} = %s WHERE table_id = %s"


def registry_delete_sql() -> str:
    """Remove one entry."""
    return f"DELETE FROM {quote_identifier(REGISTRY_TABLE)} WHERE table_id = %s"


def create_table_sql(names: CollectionTable, dimension: int | None) -> list[str]:
    """A collection's table (no ``IF NOT EXISTS``: a table of that name that is not ours is never adopted)."""
    vector_type = "vector" if dimension is None else f"vector({int(dimension)})"
    return [
        f"""CREATE TABLE {names.table} (
            pk bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            id text NOT NULL UNIQUE,
            text text NOT NULL,
            metadata jsonb NOT NULL,
            metadata_text text NOT NULL,
            doc_id text,
            extra text,
            embedding {vector_type}
        )""",
        vector_storage_sql(names),
        f"CREATE INDEX {names.doc_index} ON {names.table} (doc_id)",
        f"CREATE INDEX {names.metadata_index} ON {names.table} USING gin (metadata jsonb_path_ops)",
    ]


def keyword_index_sql(names: CollectionTable) -> list[str]:
    """The keyword index: the generated ``tsv`` column (a rewrite of the table) and its GIN index (idempotent)."""
    return [
        f"ALTER TABLE {names.table} ADD COLUMN IF NOT EXISTS tsv tsvector "
        f"GENERATED ALWAYS AS ({TSVECTOR_OF_TEXT}) STORED",
        f"CREATE INDEX IF NOT EXISTS {names.tsv_index} ON {names.table} USING gin (tsv)",
    ]


def vector_storage_sql(names: CollectionTable) -> str:
    """Keep vectors in the table's rows (``MAIN``), not in TOAST (pgvector's default, ``EXTERNAL``).

    Measured (benchmarks/README.md, 100K x 384): an exact scan of TOASTed
    vectors reads three buffers per row and ran 2.2-2.5x slower.
    """
    return f"ALTER TABLE {names.table} ALTER COLUMN embedding SET STORAGE MAIN"


def set_dimension_sql(names: CollectionTable, dimension: int) -> list[str]:
    """Give the (still empty) vector column its dimension (changing the type resets its storage: set again)."""
    return [
        f"ALTER TABLE {names.table} ALTER COLUMN embedding TYPE vector({int(dimension)})",
        vector_storage_sql(names),
    ]


def create_hnsw_sql(names: CollectionTable, m: int, ef_construction: int) -> str:
    """The HNSW index over the unit vectors (cosine)."""
    return (
        f"CREATE INDEX IF NOT EXISTS {names.hnsw} ON {names.table} USING hnsw (embedding vector_cosine_ops) "
        f"WITH (m = {int(m)}, ef_construction = {int(ef_construction)})"
    )


def drop_table_sql(names: CollectionTable) -> str:
    """Drop a collection's table (its indexes go with it)."""
    return f"DROP TABLE IF EXISTS {names.table}"
