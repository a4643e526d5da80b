"""LangChain integration for sqlitevec-store: a vector store in one SQLite file.

* :class:`SQLiteVecVectorStore`: a LangChain ``VectorStore`` (sqlite-vec search,
  PGVector/Chroma-style dict filters, async methods, ``as_retriever()``), with
  keyword (BM25) and hybrid search, also as retriever search types.
* :class:`SentenceTransformerEmbeddings`: local sentence-transformers embeddings,
  all-MiniLM-L6-v2 offline by default.
* :class:`SQLiteVecTranslator`: the structured-query translator that lets
  ``SelfQueryRetriever`` target the store.

Install with ``pip install "sqlitevec-store[langchain,local]"``.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from .embeddings import SentenceTransformerEmbeddings
from .translator import SQLiteVecTranslator
from .vectorstores import SQLiteVecRetriever, SQLiteVecVectorStore, cosine_relevance_score

try:
    __version__ = version("sqlitevec-store")
except PackageNotFoundError:  # pragma: no cover - running from a checkout without install
    __version__ = "0.0.0"

__all__ = [
    "SQLiteVecRetriever",
    "SQLiteVecTranslator",
    "SQLiteVecVectorStore",
    "SentenceTransformerEmbeddings",
    "__version__",
    "cosine_relevance_score",
]
