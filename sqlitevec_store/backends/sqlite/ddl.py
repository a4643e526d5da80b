"""The SQLite file's layout: table names, ``CREATE`` statements, vec0/FTS5 declarations, migrations.

Layout of one file (any other tables the user keeps beside these are left
alone):

``sqlitevec_store_collections``
    The registry: one row per collection with its ``name`` (case-insensitive),
    ``dimension`` (NULL until the first vectors arrive), ``model_id`` (NULL
    until a named embedding model writes), ``distance`` (always ``cosine``),
    ``schema_version`` and ``created_at``.
``svs_<name>_items``
    One row per record: ``pk`` (integer, the vector's rowid), ``id`` (the
    user-visible string id, unique), ``text``, ``metadata`` (JSON object),
    ``doc_id`` (optional id of the source document, indexed) and ``extra``
    (optional JSON object of framework bookkeeping kept apart from metadata).
``svs_<name>_vec``
    A sqlite-vec ``vec0`` table: ``rowid`` = ``pk``, ``embedding float[D]``
    (``D`` at most :data:`VEC0_MAX_DIMENSION`).
    Vectors are stored normalized to unit length, so vec0's default L2
    distance orders results exactly as cosine distance does; the cosine
    distance is ``L2² / 2``. vec0 allocates vector slots a *chunk* at a time,
    and the chunk size is fixed when the table is created: a new table starts
    at 16 slots and is rebuilt with a larger chunk size as the collection
    grows (:data:`VEC0_CHUNK_SIZES`, :func:`vec0_chunk_size_for`); tables
    created without a ``chunk_size`` option (files written before this) have
    vec0's default of 1,024. No schema version depends on it: every sqlite-vec
    0.1 reads any chunk size.
``svs_<name>_fts`` (schema version 2)
    An FTS5 full-text index over ``text``, an *external-content* table
    (``content=svs_<name>_items``, ``content_rowid=pk``): it stores the index
    only, not a second copy of every text, and ``'rebuild'`` recreates it from
    the records table (what the version 1 -> 2 migration does). Two triggers
    on the records table (``..._fts_ad``, ``_au``) keep it in step with deletes
    and updates in the same statement. New records are indexed by the write
    itself, one ``INSERT ... SELECT`` over every record the call added, before
    the call returns (:func:`fill_keywords_sql`, since schema version 4;
    versions 2 and 3 had a third trigger, ``..._fts_ai``, indexing each
    inserted row on its own, which made bulk writes several times slower).
    Either way the index changes in the same transaction as the records, and
    is complete when a write returns. Compaction rebuilds only the
    vector table and leaves it alone. Tokenizer: ``porter unicode61
    remove_diacritics 2`` (English stemming, Unicode case folding, accents
    ignored).

Migrations: :data:`MIGRATIONS` maps a version ``v`` to the statements that
bring one collection from ``v`` to ``v + 1``; the store runs them, and records
the new version, in one transaction when a writable database is opened.

Every identifier passes :func:`quote_identifier`, and collection names must
match :data:`COLLECTION_NAME_PATTERN` before they get there.

Ownership: a collection owns exactly the objects named in
:meth:`CollectionTables.object_names`. A collection is only created when none
of those names is taken in the file (by the user's own tables, or anything
else), and the ``CREATE`` statements have no ``IF NOT EXISTS``, so a table
that is not ours is never adopted; dropping a collection drops only tables of
the shape this module creates (:func:`parse_vec0_declaration`,
:func:`is_fts5_declaration`, :data:`ITEM_COLUMN_NAMES`,
:data:`CHANGES_COLUMN_NAMES`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import NamedTuple

from ...errors import InvalidInputError
from ...records import is_int
from ...registry import validate_collection_name

__all__ = [
    "CHANGE_LOG_VERSION",
    "CHANGES_COLUMN_NAMES",
    "FTS_TOKENIZER",
    "ITEM_COLUMN_NAMES",
    "KEYWORD_FILL_VERSION",
    "KEYWORD_INDEX_VERSION",
    "MIGRATIONS",
    "REGISTRY_TABLE",
    "SCHEMA_VERSION",
    "VEC0_CHUNKS_PER_SIZE",
    "VEC0_CHUNK_SIZES",
    "VEC0_DEFAULT_CHUNK_SIZE",
    "VEC0_MAX_DIMENSION",
    "VEC0_MAX_K",
    "CollectionTables",
    "Vec0Declaration",
    "create_changes_sql",
    "create_fts_sql",
    "create_items_sql",
    "create_registry_sql",
    "create_vec_sql",
    "fill_keywords_sql",
    "fts_command_sql",
    "is_fts5_declaration",
    "parse_vec0_declaration",
    "quote_identifier",
    "unquote",
    "vec0_chunk_size_for",
]

#: Version of the on-disk layout described above (independent of the package version).
#: 1: registry, records and vec0 tables. 2: adds the FTS5 keyword index. 3: the change log.
#: 4: new records are keyword-indexed by the write, not by a trigger per row.
SCHEMA_VERSION = 4

#: The first schema version with the FTS5 keyword index.
KEYWORD_INDEX_VERSION = 2

#: The first schema version with the change log (and pks that are never reused).
CHANGE_LOG_VERSION = 3

#: The first schema version whose new records the write keyword-indexes itself (no insert trigger).
KEYWORD_FILL_VERSION = 4

#: The registry table's name.
REGISTRY_TABLE = "sqlitevec_store_collections"

#: sqlite-vec refuses KNN queries with ``k`` above this.
VEC0_MAX_K = 4096

#: sqlite-vec 0.1 refuses a vector column wider than this (measured with 0.1.9:
#: ``float[8193]`` fails with "Dimension on vector column too large ... maximum 8192").
VEC0_MAX_DIMENSION = 8192

#: vec0's chunk size when ``CREATE`` names none: every table written before
#: chunk sizes were chosen here has it.
VEC0_DEFAULT_CHUNK_SIZE = 1024

#: The chunk sizes a vector table is created with, smallest first. A table
#: holding ``n`` vectors gets the smallest size that needs at most
#: :data:`VEC0_CHUNKS_PER_SIZE` chunks, the largest beyond that
#: (:func:`vec0_chunk_size_for`). sqlite-vec 0.1.9 accepts multiples of 8 up
#: to 4096. Measured at 100,000 x 384 (``benchmarks/bench_vec0_chunks.py``,
#: figures in ``benchmarks/README.md``): 256 and 1,024 cost the same, 64 and
#: 128 make vec0's own KNN ~15-35% slower, 16 about 2x slower and the file a
#: third bigger. So every table beyond 1,024 vectors has 1,024 (vec0's
#: default, as before), and only small ones have smaller chunks: 16 slots of
#: 384 dimensions take 24 KiB, 1,024 take 1.5 MiB.
VEC0_CHUNK_SIZES = (16, 128, 1024)

#: A table is rebuilt with the next chunk size before it would need more chunks than this.
VEC0_CHUNKS_PER_SIZE = 8

_IDENTIFIER_PATTERN = re.compile(r"[A-Za-z0-9_\-]{1,128}")


def quote_identifier(identifier: str) -> str:
    """Validate a table or column name and return it double-quoted.

    This is the only way identifiers reach SQL text.

    Raises:
        InvalidInputError: The identifier has characters outside
            ``[A-Za-z0-9_-]``.

    """
    if not _IDENTIFIER_PATTERN.fullmatch(identifier):
        raise InvalidInputError(f"Refusing to use {identifier!r} as an SQL identifier")
    return f'"{identifier}"'


def create_registry_sql() -> str:
    """The registry table."""
    return (
        f"CREATE TABLE IF NOT EXISTS {quote_identifier(REGISTRY_TABLE)} (\n"
        "  name TEXT PRIMARY KEY COLLATE NOCASE,\n"
        "  dimension INTEGER CHECK (dimension IS NULL OR dimension > 0),\n"
        "  model_id TEXT,\n"
        "  distance TEXT NOT NULL DEFAULT 'cosine',\n"
        "  schema_version INTEGER NOT NULL,\n"
        "  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))\n"
        ")"
    )


#: The shadow tables sqlite-vec 0.1 creates for a ``vec0`` table with one vector column.
VEC0_SHADOW_SUFFIXES = ("_info", "_chunks", "_rowids", "_vector_chunks00")

#: The shadow tables FTS5 creates (``_content`` only without ``content=``; listed so it is never taken).
FTS5_SHADOW_SUFFIXES = ("_data", "_idx", "_docsize", "_config", "_content")


class CollectionTables:
    """The quoted table and index names of one collection."""

    def __init__(self, name: str) -> None:
        """Derive the names from a validated collection name."""
        base = f"svs_{validate_collection_name(name).lower()}"
        self.base = base
        self.items = quote_identifier(f"{base}_items")
        self.vec = quote_identifier(f"{base}_vec")
        self.doc_index = quote_identifier(f"{base}_items_doc_id")
        self.fts = quote_identifier(f"{base}_fts")
        self.fts_triggers = tuple(quote_identifier(f"{base}_fts_{op}") for op in ("ai", "ad", "au"))
        self.items_name = f"{base}_items"
        self.changes = quote_identifier(f"{base}_changes")
        self.change_triggers = tuple(quote_identifier(f"{base}_changes_{op}") for op in ("ad", "au"))

    def all_tables(self) -> tuple[str, ...]:
        """Tables to drop with the collection.

        vec0 and FTS5 drop their own shadow tables; the triggers go with the records table.
        """
        return (self.fts, self.vec, self.changes, self.items)

    def object_names(self) -> tuple[str, ...]:
        """Every name in ``sqlite_master`` the collection uses (lower case, unquoted).

        Its tables, the shadow tables vec0 and FTS5 make for them, its index
        and its triggers. Two collections never share one: every name is
        ``svs_<name>_`` plus a suffix, and no suffix is another one with a
        ``<word>_`` in front (checked by a test), so ``notes`` and
        ``notes_fts`` can live side by side.
        """
        vec, fts = unquote(self.vec), unquote(self.fts)
        return (
            unquote(self.items),
            unquote(self.doc_index),
            vec,
            *(vec + suffix for suffix in VEC0_SHADOW_SUFFIXES),
            fts,
            *(fts + suffix for suffix in FTS5_SHADOW_SUFFIXES),
            *(unquote(t) for t in self.fts_triggers),
            unquote(self.changes),
            *(unquote(t) for t in self.change_triggers),
        )


#: The records table's columns, in order.
ITEM_COLUMN_NAMES = ("pk", "id", "text", "metadata", "doc_id", "extra")

#: The change log's columns, in order.
CHANGES_COLUMN_NAMES = ("seq", "pk")


def create_items_sql(tables: CollectionTables) -> list[str]:
    """The records table and its index on ``doc_id``.

    No ``IF NOT EXISTS`` here nor in the other ``create_*_sql`` of a
    collection: a table of that name that is not ours must make creation fail,
    never be adopted.
    """
    return [
        f"CREATE TABLE {tables.items} (\n"
        "  pk INTEGER PRIMARY KEY,\n"
        "  id TEXT NOT NULL UNIQUE,\n"
        "  text TEXT NOT NULL,\n"
        "  metadata TEXT NOT NULL DEFAULT '{}',\n"
        "  doc_id TEXT,\n"
        "  extra TEXT\n"
        ")",
        f"CREATE INDEX {tables.doc_index} ON {tables.items} (doc_id)",
    ]


def create_vec_sql(tables: CollectionTables, dimension: int, chunk_size: int = VEC0_CHUNK_SIZES[0]) -> str:
    """The vec0 table.

    Args:
        tables: The collection's names.
        dimension: A positive int, at most :data:`VEC0_MAX_DIMENSION`.
        chunk_size: Vector slots per chunk: a multiple of 8 from 8 to 4096
            (sqlite-vec's rule); see :data:`VEC0_CHUNK_SIZES`.

    """
    if not is_int(dimension) or not 1 <= dimension <= VEC0_MAX_DIMENSION:
        raise InvalidInputError(
            f"dimension must be an integer from 1 to {VEC0_MAX_DIMENSION} (sqlite-vec's limit), got {dimension!r}"
        )
    if not is_int(chunk_size) or not 8 <= chunk_size <= 4096 or chunk_size % 8:
        raise InvalidInputError(f"chunk_size must be a multiple of 8 from 8 to 4096, got {chunk_size!r}")
    return f"CREATE VIRTUAL TABLE {tables.vec} USING vec0(embedding float[{dimension}], chunk_size={chunk_size})"


def vec0_chunk_size_for(count: int) -> int:
    """The chunk size a vector table holding ``count`` vectors is created or rebuilt with."""
    for size in VEC0_CHUNK_SIZES:
        if count <= size * VEC0_CHUNKS_PER_SIZE:
            return size
    return VEC0_CHUNK_SIZES[-1]


class Vec0Declaration(NamedTuple):
    """What a vector table's ``CREATE`` statement declares."""

    dimension: int
    chunk_size: int


_VEC0_CREATE = re.compile(
    r"\s*CREATE\s+VIRTUAL\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?(?:\"[^\"]*\"|\S+)\s+USING\s+vec0\s*\(([^()]*)\)\s*",
    re.IGNORECASE,
)
_VEC0_EMBEDDING = re.compile(r"\s*embedding\s+float\s*\[\s*([0-9]{1,9})\s*\]\s*", re.IGNORECASE)
_VEC0_CHUNK_SIZE = re.compile(r"\s*chunk_size\s*=\s*([0-9]{1,9})\s*", re.IGNORECASE)


def parse_vec0_declaration(sql: object) -> Vec0Declaration | None:
    """Read a vector table's dimension and chunk size from its ``CREATE`` statement (``sqlite_master.sql``).

    Only the form this module writes is accepted: ``vec0(embedding
    float[D])``, optionally followed by ``, chunk_size=N`` (files written
    before chunk sizes were chosen have none: vec0's default, 1,024). Anything
    else (another column, option or type) gives ``None``: not a table of ours.
    """
    if not isinstance(sql, str):
        return None
    match = _VEC0_CREATE.fullmatch(sql)
    if match is None:
        return None
    arguments = match.group(1).split(",")
    embedding = _VEC0_EMBEDDING.fullmatch(arguments[0])
    if embedding is None or len(arguments) > 2:
        return None
    chunk_size = VEC0_DEFAULT_CHUNK_SIZE
    if len(arguments) == 2:
        option = _VEC0_CHUNK_SIZE.fullmatch(arguments[1])
        if option is None:
            return None
        chunk_size = int(option.group(1))
    return Vec0Declaration(int(embedding.group(1)), chunk_size)


def is_fts5_declaration(sql: object, tables: CollectionTables) -> bool:
    """Whether ``sql`` (from ``sqlite_master``) creates an FTS5 table over the collection's records, as ours does."""
    if not isinstance(sql, str):
        return False
    pattern = rf"\s*CREATE\s+VIRTUAL\s+TABLE\s+.*\s+USING\s+fts5\s*\(.*content\s*=\s*'{tables.items_name}'.*\)\s*"
    return re.fullmatch(pattern, sql, re.IGNORECASE | re.DOTALL) is not None


#: The FTS5 tokenizer of the keyword index (part of the schema: changing it needs a migration).
FTS_TOKENIZER = "porter unicode61 remove_diacritics 2"


def create_fts_sql(tables: CollectionTables, *, insert_trigger: bool = False) -> list[str]:
    """The external-content FTS5 index over ``text`` and the triggers that keep it in step.

    The content table's name comes from a validated collection name, so it can
    be written as a string literal. ``insert_trigger`` adds the trigger that
    indexed each inserted record in schema versions 2 and 3 (only the version
    1 -> 2 migration asks for it; version 4 drops it).
    """
    fts = tables.fts
    insert, delete, update = tables.fts_triggers
    inserted = (
        [
            f"CREATE TRIGGER {insert} AFTER INSERT ON {tables.items} BEGIN "
            f"INSERT INTO {fts} (rowid, text) VALUES (new.pk, new.text); END"
        ]
        if insert_trigger
        else []
    )
    return [
        f"CREATE VIRTUAL TABLE {fts} USING fts5(text, content='{tables.items_name}', "
        f"content_rowid='pk', tokenize='{FTS_TOKENIZER}')",
        *inserted,
        f"CREATE TRIGGER {delete} AFTER DELETE ON {tables.items} BEGIN "
        f"INSERT INTO {fts} ({fts}, rowid, text) VALUES ('delete', old.pk, old.text); END",
        f"CREATE TRIGGER {update} AFTER UPDATE OF text ON {tables.items} BEGIN "
        f"INSERT INTO {fts} ({fts}, rowid, text) VALUES ('delete', old.pk, old.text); "
        f"INSERT INTO {fts} (rowid, text) VALUES (new.pk, new.text); END",
    ]


def fill_keywords_sql(tables: CollectionTables) -> str:
    """Keyword-index the records from a pk on (a write's new records: pks are never reused). Parameter: that pk."""
    return f"INSERT INTO {tables.fts} (rowid, text) SELECT pk, text FROM {tables.items} WHERE pk >= ? ORDER BY pk"


def fts_command_sql(tables: CollectionTables, command: str) -> str:
    """An FTS5 special command on the index: ``rebuild``, ``optimize`` or ``integrity-check``."""
    if command not in ("rebuild", "optimize", "integrity-check"):
        raise InvalidInputError(f"Not an FTS5 command used here: {command!r}")
    if command == "integrity-check":
        # rank = 1 also compares the index with the external content table.
        return f"INSERT INTO {tables.fts} ({tables.fts}, rank) VALUES ('integrity-check', 1)"
    return f"INSERT INTO {tables.fts} ({tables.fts}) VALUES ('{command}')"


def _migrate_1_to_2(tables: CollectionTables) -> list[str]:
    """Version 2 adds the keyword index: create it, then index every existing text."""
    return [*create_fts_sql(tables, insert_trigger=True), fts_command_sql(tables, "rebuild")]


def create_changes_sql(tables: CollectionTables) -> list[str]:
    """The change log that lets a process keep a RAM copy of the vectors in step (schema version 3).

    ``svs_<name>_changes(seq, pk)`` gets one row, from triggers on the records
    table, for every record updated or deleted. Inserted records need none:
    row ``seq = -1`` holds the largest pk ever given out, new records get pks
    above it (:func:`next_pk_sql`), so pks are never reused and the pks above
    the largest one a copy has seen are the records inserted since. Row
    ``seq = 0`` holds the collection's random *epoch*, which tells a
    re-created collection of the same name from the old one. The store trims
    old rows (:func:`trim_changes_sql`); a copy older than the oldest row left
    is read again in full.
    """
    changes = tables.changes
    deleted, updated = tables.change_triggers
    return [
        f"CREATE TABLE {changes} (seq INTEGER PRIMARY KEY AUTOINCREMENT, pk INTEGER NOT NULL)",
        f"INSERT OR IGNORE INTO {changes} (seq, pk) VALUES (-1, (SELECT IFNULL(MAX(pk), 0) FROM {tables.items}))",
        f"INSERT OR IGNORE INTO {changes} (seq, pk) VALUES (0, random())",
        f"CREATE TRIGGER {deleted} AFTER DELETE ON {tables.items} BEGIN "
        f"INSERT INTO {changes} (pk) VALUES (old.pk); END",
        f"CREATE TRIGGER {updated} AFTER UPDATE ON {tables.items} BEGIN "
        f"INSERT INTO {changes} (pk) VALUES (new.pk); END",
    ]


def _migrate_2_to_3(tables: CollectionTables) -> list[str]:
    """Version 3 adds the change log."""
    return create_changes_sql(tables)


def _migrate_3_to_4(tables: CollectionTables) -> list[str]:
    """Version 4 drops the per-row insert trigger: the write keyword-indexes its new records itself."""
    return [f"DROP TRIGGER {tables.fts_triggers[0]}"]


#: ``MIGRATIONS[v](tables)``: the statements that bring one collection from
#: schema version ``v`` to ``v + 1``. Every version below
#: :data:`SCHEMA_VERSION` has an entry.
MIGRATIONS: dict[int, Callable[[CollectionTables], list[str]]] = {
    1: _migrate_1_to_2,
    2: _migrate_2_to_3,
    3: _migrate_3_to_4,
}


def unquote(quoted: str) -> str:
    """A quoted identifier without its quotes."""
    return quoted[1:-1]
