"""What the indexing tests check after each run: the vector store and the record manager agree."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from langchain_core.documents import Document

from langchain_sqlitevec import SQLiteVecRecordManager, SQLiteVecVectorStore


def stored(store: SQLiteVecVectorStore) -> dict[str, tuple[str, dict[str, Any]]]:
    """Every document of the store: id -> (text, metadata)."""
    return {hit.id: (hit.text, dict(hit.metadata)) for hit in store.collection.find()}


def assert_agree(
    store: SQLiteVecVectorStore, record_manager: SQLiteVecRecordManager, expected: Iterable[Document]
) -> None:
    """Every record-manager key is in the store and vice versa, and the store holds exactly ``expected``.

    ``expected`` is compared by content (text and metadata, each distinct document once).
    """
    docs = stored(store)
    keys = record_manager.list_keys()
    assert sorted(docs) == keys, f"store ids and record keys differ: {set(docs) ^ set(keys)}"
    got = sorted((text, sorted(meta.items())) for text, meta in docs.values())
    want = sorted({(d.page_content, tuple(sorted(d.metadata.items()))) for d in expected})
    assert got == [(text, list(meta)) for text, meta in want]
