"""LangChain's standard test suites, run against the adapter.

``VectorStoreIntegrationTests`` runs three times (in-memory, on-file and
Postgres store), sync and async; the embeddings suites run on the real default model.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.embeddings import Embeddings
from langchain_core.vectorstores import VectorStore
from langchain_tests.integration_tests import EmbeddingsIntegrationTests, VectorStoreIntegrationTests
from langchain_tests.unit_tests import EmbeddingsUnitTests

from langchain_sqlitevec import SentenceTransformerEmbeddings, SQLiteVecVectorStore


class TestInMemoryStandard(VectorStoreIntegrationTests):
    @pytest.fixture
    def vectorstore(self) -> Iterator[VectorStore]:
        store = SQLiteVecVectorStore(self.get_embeddings())
        try:
            yield store
        finally:
            store.close()


class TestOnFileStandard(VectorStoreIntegrationTests):
    @pytest.fixture
    def vectorstore(self, tmp_path: Path) -> Iterator[VectorStore]:
        store = SQLiteVecVectorStore(self.get_embeddings(), db_path=tmp_path / "standard.db", collection_name="std")
        try:
            yield store
        finally:
            store.delete_collection()
            store.close()


class TestPostgresStandard(VectorStoreIntegrationTests):
    """The same suite on Postgres + pgvector: only the path became a URL."""

    @pytest.fixture
    def vectorstore(self, pg_url: str) -> Iterator[VectorStore]:
        store = SQLiteVecVectorStore(self.get_embeddings(), db_path=pg_url, collection_name="std")
        try:
            yield store
        finally:
            store.delete_collection()
            store.close()


class TestEmbeddingsUnit(EmbeddingsUnitTests):
    """Construction only: no model is loaded."""

    @property
    def embeddings_class(self) -> type[Embeddings]:
        return SentenceTransformerEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {"model_name": "all-MiniLM-L6-v2", "encode_kwargs": {"batch_size": 8}}


@pytest.mark.model
class TestEmbeddingsIntegration(EmbeddingsIntegrationTests):
    @property
    def embeddings_class(self) -> type[Embeddings]:
        return SentenceTransformerEmbeddings

    @pytest.fixture
    def model(self, minilm: SentenceTransformerEmbeddings) -> Embeddings:
        # One model per session instead of one per test.
        return minilm
