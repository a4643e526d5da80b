"""LlamaIndex integration of sqlitevec-store: a vector store in one SQLite file.

``SQLiteVecVectorStore`` is a ``BasePydanticVectorStore`` over the shared
:mod:`sqlitevec_store` core, and ``SentenceTransformerEmbedding`` a
``BaseEmbedding`` over its local sentence-transformers embedder. The rest of
an app's state can live in the same file: ``SQLiteVecKVStore`` (a
``BaseKVStore``, also what ``IngestionCache`` takes), ``SQLiteVecDocumentStore``,
``SQLiteVecIndexStore`` and ``SQLiteVecChatStore`` on it, and
``CachedEmbedding`` (document vectors cached by model id and text).
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
from .cached_embedding import CachedEmbedding
from .chat_store import SQLiteVecChatStore
from .embeddings import SentenceTransformerEmbedding
from .kvstore import SQLiteVecKVStore
from .storage import SQLiteVecDocumentStore, SQLiteVecIndexStore

try:
    __version__ = version("sqlitevec-store")
except PackageNotFoundError:  # pragma: no cover - running from a checkout without install
    __version__ = "0.0.0"

__all__ = [
    "CachedEmbedding",
    "SQLiteVecChatStore",
    "SQLiteVecDocumentStore",
    "SQLiteVecIndexStore",
    "SQLiteVecKVStore",
    "SQLiteVecVectorStore",
    "SentenceTransformerEmbedding",
    "__version__",
]
