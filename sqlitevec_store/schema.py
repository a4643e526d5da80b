"""The file's schema: SQL text as pure functions, and the schema version.

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
    the records table (what the version 1 -> 2 migration does). Three triggers
    on the records table (``..._fts_ai``, ``_ad``, ``_au``) keep it in sync,
    so every write to a record (upsert, delete, clear) updates the index in the
    same statement, hence the same transaction. Compaction rebuilds only the
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

import itertools
import re
from collections.abc import Callable, Sequence
from typing import NamedTuple

from .errors import InvalidCollectionNameError, InvalidInputError
from .records import is_int

__all__ = [
    "COLLECTION_NAME_PATTERN",
    "REGISTRY_TABLE",
    "CHANGE_LOG_VERSION",
    "KEYWORD_INDEX_VERSION",
    "MAX_QUERY_TERMS",
    "MAX_RAW_QUERY_LENGTH",
    "SCHEMA_VERSION",
    "VEC0_CHUNKS_PER_SIZE",
    "VEC0_CHUNK_SIZES",
    "VEC0_DEFAULT_CHUNK_SIZE",
    "VEC0_MAX_DIMENSION",
    "VEC0_MAX_K",
    "CollectionTables",
    "Vec0Declaration",
    "FTS_TOKENIZER",
    "MIGRATIONS",
    "Statement",
    "create_changes_sql",
    "create_fts_sql",
    "create_items_sql",
    "create_registry_sql",
    "create_vec_sql",
    "check_raw_keyword_query",
    "is_fts5_declaration",
    "driver_probe_statements",
    "keyword_match_expression",
    "keyword_sql",
    "knn_sql",
    "parse_vec0_declaration",
    "placeholders",
    "scan_sql",
    "select_items_sql",
    "select_vectors_sql",
    "quote_identifier",
    "validate_collection_name",
    "vec0_chunk_size_for",
]

#: Version of the on-disk layout described above (independent of the package version).
#: 1: registry, records and vec0 tables. 2: adds the FTS5 keyword index.
SCHEMA_VERSION = 3

#: The first schema version with the FTS5 keyword index.
KEYWORD_INDEX_VERSION = 2

#: The first schema version with the change log (and pks that are never reused).
CHANGE_LOG_VERSION = 3

#: The registry table's name.
REGISTRY_TABLE = "sqlitevec_store_collections"

#: Collection names: 1-64 characters, letters, digits, ``_`` and ``-``,
#: starting with a letter or digit. Names are case-insensitive.
COLLECTION_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-]{0,63}")

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


def validate_collection_name(name: object) -> str:
    """Return ``name`` if it is a valid collection name.

    Raises:
        InvalidCollectionNameError: It is not a string matching
            :data:`COLLECTION_NAME_PATTERN`.

    """
    if not isinstance(name, str) or not COLLECTION_NAME_PATTERN.fullmatch(name):
        raise InvalidCollectionNameError(
            f"Invalid collection name {name!r}: expected 1-64 letters, digits, '_' or '-', "
            "starting with a letter or digit"
        )
    return name


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
        vec, fts = _unquote(self.vec), _unquote(self.fts)
        return (
            _unquote(self.items),
            _unquote(self.doc_index),
            vec,
            *(vec + suffix for suffix in VEC0_SHADOW_SUFFIXES),
            fts,
            *(fts + suffix for suffix in FTS5_SHADOW_SUFFIXES),
            *(_unquote(t) for t in self.fts_triggers),
            _unquote(self.changes),
            *(_unquote(t) for t in self.change_triggers),
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


def create_fts_sql(tables: CollectionTables) -> list[str]:
    """The external-content FTS5 index over ``text`` and the triggers that keep it in sync.

    The content table's name comes from a validated collection name, so it can
    be written as a string literal.
    """
    fts = tables.fts
    insert, delete, update = tables.fts_triggers
    return [
        f"CREATE VIRTUAL TABLE {fts} USING fts5(text, content='{tables.items_name}', "
        f"content_rowid='pk', tokenize='{FTS_TOKENIZER}')",
        f"CREATE TRIGGER {insert} AFTER INSERT ON {tables.items} BEGIN "
        f"INSERT INTO {fts} (rowid, text) VALUES (new.pk, new.text); END",
        f"CREATE TRIGGER {delete} AFTER DELETE ON {tables.items} BEGIN "
        f"INSERT INTO {fts} ({fts}, rowid, text) VALUES ('delete', old.pk, old.text); END",
        f"CREATE TRIGGER {update} AFTER UPDATE OF text ON {tables.items} BEGIN "
        f"INSERT INTO {fts} ({fts}, rowid, text) VALUES ('delete', old.pk, old.text); "
        f"INSERT INTO {fts} (rowid, text) VALUES (new.pk, new.text); END",
    ]


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
    return [*create_fts_sql(tables), fts_command_sql(tables, "rebuild")]


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


#: ``MIGRATIONS[v](tables)``: the statements that bring one collection from
#: schema version ``v`` to ``v + 1``. Every version below
#: :data:`SCHEMA_VERSION` has an entry.
MIGRATIONS: dict[int, Callable[[CollectionTables], list[str]]] = {1: _migrate_1_to_2, 2: _migrate_2_to_3}


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


_QUERY_CHUNK = re.compile(r"\S+")
_WORD_CHARACTER = re.compile(r"\w")

#: Words left out of keyword queries built from plain text (unless nothing
#: else is left): they match most paragraphs and only add noise to BM25.
_STOPWORD_TEXT = """a about an and are as at be by can could did do does for from had has have how i if in into is
    it its me my of on or our should so than that the their them then there these they this to was we were what
    when where which who whom why will with would you your"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())


