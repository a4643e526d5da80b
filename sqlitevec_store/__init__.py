"""sqlitevec-store: one SQLite file for texts, metadata and vectors (sqlite-vec).

The framework-free core shared by ``langchain_sqlitevec`` and
``llamaindex_sqlitevec``. See :class:`Database` and :class:`Collection`.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from .backends.sqlite.connection import open_connection
from .backends.sqlite.ddl import SCHEMA_VERSION
from .backends.sqlite.filter_sql import compile_filter
from .collection import Collection
from .database import DEFAULT_COLLECTION, Database
from .embeddings import DEFAULT_MODEL, SentenceTransformerEmbedder, canonical_model_id
from .embeddings.cache import EmbeddingCache
from .errors import (
    CollectionNotFoundError,
    CorruptDatabaseError,
    DatabaseError,
    DatabaseFullError,
    DimensionMismatchError,
    ExtensionLoadError,
    InvalidCollectionNameError,
    InvalidInputError,
    InvalidInputTypeError,
    MigrationVerificationError,
    MissingDependencyError,
    ModelMismatchError,
    ReadOnlyError,
    ReadOnlyFileError,
    SchemaError,
    SqliteVecStoreError,
    UncheckedModelWarning,
    UnsupportedFilterError,
)
from .filters import And, Comparison, Filter, Not, Op, Or, parse_filter_dict
from .records import CollectionInfo, Hit, Record
from .search.kernels import DEFAULT_OVERSAMPLE
from .search.mmr import maximal_marginal_relevance
from .search.vector_index import INDEX_TYPES, available_index_types
from .stores import KeyValueStore, RecordKeys

try:
    __version__ = version("sqlitevec-store")
except PackageNotFoundError:  # pragma: no cover - running from a checkout without install
    __version__ = "0.0.0"

__all__ = [
    "DEFAULT_COLLECTION",
    "DEFAULT_MODEL",
    "DEFAULT_OVERSAMPLE",
    "INDEX_TYPES",
    "SCHEMA_VERSION",
    "And",
    "Collection",
    "CollectionInfo",
    "CollectionNotFoundError",
    "Comparison",
    "CorruptDatabaseError",
    "Database",
    "DatabaseError",
    "DatabaseFullError",
    "DimensionMismatchError",
    "EmbeddingCache",
    "ExtensionLoadError",
    "Filter",
    "Hit",
    "InvalidCollectionNameError",
    "InvalidInputError",
    "InvalidInputTypeError",
    "KeyValueStore",
    "MigrationVerificationError",
    "MissingDependencyError",
    "ModelMismatchError",
    "Not",
    "Op",
    "Or",
    "ReadOnlyError",
    "ReadOnlyFileError",
    "Record",
    "RecordKeys",
    "SchemaError",
    "SentenceTransformerEmbedder",
    "SqliteVecStoreError",
    "UncheckedModelWarning",
    "UnsupportedFilterError",
    "__version__",
    "available_index_types",
    "canonical_model_id",
    "compile_filter",
    "maximal_marginal_relevance",
    "open_connection",
    "parse_filter_dict",
]
