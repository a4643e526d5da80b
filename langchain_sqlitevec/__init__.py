"""LangChain integration for sqlitevec-store: a vector store in one SQLite file.

* :class:`SQLiteVecVectorStore`: a LangChain ``VectorStore`` (sqlite-vec search,
  PGVector/Chroma-style dict filters, async methods, ``as_retriever()``), with
  keyword (BM25) and hybrid search, also as retriever search types.
* :class:`SentenceTransformerEmbeddings`: local sentence-transformers embeddings,
  all-MiniLM-L6-v2 offline by default.
* :class:`SQLiteVecTranslator`: the structured-query translator that lets
  ``SelfQueryRetriever`` target the store.
* :class:`SQLiteVecRecordManager`: a ``RecordManager`` for
  ``langchain_core.indexing.index()``, and :class:`SQLiteVecByteStore`: a
  ``ByteStore`` (for ``CacheBackedEmbeddings`` and, through
  ``create_kv_docstore``, ``ParentDocumentRetriever``); both can live in the
  vector store's own file (``database=vector_store.database``).

Install with ``pip install "sqlitevec-store[langchain,local]"``.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from sqlitevec_store.errors import MissingDependencyError

try:
    import langchain_core  # noqa: F401  (checked first, so a missing extra is named)
except ModuleNotFoundError as exc:
    if exc.name is None or exc.name.partition(".")[0] != "langchain_core":
        raise
    raise MissingDependencyError(
        'langchain_sqlitevec needs LangChain (langchain-core): pip install "sqlitevec-store[langchain]"',
        name=exc.name,
    ) from exc

from .embeddings import SentenceTransformerEmbeddings
from .record_manager import SQLiteVecRecordManager
from .storage import SQLiteVecByteStore
from .translator import SQLiteVecTranslator
from .vectorstores import SQLiteVecRetriever, SQLiteVecVectorStore, cosine_relevance_score

try:
    __version__ = version("sqlitevec-store")
except PackageNotFoundError:  # pragma: no cover - running from a checkout without install
    __version__ = "0.0.0"

__all__ = [
    "SQLiteVecByteStore",
    "SQLiteVecRecordManager",
    "SQLiteVecRetriever",
    "SQLiteVecTranslator",
    "SQLiteVecVectorStore",
    "SentenceTransformerEmbeddings",
    "__version__",
    "cosine_relevance_score",
]