#: The most FTS5 terms a plain-text keyword query uses, and a raw one may hold.
#: FTS5's time to parse a query grows with the square of its terms (measured:
#: 8,000 terms 0.2 s, 16,000 0.8 s, before any row is read), and BM25 over a
#: 20,000-record collection took 0.25 s for 128 matching terms, 1.4 s for 512.
MAX_QUERY_TERMS = 128

#: The longest raw (``raw=True``) FTS5 query accepted, in characters.
MAX_RAW_QUERY_LENGTH = 10_000

#: A run of what FTS5's unicode61 tokenizer keeps as one token (letters and digits).
_TOKEN = re.compile(r"[^\W_]+")
_RAW_OPERATORS = frozenset({"AND", "OR", "NOT", "NEAR"})


class _TermBudget:
    """Query pieces taken in order until :data:`MAX_QUERY_TERMS` tokens are used."""

    def __init__(self) -> None:
        self.pieces: list[str] = []
        self.left = MAX_QUERY_TERMS

    def take(self, piece: str) -> None:
        """Keep ``piece``, cut after the tokens still in the budget (a piece without any counts as one)."""
        if self.left <= 0:
            return
        ends = [m.end() for m in itertools.islice(_TOKEN.finditer(piece), self.left + 1)]
        if len(ends) > self.left:
            piece = piece[: ends[self.left - 1]]
        self.pieces.append(piece)
        self.left -= max(1, min(len(ends), self.left))


def keyword_match_expression(text: str, *, operator: str = "OR", stopwords: frozenset[str] = STOPWORDS) -> str | None:
    """Turn plain user text into a safe FTS5 query, or ``None`` if it has no words.

    The text is split on whitespace; each distinct piece holding a word character
    becomes one FTS5 string (double quotes doubled), which FTS5 tokenizes like
    the documents, so ``ERR_CONN_42`` or ``pg_stat_activity`` match as a
    phrase. Operators, ``*``, parentheses and quotes in the text are therefore
    never syntax. NUL characters count as spaces. Pieces that are stopwords are dropped unless all of them
    are. The strings are joined with ``OR`` (any word may match; BM25 ranks
    documents matching more and rarer words first) or ``AND``.

    Long text is bounded: only the first pieces holding :data:`MAX_QUERY_TERMS`
    (128) tokens in all are used (a token is a run of letters and digits, so
    ``ERR_CONN_42`` holds three; the piece that crosses the limit is cut), and
    the rest of the text is not read. Repeated pieces count once. A 1 MB query
    thus costs what a 128-word one does.
    """
    if operator not in ("OR", "AND"):
        raise InvalidInputError(f"operator must be 'OR' or 'AND', got {operator!r}")
    kept, dropped = _TermBudget(), _TermBudget()
    seen: set[str] = set()
    # FTS5 reads a query only up to a NUL character: treat NUL as a space.
    for match in _QUERY_CHUNK.finditer(text.replace("\x00", " ")):
        piece = match.group()
        if piece in seen or not _WORD_CHARACTER.search(piece):
            continue
        seen.add(piece)
        if piece.strip(".,;:!?'\"()[]{}").lower() in stopwords:
            dropped.take(piece)
        else:
            kept.take(piece)
            if kept.left <= 0:
                break
    chosen = kept.pieces or dropped.pieces
    if not chosen:
        return None
    return f" {operator} ".join('"' + p.replace('"', '""') + '"' for p in chosen)


def check_raw_keyword_query(text: str) -> None:
    """Refuse a raw FTS5 query longer than :data:`MAX_RAW_QUERY_LENGTH` characters or with too many terms.

    Terms are runs of letters and digits outside the operators ``AND``,
    ``OR``, ``NOT`` and ``NEAR``; at most :data:`MAX_QUERY_TERMS` are accepted.

    Raises:
        InvalidInputError: The query is over either limit.

    """
    if len(text) > MAX_RAW_QUERY_LENGTH:
        raise InvalidInputError(
            f"Raw FTS5 queries may be at most {MAX_RAW_QUERY_LENGTH} characters long, got {len(text)}"
        )
    terms = sum(1 for m in _TOKEN.finditer(text) if m.group() not in _RAW_OPERATORS)
    if terms > MAX_QUERY_TERMS:
        raise InvalidInputError(f"Raw FTS5 queries may hold at most {MAX_QUERY_TERMS} terms, got {terms}")


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
    return f"SELECT value FROM {quote_identifier(_unquote(tables.vec) + '_info')} WHERE key = 'CREATE_VERSION'"


def vec0_chunks_sql(tables: CollectionTables) -> str:
    """vec0's storage read chunk by chunk (sqlite-vec 0.1 layout): size, validity bitmap, rowids, vectors."""
    base = _unquote(tables.vec)
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
    return f"SELECT IFNULL(SUM(size), 0) FROM {quote_identifier(_unquote(tables.vec) + '_chunks')}"


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


def _unquote(quoted: str) -> str:
    return quoted[1:-1]


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
        Statement(insert_vector_sql(tables), (1, b"\x00\x00\x80\x3f\x00\x00\x00\x00")),
        Statement(update_item_sql(tables), ("other text", "{}", None, None, 1)),
        Statement(delete_vector_sql(tables), (1,)),
        Statement(delete_items_sql(tables), (1,)),
    ]
