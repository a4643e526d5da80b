"""Child-process side of tests/langchain/test_lc_index_crash.py: ``index()`` over a file, to be killed.

Run as ``python -m tests.langchain._index_worker PATH VERSION`` from the
repository root. Opens the app (:func:`open_app`), prints ``START``, runs
``index()`` over :func:`corpus` ``VERSION`` with ``cleanup="full"``, prints
``DONE`` and the result. The parent kills it with SIGKILL somewhere in between.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, NamedTuple

from langchain_core.documents import Document
from langchain_core.embeddings import DeterministicFakeEmbedding
from langchain_core.indexing import index

from langchain_sqlitevec import SQLiteVecRecordManager, SQLiteVecVectorStore

#: Documents per corpus version, and sources (ten documents each).
DOCS = 3000

#: Keyword arguments of every ``index()`` call, the child's and the parent's re-run.
INDEX_KWARGS: dict[str, Any] = {
    "cleanup": "full",
    "source_id_key": "source",
    "batch_size": 50,
    "cleanup_batch_size": 50,
    "key_encoder": "sha256",
}


class App(NamedTuple):
    """The vector store and its record manager, on one database."""

    store: SQLiteVecVectorStore
    record_manager: SQLiteVecRecordManager


def open_app(path: str | Path) -> App:
    """The store (with the embedding cache) and the record manager over ``path``."""
    store = SQLiteVecVectorStore(
        DeterministicFakeEmbedding(size=16),
        db_path=path,
        collection_name="docs",
        model_id="tests/deterministic-fake-16",
        cache_embeddings=True,
    )
    return App(store, SQLiteVecRecordManager("sqlitevec/docs", database=store.database))


def corpus(version: int) -> list[Document]:
    """Version 1, then each version edits every 7th document and drops every 11th (by position and version)."""
    docs = []
    for i in range(DOCS):
        if version > 1 and (i + version) % 11 == 0:
            continue
        edited = version if (i + version) % 7 == 0 else 1
        docs.append(Document(f"document {i} edit {edited}", metadata={"source": f"src-{i // 10}", "i": i}))
    return docs


def main(path: str, version: str) -> None:
    """Index ``corpus(version)`` into ``path``, announcing the start and the end."""
    app = open_app(path)
    print("START", flush=True)
    result = index(corpus(int(version)), app.record_manager, app.store, **INDEX_KWARGS)
    print("DONE", json.dumps(result), flush=True)
    app.store.close()


if __name__ == "__main__":
    main(*sys.argv[1:])
