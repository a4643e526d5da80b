"""LlamaIndex integration of sqlitevec-store: a vector store in one SQLite file.

``SQLiteVecVectorStore`` is a ``BasePydanticVectorStore`` over the shared
:mod:`sqlitevec_store` core, and ``SentenceTransformerEmbedding`` a
``BaseEmbedding`` over its local sentence-transformers embedder.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from .base import SQLiteVecVectorStore
from .embeddings import SentenceTransformerEmbedding

try:
    __version__ = version("sqlitevec-store")
except PackageNotFoundError:  # pragma: no cover - running from a checkout without install
    __version__ = "0.0.0"

__all__ = ["SQLiteVecVectorStore", "SentenceTransformerEmbedding", "__version__"]
