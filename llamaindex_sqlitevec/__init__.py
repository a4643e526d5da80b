"""LlamaIndex integration of sqlitevec-store: a vector store in one SQLite file.

``SQLiteVecVectorStore`` is a ``BasePydanticVectorStore`` over the shared
:mod:`sqlitevec_store` core, and ``SentenceTransformerEmbedding`` a
``BaseEmbedding`` over its local sentence-transformers embedder.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from sqlitevec_store.errors import MissingDependencyError

try:
    import llama_index.core  # noqa: F401  (checked first, so a missing extra is named)
except ModuleNotFoundError as exc:
    if exc.name not in ("llama_index", "llama_index.core"):
        raise
    raise MissingDependencyError(
        'llamaindex_sqlitevec needs LlamaIndex (llama-index-core): pip install "sqlitevec-store[llamaindex]"',
        name=exc.name,
    ) from exc

from .base import SQLiteVecVectorStore
from .embeddings import SentenceTransformerEmbedding

try:
    __version__ = version("sqlitevec-store")
except PackageNotFoundError:  # pragma: no cover - running from a checkout without install
    __version__ = "0.0.0"

__all__ = ["SQLiteVecVectorStore", "SentenceTransformerEmbedding", "__version__"]
